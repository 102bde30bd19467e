"""The _ctypes-only libc binding (core/linux/libc.py) against the real libc and kernel."""

import errno
import os
import subprocess
import sys

import pytest

from pycr.core.linux import libc


def test_int_function_returns_and_keeps_errno():
    assert libc.function("getpid")() == os.getpid()
    assert libc.function("close")(-1) == -1
    assert libc.get_errno() == errno.EBADF


def test_syscall_returns_a_long_and_errno():
    assert libc.syscall(39) == os.getpid()  # getpid on x86_64
    assert libc.syscall(3, -1) == -1  # close(-1)
    assert libc.get_errno() == errno.EBADF


def test_missing_symbol_is_an_attribute_error():
    with pytest.raises(AttributeError):
        libc.function("no_such_function_in_libc")


def test_buffer_is_a_writable_copy_the_kernel_fills():
    r, w = os.pipe()
    try:
        os.write(w, b"hello")
        buf = libc.buffer(bytes(8))
        assert libc.function("read")(r, buf, 8) == 5
        assert buf.raw == b"hello\0\0\0" and buf.value == b"hello"
    finally:
        os.close(r)
        os.close(w)


def test_ulong_passes_64_bits():
    # prctl(PR_GET_NAME) writes through a 64-bit pointer: the thread's name read back proves the address arrived whole
    name = libc.buffer(bytes(16))
    assert libc.function("prctl")(16, libc.ULong(libc.addressof(name)), libc.ULong(0), libc.ULong(0),
                                  libc.ULong(0)) == 0
    with open(f"/proc/self/task/{libc.syscall(186)}/comm", "rb") as f:  # gettid
        assert name.value == f.read().strip()[:15]


def test_setrlimit_through_prlimit_in_a_child():
    code = ("import resource; from pycr.core.linux.syscalls import SYSCALLS as S; "
            "S.setrlimit(resource.RLIMIT_NOFILE, 100, 200); print(resource.getrlimit(resource.RLIMIT_NOFILE)); "
            "S.setrlimit(resource.RLIMIT_CORE, -1, -1); print(resource.getrlimit(resource.RLIMIT_CORE)); "
            "\ntry:\n S.setrlimit(resource.RLIMIT_NOFILE, 300, 200)\nexcept OSError as e: print(e.errno)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:3] == ["(100, 200)", f"({resource_inf()}, {resource_inf()})",
                                             str(errno.EINVAL)]


def resource_inf():
    import resource

    return resource.RLIM_INFINITY


def test_the_module_does_not_load_ctypes():
    code = "import sys; from pycr.core.linux import libc; libc.syscall(39); print('ctypes' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
