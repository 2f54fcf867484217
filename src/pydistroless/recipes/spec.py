"""What to build: the declarative description of one image, validated once.

The CLI flags and the config file both end up as :class:`ImageSpec` values (one per image of
a matrix) plus one :class:`SourceOptions` for where packages come from. Every later stage
takes these values and never looks at flags or files again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pydistroless.core.arch import host_arch
from pydistroless.core.errors import UsageError
from pydistroless.fs import slicing
from pydistroless.oci.reference import check_tags
from pydistroless.python import debian_python
from pydistroless.recipes import sbom

DEFAULT_SUITE = "trixie"
NONROOT_UID = 65532
VARIANTS = ("standard", "debug", "builder", "cc")
# Slices a builder image keeps: compilers and build scripts dlopen libraries and call glibc's
# tools (getconf, ldd) that nothing in a runtime image needs.
BUILDER_KEEPS = ("unused-libs", "libc-tools")
# Where the Python comes from: the suite's own packages, upstream's tarball compiled in a
# builder tree, or whichever of the two has the version asked for (the suite's when it can).
PYTHON_FROM = ("auto", "debian", "source")
# The first CPython with a free-threaded build (PEP 703: ``--disable-gil``, ABI flag ``t``).
FREE_THREADED_SINCE = (3, 13)


@dataclass(frozen=True)
class ImageSpec:
    """One image: which Python from which suite, for which architectures, for whom."""

    suite: str = DEFAULT_SUITE
    python: str | None = None  # "3.13" or "3.13.15"; None means the suite's default python3
    # CPython built with --disable-gil (PEP 703), its ABI "cp313t": asked for as "3.13t" or
    # "3.13.15t" (the suffix is moved here when the spec is made) or by itself.
    free_threading: bool = False
    archs: tuple[str, ...] = field(default_factory=lambda: (host_arch(),))
    variant: str = "standard"
    user: str = ""  # root, nonroot or a UID; "": the variant's own (see account)
    packages: tuple[str, ...] = ()  # extra packages, NAME or NAME=VERSION
    exclude: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()  # slices to keep
    ca_certs: tuple[Path, ...] = ()
    tags: tuple[str, ...] = ()  # extra tags beside the default ones
    source_date_epoch: int | None = None
    sbom_format: str = "spdx"
    pyc: bool = True  # byte-compile the standard library
    python_from: str = "auto"  # one of PYTHON_FROM
    optimize_python: bool = True  # PGO + LTO for a Python built from source
    source_url: str | None = None  # the CPython tarball to build, instead of the archive's
    source_sha256: str | None = None
    source_signature: str | None = None  # its detached OpenPGP signature, instead of a digest

    def __post_init__(self) -> None:
        if self.python is not None and not re.fullmatch(r"3\.\d{1,2}(\.\d{1,3})?t?", self.python):
            raise UsageError(
                f"--python {self.python!r} is not a Python version; use MAJOR.MINOR, e.g. 3.13, "
                "or MAJOR.MINOR.PATCH for an upstream release, e.g. 3.13.15 (a t suffix, 3.13t, "
                "for the free-threaded build)"
            )
        if self.python is not None and self.python.endswith("t"):
            # One spelling inside: the version, and the flag (which a config's axis may set).
            object.__setattr__(self, "python", self.python.removesuffix("t"))
            object.__setattr__(self, "free_threading", True)
        if not isinstance(self.free_threading, bool):
            raise UsageError(f"free-threading {self.free_threading!r} must be true or false")
        self._check_free_threading()
        self._check_python_source()
        if self.variant not in VARIANTS:
            raise UsageError(f"--variant {self.variant!r} is unknown; use one of {VARIANTS}")
        if not self.archs:
            raise UsageError("no architecture given; use --arch amd64 (or a list: amd64,arm64)")
        for arch in self.archs:
            if not re.fullmatch(r"[a-z0-9]+", arch):
                raise UsageError(f"--arch {arch!r} is not a Debian architecture name (amd64 …)")
        user_id(self.account)  # validates
        check_tags(self.tags)
        for requested in self.packages:
            check_package_request(requested)
        for name in self.exclude:
            if not PACKAGE_NAME.fullmatch(name):
                raise UsageError(
                    f"--exclude {name!r} is not a Debian package name; use NAME, e.g. libpq5"
                )
        if self.source_date_epoch is not None:
            check_source_date_epoch(self.source_date_epoch, "source-date-epoch")
        slicing.check_names(self.keep)
        sbom.check_format(self.sbom_format)
        if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", self.suite):
            raise UsageError(f"--suite {self.suite!r} is not a Debian suite name (trixie …)")

    def _check_python_source(self) -> None:
        if self.python_from not in PYTHON_FROM:
            raise UsageError(
                f"--python-from {self.python_from!r} is unknown; use one of {PYTHON_FROM}"
            )
        vouched = self.source_sha256 is not None or self.source_signature is not None
        if self.source_url is None and vouched:
            raise UsageError(
                "--source-sha256 and --source-signature vouch for a --source-url tarball; add "
                "--source-url URL|FILE, or drop them"
            )
        if self.source_url is not None:
            if not vouched:
                raise UsageError(
                    "--source-url needs a way to check the tarball: add --source-sha256 HEX, "
                    "or --source-signature URL|FILE for its release manager's .asc"
                )
            if self.python is None or self.python.count(".") != 2:
                raise UsageError(
                    "--source-url needs the release it holds: add --python 3.X.Y, e.g. 3.13.15"
                )
            if self.python_from == "debian":
                raise UsageError("--source-url builds from source; drop --python-from debian")
            if self.source_sha256 is not None and not re.fullmatch(
                r"[0-9a-f]{64}", self.source_sha256
            ):
                raise UsageError(
                    f"--source-sha256 {self.source_sha256!r} is not a SHA256 digest (64 "
                    "lowercase hex digits)"
                )
        if self.python_from == "debian" and self.python and self.python.count(".") == 2:
            raise UsageError(
                f"--python {self.python} names an upstream release, and Debian's Python is "
                "picked by MAJOR.MINOR: use --python "
                f"{self.python.rsplit('.', 1)[0]} with --python-from debian, or drop it"
            )

    def _check_free_threading(self) -> None:
        if not self.free_threading:
            return
        minor = self.python_minor
        if minor is not None and tuple(map(int, minor.split("."))) < FREE_THREADED_SINCE:
            raise UsageError(
                f"--python {self.python_label}: CPython has a free-threaded build from 3.13 on; "
                f"use --python 3.13t or later, or drop the t (free-threading)"
            )
        if self.python_from == "debian":
            asked = f"--python {self.python_label}" if self.python else "free-threading"
            raise UsageError(
                f"{asked}: Debian's Python has no free-threaded build; drop --python-from "
                "debian (upstream CPython is compiled with --disable-gil), or drop the t "
                "(free-threading)"
            )

    @property
    def python_label(self) -> str | None:
        """The Python as the user names it: ``3.13.15t`` for a free-threaded ``3.13.15``."""
        if self.python is None:
            return None
        return self.python + ("t" if self.free_threading else "")

    @property
    def python_minor(self) -> str | None:
        """``3.13`` of ``3.13.15``."""
        return None if self.python is None else ".".join(self.python.split(".")[:2])

    @property
    def account(self) -> str:
        """Who the image runs as: the user asked for, else the variant's own: root for the
        builder (a build stage, as python:X-slim is), nonroot for the others."""
        return self.user or default_user(self.variant)

    @property
    def uid(self) -> int:
        return user_id(self.account)

    @property
    def asked_packages(self) -> tuple[str, ...]:
        """The names of the packages asked for with ``--package`` (NAME of NAME=VERSION)."""
        return tuple(p.partition("=")[0].strip() for p in self.packages)

    @property
    def whole_packages(self) -> tuple[str, ...]:
        """Packages whose libraries all stay, whether the image loads them or not: those
        asked for by name, and those the variant keeps whole (the cc variant's runtime)."""
        return (*self.asked_packages, *debian_python.whole_packages(self.variant))

    @property
    def kept(self) -> tuple[str, ...]:
        """The slices kept: those asked for, and those the variant needs."""
        extra = BUILDER_KEEPS if self.variant == "builder" else ()
        return tuple(sorted({*self.keep, *extra}))

    def cuts(self, slice_name: str) -> bool:
        return slice_name not in self.kept


# Debian policy 5.6.1 and 5.6.12: names and versions as the archive writes them.
PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
PACKAGE_VERSION = re.compile(r"(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*(?<!-)")
# ustar stores mtime as 11 octal digits: every layer timestamp must fit.
MAX_EPOCH = 8**11 - 1


def check_package_request(text: str) -> None:
    """``NAME`` or ``NAME=VERSION``, as ``--package`` takes it."""
    name, sep, version = text.partition("=")
    if not PACKAGE_NAME.fullmatch(name) or (sep and not PACKAGE_VERSION.fullmatch(version)):
        raise UsageError(
            f"--package {text!r} is not NAME or NAME=VERSION (a Debian package name and "
            "version, e.g. libpq5 or libpq5=17.2-1)"
        )


def check_source_date_epoch(value: object, where: str) -> int:
    """A timestamp every layer can carry: whole seconds since 1970, up to ustar's limit."""
    given = value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EPOCH:
        raise UsageError(
            f"{where}={given} is not a whole number of seconds from 0 to {MAX_EPOCH} "
            "(a Unix time such as $(git log -1 --format=%ct))"
        )
    return value


def default_user(variant: str) -> str:
    return "root" if variant == "builder" else "nonroot"


def user_id(user: str) -> int:
    if user == "nonroot":
        return NONROOT_UID
    if user == "root":
        return 0
    # ASCII digits only: str.isdigit and int() take any script's ("６５５３２"), which an
    # image config's User must not hold (docker cannot load it).
    if user.isascii() and user.isdigit() and int(user) < 2**31:
        return int(user)
    raise UsageError(
        f"--user {user!r} is not root, nonroot or a numeric UID (ASCII digits 0-9, below 2^31)"
    )
