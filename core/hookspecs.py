"""Every hook pycr calls, grouped by phase.

Conventions (the plugin guide in docs/plugins.md repeats them):

* Hooks about one container get its ``container_id``; an implementation
  names only the arguments it uses (pluggy passes those), so adding an
  argument to a hook never breaks an existing plugin.

* All hooks run in the **runtime process** (the ``pycr``/``pycr-oci``
  command), never in the container's init: hooks return data or add steps to
  a :class:`~pycr.core.runtime.plan.Plan`, and the init only carries the plan
  out after ``unshare``/``fork``.
* "firstresult" hooks stop at the first implementation that returns a value
  other than None; the others call every implementation (last registered
  first, pluggy's order) and collect the results.
* ``pycr_cleanup`` is called implementation by implementation by the core,
  so one failing cleanup never stops the others; all failures are reported.
"""

from __future__ import annotations

from pycr.core.markers import hookspec

# ---------------------------------------------------------------- drivers


@hookspec(firstresult=True)
def pycr_select_driver(slot: str, name: str, config: dict | None):
    """Choose the driver *class* that fills an exclusive slot.

    :param slot: ``"cgroup"`` (``--backend``), ``"rootfs"`` (``--rootfs``)
        or ``"image_source"``; drivers are entry points in group ``pycr.<slot>``.
    :param name: the name the user asked for (``auto`` already resolved).
    :param config: the container's OCI config, or None outside a container.
    :return: a class, or None to let the next implementation decide.

    firstresult. The core's default implementation looks the name up among
    the installed entry points (stevedore), so a plugin may override a choice
    without replacing the registry.
    """


# ---------------------------------------------------------------- isolation


@hookspec
def pycr_isolation_plan(config: dict, plan, container_id: str):
    """Add isolation to the plan: namespaces to create or join, and what is
    set up inside them (hostname, sysctl, rlimits, user, capabilities...).

    :param config: the validated OCI config (read-only by convention).
    :param plan: the :class:`~pycr.core.runtime.plan.Plan` to extend.
    :param container_id: the container's id (also for ``exec``, whose config
        holds only ``process``).

    Every implementation is called. Runs in the runtime process at create
    (and at exec, for the new process), before anything is forked.
    """


@hookspec(firstresult=True)
def pycr_init_request(request: dict, config: dict, state: dict, container_id: str):
    """Answer a request a plan step made from inside the container's init
    (or an exec'd process) before it reported READY, e.g. the seccomp
    listener fd that must reach ``linux.seccomp.listenerPath``.

    :param request: the init's message: ``type`` names it, ``fds`` holds the
        file descriptors it carried (the core closes them afterwards; dup
        one to keep it).
    :param config: the container's OCI config.
    :param state: the runtime-spec state (id, pid, bundle, ``creating``;
        for ``exec``: ``running`` with the exec'd process's pid).
    :param container_id: the container's id.
    :return: a dict sent back to the init as ``<type>-done``, or None when
        this plugin does not know the request.

    firstresult. Runs in the runtime process (``create``, ``exec``) while the
    init waits; raise PycrError to fail the create.
    """


# ---------------------------------------------------------------- rootfs


@hookspec
def pycr_rootfs_plan(config: dict, bundle: str, plan, container_id: str):
    """Add the mounts, devices and path masks that build the container's
    filesystem (the steps that run before the root switch, and the masks after).

    Every implementation is called. Runs in the runtime process at create.
    """


@hookspec(firstresult=True)
def pycr_rootfs_switch(config: dict, no_pivot: bool, container_id: str):
    """Return the step that makes the prepared rootfs the container's ``/``:
    a :class:`~pycr.core.runtime.plan.PivotRoot` or :class:`~pycr.core.runtime.plan.Chroot`.

    firstresult. Runs in the runtime process at create.
    """


# ---------------------------------------------------------------- resources


@hookspec
def pycr_resource_limits(config: dict, cgroup, resources: dict, container_id: str):
    """Apply ``linux.resources`` to the container's cgroup driver instance
    (or enforce limits by other means).  Raise ConfigError for a limit that
    cannot be enforced.

    Every implementation is called. Runs in the runtime process at create,
    after the cgroup exists and before the container's process is moved in.
    """


@hookspec
def pycr_features(features: dict):
    """Add what a plugin supports to ``pycr-oci features`` (the runtime-spec
    ``features.md`` document), e.g. ``linux.seccomp``'s actions and flags.

    :param features: the document so far; edit it in place.

    Every implementation is called. Runs in the ``pycr-oci features`` process.
    """


