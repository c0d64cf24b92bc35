/*
 * Named CPython version flags.  Every difference between the supported
 * interpreters (3.9 - 3.13) is spelled as one of these, and only
 * pystate.c tests them; see docs/python-state.md for the field-by-field
 * reference behind each one.
 */
#ifndef PYG_PYCOMPAT_H
#define PYG_PYCOMPAT_H

#include <Python.h>

#if PY_VERSION_HEX < 0x03090000
#error "cgreenlet's greenlet module needs CPython 3.9 or newer"
#endif

/* 3.9, 3.10: the frame chain is PyFrameObjects in tstate->frame. */
#define PYG_FRAME_OBJECT_CHAIN (PY_VERSION_HEX < 0x030B0000)
/* 3.10 - 3.12: tstate->cframe points at a CFrame in the C stack. */
#define PYG_CFRAME (PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030D0000)
/* 3.10, 3.11: the CFrame carries use_tracing. */
#define PYG_CFRAME_USE_TRACING (PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030C0000)
/* 3.11+: interpreter frames live in per-thread data-stack chunks. */
#define PYG_DATA_STACK (PY_VERSION_HEX >= 0x030B0000)
/* 3.11, 3.12: the current interpreter frame is cframe->current_frame. */
#define PYG_CFRAME_CURRENT_FRAME (PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000)
/* 3.13+: the current interpreter frame is tstate->current_frame. */
#define PYG_TSTATE_CURRENT_FRAME (PY_VERSION_HEX >= 0x030D0000)
/* 3.11+: a handled exception is just exc_value. */
#define PYG_EXC_VALUE_ONLY (PY_VERSION_HEX >= 0x030B0000)
/* 3.11: recursion_remaining/recursion_limit, one counter. */
#define PYG_RECURSION_REMAINING (PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000)
/* 3.12+: Python and C recursion are counted apart. */
#define PYG_SPLIT_RECURSION (PY_VERSION_HEX >= 0x030C0000)
/* 3.9 - 3.11: trash_delete_nesting in the thread state. */
#define PYG_TRASH_FIELDS (PY_VERSION_HEX < 0x030C0000)
/* 3.12: the same nesting moved into tstate->trash. */
#define PYG_TRASH_STRUCT (PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000)
/* 3.11+: pystate.c reads the layout of interpreter frames. */
#define PYG_INTERP_FRAMES (PY_VERSION_HEX >= 0x030B0000)
/* 3.13+: a frame's code is f_executable (3.11, 3.12: f_code). */
#define PYG_FRAME_EXECUTABLE (PY_VERSION_HEX >= 0x030D0000)
/* 3.12+: a frame's function is f_funcobj (3.11: f_func). */
#define PYG_FRAME_FUNCOBJ (PY_VERSION_HEX >= 0x030C0000)
/* 3.12+: a frame's stacktop is -1 except while it waits on a Python
   callee (3.11 leaves a stale value behind). */
#define PYG_STACKTOP_RESET (PY_VERSION_HEX >= 0x030C0000)
/* 3.12+: eval loops put entry ("shim") frames on the C stack. */
#define PYG_CSTACK_SHIM_FRAMES (PY_VERSION_HEX >= 0x030C0000)
/* 3.12+: sys.settrace/setprofile run on code instrumentation, applied
   only to the code of frames on some thread's current chain. */
#define PYG_INSTRUMENTED_TRACING (PY_VERSION_HEX >= 0x030C0000)
/* 3.12+: PyErr_GetRaisedException and friends. */
#define PYG_RAISED_EXCEPTION_API (PY_VERSION_HEX >= 0x030C0000)
/* 3.13+: PyThreadState_GetUnchecked, Py_IsFinalizing are public. */
#define PYG_PUBLIC_UNCHECKED_TSTATE (PY_VERSION_HEX >= 0x030D0000)


/* 3.9 lacks the reference helpers later code takes for granted. */
#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *
pyg_newref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
static inline PyObject *
pyg_xnewref(PyObject *o)
{
    Py_XINCREF(o);
    return o;
}
#define Py_NewRef(o) pyg_newref((PyObject *)(o))
#define Py_XNewRef(o) pyg_xnewref((PyObject *)(o))
#endif

#endif
