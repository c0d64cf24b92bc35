/*
 * _fault: fault injection into CPython's raw allocator domain, built by
 * tests/python/capi/build.sh and driven by tests/python/test_fault_injection.py.
 *
 * The greenlet module and the core allocate only through PyMem_RawMalloc,
 * PyMem_RawCalloc, PyMem_RawRealloc and PyMem_RawFree, so hooking that one
 * domain reaches all their allocations (and CPython's own raw ones, e.g.
 * the large blocks pymalloc hands on) while the object and mem domains
 * keep working.  _testcapi.set_nomemory fails every domain, which crashes
 * CPython itself, and Debian's python3 lacks _testcapi.
 *
 *   fail_raw(start, stop=start+1)  counting from this call, raw allocation
 *                                  number n fails (returns NULL) when
 *                                  start <= n < stop; stop -1: no end
 *   restore() -> (counted, failed) removes the hook; how many raw
 *                                  allocations were seen and failed
 *   active() -> bool               whether the hook is installed
 *
 * The raw domain is used without the GIL (thread exit), so the counters
 * are atomic.  Frees always go through: a block allocated before the hook
 * is freed by the original allocator, which the hook calls.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdatomic.h>
#include <stdint.h>

static PyMemAllocatorEx orig;
static int hooked;
static atomic_llong counter;
static atomic_llong failures;
static long long fail_start;
static long long fail_stop;     /* -1: no end */

/* Called for every injected failure: a place for a debugger's
   breakpoint (gdb -ex 'break fault_injected') to see who allocated. */
__attribute__((noinline)) void
fault_injected(long long n)
{
    __asm__ volatile("" : : "r"(n) : "memory");
}

/* Whether this allocation is one to fail; counts it either way. */
static int
must_fail(void)
{
    long long n = atomic_fetch_add(&counter, 1);
    if (n >= fail_start && (fail_stop < 0 || n < fail_stop)) {
        atomic_fetch_add(&failures, 1);
        fault_injected(n);
        return 1;
    }
    return 0;
}

static void *
hook_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return must_fail() ? NULL : orig.malloc(orig.ctx, size);
}

static void *
hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    return must_fail() ? NULL : orig.calloc(orig.ctx, nelem, elsize);
}

static void *
hook_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return must_fail() ? NULL : orig.realloc(orig.ctx, ptr, size);
}

static void
hook_free(void *ctx, void *ptr)
{
    (void)ctx;
    orig.free(orig.ctx, ptr);
}

static PyObject *
fail_raw(PyObject *self, PyObject *args)
{
    (void)self;
    long long start, stop = LLONG_MIN;
    if (!PyArg_ParseTuple(args, "L|L:fail_raw", &start, &stop)) {
        return NULL;
    }
    if (stop == LLONG_MIN) {
        stop = start + 1;
    }
    if (start < 0 || (stop >= 0 && stop < start) || stop < -1) {
        PyErr_SetString(PyExc_ValueError, "fail_raw: need 0 <= start <= stop, or stop -1");
        return NULL;
    }
    if (hooked) {
        PyErr_SetString(PyExc_RuntimeError, "fail_raw: already hooked (call restore)");
        return NULL;
    }
    PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &orig);
    fail_start = start;
    fail_stop = stop;
    atomic_store(&counter, 0);
    atomic_store(&failures, 0);
    PyMemAllocatorEx hook = {NULL, hook_malloc, hook_calloc, hook_realloc, hook_free};
    hooked = 1;
    PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &hook);
    Py_RETURN_NONE;
}

static PyObject *
restore(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (hooked) {
        PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &orig);
        hooked = 0;
    }
    return Py_BuildValue("LL", (long long)atomic_load(&counter),
                         (long long)atomic_load(&failures));
}

static PyObject *
active(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(hooked);
}

static PyMethodDef methods[] = {
    {"fail_raw", fail_raw, METH_VARARGS,
     "fail_raw(start, stop=start+1): fail raw allocations [start, stop) from now"},
    {"restore", restore, METH_NOARGS,
     "restore() -> (counted, failed): remove the hook"},
    {"active", active, METH_NOARGS, "active() -> bool"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_fault", "Fault injection into the raw allocator domain.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__fault(void)
{
    return PyModule_Create(&module_def);
}
