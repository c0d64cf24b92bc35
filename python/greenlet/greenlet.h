/*
 * greenlet/greenlet.h: the C API of the greenlet module, for compiled
 * users (gevent, uWSGI, ...).  Binary compatible with the stock
 * greenlet's header: the same object layout and the same capsule slots in
 * the same order, so extensions built against either work with either.
 *
 * Use: call PyGreenlet_Import() once in each translation unit (it sets the
 * file-static _PyGreenlet_API from the capsule "greenlet._C_API"), then
 * use the macros below like functions.  Every call needs the GIL.
 */
#ifndef Py_GREENLETOBJECT_H
#define Py_GREENLETOBJECT_H

#include <Python.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Deprecated; kept because old users test it. */
#define GREENLET_VERSION "1.0.0"

#ifndef GREENLET_MODULE
#define implementation_ptr_t void*
#endif

/* The layout is frozen: compiled subclasses (gevent's Cython Greenlet)
   put their own fields right after it. */
typedef struct _greenlet {
    PyObject_HEAD
    PyObject* weakreflist;
    PyObject* dict;
    implementation_ptr_t pimpl;
} PyGreenlet;

#define PyGreenlet_Check(op) \
    ((op) && PyObject_TypeCheck((op), &PyGreenlet_Type))

/* Slot numbers of the capsule's pointer array. */
#define PyGreenlet_Type_NUM 0
#define PyExc_GreenletError_NUM 1
#define PyExc_GreenletExit_NUM 2
#define PyGreenlet_New_NUM 3
#define PyGreenlet_GetCurrent_NUM 4
#define PyGreenlet_Throw_NUM 5
#define PyGreenlet_Switch_NUM 6
#define PyGreenlet_SetParent_NUM 7
#define PyGreenlet_MAIN_NUM 8
#define PyGreenlet_STARTED_NUM 9
#define PyGreenlet_ACTIVE_NUM 10
#define PyGreenlet_GET_PARENT_NUM 11
#define PyGreenlet_API_pointers 12

#ifndef GREENLET_MODULE
static void** _PyGreenlet_API = NULL;

/* The greenlet.greenlet type. */
#define PyGreenlet_Type \
    (*(PyTypeObject*)_PyGreenlet_API[PyGreenlet_Type_NUM])

/* greenlet.error and greenlet.GreenletExit. */
#define PyExc_GreenletError \
    ((PyObject*)_PyGreenlet_API[PyExc_GreenletError_NUM])
#define PyExc_GreenletExit \
    ((PyObject*)_PyGreenlet_API[PyExc_GreenletExit_NUM])

/* New reference to a not-started greenlet running `run` (NULL: no run
   attribute) under `parent` (NULL: the current greenlet); NULL with an
   exception on failure.  Borrows its arguments. */
#define PyGreenlet_New \
    (*(PyGreenlet* (*)(PyObject* run, PyGreenlet* parent)) \
         _PyGreenlet_API[PyGreenlet_New_NUM])

/* New reference to the calling thread's current greenlet; NULL with an
   exception set only on failure (e.g. during finalization). */
#define PyGreenlet_GetCurrent \
    (*(PyGreenlet* (*)(void))_PyGreenlet_API[PyGreenlet_GetCurrent_NUM])

/* g.throw(typ, val, tb): val and tb may be NULL.  New reference to what
   arrives back, or NULL with an exception.  May switch. */
#define PyGreenlet_Throw \
    (*(PyObject* (*)(PyGreenlet* self, PyObject* typ, PyObject* val, \
                     PyObject* tb))_PyGreenlet_API[PyGreenlet_Throw_NUM])

/* g.switch(*args, **kwargs): args NULL or a tuple, kwargs NULL or a dict.
   New reference to what arrives back, or NULL with an exception.  May
   switch. */
#define PyGreenlet_Switch \
    (*(PyObject* (*)(PyGreenlet* greenlet, PyObject* args, \
                     PyObject* kwargs))_PyGreenlet_API[PyGreenlet_Switch_NUM])

/* g.parent = nparent: 0, or -1 with an exception. */
#define PyGreenlet_SetParent \
    (*(int (*)(PyGreenlet* greenlet, PyGreenlet* nparent)) \
         _PyGreenlet_API[PyGreenlet_SetParent_NUM])

/* New reference to g's parent; NULL without an exception for a main
   greenlet; NULL with TypeError for a non-greenlet. */
#define PyGreenlet_GetParent \
    (*(PyGreenlet* (*)(PyGreenlet*))_PyGreenlet_API[PyGreenlet_GET_PARENT_NUM])
/* Deprecated spelling of PyGreenlet_GetParent. */
#define PyGreenlet_GET_PARENT PyGreenlet_GetParent

/* 1 or 0: a main greenlet / started / active; -1 with TypeError for a
   non-greenlet. */
#define PyGreenlet_MAIN \
    (*(int (*)(PyGreenlet*))_PyGreenlet_API[PyGreenlet_MAIN_NUM])
#define PyGreenlet_STARTED \
    (*(int (*)(PyGreenlet*))_PyGreenlet_API[PyGreenlet_STARTED_NUM])
#define PyGreenlet_ACTIVE \
    (*(int (*)(PyGreenlet*))_PyGreenlet_API[PyGreenlet_ACTIVE_NUM])

/* Sets _PyGreenlet_API from the capsule; on failure it is NULL and an
   exception is set. */
#define PyGreenlet_Import() \
    { \
        _PyGreenlet_API = (void**)PyCapsule_Import("greenlet._C_API", 0); \
    }

#endif /* GREENLET_MODULE */

#ifdef __cplusplus
}
#endif
#endif /* Py_GREENLETOBJECT_H */
