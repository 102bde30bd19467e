"""Boot Debian's kernel under QEMU (TCG) with cgroup v1 disabled and run one command.

Why a VM: this host is hybrid (v1 owns the controllers), so cgroup v2 limits
can only be proven on a kernel booted with ``cgroup_no_v1=all``.

How it works (nothing is installed at test time):

* the kernel is ``/boot/vmlinuz-*`` of ``linux-image-amd64``; its XZ payload is
  unpacked to an ELF ``vmlinux`` so QEMU can use the fast PVH entry (~3 s to a
  shell vs ~6 s through the bzImage and firmware);
* an initramfs is written here in Python: ``busybox-static``, the few kernel
  modules the guest needs (resolved through ``modules.dep``) and an ``/init``;
* the host's ``/`` is shared read-only over virtio-9p and put under an
  overlayfs whose upper directory is a tmpfs (an overlay root cannot be an
  upper dir), so the guest sees this very checkout and virtualenv;
* the command's stdout, stderr and exit status come back on three separate
  virtio-serial ports (files on the host); the serial console is kept only
  to explain a failed boot.

``/dev/kvm`` on this machine is a nested PVM that hangs QEMU with a stock
kernel, hence ``-accel tcg`` and a hard timeout on every run.
"""

from __future__ import annotations

import dataclasses
import glob
import lzma
import os
import shlex
import shutil
import stat
import subprocess
import time

GUEST_MODULES = ("virtio_pci", "virtio_console", "9pnet_virtio", "9p", "overlay", "loop")
PORTS = ("stdout", "stderr", "status")


class VMError(Exception):
    """The guest could not be booted or did not report back."""


@dataclasses.dataclass
class GuestResult:
    stdout: str
    stderr: str
    status: int | None
    console: str
    boot_seconds: float | None  # guest uptime when the command started
    wall_seconds: float  # QEMU start to exit, on the host


def find_kernel() -> tuple[str, str]:
    """(bzImage path, modules directory) of the newest installed kernel with modules."""
    override = os.environ.get("PYCR_VM_KERNEL")
    candidates = [override] if override else sorted(glob.glob("/boot/vmlinuz-*"), reverse=True)
    for image in candidates:
        release = os.path.basename(image).removeprefix("vmlinuz-")
        moddir = f"/lib/modules/{release}"
        if os.path.isfile(image) and os.path.isdir(moddir):
            return image, moddir
    raise VMError("no kernel: install linux-image-amd64 (needs /boot/vmlinuz-* and /lib/modules/<release>)")


def extract_vmlinux(bzimage: str, dest: str) -> str | None:
    """Unpack the XZ-compressed ELF inside a bzImage; None when it is not XZ."""
    with open(bzimage, "rb") as f:
        data = f.read()
    start = data.find(b"\xfd7zXZ\x00")
    if start < 0:
        return None
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
    if not elf.startswith(b"\x7fELF"):
        return None
    with open(dest, "wb") as f:
        f.write(elf)
    return dest


def module_closure(moddir: str, names: tuple[str, ...]) -> list[str]:
    """Relative paths of ``names`` and their dependencies, dependencies first."""
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[mod] = rest.split()
            base = os.path.basename(mod).split(".ko")[0]
            by_name[base] = by_name.get(base, mod)
            by_name[base.replace("-", "_")] = by_name[base]
    order: list[str] = []

    def visit(mod: str) -> None:
        if mod in order:
            return
        for dep in deps.get(mod, []):
            visit(dep)
        order.append(mod)

    builtin = set()
    builtin_file = os.path.join(moddir, "modules.builtin")
    if os.path.exists(builtin_file):
        with open(builtin_file) as f:
            builtin = {os.path.basename(line.strip()).split(".ko")[0] for line in f}
    for name in names:
        if name in by_name:
            visit(by_name[name])
        elif name.replace("_", "-") not in builtin and name not in builtin:
            raise VMError(f"kernel module {name} not found in {moddir}/modules.dep")
    return order


