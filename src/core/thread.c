/*
 * Per-thread state: the main greenlet (created on first use), the current
 * greenlet, the list of the thread's greenlets, and what happens when the
 * thread exits (a pthread key destructor: no API call needed before exit).
 *
 * The first section below is the core's dependence on Linux/glibc thread
 * behaviour; docs/platforms.md lists it with the few other places.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

CG_TLS cg_thread *cg__tls;

/* ---- Linux/glibc assumptions ------------------------------------------
 * - thread_exit, the key destructor, runs in the exiting thread, on the
 *   stack it exits on (a greenlet's, if it exits inside one), while the
 *   thread's _Thread_local variables (cg__tls) are still readable: glibc
 *   runs key destructors first and frees TLS after them.  A destructor
 *   that sets the key again is run again (up to PTHREAD_DESTRUCTOR_
 *   ITERATIONS); this one never does.
 * - stack_bounds reads the thread's stack with pthread_getattr_np (glibc,
 *   musl; FreeBSD: pthread_attr_get_np; macOS: pthread_get_stackaddr_np).
 *   Without it the bounds stay unknown (NULL), which every use of them
 *   allows for.
 */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static int exit_key_ok;

static void thread_exit(void *arg);

static void
make_exit_key(void)
{
    exit_key_ok = pthread_key_create(&exit_key, thread_exit) == 0;
}

static void
stack_bounds(cg_thread *ts)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) {
        return;
    }
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        ts->stack_lo = addr;
        ts->stack_hi = (char *)addr + size;
    }
    pthread_attr_destroy(&attr);
}

/* ---- end of the Linux/glibc assumptions ---- */

#ifdef CG_HAVE_VALGRIND
static pthread_once_t valgrind_once = PTHREAD_ONCE_INIT;
static int valgrind_tracks_stack;

/* Whether the valgrind tool running us tracks which stack bytes may be
   accessed (memcheck; helgrind and drd follow the stack too).  Only those
   need the extra steps a switch onto the thread stack takes for them
   (ts->under_valgrind).  Cachegrind and callgrind just count: under them
   the library runs exactly its native path, so that the instruction
   counts of the benchmarks are those of the real thing.  Valgrind names
   its tool only in the preload it gives the client: every tool but the
   counting ones adds a vgpreload_<tool> beside vgpreload_core.  Unknown
   (no LD_PRELOAD seen): the careful answer. */
static void
probe_valgrind_tool(void)
{
    if (!RUNNING_ON_VALGRIND) {
        return;
    }
    const char *p = getenv("LD_PRELOAD");
    valgrind_tracks_stack = p == NULL;
    for (const char *s = p ? strstr(p, "vgpreload_") : NULL; s != NULL;
         s = strstr(s + 1, "vgpreload_")) {
        if (strncmp(s, "vgpreload_core", 14) != 0) {
            valgrind_tracks_stack = 1;
        }
    }
}
#endif

cg_thread *
cg__thread_init(void)
{
    pthread_once(&exit_key_once, make_exit_key);
    cg_thread *ts = cg__malloc(sizeof *ts);
    cg_greenlet *m = cg__malloc(sizeof *m);
    void *scratch = CG_ARCH_SCRATCH_SIZE ? cg__malloc(CG_ARCH_SCRATCH_SIZE) : NULL;
    if (ts == NULL || m == NULL || (CG_ARCH_SCRATCH_SIZE && scratch == NULL)) {
        cg__free(ts);
        cg__free(m);
        cg__free(scratch);
        return NULL;
    }
    memset(ts, 0, sizeof *ts);
    ts->arch_scratch = scratch;
    cg_arch_thread_init(scratch);
#ifdef CG_HAVE_VALGRIND
    pthread_once(&valgrind_once, probe_valgrind_tool);
    ts->under_valgrind = valgrind_tracks_stack;
#endif
    memset(m, 0, sizeof *m);
    /* One reference for the live thread, one held by the main greenlet. */
    atomic_init(&ts->refs, 2);
    atomic_init(&ts->exited, 0);
    stack_bounds(ts);
#ifdef CG_ASAN
    ts->asan_dirty_lo = ts->stack_hi;
#endif

    m->thread = ts;
    m->is_main = 1;
    m->stop = (char *)UINTPTR_MAX;  /* above every other slice */
    atomic_init(&m->refs, 1);       /* held by the thread */
    atomic_init(&m->state, GS_ACTIVE);
#ifdef CG_TSAN
    m->tsan_fiber = __tsan_get_current_fiber();
#endif
    ts->main = m;
    ts->current = m;
    ts->chain = m;
    cg__list_add(ts, m);

    if (exit_key_ok) {
        (void)pthread_setspecific(exit_key, ts);
    }
    cg__tls = ts;
    return ts;
}

