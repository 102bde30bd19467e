"""libc's functions through ``_ctypes``, the C half of ctypes, alone.

``import ctypes`` costs ~3.5 ms of start-up on Debian's python3.11 (its
Python half builds classes and imports struct, _endian and types) against
~1.6 ms for ``_ctypes`` (the dlopen of libffi); the runtime needs only calls
with ints, bytes and C buffers, which ``_ctypes`` does by itself.  Every
protected command and every container's init makes such calls, so this is
the one binding the runtime uses (see docs/performance.md).

Argument conversion is ctypes' own for functions without ``argtypes``: a
Python int is passed as a C ``int``, bytes as a ``const char *``, ``None`` as
NULL, a C object (:class:`ULong`, a :func:`buffer`) as itself or a pointer.
Every function keeps ``errno`` (read it with :func:`get_errno`).
"""

import _ctypes

get_errno = _ctypes.get_errno
addressof = _ctypes.addressof


class Int(_ctypes._SimpleCData):
    _type_ = "i"


class Long(_ctypes._SimpleCData):
    _type_ = "l"


class ULong(_ctypes._SimpleCData):
    """An ``unsigned long`` argument (a 64-bit value a plain int would cut to 32 bits)."""

    _type_ = "L"


class Char(_ctypes._SimpleCData):
    _type_ = "c"


class _Program:
    """What ``CFuncPtr`` reads of a ``ctypes.CDLL``: the handle of the running program, libc included."""

    _handle = _ctypes.dlopen(None)


_PROGRAM = _Program()


class _ReturnsInt(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = Int


class _ReturnsLong(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = Long


def function(name: str, returns_long: bool = False):
    """libc's ``name`` as a callable returning its C ``int`` (``long`` with ``returns_long``)."""
    return (_ReturnsLong if returns_long else _ReturnsInt)((name, _PROGRAM))


#: ``syscall(2)``: a C long, -1 with errno on failure
syscall = function("syscall", returns_long=True)


def buffer(data: bytes):
    """A writable C copy of ``data``; passed as an argument, a pointer to it.  Keep a
    reference for as long as the kernel may use its address (:func:`addressof`)."""
    return (Char * len(data)).from_buffer_copy(data)
