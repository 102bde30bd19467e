"""Run the OCI hooks of config.json (``hooks.prestart`` ... ``hooks.poststop``).

Each hook gets the container's state JSON on stdin and may have a timeout.
A failing hook before the user process starts fails the container; a failing
``poststart``/``poststop`` hook is only logged, as the runtime spec says.
"""

from __future__ import annotations

from pycr.core.errors import PycrError, warn
from pycr.core import jsonfast as json  # json.loads/dumps without importing json (re, enum)

FATAL = ("prestart", "createRuntime", "createContainer", "startContainer")


def run_hooks(hooks: dict, phase: str, state: dict) -> None:
    for hook in hooks.get(phase, []) or []:
        error = _run_one(hook, state)
        if error is None:
            continue
        msg = f"hooks.{phase}: {hook['path']}: {error}"
        if phase in FATAL:
            raise PycrError(msg)
        warn(msg)


def _run_one(hook: dict, state: dict) -> str | None:
    import subprocess

    args = hook.get("args") or [hook["path"]]
    env = dict(item.partition("=")[::2] for item in hook.get("env", []))
    try:
        done = subprocess.run(args, executable=hook["path"], input=json.dumps(state).encode(),
                              env=env, capture_output=True, timeout=hook.get("timeout"))
    except subprocess.TimeoutExpired:
        return f"timed out after {hook.get('timeout')}s"
    except OSError as e:
        return e.strerror or str(e)
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        return f"exit status {done.returncode}" + (f": {err[-1]}" if err else "")
    return None
