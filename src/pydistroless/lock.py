"""The lock: exactly which packages an image is made of.

A lock pins, per architecture, every package by name, version, pool path and SHA256, and
records the signed Release files it was resolved from. Building from a lock needs no index and
no resolution, and gives the same bytes on any machine. The file is JSON, one package per
line, sorted, so that a diff between two locks reads like a changelog.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from pydistroless.errors import UsageError

LOCK_VERSION = 1


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    architecture: str
    filename: str  # pool path, relative to the mirror's base URL
    size: int
    sha256: str
    source: str
    source_version: str
    suite: str
    url: str  # where it was found, for the SBOM and for humans


@dataclass(frozen=True)
class ReleaseInfo:
    suite: str
    date: str
    version: str
    inrelease_sha256: str


@dataclass(frozen=True)
class ArchLock:
    arch: str
    python: str  # "3.13"
    python_package_version: str  # the Debian version of python3.X-minimal
    packages: tuple[LockedPackage, ...]

    def package(self, name: str) -> LockedPackage | None:
        return next((p for p in self.packages if p.name == name), None)


@dataclass(frozen=True)
class Lock:
    suite: str
    codename: str
    debian_version: str  # "13.8", from the Release file
    releases: tuple[ReleaseInfo, ...]
    archs: tuple[ArchLock, ...]

    def for_arch(self, arch: str) -> ArchLock:
        for item in self.archs:
            if item.arch == arch:
                return item
        have = ", ".join(a.arch for a in self.archs)
        raise UsageError(f"the lock has no architecture {arch!r} (it has: {have}); re-run lock")

    @property
    def debian_major(self) -> str:
        return self.debian_version.split(".")[0]


def dumps(lock: Lock) -> str:
    """Diff-friendly JSON: each package on one line."""
    lines = [
        "{",
        f'  "lock-version": {LOCK_VERSION},',
        f'  "suite": {json.dumps(lock.suite)},',
        f'  "codename": {json.dumps(lock.codename)},',
        f'  "debian-version": {json.dumps(lock.debian_version)},',
        '  "releases": [',
    ]
    lines += _items([json.dumps(asdict(r), sort_keys=True) for r in lock.releases], "    ")
    lines += ["  ],", '  "archs": [']
    arch_blocks = []
    for arch in lock.archs:
        block = [
            "    {",
            f'      "arch": {json.dumps(arch.arch)},',
            f'      "python": {json.dumps(arch.python)},',
            f'      "python-package-version": {json.dumps(arch.python_package_version)},',
            '      "packages": [',
        ]
        block += _items([json.dumps(asdict(p), sort_keys=True) for p in arch.packages], "        ")
        block += ["      ]", "    }"]
        arch_blocks.append(block)
    for i, block in enumerate(arch_blocks):
        if i < len(arch_blocks) - 1:
            block[-1] += ","
        lines += block
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def loads(text: str, *, source: str = "lock") -> Lock:
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("lock-version") != LOCK_VERSION:
            raise UsageError(
                f"{source}: lock version {data.get('lock-version')!r} is not {LOCK_VERSION}; "
                "re-create it with `pydistroless lock`"
            )
        return Lock(
            suite=data["suite"],
            codename=data["codename"],
            debian_version=data["debian-version"],
            releases=tuple(ReleaseInfo(**r) for r in data["releases"]),
            archs=tuple(
                ArchLock(
                    arch=a["arch"],
                    python=a["python"],
                    python_package_version=a["python-package-version"],
                    packages=tuple(LockedPackage(**p) for p in a["packages"]),
                )
                for a in data["archs"]
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{source} is not a pydistroless lock ({exc}); re-create it with `pydistroless lock`"
        ) from exc


def read(path: Path) -> Lock:
    try:
        return loads(path.read_text(encoding="utf-8"), source=str(path))
    except OSError as exc:
        raise UsageError(f"cannot read lock {path}: {exc.strerror}") from exc


def _items(rendered: list[str], indent: str) -> list[str]:
    return [f"{indent}{r}{',' if i < len(rendered) - 1 else ''}" for i, r in enumerate(rendered)]
