"""Every Python that pycr starts with ``-m`` or ``-c`` says ``-P`` (or ``-I``).

Without it the interpreter puts the working directory first on ``sys.path``:
a ``pycr/`` package planted where a root user runs pycr (or where a
container's finish step starts) would be imported instead of pycr's own.
"""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPAWN = re.compile(r'''(sys\.executable|python)\s*,\s*(?P<flags>(?:"-[A-Za-z]+"\s*,\s*)*)"-[mc]"''')


def test_every_module_or_command_spawn_keeps_the_working_directory_off_sys_path():
    unsafe, seen = [], 0
    for tree in ("core", "plugins"):
        for path in (ROOT / tree).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                for m in SPAWN.finditer(line):
                    seen += 1
                    if '"-P"' not in m["flags"] and '"-I"' not in m["flags"]:
                        unsafe.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert seen >= 5, "the pattern no longer finds pycr's own spawns"
    assert not unsafe, "\n".join(unsafe)


def test_the_conmon_exit_command_is_safe_too():
    text = (ROOT / "plugins/manage/conmon.py").read_text()
    assert '("-P", "-m", "pycr.plugins.manage.launch"' in text
