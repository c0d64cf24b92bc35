/*
 * cgreenlet.h -- greenlets for plain C.
 *
 * A greenlet is a coroutine with its own call stack.  Any function, at any
 * call depth, can switch to another greenlet and later be resumed exactly
 * where it stopped.  Greenlets form a tree: each one except a thread's main
 * greenlet has a parent, and when a greenlet's run function returns, its
 * result goes to the parent (or, if the parent is dead, to the nearest live
 * ancestor).
 *
 * Threads: every thread has its own main greenlet, created on first use.
 * Greenlets belong to the thread that created them and can only be switched
 * to, thrown into or destroyed from that thread; other threads get
 * CG_EWRONG_THREAD and nothing changes.  When a thread exits, its suspended
 * greenlets become dead without running any more of their code and their
 * stacks are released; the objects themselves stay valid until destroyed.
 *
 * Errors: every fallible call returns a cg_status.  No call aborts, sets
 * errno or prints on a user error.  cg_strerror() turns a status into text.
 *
 * Memory: see docs/design.md.  In copy-stack mode (the default) a pointer
 * into a suspended greenlet's stack is NOT valid while another greenlet runs:
 * the bytes may have been moved to the heap.  Use dedicated stacks when
 * greenlets must share pointers to their locals.
 */
#ifndef CGREENLET_H
#define CGREENLET_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; what is declared here is
   its exported API.  A program or module that compiles the core into
   itself defines CG_EMBEDDED: then the API stays private to it, and its
   calls are direct (no PLT) and may be inlined at link time. */
#if defined(__GNUC__) && !defined(CG_EMBEDDED)
#pragma GCC visibility push(default)
#endif

/* The library's version (semantic versioning: the major number changes
   when the API or ABI breaks, and names the shared library's soname).
   The three numbers are the one place it is set; the build (Makefile,
   setup.py) reads them from here.  CGREENLET_VERSION spells them out as
   "MAJOR.MINOR.PATCH" and must be kept equal to them: tests/c/test_version.c
   checks that it is.  A program can compare these, which it was compiled
   against, with cg_version() / cg_version_number(), the library it runs
   with. */
#define CG_VERSION_MAJOR 0
#define CG_VERSION_MINOR 2
#define CG_VERSION_PATCH 0
#define CGREENLET_VERSION "0.2.0"

/* Returns the version of the library actually linked, as the static string
   "MAJOR.MINOR.PATCH" (never NULL; CGREENLET_VERSION of the build of the
   library, which may differ from the header a program was compiled with).
   Any thread, any time, before or without any other call.  Never switches. */
const char *cg_version(void);

/* Returns the linked library's version as one comparable number,
   MAJOR * 10000 + MINOR * 100 + PATCH (0.2.0 gives 200).  Any thread, any
   time.  Never switches. */
int cg_version_number(void);

/* The result of every fallible call. */
typedef enum cg_status {
    CG_OK = 0,
    CG_ENOMEM,          /* an allocation failed; nothing changed */
    CG_ENOSTACK,        /* no stack mapping could be made (map count or
                           address space exhausted) */
    CG_EWRONG_THREAD,   /* the greenlet belongs to another (live) thread */
    CG_ETHREAD_EXITED,  /* the greenlet's thread has exited */
    CG_EDEAD,           /* the target greenlet is dead */
    CG_ECYCLE,          /* the new parent would make a cycle */
    CG_EINVAL,          /* a NULL or invalid argument, or an operation not
                           allowed on a main greenlet */
    CG_ESTACK_OVERFLOW, /* too little thread stack is left to start another
                           copy-stack greenlet at this depth */
    CG_EBUSY,           /* the greenlet is running and cannot be destroyed */
    CG_EALIVE           /* a killed greenlet switched away instead of
                           finishing; it is still alive */
} cg_status;

/* Returns a static, human-readable description of `status` (never NULL;
   unknown values give "unknown cgreenlet status"). */
