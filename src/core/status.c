/* Text for every status code (minicoro's one-enum-plus-strerror style),
   and the version of the library. */
#include "cgreenlet.h"

const char *
cg_strerror(cg_status status)
{
    switch (status) {
    case CG_OK:
        return "success";
    case CG_ENOMEM:
        return "out of memory";
    case CG_ENOSTACK:
        return "cannot map a greenlet stack (mapping limit or address space exhausted)";
    case CG_EWRONG_THREAD:
        return "the greenlet belongs to a different thread";
    case CG_ETHREAD_EXITED:
        return "the greenlet's thread has exited";
    case CG_EDEAD:
        return "the greenlet is dead";
    case CG_ECYCLE:
        return "cyclic parent chain";
    case CG_EINVAL:
        return "invalid argument";
    case CG_ESTACK_OVERFLOW:
        return "not enough thread stack left to start a copy-stack greenlet";
    case CG_EBUSY:
        return "the greenlet is running";
    case CG_EALIVE:
        return "the greenlet did not finish when asked to exit";
    }
    return "unknown cgreenlet status";
}

/* Here rather than in the header so that a program sees the version of the
   library it runs with, not the one it was compiled against. */
const char *
cg_version(void)
{
    return CGREENLET_VERSION;
}

int
cg_version_number(void)
{
    return CG_VERSION_MAJOR * 10000 + CG_VERSION_MINOR * 100 + CG_VERSION_PATCH;
}
