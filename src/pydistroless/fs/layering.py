"""Base layers that survive updates: the image's tree cut into a few layers by package.

A single layer changes its digest whenever anything in the image changes, so every update of
every package makes users pull and registries store the whole base again. Cut by how often
their contents change in Debian stable, most layers of the next build are byte for byte the
ones of the last, and only the group that moved is new.

The groups, bottom first (:data:`GROUPS`):

=============  ============================================================  ===============
group          what                                                          changes
=============  ============================================================  ===============
``python``     the ``python3.X`` source package (``python3.X-minimal``,      security
               ``libpython3.X-minimal``, ``libpython3.X-stdlib``, ...) and   updates, a few
               ``python3-defaults``, with what is made from them: the        a year
               stdlib ``.pyc`` and ``__pycache__``, ``stdlib-sources.zip``,
               its hook and ``.pth``, the ``python``/``python3`` links
``openssl``    the ``openssl`` source package (``libssl3``/``libssl3t64``,   frequent DSAs
               which holds libcrypto, ``openssl-provider-legacy``)
``base``       every other package: glibc and the gcc runtime, the           whenever one of
               libraries Python loads (zlib, xz, zstd, bzip2, expat,         some fifteen
               libffi, sqlite, ncurses, readline, db5.3, uuid, ...),         sources moves
               ``base-files``, ``netbase``, ``media-types``, and the
               merged-/usr links
``data``       ``tzdata`` and ``ca-certificates``, with the CA bundle,       tzdata several
               the ``--ca-cert`` files, ``/etc/localtime`` and OpenSSL's     times a year
               links to the bundle
``debug``      ``busybox`` (``busybox-static``) and its ``/busybox``         rarely; only in
               applet links                                                  the debug image
``generated``  what depends on the whole package set or the spec:            with every
               accounts, home and temporary directories, ``ld.so.cache``,    change
               ``os-release``, ``nsswitch.conf``, ``status.d``, the SBOM
=============  ============================================================  ===============

Why this order: an engine keeps a layer for the chain of layers under it (docker's and
containerd's stores key it by chain ID), so a changed layer makes every layer above it new to
the engine too, and what lies below a change is what is reused. Low goes what is big and
changes seldom: the interpreter with its compiled stdlib is half the image and changes a few
times a year; ``base`` is some fifteen source packages, glibc's point releases and security
fixes among them, and one of them moves most months, which makes it change more often than
the others. ``data`` is small and tzdata moves several times a year. ``debug`` sits above
everything the standard image has, so the debug image shares all those layers with it.
``generated`` changes with everything and is last.

An entry goes where its ``origin`` package belongs (by the package's source, else its name);
an entry pydistroless made (``origin == ""``) goes by its path (:func:`path_group`). A hard
link goes with the regular file it shares content with, since a tar link may only name a
member of the same tar. Each layer carries copies of the directories above its entries
(with the full tree's metadata), so an engine creates them as the image has them; applying
the layers in order gives back the tree exactly.

Each layer's member mtime comes from its own contents, never from the archive's Release date,
so that a layer whose packages did not change keeps its digest when the archive moves on: the
newest build date of its packages (Debian clamps every member of a package to its changelog
date), at most the build's ``SOURCE_DATE_EPOCH``. ``generated`` has no package of its own: it
takes the newest time of the other layers, which moves only when a package moved, and then
that layer changes anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydistroless.fs.generate import BUSYBOX_DIR, CA_BUNDLE, EXTRA_CA_DIR, MERGED_USR_DIRS
from pydistroless.fs.tree import Entry, Kind, Tree

GROUPS = ("python", "openssl", "base", "data", "debug", "generated")  # bottom first

_OPENSSL_SOURCES = frozenset({"openssl"})
_DATA_SOURCES = frozenset({"tzdata", "ca-certificates"})
_DEBUG_SOURCES = frozenset({"busybox"})
_MAX_COMMENT = 199

# Files pydistroless makes, by path, for the group whose packages they are made from.
_PYTHON_PATHS = re.compile(
    # python3.13t: a free-threaded build's
    r"usr/(local/)?lib/python3(\.\d+t?)?(/.*)?|usr/(local/)?bin/python3?(\.\d+t?)?"
)
_DATA_PATHS = frozenset(
    {
        CA_BUNDLE,
        EXTRA_CA_DIR,
        "etc/localtime",
        "etc/timezone",
        "usr/lib/ssl",
        "usr/lib/ssl/cert.pem",
        "usr/lib/ssl/certs",
    }
)
_BASE_PATHS = frozenset(MERGED_USR_DIRS) | {f"usr/{top}" for top in MERGED_USR_DIRS}


@dataclass(frozen=True)
class PackageFacts:
    """What the grouping and the timestamps need of one package: its lock entry's name and
    source, and its ``DebPackage.mtime`` (0 when unknown)."""

    name: str
    source: str  # the source package, "" when unknown (the name alone decides)
    mtime: int  # the newest member mtime of its data.tar: its build date


@dataclass(frozen=True)
class LayerPart:
    """One layer to write: ``layer_from_tree(part.tree, mtime=part.mtime,
    comment=part.comment)``."""

    name: str  # one of GROUPS
    comment: str  # the history comment, under 200 characters
    tree: Tree
    mtime: int


def package_group(name: str, source: str, python: str) -> str:
    """The group of package ``name`` built from ``source``, in an image of Python ``python``
    (``"3.13"``). Every package has one; what is not named here is ``base``."""
    source = source or name
    own_python = re.fullmatch(rf"(lib)?python{re.escape(python)}(-[a-z0-9.+-]+)?", name)
    if source in (f"python{python}", "python3-defaults") or own_python:
        return "python"
    if source in _OPENSSL_SOURCES or name.startswith("libssl"):
        return "openssl"
    if source in _DATA_SOURCES:
        return "data"
    if source in _DEBUG_SOURCES:
        return "debug"
    return "base"


def path_group(path: str) -> str:
    """The group of an entry pydistroless generated (``origin == ""``): the group of the
    packages it is made from, or ``generated`` for what depends on the whole image."""
    if _PYTHON_PATHS.fullmatch(path):
        return "python"  # .pyc, __pycache__, the sources zip, its hook and .pth, the links
    if path in _DATA_PATHS or path.startswith(f"{EXTRA_CA_DIR}/"):
        return "data"
    if path == BUSYBOX_DIR or path.startswith(f"{BUSYBOX_DIR}/"):
        return "debug"
    if path in _BASE_PATHS:
        return "base"  # the merged-/usr links and the directories they lead to
    return "generated"


def assign(tree: Tree, *, packages: Mapping[str, PackageFacts], python: str) -> dict[str, str]:
    """The group of every entry of ``tree``, by path. A package missing from ``packages`` is
    grouped by its name alone."""
    groups: dict[str, str] = {}
    of_package: dict[str, str] = {}
    for entry in tree.entries():
        if not entry.origin:
            groups[entry.path] = path_group(entry.path)
            continue
        group = of_package.get(entry.origin)
        if group is None:
            facts = packages.get(entry.origin)
            group = package_group(entry.origin, facts.source if facts else "", python)
            of_package[entry.origin] = group
        groups[entry.path] = group
    for entry in tree.entries():
        if entry.kind is Kind.HARDLINK:
            groups[entry.path] = groups[entry.target]  # a tar link names a member of its tar
    return groups


def split(
    tree: Tree, *, packages: Mapping[str, PackageFacts], python: str, epoch: int
) -> tuple[LayerPart, ...]:
    """``tree`` cut into its non-empty groups, bottom first, each dated by its own packages
    (at most ``epoch``, the build's ``SOURCE_DATE_EPOCH``). ``packages`` maps each package
    name of the lock to its facts::

        facts = {p.name: PackageFacts(p.name, p.source, deb.mtime)
                 for p, deb in zip(arch_lock.packages, debs, strict=True)}
    """
    groups = assign(tree, packages=packages, python=python)
    members: dict[str, list[Entry]] = {name: [] for name in GROUPS}
    for entry in tree.entries():
        members[groups[entry.path]].append(entry)
    in_group: dict[str, list[PackageFacts]] = {name: [] for name in GROUPS}
    for facts in sorted(packages.values(), key=lambda f: f.name):
        in_group[package_group(facts.name, facts.source, python)].append(facts)
    parts: list[LayerPart] = []
    for name in GROUPS:
        if not members[name]:
            continue
        if name == "generated":
            mtime = max((p.mtime for p in parts), default=epoch)
        else:
            mtime = content_time(in_group[name], epoch)
        parts.append(
            LayerPart(
                name=name,
                comment=comment(name, [f.name for f in in_group[name]]),
                tree=_subtree(tree, members[name]),
                mtime=mtime,
            )
        )
    return tuple(parts)


def content_time(packages: Iterable[PackageFacts], epoch: int) -> int:
    """The newest build date of ``packages``, at most ``epoch``; ``epoch`` itself when none is
    known (the timestamp then follows the archive, as a single layer's did)."""
    newest = max((p.mtime for p in packages), default=0)
    return min(newest, epoch) if newest > 0 else epoch


def comment(name: str, package_names: Iterable[str]) -> str:
    """``pydistroless base: libc6 libgcc-s1 ... (12 packages)``, under 200 characters."""
    names = list(package_names)
    if not names:
        if name == "generated":
            return f"pydistroless {name}: accounts, ld.so.cache, os-release, status.d, SBOM"
        return f"pydistroless {name}: generated files"
    head = f"pydistroless {name}: "
    tail = f" ({len(names)} package{'s' if len(names) > 1 else ''})"
    listed = " ".join(names)
    room = _MAX_COMMENT - len(head) - len(tail)
    if len(listed) > room:
        listed = listed[: room - 4].rsplit(" ", 1)[0] + " ..."
    return head + listed + tail


def _subtree(tree: Tree, entries: list[Entry]) -> Tree:
    """A tree of ``entries`` and copies of the directories above them, from ``tree``."""
    wanted: dict[str, Entry] = {e.path: e for e in entries}
    for entry in entries:
        parent = entry.path.rpartition("/")[0]
        while parent and parent not in wanted:
            above = tree.get(parent)
            if above is None:
                break  # never: every entry's parent is a directory of the tree
            wanted[parent] = above
            parent = parent.rpartition("/")[0]
    part = Tree()
    # Parents sort before their children; a hard link needs its file in place first.
    ordered = sorted(wanted)
    for path in ordered:
        if wanted[path].kind is not Kind.HARDLINK:
            part.add(wanted[path])
    for path in ordered:
        if wanted[path].kind is Kind.HARDLINK:
            part.add(wanted[path])
    return part