void
cg__thread_release(cg_thread *ts)
{
    if (cg__ref_dec(&ts->refs, ts)) {
        cg__free(ts);
    }
}

static void
trim(cg_thread *ts)
{
    cg__bufcache_drain(ts);
    while (ts->spare != NULL) {
        cg_greenlet *next = ts->spare->next;
        cg__free(ts->spare);
        ts->spare = next;
    }
    ts->spare_count = 0;
    cg__dstack_drain(ts);
}

void
cg_trim(void)
{
    cg_thread *ts = cg__thread_peek();
    if (ts != NULL) {
        trim(ts);
    }
}

/* Runs in the exiting thread.  Suspended greenlets can never run again:
   they become dead without running, their stacks are released, and the
   objects stay valid for their owners to destroy from any thread. */
static void
thread_exit(void *arg)
{
    cg_thread *ts = arg;
    cg_greenlet *g = ts->first;
#ifdef CG_TSAN
    if (__tsan_get_current_fiber() != ts->main->tsan_fiber) {
        /* TSan finishes whichever context is current when the OS thread
           ends: it must be the thread's own (main's), not a greenlet's
           fiber, which is destroyed below with its greenlet.  (Reached
           only by a thread that exits inside a greenlet, which clang 14's
           pthread_exit refuses before this destructor runs: normally
           cg_thread_exit has switched already.) */
        CG_TSAN_SWITCH(ts->main);
    }
#endif
    while (g != NULL) {
        cg_greenlet *next = g->next;
        g->in_list = 0;
        g->prev = g->next = NULL;
        if (g == ts->current && g->dstack != NULL) {
            /* Exiting from inside a dedicated-stack greenlet: this code
               runs on that stack, which therefore cannot be unmapped. */
            g->dstack = NULL;
        }
        if (cg__state(g) == GS_NEW) {
            /* Stays not started (it never ran); only its stack goes. */
            cg__drop_stack(ts, g);
        } else {
            cg__discard(ts, g);
        }
        g = next;
    }
    ts->first = ts->last = NULL;
    cg__set_state(ts->main, GS_DEAD);
    atomic_store_explicit(&ts->exited, 1, memory_order_release);
    cg__tls = NULL;
    trim(ts);
    cg_arch_thread_exit();
    cg__free(ts->arch_scratch);
    cg__release(ts->main);
    cg__thread_release(ts);
}

void
cg_thread_exit(void)
{
    cg_thread *ts = cg__tls;
    if (ts == NULL) {
        return;
    }
    if (exit_key_ok) {
        (void)pthread_setspecific(exit_key, NULL);  /* no second exit */
    }
#ifdef CG_TSAN
    if (ts->current != ts->main) {
        /* Called inside a greenlet, so that the thread can then end there
           (see sanitizer.h): TSan goes back to the thread's own context
           here, in the outermost library frame.  This frame was entered
           on the greenlet's fiber and now leaves on main's; the entry
           added for it keeps main's shadow call stack whole. */
        CG_TSAN_SWITCH(ts->main);
        __tsan_func_entry(__builtin_return_address(0));
    }
#endif
    thread_exit(ts);
}

void
cg__list_add(cg_thread *ts, cg_greenlet *g)
{
    g->prev = ts->last;
    g->next = NULL;
    if (ts->last) {
        ts->last->next = g;
    } else {
        ts->first = g;
    }
    ts->last = g;
    g->in_list = 1;
}

void
cg__list_remove(cg_thread *ts, cg_greenlet *g)
{
    if (!g->in_list) {
        return;
    }
#ifdef CG_DEBUG
    if (ts->debug_cursor == g) {
        ts->debug_cursor = g->next;
    }
#endif
    if (g->prev) {
        g->prev->next = g->next;
    } else {
        ts->first = g->next;
    }
    if (g->next) {
        g->next->prev = g->prev;
    } else {
        ts->last = g->prev;
    }
    g->prev = g->next = NULL;
    g->in_list = 0;
}

cg_greenlet *
cg_current(void)
{
    cg_thread *ts = cg__thread();
    return ts ? ts->current : NULL;
}

cg_greenlet *
cg_main(void)
{
    cg_thread *ts = cg__thread();
    return ts ? ts->main : NULL;
}

int
cg_foreach(int (*fn)(cg_greenlet *g, void *arg), void *arg)
{
    cg_thread *ts = cg__thread();
    if (ts == NULL || fn == NULL) {
        return 0;
    }
    for (cg_greenlet *g = ts->first; g != NULL; g = g->next) {
        int r = fn(g, arg);
        if (r != 0) {
            return r;
        }
    }
    return 0;
}
