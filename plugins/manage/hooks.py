"""The ``manage`` plugin as pycr loads it (entry point ``manage`` in ``pycr.plugins``):
its verbs and what it requires.  Kept apart from the package so that importing
a verb's module does not import pluggy."""

from pycr.core import hookimpl

requires = ("images", "seccomp")  # seccomp: run/create confinement options and docker's profile


@hookimpl
def pycr_add_commands(commands):
    commands.add("demo", "pycr.plugins.manage.verb_demo", "run a container from the built-in busybox bundle")
    commands.add("run", "pycr.plugins.manage.verb_run", "run a command in a new container from an image")
    commands.add("create", "pycr.plugins.manage.verb_create",
                 "create a container from an image (start it with pycr start)")
    commands.add("start", "pycr.plugins.manage.verb_start", "start created or stopped containers")
    commands.add("ps", "pycr.plugins.manage.verb_ps", "list containers")
    commands.add("logs", "pycr.plugins.manage.verb_logs", "print a container's output")
    commands.add("exec", "pycr.plugins.manage.verb_exec", "run a command in a running container")
    commands.add("stop", "pycr.plugins.manage.verb_stop", "stop containers (SIGTERM, then SIGKILL)")
    commands.add("kill", "pycr.plugins.manage.verb_kill", "send a signal to containers")
    commands.add("restart", "pycr.plugins.manage.verb_restart", "stop and start containers")
    commands.add("rm", "pycr.plugins.manage.verb_rm", "remove containers")
    commands.add("inspect", "pycr.plugins.manage.verb_inspect", "show containers as JSON")
    commands.add("stats", "pycr.plugins.manage.verb_stats", "CPU, memory and pids of containers")
    commands.add("pause", "pycr.plugins.manage.verb_pause", "freeze every process of containers")
    commands.add("unpause", "pycr.plugins.manage.verb_unpause", "thaw paused containers")
    commands.add("wait", "pycr.plugins.manage.verb_wait", "wait for containers to stop; print their exit codes")
    commands.add("top", "pycr.plugins.manage.verb_top", "list a container's processes")
    commands.add("container", "pycr.plugins.manage.verb_container", "manage containers: prune, ls")
