"""Shared libraries an app's wheels need and the base lacks, found in Debian, not guessed.

A manylinux wheel expects the system to have some libraries (libstdc++, glibc's libdl and
libpthread stubs, ...); others wheels simply assume. After the install, every soname that
neither a wheel nor the base provides is looked up in the ``Contents`` index of the base's
suite. Its package and that package's dependencies, less what the base has, are added, with
their ``status.d`` records, and the image gets a new ``ld.so.cache`` that lists them. A
library the base's own package ships but the base left out (it was unused there, as glibc's
compatibility stubs are) is put back from that very package version.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydistroless.core.errors import ImageCheckError, IntegrityError, NetworkError
from pydistroless.core.report import log
from pydistroless.debian import contents
from pydistroless.debian.archive import Release
from pydistroless.debian.index import PackageIndex, PackageRecord
from pydistroless.debian.resolve import Requirement, resolve
from pydistroless.debian.rootfs import unpack
from pydistroless.debian.status import STATUS_DIR, add_status_d
from pydistroless.debian.store import Store, load_index, load_releases, locked
from pydistroless.fs import elf, ldcache, slicing
from pydistroless.fs.tree import Kind, Tree
from pydistroless.python.runtime import Target
from pydistroless.recipes.assemble import sbom_packages
from pydistroless.recipes.lock import ArchLock
from pydistroless.recipes.sbom import SbomPackage


@dataclass(frozen=True)
class Added:
    """What the step put into the image: a tree of files, and why."""

    tree: Tree
    packages: tuple[str, ...]  # new Debian packages
    report: tuple[str, ...]  # "added libstdc++6 for pandas: ... needs libstdc++.so.6"
    sbom: tuple[SbomPackage, ...] = ()  # the new packages, for the image's SBOM


def base_packages(tree: Tree) -> dict[str, str]:
    """The Debian packages of an image (its ``status.d``): name -> version."""
    found = {}
    for entry in tree.files():
        directory, _, name = entry.path.rpartition("/")
        if directory != STATUS_DIR or "." in name:
            continue
        for line in (entry.data or b"").decode("utf-8", "replace").splitlines():
            if line.startswith("Version: "):
                found[name] = line.split(":", 1)[1].strip()
    return found


def add_missing(
    merged: Tree,
    missing: Sequence[elf.MissingLibrary],
    target: Target,
    ctx: Store,
    *,
    owner_of: dict[str, str],
    by_hand: Sequence[str] = (),
) -> Added:
    """The files that give ``merged`` (the base and the installed wheels) the libraries of
    ``missing``, and the packages ``by_hand``; ``owner_of`` names the distribution of each
    needing file (for the report)."""
    sonames = sorted({m.soname for m in missing})
    if target.suite is None:
        wanted = ", ".join([*sonames, *by_hand])
        raise ImageCheckError(
            f"the app needs {wanted} from Debian, and the base names no Debian suite to take "
            "them from; use a pydistroless base"
        )
    releases = load_releases(ctx.archive, ctx.mirrors, target.suite)
    arch = target.arch.debian
    index = load_index(ctx.archive, releases, arch)
    have = base_packages(merged)
    chosen = _owners(sonames, releases, index, have, arch, ctx)
    unknown = [s for s in sonames if s not in chosen]
    if unknown:
        raise ImageCheckError(
            f"no Debian package of {target.suite} ships {', '.join(unknown)}, which the wheels "
            f"need ({_who(missing, unknown, owner_of)}); use a wheel that bundles it"
        )
    new = sorted({p for p in [*chosen.values(), *by_hand] if p not in have})
    roots = [Requirement.parse(p) for p in new]
    resolution = (
        resolve(index, roots, exclude=set(have), suites=[r.suite for r in releases])
        if new
        else None
    )
    records = list(resolution.packages) if resolution else []
    for package in sorted({p for p in chosen.values() if p in have}):
        record = next((r for r in index.candidates(package) if r.version == have[package]), None)
        if record is None:
            raise ImageCheckError(
                f"the wheels need a library of {package} {have[package]} that the base left out, "
                f"and {target.suite} no longer has that version; rebuild the base (or build the "
                "app on the default base)"
            )
        records.append(record)
    debs = ctx.debs([locked(r) for r in records])
    tree = unpack(debs)
    slicing.cut(tree)
    part = Tree()
    for deb in debs:
        if deb.name in have:
            _restore(tree, part, [s for s, p in chosen.items() if p == deb.name])
        else:
            for entry in tree.entries():
                if entry.origin == deb.name and entry.path not in merged:
                    part.add(entry)
    added = [d for d in debs if d.name not in have]
    for entry in part.entries():
        if entry.kind is not Kind.DIR or entry.path not in merged:
            merged.add(entry)
    # status.d lists only the files really in the image: written over the whole of it.
    add_status_d(merged, added)
    for deb in added:
        for suffix in ("", ".md5sums"):
            path = f"{STATUS_DIR}/{deb.name}{suffix}"
            part.add_file(path, merged.read(path) or b"")
    report = tuple(
        f"added {chosen[s]} for {_who(missing, [s], owner_of)} ({s})"
        if chosen[s] not in have
        else f"put back {s} of the base's {chosen[s]} for {_who(missing, [s], owner_of)}"
        for s in sonames
    ) + tuple(f"added {p} (--package)" for p in by_hand if p not in have)
    entries = [locked(r) for r in records if r.name not in have]
    documents = sbom_packages(ArchLock(arch, target.python, "", tuple(entries)), added)
    return Added(part, tuple(d.name for d in added), report, tuple(documents))


def with_ld_cache(merged: Tree, part: Tree, arch: str) -> None:
    """Regenerate ``ld.so.cache`` over ``merged`` (which holds ``part``) into ``part``."""
    cache = ldcache.generate_ld_so_cache(merged, arch)
    part.add_file("etc/ld.so.cache", cache)
    merged.add_file("etc/ld.so.cache", cache)


def _owners(
    sonames: Sequence[str],
    releases: Sequence[Release],
    index: PackageIndex,
    have: dict[str, str],
    arch: str,
    ctx: Store,
) -> dict[str, str]:
    """The package to take each soname from: one of the base's own packages that ships it,
    else its owner in the suite's ``Contents`` index. A mirror whose ``Contents`` does not
    match its signed Release gets Debian's library package naming (``libstdc++.so.6`` is in
    ``libstdc++6``) instead, each candidate's own file list deciding."""
    base = [
        r for name, version in have.items() for r in index.candidates(name) if r.version == version
    ]
    found = _shipped_by(sonames, base, arch, ctx)
    rest = [s for s in sonames if s not in found]
    if not rest:
        return found
    try:
        owners = contents.library_owners(releases, arch, ctx.fetcher, ctx.cache)
    except (IntegrityError, NetworkError) as exc:
        log(f"note: the archive's Contents index is not usable ({exc}); looking for each "
            "library in the package Debian's naming gives it")  # fmt: skip
        guesses = [r for s in rest for name in policy_names(s) for r in index.candidates(name)[:1]]
        found.update(_shipped_by(rest, guesses, arch, ctx))
        return found
    for soname in rest:
        candidates = [p for p in owners.get(soname, []) if index.candidates(p)]
        if candidates:
            found[soname] = sorted(candidates)[0]
    return found


