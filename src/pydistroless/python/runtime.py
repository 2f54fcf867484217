"""The Python an image runs, as the image itself says: what wheels must fit and where they go.

An app build never asks the host what Python it has: the interpreter, its version and ABI, the
glibc it runs on and the architecture all come from the base image, from the labels our base
builds write (``dev.pydistroless.*``) and, for any other base, from its files (the
interpreter's name, dpkg's record of ``libc6``). From that description follow the wheel tags
it accepts (:mod:`packaging.tags`), the environment its dependency markers are evaluated in,
and the platform uv resolves for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from packaging import tags as wheel_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from pydistroless.core.arch import Arch, for_platform
from pydistroless.core.errors import UsageError
from pydistroless.fs.tree import Tree
from pydistroless.oci.model import Image

LABEL_VERSION = "dev.pydistroless.python.version"
LABEL_INTERPRETER = "dev.pydistroless.python.interpreter"
LABEL_ABI = "dev.pydistroless.python.abi"
LABEL_SITE_PACKAGES = "dev.pydistroless.python.site-packages"
LABEL_GLIBC = "dev.pydistroless.glibc.version"
LABEL_SUITE = "dev.pydistroless.debian.suite"

# uv names manylinux platforms only up to the glibc it knows; a newer glibc accepts them all.
_UV_NEWEST_MANYLINUX = (2, 40)
_INTERPRETER = re.compile(r"usr/(?:local/)?bin/python(3\.\d+t?)")
_DEBIAN_UPSTREAM = re.compile(r"^(?:\d+:)?(\d+\.\d+)")


@dataclass(frozen=True)
class Target:
    """One platform's Python, where wheels are installed for it."""

    python: str  # "3.13", or "3.13t" for a free-threaded build (python3.13t, lib/python3.13t)
    version: str  # "3.13.5"
    abi: str  # "cp313", or "cp313t"
    interpreter: str  # "/usr/bin/python3.13"
    site_packages: str  # "/usr/local/lib/python3.13/dist-packages"
    glibc: tuple[int, int]  # (2, 41)
    arch: Arch
    suite: str | None = None  # the Debian suite of the base, when it is one

    @property
    def minor(self) -> str:
        """The language version, ``3.13`` (of ``3.13t`` too): markers and tags speak it."""
        return self.python.removesuffix("t")

    @property
    def free_threaded(self) -> bool:
        """Built without the GIL (PEP 703): only ``cp313t`` wheels fit, never ``abi3``."""
        return self.abi.endswith("t")

    @property
    def python_tag(self) -> str:
        return "cp" + self.minor.replace(".", "")

    @cached_property
    def platforms(self) -> tuple[str, ...]:
        """Platform tags, best first: ``manylinux_2_41_x86_64`` down to ``_2_17``, the
        legacy aliases, and plain ``linux_x86_64``."""
        machine = self.arch.wheel_machine
        major, newest = self.glibc
        names = [f"manylinux_{major}_{minor}_{machine}" for minor in range(newest, 16, -1)]
        legacy = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
        for (lmajor, lminor), name in legacy.items():
            if (major, newest) >= (lmajor, lminor) and machine in ("x86_64", "i686", "aarch64"):
                names.append(f"{name}_{machine}")
        names.append(f"linux_{machine}")
        return tuple(names)

    @cached_property
    def tags(self) -> tuple[wheel_tags.Tag, ...]:
        """Every wheel tag this Python accepts, best first."""
        version = tuple(int(part) for part in self.minor.split("."))
        # packaging leaves abi3 out for a "t" ABI, as a free-threaded CPython cannot load it.
        return (
            *wheel_tags.cpython_tags(version, [self.abi], self.platforms),
            *wheel_tags.compatible_tags(version, self.python_tag, self.platforms),
        )

    @cached_property
    def _tag_rank(self) -> dict[wheel_tags.Tag, int]:
        return {tag: rank for rank, tag in reversed(list(enumerate(self.tags)))}

    def wheel_rank(self, filename: str) -> int | None:
        """How good a wheel of this file name is here (0 best), or None if it does not fit."""
        try:
            _, _, _, file_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return None
        ranks = [self._tag_rank[t] for t in file_tags if t in self._tag_rank]
        return min(ranks) if ranks else None

    @property
    def uv_platform(self) -> str:
        """The ``--python-platform`` uv resolves for."""
        glibc = min(self.glibc, _UV_NEWEST_MANYLINUX)
        return f"{self.arch.wheel_machine}-manylinux_{glibc[0]}_{glibc[1]}"

    @property
    def markers(self) -> dict[str, str]:
        """The PEP 508 environment of this Python, for dependency markers."""
        return {
            "implementation_name": "cpython",
            "implementation_version": self.version,
            "os_name": "posix",
            "platform_machine": self.arch.wheel_machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": self.version,
            "python_version": self.minor,
            "sys_platform": "linux",
        }

    def describe(self) -> str:
        glibc = ".".join(map(str, self.glibc))
        return f"Python {self.version} ({self.abi}, glibc {glibc}, {self.arch.debian})"


