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
from pydistroless.core.report import log
from pydistroless.python import wheels
from pydistroless.python.dependencies import Dependencies
from pydistroless.python.runtime import Target

# The Python tools the builder image carries, installed from their wheels for its Python.
PYTHON_TOOLS = ("pip", "setuptools", "wheel", "uv", "poetry", "pipenv")
# What a free-threaded Python's builder carries when some of the others' dependencies publish
# no wheel for it (cffi, cryptography, msgpack and rapidfuzz, which poetry needs, have cp314t
# wheels and no cp313t ones, and cryptography compiles with Rust alone): these four are pure
# Python.
CORE_TOOLS = ("pip", "setuptools", "wheel", "uv")


def pin(python: Target, cache: Cache) -> tuple[str, ...]:
    """The tools and what they need, resolved by uv for ``python``, as
    ``NAME==VERSION --hash=sha256:HEX`` (the file chosen for that Python)."""
    chosen = _chosen(PYTHON_TOOLS, python, cache)
    lacking = sorted(c.pin.name for c in chosen if c.build)
    if lacking and python.free_threaded:
        log(
            f"note: {', '.join(lacking)} publish no {python.abi} wheel, so the builder image of "
            f"free-threaded Python {python.version} carries {', '.join(CORE_TOOLS)} and not "
            f"{', '.join(t for t in PYTHON_TOOLS if t not in CORE_TOOLS)}"
        )
        chosen = _chosen(CORE_TOOLS, python, cache)
    return tuple(
        sorted(f"{c.pin.name}=={c.pin.version} --hash=sha256:{c.wheel.sha256}" for c in chosen)
    )


def _chosen(names: Sequence[str], python: Target, cache: Cache) -> list[wheels.Chosen]:
    with tempfile.TemporaryDirectory(prefix="pydistroless-tools-") as tmp:
        listed = Path(tmp) / "requirements.txt"
        listed.write_text("".join(f"{name}\n" for name in names))
        pins = wheels.pins_for(Dependencies(source=listed, resolve=listed), python)
    return wheels.choose(pins, python, source="the builder image's tools", cache=cache)


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