def policy_names(soname: str) -> list[str]:
    """Debian's names for the package of a shared library (policy 8.1): ``libfoo.so.3`` ->
    ``libfoo3``, ``libfoo2.so.1`` -> ``libfoo2-1``, and the 64-bit-time twins (``t64``)."""
    match = re.fullmatch(r"(lib.+?)\.so\.([0-9][0-9.]*)", soname)
    if match is None:
        return []
    stem, version = match.group(1), match.group(2).split(".")[0]
    name = f"{stem}-{version}" if stem[-1].isdigit() else f"{stem}{version}"
    name = name.replace("_", "-").lower()
    return [name, f"{name}t64"]


def _shipped_by(
    sonames: Sequence[str], records: Sequence[PackageRecord], arch: str, ctx: Store
) -> dict[str, str]:
    """Which of ``records`` ships each soname in a library folder, by their own files."""
    if not records:
        return {}
    found: dict[str, str] = {}
    wanted = set(sonames)
    folders = set(elf.default_search_dirs(arch))
    for deb in ctx.debs([locked(r) for r in records]):
        for entry in deb.entries:
            folder, _, name = entry.path.rpartition("/")
            if name in wanted and folder in folders and name not in found:
                found[name] = deb.name
    return found


def _who(
    missing: Sequence[elf.MissingLibrary], sonames: Sequence[str], owner_of: dict[str, str]
) -> str:
    needing = sorted({owner_of.get(m.path, m.path) for m in missing if m.soname in sonames})
    return ", ".join(needing[:3]) + (" ..." if len(needing) > 3 else "")


def _restore(tree: Tree, part: Tree, sonames: Sequence[str]) -> None:
    """Copy each of ``sonames`` (and the links that name it) from ``tree`` into ``part``."""
    for entry in list(tree.entries()):
        name = entry.path.rsplit("/", 1)[-1]
        if name not in sonames:
            continue
        real = tree.resolve(entry.path)
        if entry.kind is Kind.SYMLINK and real is not None:
            target = tree.get(real)
            if target is not None:
                part.add(target)
        part.add(entry)