const char *cg_strerror(cg_status status);

/* What a message carries.  A message is what one greenlet hands another
   on a switch, and what a run function returns. */
typedef enum cg_kind {
    CG_VALUE = 0,       /* an ordinary value */
    CG_ERROR = 1,       /* an error: the receiver should treat it as raised */
    CG_EXIT = 2,        /* a request to finish (sent by cg_kill/cg_destroy) */
    CG_LOST_VALUE = 3,  /* made by the core only, never sent by a user: a
                           finished greenlet's CG_VALUE result that could
                           not reach the greenlet it was meant for, and
                           came here instead; `value` is that result's
                           value (release it if you own such values).
                           See cg_run_fn for when this happens. */
    CG_LOST_ERROR = 4   /* the same for a CG_ERROR result */
} cg_kind;

typedef struct cg_msg {
    cg_kind kind;
    void *value;
} cg_msg;

typedef struct cg_greenlet cg_greenlet;

/* A greenlet's body.  It is called on the first switch into the greenlet
   with the message of that switch (always of kind CG_VALUE).  Whatever it
   returns is delivered to the parent; a returned CG_EXIT is delivered as
   CG_VALUE (a greenlet that finished because it was asked to has simply
   finished), a returned CG_LOST_VALUE / CG_LOST_ERROR as CG_VALUE /
   CG_ERROR (passing on a lost result is an ordinary result).

   Finishing: the greenlet is dead from the moment run returns, and the
   result goes to the receiver R -- the parent, or, if it is dead, the
   nearest live ancestor; a not-started ancestor is started with a
   CG_VALUE result, and dies unrun (passing the result on) for a CG_ERROR
   one.  Control never comes back to a finished greenlet, so delivery
   cannot fail as a whole, but there are two cases where R cannot take the
   result; then it travels on as CG_LOST_VALUE / CG_LOST_ERROR:
   - R is a not-started copy-stack greenlet and too little thread stack is
     left below to start it (CG_ESTACK_OVERFLOW for a switch): R becomes
     dead without running (as with cg_discard; its owner sees CG_DEAD) and
     the lost result goes up R's parent chain.
   - Resuming R needs memory -- the bytes of other suspended copy-stack
     greenlets lying where R runs must first be saved to the heap -- and
     the allocation fails (CG_ENOMEM for a switch): R stays as it is
     (suspended, still waiting) and the lost result goes up R's parent
     chain.  Nothing is retried.
   A lost result goes to the first started, live greenlet up R's parent
   chain (R's parent, its parent, ..., the thread's main greenlet) that can
   be resumed: each is tried as a switch would be, and needs no allocation
   if it has a dedicated stack, or if no other suspended copy-stack
   greenlet has unsaved bytes in the region it runs in.  Not-started
   greenlets on the way are passed by and stay not started.  If none of
   them can (the main greenlet too needs slices saved), it goes to the copy-stack
   greenlet lowest on the thread stack -- the one whose bytes are all in
   place, usually the greenlet that started the finished one or switched
   to it -- which can always be resumed without allocating.  So a result
   always arrives somewhere, with no allocation and no waiting; the
   receiver's pending switch call returns CG_OK with the lost message. */
typedef cg_msg (*cg_run_fn)(cg_greenlet *self, cg_msg first);

typedef enum cg_stack_mode {
    CG_STACK_COPY = 0,      /* run on the thread's stack; save the used
                               slice to the heap when another greenlet
                               needs the space (the default) */
    CG_STACK_DEDICATED = 1  /* own mmap'd stack, pooled and reused */
} cg_stack_mode;

/* Creation options.  A zeroed struct (or NULL) means the defaults. */
typedef struct cg_options {
    cg_stack_mode stack_mode;
    size_t stack_size;      /* dedicated: usable bytes, rounded up to pages;
                               0 = CG_DEFAULT_STACK_SIZE; ignored for copy */
    int no_guard_page;      /* dedicated: nonzero = no PROT_NONE page below
                               the stack (one mapping fewer per stack) */
} cg_options;

