/*
 * An allocator for cg_set_allocator that a test can make fail everything
 * from some point on, counting what it refused and what is still out (so
 * a case can check that a refused operation leaked nothing).  One copy per
 * test program: include it in one file only.
 */
#ifndef CG_TEST_SWITCHABLE_ALLOC_H
#define CG_TEST_SWITCHABLE_ALLOC_H

#include <stdatomic.h>
#include <stdlib.h>

static atomic_int fail_all;     /* nonzero: every allocation fails */
static atomic_long failures;    /* allocations refused */
static atomic_long live;        /* blocks handed out, not yet freed */

static void *
t_malloc(size_t size, void *ctx)
{
    (void)ctx;
    if (atomic_load(&fail_all)) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    void *p = malloc(size);
    if (p != NULL) {
        atomic_fetch_add(&live, 1);
    }
    return p;
}

static void
t_free(void *ptr, void *ctx)
{
    (void)ctx;
    atomic_fetch_sub(&live, 1);
    free(ptr);
}

#endif
