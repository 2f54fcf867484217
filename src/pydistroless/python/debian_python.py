"""Debian's Python as an image runtime: which packages make it, and what it needs around it.

Debian splits a Python ``3.X`` into ``python3.X-minimal`` (the interpreter and the modules it
cannot start without), ``libpython3.X-minimal`` and ``libpython3.X-stdlib`` (the rest of the
standard library and its ``lib-dynload`` extension modules). Those two roots and a few base
packages (:data:`BASE_PACKAGES`) are all an image asks for; everything else follows from them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydistroless.core.errors import ImageCheckError, UsageError
from pydistroless.debian import buildroot
from pydistroless.debian.index import PackageIndex
from pydistroless.debian.resolve import Requirement, parse_relations
from pydistroless.debian.store import LockedPackage
from pydistroless.fs.tree import Kind, Tree

# libc-bin brings /sbin/ldconfig, which ctypes.util.find_library runs (`ldconfig -p`, over
# the generated /etc/ld.so.cache), and the C.UTF-8 locale; its other tools are a slice.
BASE_PACKAGES = ("base-files", "ca-certificates", "libc-bin", "netbase", "tzdata")
DEBUG_PACKAGES = ("busybox-static",)
# The builder variant: busybox for /bin/sh, the compilers and the usual -dev packages. Its
# packages' own scripts run bash (ldd, tzselect) and perl (binutils', make's, libpq-dev's
# pg_config), which Debian's Essential set gives every Debian system and so no Depends names;
# and a Dockerfile's `SHELL ["/bin/bash", "-o", "pipefail", "-c"]` needs bash too.
BUILDER_ESSENTIALS = ("bash", "perl-base")
BUILDER_PACKAGES = (
    *DEBUG_PACKAGES,
    *BUILDER_ESSENTIALS,
    *buildroot.COMPILERS,
    *buildroot.CPYTHON_HEADERS,
)


# The cc variant: what Google's distroless "cc" image adds for programs built elsewhere (a
# venv or site-packages a Dockerfile copies in), the C++ runtime and glibc whole, with the
# small libraries manylinux wheels still link (libdl, libpthread, librt, libutil, ...).
CC_PACKAGES = ("libstdc++6",)
CC_WHOLE = ("libc6", "libgcc-s1", "libstdc++6")


def variant_packages(variant: str) -> tuple[str, ...]:
    """What a variant adds to the base packages."""
    return {"debug": DEBUG_PACKAGES, "builder": BUILDER_PACKAGES, "cc": CC_PACKAGES}.get(
        variant, ()
    )


def whole_packages(variant: str) -> tuple[str, ...]:
    """Packages a variant keeps every library of, loaded by something in it or not."""
    return CC_WHOLE if variant == "cc" else ()


def interpreter_package(python: str) -> str:
    return f"python{python}-minimal"


def root_packages(python: str, variant: str) -> list[Requirement]:
    names = [interpreter_package(python), f"libpython{python}-stdlib", *BASE_PACKAGES]
    names += variant_packages(variant)
    if variant == "builder":
        names.append(f"libpython{python}-dev")  # Python.h and the rest of the C API
        # ensurepip and the pip wheel it installs: `python -m venv` gives a venv with pip.
        names.append(f"python{python}-venv")
    return [Requirement(n) for n in names]


def default_python(index: PackageIndex, suite: str) -> str:
    """The suite's own default, read from what its ``python3`` package depends on."""
    for record in index.candidates("python3"):
        for group in parse_relations(record.depends):
            match = re.fullmatch(r"python(3\.\d+)", group[0].name)
            if match:
                return match.group(1)
    raise UsageError(f"suite {suite!r} has no python3 package; pass --python 3.X explicitly")


def available_pythons(index: PackageIndex) -> list[str]:
    found = {
        m.group(1) for name in index.names() if (m := re.fullmatch(r"python(3\.\d+)-minimal", name))
    }
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


def check_available(index: PackageIndex, python: str, suite: str) -> None:
    if not index.candidates(interpreter_package(python)):
        have = ", ".join(available_pythons(index)) or "none"
        raise UsageError(
            f"suite {suite!r} has no Python {python} (it has: {have}); pick one of those "
            "with --python"
        )


def upstream_version(debian_version: str) -> str:
    """``3.13.5-2+deb13u5`` -> ``3.13.5``."""
    version = debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
    return re.split(r"[~+]", version, maxsplit=1)[0]


def interpreter_packages(packages: Sequence[LockedPackage], python: str) -> list[LockedPackage]:
    """Of ``packages``, those the interpreter and its standard library need to run (to
    byte-compile with it): Python itself, glibc, and what ``python3.X`` links against."""
    names = {
        "libc6",
        interpreter_package(python),
        f"libpython{python}-minimal",
        f"libpython{python}-stdlib",
    }
    linked = ("zlib1g", "libexpat1", "libssl3")
    return [p for p in packages if p.name in names or p.name.startswith(linked)]


def source_root_packages(variant: str) -> list[Requirement]:
    """The roots of an image whose Python is compiled here: the base without Debian's Python
    (the libraries the build links against are found from its ELF files and added)."""
    return [Requirement(n) for n in (*BASE_PACKAGES, *variant_packages(variant))]


def prefix_of(tree: Tree, python: str) -> str:
    """Where the Python of ``tree`` lives: ``usr/local`` for one built from source (as
    ``make install`` puts it), else Debian's ``usr``."""
    local = f"usr/local/lib/python{python}/os.py"
    return "usr/local" if tree.get(local) is not None else "usr"


def stdlib_dir(tree: Tree, python: str) -> str:
    """``usr/lib/python3.X`` or ``usr/local/lib/python3.X``, no trailing slash."""
    return f"{prefix_of(tree, python)}/lib/python{python}"


def interpreter_path(python: str, prefix: str = "usr") -> str:
    return f"/{prefix}/bin/python{python}"


def check_entrypoint(tree: Tree, python: str) -> None:
    """The image's entrypoint must be there and executable: an image whose interpreter is
    missing (a hand-edited lock, an ``--exclude`` too many) would only fail at ``docker run``."""
    path = interpreter_path(python, prefix_of(tree, python))
    real = tree.resolve(path.lstrip("/"))
    entry = tree.get(real) if real else None
    if entry is not None and entry.kind is Kind.HARDLINK:
        entry = tree.get(entry.target)
    if entry is None or not entry.is_executable:
        raise ImageCheckError(
            f"the entrypoint {path} is not an executable file in the image; the package set "
            f"lacks {interpreter_package(python)} (re-create the lock, or drop the --exclude)"
        )


def add_python_links(tree: Tree, python: str) -> None:
    """``python`` and ``python3`` next to ``python3.X``, as users and tools expect."""
    for name in ("python", "python3"):
        tree.add_symlink(f"usr/bin/{name}", f"python{python}")
