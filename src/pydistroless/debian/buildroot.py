"""The builder tree: a Debian root with a C toolchain and the headers CPython builds against.

It comes from the same suite (and its -updates and -security) as the image it builds for,
resolved, verified and unpacked by the same stages as a base image, so what is compiled links
against exactly the libraries the image will ship. Maintainer scripts never run; the few
effects a compiler needs are made here (``/bin/sh``, ``/tmp``, the device nodes, accounts).
The tree is written to disk once per package set and kept in the cache, whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydistroless.core.arch import architecture
from pydistroless.core.cache import cache_key, finished_folder, is_finished
from pydistroless.core.errors import UsageError
from pydistroless.core.report import log
from pydistroless.debian.resolve import Requirement, resolve
from pydistroless.debian.rootfs import unpack
from pydistroless.debian.store import LockedPackage, Store, load_index, load_releases, locked
from pydistroless.fs import generate
from pydistroless.fs.disk import make_devices, write_tree
from pydistroless.fs.tree import Tree

# The C and C++ compilers, the linker and the tools a setup.py or a Makefile calls directly.
COMPILERS = ("gcc", "g++", "make", "libc6-dev", "binutils", "pkgconf")

# What a configure script runs besides the compilers. The builder tree needs them by name: the
# resolver leaves them out of images, where nothing runs. (The builder image has busybox.)
SHELL_TOOLS = (
    "dash",
    "bash",
    "coreutils",
    "sed",
    "grep",
    "mawk",
    "findutils",
    "diffutils",
    "tar",
    "xz-utils",
    "gzip",
    "libc-bin",
)

# What CPython's optional modules link against (ssl, ctypes, sqlite3, zlib, bz2, lzma, zstd,
# readline and curses, dbm, uuid, pyexpat, decimal): the headers extension modules of
# third-party packages most often want too.
CPYTHON_HEADERS = (
    "libssl-dev",
    "libffi-dev",
    "libsqlite3-dev",
    "zlib1g-dev",
    "libbz2-dev",
    "liblzma-dev",
    "libzstd-dev",
    "libreadline-dev",
    "libncurses-dev",
    "libgdbm-dev",
    "libgdbm-compat-dev",
    "uuid-dev",
    "libexpat1-dev",
    "libmpdec-dev",
)

# The target architecture's part of a cross-compiling builder tree: its C library and the
# libraries and headers above, in their multiarch folders beside the host's (Debian's way of
# cross-building), with the pkg-config that looks there. Only the Multi-Arch: same packages
# of their closure are taken; the host's copies of the others (tools, arch: all) serve both.
CROSS_TARGET = ("libc6-dev", "pkgconf", *CPYTHON_HEADERS)


def cross_compilers(gnu_type: str) -> tuple[str, ...]:
    """Debian's cross toolchain from the host to the GNU system type ``gnu_type``."""
    return (f"gcc-{gnu_type}", f"binutils-{gnu_type}")


@dataclass(frozen=True)
class BuilderTree:
    root: Path  # the unpacked tree on disk
    suite: str
    arch: str  # what it builds for
    packages: tuple[LockedPackage, ...]
    host: str = ""  # what its programs run on, when that is not ``arch``: a cross builder

    @property
    def digest(self) -> str:
        """What the tree is made of: the key of everything built in it."""
        return tree_key(self.packages)


# How the packages become a tree (add_effects, write_tree, make_devices): bump it when that
# changes, and every builder tree (and every CPython built in one) is made again. Not the
# whole tool's digest: an unrelated change must not cost a CPython build.
TREE_FORMAT = 1


def tree_key(packages: tuple[LockedPackage, ...]) -> str:
    return cache_key(
        {"format": TREE_FORMAT, "packages": sorted(p.sha256 for p in packages)}, tool=False
    )


def builder_packages(suite: str, arch: str, ctx: Store) -> tuple[LockedPackage, ...]:
    """The resolved package set of the builder tree for ``suite`` on ``arch``."""
    releases = load_releases(ctx.archive, ctx.mirrors, suite)
    index = load_index(ctx.archive, releases, arch)
    roots = [Requirement(n) for n in (*COMPILERS, *SHELL_TOOLS, *CPYTHON_HEADERS)]
    resolution = resolve(index, roots, suites=[r.suite for r in releases])
    return tuple(locked(r) for r in resolution.packages)


def cross_packages(suite: str, host: str, target: str, ctx: Store) -> tuple[LockedPackage, ...]:
    """The packages of a builder tree that runs on ``host`` and compiles for ``target``:
    the host's builder packages, Debian's cross toolchain, and the target's libraries and
    headers (:data:`CROSS_TARGET`)."""
    releases = load_releases(ctx.archive, ctx.mirrors, suite)
    suites = [r.suite for r in releases]
    toolchain = cross_compilers(architecture(target).gnu_type)
    index = load_index(ctx.archive, releases, host)
    lacking = [name for name in toolchain if not index.candidates(name)]
    if lacking:
        raise UsageError(
            f"cannot build CPython for {target} on this {host} host: it cannot run {target} "
            f"code, and {suite} has no cross toolchain to it (no {host} package "
            f"{', '.join(lacking)}); install qemu-user-static and binfmt-support, or build on "
            f"an {target} machine"
        )
    host_roots = (*COMPILERS, *SHELL_TOOLS, *CPYTHON_HEADERS, *toolchain)
    native = resolve(index, [Requirement(n) for n in host_roots], suites=suites)
    foreign = resolve(
        load_index(ctx.archive, releases, target), [Requirement(n) for n in CROSS_TARGET],
        suites=suites,
    )  # fmt: skip
    shared = [r for r in foreign.packages if r.multi_arch == "same"]
    return tuple(locked(r) for r in (*native.packages, *shared))


def builder_tree(
    suite: str,
    arch: str,
    ctx: Store,
    *,
    host: str = "",
    packages: tuple[LockedPackage, ...] = (),
) -> BuilderTree:
    """The builder tree for ``arch`` (a cross-compiling one when ``host`` is another
    architecture) of ``packages`` (a lock's), or of the packages resolved now; from the cache
    when this package set was unpacked before."""
    host = "" if host == arch else host
    if not packages:
        packages = (
            cross_packages(suite, host, arch, ctx) if host else builder_packages(suite, arch, ctx)
        )
    key = tree_key(packages)
    home = ctx.cache.root / "builders"
    root = home / (f"{key[:32]}-{arch}" + (f"-on-{host}" if host else ""))
    if not is_finished(root):
        what = f"{suite}/{arch}" + (f" on {host}" if host else "")
        log(f"builder tree for {what}: {len(packages)} packages")
        tree = unpack(ctx.debs(packages))
        add_effects(tree)

        def fill(staging: Path) -> None:
            write_tree(tree, staging)
            make_devices(staging)

        finished_folder(root, fill)
    return BuilderTree(root, suite, arch, packages, host)


def add_effects(tree: Tree) -> None:
    """What the builder's maintainer scripts would have made, of what a build uses."""
    if tree.get("usr/bin/sh") is None:
        tree.add_symlink("usr/bin/sh", "dash")
    if tree.get("usr/bin/cc") is None:
        tree.add_symlink("usr/bin/cc", "gcc")
    if tree.get("usr/bin/c++") is None:
        tree.add_symlink("usr/bin/c++", "g++")
    if tree.get("usr/bin/awk") is None:
        tree.add_symlink("usr/bin/awk", "mawk")
    tree.add_dir("tmp", 0o1777)
    tree.add_dir("build", 0o755)
    generate.add_accounts(tree, 0)
