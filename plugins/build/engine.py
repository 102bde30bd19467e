"""The ``dockerfile`` builder: a Dockerfile's stages executed step by step into store images.

Driver of the ``pycr.builder`` slot (see :class:`BuildRequest` for what a
front end receives).  A stage is a list of layer descriptors plus an image
config; metadata instructions edit the config, RUN/COPY/ADD/WORKDIR add a
layer through the cache (:mod:`.cache`).  Only the stages the target needs
are built.  The image is named (``-t``) only after every step succeeded, so
a failed build leaves no name, no container and no temporary files; the
layers of the steps that did succeed stay as cache, as docker's do.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field

from pycr.core import ConfigError, PycrError
from pycr.plugins import images
from pycr.plugins.build import cache as cache_mod
from pycr.plugins.build import dockerfile as df
from pycr.plugins.build import copying, layers, metadata, sources, urls
from pycr.plugins.build.progress import Progress

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # scratch's, as docker's
LAYER_STEPS = ("RUN", "COPY", "ADD", "WORKDIR")


class BuildError(PycrError):
    """A step failed (a RUN exited non-zero, a source is missing...)."""


@dataclass
class BuildRequest:
    """What ``pycr build`` hands a builder driver."""

    dockerfile: str                      # the Dockerfile's text
    dockerfile_name: str = "Dockerfile"  # for messages
    context: str | None = None           # directory, or None (Dockerfile from stdin)
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    platform: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    registry_only: bool = False          # base images from registries only (the API's builds: no host files)
    no_local_urls: bool = False          # ADD URL: never this host's or a link-local address (the API's builds)


@dataclass
class State:
    key: str
    layers: list[dict]
    config: dict
    _env: metadata.Env | None = field(default=None, repr=False)
    _tree: layers.Tree | None = field(default=None, repr=False)

    def cfg(self) -> dict:
        return self.config.setdefault("config", {})

    def env(self, args: dict[str, str]) -> metadata.Env:
        """What ``$VAR`` expands to now: ``Env`` over ``args`` (the stage's build args in effect)."""
        if self._env is None:
            self.cfg()
            self._env = metadata.Env(self.config)
        self._env.args = args
        return self._env

    def tree(self, store) -> layers.Tree:
        """What the layers so far hold, for a step that only looks (WORKDIR): read once per layer added."""
        if self._tree is None or len(self._tree.layers) != len(self.layers):
            self._tree = layers.Tree(store, list(self.layers))
        return self._tree

    def copy(self) -> State:
        """A stage's start from another's end (its own Env index: the copy's config is another dict)."""
        return State(self.key, copy.deepcopy(self.layers), copy.deepcopy(self.config))


@dataclass
class Stage:
    index: int
    name: str | None
    from_ins: df.Instruction
    body: list[df.Instruction]

    @property
    def label(self) -> str:
        return self.name or f"stage-{self.index}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class DockerfileBuilder:
    name = "dockerfile"

    def __init__(self, opts, store, progress: Progress | None = None):
        self.opts = opts
        self.store = store
        self.cache = cache_mod.Cache(store)
        self.progress = progress or Progress()

    # ------------------------------------------------------------------ entry
    def build(self, req: BuildRequest) -> tuple[str, str]:
        """Build; return (manifest digest, image id).  Raises PycrError with one line on failure."""
        self.req = req
        images.media.check_platform(req.platform)
        path = req.dockerfile_name
        n = self.progress.step(f"[internal] load build definition from {path}")
        dfile = df.parse(req.dockerfile, path)
        for note in dfile.notes:
            self.progress.note(note)
        self.progress.done(n)
        from pycr.plugins.build.ignore import Ignore

        self.ignore = Ignore.load(req.context)
        self.used_args: set[str] = set()
        self.meta_args = self._meta_args(dfile)
        stages = self._stages(dfile)
        self.multi_stage = len(stages) > 1
        target = self._target(stages)
        order = self._order(stages, target)
        self._bases: dict[tuple, tuple] = {}
        self._preflight(order, stages)
        self.states: dict[int, State] = {}
        self._flat: dict[tuple, str] = {}
        with self.store.lock("gc", shared=True), contextlib.ExitStack() as stack:
            self.tmp = tempfile.mkdtemp(prefix="build-", dir=os.path.join(self.store.root, "tmp"))
            stack.callback(shutil.rmtree, self.tmp, True)
            for stage in order:
                self.states[stage.index] = self._build_stage(stage, stages)
            unused = sorted(set(req.build_args) - self.used_args - set(PROXY_ARGS))
            if unused:
                self.progress.note(f"build-args not consumed by any ARG: {', '.join(unused)}")
            return self._export(self.states[target.index])

    # ------------------------------------------------------------- structure
    def _meta_args(self, dfile: df.Dockerfile) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        # buildkit's automatic platform ARGs: global defaults a stage takes with ``ARG TARGETARCH``
        for prefix, plat in (("BUILD", images.media.host_platform()), ("TARGET", self.req.platform or
                                                                         images.media.host_platform())):
            parts = plat.split("/")
            out.update({f"{prefix}PLATFORM": plat, f"{prefix}OS": parts[0], f"{prefix}ARCH": parts[1],
                        f"{prefix}VARIANT": parts[2] if len(parts) > 2 else ""})
        for ins in dfile.instructions:
            if ins.cmd == "FROM":
                break
            for key, value in df.key_values(ins, {k: v for k, v in out.items() if v is not None}):
                out[key] = self.req.build_args.get(key, value)
                if key in self.req.build_args:
                    self.used_args.add(key)
        return out

    def _stages(self, dfile: df.Dockerfile) -> list[Stage]:
        stages: list[Stage] = []
        for ins in dfile.instructions:
            if ins.cmd == "FROM":
                try:
                    parts = df.words(ins.value, ins.escape)
                except df.QuoteError as e:
                    raise ins.error(str(e), dfile.path) from None
                name = None
                if len(parts) == 3 and parts[1].lower() == "as":
                    name = parts[2].lower()
                    if not re.fullmatch(r"[a-z][a-z0-9_.-]*", name):  # docker's rule: "0" would shadow a stage index
                        raise ins.error(f"stage name {parts[2]!r}: a letter, then letters, digits, '_', '.' or '-'",
                                        dfile.path)
                elif len(parts) != 1:
                    raise ins.error("expected FROM IMAGE [AS NAME]", dfile.path)
                if name and any(s.name == name for s in stages):
                    raise ins.error(f"stage name {name!r} is used twice", dfile.path)
                stages.append(Stage(len(stages), name, ins, []))
            elif stages:
                stages[-1].body.append(ins)
        return stages

    def _target(self, stages: list[Stage]) -> Stage:
        if not self.req.target:
            return stages[-1]
        for s in stages:
            if s.name == self.req.target.lower():
                return s
        raise ConfigError(f"--target {self.req.target}: no stage of that name in {self.req.dockerfile_name}")

    def _resolve(self, ref: str, stages: list[Stage], stage: Stage, ins: df.Instruction) -> Stage | None:
        """The stage ``ref`` names in ``stage`` (its FROM when ``ins`` is the FROM, else a COPY
        --from), or None: an image.  A number is a stage index, any stage (buildkit's --from=N);
        a name is a stage's, wherever it is in the file, except in the FROM of the stage of that
        very name, which is the image (buildkit's ``FROM alpine AS alpine``)."""
        if ref.isdigit():
            if int(ref) >= len(stages):
                raise ins.error(f"{ref!r}: there is no stage {ref} (stages count from 0; "
                                f"{self.req.dockerfile_name} has {len(stages)})", self.req.dockerfile_name)
            return stages[int(ref)]
        low = ref.lower()
        return next((s for s in stages if s.name == low and not (ins is stage.from_ins and s is stage)), None)

    def _deps(self, stage: Stage, stages: list[Stage]) -> list[tuple[Stage, df.Instruction]]:
        """(stage needed, instruction naming it): the FROM's and each COPY --from's.  A --from is
        expanded with the global ARGs only, as buildkit decides the graph before any stage runs."""
        env = {k: v for k, v in self.meta_args.items() if v is not None}
        out = []
        base = self._resolve(self._base_name(stage), stages, stage, stage.from_ins)
        if base is not None:
            out.append((base, stage.from_ins))
        for ins in stage.body:
            if ins.cmd == "COPY" and "from" in ins.flags:
                try:
                    ref = df.expand(ins.flags["from"], env, ins.escape)
                except ConfigError as e:
                    raise ins.error(f"--from: {e}", self.req.dockerfile_name) from None
                dep = self._resolve(ref, stages, stage, ins) if ref else None
                if dep is not None:
                    out.append((dep, ins))
        return out

    def _order(self, stages: list[Stage], target: Stage) -> list[Stage]:
        """The stages ``target`` needs, each after the stages it needs (so a stage may name one
        defined below it); the others are neither checked nor built.  A cycle anywhere in the
        file is refused, as buildkit does, naming the stages and the instruction that closes it."""
        deps = {s.index: self._deps(s, stages) for s in stages}
        done: set[int] = set()
        order: list[Stage] = []
        for root in stages:  # a depth-first walk without recursion: a file may have many stages
            if root.index in done:
                continue
            path, todo = [root], [iter(deps[root.index])]
            while todo:
                nxt = next(todo[-1], None)
                if nxt is None:
                    todo.pop()
                    done.add(path[-1].index)
                    order.append(path.pop())
                    continue
                dep, ins = nxt
                on_path = [s.index for s in path]
                if dep.index in on_path:
                    cycle = " -> ".join(s.label for s in path[on_path.index(dep.index):] + [dep])
                    raise ins.error(f"circular dependency between stages: {cycle} (each needs the next)",
                                    self.req.dockerfile_name)
                if dep.index not in done:
                    path.append(dep)
                    todo.append(iter(deps[dep.index]))
        needed, todo_ = {target.index}, [target]
        while todo_:
            for dep, _ in deps[todo_.pop().index]:
                if dep.index not in needed:
                    needed.add(dep.index)
                    todo_.append(dep)
        return [s for s in order if s.index in needed]

    def _base_name(self, stage: Stage) -> str:
        env = {k: v for k, v in self.meta_args.items() if v is not None}
        base = df.expand(df.words(stage.from_ins.value, stage.from_ins.escape)[0], env, stage.from_ins.escape)
        if not base:
            raise stage.from_ins.error("the image name is empty after expanding its variables",
                                       self.req.dockerfile_name)
        return base

    def _preflight(self, stages: list[Stage], every: list[Stage]) -> None:
        """Fail before any step runs on what can be known now: the base images (pulled now, as
        buildkit resolves them first) and the context sources of COPY/ADD."""
        for stage in stages:
            base = self._base_name(stage)
            if base != "scratch" and self._resolve(base, every, stage, stage.from_ins) is None:
                self._base_image(base, stage.from_ins)
            for ins in stage.body:
                ref = ins.flags.get("from")
                if ins.cmd == "COPY" and ref and "$" not in ref and self._resolve(ref, every, stage, ins) is None:
                    self._base_image(ref, ins)
            for ins in stage.body:
                if ins.cmd in ("COPY", "ADD") and "from" not in ins.flags and "$" not in ins.value:
                    srcs = self._copy_args(ins)[0]
                    for src in srcs:
                        if src.startswith("<<") or (ins.cmd == "ADD" and copying.is_url(src)):
                            continue
                        if self.req.context is None:
                            raise ins.error(f"{src}: there is no build context (the Dockerfile came from stdin)",
                                            self.req.dockerfile_name)
                        sources.resolve(self.req.context, src, self.ignore, ins.where(self.req.dockerfile_name))

    # ---------------------------------------------------------------- stages
    def _build_stage(self, stage: Stage, stages: list[Stage]) -> State:
        self.stage = stage
        self.step_no = 0
        self.step_total = 1 + sum(1 for i in stage.body if i.cmd in LAYER_STEPS)
        self.args: dict[str, str] = {}
        self.cmd_set = False
        base = self._base_name(stage)
        dep = self._resolve(base, stages, stage, stage.from_ins)
        if dep is not None:
            self.step_no += 1  # the FROM, as docker counts it ("[final 2/3]" is the step after it)
            st = self.states[dep.index].copy()
        else:
            st = self._from_image(base, stage.from_ins)
        triggers = list(st.cfg().get("OnBuild") or [])
        if triggers:
            st.cfg()["OnBuild"] = None
            text = "FROM scratch\n" + "\n".join(triggers)
            body = df.parse(text, f"{self.req.dockerfile_name} (ONBUILD of {base})").instructions[1:]
        else:
            body = []
        for ins in body + stage.body:
            try:
                self._step(st, ins, stages)
            except df.QuoteError as e:
                raise ins.error(str(e), self.req.dockerfile_name) from None
        return st

    def _title(self, ins: df.Instruction) -> str:
        self.step_no += 1
        label = f"{self.stage.label} " if self.multi_stage else ""  # docker: "[2/3]" or "[build 2/3]"
        flags = "".join(f"--{k}={v} " for k, v in ins.flags.items())
        return f"[{label}{self.step_no}/{self.step_total}] {ins.cmd} {flags}{ins.value.splitlines()[0] if ins.value else ''}"

    def _from_image(self, base: str, ins: df.Instruction) -> State:
        platform = self.req.platform or ins.flags.get("platform")
        if base == "scratch":
            arch = (platform or images.media.host_platform()).split("/")
            self.step_no += 1
            return State(cache_mod.chain("scratch", platform or ""), [],
                         {"architecture": arch[1], "os": arch[0], "config": {"Env": [DEFAULT_PATH]},
                          "rootfs": {"type": "layers", "diff_ids": []}, "history": []})
        n = self.progress.step(self._title(ins))
        name, image = self._base_image(base, ins)
        config = copy.deepcopy(image.config)
        config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        config.setdefault("history", [])
        self.progress.info(n, f"resolve {name or base} {image.digest}")
        self.progress.done(n)
        layer_list = [{"mediaType": x.get("mediaType", images.media.OCI_LAYER_GZIP), "digest": x["digest"],
                       "size": x.get("size", 0)} for x in image.layers]
        return State(cache_mod.chain("image", image.digest), layer_list, config)

    def _base_image(self, ref: str, ins: df.Instruction):
        """(name, image) of a FROM or COPY --from image: stored, or pulled (always with --pull) once."""
        platform = self.req.platform or ins.flags.get("platform")
        key = (ref, platform)
        if key not in self._bases:
            transports = images.transports
            try:
                if self.req.registry_only:
                    transports.registry_reference(ref)
                if self.req.pull:
                    found = transports.pull(self.opts, self.store, ref, platform=platform, quiet=True)
                else:
                    found = transports.ensure_image(self.opts, self.store, ref, platform=platform, quiet=True)
            except PycrError as e:
                flag = f" --from={ref}" if ins.cmd == "COPY" else f" {ref}"
                raise BuildError(f"{ins.where(self.req.dockerfile_name)}{flag}: {e}") from None
            self._bases[key] = found
        return self._bases[key]

    # ----------------------------------------------------------------- steps
    def _env(self, st: State) -> metadata.Env:
        return st.env(self.args)

    def _history(self, st: State, created_by: str, empty: bool) -> None:
        entry = {"created": _now(), "created_by": created_by}
        if empty:
            entry["empty_layer"] = True
        st.config.setdefault("history", []).append(entry)

    def _step(self, st: State, ins: df.Instruction, stages: list[Stage]) -> None:
        where = ins.where(self.req.dockerfile_name)
        self._current = ins
        if ins.cmd in LAYER_STEPS:
            getattr(self, f"_do_{ins.cmd.lower()}")(st, ins, stages, where)
            return
        if ins.cmd == "ARG":  # history shows it as written, as docker's and buildah's do; the key has the values
            text, shown = self._arg(st, ins), f"ARG {ins.value}"
        else:
            text = shown = metadata.HANDLERS[ins.cmd](st.config, ins, self._env(st), where)
            if ins.cmd == "CMD":
                self.cmd_set = True
            elif ins.cmd == "ENTRYPOINT" and not self.cmd_set:
                st.cfg()["Cmd"] = None  # docker: a new ENTRYPOINT drops the base image's CMD
        self._history(st, f"/bin/sh -c #(nop) {shown}", True)
        # the config so far follows from the key (base image, every instruction as expanded, the ARGs
        # each set): the instruction's own text is enough, and costs nothing in the config's size
        st.key = cache_mod.chain(st.key, ins.cmd, text)

    def _arg(self, st: State, ins: df.Instruction) -> str:
        """ARG in a stage: the build arg, its default, or the global default; the text for the key
        (with the values this ARG set: those of earlier ARGs are in the key already)."""
        pairs = df.key_values(ins, self._env(st))
        for key, value in pairs:
            if key in self.req.build_args:
                self.used_args.add(key)
                value = self.req.build_args[key]
            elif value is None:
                value = self.meta_args.get(key)
            if value is not None:
                self.args[key] = value
            else:
                self.args.pop(key, None)
        return f"ARG {ins.value} {json.dumps([(key, self.args.get(key)) for key, _ in pairs])}"

    # layer instructions
    def _layer_step(self, st: State, ins: df.Instruction, key_parts: tuple, created_by: str, make) -> None:
        n = self.progress.step(self._title(ins))
        key = cache_mod.chain(st.key, *key_parts)
        rec = None if self.req.no_cache else self.cache.get(key)
        if rec is not None:
            self.progress.cached(n)
        else:
            writer = layers.LayerWriter(self.store)
            try:
                make(writer, n)
                desc = writer.commit()
            finally:
                writer.discard()
            rec = {"layer": desc, "blobs": [desc["digest"]] if desc else [], "created": _now()}
            self.cache.put(key, rec)
            self.progress.done(n)
        if rec["layer"]:
            st.layers.append(rec["layer"])
            st.config["rootfs"]["diff_ids"].append(rec["layer"]["digest"])
        st.config.setdefault("history", []).append(
            {"created": rec["created"], "created_by": created_by, **({} if rec["layer"] else {"empty_layer": True})})
        st.key = key

    def _do_run(self, st, ins, stages, where):
        from pycr.plugins.build.execute import BuildInterrupted, run_step

        if ins.heredocs:
            name, body = ins.heredocs[0]
            script = body if ins.value.strip() in (f"<<{name}", f"<<-{name}") else \
                ins.value + "\n" + "".join(f"{b}{n}\n" for n, b in ins.heredocs)
            argv = list(st.cfg().get("Shell") or metadata.DEFAULT_SHELL) + [script]
        else:
            argv = metadata.command(st.config, ins)
        image_env = {e.partition("=")[0] for e in st.cfg().get("Env") or []}
        run_args = [f"{k}={v}" for k, v in sorted(self.args.items()) if k not in image_env]
        proxies = [f"{k}={v}" for k, v in self.req.build_args.items() if k in PROXY_ARGS and k not in self.args]
        created_by = " ".join(argv) if not run_args else f"|{len(run_args)} {' '.join(run_args)} {' '.join(argv)}"

        def make(writer, n):
            try:
                code, output = run_step(self.opts, self.store, st.layers, st.config, argv, run_args + proxies, writer,
                                        on_line=lambda line: self.progress.output(n, line))
            except PycrError as e:  # could not start, or interrupted: name the instruction
                self.progress.error(n, str(e))
                raise (type(e) if isinstance(e, BuildInterrupted) else BuildError)(f"{where}: {e}") from None
            if code != 0 and self.progress.quiet:  # -q: the failing step's output is still shown
                self.progress.output(n, output, always=True)
            if code != 0:
                msg = f"process {json.dumps(' '.join(argv))} did not complete successfully: exit code: {code}"
                self.progress.error(n, msg)
                raise BuildError(f"{where}: {' '.join(argv)!r} failed with exit code {code}")

        self._layer_step(st, ins, ("RUN", argv, run_args), created_by, make)

    def _do_workdir(self, st, ins, stages, where):
        path = df.expand(ins.value, self._env(st), ins.escape).strip()
        path = os.path.normpath(os.path.join(st.cfg().get("WorkingDir") or "/", path))
        st.cfg()["WorkingDir"] = path

        def make(writer, n):
            tree = st.tree(self.store)
            copying.parents(writer, tree, tree.resolve(path) + "/x")

        self._layer_step(st, ins, ("WORKDIR", path), f"/bin/sh -c #(nop) WORKDIR {path}", make)

    def _copy_args(self, ins: df.Instruction, env: dict | None = None) -> tuple[list[str], str]:
        text = ins.value if env is None else df.expand(ins.value, env, ins.escape)
        is_exec, parts = ins.json_or_words()
        try:
            parts = parts if is_exec else df.words(text, ins.escape)
        except df.QuoteError as e:  # checked before the stages run (preflight): name the line here too
            raise ins.error(str(e), self.req.dockerfile_name) from None
        if len(parts) < 2:
            raise ins.error("needs at least one source and a destination", self.req.dockerfile_name)
        return parts[:-1], parts[-1]

    def _do_copy(self, st, ins, stages, where):
        env = self._env(st)
        srcs, dest = self._copy_args(ins, env)
        mode = None
        if "chmod" in ins.flags:
            try:
                mode = int(ins.flags["chmod"], 8)
            except ValueError:
                raise ConfigError(f"{where}: --chmod={ins.flags['chmod']}: expected an octal mode") from None
        found: list[sources.Source] | None = None
        if "from" in ins.flags:  # a stage's or image's files: its key names them, read them only on a miss
            origin, from_layers, place = self._from_source(df.expand(ins.flags["from"], env), stages, where)
            src_key = ("from", origin, srcs)
        else:
            found = self._context_sources(ins, srcs, where)
            if "checksum" in ins.flags:
                sources.verify_checksum(found, ins.flags["checksum"], where)
            src_key = sources.digest(found)
        dest_abs = _abs(st, dest)
        # what the image below holds (is dest a directory, --chown names) follows from the parent key
        key = (ins.cmd, dest_abs, dest.endswith("/"), ins.flags.get("chown"), mode, src_key,
               sorted(self.args.items()))
        created_by = f"/bin/sh -c #(nop) {ins.cmd} {' '.join(srcs)} {dest}"

        def make(writer, n):
            items = found
            if items is None:
                root = self._flatten(from_layers)
                items = [x for src in srcs for x in sources.resolve(root, src, None, where, place)]
            tree = layers.Tree(self.store, st.layers)
            writer.tree = tree
            owner = copying.owner(ins.flags["chown"], tree, where) if "chown" in ins.flags else (0, 0)
            dest_rel = tree.resolve(dest_abs)
            many = len(items) > 1 or any(any(c in s for c in "*?[") for s in srcs)
            if many and not dest.endswith("/") and not tree.is_dir(dest_rel):
                raise ConfigError(f"{where}: with more than one source the destination must be a directory "
                                  "ending in /")
            dest_is_dir = dest.endswith("/") or dest in (".", "..") or many or tree.is_dir(dest_rel)
            for src in items:
                if src.tar:
                    copying.parents(writer, tree, dest_rel + "/x")
                    copying.unpack_into(writer, src.tar, dest_rel, where)
                elif src.is_dir:
                    copying.parents(writer, tree, dest_rel + "/x")
                    for e in src.entries:
                        writer.add_host(e.host, f"{dest_rel}/{e.rel}".lstrip("/"), uid=owner[0], gid=owner[1],
                                        mode=mode)
                elif dest_is_dir:
                    copying.parents(writer, tree, dest_rel + "/x")
                    copying.add_file(writer, src, f"{dest_rel}/{os.path.basename(src.name.rstrip('/'))}", owner, mode)
                else:
                    copying.parents(writer, tree, dest_rel)
                    copying.add_file(writer, src, dest_rel, owner, mode)

        self._layer_step(st, ins, key, created_by, make)

    _do_add = _do_copy

    def _context_sources(self, ins, srcs: list[str], where: str) -> list[sources.Source]:
        found: list[sources.Source] = []
        heredocs = dict(ins.heredocs)
        for src in srcs:
            if src.startswith("<<") and src.lstrip("<-") in heredocs:
                body = heredocs[src.lstrip("<-")].encode()
                found.append(sources.Source(src.lstrip("<-"), False, [sources.Entry("", None, None, body)]))
            elif ins.cmd == "ADD" and copying.is_url(src):
                found.append(urls.fetch(src, where, tempfile.mkdtemp(dir=self.tmp), self.req.no_local_urls))
            elif self.req.context is None:
                raise ConfigError(f"{where}: {src}: there is no build context (the Dockerfile came from stdin)")
            else:
                for s in sources.resolve(self.req.context, src, self.ignore, where):
                    if ins.cmd == "ADD" and not s.is_dir and copying.is_tar(s.entries[0].host):
                        s.tar = s.entries[0].host
                    found.append(s)
        return found

    def _from_source(self, ref: str, stages: list[Stage], where: str) -> tuple[str, list[dict], str]:
        """COPY --from: (what names its content for the cache, its layers, what to call it)."""
        dep = self._resolve(ref, stages, self.stage, self._current)
        if dep is not None and dep.index not in self.states:  # its value came from an ARG of this stage
            raise ConfigError(f"{where}: --from={ref}: stage {dep.label} is not built before this one (which stages "
                              "a build needs is decided with the global ARGs only)")
        if dep is not None:
            return self.states[dep.index].key, self.states[dep.index].layers, f"stage {dep.label}"
        _, image = self._base_image(ref, self._current)
        return image.digest, image.layers, f"image {ref}"

    def _flatten(self, layer_list: list[dict]) -> str:
        """A directory holding the files of ``layer_list`` (flattened once per build)."""
        key = tuple(x["digest"] for x in layer_list)
        if key not in self._flat:
            root = tempfile.mkdtemp(prefix="stage-", dir=self.tmp)
            for layer in layer_list:
                with open(self.store.blob_path(layer["digest"]), "rb") as f:
                    images.unpack.unpack_layer(f, root, mode="flatten", layer_name=f"layer {layer['digest']}")
            self._flat[key] = root
        return self._flat[key]

    # ---------------------------------------------------------------- export
    def _export(self, st: State) -> tuple[str, str]:
        n = self.progress.step("exporting to image")
        cfg = st.cfg()
        if self.req.labels:
            cfg["Labels"] = {**(cfg.get("Labels") or {}), **self.req.labels}
        for k in [k for k, v in cfg.items() if v is None]:
            del cfg[k]
        key = cache_mod.chain(st.key, "export", sorted(self.req.labels.items()))
        rec = None if self.req.no_cache else self.cache.get(key)
        if rec is None:
            config = {"created": _now(), **{k: v for k, v in st.config.items() if k != "created"}}
            data = json.dumps(config, separators=(",", ":")).encode()
            config_digest = self.store.put_blob(data)
            manifest = {"schemaVersion": 2, "mediaType": images.media.OCI_MANIFEST,
                        "config": {"mediaType": images.media.OCI_CONFIG, "digest": config_digest,
                                   "size": len(data)},
                        "layers": st.layers}
            digest = self.store.put_blob(json.dumps(manifest, separators=(",", ":")).encode())
            rec = {"manifest": digest, "config": config_digest, "blobs": [digest, config_digest]}
            self.cache.put(key, rec)
        self.progress.info(n, f"writing image {rec['config']} done")
        for tag in self.req.tags:
            name = str(images.reference.parse(tag))
            self.store.set_ref(name, rec["manifest"], source="build")
            self.progress.info(n, f"naming to {name} done")
        self.progress.done(n)
        return rec["manifest"], rec["config"]


def _abs(st: State, dest: str) -> str:
    if dest.startswith("/"):
        return dest
    return os.path.join(st.cfg().get("WorkingDir") or "/", dest)
