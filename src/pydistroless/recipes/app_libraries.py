"""Shared libraries an app's files need and the base lacks, found in Debian, not guessed.

A manylinux wheel expects the system to have some libraries (libstdc++, glibc's libdl and
libpthread stubs, ...); others wheels simply assume; an sdist compiled against libpq needs
libpq. After the install, every soname that neither a wheel nor the base provides is looked
up in the ``Contents`` index of the base's suite. Its package and that package's
dependencies, less what the base has, are added, with their ``status.d`` records, and the
image gets a new ``ld.so.cache`` that lists them. A library the base's own package ships but
the base left out (it was unused there, as glibc's compatibility stubs are) is put back from
that very package version.

This runs to a fixed point: what is added is checked in turn, so a library that an added
package needs and the base slimmed away (libkrb5's ``libresolv.so.2``) is put back too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydistroless.core.errors import ImageCheckError, NetworkError
from pydistroless.core.report import log
from pydistroless.debian import contents
from pydistroless.debian.archive import Release
from pydistroless.debian.deb import DebPackage
from pydistroless.debian.index import PackageIndex, PackageRecord
from pydistroless.debian.resolve import Requirement, resolve
from pydistroless.debian.rootfs import unpack
from pydistroless.debian.status import STATUS_DIR, add_status_d
from pydistroless.debian.store import LockedPackage, Store, load_index, load_releases, locked
from pydistroless.fs import elf, ldcache, slicing
from pydistroless.fs.tree import Kind, Tree
from pydistroless.recipes.assemble import sbom_packages
from pydistroless.recipes.lock import ArchLock
from pydistroless.recipes.sbom import SbomPackage


@dataclass(frozen=True)
class Added:
    """What the step put into the image: a tree of files, and why."""

    tree: Tree
    packages: tuple[str, ...]  # new Debian packages
    report: tuple[str, ...]  # "added libstdc++6 for pandas (libstdc++.so.6)"
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


def missing(
    merged: Tree,
    owner_of: Mapping[str, str],
    arch: str,
    elves: Mapping[str, elf.ElfInfo] | None = None,
) -> list[elf.MissingLibrary]:
    """What the files of ``owner_of`` (and what they load) need and the loader would not
    find in ``merged`` (whose ELF files are ``elves``, when already scanned)."""
    if not owner_of:
        return []
    dirs = ldcache.cache_directories(merged, arch)
    return elf.missing_libraries(merged, arch, only=list(owner_of), extra_dirs=dirs, elves=elves)


def complete(
    merged: Tree,
    owner_of: Mapping[str, str],
    arch: str,
    suite: str | None,
    ctx: Store,
    *,
    by_hand: Sequence[str] = (),
    elves: Mapping[str, elf.ElfInfo] | None = None,
) -> Added | None:
    """The files that give ``merged`` (the base and what is installed on it) every library
    that the ELF files of ``owner_of`` (path -> the distribution it belongs to, for the
    report) need, and the packages ``by_hand``; None if nothing is missing. The files added
    are checked in turn, until nothing is missing; ``merged`` gets them all, and a new
    ``ld.so.cache``. ``arch`` and ``suite`` are the image's Debian architecture and suite
    (None: it names none, and nothing can be added). ``elves`` is ``merged``'s ELF scan when
    the caller has made it already."""
    needing = dict(owner_of)
    # Scanned once: each round adds its own files' facts (reading every ELF file of a base
    # and its wheels again, round after round, was most of this step's time).
    elves = dict(elves) if elves is not None else elf.scan(merged)
    lacking = missing(merged, needing, arch, elves)
    if not lacking and not by_hand:
        return None
    if suite is None:
        wanted = ", ".join([*sorted({m.soname for m in lacking}), *by_hand])
        raise ImageCheckError(
            f"the app needs {wanted} from Debian, and the base names no Debian suite to take "
            "them from; use a pydistroless base"
        )
    releases = load_releases(ctx.archive, ctx.mirrors, suite)
    index = load_index(ctx.archive, releases, arch)
    original = base_packages(merged)
    part = Tree()
    touched: dict[str, DebPackage] = {}
    report: list[str] = []
    tried: dict[str, str] = {}  # soname -> the package taken for it
    new: list[LockedPackage] = []
    asked = list(by_hand)
    while lacking or asked:
        stuck = [m for m in lacking if m.soname in tried]
        if stuck:
            first = stuck[0]
            raise ImageCheckError(
                f"{first.path} needs {first.soname}, and {tried[first.soname]} was added for "
                "it, yet the loader does not find it there; this image cannot load that file"
            )
        step = _one_round(merged, lacking, asked, needing, releases, index, arch, ctx)
        tried.update(step.chosen)
        report += step.report
        new += step.new
        for deb in step.debs:
            touched[deb.name] = deb
        for entry in step.tree.entries():
            if entry.kind is not Kind.DIR or entry.path not in merged:
                merged.add(entry)
                part.add(entry)
        added_elves = elf.scan(step.tree)
        elves.update(added_elves)
        for path in added_elves:
            entry = step.tree.get(path)
            needing[path] = (entry.origin if entry is not None else None) or "?"
        asked = []
        lacking = missing(merged, needing, arch, elves)
    # status.d lists only the files really in the image: written over the whole of it, for
    # the new packages and for the base's whose files were put back.
    add_status_d(merged, touched.values())
    for name in touched:
        for suffix in ("", ".md5sums"):
            path = f"{STATUS_DIR}/{name}{suffix}"
            part.add_file(path, merged.read(path) or b"")
    with_ld_cache(merged, part, arch, elves)
    added = [d for d in touched.values() if d.name not in original]
    documents = sbom_packages(ArchLock(arch, "", "", tuple(new)), added)
    return Added(part, tuple(sorted(d.name for d in added)), tuple(report), tuple(documents))


@dataclass(frozen=True)
class _Round:
    tree: Tree  # the files this round adds
    debs: tuple[DebPackage, ...]  # the packages they come from (new ones, and the base's)
    new: tuple[LockedPackage, ...]  # the new packages, for the SBOM
    chosen: Mapping[str, str]  # soname -> package
    report: tuple[str, ...]


def _one_round(
    merged: Tree,
    lacking: Sequence[elf.MissingLibrary],
    asked: Sequence[str],
    owner_of: Mapping[str, str],
    releases: Sequence[Release],
    index: PackageIndex,
    arch: str,
    ctx: Store,
) -> _Round:
    """The packages (new ones, or the base's own, whose left-out files are put back) that
    give ``lacking`` its sonames, and the ``asked`` packages, as files not yet in ``merged``."""
    suite = releases[0].suite
    have = base_packages(merged)
    sonames = sorted({m.soname for m in lacking})
    chosen = _owners(sonames, releases, index, have, arch, ctx)
    unknown = [s for s in sonames if s not in chosen]
    if unknown:
        raise ImageCheckError(
            f"no Debian package of {suite} ships {', '.join(unknown)}, which "
            f"{_who(lacking, unknown, owner_of)} needs; use a wheel that bundles it"
        )
    new = sorted({p for p in [*chosen.values(), *asked] if p not in have})
    resolution = (
        resolve(index, [Requirement.parse(p) for p in new], exclude=set(have),
                suites=[r.suite for r in releases])
        if new
        else None
    )  # fmt: skip
    records = list(resolution.packages) if resolution else []
    restored = [
        _base_record(p, have[p], index, suite) for p in sorted(set(chosen.values()) & set(have))
    ]
    debs = ctx.debs([locked(r) for r in [*records, *restored]])
    tree = unpack(debs)
    slicing.cut(tree)
    files = Tree()
    for deb in debs:
        if deb.name in have:
            _restore(tree, files, [s for s, p in chosen.items() if p == deb.name])
        else:
            for entry in tree.entries():
                if entry.origin == deb.name and entry.path not in merged:
                    files.add(entry)
    by_package: dict[str, list[str]] = {}
    for soname in sonames:
        by_package.setdefault(chosen[soname], []).append(soname)
    report = tuple(
        f"added {package} for {_who(lacking, found, owner_of)} ({', '.join(found)})"
        if package not in have
        else f"put back {', '.join(found)} of the base's {package} for "
        f"{_who(lacking, found, owner_of)}"
        for package, found in by_package.items()
    ) + tuple(f"added {p} (--package)" for p in asked if p not in have)
    return _Round(files, tuple(debs), tuple(locked(r) for r in records), chosen, report)


def _base_record(package: str, version: str, index: PackageIndex, suite: str) -> PackageRecord:
    record = next((r for r in index.candidates(package) if r.version == version), None)
    if record is None:
        raise ImageCheckError(
            f"the app needs a library of {package} {version} that the base left out, and "
            f"{suite} no longer has that version; rebuild the base (or build the app "
            "on the default base)"
        )
    return record


def with_ld_cache(
    merged: Tree, part: Tree, arch: str, elves: Mapping[str, elf.ElfInfo] | None = None
) -> None:
    """Regenerate ``ld.so.cache`` over ``merged`` (which holds ``part``) into ``part``."""
    cache = ldcache.generate_ld_so_cache(merged, arch, elves=elves)
    part.add_file("etc/ld.so.cache", cache)
    merged.add_file("etc/ld.so.cache", cache)


def _owners(
    sonames: Sequence[str],
    releases: Sequence[Release],
    index: PackageIndex,
    have: Mapping[str, str],
    arch: str,
    ctx: Store,
) -> dict[str, str]:
    """The package to take each soname from: one of the base's own packages that ships it,
    else its owner in the suite's signed ``Contents`` index. Where the mirror's ``Contents``
    is not the one its Release signs, the packages it names are hints, each taken only if its
    own verified ``.deb`` holds the library; Debian's library package naming
    (``libstdc++.so.6`` is in ``libstdc++6``) comes last, checked the same way."""
    base = [
        r for name, version in have.items() for r in index.candidates(name) if r.version == version
    ]
    found = _shipped_by(sonames, base, arch, ctx)
    rest = [s for s in sonames if s not in found]
    if not rest:
        return found
    try:
        owners = contents.library_owners(releases, arch, ctx.fetcher, ctx.cache)
    except NetworkError as exc:
        log(f"note: no Contents index of {releases[0].suite} could be read ({exc}); looking "
            "for each library in the package Debian's naming gives it")  # fmt: skip
        owners = contents.LibraryOwners({}, verified=False)
    for soname in rest:
        candidates = sorted(p for p in owners.packages.get(soname, []) if index.candidates(p))
        if candidates and owners.verified:
            found[soname] = candidates[0]
        elif candidates:
            hinted = [index.candidates(p)[0] for p in candidates]
            found.update(_shipped_by([soname], hinted, arch, ctx))
    rest = [s for s in rest if s not in found]
    guesses = [r for s in rest for name in policy_names(s) for r in index.candidates(name)[:1]]
    found.update(_shipped_by(rest, guesses, arch, ctx))
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
    found: dict[str, str] = {}
    wanted = set(sonames)
    for record, names in zip(records, _libraries_of(records, arch, ctx), strict=True):
        for name in sorted((wanted & names) - found.keys()):
            found[name] = record.name
    return found


def _libraries_of(records: Sequence[PackageRecord], arch: str, ctx: Store) -> list[set[str]]:
    """The file names each package has in the loader's folders. Kept in the cache under the
    package's SHA256: the base's packages are asked about on every app build."""
    known: dict[str, set[str]] = {}
    for record in records:
        cached = ctx.cache.get_checked_record(_names_record, _LIBRARY_NAMES, record.sha256, arch)
        if cached is not None:
            known[record.sha256] = cached
    todo = [r for r in records if r.sha256 not in known]
    folders = set(elf.default_search_dirs(arch))
    for record, deb in zip(todo, ctx.debs([locked(r) for r in todo]), strict=True):
        names = {
            name
            for entry in deb.entries
            for folder, _, name in [entry.path.rpartition("/")]
            if folder in folders and name
        }
        ctx.cache.put_checked_record(sorted(names), _LIBRARY_NAMES, record.sha256, arch)
        known[record.sha256] = names
    return [known[r.sha256] for r in records]


_LIBRARY_NAMES = "deb-library-names"


def _names_record(body: object) -> set[str]:
    if not isinstance(body, list) or not all(isinstance(n, str) for n in body):
        raise ValueError("not a list of file names")
    return set(body)


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
