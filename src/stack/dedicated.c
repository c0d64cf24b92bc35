/*
 * Dedicated stacks: one mmap'd stack per greenlet, with an optional
 * PROT_NONE guard page below it, committed lazily by the kernel (only the
 * pages a greenlet touches cost memory) and kept in a per-thread pool for
 * reuse, never zeroed.  A fresh mapping costs ~10 us and, with a guard
 * page, two kernel mappings (so vm.max_map_count caps live stacks at about
 * 32k); the pool makes create+destroy cycles cheap.
 *
 * The stack's header (struct cg_dstack) lives at the top of its own
 * mapping, so getting a stack needs no heap allocation: the only failure
 * is the kernel refusing a mapping, reported as CG_ENOSTACK.
 *
 *   map                                                     map + map_size
 *   | guard page | usable stack (grows down) ...  hi | struct cg_dstack |
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/internal.h"

/* Free stacks kept per thread. */
#define POOL_MAX 64

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif
#ifndef MAP_STACK
#define MAP_STACK 0
#endif

static cg_status
map_stack(size_t size, int guard, cg_dstack **out)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (size + sizeof(cg_dstack) + page - 1) & ~(page - 1);
    size_t guard_size = guard ? page : 0;
    size_t map_size = body + guard_size;
    if (body < size) {
        return CG_ENOSTACK;     /* size overflowed */
    }
    char *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) {
        return CG_ENOSTACK;
    }
    if (guard && mprotect(map, page, PROT_NONE) != 0) {
        munmap(map, map_size);
        return CG_ENOSTACK;
    }
    cg_dstack *s = (cg_dstack *)(void *)(map + map_size - sizeof(cg_dstack));
    s->map = map;
    s->map_size = map_size;
    s->lo = map + guard_size;
    s->hi = (char *)((uintptr_t)s & ~(uintptr_t)15);
    s->size = size;
    s->guard = guard;
    s->next = NULL;
    s->valgrind_id = cg_valgrind_stack_register(s->lo, s->hi);
    /* A new mapping can land where an unmapped stack was, whose shadow
       still holds the redzones of frames that never returned. */
    cg_asan_unpoison(s->lo, (size_t)(s->hi - s->lo));
    *out = s;
    return CG_OK;
}

cg_status
cg__dstack_get(cg_thread *ts, size_t size, int guard, cg_dstack **out)
{
    cg_dstack **link = &ts->pool;
    for (cg_dstack *s = ts->pool; s != NULL; link = &s->next, s = s->next) {
        if (s->size == size && s->guard == guard) {
            *link = s->next;
            ts->pool_count--;
            s->next = NULL;
            /* Shadow left by the previous user's frames would give false
               reports in the next one's. */
            cg_asan_unpoison(s->lo, (size_t)(s->hi - s->lo));
            *out = s;
            return CG_OK;
        }
    }
    return map_stack(size, guard, out);
}

void
cg__dstack_unmap(cg_dstack *s)
{
    char *map = s->map;
    size_t map_size = s->map_size;
    cg_valgrind_stack_deregister(s->valgrind_id);
    munmap(map, map_size);
}

void
cg__dstack_put(cg_thread *ts, cg_dstack *s)
{
    if (ts->pool_count < POOL_MAX && !cg__exited(ts)) {
        s->next = ts->pool;
        ts->pool = s;
        ts->pool_count++;
    } else {
        cg__dstack_unmap(s);
    }
}

void
cg__dstack_drain(cg_thread *ts)
{
    cg_dstack *s = ts->pool;
    while (s != NULL) {
        cg_dstack *next = s->next;
        cg__dstack_unmap(s);
        s = next;
    }
    ts->pool = NULL;
    ts->pool_count = 0;
}
