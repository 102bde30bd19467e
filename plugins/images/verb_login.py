"""``pycr login [-u USER] [-p PASS | --password-stdin] REGISTRY`` and ``pycr logout REGISTRY``.

Credentials are checked against the registry, then kept in docker's
``config.json`` (``$DOCKER_CONFIG`` or ``~/.docker``) so docker, podman and
skopeo share them.
"""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST")
    p.add_argument("registry")


def run(opts, ns) -> int:
    from pycr.core import ConfigError
    from pycr.plugins.images import transports

    user = ns.username or input("Username: ")
    if ns.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif ns.password is not None:
        password = ns.password
    else:
        import getpass

        password = getpass.getpass("Password: ")
    if not user or not password:
        raise ConfigError("login: username and password must not be empty")
    src = transports.source(opts, "docker", insecure_registries=ns.insecure_registry)
    path = src.login(ns.registry, user, password)
    print(f"Login Succeeded (credentials in {path})")
    return 0