def labels(target: Target) -> dict[str, str]:
    """The labels a base image carries so that app builds read its Python from them."""
    found = {
        LABEL_VERSION: target.version,
        LABEL_INTERPRETER: target.interpreter,
        LABEL_ABI: target.abi,
        LABEL_SITE_PACKAGES: target.site_packages,
        LABEL_GLIBC: ".".join(map(str, target.glibc)),
    }
    if target.suite:
        found[LABEL_SUITE] = target.suite
    return found


def debian_site_packages(python: str) -> str:
    """Where a Debian Python looks first for what the local administrator installed (its
    ``site`` module adds ``/usr/local/lib/python3.X/dist-packages`` when it exists)."""
    return f"/usr/local/lib/python{python}/dist-packages"


def glibc_of(debian_version: str) -> tuple[int, int]:
    """``2.41-12`` (libc6's Debian version) -> (2, 41)."""
    match = _DEBIAN_UPSTREAM.match(debian_version)
    if match is None:
        raise ValueError(f"not a glibc version: {debian_version!r}")
    major, minor = match.group(1).split(".")
    return int(major), int(minor)


def from_image(image: Image, tree: Tree, *, where: str) -> Target:
    """The Python of ``image`` (whose files are ``tree``): from its labels, checked against
    its files; for a base without our labels, from its files alone."""
    if image.platform is None:
        raise UsageError(f"{where}: the image names no platform; it is not a base image to use")
    arch = for_platform(image.platform)
    if arch is None:
        raise UsageError(f"{where}: its platform {image.platform} is not one Debian builds")
    found = image.labels
    interpreter = found.get(LABEL_INTERPRETER) or _interpreter_in(tree, where)
    python_match = re.search(r"python(3\.\d+t?)$", interpreter)
    if python_match is None:
        raise _not_python(where, f"its interpreter {interpreter} is not a python3.X")
    python = python_match.group(1)
    if tree.resolve(interpreter.lstrip("/")) is None:
        raise _not_python(where, f"it has no {interpreter}")
    version = found.get(LABEL_VERSION) or _version_of(tree, python) or python
    glibc_label = found.get(LABEL_GLIBC)
    glibc = (
        tuple(int(x) for x in glibc_label.split(".")[:2]) if glibc_label else _glibc_in(tree, where)
    )
    site = found.get(LABEL_SITE_PACKAGES) or (
        debian_site_packages(python)
        if tree.get("usr/lib/python3/dist-packages") is not None
        or tree.get(f"usr/lib/python{python}/site.py") is not None
        else f"/usr/local/lib/python{python}/site-packages"
    )
    return Target(
        python=python,
        version=version,
        abi=found.get(LABEL_ABI) or "cp" + python.replace(".", ""),
        interpreter=interpreter,
        site_packages=site,
        glibc=(glibc[0], glibc[1]),
        arch=arch,
        suite=found.get(LABEL_SUITE),
    )


def _interpreter_in(tree: Tree, where: str) -> str:
    names = sorted(
        (m.group(1), entry.path)
        for entry in tree.entries()
        if (m := _INTERPRETER.fullmatch(entry.path))
    )
    if not names:
        raise _not_python(where, "it has no /usr/bin/python3.X")
    return "/" + names[-1][1]


def _version_of(tree: Tree, python: str) -> str | None:
    """The full version from dpkg's record of the interpreter's package, if there is one."""
    record = tree.read(f"var/lib/dpkg/status.d/python{python}-minimal")
    if record is None:
        return None
    match = re.search(rb"^Version: (?:\d+:)?(\d+\.\d+\.\d+)", record, re.MULTILINE)
    return match.group(1).decode() if match else None


def _glibc_in(tree: Tree, where: str) -> tuple[int, ...]:
    record = tree.read("var/lib/dpkg/status.d/libc6") or tree.read("var/lib/dpkg/status")
    if record is not None:
        match = re.search(rb"^Package: libc6\n(?:.+\n)*?Version: (\S+)", record, re.MULTILINE)
        if match:
            return glibc_of(match.group(1).decode())
    raise _not_python(where, "no record of its glibc version (dpkg's libc6)")


def _not_python(where: str, why: str) -> UsageError:
    return UsageError(
        f"--base {where} is not a Python image pydistroless can read: {why}; use a "
        "pydistroless base, or any image with a Debian python3.X"
    )
