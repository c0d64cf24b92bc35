"""greenlet: lightweight coroutines with their own stacks.

This is cgreenlet's implementation of the greenlet API, written in C on
the cgreenlet core library.  It is a drop-in replacement for the stock
greenlet module, including its C API (greenlet/greenlet.h).
"""
from ._greenlet import (
    __version__,  # set in C from the header's version macros (pyg.h)
    CLOCKS_PER_SEC,
    GREENLET_USE_CONTEXT_VARS,
    GREENLET_USE_GC,
    GREENLET_USE_STANDARD_THREADING,
    GREENLET_USE_TRACING,
    GreenletExit,
    _C_API,
    enable_optional_cleanup,
    error,
    get_clocks_used_doing_optional_cleanup,
    get_stack_size,
    getcurrent,
    gettrace,
    greenlet,
    set_stack_size,
    settrace,
)

__all__ = [
    "__version__",
    "_C_API",
    "GreenletExit",
    "error",
    "getcurrent",
    "greenlet",
    "gettrace",
    "settrace",
]
