"""The builder tree: a Debian root with a C toolchain and the headers CPython builds against.

It comes from the same suite (and its -updates and -security) as the image it builds for,
resolved, verified and unpacked by the same stages as a base image, so what is compiled links
against exactly the libraries the image will ship. Maintainer scripts never run; the few
effects a compiler needs are made here (``/bin/sh``, ``/tmp``, the device nodes, accounts).
The tree is written to disk once per package set and kept in the cache, whole or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydistroless.arch import architecture
from pydistroless.assemble import unpack
from pydistroless.cache import sha256_hex
from pydistroless.context import Context
from pydistroless.debian.resolve import Requirement, resolve
from pydistroless.errors import UsageError
from pydistroless.fetch import log
from pydistroless.fs import generate
from pydistroless.fs.tree import Kind, Tree
from pydistroless.lock import LockedPackage
from pydistroless.plan import load_index, load_releases, locked
from pydistroless.toolchain import (
    COMPILERS,
    CPYTHON_HEADERS,
    CROSS_TARGET,
    SHELL_TOOLS,
    cross_compilers,
)


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
    return sha256_hex(
        json.dumps({"format": TREE_FORMAT, "packages": sorted(p.sha256 for p in packages)}).encode()
    )


def builder_packages(suite: str, arch: str, ctx: Context) -> tuple[LockedPackage, ...]:
    """The resolved package set of the builder tree for ``suite`` on ``arch``."""
    releases = load_releases(ctx.archive, ctx.mirrors, suite)
    index = load_index(ctx.archive, releases, arch)
    roots = [Requirement(n) for n in (*COMPILERS, *SHELL_TOOLS, *CPYTHON_HEADERS)]
    resolution = resolve(index, roots, suites=[r.suite for r in releases])
    return tuple(locked(r) for r in resolution.packages)


def cross_packages(suite: str, host: str, target: str, ctx: Context) -> tuple[LockedPackage, ...]:
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
    ctx: Context,
    *,
    host: str = "",
    packages: tuple[LockedPackage, ...] = (),
) -> BuilderTree:
    """The builder tree for ``arch`` (a cross-compiling one when ``host`` is another
    architecture) of ``packages`` (a lock's), or of the packages resolved now; from the cache
    when this package set was unpacked before."""
    host = "" if host == arch else host
    if not packages:
        packages = cross_packages(suite, host, arch, ctx) if host else builder_packages(
            suite, arch, ctx
        )
    key = tree_key(packages)
    home = ctx.cache.root / "builders"
    root = home / (f"{key[:32]}-{arch}" + (f"-on-{host}" if host else ""))
    if not (root / ".ready").is_file():
        what = f"{suite}/{arch}" + (f" on {host}" if host else "")
        log(f"builder tree for {what}: {len(packages)} packages")
        tree = unpack(ctx.debs(packages))
        add_effects(tree)
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".builder-", dir=home))
        try:
            write_tree(tree, staging)
            make_devices(staging)
            (staging / ".ready").write_text("ok\n")
            try:
                os.rename(staging, root)
            except OSError:
                if not (root / ".ready").is_file():  # another build won the race: use its copy
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
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


def write_tree(tree: Tree, root: Path) -> None:
    """Write ``tree`` under ``root`` (a fresh directory of ours): links as links, hard links
    as hard links, modes as given; every path is the tree's own, checked when it was added."""
    for entry in sorted(tree.entries(), key=lambda e: e.path):
        target = root / entry.path
        if entry.kind is Kind.DIR:
            target.mkdir(exist_ok=True)
        elif entry.kind is Kind.SYMLINK:
            target.symlink_to(entry.target)
        elif entry.kind is Kind.HARDLINK:
            continue
        else:
            target.write_bytes(entry.data)
    for entry in tree.entries():
        target = root / entry.path
        if entry.kind is Kind.HARDLINK:
            os.link(root / entry.target, target)
        elif entry.kind is not Kind.SYMLINK:
            target.chmod(entry.mode)


# The nodes a compiler and a configure script open; mknod needs root, which a chroot needs too.
DEVICES = {"null": (1, 3), "zero": (1, 5), "random": (1, 8), "urandom": (1, 9)}


def make_devices(root: Path) -> None:
    dev = root / "dev"
    dev.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        return
    for name, (major, minor) in DEVICES.items():
        os.mknod(dev / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        (dev / name).chmod(0o666)
