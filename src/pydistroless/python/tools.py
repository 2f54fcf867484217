"""The builder variant's Python tools (pip, setuptools, wheel, uv, poetry, pipenv), pinned.

They are resolved for each architecture's Python when the image is planned, and the lock
keeps them as hash-pinned requirement lines: a builder image built from the lock has the same
tools, file for file, as the one built when it was made.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from pydistroless.cache import Cache
from pydistroless.lock import ArchLock
from pydistroless.python import target, wheels
from pydistroless.python.dependencies import Dependencies
from pydistroless.toolchain import PYTHON_TOOLS


def pin(arch_lock: ArchLock, suite: str, cache: Cache) -> tuple[str, ...]:
    """The tools and what they need, resolved by uv for the Python of ``arch_lock``, as
    ``NAME==VERSION --hash=sha256:HEX`` (the file chosen for that Python)."""
    python = target.from_lock(arch_lock, suite)
    with tempfile.TemporaryDirectory(prefix="pydistroless-tools-") as tmp:
        listed = Path(tmp) / "requirements.txt"
        listed.write_text("".join(f"{name}\n" for name in PYTHON_TOOLS))
        pins = wheels.pins_for(Dependencies(source=listed, resolve=listed), python)
    chosen = wheels.choose(pins, python, source="the builder image's tools", cache=cache)
    return tuple(
        sorted(f"{c.pin.name}=={c.pin.version} --hash=sha256:{c.wheel.sha256}" for c in chosen)
    )


def requirements(arch_locks: Sequence[ArchLock]) -> str:
    """One requirements file for the images of ``arch_locks``: each architecture's pins under
    a marker of its machine (the files, and rarely the versions, differ between them); the
    bare tool names, resolved anew, for a lock that pins none."""
    if not all(a.python_tools for a in arch_locks):
        return "".join(f"{name}\n" for name in PYTHON_TOOLS)
    lines = []
    for arch_lock in arch_locks:
        machine = target.from_lock(arch_lock, "").arch.wheel_machine
        for line in arch_lock.python_tools:
            requirement, _, hashes = line.partition(" --hash=")
            lines.append(f'{requirement} ; platform_machine == "{machine}" --hash={hashes}\n')
    return "".join(lines)
