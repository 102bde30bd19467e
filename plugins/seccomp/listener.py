"""Hand a seccomp notify fd to ``linux.seccomp.listenerPath``, as runc does.

The runtime connects to the listener's unix socket and sends, in one
message, the runtime-spec ``ContainerProcessState`` JSON (ociVersion, fds,
pid, metadata, state) with the notify fd attached (SCM_RIGHTS).  The
listener (a seccomp agent) then answers the container's notifications.
"""

from __future__ import annotations

import json
import socket

from pycr.core import PycrError

OCI_VERSION = "1.2.0"


def send(seccomp: dict, fd: int, state: dict, pid: int) -> None:
    path = seccomp.get("listenerPath")
    doc = {"ociVersion": OCI_VERSION, "fds": ["seccompFd"], "pid": pid,
           "metadata": seccomp.get("listenerMetadata", ""), "state": state}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            socket.send_fds(s, [json.dumps(doc).encode()], [fd])
    except OSError as e:
        raise PycrError(f"linux.seccomp.listenerPath: sending the notify fd to {path}: "
                        f"{e.strerror or e}") from None
