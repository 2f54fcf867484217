"""The builder variant's Python tools (pip, setuptools, wheel, uv, poetry, pipenv), pinned.

They are resolved for each architecture's Python when the image is planned, and the lock
keeps them as hash-pinned requirement lines: a builder image built from the lock has the same
tools, file for file, as the one built when it was made.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from pydistroless.core.cache import Cache
from pydistroless.python import wheels
from pydistroless.python.dependencies import Dependencies
from pydistroless.python.runtime import Target

# The Python tools the builder image carries, installed from their wheels for its Python.
PYTHON_TOOLS = ("pip", "setuptools", "wheel", "uv", "poetry", "pipenv")


def pin(python: Target, cache: Cache) -> tuple[str, ...]:
    """The tools and what they need, resolved by uv for ``python``, as
    ``NAME==VERSION --hash=sha256:HEX`` (the file chosen for that Python)."""
    with tempfile.TemporaryDirectory(prefix="pydistroless-tools-") as tmp:
        listed = Path(tmp) / "requirements.txt"
        listed.write_text("".join(f"{name}\n" for name in PYTHON_TOOLS))
        pins = wheels.pins_for(Dependencies(source=listed, resolve=listed), python)
    chosen = wheels.choose(pins, python, source="the builder image's tools", cache=cache)
    return tuple(
        sorted(f"{c.pin.name}=={c.pin.version} --hash=sha256:{c.wheel.sha256}" for c in chosen)
    )


def requirements(pinned: Sequence[tuple[Target, tuple[str, ...]]]) -> str:
    """One requirements file for several images, each given as its Python and the lines
    :func:`pin` made for it: each one's pins under a marker of its machine (the files, and
    rarely the versions, differ between them); the bare tool names, resolved anew, when an
    image has none pinned."""
    if not all(lines for _, lines in pinned):
        return "".join(f"{name}\n" for name in PYTHON_TOOLS)
    out = []
    for python, lines in pinned:
        for line in lines:
            requirement, _, hashes = line.partition(" --hash=")
            out.append(
                f'{requirement} ; platform_machine == "{python.arch.wheel_machine}" '
                f"--hash={hashes}\n"
            )
    return "".join(out)
