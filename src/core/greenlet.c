/*
 * Greenlet objects: creation, the parent tree, destruction and
 * introspection.  Switching lives in switch.c.
 *
 * Ownership: the creator owns a greenlet until cg_destroy(); each child
 * also holds a reference to its parent, so a destroyed greenlet that is
 * still some child's parent stays in memory (dead) for the parent-chain
 * walk of S21-style delivery.  The thread holds its main greenlet.
 */
#include <string.h>

#include "internal.h"

/* Freed greenlet objects a thread keeps for reuse. */
#define SPARE_MAX 64

void
cg__retain(cg_greenlet *g)
{
    cg__ref_inc(&g->refs, g->thread);
}

/* Keeps a freed greenlet object for the thread's next create, or frees it
   when the thread keeps enough already. */
static void
spare_put(cg_thread *ts, cg_greenlet *g)
{
    if (ts->spare_count < SPARE_MAX) {
        g->next = ts->spare;
        ts->spare = g;
        ts->spare_count++;
    } else {
        cg__free(g);
    }
}

void
cg__release(cg_greenlet *g)
{
    /* Iterative: freeing a greenlet drops its parent's reference, and a
       long chain of otherwise unreferenced ancestors must not recurse. */
    while (g != NULL && cg__ref_dec(&g->refs, g->thread)) {
        cg_greenlet *parent = g->parent;
        cg_thread *ts = g->thread;
        cg__drop_kill_refs(g);
        CG_TSAN_DROP(g);
        cg__free(g->copy);
        if (ts == cg__tls) {
            spare_put(ts, g);
        } else {
            cg__free(g);
        }
        cg__thread_release(ts);
        g = parent;
    }
}

void
cg__drop_stack(cg_thread *ts, cg_greenlet *g)
{
    if (g->dstack != NULL) {
        cg__dstack_put(ts, g->dstack);
        g->dstack = NULL;
    }
}

void
cg__drop_kill_refs(cg_greenlet *g)
{
    cg_greenlet *old = g->kill_old;
    cg_greenlet *target = g->kill_target;
    if (old == NULL && target == NULL) {
        return;     /* the usual case: no kill was waited in */
    }
    g->kill_old = NULL;
    g->kill_target = NULL;
    cg__release(old);
    cg__release(target);
}

void
cg__discard(cg_thread *ts, cg_greenlet *g)
{
    cg__drop_kill_refs(g);   /* a kill it was waiting in never returns */
    cg__set_state(g, GS_DEAD);
    cg__copy_free(ts, g);
    cg__drop_stack(ts, g);
    CG_TSAN_DROP(g);
}

#ifdef CG_TSAN
void
cg__tsan_drop(cg_greenlet *g)
{
    if (!g->is_main) {
        cg_tsan_destroy(&g->tsan_fiber);
    }
}
#endif

void
cg__set_parent_raw(cg_greenlet *g, cg_greenlet *parent)
{
    cg_greenlet *old = g->parent;
    cg__retain(parent);
    g->parent = parent;
    cg__release(old);
}

cg_status
cg_create(cg_greenlet **out, cg_run_fn run, cg_greenlet *parent,
          const cg_options *opts)
{
    static const cg_options defaults;
    if (opts == NULL) {
        opts = &defaults;
    }
    if (out == NULL || run == NULL ||
        (opts->stack_mode != CG_STACK_COPY && opts->stack_mode != CG_STACK_DEDICATED)) {
        return CG_EINVAL;
    }
    size_t stack_size = opts->stack_size ? opts->stack_size : CG_DEFAULT_STACK_SIZE;
    if (opts->stack_mode == CG_STACK_DEDICATED && stack_size < CG_MIN_STACK_SIZE) {
        return CG_EINVAL;
    }
    cg_thread *ts = cg__thread();
    if (ts == NULL) {
        return CG_ENOMEM;
    }
    if (parent == NULL) {
        parent = ts->current;
    } else if (parent->thread != ts) {
        return cg__exited(parent->thread) ? CG_ETHREAD_EXITED : CG_EWRONG_THREAD;
    }
    cg_greenlet *g = ts->spare;
    if (g != NULL) {
        ts->spare = g->next;
        ts->spare_count--;
    } else if ((g = cg__malloc(sizeof *g)) == NULL) {
        return CG_ENOMEM;
    }
    memset(g, 0, sizeof *g);
    if (opts->stack_mode == CG_STACK_DEDICATED) {
        cg_status st = cg__dstack_get(ts, stack_size, !opts->no_guard_page, &g->dstack);
        if (st != CG_OK) {
            spare_put(ts, g);
            return st;
        }
        cg_arch_make(&g->ctx, g->dstack->lo, g->dstack->hi, cg__entry);
    }
    g->thread = ts;
    cg__ref_inc(&ts->refs, ts);
    g->run = run;
    g->parent = parent;
    cg__retain(parent);
    atomic_init(&g->refs, 1);
    atomic_init(&g->state, GS_NEW);
    cg__list_add(ts, g);
    *out = g;
    return CG_OK;
}

