/*
 * generator.c -- a lazy generator in plain C.
 *
 * An in-order walk of a binary search tree runs in its own greenlet and
 * hands each key to the consumer the moment it reaches it.  The walk is
 * ordinary recursion: a yield is just a cg_switch to the parent, so it can
 * happen at any call depth, and the recursion simply carries on from there
 * when the consumer asks for the next key.  No explicit stack of pending
 * nodes, no state machine.
 *
 * The consumer runs the generator to the end once, then starts a second
 * walk and stops it early with cg_destroy.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cgreenlet.h"

static void
check(cg_status st, const char *what)
{
    if (st != CG_OK) {
        fprintf(stderr, "generator: %s: %s\n", what, cg_strerror(st));
        exit(1);
    }
}

struct node {
    int key;
    int depth;
    struct node *left, *right;
};

/* Nodes live in static storage, so the consumer may keep a pointer to one
   while the generator is suspended.  A copy-stack generator must never
   yield a pointer into its own stack: its frames can be moved to the heap
   as soon as another greenlet runs. */
static struct node pool[16];
static size_t pool_used;

static struct node *
insert(struct node *root, int key, int depth)
{
    if (root == NULL) {
        struct node *n = &pool[pool_used++];
        *n = (struct node){key, depth, NULL, NULL};
        return n;
    }
    if (key < root->key) {
        root->left = insert(root->left, key, depth + 1);
    } else {
        root->right = insert(root->right, key, depth + 1);
    }
    return root;
}

/* The walk's own state.  A pointer to it is passed down the recursion:
   pointers into a greenlet's stack are fine for that greenlet itself,
   because its frames are always back in place while it runs. */
struct walker {
    cg_greenlet *self;
    int yielded;
};

/* Returns 1 if the consumer asked the walk to stop.  C has no exceptions,
   so the stop request is passed back up the recursion by hand. */
static int
walk(struct walker *w, struct node *n)
{
    if (n == NULL) {
        return 0;
    }
    if (walk(w, n->left)) {
        return 1;
    }
    cg_msg reply;
    check(cg_switch(cg_parent(w->self), n, &reply), "yield");
    if (reply.kind == CG_EXIT) {
        printf("  (generator: stop requested at depth %d, unwinding)\n",
               n->depth);
        return 1;
    }
    w->yielded++;
    return walk(w, n->right);
}

static cg_msg
generator_run(cg_greenlet *self, cg_msg first)
{
    struct walker w = {self, 0};
    walk(&w, first.value);
    /* Finishing is the end-of-sequence signal; the count is a bonus. */
    return (cg_msg){CG_VALUE, (void *)(intptr_t)w.yielded};
}

static cg_greenlet *
start_generator(struct node *root, cg_msg *first_item)
{
    /* Copy-stack mode (the default, spelled out here): the generator runs
       on the thread's own stack and costs no separate mapping. */
    cg_options opts = {.stack_mode = CG_STACK_COPY};
    cg_greenlet *gen;
    check(cg_create(&gen, generator_run, NULL, &opts), "cg_create");
    /* The first switch starts the walk; the root rides along as the
       run function's first message. */
    check(cg_switch(gen, root, first_item), "cg_switch (start)");
    return gen;
}

int
main(void)
{
    static const int keys[] = {50, 30, 70, 20, 40, 60, 80, 35, 45, 65};
    struct node *root = NULL;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        root = insert(root, keys[i], 0);
    }

    printf("all keys, in order:\n");
    cg_msg m;
    cg_greenlet *gen = start_generator(root, &m);
    /* A message that arrives from a dead generator is its return value,
       not an item: check the state before using m. */
    while (cg_get_state(gen) != CG_DEAD) {
        struct node *n = m.value;
        printf("  %2d  (yielded from recursion depth %d)\n", n->key,
               n->depth);
        check(cg_switch(gen, NULL, &m), "cg_switch (next)");
    }
    printf("generator finished after %d keys\n",
           (int)(intptr_t)m.value);
    check(cg_destroy(gen), "cg_destroy");

    printf("\nkeys until the first one above 40:\n");
    gen = start_generator(root, &m);
    for (;;) {
        struct node *n = m.value;
        printf("  %2d\n", n->key);
        if (n->key > 40) {
            break;
        }
        check(cg_switch(gen, NULL, &m), "cg_switch (next)");
    }
    /* Abandoning a suspended generator: cg_destroy resumes it with CG_EXIT
       so it can unwind its recursion, then releases it. */
    check(cg_destroy(gen), "cg_destroy (early stop)");
    printf("generator stopped early\n");
    return 0;
}
