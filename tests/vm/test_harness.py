"""The VM harness's own pieces, checked on the host without booting a guest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

sys.path.pop(0)


def test_module_closure_loads_dependencies_first():
    _, moddir = harness.find_kernel()
    order = [os.path.basename(m).split(".ko")[0] for m in harness.module_closure(moddir, harness.GUEST_MODULES)]
    for mod, dep in (("9p", "9pnet"), ("9pnet_virtio", "virtio_ring"), ("virtio_pci", "virtio"),
                     ("9p", "netfs")):
        if mod in order and dep in order:
            assert order.index(dep) < order.index(mod), order
    assert {"9p", "9pnet_virtio", "virtio_console", "overlay"} <= set(order)
    assert len(order) == len(set(order))


def test_unknown_module_is_a_clear_error():
    _, moddir = harness.find_kernel()
    with pytest.raises(harness.VMError, match="no_such_mod"):
        harness.module_closure(moddir, ("no_such_mod",))


def test_initramfs_is_a_newc_archive_the_kernel_can_unpack(tmp_path):
    _, moddir = harness.find_kernel()
    image = harness.build_initramfs(str(tmp_path / "initrd"), moddir, "echo hi")
    out = tmp_path / "x"
    out.mkdir()
    with open(image, "rb") as f:
        subprocess.run([shutil.which("busybox"), "cpio", "-i", "-d"], stdin=f, cwd=out, check=True,
                       capture_output=True)
    assert (out / "cmd").read_text() == "echo hi"
    assert os.access(out / "init", os.X_OK) and (out / "init").read_text().startswith("#!/bin/busybox sh")
    modules = (out / "modules.list").read_text().split()
    assert all((out / "mod" / m).stat().st_size > 0 for m in modules)


def test_vmlinux_is_extracted_as_elf(tmp_path):
    bzimage, _ = harness.find_kernel()
    path = harness.extract_vmlinux(bzimage, str(tmp_path / "vmlinux"))
    assert path is not None
    with open(path, "rb") as f:
        assert f.read(4) == b"\x7fELF"


def test_a_guest_that_cannot_boot_is_an_error_not_a_hang(tmp_path):
    bogus = tmp_path / "not-a-kernel"
    bogus.write_bytes(b"\0" * 4096)
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"")
    with pytest.raises(harness.VMError, match="did not boot"):
        harness._boot(shutil.which("qemu-system-x86_64"), str(bogus), str(initrd), str(tmp_path), 60, 1,
                      "128M", "/")