/* The caller's thread state if `g` may be operated on from here. */
static cg_status
owner_check(const cg_greenlet *g, cg_thread **ts_out)
{
    cg_thread *ts = cg__thread_peek();
    if (ts != g->thread) {
        return cg__exited(g->thread) ? CG_ETHREAD_EXITED : CG_EWRONG_THREAD;
    }
    *ts_out = ts;
    return CG_OK;
}

/* owner_check, and `g` must not be the running greenlet (CG_EBUSY). */
static cg_status
owner_check_not_running(const cg_greenlet *g, cg_thread **ts_out)
{
    cg_status st = owner_check(g, ts_out);
    if (st == CG_OK && g == (*ts_out)->current) {
        return CG_EBUSY;
    }
    return st;
}

/* cg_kill of suspended `g` by the current greenlet `me`.  Returns with
   `g` still held by me->kill_target (the caller drops it with
   cg__drop_kill_refs once done with g): the code the kill runs may
   destroy g, and me may be discarded before the kill returns. */
static cg_status
kill_suspended(cg_thread *ts, cg_greenlet *g, cg_msg *got)
{
    /* Finish into the caller, so that control comes back here.  The real
       parent is kept alive by a reference the killer holds, so that it is
       released even if the killer is discarded meanwhile. */
    cg_greenlet *me = ts->current;
    cg_greenlet *old = g->parent;
    cg__retain(old);
    cg__retain(g);
    me->kill_old = old;
    me->kill_target = g;
    cg__set_parent_raw(g, me);
    cg_status st = cg__send(ts, g, (cg_msg){CG_EXIT, NULL}, got);
    /* Put the original parent back.  If g's code made g an ancestor of it
       meanwhile, that would be a cycle -- and so may the temporary parent
       be, when the killer descends from g -- so fall back on main, which
       is never dead and never anyone's descendant. */
    if (cg_set_parent(g, old) != CG_OK) {
        cg__set_parent_raw(g, ts->main);
    }
    me->kill_old = NULL;
    cg__release(old);
    return st;
}

cg_status
cg_kill(cg_greenlet *g, cg_msg *result)
{
    static const cg_msg nothing = {CG_VALUE, NULL};
    cg_thread *ts;
    if (g == NULL || g->is_main) {
        return CG_EINVAL;
    }
    cg_status st = owner_check_not_running(g, &ts);
    if (st != CG_OK) {
        return st;
    }
    switch (cg__state(g)) {
    case GS_NEW:
        cg__discard(ts, g);
        /* fall through */
    case GS_DEAD:
        if (result) {
            *result = nothing;
        }
        return CG_OK;
    default:
        break;
    }
    cg_msg got;
    st = kill_suspended(ts, g, &got);
    if (st == CG_OK) {
        if (result) {
            *result = got;
        }
        st = cg__state(g) == GS_DEAD ? CG_OK : CG_EALIVE;
    }
    cg__drop_kill_refs(ts->current);
    return st;
}

cg_status
cg_discard(cg_greenlet *g)
{
    if (g == NULL || g->is_main) {
        return CG_EINVAL;
    }
    if (cg__exited(g->thread)) {
        return CG_OK;   /* discarded by the thread's exit */
    }
    cg_thread *ts;
    cg_status st = owner_check_not_running(g, &ts);
    if (st != CG_OK) {
        return st;
    }
    if (cg__state(g) == GS_ACTIVE && g->dstack == NULL) {
        cg__copy_unchain(ts, g);
    }
    cg__discard(ts, g);
    return CG_OK;
}

