"""The one architecture table: each Debian architecture with every other name it goes by.

An architecture is spelt four ways in this project: Debian's name (``arm64``, in locks and
pool paths), the OCI platform (``linux/arm64/v8``, in indexes and registries), the ELF header
(``EM_AARCH64``, 64-bit, what ``ld.so`` accepts) and the GNU triplet (``aarch64-linux-gnu``,
the multiarch library folder); plus what the kernel reports (``uname -m``). They all come
from the rows below, so that adding an architecture is one line.
"""

from __future__ import annotations

import platform as _host
from dataclasses import dataclass
from typing import Protocol

from pydistroless.core.errors import UsageError

# ELF header flags the loaders of the ARM and RISC-V ports check (glibc's
# elf_machine_matches_host): the float ABI must be the port's.
EF_ARM_EABIMASK = 0xFF000000
EF_ARM_EABI_VER5 = 0x05000000
EF_ARM_ABI_FLOAT_SOFT = 0x200
EF_ARM_ABI_FLOAT_HARD = 0x400
EF_RISCV_RVC = 0x1
EF_RISCV_FLOAT_ABI = 0x6
EF_RISCV_FLOAT_ABI_SOFT = 0x0
EF_RISCV_FLOAT_ABI_DOUBLE = 0x4


@dataclass(frozen=True, slots=True)
class Platform:
    """An OCI platform, with Go's architecture names as the image spec requires."""

    architecture: str
    os: str = "linux"
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/arm64``, ``linux/arm/v7`` or a Debian name (``arm64``) -> Platform."""
        parts = text.strip().split("/")
        if len(parts) == 1 and parts[0] in _BY_DEBIAN:
            return _BY_DEBIAN[parts[0]].platform
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(
                f"{text!r} is not a platform; write OS/ARCH[/VARIANT], e.g. linux/arm64"
            )
        return cls(parts[1], parts[0], parts[2] if len(parts) == 3 else "")

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_json(cls, data: object) -> Platform | None:
        """The platform of a descriptor or an image config; None when it names none."""
        if not isinstance(data, dict):
            return None
        arch, os_ = data.get("architecture"), data.get("os")
        variant = data.get("variant") or ""
        if not isinstance(arch, str) or not isinstance(os_, str) or not isinstance(variant, str):
            return None
        return cls(arch, os_, variant)

    def matches(self, other: Platform) -> bool:
        """Equal as engines compare platforms: arm64 without a variant means arm64/v8."""
        return (self.os, self.architecture, _variant(self)) == (
            other.os,
            other.architecture,
            _variant(other),
        )


def _variant(p: Platform) -> str:
    return p.variant or ("v8" if p.architecture == "arm64" else "")


class _ElfHeader(Protocol):
    machine: str
    elf_class: int
    little_endian: bool
    flags: int


@dataclass(frozen=True, slots=True)
class Arch:
    """One Debian architecture and its other names."""

    debian: str
    triplet: str
    machine: str  # the ELF e_machine, as pyelftools names it
    elf_class: int
    platform: Platform
    kernel_names: tuple[str, ...]  # what `uname -m` says on it
    little_endian: bool = True

    def accepts(self, info: _ElfHeader) -> bool:
        """Whether this architecture's ``ld.so`` would load ``info`` (its ``open_verify`` and
        ``elf_machine_matches_host`` checks: machine, class, byte order, float ABI)."""
        if (info.machine, info.elf_class, info.little_endian) != (
            self.machine,
            self.elf_class,
            self.little_endian,
        ):
            return False
        eabi5 = info.flags & EF_ARM_EABIMASK == EF_ARM_EABI_VER5
        if self.debian == "armhf":
            return not (eabi5 and info.flags & EF_ARM_ABI_FLOAT_SOFT)
        if self.debian == "armel":
            return not (eabi5 and info.flags & EF_ARM_ABI_FLOAT_HARD)
        if self.debian == "riscv64":
            # Debian's riscv64 is the lp64d ABI; ld.so refuses any other float ABI.
            return info.flags & EF_RISCV_FLOAT_ABI == EF_RISCV_FLOAT_ABI_DOUBLE
        return True

    @property
    def wheel_machine(self) -> str:
        """The machine of its wheel platform tags (``manylinux_2_17_<machine>``): what
        ``uname -m`` says, except that i386 wheels are built for i686."""
        return "i686" if self.debian == "i386" else self.kernel_names[0]

    @property
    def gnu_type(self) -> str:
        """The GNU system type its compilers are named by (``aarch64-linux-gnu-gcc``): the
        triplet, except that Debian's i386 compilers target i686."""
        return "i686-linux-gnu" if self.debian == "i386" else self.triplet

    @property
    def qemu_name(self) -> str:
        """What qemu-user calls it, and so its binfmt_misc entry (``qemu-aarch64``)."""
        return {"armel": "arm", "armhf": "arm", "mips64el": "mips64el"}.get(
            self.debian, self.kernel_names[0]
        )

    @property
    def pivot_root_syscall(self) -> int:
        """The number of the ``pivot_root`` system call on it (glibc has no wrapper)."""
        return {
            "amd64": 155, "arm64": 41, "armel": 218, "armhf": 218, "i386": 217,
            "ppc64el": 203, "riscv64": 41, "s390x": 217, "mips64el": 5151,
        }[self.debian]  # fmt: skip

    @property
    def description(self) -> str:
        return f"{self.debian} ({self.machine}, {self.elf_class}-bit)"


