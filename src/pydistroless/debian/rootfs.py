"""A root file system from ``.deb`` packages, and only the library packages its programs load.

:func:`unpack` lays packages out on a merged-/usr tree.

Debian's ``Depends`` say what a package may need in some configuration: Python's stdlib
package depends on libraries for modules that no longer exist (``crypt``, ``nis``), and so
on. The ELF files know better. A *library package* is one that ships a shared object with a
SONAME; every other package of the closure is a *program package* (interpreters, extension
modules, data). The program packages' ELF files are the roots; a library package stays only
if the dynamic loader would map one of its files for them (transitively), or if it is loaded
with ``dlopen`` by a package that stays (:data:`DLOPENED`), which no ELF header shows.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydistroless.debian.deb import DebPackage, install
from pydistroless.fs import generate, slicing
from pydistroless.fs.elf import ElfInfo, ElfReader, multiarch_triplet, needed_closure, scan
from pydistroless.fs.tree import Kind, Tree

# Libraries loaded with dlopen() by a package that stays. glibc loads libgcc_s for thread
# cancellation and backtraces: Debian's libc6 depends on libgcc-s1 for exactly that.
DLOPENED = {"libc6": ("libgcc-s1",)}


@dataclass(frozen=True)
class LibraryUse:
    libraries: frozenset[str]  # packages that ship a shared object with a SONAME
    needed: frozenset[str]  # library packages the program packages load, transitively


def library_use(
    debs: Sequence[DebPackage],
    arch: str,
    *,
    protected: Iterable[str] = (),
    keep: Iterable[str] = (),
    reader: ElfReader | None = None,
) -> LibraryUse:
    """Which library packages the program packages of ``debs`` (and ``protected`` ones, asked
    for by name) load. Files in the slices the image will not have (all but ``keep``) are
    no reason to keep a library: glibc's iconv modules, the stdlib's test modules."""
    tree = unpack(debs)
    slicing.cut(tree, keep)
    elves = scan(tree, reader)
    origin = {path: tree.get(path).origin for path in elves}  # type: ignore[union-attr]
    libraries = {origin[p] for p, info in elves.items() if info.soname}
    programs = set(protected) | {d.name for d in debs if d.name not in libraries}
    roots = [p for p in elves if origin[p] in programs]
    needed: set[str] = set()
    for real in needed_closure(tree, arch, roots, elves=elves).values():
        owner = tree.get(real)
        if owner is not None and owner.origin in libraries:
            needed.add(owner.origin)
    for name in programs | needed:
        needed.update(n for n in DLOPENED.get(name, ()) if n in libraries)
    return LibraryUse(frozenset(libraries), frozenset(needed))


def reachable(
    roots: Iterable[str], depends: Mapping[str, Iterable[str]], use: LibraryUse
) -> set[str]:
    """Packages reachable from ``roots`` along dependencies, entering a library package only
    if it is needed: a package that only an unneeded library depended on goes with it."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for dep in depends.get(name, ()):
            if dep in use.libraries and dep not in use.needed:
                continue
            todo.append(dep)
    return seen


# Files loaded with dlopen() by name, which no DT_NEEDED shows (see DLOPENED).
DLOPENED_FILES = ("libgcc_s.so.1",)


def unused_libraries(
    tree: Tree,
    arch: str,
    *,
    elves: Mapping[str, ElfInfo] | None = None,
    asked: Iterable[str] = (),
) -> list[str]:
    """Shared libraries in the library directories that no program, module or library of
    the image loads: what a package ships besides the library the image needs (libc6's
    libmvec and libnsl, libexpat's wide-character twin, ...). Returned with the symlinks that
    name them, ready to be removed. The libraries of the packages ``asked`` for by name are
    what the user wants in the image: they are used by definition."""
    elves = scan(tree) if elves is None else elves
    libdirs = {f"usr/lib/{multiarch_triplet(arch)}", "usr/lib"}
    wanted = set(asked)
    origin = {p: e.origin for p in elves if (e := tree.get(p)) is not None}
    libraries = {
        p
        for p, info in elves.items()
        if info.soname and posixpath.dirname(p) in libdirs and origin.get(p) not in wanted
    }
    roots = [p for p in elves if p not in libraries]
    used = set(needed_closure(tree, arch, roots, elves=elves).values())
    unused = {
        p
        for p in libraries - used
        if posixpath.basename(p) not in DLOPENED_FILES
        and not any(posixpath.basename(p).startswith(f) for f in DLOPENED_FILES)
    }
    links = [
        e.path for e in tree.entries() if e.kind is Kind.SYMLINK and tree.resolve(e.path) in unused
    ]
    return sorted(unused | set(links))


def unpack(debs: Sequence[DebPackage]) -> Tree:
    """The packages' files, in name order, on a merged-/usr tree."""
    tree = Tree()
    generate.add_merged_usr_links(tree, (e for d in debs for e in d.entries))
    for deb in sorted(debs, key=lambda d: d.name):
        install(tree, deb)
    return tree
