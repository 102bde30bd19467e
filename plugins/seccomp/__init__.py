"""Plugin ``seccomp``: ``linux.seccomp`` and the LSM fields of the config.

Hooks (``hooks.py``):

* ``pycr_isolation_plan``: the policy is compiled to BPF in the runtime
  process -- once per distinct policy, then read from the cache (see
  :mod:`.compiled`) -- and added as a :class:`.compiled.LoadSeccomp` step the init
  runs last before execve.  AppArmor/SELinux fields are checked
  (:mod:`.labels`): never dropped silently.
* ``pycr_init_request``: the init's notify fd goes to ``listenerPath``.
* ``pycr_features``: what ``linux.seccomp`` supports.

docker's default profile, used by ``pycr run``, is in :mod:`.profile`.
"""

#: config annotation: ``ignore`` skips syscall names libseccomp does not know (docker's profiles).
#: Here rather than in :mod:`.policy`: the hot path (a cached filter) does not import that module.
IGNORE_UNKNOWN = "io.pycr.seccomp.unknown-syscalls"