class _Cpio:
    """Minimal writer for the ``newc`` cpio format the kernel unpacks."""

    def __init__(self, path: str):
        self.f = open(path, "wb")
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        encoded = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        header = b"070701" + b"".join(b"%08X" % v for v in fields)
        self.ino += 1
        self.f.write(header + encoded)
        self.f.write(b"\0" * (-(len(header) + len(encoded)) % 4))
        self.f.write(data)
        self.f.write(b"\0" * (-len(data) % 4))

    def dir(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def close(self) -> None:
        self._entry("TRAILER!!!", 0)
        self.f.close()


# The checkout the guest must see (tests and the venv live in it).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

INIT = r"""#!/bin/busybox sh
# pycr VM test init: mount the host root read-only with a tmpfs overlay, run /cmd.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod "/mod/$m" || echo "pycr-init: insmod $m failed"; done
port() {  # device node of the virtio-serial port named $1
    for p in /sys/class/virtio-ports/*; do
        [ "$(cat $p/name 2>/dev/null)" = "$1" ] && { echo /dev/${p##*/}; return; }
    done
}
i=0; while [ -z "$(port pycr.status)" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
OUT=$(port pycr.stdout); ERR=$(port pycr.stderr); ST=$(port pycr.status)
fail() { echo "pycr-init: $*"; echo "pycr-init: $*" > "$ERR"; echo "exit 255" > "$ST"; reboot -f; }
[ -n "$ST" ] || { echo "pycr-init: no virtio-serial ports"; reboot -f; }
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower || fail "9p mount failed"
mount -t tmpfs -o size=80% tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay mount failed"
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t cgroup2 -o nsdelegate cgroup2 /newroot/sys/fs/cgroup || fail "cgroup2 mount failed"
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
# the checkout may live under /tmp or /run (CI clones anywhere): keep it visible over the tmpfs
KEEP=$(cat /keep)
mkdir -p /keepmnt && mount -o bind "/newroot$KEEP" /keepmnt || fail "cannot keep $KEEP"
mount -t tmpfs tmpfs /newroot/tmp
mount -t tmpfs tmpfs /newroot/run
mkdir -p "/newroot$KEEP" && mount --move /keepmnt "/newroot$KEEP" || fail "cannot restore $KEEP"
# pycr's own storage: overlayfs (rootfs_overlay) cannot take an upper dir on the overlay root
mkdir -p /newroot/var/lib/pycr && mount -t tmpfs tmpfs /newroot/var/lib/pycr
echo "booted $(cut -d' ' -f1 /proc/uptime)" > "$ST"
chroot /newroot /bin/sh -c "$(cat /cmd)" > "$OUT" 2> "$ERR" < /dev/null
echo "exit $?" > "$ST"
sync
reboot -f
"""


def build_initramfs(dest: str, moddir: str, command: str) -> str:
    busybox = shutil.which("busybox") or "/bin/busybox"
    with open(busybox, "rb") as f:
        bb = f.read()
    if b"/ld-linux" in bb[:4096]:   # a dynamic ELF names its interpreter near the start
        raise VMError(f"{busybox} is dynamically linked: install busybox-static")
    cpio = _Cpio(dest)
    for d in ("bin", "dev", "proc", "sys", "mod", "lower", "rw", "newroot", "tmp"):
        cpio.dir(d)
    cpio.file("bin/busybox", bb, 0o755)
    cpio.file("init", INIT.encode(), 0o755)
    cpio.file("cmd", command.encode())
    cpio.file("keep", REPO_ROOT.encode())
    names = []
    for rel in module_closure(moddir, GUEST_MODULES):
        with open(os.path.join(moddir, rel), "rb") as f:
            data = f.read()
        if rel.endswith(".xz"):
            data = lzma.decompress(data)
        elif rel.endswith(".zst"):
            raise VMError(f"zstd-compressed module {rel} is not supported")
        name = os.path.basename(rel).split(".ko")[0] + ".ko"
        cpio.file(f"mod/{name}", data)
        names.append(name)
    cpio.file("modules.list", ("\n".join(names) + "\n").encode())
    cpio.close()
    return dest


def run_in_guest(command: str, workdir: str, *, timeout: float = 900, cpus: int = 2,
                 memory: str = "1024M", share: str = "/") -> GuestResult:
    """Boot once, run ``command`` (a shell line) in the guest's host-root overlay."""
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise VMError("qemu-system-x86_64 not found: install qemu-system-x86")
    bzimage, moddir = find_kernel()
    os.makedirs(workdir, exist_ok=True)
    initrd = build_initramfs(os.path.join(workdir, "initramfs.cpio"), moddir, command)
    vmlinux = extract_vmlinux(bzimage, os.path.join(workdir, "vmlinux"))
    if vmlinux:
        try:
            return _boot(qemu, vmlinux, initrd, workdir, timeout, cpus, memory, share)
        except VMError as e:
            if "did not boot" not in str(e):
                raise
            # the PVH entry is an optimisation: a kernel without it still boots as a bzImage
    return _boot(qemu, bzimage, initrd, workdir, timeout, cpus, memory, share)


def _boot(qemu: str, kernel: str, initrd: str, workdir: str, timeout: float, cpus: int, memory: str,
          share: str) -> GuestResult:
    files = {p: os.path.join(workdir, f"{p}.out") for p in PORTS}
    console = os.path.join(workdir, "console.log")
    for path in [*files.values(), console]:
        open(path, "w").close()
    argv = [qemu, "-accel", "tcg,thread=multi", "-M", "pc", "-cpu", "max", "-smp", str(cpus), "-m", memory,
            "-nodefaults", "-display", "none", "-no-reboot",
            "-kernel", kernel, "-initrd", initrd,
            "-append", "console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all rdinit=/init",
            "-chardev", f"file,id=con,path={console}", "-serial", "chardev:con",
            "-fsdev", f"local,id=root,path={share},security_model=passthrough,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=root,mount_tag=hostroot",
            "-device", "virtio-serial-pci,id=vser"]
    for i, p in enumerate(PORTS, 1):
        argv += ["-chardev", f"file,id={p},path={files[p]}",
                 "-device", f"virtserialport,bus=vser.0,nr={i},chardev={p},name=pycr.{p}"]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        qemu_out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        qemu_out, _ = proc.communicate()
        raise VMError(f"guest did not finish within {timeout:.0f}s; console tail:\n{_tail(console)}") from None
    wall = time.monotonic() - t0
    status_text = _read(files["status"])
    boot = status = None
    for line in status_text.split("\n"):
        word, _, value = line.partition(" ")
        if word == "booted":
            boot = float(value)
        elif word == "exit":
            status = int(value)
    result = GuestResult(_read(files["stdout"]), _read(files["stderr"]), status, _read(console), boot, wall)
    if boot is None:
        raise VMError(f"guest did not boot (qemu exit {proc.returncode}: {qemu_out.decode(errors='replace')[-2000:]});"
                      f" console tail:\n{_tail(console)}\nstderr: {result.stderr[-2000:]}")
    return result


def guest_command(argv: list[str], cwd: str) -> str:
    env = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8"
    return f"export {env}; cd {shlex.quote(cwd)} && exec {shlex.join(argv)}"


def _read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")


def _tail(path: str, n: int = 40) -> str:
    return "\n".join(_read(path).splitlines()[-n:])


if __name__ == "__main__":
    # Developer entry: run one shell line in the guest, e.g.
    #   .venv/bin/python tests/vm/harness.py 'cat /sys/fs/cgroup/cgroup.controllers'
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pycr-vm-") as tmp:
        res = run_in_guest(guest_command(["sh", "-c", " ".join(sys.argv[1:]) or "true"], os.getcwd()), tmp)
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    print(f"[guest booted in {res.boot_seconds}s, ran {res.wall_seconds:.1f}s, exit {res.status}]", file=sys.stderr)
    sys.exit(255 if res.status is None else res.status)
