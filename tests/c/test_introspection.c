/* States, user data, thread tokens, saved stack bytes, enumeration and
   error texts. */
#include <stdint.h>
#include <string.h>

#include "check.h"

static cg_msg
park(cg_greenlet *self, cg_msg first)
{
    (void)first;
    CHECK(cg_get_state(self) == CG_RUNNING);
    CHECK(cg_stack_saved(self) == 0);
    CHECK(cg_stack_span(self) == 0);
    CHECK(cg_get_state(cg_main()) == CG_SUSPENDED);
    /* The main greenlet's bytes are still in place (this greenlet runs
       below them), yet it holds a stack. */
    CHECK(cg_stack_span(cg_main()) > 0);
    CHECK_OK(cg_switch(cg_parent(self), NULL, NULL));
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_states(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    CHECK(cg_get_state(cg_main()) == CG_RUNNING);
    CHECK_OK(cg_create(&g, park, NULL, &o));
    CHECK(cg_get_state(g) == CG_NOT_STARTED);
    CHECK(cg_stack_saved(g) == 0);
    CHECK(cg_stack_span(g) == 0);
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(cg_get_state(g) == CG_SUSPENDED);
    CHECK(cg_stack_saved(g) > 0);
    CHECK(cg_stack_span(g) >= cg_stack_saved(g));
    CHECK_OK(cg_switch(g, NULL, NULL));
    CHECK(cg_get_state(g) == CG_DEAD);
    CHECK(cg_stack_saved(g) == 0);
    CHECK(cg_stack_span(g) == 0);
    CHECK(cg_get_state(NULL) == CG_DEAD);
    CHECK_OK(cg_destroy(g));
}

static void
case_userdata_and_tokens(void)
{
    cg_greenlet *g;
    int x;
    CHECK_OK(cg_create(&g, park, NULL, NULL));
    CHECK(cg_userdata(g) == NULL);
    cg_set_userdata(g, &x);
    CHECK(cg_userdata(g) == &x);
    CHECK(cg_thread_token(g) == cg_thread_token(cg_current()));
    CHECK(cg_thread_token(g) != NULL);
    CHECK(!cg_thread_exited(g));
    CHECK(cg_is_main(cg_main()) && !cg_is_main(g) && !cg_is_main(NULL));
    CHECK_OK(cg_destroy(g));
}

struct seen {
    cg_greenlet *list[8];
    int n;
};

static int
collect(cg_greenlet *g, void *arg)
{
    struct seen *s = arg;
    if (s->n < 8) {
        s->list[s->n] = g;
    }
    s->n++;
    return 0;
}

static int
stop_at_second(cg_greenlet *g, void *arg)
{
    int *count = arg;
    (void)g;
    return ++*count == 2 ? 77 : 0;
}

static void
case_foreach(void)
{
    cg_greenlet *a, *b, *c;
    struct seen s = {{0}, 0};
    CHECK_OK(cg_create(&a, park, NULL, NULL));
    CHECK_OK(cg_create(&b, park, NULL, NULL));
    CHECK_OK(cg_create(&c, park, NULL, NULL));
    CHECK_OK(cg_destroy(b));
    CHECK(cg_foreach(collect, &s) == 0);
    CHECK(s.n == 3);
    CHECK(s.list[0] == cg_main() && s.list[1] == a && s.list[2] == c);
    int count = 0;
    CHECK(cg_foreach(stop_at_second, &count) == 77 && count == 2);
    CHECK_OK(cg_destroy(a));
    CHECK_OK(cg_destroy(c));
}

static void
case_strerror(void)
{
    static const cg_status all[] = {CG_OK, CG_ENOMEM, CG_ENOSTACK, CG_EWRONG_THREAD,
                                    CG_ETHREAD_EXITED, CG_EDEAD, CG_ECYCLE, CG_EINVAL,
                                    CG_ESTACK_OVERFLOW, CG_EBUSY, CG_EALIVE};
    const char *unknown = cg_strerror((cg_status)12345);
    CHECK(unknown != NULL && strstr(unknown, "unknown") != NULL);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *t = cg_strerror(all[i]);
        CHECK(t != NULL && t[0] != '\0' && strcmp(t, unknown) != 0);
        for (size_t j = 0; j < i; j++) {
            CHECK(strcmp(t, cg_strerror(all[j])) != 0);
        }
    }
}

static void
case_invalid_create(void)
{
    cg_greenlet *g = NULL;
    cg_options bad_mode = {(cg_stack_mode)9, 0, 0};
    cg_options tiny = {CG_STACK_DEDICATED, 1024, 0};
    CHECK_ST(cg_create(NULL, park, NULL, NULL), CG_EINVAL);
    CHECK_ST(cg_create(&g, NULL, NULL, NULL), CG_EINVAL);
    CHECK_ST(cg_create(&g, park, NULL, &bad_mode), CG_EINVAL);
    CHECK_ST(cg_create(&g, park, NULL, &tiny), CG_EINVAL);
    CHECK(g == NULL);
    CHECK_ST(cg_destroy(NULL), CG_EINVAL);
    CHECK_ST(cg_destroy(cg_main()), CG_EINVAL);
    CHECK_ST(cg_kill(cg_main(), NULL), CG_EINVAL);
}

int
main(void)
{
    run_case_modes("states and saved stack bytes", case_states);
    run_case("user data, thread token, main flag", case_userdata_and_tokens);
    run_case("enumeration of the thread's greenlets", case_foreach);
    run_case("every status has its own text", case_strerror);
    run_case("invalid creation arguments refused", case_invalid_create);
    return check_done();
}