#define CG_DEFAULT_STACK_SIZE ((size_t)256 * 1024)
#define CG_MIN_STACK_SIZE ((size_t)16 * 1024)

typedef enum cg_state {
    CG_NOT_STARTED = 0, /* created, never switched to */
    CG_SUSPENDED = 1,   /* started and switched away (alive) */
    CG_RUNNING = 2,     /* the current greenlet of its thread */
    CG_DEAD = 3         /* finished, killed, or its thread has exited */
} cg_state;

/* ---- the current thread ---------------------------------------------- */

/* Returns the greenlet running in the calling thread, creating the thread's
   main greenlet on first use.  Returns NULL only if that creation ran out of
   memory.  Never switches. */
cg_greenlet *cg_current(void);

/* Returns the calling thread's main greenlet (created on first use), or
   NULL if out of memory.  Never switches. */
cg_greenlet *cg_main(void);

/* ---- creating and destroying ------------------------------------------ */

/* Creates a not-started greenlet that will call `run` on its first switch.
   `parent` NULL means the calling thread's current greenlet; otherwise it
   must belong to the calling thread.  `opts` may be NULL.
   On success stores the greenlet in *out and returns CG_OK; the caller owns
   it and releases it with cg_destroy().  On failure *out is untouched and
   the status tells why: CG_EINVAL (NULL out or run, bad options),
   CG_EWRONG_THREAD (parent of another live thread), CG_ETHREAD_EXITED
   (parent of a thread that has exited), CG_ENOMEM, CG_ENOSTACK.
   Never switches. */
cg_status cg_create(cg_greenlet **out, cg_run_fn run, cg_greenlet *parent,
                    const cg_options *opts);

/* Finishes `g` if it is suspended and releases the caller's ownership.
   A suspended greenlet is first resumed with a CG_EXIT message, with its
   parent temporarily set to the caller, so its code can release what it
   holds; when it finishes, control comes back here (may switch).  A
   not-started or dead greenlet is just released.  Memory is freed once no
   other greenlet has `g` as its parent.
   Returns CG_OK, or: CG_EINVAL (NULL, a main greenlet, or already
   destroyed -- also by code the kill ran, while this call waited for it
   to finish), CG_EBUSY (`g` is running), CG_EWRONG_THREAD (`g` belongs to another live thread; nothing
   happens), CG_EALIVE (`g` switched away instead of finishing; it
   is still alive and still owned by the caller), or an error of the kill
   switch itself (e.g. CG_ENOMEM).  Greenlets of exited threads are released
   from any thread. */
cg_status cg_destroy(cg_greenlet *g);

/* Resumes suspended `g` with a CG_EXIT message, with its parent temporarily
   set to the calling greenlet, and waits for it to finish; the parent is
   restored afterwards.  On CG_OK, `g` is dead and *result (if not NULL)
   holds what it finished with.  CG_EALIVE: it switched away and control came
   back some other way; *result holds the message that arrived.  (If `g`'s
   result cannot reach the caller -- see cg_run_fn -- the call returns only
   when something else switches back, CG_OK with `g` dead, and *result
   holds what arrived then.)  A
   not-started greenlet is made dead without running, a dead one is left as
   it is; both give CG_OK with a CG_VALUE NULL result.
   Refused: CG_EINVAL (NULL or a main greenlet), CG_EBUSY (`g` is running),
   CG_EWRONG_THREAD / CG_ETHREAD_EXITED (`g` is not the calling thread's);
   otherwise errors as cg_switch.  May switch. */
cg_status cg_kill(cg_greenlet *g, cg_msg *result);

