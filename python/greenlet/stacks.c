/*
 * Which stack a Python greenlet runs on (a cgreenlet extension; the stock
 * greenlet has only the shared, copied stack).
 *
 * By default every greenlet of a thread runs on the thread's own C stack,
 * and the slice a suspended greenlet used is copied to the heap when
 * another one needs the space: cheap to create and small to park, but a
 * switch costs a copy proportional to the C stack in use.  A greenlet
 * may instead get a dedicated stack of its own (the core's
 * CG_STACK_DEDICATED mode: mmap'd, guard page, pooled), which a switch
 * never copies.  The choice is made when the greenlet starts, from, in
 * order: its gr_stack_size, its thread's default, the process default
 * (CGREENLET_STACK_SIZE in the environment at import, or
 * set_stack_size()).  A size of 0 means the shared stack.
 */
#include "pyg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Below this a Python greenlet could not even run the evaluator's entry
   frames with room to spare; a size this small is a mistake. */
#define PYG_MIN_STACK_SIZE ((size_t)64 * 1024)
/* Far beyond any sane stack, and small enough that the core's rounding to
   pages cannot overflow. */
#define PYG_MAX_STACK_SIZE ((size_t)1 << 40)

/* The process default; only read and written with the GIL held. */
static size_t process_stack_size;

size_t
pyg_stack_size_for(const pyg_thread *t)
{
    return t->has_stack_default ? t->stack_default : process_stack_size;
}

static int
valid_size(size_t n)
{
    return n == 0 || (n >= PYG_MIN_STACK_SIZE && n <= PYG_MAX_STACK_SIZE);
}

static void
raise_bad_size(void)
{
    PyErr_Format(PyExc_ValueError,
                 "stack size must be 0 (the shared stack) or a dedicated stack of "
                 "%zu to %zu bytes", PYG_MIN_STACK_SIZE, PYG_MAX_STACK_SIZE);
}

int
pyg_stack_size_arg(PyObject *v, size_t *out)
{
    if (!PyLong_Check(v)) {
        PyErr_Format(PyExc_TypeError, "stack size must be an int, not %.200s",
                     Py_TYPE(v)->tp_name);
        return -1;
    }
    int overflow;
    long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow != 0 || n < 0 || !valid_size((size_t)n)) {
        raise_bad_size();
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

PyObject *
pyg_mod_set_stack_size(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"size", "thread", NULL};
    PyObject *size;
    int thread = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$p:set_stack_size", kwlist, &size,
                                     &thread)) {
        return NULL;
    }
    size_t n = 0;
    if (!(thread && size == Py_None) && pyg_stack_size_arg(size, &n) < 0) {
        return NULL;
    }
    if (!thread) {
        PyObject *old = PyLong_FromSize_t(process_stack_size);
        if (old != NULL) {
            process_stack_size = n;
        }
        return old;
    }
    pyg_thread *t = pyg_thread_get();
    if (t == NULL) {
        return NULL;
    }
    PyObject *old = t->has_stack_default ? PyLong_FromSize_t(t->stack_default)
                                         : Py_NewRef(Py_None);
    if (old != NULL) {
        t->has_stack_default = size != Py_None;
        t->stack_default = n;
    }
    return old;
}

PyObject *
pyg_mod_get_stack_size(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    pyg_thread *t = pyg_thread_get();
    return t == NULL ? NULL : PyLong_FromSize_t(pyg_stack_size_for(t));
}

/* Parses "123", "64k", "8M" (bytes, KiB, MiB): 0 or -1. */
static int
parse_env_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (end == s || errno != 0 || s[0] == '-') {
        return -1;
    }
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K') {
        shift = 10;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        shift = 20;
        end++;
    }
    if (*end != '\0' || n > (PYG_MAX_STACK_SIZE >> shift) || !valid_size((size_t)n << shift)) {
        return -1;
    }
    *out = (size_t)n << shift;
    return 0;
}

int
pyg_stacks_setup(void)
{
    const char *env = getenv("CGREENLET_STACK_SIZE");
    if (env == NULL || env[0] == '\0') {
        return 0;
    }
    if (parse_env_size(env, &process_stack_size) < 0) {
        /* Not fatal: the program still runs, on the shared stack. */
        return PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                                "CGREENLET_STACK_SIZE=%.100s ignored: expected 0 or %zu to "
                                "%zu bytes, optionally with a K or M suffix",
                                env, PYG_MIN_STACK_SIZE, PYG_MAX_STACK_SIZE);
    }
    return 0;
}
