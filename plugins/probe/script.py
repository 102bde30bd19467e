"""The probe script, run as ``/bin/sh /.pycr-probe.sh`` inside the container.

Each probe prints one line ``PROBE <name> <contained|escaped> <detail>``.
The environment carries what the host planted: ``TOKEN`` (names the target
process and the listener's greeting), ``MARKER`` (a file in the host's
``/var/tmp``), ``MOUNTMARK`` (a tmpfs mounted on the host), ``PORT``,
``DISK_MAJOR``/``DISK_MINOR`` (the host's root disk), ``MEM_ALLOC``,
``HOST_BUSYBOX``.

The chroot escape needs a directory outside the root.  busybox's ``chroot``
applet always changes into the new root, so the probe keeps a handle through
``/proc/PID/cwd`` of a helper left behind: chroot into ``/proc`` (a
subdirectory of the container's root), enter the helper's cwd -- now outside
the current root -- walk ``..`` as far as it goes, and ``chroot .`` there.
Under ``chroot(2)`` alone that lands on the host's ``/``; after
``pivot_root`` the old root is gone, and after runc-style ``--no-pivot`` the
rootfs is mounted over ``/`` so the walk falls back into it.
"""

PROBES = ("host_pids", "host_mounts", "chroot_escape", "proc_sys_write", "sys_write", "raw_device",
          "memory_limit", "ptrace_host", "host_network", "keyctl", "userns", "mount_call", "kexec_load")
#: the syscall probes: docker's default seccomp profile stops them (see SYSCALLS below)
SYSCALL_PROBES = ("keyctl", "userns", "mount_call", "kexec_load")

DESCRIPTIONS = {
    "host_pids": "a host process (named by a token) is visible in /proc",
    "host_mounts": "a tmpfs mounted on the host appears in /proc/self/mountinfo",
    "chroot_escape": "chroot into a subdirectory, walk '..' from outside it, chroot('.'): host / reached",
    "proc_sys_write": "write (its own value back) to /proc/sys/vm/swappiness",
    "sys_write": "write (its own value back) to /sys/kernel/mm/transparent_hugepage/khugepaged/defrag",
    "raw_device": "mknod the host's root disk and read its first sector",
    "memory_limit": "allocate MEM_ALLOC in one buffer above the 64 MiB memory limit",
    "ptrace_host": "ptrace-mode read of a host process (/proc/PID/environ)",
    "host_network": "connect to a listener on the host's 127.0.0.1",
    "keyctl": "keyctl(2) reaches the kernel's keyring API (not namespaced)",
    "userns": "unshare(CLONE_NEWUSER): a new user namespace, the door to many kernel bugs",
    "mount_call": "mount(2) reaches the kernel",
    "kexec_load": "kexec_load(2) reaches the kernel",
}

SCRIPT = r"""
say() { echo "PROBE $1 $2 $3"; }

target=""
for f in /proc/[0-9]*/cmdline; do
  c=$(tr '\0' ' ' < "$f" 2>/dev/null)
  case "$c" in *"pycr-probe-target-$TOKEN"*) p=${f#/proc/}; target=${p%/cmdline};; esac
done
if [ -n "$target" ]; then say host_pids escaped "host target visible as pid $target"
else say host_pids contained "host target not in /proc"; fi

if grep -q " $MOUNTMARK " /proc/self/mountinfo 2>/dev/null; then say host_mounts escaped "$MOUNTMARK listed"
else say host_mounts contained "$(wc -l < /proc/self/mountinfo) mounts, none of the host's marker"; fi

sleep 30 &
holder=$!
out=$(chroot /proc "/$holder/root/bin/busybox" sh -c \
  "cd -P /$holder/cwd && cd -P ../../../../../../../../../../../../../../.. && /$holder/root/bin/busybox chroot . $HOST_BUSYBOX sh -c 'test -f $MARKER && echo REACHED'" 2>&1)
kill $holder 2>/dev/null
case "$out" in
  *REACHED*) say chroot_escape escaped "host marker $MARKER read after '..' walk + chroot(.)";;
  *) say chroot_escape contained "$(echo "${out:-marker not found}" | head -n1)";;
esac

v=$(cat /proc/sys/vm/swappiness 2>/dev/null)
if [ -n "$v" ] && (echo "$v" > /proc/sys/vm/swappiness) 2>/dev/null; then say proc_sys_write escaped "wrote $v"
else say proc_sys_write contained "write refused"; fi

f=/sys/kernel/mm/transparent_hugepage/khugepaged/defrag
v=$(cat $f 2>/dev/null)
if [ -n "$v" ] && (echo "$v" > $f) 2>/dev/null; then say sys_write escaped "wrote $v to $f"
else say sys_write contained "write refused"; fi

err=$(mknod /tmp/.pycr-probe-disk b "$DISK_MAJOR" "$DISK_MINOR" 2>&1)
if [ -z "$err" ]; then
  n=$(dd if=/tmp/.pycr-probe-disk bs=512 count=1 2>/dev/null | wc -c)
  rm -f /tmp/.pycr-probe-disk
  if [ "$n" = 512 ]; then say raw_device escaped "read 512 bytes of $DISK_MAJOR:$DISK_MINOR"
  else say raw_device contained "mknod allowed, open/read refused"; fi
else say raw_device contained "mknod refused"; fi

(exec dd if=/dev/zero of=/dev/null bs="$MEM_ALLOC" count=1 2>/dev/null)
rc=$?
if [ $rc = 0 ]; then say memory_limit escaped "allocated $MEM_ALLOC"
else say memory_limit contained "allocation of $MEM_ALLOC stopped (status $rc)"; fi

if [ -z "$target" ]; then say ptrace_host contained "no host process visible"
elif cat /proc/$target/environ > /dev/null 2>&1; then say ptrace_host escaped "read /proc/$target/environ"
else say ptrace_host contained "ptrace access denied"; fi

# Syscall probes: the host's python3 (its /usr bound read-only) makes the raw call.
# Failing with EPERM/ENOSYS is contained; success or any other errno means the
# call reached the kernel's code.
for probe in "keyctl 250 0" "userns 272 268435456" "mount_call 165 0 0 0" "kexec_load 246 0 0 0 0"; do
  set -- $probe
  name=$1; shift
  if [ ! -x /usr/bin/python3 ]; then say $name n/a "no python3 in the host's /usr"; continue; fi
  out=$(/usr/bin/python3 -c 'import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); r=l.syscall(*map(int,sys.argv[1:])); print(r, ctypes.get_errno() if r < 0 else 0)' "$@" 2>&1)
  case "$out" in
    "-1 1"|"-1 38") say $name contained "errno $(echo $out | cut -d' ' -f2) before the kernel's code";;
    "-1 "*|"0 "*) say $name escaped "returned $out";;
    *) say $name contained "$(echo "${out:-no answer}" | head -n1)";;
  esac
done

out=$(nc -w 2 127.0.0.1 "$PORT" < /dev/null 2>&1)
case "$out" in
  *"$TOKEN"*) say host_network escaped "host listener 127.0.0.1:$PORT answered";;
  *) say host_network contained "$(echo "${out:-no answer}" | head -n1)";;
esac
"""