/* Makes `g` dead without running any more of its code: a suspended
   greenlet's frames are abandoned (no CG_EXIT message, nothing of its
   cleanup runs) and its saved slice or stack is released; a not-started
   one never runs.  For embedders whose runtime is shutting down.  The
   object stays owned by the caller (release it with cg_destroy).
   Returns CG_OK (also for a dead greenlet or one of an exited thread), or:
   CG_EINVAL (NULL or a main greenlet), CG_EBUSY (`g` is running),
   CG_EWRONG_THREAD (`g` belongs to another live thread).  Never switches. */
cg_status cg_discard(cg_greenlet *g);

/* ---- switching --------------------------------------------------------- */

/* Suspends the calling greenlet and resumes `target` with `msg`: a
   suspended target's pending switch call returns it; a not-started target
   starts, with its run function receiving it.  The call returns when some
   greenlet switches back, finishes into the caller, or throws into it:
   CG_OK with the arriving message in *received (if not NULL).
   Special cases: target == the current greenlet returns CG_OK with `msg`
   at once.  A not-started target sent a CG_ERROR or CG_EXIT message dies
   at once without running, and the message goes to its parent (nearest
   live ancestor) as if it had finished with it.
   The arriving message may also be of kind CG_LOST_VALUE / CG_LOST_ERROR
   (a result that could not reach its receiver; see cg_run_fn).  Sending
   those kinds is refused with CG_EINVAL.
   Refused, before anything changes: CG_EINVAL (NULL target), CG_EDEAD,
   CG_EWRONG_THREAD, CG_ETHREAD_EXITED, CG_ESTACK_OVERFLOW (starting a copy
   greenlet too deep in the thread's stack), CG_ENOMEM (saving the stack
   slice failed). */
cg_status cg_send(cg_greenlet *target, cg_msg msg, cg_msg *received);

/* cg_send with a CG_VALUE message. */
cg_status cg_switch(cg_greenlet *target, void *value, cg_msg *received);

/* cg_send with a CG_ERROR message: resumes `target` with an error instead
   of a value. */
cg_status cg_throw(cg_greenlet *target, void *error, cg_msg *received);

/* ---- tree and introspection (never switch) ------------------------------ */

/* The parent of `g`, or NULL for a main greenlet (or NULL g). */
cg_greenlet *cg_parent(const cg_greenlet *g);

/* Makes `parent` the parent of `g`, effective for `g`'s next finish.
   Refused: CG_EINVAL (NULL argument, or `g` is a main greenlet), CG_ECYCLE
   (`g` is `parent` or one of its ancestors), CG_EWRONG_THREAD (`g` is not
   the calling thread's, or `parent` belongs to another thread than `g`),
   CG_ETHREAD_EXITED (`g`'s thread has exited).  Nothing changes on error. */
cg_status cg_set_parent(cg_greenlet *g, cg_greenlet *parent);

/* The state of `g` as seen from the calling thread (CG_RUNNING only for the
   caller's own current greenlet).  A greenlet of an exited thread that had
   started is CG_DEAD. */
cg_state cg_get_state(const cg_greenlet *g);

/* 1 if `g` is a main greenlet, else 0. */
int cg_is_main(const cg_greenlet *g);

/* An opaque token for the thread that owns `g`: equal for greenlets of one
   thread, and equal to cg_thread_token(cg_current()) in that thread. */
const void *cg_thread_token(const cg_greenlet *g);

/* 1 if the thread that owns `g` has exited, else 0. */
int cg_thread_exited(const cg_greenlet *g);

/* The user data pointer of `g` (NULL until set). */
void *cg_userdata(const cg_greenlet *g);
void cg_set_userdata(cg_greenlet *g, void *data);

/* Bytes of `g`'s suspended stack currently held: for copy-stack greenlets,
   the bytes saved on the heap; for dedicated stacks, the bytes of stack in
   use.  0 for running, not-started and dead greenlets. */
size_t cg_stack_saved(const cg_greenlet *g);

