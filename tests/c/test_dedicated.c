/* Dedicated stacks: pointers into a suspended greenlet's stack stay valid;
   stacks are pooled; running out of mappings is a clean CG_ENOSTACK. */
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static cg_options dedicated = {CG_STACK_DEDICATED, 0, 0};
static int *shared_ptr;

static cg_msg
publisher_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    int local[16] = {0};
    shared_ptr = local;
    CHECK_OK(cg_switch(cg_parent(self), NULL, NULL));
    /* Another greenlet wrote into our frame while we were suspended. */
    int sum = 0;
    for (int i = 0; i < 16; i++) {
        sum += local[i];
    }
    return (cg_msg){CG_VALUE, (void *)(uintptr_t)sum};
}

static cg_msg
writer_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    for (int i = 0; i < 16; i++) {
        shared_ptr[i] = i;
    }
    return (cg_msg){CG_VALUE, NULL};
}

static void
case_pointers_stay_valid(void)
{
    cg_greenlet *p, *w;
    cg_msg m;
    CHECK_OK(cg_create(&p, publisher_run, NULL, &dedicated));
    CHECK_OK(cg_create(&w, writer_run, NULL, &dedicated));
    CHECK_OK(cg_switch(p, NULL, NULL));
    CHECK_OK(cg_switch(w, NULL, NULL));
    CHECK_OK(cg_switch(p, NULL, &m));
    CHECK((uintptr_t)m.value == 120);
    CHECK_OK(cg_destroy(p));
    CHECK_OK(cg_destroy(w));
}

static int
count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    if (f == NULL) {
        return -1;
    }
    while ((c = fgetc(f)) != EOF) {
        n += c == '\n';
    }
    fclose(f);
    return n;
}

static void
case_stacks_are_pooled(void)
{
    int before = count_mappings();
    for (int i = 0; i < 10000; i++) {
        cg_greenlet *g;
        CHECK_OK(cg_create(&g, echo_first, NULL, &dedicated));
        CHECK_OK(cg_switch(g, NULL, NULL));
        CHECK_OK(cg_destroy(g));
    }
    int after = count_mappings();
    /* One stack is reused over and over: no growth in mappings. */
    CHECK(before > 0 && after - before <= 4);
}

/* Creates dedicated greenlets until the kernel refuses a stack; returns
   the count, or -1 if the refusal was not CG_ENOSTACK.  Frees them all. */
static long
create_until_refused(cg_options *o, long cap)
{
    cg_greenlet **gs = malloc((size_t)cap * sizeof *gs);
    long n = 0;
    cg_status st = CG_OK;
    while (n < cap && (st = cg_create(&gs[n], echo_first, NULL, o)) == CG_OK) {
        n++;
    }
    for (long i = 0; i < n; i++) {
        if (cg_destroy(gs[i]) != CG_OK) {
            st = CG_EINVAL;
        }
    }
    free(gs);
    return st == CG_ENOSTACK ? n : -1;
}

/* Runs fn in a child process; 0 when it exits 0. */
static int
in_child(int (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        _exit(fn());
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int
address_space_child(void)
{
    struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
        return 10;
    }
    cg_options big = {CG_STACK_DEDICATED, 8u << 20, 0};
    long n = create_until_refused(&big, 1000);
    if (n <= 0 || n >= 1000) {
        return 11;
    }
    /* After freeing, stacks can be had again. */
    cg_greenlet *g;
    if (cg_create(&g, echo_first, NULL, &big) != CG_OK || cg_destroy(g) != CG_OK) {
        return 12;
    }
    return 0;
}

static int
map_count_child(void)
{
    long n = create_until_refused(&dedicated, 200000);
    return n > 1000 ? 0 : 13;
}

/* The kernel's limit on mappings per process, or -1. */
static long
read_max_map_count(void)
{
    long n = -1;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &n) != 1) {
            n = -1;
        }
        fclose(f);
    }
    return n;
}

/* The checks of a case run in a child are made before reporting it. */
static void
case_noop_ok(void)
{
}

int
main(void)
{
    run_case("pointers into a suspended dedicated stack stay valid",
             case_pointers_stay_valid);
    run_case("stacks are pooled and reused", case_stacks_are_pooled);
    if (TEST_ASAN) {
        skip_case("address space exhaustion is CG_ENOSTACK",
                  "ASan reserves the address space itself");
    } else if (light_mode()) {
        skip_case("address space exhaustion is CG_ENOSTACK",
                  "the emulator manages the address space");
    } else {
        int rc = in_child(address_space_child);
        CHECK(rc == 0);
        if (rc) {
            fprintf(stderr, "child status %d\n", rc);
        }
        run_case("address space exhaustion is CG_ENOSTACK", case_noop_ok);
    }
    long max_maps = read_max_map_count();
    if (light_mode()) {
        skip_case("mapping count exhaustion is CG_ENOSTACK", "too slow under emulation");
    } else if (max_maps <= 0 || max_maps > 150000) {
        /* Each guarded stack is two mappings; 200,000 stacks is the cap. */
        skip_case("mapping count exhaustion is CG_ENOSTACK",
                  "vm.max_map_count unknown or too high to reach here");
    } else {
        int rc = in_child(map_count_child);
        CHECK(rc == 0);
        if (rc) {
            fprintf(stderr, "child status %d\n", rc);
        }
        run_case("mapping count exhaustion is CG_ENOSTACK", case_noop_ok);
    }
    return check_done();
}
