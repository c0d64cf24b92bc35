/* The allocator hook: every heap allocation of the library goes here, so
   tests can make the Nth one fail (Lua's failing-allocator technique). */
#include <stdlib.h>

#include "internal.h"

static cg_malloc_fn hook_malloc;
static cg_free_fn hook_free;
static void *hook_ctx;

void
cg_set_allocator(cg_malloc_fn malloc_fn, cg_free_fn free_fn, void *ctx)
{
    if (malloc_fn == NULL || free_fn == NULL) {
        malloc_fn = NULL;
        free_fn = NULL;
        ctx = NULL;
    }
    hook_malloc = malloc_fn;
    hook_free = free_fn;
    hook_ctx = ctx;
}

void *
cg__malloc(size_t size)
{
    return hook_malloc ? hook_malloc(size, hook_ctx) : malloc(size);
}

void
cg__free(void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    if (hook_free) {
        hook_free(ptr, hook_ctx);
    } else {
        free(ptr);
    }
}