/* Bytes of `g`'s suspended stack, wherever they are now: the heap copy
   plus the part still in place on the thread stack (for dedicated stacks,
   the same as cg_stack_saved).  Nonzero for every suspended greenlet,
   0 for running, not-started and dead ones.  Call from g's own thread. */
size_t cg_stack_span(const cg_greenlet *g);

/* Where the `len` bytes that suspended greenlet `g` had at stack address
   `addr` are now: `addr` itself if they are still in place, else inside
   g's heap copy (copy-stack mode).  Reads and writes through the returned
   pointer see and change g's own bytes (written ones are what g finds when
   it resumes).  The pointer is valid until the next switch of this thread
   or the next call that can switch or destroy.  For embedders that must
   walk a suspended greenlet's data living on its stack (CPython 3.12+
   keeps some interpreter frames there).  If the range straddles the part
   already copied, the copy is extended to cover it.
   Returns NULL if `g` is not a suspended greenlet of the calling thread,
   if [addr, addr + len) is not inside its live stack region, or if
   extending the copy ran out of memory.  A running greenlet's range is
   returned as is.  Never switches. */
void *cg_stack_access(cg_greenlet *g, const void *addr, size_t len);

/* Calls fn(g, arg) for every greenlet of the calling thread that has not
   been destroyed, main first, then in creation order; stops early and
   returns the first nonzero value fn returns, else 0.  fn must not create
   or destroy greenlets.  Never switches. */
int cg_foreach(int (*fn)(cg_greenlet *g, void *arg), void *arg);

/* Returns to the system what the calling thread keeps for reuse: freed
   greenlet objects, spare copy buffers, pooled dedicated stacks.  These
   caches are bounded and are released at thread exit anyway; call this to
   shrink a thread after a burst, or before counting memory.  Never
   switches. */
void cg_trim(void);

/* Ends the calling thread's use of the library now, exactly as its exit
   would later: its greenlets become dead without running, their stacks
   are released, and their objects stay valid for their owners to
   destroy -- from any thread from here on (a greenlet of a live thread can
   only be destroyed by that thread).  For an embedder that learns of the
   end of a thread before the thread itself has gone (an interpreter
   clearing its thread state).  Must be called from the thread's main
   greenlet; the next call into the library in this thread starts afresh
   with a new main greenlet.  No-op if the thread has no state.  Never
   switches. */
void cg_thread_exit(void);

/* ---- hooks for embedders ------------------------------------------------ */

typedef enum cg_hook_event {
    CG_HOOK_LEAVE = 0,  /* on `from`'s stack, just before control leaves it */
    CG_HOOK_ENTER = 1   /* on `to`'s stack, after control arrives, before
                           `to`'s own code continues (for a new greenlet:
                           before its run function is called) */
} cg_hook_event;

/* Called on both sides of every switch between two different greenlets.
   If a switch fails after LEAVE (saving the stack ran out of memory), ENTER
   is called with `to` == the origin and `from` == the intended target, so
   whatever LEAVE saved can be restored.  The hook must not switch. */
typedef void (*cg_switch_hook)(cg_hook_event event, cg_greenlet *from,
                               cg_greenlet *to, void *arg);

/* Installs the process-wide switch hook (NULL removes it).  Install it
   before greenlets are used; it is read on every switch without locking. */
void cg_set_switch_hook(cg_switch_hook hook, void *arg);

/* Replaces malloc/free for all of the library's heap allocations.
   realloc-like growth is done by the library with these two.  Install before
   any greenlet exists (tests use it to fail the Nth allocation); NULL for
   both restores the C library's.  Stack mappings are not allocations and
   fail as CG_ENOSTACK. */
typedef void *(*cg_malloc_fn)(size_t size, void *ctx);
typedef void (*cg_free_fn)(void *ptr, void *ctx);
void cg_set_allocator(cg_malloc_fn malloc_fn, cg_free_fn free_fn, void *ctx);

#if defined(__GNUC__) && !defined(CG_EMBEDDED)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* CGREENLET_H */
