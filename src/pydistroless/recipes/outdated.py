"""What in an image or a lock the Debian archive has a newer version of: the trigger for a
scheduled rebuild.

The packages come from a lock (per architecture) or from an image's ``status.d`` (any
image pydistroless built, or any distroless image laid out the same way). Each is compared,
in Debian's version order, with the newest version the suite, its ``-updates`` and its
``-security`` offer now, read from the signed indexes as a build reads them. For the image's
Python it also says whether a newer upstream patch release exists, from the source packages
of Debian's development suites (which carry the unchanged upstream tarballs).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from debian.debian_support import version_compare

from pydistroless.core.errors import UsageError
from pydistroless.debian.store import Store, load_index, load_releases
from pydistroless.python.debian_python import upstream_version
from pydistroless.python.source import UPSTREAM_SUITES, upstream_sources


@dataclass(frozen=True)
class InstalledPackage:
    """A package of the image or lock: its name, version and architecture."""

    name: str
    version: str
    arch: str


@dataclass(frozen=True)
class Behind:
    """A package the archive now has a newer version of."""

    name: str
    arch: str
    installed: str
    available: str
    suite: str  # where the newer version is: trixie, trixie-updates, trixie-security

    @property
    def security(self) -> bool:
        return self.suite.endswith("-security")

    def to_json(self) -> dict[str, object]:
        return {
            "package": self.name,
            "arch": self.arch,
            "installed": self.installed,
            "available": self.available,
            "suite": self.suite,
            "security": self.security,
        }


def behind(suite: str, packages: Iterable[InstalledPackage], ctx: Store) -> list[Behind]:
    """The packages of ``packages`` that ``suite`` (with its -updates and -security) has a
    newer version of, by architecture and name."""
    releases = load_releases(ctx.archive, ctx.mirrors, suite)
    by_arch: dict[str, list[InstalledPackage]] = {}
    for package in packages:
        by_arch.setdefault(package.arch, []).append(package)
    found = []
    for arch, installed in sorted(by_arch.items()):
        index = load_index(ctx.archive, releases, arch)
        for package in sorted(installed, key=lambda p: p.name):
            newest = _newest(index.candidates(package.name))
            if newest is not None and version_compare(newest.version, package.version) > 0:
                found.append(
                    Behind(package.name, arch, package.version, newest.version, newest.suite)
                )
    return found


def _newest(candidates: Sequence):
    best = None
    for record in candidates:
        if best is None or version_compare(record.version, best.version) > 0:
            best = record
    return best


def table(rows: Sequence[Behind]) -> str:
    """The rows as a plain table, the security updates marked."""
    header = ("package", "arch", "installed", "available", "from")
    cells = [header] + [
        (r.name, r.arch, r.installed, r.available, r.suite + (" (security)" if r.security else ""))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


@dataclass(frozen=True)
class Upstream:
    """The newest upstream patch release of a Python minor version the archive knows of."""

    minor: str  # "3.13"
    installed: str  # "3.13.5"
    newest: str  # "3.13.18"
    where: str  # "sid Sources"
    abiflags: str = ""  # "t" for a free-threaded build, whose rebuild is one again

    def named(self, version: str) -> str:
        """``version`` as ``--python`` takes it for this build: ``3.13.18t`` if free-threaded."""
        return version + self.abiflags

    @property
    def behind(self) -> bool:
        return version_compare(self.newest, self.installed) > 0

    def to_json(self) -> dict[str, object]:
        return {
            "minor": self.minor,
            "installed": self.installed,
            "newest": self.newest,
            "from": self.where,
            "behind": self.behind,
            "free_threaded": bool(self.abiflags),
        }


def upstream_python(minor: str, installed: str, ctx: Store, *, abiflags: str = "") -> Upstream:
    """The newest ``python3.X`` upstream version in the ``Sources`` of sid (else forky), for a
    Python ``minor`` built with ``abiflags`` (``t``: free-threaded, from the same tarballs).

    Raises a :class:`PydistrolessError` when neither can be read (an expired Release without
    ``--accept-expired-release``, a mirror without them)."""
    failures: list[str] = []
    for suite, _, text in upstream_sources(ctx, failures):
        pattern = rb"^Package: python" + re.escape(minor.encode()) + rb"\n(?:.+\n)*?Version: (\S+)"
        versions = [upstream_version(m.group(1).decode()) for m in re.finditer(pattern, text, re.M)]
        if versions:
            newest = max(versions, key=functools.cmp_to_key(version_compare))
            return Upstream(minor, installed, newest, f"{suite} Sources", abiflags)
    raise UsageError(
        f"no upstream Python {minor} found in the Sources of {' or '.join(UPSTREAM_SUITES)}"
        + (f" ({failures[0]})" if failures else "")
    )
