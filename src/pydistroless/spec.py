"""What to build: the declarative description of one image, validated once.

The CLI flags and the config file both end up as :class:`ImageSpec` values (one per image of
a matrix) plus one :class:`SourceOptions` for where packages come from. Every later stage
takes these values and never looks at flags or files again.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydistroless import sbom
from pydistroless.errors import UsageError
from pydistroless.fs import slicing

DEFAULT_SUITE = "trixie"
NONROOT_UID = 65532
VARIANTS = ("standard", "debug")

_MACHINE_TO_DEBIAN = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "armhf",
    "i686": "i386",
    "ppc64le": "ppc64el",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def host_arch() -> str:
    machine = platform.machine()
    return _MACHINE_TO_DEBIAN.get(machine, machine)


@dataclass(frozen=True)
class ImageSpec:
    """One image: which Python from which suite, for which architectures, for whom."""

    suite: str = DEFAULT_SUITE
    python: str | None = None  # "3.13"; None means the suite's default python3
    archs: tuple[str, ...] = field(default_factory=lambda: (host_arch(),))
    variant: str = "standard"
    user: str = "nonroot"
    packages: tuple[str, ...] = ()  # extra packages, NAME or NAME=VERSION
    exclude: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()  # slices to keep
    ca_certs: tuple[Path, ...] = ()
    tags: tuple[str, ...] = ()  # extra tags beside the default ones
    source_date_epoch: int | None = None
    sbom_format: str = "spdx"
    pyc: bool = True  # byte-compile the standard library

    def __post_init__(self) -> None:
        if self.python is not None and not re.fullmatch(r"3\.\d{1,2}", self.python):
            raise UsageError(
                f"--python {self.python!r} is not a Python version; use MAJOR.MINOR, e.g. 3.13"
            )
        if self.variant not in VARIANTS:
            raise UsageError(f"--variant {self.variant!r} is unknown; use one of {VARIANTS}")
        if not self.archs:
            raise UsageError("no architecture given; use --arch amd64 (or a list: amd64,arm64)")
        for arch in self.archs:
            if not re.fullmatch(r"[a-z0-9]+", arch):
                raise UsageError(f"--arch {arch!r} is not a Debian architecture name (amd64 …)")
        user_id(self.user)  # validates
        slicing.check_names(self.keep)
        sbom.check_format(self.sbom_format)
        if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", self.suite):
            raise UsageError(f"--suite {self.suite!r} is not a Debian suite name (trixie …)")

    @property
    def uid(self) -> int:
        return user_id(self.user)

    def cuts(self, slice_name: str) -> bool:
        return slice_name not in self.keep


def user_id(user: str) -> int:
    if user == "nonroot":
        return NONROOT_UID
    if user == "root":
        return 0
    if user.isdigit() and int(user) < 2**31:
        return int(user)
    raise UsageError(f"--user {user!r} is not root, nonroot or a numeric UID")


@dataclass(frozen=True)
class SourceOptions:
    """Where packages come from and how they are checked."""

    mirrors: tuple[str, ...] = ()
    security_mirrors: tuple[str, ...] = ()
    keyrings: tuple[Path, ...] = ()
    insecure: bool = False
    offline: bool = False
    cache_dir: Path | None = None
