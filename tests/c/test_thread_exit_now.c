/* cg_thread_exit: a thread ends its use of the library before it has
   gone; its greenlets are dead at once and another thread can destroy
   them while the OS thread is still running. */
#include <pthread.h>

#include "check.h"

static int cleanup_ran;

static cg_msg
parked_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    cg_switch(cg_main(), NULL, NULL);
    cleanup_ran = 1;
    return (cg_msg){CG_VALUE, NULL};
}

static cg_msg
finished_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    return (cg_msg){CG_VALUE, NULL};
}

enum { PARKED = 20 };

struct shared {
    cg_stack_mode mode;
    cg_greenlet *parked[PARKED], *fresh, *done;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ended, released;
};

static void *
worker(void *arg)
{
    struct shared *s = arg;
    cg_options o = opts_for(s->mode);
    for (int i = 0; i < PARKED; i++) {
        CHECK_OK(cg_create(&s->parked[i], parked_run, NULL, &o));
        CHECK_OK(cg_switch(s->parked[i], NULL, NULL));
    }
    CHECK_OK(cg_create(&s->fresh, parked_run, NULL, &o));
    CHECK_OK(cg_create(&s->done, finished_run, NULL, &o));
    CHECK_OK(cg_switch(s->done, NULL, NULL));
    cg_thread_exit();
    cg_thread_exit();   /* nothing left to end */
    /* Still running: the other thread destroys our greenlets meanwhile. */
    pthread_mutex_lock(&s->lock);
    s->ended = 1;
    pthread_cond_broadcast(&s->cond);
    while (!s->released) {
        pthread_cond_wait(&s->cond, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    /* The library starts afresh in this thread. */
    cg_greenlet *m = cg_main(), *g;
    CHECK(m != NULL && cg_get_state(m) == CG_RUNNING && cg_current() == m);
    CHECK_OK(cg_create(&g, finished_run, NULL, &o));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(cg_get_state(g) == CG_DEAD);
    CHECK_OK(cg_destroy(g));
    return NULL;
}

static void
case_exit_now(cg_stack_mode mode)
{
    struct shared s = {.mode = mode};
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    cleanup_ran = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, worker, &s) == 0);
    pthread_mutex_lock(&s.lock);
    while (!s.ended) {
        pthread_cond_wait(&s.cond, &s.lock);
    }
    pthread_mutex_unlock(&s.lock);
    for (int i = 0; i < PARKED; i++) {
        CHECK(cg_get_state(s.parked[i]) == CG_DEAD && cg_stack_saved(s.parked[i]) == 0);
        CHECK_ST(cg_switch(s.parked[i], NULL, NULL), CG_ETHREAD_EXITED);
        CHECK_OK(cg_destroy(s.parked[i]));
    }
    CHECK(cg_get_state(s.fresh) == CG_NOT_STARTED);
    CHECK_OK(cg_destroy(s.fresh));
    CHECK_OK(cg_destroy(s.done));
    pthread_mutex_lock(&s.lock);
    s.released = 1;
    pthread_cond_broadcast(&s.cond);
    pthread_mutex_unlock(&s.lock);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(cleanup_ran == 0);
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.cond);
}

static void
case_no_state(void)
{
    cg_thread_exit();   /* this thread has not used the library: no-op */
    CHECK(cg_main() != NULL);
}

int
main(void)
{
    run_case_modes("cg_thread_exit: greenlets dead at once, destroyed from another "
                   "thread while the thread runs on, then a fresh start",
                   case_exit_now);
    run_case("cg_thread_exit without thread state", case_no_state);
    return check_done();
}