cg_status
cg_destroy(cg_greenlet *g)
{
    if (g == NULL || g->is_main || g->destroyed) {
        return CG_EINVAL;
    }
    if (cg__exited(g->thread)) {
        /* Already dead and detached by the thread's exit. */
        g->destroyed = 1;
        cg__release(g);
        return CG_OK;
    }
    cg_thread *ts;
    cg_status st = owner_check_not_running(g, &ts);
    if (st != CG_OK) {
        return st;
    }
    if (cg__state(g) == GS_ACTIVE) {
        cg_msg got;
        st = kill_suspended(ts, g, &got);
        if (st == CG_OK && g->destroyed) {
            st = CG_EINVAL;     /* the kill's code destroyed it already */
        } else if (st == CG_OK && cg__state(g) != GS_DEAD) {
            st = CG_EALIVE;
        }
        cg__drop_kill_refs(ts->current);    /* may free g */
        if (st != CG_OK) {
            return st;
        }
    }
    cg__discard(ts, g);
    /* A kill that never came back (its caller was discarded) leaves the
       temporary parent, which can loop back here: the references would
       keep each other alive.  A dead greenlet's parent only passes
       results on, so main takes its place. */
    cg_walk w = cg__walk_start(g);
    while (cg__walk_up(&w)) {
        if (w.p->parent == g) {
            cg__set_parent_raw(g, ts->main);
            break;
        }
    }
    g->destroyed = 1;
    cg__list_remove(ts, g);
    cg__release(g);
    return CG_OK;
}

cg_greenlet *
cg_parent(const cg_greenlet *g)
{
    return g ? g->parent : NULL;
}

cg_status
cg_set_parent(cg_greenlet *g, cg_greenlet *parent)
{
    if (g == NULL || parent == NULL || g->is_main) {
        return CG_EINVAL;
    }
    cg_thread *ts;
    cg_status st = owner_check(g, &ts);
    if (st != CG_OK) {
        return st;
    }
    if (parent->thread != g->thread) {
        return CG_EWRONG_THREAD;
    }
    if (parent == g->parent) {
        return CG_OK;   /* the tree has no cycle to find */
    }
    cg_walk w = cg__walk_start(parent);
    do {
        if (w.p == g) {
            return CG_ECYCLE;
        }
    } while (cg__walk_up(&w));
    cg__set_parent_raw(g, parent);
    return CG_OK;
}

cg_state
cg_get_state(const cg_greenlet *g)
{
    if (g == NULL) {
        return CG_DEAD;
    }
    switch (cg__state(g)) {
    case GS_NEW:
        return CG_NOT_STARTED;
    case GS_DEAD:
        return CG_DEAD;
    default:
        break;
    }
    if (cg__exited(g->thread)) {
        return CG_DEAD;
    }
    cg_thread *ts = cg__thread_peek();
    return (ts != NULL && ts->current == g) ? CG_RUNNING : CG_SUSPENDED;
}

int
cg_is_main(const cg_greenlet *g)
{
    return g != NULL && g->is_main;
}

const void *
cg_thread_token(const cg_greenlet *g)
{
    return g ? (const void *)g->thread : NULL;
}

int
cg_thread_exited(const cg_greenlet *g)
{
    return g != NULL && cg__exited(g->thread);
}

void *
cg_userdata(const cg_greenlet *g)
{
    return g ? g->userdata : NULL;
}

void
cg_set_userdata(cg_greenlet *g, void *data)
{
    if (g) {
        g->userdata = data;
    }
}

void *
cg_stack_access(cg_greenlet *g, const void *addr, size_t len)
{
    cg_thread *ts = cg__thread_peek();
    if (g == NULL || ts == NULL || g->thread != ts) {
        return NULL;
    }
    if (g == ts->current) {
        return (void *)(uintptr_t)addr;
    }
    if (cg__state(g) != GS_ACTIVE) {
        return NULL;
    }
    if (g->dstack == NULL) {
        return cg__copy_access(ts, g, addr, len);
    }
    uintptr_t a = (uintptr_t)addr;
    if (a < (uintptr_t)g->ctx.sp || a + len < a || a + len > (uintptr_t)g->dstack->hi) {
        return NULL;
    }
    return (void *)a;
}

size_t
cg_stack_saved(const cg_greenlet *g)
{
    if (cg_get_state(g) != CG_SUSPENDED) {
        return 0;
    }
    if (g->dstack != NULL) {
        return (size_t)((uintptr_t)g->dstack->hi - (uintptr_t)g->ctx.sp);
    }
    return g->saved;
}

size_t
cg_stack_span(const cg_greenlet *g)
{
    if (cg_get_state(g) != CG_SUSPENDED) {
        return 0;
    }
    if (g->dstack != NULL) {
        return (size_t)((uintptr_t)g->dstack->hi - (uintptr_t)g->ctx.sp);
    }
    uintptr_t hi = (uintptr_t)g->stop;
    if (g->is_main) {
        /* The main greenlet's region has no upper end of its own. */
        hi = (uintptr_t)g->thread->stack_hi;
    }
    if (hi <= (uintptr_t)g->ctx.sp) {
        return g->saved > 0 ? g->saved : 1;
    }
    return (size_t)(hi - (uintptr_t)g->ctx.sp);
}
