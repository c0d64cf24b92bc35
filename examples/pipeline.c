/*
 * pipeline.c -- producer -> filter -> sink, each stage a greenlet.
 *
 * The producer parses text records and yields them; a malformed one is
 * thrown (cg_throw) instead.  The filter drives the pipeline: it pulls from
 * the producer, handles its errors, drops implausible readings and pushes
 * the rest to the sink, which keeps totals until it is told to stop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cgreenlet.h"

static void
check(cg_status st, const char *what)
{
    if (st != CG_OK) {
        fprintf(stderr, "pipeline: %s: %s\n", what, cg_strerror(st));
        exit(1);
    }
}

static const char *const input[] = {
    "kitchen 21", "hall 19", "attic ??", "cellar 12",
    "garage -99", "porch",   "study 23",
};

struct reading {
    char room[16];
    int celsius;
};

static cg_greenlet *producer, *filter, *sink;

static int
parse(const char *line, struct reading *r)
{
    int end = -1;
    return sscanf(line, "%15s %d%n", r->room, &r->celsius, &end) == 2 &&
           line[end] == '\0';
}

static cg_msg
producer_run(cg_greenlet *self, cg_msg first)
{
    (void)first;
    intptr_t good = 0;
    for (size_t i = 0; i < sizeof input / sizeof input[0]; i++) {
        /* The record is a local of this stage and the filter reads it
           through a pointer.  That is only valid because the producer has
           a dedicated stack: with copy-stack, these bytes may be moved to
           the heap while the filter runs, and the pointer would dangle. */
        struct reading rec;
        cg_msg reply;
        if (parse(input[i], &rec)) {
            good++;
            check(cg_switch(cg_parent(self), &rec, &reply), "producer yield");
        } else {
            /* Bad input is the receiver's problem to report, not a value:
               an error message cannot be mistaken for a reading. */
            printf("producer: cannot parse \"%s\", throwing\n", input[i]);
            check(cg_throw(cg_parent(self), (void *)input[i], &reply),
                  "producer throw");
        }
        if (reply.kind == CG_EXIT) {
            break; /* the pipeline is being torn down early */
        }
    }
    /* Finishing sends this to the parent: the end-of-input signal. */
    return (cg_msg){CG_VALUE, (void *)good};
}

static cg_msg
filter_run(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    intptr_t passed = 0;
    for (;;) {
        cg_msg in;
        check(cg_switch(producer, NULL, &in), "filter pull");
        /* A dead producer means `in` is its return value, not a record. */
        if (cg_get_state(producer) == CG_DEAD) {
            printf("filter:   producer finished with %d good records\n",
                   (int)(intptr_t)in.value);
            break;
        }
        if (in.kind == CG_ERROR) {
            /* cg_throw lands here, in the receiver, which decides that one
               bad record should not stop the pipeline. */
            printf("filter:   skipped malformed record \"%s\"\n",
                   (const char *)in.value);
            continue;
        }
        const struct reading *r = in.value;
        if (r->celsius < -40 || r->celsius > 60) {
            printf("filter:   dropped implausible %s %d C\n", r->room,
                   r->celsius);
            continue;
        }
        passed++;
        check(cg_switch(sink, in.value, NULL), "filter push");
    }
    return (cg_msg){CG_VALUE, (void *)passed};
}

static cg_msg
sink_run(cg_greenlet *self, cg_msg m)
{
    /* The sink holds this for its whole life and never finishes on its
       own: the CG_EXIT sent by cg_destroy is its chance to free it. */
    struct { int count, sum; } *t = calloc(1, sizeof *t);
    if (t == NULL) {
        check(CG_ENOMEM, "sink state");
    }
    while (m.kind == CG_VALUE) {
        /* Use the record now (or copy it): it is gone once the producer
           moves on to the next line. */
        const struct reading *r = m.value;
        t->count++;
        t->sum += r->celsius;
        printf("sink:     %s %d C\n", r->room, r->celsius);
        check(cg_switch(cg_parent(self), NULL, &m), "sink wait");
    }
    printf("sink:     exit requested: %d readings, sum %d C; freeing state\n",
           t->count, t->sum);
    free(t);
    return (cg_msg){CG_VALUE, NULL};
}

int
main(void)
{
    cg_options dedicated = {.stack_mode = CG_STACK_DEDICATED};
    check(cg_create(&producer, producer_run, NULL, &dedicated),
          "cg_create producer");
    check(cg_create(&filter, filter_run, NULL, NULL), "cg_create filter");
    check(cg_create(&sink, sink_run, NULL, NULL), "cg_create sink");

    /* Everything was created here, so main is every stage's parent.  A
       stage hands control back to its parent, and a finishing stage's
       result goes to its parent: re-parent producer and sink to the filter
       that drives them, or the producer's end-of-input result would land in
       main while the filter is still waiting for it. */
    check(cg_set_parent(producer, filter), "cg_set_parent producer");
    check(cg_set_parent(sink, filter), "cg_set_parent sink");

    cg_msg result;
    check(cg_switch(filter, NULL, &result), "run filter");
    printf("main:     filter finished, %d readings passed\n",
           (int)(intptr_t)result.value);

    /* Producer and filter are dead and are just released.  The sink is
       still suspended waiting for input; destroying it resumes it with
       CG_EXIT so it can free its state. */
    check(cg_destroy(sink), "cg_destroy sink");
    check(cg_destroy(filter), "cg_destroy filter");
    check(cg_destroy(producer), "cg_destroy producer");
    return 0;
}
