"""The container's /etc/hosts and /etc/resolv.conf, kept in its directory and bind-mounted.

Name resolution between containers of one network is these hosts files:
each lists every container on the network, and they are rewritten *in
place* (same inode, so the bind mounts see it) whenever one joins or
leaves.  No daemon to run, and every libc (glibc, musl, busybox) reads
/etc/hosts before DNS.
"""

from __future__ import annotations

import ipaddress
import os

FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")  # docker's choice when the host has only local resolvers
BASE_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def resolv_conf(host_file: str = "/etc/resolv.conf") -> str:
    """The host's resolv.conf without loopback nameservers (unreachable from the container's netns)."""
    try:
        with open(host_file) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    out, servers = [], 0
    for line in lines:
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            try:
                if ipaddress.ip_address(words[1].split("%")[0]).is_loopback:
                    continue
            except ValueError:
                continue
            servers += 1
        out.append(line)
    if not servers:
        out += [f"nameserver {s}" for s in FALLBACK_DNS]
    return "\n".join(out) + "\n"


def hosts(own: list[tuple[str, str]], peers: list[tuple[str, str]]) -> str:
    """A hosts file: localhost, then ``(address, names)`` of this container and its peers."""
    return BASE_HOSTS + "".join(f"{ip}\t{names}\n" for ip, names in own + peers)


def rewrite(path: str, text: str) -> None:
    """Replace the content of ``path`` keeping its inode (a bind mount shows the new text)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
