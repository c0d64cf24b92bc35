/* The version: the header's numbers and string agree, and the library
   reports the version it was built as. */
#include <stdio.h>
#include <string.h>

#include "check.h"

/* Runs first: the version must be readable before the library has set up
   anything for the thread. */
static void
case_runtime_before_use(void)
{
    const char *v = cg_version();
    CHECK(v != NULL);
    CHECK(v != NULL && strcmp(v, CGREENLET_VERSION) == 0);
    CHECK(cg_version() == v);   /* a static string, not a fresh one */
    CHECK(cg_version_number() ==
          CG_VERSION_MAJOR * 10000 + CG_VERSION_MINOR * 100 + CG_VERSION_PATCH);
}

/* The string is written beside the numbers by hand; this is what keeps
   the two from drifting apart. */
static void
case_string_matches_numbers(void)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", CG_VERSION_MAJOR, CG_VERSION_MINOR,
             CG_VERSION_PATCH);
    CHECK(strcmp(buf, CGREENLET_VERSION) == 0);
    if (strcmp(buf, CGREENLET_VERSION) != 0) {
        fprintf(stderr, "numbers say %s, CGREENLET_VERSION says %s\n", buf,
                CGREENLET_VERSION);
    }
    /* cg_version_number() packs two decimal digits per part; a part of
       100 or more would make two versions compare wrongly. */
    CHECK(CG_VERSION_MAJOR >= 0 && CG_VERSION_MINOR >= 0 && CG_VERSION_PATCH >= 0);
    CHECK(CG_VERSION_MINOR < 100 && CG_VERSION_PATCH < 100);
}

static cg_msg
report_version(cg_greenlet *self, cg_msg first)
{
    (void)self;
    (void)first;
    return (cg_msg){CG_VALUE, (void *)cg_version()};
}

/* Inside a greenlet, on its own stack, it is the same string. */
static void
case_in_greenlet(cg_stack_mode mode)
{
    cg_options o = opts_for(mode);
    cg_greenlet *g;
    cg_msg m = {CG_ERROR, NULL};
    CHECK_OK(cg_create(&g, report_version, NULL, &o));
    CHECK_OK(cg_switch(g, NULL, &m));
    CHECK(m.kind == CG_VALUE && m.value == (void *)cg_version());
    CHECK_OK(cg_destroy(g));
}

int
main(void)
{
    run_case("cg_version() is the header's version, before any other call",
             case_runtime_before_use);
    run_case("CGREENLET_VERSION spells out the version numbers",
             case_string_matches_numbers);
    run_case_modes("cg_version() from a greenlet", case_in_greenlet);
    return check_done();
}