# ---------------------------------------------------------------- images


@hookspec(firstresult=True)
def pycr_image_source(transport: str):
    """Return an image source object for a transport name (``docker``,
    ``oci``, ``oci-archive`` ...), or None when this plugin has none.

    firstresult. Runs in the ``pycr`` process for pull, push, load and save.
    """


# ---------------------------------------------------------------- network


@hookspec(firstresult=True)
def pycr_network_config(config: dict, request: dict):
    """Give a managed container its network while its OCI config is built:
    validate the request, pick the network driver, and edit ``config`` (the
    ``network`` namespace entry, /etc/hosts and /etc/resolv.conf mounts, the
    request saved in the container's directory and an ``io.pycr.network``
    annotation naming it, which the network layer's ``pycr_container_created``
    and ``pycr_cleanup`` read to attach the namespace between create and
    start, and to detach it on delete).

    :param config: the container's OCI config, edited in place.
    :param request: ``network`` (``--network`` value or None), ``publish``
        (``-p`` values), ``publish_all`` (``-P``), ``image_config``, ``name``,
        ``dir`` (the container's directory, for its hosts files), ``store``
        (the store root).
    :return: the request as recorded (JSON), or None when this plugin has no network layer.

    firstresult. Runs in the ``pycr`` process (run, create), before anything is created.
    """


@hookspec(firstresult=True)
def pycr_network_report(store_root: str, container_id: str):
    """The network settings of a container for ``pycr inspect`` and ``pycr port``:
    docker's ``NetworkSettings`` (``NetworkMode``, ``Networks`` name ->
    ``IPAddress``/``Gateway``/``MacAddress``, ``Ports``) plus ``PortList``
    (``80/tcp -> 0.0.0.0:8080`` lines), or None when it has none (not running,
    or no network layer).

    firstresult. Runs in the ``pycr`` process.
    """


# ---------------------------------------------------------------- lifecycle


@hookspec
def pycr_init_spawned(state: dict):
    """The container's init exists, its namespaces are made, and it is now
    setting up its rootfs (``state["status"]`` is "creating", ``state["pid"]``
    the init).  Work on those namespaces may start here and run while the
    rootfs is prepared (e.g. in a thread), to be finished by
    ``pycr_container_created``.  Every implementation is called.  Runs in the
    runtime process that runs ``create``; a failure fails the create, which
    then runs ``pycr_cleanup``."""


@hookspec
def pycr_container_created(state: dict):
    """The container was created and waits for ``start``.  ``state`` is the
    runtime-spec state (id, pid, bundle, status...). Every implementation is
    called. Runs in the runtime process."""


@hookspec
def pycr_container_started(state: dict):
    """The user process was released to run. Every implementation is called;
    runs in the runtime process that ran ``start``."""


@hookspec
def pycr_container_stopped(state: dict, exit_status: int | None):
    """The container's init exited (``exit_status`` when known, e.g. after
    ``run``). Every implementation is called; runs in the runtime process."""


@hookspec
def pycr_container_deleted(state: dict):
    """The container's resources are gone. Every implementation is called."""


# ---------------------------------------------------------------- cleanup


@hookspec
def pycr_cleanup(state: dict):
    """Undo what this plugin made for a container (on delete, or when create
    fails half-way).  Must be idempotent: it may run for a container whose
    creation stopped anywhere.

    Called by the core implementation by implementation: every one runs even
    when another raises, and all failures are reported together.  Runs in
    the runtime process.
    """


# ---------------------------------------------------------------- commands


@hookspec
def pycr_add_commands(commands):
    """Contribute verbs to the ``pycr`` command.

    :param commands: the registry; call ``commands.add(name, module, help)``
        once per verb.  ``module`` (a dotted name) is imported only when its
        verb runs and has ``add_arguments(parser)`` and ``run(opts, ns) -> int``.

    Called by the ``pycr`` shell itself, implementation by implementation
    (disabled plugins' too, so ``pycr -p no:NAME VERB`` can say who provides
    VERB), and the result is cached until the registering module changes:
    register verbs unconditionally and import nothing here.  Each verb is
    recorded with its plugin (``pycr --help`` groups them so); two enabled
    plugins adding one verb is an error naming both.  Runs in the ``pycr``
    process, before the verb's arguments are parsed.
    """
