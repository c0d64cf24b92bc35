/*
 * Memory and capacity: bytes per suspended greenlet and the most live
 * greenlets a thread can hold.  Each measurement runs in a child process
 * (fork) so that its heap and mappings start clean and vanish at once.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "cgreenlet.h"

#define MEM_COPY_N 100000
#define MEM_DEDICATED_N 10000
#define MAXLIVE_CAP 1000000

static size_t
heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static size_t
rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) {
        resident = 0;
    }
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Switches back to its parent once, then returns whatever arrives. */
static cg_msg
park_run(cg_greenlet *self, cg_msg m)
{
    cg_switch(cg_parent(self), NULL, &m);
    return m;
}

static cg_msg
return_run(cg_greenlet *self, cg_msg m)
{
    (void)self;
    return m;
}

/* Creates greenlets that each run until their first switch back, until
   `cap` or the first error; returns how many, the error in *why. */
static long
park_many(cg_greenlet **gs, long cap, cg_stack_mode mode, cg_status *why)
{
    cg_options o;
    memset(&o, 0, sizeof o);
    o.stack_mode = mode;
    *why = CG_OK;
    for (long i = 0; i < cap; i++) {
        cg_status st = cg_create(&gs[i], park_run, NULL, &o);
        if (st == CG_OK) {
            st = cg_switch(gs[i], NULL, NULL);
            if (st != CG_OK) {
                cg_destroy(gs[i]);
            }
        }
        if (st != CG_OK) {
            *why = st;
            return i;
        }
    }
    /* The last copy-stack greenlet's bytes are still on the thread stack:
       one more greenlet started over them moves them to the heap. */
    if (mode == CG_STACK_COPY) {
        cg_greenlet *flush;
        if (cg_create(&flush, return_run, NULL, NULL) == CG_OK) {
            cg_switch(flush, NULL, NULL);
            cg_destroy(flush);
        }
    }
    return cap;
}

static void
mem_copy(void)
{
    static cg_greenlet *gs[MEM_COPY_N];
    cg_status why;
    (void)cg_current();     /* the thread's own state is not counted */
    size_t heap0 = heap_in_use(), rss0 = rss_bytes();
    long n = park_many(gs, MEM_COPY_N, CG_STACK_COPY, &why);
    size_t heap1 = heap_in_use(), rss1 = rss_bytes();
    if (n < MEM_COPY_N) {
        bench_die("parking copy-stack greenlets", (int)why);
    }
    double saved = 0;
    for (long i = 0; i < n; i++) {
        saved += (double)cg_stack_saved(gs[i]);
    }
    double heap = (double)(heap1 - heap0) / (double)n;
    saved /= (double)n;
    char what[128];
    bench_row("mem.copy.beyond_saved", heap - saved, 320, "B",
              "heap bytes per suspended copy greenlet minus its saved stack; ref = target");
    snprintf(what, sizeof what, "heap bytes per suspended copy greenlet, %d parked", MEM_COPY_N);
    bench_row("mem.copy.total", heap, -1, "B", what);
    bench_row("mem.copy.saved", saved, -1, "B", "saved stack bytes (cg_stack_saved) per greenlet");
    bench_row("mem.copy.rss", (double)(rss1 - rss0) / (double)n, -1, "B",
              "resident memory growth per greenlet");
}

static void
mem_dedicated(void)
{
    static cg_greenlet *gs[MEM_DEDICATED_N];
    cg_status why;
    (void)cg_current();
    size_t heap0 = heap_in_use(), rss0 = rss_bytes();
    long n = park_many(gs, MEM_DEDICATED_N, CG_STACK_DEDICATED, &why);
    size_t heap1 = heap_in_use(), rss1 = rss_bytes();
    if (n < MEM_DEDICATED_N) {
        bench_die("parking dedicated greenlets", (int)why);
    }
    double used = 0;
    for (long i = 0; i < n; i++) {
        used += (double)cg_stack_saved(gs[i]);
    }
    char what[128];
    snprintf(what, sizeof what, "heap bytes per suspended dedicated greenlet, %d parked",
             MEM_DEDICATED_N);
    bench_row("mem.dedicated.heap", (double)(heap1 - heap0) / (double)n, -1, "B", what);
    bench_row("mem.dedicated.rss", (double)(rss1 - rss0) / (double)n, -1, "B",
              "resident memory per greenlet (touched stack pages + heap)");
    bench_row("mem.dedicated.used", used / (double)n, -1, "B",
              "stack bytes in use per greenlet (cg_stack_saved)");
}

static void
maxlive(cg_stack_mode mode)
{
    cg_greenlet **gs = malloc(sizeof *gs * MAXLIVE_CAP);
    if (gs == NULL) {
        bench_die("malloc", -1);
    }
    cg_status why;
    (void)cg_current();
    size_t heap0 = heap_in_use();
    double t0 = bench_now_ns();
    long n = park_many(gs, MAXLIVE_CAP, mode, &why);
    double t1 = bench_now_ns();
    size_t heap1 = heap_in_use();
    char what[160];
    if (mode == CG_STACK_COPY) {
        snprintf(what, sizeof what,
                 "suspended copy greenlets held (cap %d; %s); %.0f ns and %.0f heap B each",
                 MAXLIVE_CAP, n < MAXLIVE_CAP ? cg_strerror(why) : "cap reached",
                 (t1 - t0) / (double)(n ? n : 1), (double)(heap1 - heap0) / (double)(n ? n : 1));
        bench_row("maxlive.copy", (double)n, MAXLIVE_CAP, "", what);
    } else {
        snprintf(what, sizeof what,
                 "suspended dedicated greenlets, default options (stopped: %s); %.0f ns each",
                 n < MAXLIVE_CAP ? cg_strerror(why) : "cap reached",
                 (t1 - t0) / (double)(n ? n : 1));
        bench_row("maxlive.dedicated", (double)n, -1, "", what);
    }
    /* Not destroyed: the child exits and takes everything with it. */
}

static void
in_child(void (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        bench_die("fork", -1);
    }
    if (pid == 0) {
        fn();
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "cbench: a memory measurement failed (status %d)\n", status);
    }
}

static void
maxlive_copy(void)
{
    maxlive(CG_STACK_COPY);
}

static void
maxlive_dedicated(void)
{
    maxlive(CG_STACK_DEDICATED);
}

void
bench_memory(void)
{
    in_child(mem_copy);
    in_child(mem_dedicated);
    in_child(maxlive_copy);
    in_child(maxlive_dedicated);
}
