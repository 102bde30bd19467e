"""``pycr build [-t NAME]... [-f FILE] [--build-arg K=V]... ... CONTEXT|-``: an image from a Dockerfile."""

from __future__ import annotations

import os
import sys


def add_arguments(p) -> None:
    p.add_argument("-t", "--tag", action="append", default=[], metavar="NAME[:TAG]", help="name the image")
    p.add_argument("-f", "--file", metavar="FILE", help="the Dockerfile (default CONTEXT/Dockerfile; - for stdin)")
    p.add_argument("--build-arg", action="append", default=[], metavar="K=V", help="set a build-time ARG")
    p.add_argument("--target", metavar="STAGE", help="build this stage (and what it needs), not the last")
    p.add_argument("--no-cache", action="store_true", help="run every step, ignoring the layer cache")
    p.add_argument("--pull", action="store_true", help="pull base images even when they are stored")
    p.add_argument("--platform", metavar="OS/ARCH", help="platform of the base images to use")
    p.add_argument("--label", action="append", default=[], metavar="K=V", help="add a label to the image")
    p.add_argument("--progress", choices=("auto", "plain"), default="auto", help="output style (both: plain)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image id")
    p.add_argument("--registry-only", action="store_true",
                   help="take base images from registries only, never a transport (oci:, docker-archive:...)")
    p.add_argument("--no-local-urls", action="store_true",
                   help="ADD refuses a URL whose host is this machine (loopback, 0.0.0.0) or link-local")
    p.add_argument("--builder", default="dockerfile", help="builder driver (pycr.builder entry point)")
    p.add_argument("context", metavar="CONTEXT", help="build context directory, or - for a Dockerfile on stdin")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    from pycr.core import ConfigError

    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise ConfigError(f"{what} {item!r}: expected KEY=VALUE")
        if not eq:  # docker: a bare name takes the value from the environment
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


MAX_DOCKERFILE = 8 << 20  # far beyond any real Dockerfile; a bigger one is a mistake (or a disk image)


def _read_dockerfile(path: str) -> str:
    """The Dockerfile's text: a regular file (a FIFO or device would block or never end), at most 8 MiB."""
    import stat

    from pycr.core import ConfigError

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(f"build: cannot read the Dockerfile {path}: {e.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ConfigError(f"build: the Dockerfile {path} is not a regular file")
    with open(fd, "rb") as f:
        if st.st_size > MAX_DOCKERFILE:
            raise ConfigError(f"build: the Dockerfile {path} is {st.st_size} bytes; at most {MAX_DOCKERFILE}")
        try:
            return f.read(MAX_DOCKERFILE + 1).decode(errors="replace")
        except OSError as e:
            raise ConfigError(f"build: cannot read the Dockerfile {path}: {e.strerror}") from None


def run(opts, ns) -> int:
    from pycr.core import ConfigError, get_manager, open_store
    from pycr.plugins.build.engine import BuildRequest
    from pycr.plugins.build.progress import Progress

    if ns.context == "-":
        if ns.file not in (None, "-"):
            raise ConfigError("build -: the Dockerfile comes from stdin; -f cannot name another")
        context, text, name = None, sys.stdin.read(), "Dockerfile"
    else:
        context = os.path.abspath(ns.context)
        if not os.path.isdir(context):
            raise ConfigError(f"build: context {ns.context} is not a directory")
        path = ns.file or os.path.join(context, "Dockerfile")
        name = os.path.relpath(path, context) if ns.file is None or not os.path.isabs(ns.file) else ns.file
        if ns.file == "-":
            text, name = sys.stdin.read(), "Dockerfile"
        else:
            text = _read_dockerfile(path)
    req = BuildRequest(dockerfile=text, dockerfile_name=name, context=context, tags=ns.tag,
                       build_args=_pairs(ns.build_arg, "--build-arg"), target=ns.target, no_cache=ns.no_cache,
                       pull=ns.pull, platform=ns.platform, labels=_pairs(ns.label, "--label"), quiet=ns.quiet,
                       registry_only=ns.registry_only, no_local_urls=ns.no_local_urls)
    store = open_store(opts=opts)
    builder = get_manager(opts).driver("builder", ns.builder)(opts, store, Progress(quiet=ns.quiet))
    _digest, image_id = builder.build(req)
    print(image_id, flush=True)
    return 0