# Debian's release architectures (and mips64el, which the OCI world still names).
ARCHES: tuple[Arch, ...] = (
    Arch("amd64", "x86_64-linux-gnu", "EM_X86_64", 64, Platform("amd64"), ("x86_64", "amd64")),
    Arch(
        "arm64",
        "aarch64-linux-gnu",
        "EM_AARCH64",
        64,
        Platform("arm64", variant="v8"),
        ("aarch64", "arm64"),
    ),
    # Debian's armel targets ARMv5TE; the official arm32v5 images are built from it.
    Arch("armel", "arm-linux-gnueabi", "EM_ARM", 32, Platform("arm", variant="v5"), ("armv5tel",)),
    Arch(
        "armhf",
        "arm-linux-gnueabihf",
        "EM_ARM",
        32,
        Platform("arm", variant="v7"),
        ("armv7l", "armv8l"),
    ),
    Arch("i386", "i386-linux-gnu", "EM_386", 32, Platform("386"), ("i386", "i686")),
    Arch("ppc64el", "powerpc64le-linux-gnu", "EM_PPC64", 64, Platform("ppc64le"), ("ppc64le",)),
    Arch("riscv64", "riscv64-linux-gnu", "EM_RISCV", 64, Platform("riscv64"), ("riscv64",)),
    Arch(
        "s390x",
        "s390x-linux-gnu",
        "EM_S390",
        64,
        Platform("s390x"),
        ("s390x",),
        little_endian=False,
    ),
    Arch(
        "mips64el",
        "mips64el-linux-gnuabi64",
        "EM_MIPS",
        64,
        Platform("mips64le"),
        ("mips64",),
    ),
)

_BY_DEBIAN = {a.debian: a for a in ARCHES}
_BY_KERNEL = {name: a for a in ARCHES for name in a.kernel_names}


def architecture(debian: str) -> Arch:
    """The row of a Debian architecture name such as ``amd64``."""
    try:
        return _BY_DEBIAN[debian]
    except KeyError:
        raise UsageError(
            f"unknown Debian architecture {debian!r}; choose one of {', '.join(sorted(_BY_DEBIAN))}"
        ) from None


def for_platform(platform: Platform) -> Arch | None:
    """The Debian architecture of an OCI platform, or None for one Debian does not build."""
    return next((a for a in ARCHES if a.platform.matches(platform)), None)


def host() -> Arch | None:
    """The architecture of the machine we run on, or None for one not in the table."""
    return _BY_KERNEL.get(_host.machine().lower())


def host_arch() -> str:
    """The Debian name of the host's architecture (what `uname -m` says, if unknown)."""
    found = host()
    return found.debian if found is not None else _host.machine()
