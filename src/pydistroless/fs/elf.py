"""ELF facts about an image's files, and the shared-library search glibc's ``ld.so`` does.

A distroless image has no package manager to vouch for it, so the build checks what the
dynamic loader will do when the container starts: every ``DT_NEEDED`` name of every program
and library must be found inside the image, the way glibc's ``ld.so`` looks for it. The same
search answers a second question, which libraries a set of programs really loads, so the
image can be cut down to the packages that provide them.

The search follows glibc's ``_dl_map_object`` (``elf/dl-load.c``) as Debian builds it:

1. ``DT_RPATH`` of the loading object, then of the object that loaded it and so on up, then
   of the main program, but only when the loading object has no ``DT_RUNPATH`` (an object
   with both has its ``DT_RPATH`` ignored);
2. ``LD_LIBRARY_PATH``: not considered, the image cannot know the environment it runs in;
3. ``DT_RUNPATH`` of the loading object;
4. ``/etc/ld.so.cache``: modelled by the caller's ``extra_dirs``, the directories the cache
   covers beyond the defaults (see :func:`pydistroless.fs.ldcache.cache_directories`);
5. the default directories, which Debian's multiarch loader sets to ``/lib/<triplet>``,
   ``/usr/lib/<triplet>``, ``/lib`` and ``/usr/lib`` (no ``lib64``: ``ld.so --help`` lists
   exactly these four).

``$ORIGIN`` expands to the directory the object was found in, ``$LIB`` to ``lib/<triplet>``
(Debian's loader is patched so), and an element using ``$PLATFORM`` is skipped: its value
depends on the CPU the container will run on. A candidate file of another machine, class,
byte order or float ABI is skipped as ``ld.so`` skips it, and a name an object already loaded
answers to (its ``DT_SONAME`` or a name it was found under) is not searched again.

Deliberately left out: ``glibc-hwcaps`` and legacy hwcap subdirectories (optional faster
copies; the baseline copy must exist anyway), ``DF_1_NODEFLIB``, ``LD_PRELOAD`` and
``dlopen`` calls made by code at run time.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile
from elftools.elf.notes import iter_notes
from elftools.elf.segments import InterpSegment

from pydistroless.core.arch import Arch, architecture
from pydistroless.core.errors import ImageCheckError
from pydistroless.fs.tree import Kind, Tree, canonical

ELF_MAGIC = b"\x7fELF"

# DT_FLAGS_1 bit set by linkers on position-independent executables.
_DF_1_PIE = 0x08000000


# Why a file that starts like ELF can still be unreadable to pyelftools; such a file is no
# library ld.so could load either.
_PARSE_ERRORS = (ELFError, ValueError, LookupError, EOFError, OverflowError, AssertionError)


# ---- architectures -------------------------------------------------------------------------


def multiarch_triplet(debian_arch: str) -> str:
    """The Debian multiarch triplet, e.g. ``x86_64-linux-gnu`` for ``amd64``."""
    return architecture(debian_arch).triplet


def default_search_dirs(debian_arch: str) -> tuple[str, ...]:
    """The directories Debian's ``ld.so`` searches last, in order, as image paths."""
    triplet = multiarch_triplet(debian_arch)
    return (f"lib/{triplet}", f"usr/lib/{triplet}", "lib", "usr/lib")


# ---- reading ELF files -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ElfInfo:
    """What the loader and ``ldconfig`` care about in one ELF file.

    ``runpath`` holds the ``DT_RUNPATH`` elements, or the ``DT_RPATH`` ones when there is no
    ``DT_RUNPATH`` (glibc ignores ``DT_RPATH`` beside a ``DT_RUNPATH``); ``runpath_tag``
    says which (``"DT_RUNPATH"``, ``"DT_RPATH"`` or None). Empty elements are dropped: they
    would mean the working directory, which nothing in the image determines.

    ``is_shared_object`` is true for ``ET_DYN`` files that are not marked as
    position-independent executables (``libc.so.6`` is one, though it can also be run);
    ``is_executable`` for ``ET_EXEC`` files and PIEs. ``isa_level`` is the x86 ISA level
    the file declares it needs (0 elsewhere); ``ldconfig`` records it for libraries in
    ``glibc-hwcaps`` directories.
    """

    path: str
    machine: str
    elf_class: int
    little_endian: bool
    elf_type: str
    flags: int
    soname: str | None = None
    needed: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    runpath_tag: str | None = None
    interpreter: str | None = None
    has_dynamic: bool = False
    is_shared_object: bool = False
    is_executable: bool = False
    isa_level: int = 0


def read_elf(path: str, data: bytes) -> ElfInfo | None:
    """Read the loader-relevant facts of ``data`` (the content of the file at ``path``).

    Returns None for anything that is not ELF, and also for a file that starts like ELF but
    cannot be parsed: ``ld.so`` could not load it either, so a library that something needs
    and that is broken shows up as missing (with the broken file named), while stray test
    fixtures that packages ship do not stop a build.
    """
    if data[:4] != ELF_MAGIC:
        return None
    try:
        return _parse(path, data)
    except _PARSE_ERRORS:
        return None


class ElfReader:
    """:func:`read_elf` with each content parsed once while the reader lives. The same file
    is read by several stages of a build (package pruning, the library check, the loader
    cache) and often in several of its images: the build owns one reader and hands it to
    them."""

    def __init__(self) -> None:
        self._parsed: dict[bytes, ElfInfo | None] = {}

    def read(self, path: str, data: bytes) -> ElfInfo | None:
        if data[:4] != ELF_MAGIC:
            return None
        key = hashlib.sha256(data).digest()
        if key not in self._parsed:
            self._parsed[key] = read_elf(path, data)
        known = self._parsed[key]
        if known is None:
            return None
        return known if known.path == path else replace(known, path=path)


def _parse(path: str, data: bytes) -> ElfInfo:
    elf = ELFFile(io.BytesIO(data))
    header = elf.header
    needed: list[str] = []
    runpath: list[str] = []
    rpath: list[str] = []
    soname = interpreter = None
    has_dynamic = pie = False
    isa_level = 0
    for segment in elf.iter_segments():
        kind = segment["p_type"]
        if isinstance(segment, InterpSegment):
            interpreter = segment.get_interp_name()
        elif isinstance(segment, DynamicSegment) and segment["p_filesz"] > 0:
            if _is_detached_debug_info(path, data, segment):
                continue
            has_dynamic = True
            for tag in segment.iter_tags():
                name = tag.entry.d_tag
                if name == "DT_NEEDED":
                    needed.append(tag.needed)
                elif name == "DT_SONAME":
                    soname = tag.soname
                elif name == "DT_RUNPATH":
                    runpath.extend(tag.runpath.split(":"))
                elif name == "DT_RPATH":
                    rpath.extend(tag.rpath.split(":"))
                elif name == "DT_FLAGS_1":
                    pie = bool(tag.entry.d_val & _DF_1_PIE)
        elif kind == "PT_GNU_PROPERTY" and header.e_machine in ("EM_X86_64", "EM_386"):
            isa_level = _x86_isa_level(elf, segment)
    elf_type = header.e_type
    # Older linkers did not set DF_1_PIE; an ET_DYN with an interpreter and no SONAME is
    # how such PIEs look (libc.so.6 has an interpreter too, but also a SONAME).
    pie = pie or (elf_type == "ET_DYN" and interpreter is not None and soname is None)
    if runpath:
        search, tag_name = runpath, "DT_RUNPATH"
    elif rpath:
        search, tag_name = rpath, "DT_RPATH"
    else:
        search, tag_name = [], None
    return ElfInfo(
        path=path,
        machine=str(header.e_machine),
        elf_class=elf.elfclass,
        little_endian=elf.little_endian,
        elf_type=str(elf_type),
        flags=header.e_flags,
        soname=soname,
        needed=tuple(needed),
        runpath=tuple(p for p in search if p),
        runpath_tag=tag_name,
        interpreter=interpreter,
        has_dynamic=has_dynamic,
        is_shared_object=elf_type == "ET_DYN" and not pie,
        is_executable=elf_type == "ET_EXEC" or pie,
        isa_level=isa_level,
    )


def _is_detached_debug_info(path: str, data: bytes, dynamic: DynamicSegment) -> bool:
    """A separate debug file keeps the program headers but not the contents they describe,
    so reading tags there would yield garbage. Such files live under ``/usr/lib/debug``, or
    betray themselves by a dynamic segment past their end. (Looking the ``.dynamic`` section
    up by name would say so too, but costs a parse of every section header of every file.)"""
    if path.startswith("usr/lib/debug/"):
        return True
    return dynamic["p_offset"] + dynamic["p_filesz"] > len(data)


def _x86_isa_level(elf: ELFFile, segment) -> int:
    """The ISA level from ``GNU_PROPERTY_X86_ISA_1_NEEDED``, the way ``ldconfig`` computes it
    (index of the highest bit set). ``ldconfig`` reads only a properly aligned segment."""
    if segment["p_align"] != elf.elfclass // 8:
        return 0
    for note in iter_notes(elf, segment["p_offset"], segment["p_filesz"]):
        if note["n_type"] != "NT_GNU_PROPERTY_TYPE_0" or note["n_name"] != "GNU":
            continue
        for prop in note["n_desc"]:
            if prop.pr_type == "GNU_PROPERTY_X86_ISA_1_NEEDED" and prop.pr_datasz == 4:
                return int(prop.pr_data).bit_length() - 1 if prop.pr_data else 0
        return 0
    return 0


def scan(tree: Tree, reader: ElfReader | None = None) -> dict[str, ElfInfo]:
    """Every ELF file of ``tree`` by canonical path, hard links included (they share the
    facts of the file they link to; each file's content is parsed once, and once per
    ``reader`` when one is given)."""
    read = (reader or ElfReader()).read
    found: dict[str, ElfInfo] = {}
    links = []
    for entry in tree.entries():
        if entry.kind is Kind.FILE:
            info = read(entry.path, entry.data)
            if info is not None:
                found[entry.path] = info
        elif entry.kind is Kind.HARDLINK:
            links.append(entry)
    for entry in links:
        info = found.get(entry.target)
        if info is not None:
            found[entry.path] = replace(info, path=entry.path)
    return found


# ---- the loader's search -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MissingLibrary:
    """``path`` (an ELF file of the image) needs ``soname``, and the loader would not find a
    loadable copy. ``rejected`` lists files found under that name that the loader would skip
    (another architecture, or not a valid ELF shared object)."""

    path: str
    soname: str
    rejected: tuple[str, ...] = ()


@dataclass(eq=False)
class _Loaded:
    """One object of an emulated process: ``name`` is the path the loader opened (links not
    followed, as ``$ORIGIN`` is computed from it), ``real`` the file behind it."""

    name: str
    real: str
    info: ElfInfo
    origin: str
    loader: _Loaded | None = None


@dataclass
class _Closure:
    loaded: dict[str, str] = field(default_factory=dict)
    missing: list[MissingLibrary] = field(default_factory=list)


_DST = re.compile(r"\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))")


class _Loader:
    """Emulates ``ld.so`` loading the dependencies of one program after another."""

    def __init__(
        self, tree: Tree, elves: Mapping[str, ElfInfo], arch: Arch, extra_dirs: Sequence[str]
    ) -> None:
        self.tree = tree
        self.elves = elves
        self.arch = arch
        self.tail_dirs = tuple(_as_image_dir(d) for d in extra_dirs) + default_search_dirs(
            arch.debian
        )
        # candidate path -> (real path, info) when loadable, (real path, None) when present
        # but not loadable, (None, None) when absent.
        self._probes: dict[str, tuple[str | None, ElfInfo | None]] = {}

    def root(self, path: str) -> _Loaded:
        given = canonical(path.lstrip("/"))  # "/usr/bin/python3" as the container sees it
        real = self.tree.resolve(given)
        info = self.elves.get(real) if real is not None else None
        if info is None:
            what = "not in the image" if real is None or real not in self.tree else "not ELF"
            raise ImageCheckError(f"cannot check the libraries of {given}: it is {what}")
        if not self.arch.accepts(info):
            raise ImageCheckError(
                f"{given} is a {info.machine} {info.elf_class}-bit file, which the "
                f"{self.arch.description} loader cannot load"
            )
        # The kernel tells ld.so where the main program really is (/proc/self/exe), while a
        # library's $ORIGIN is the directory it was opened from, links not followed.
        origin = posixpath.dirname(real if info.is_executable else given)
        return _Loaded(given, real, info, origin)

    def closure(self, root: _Loaded) -> _Closure:
        """Load ``root`` and, breadth first as ``_dl_map_object_deps`` does, what it needs."""
        result = _Closure()
        by_name: dict[str, _Loaded] = {}
        by_real: dict[str, _Loaded] = {root.real: root}
        self._register(by_name, root, root.name)
        interp = root.info.interpreter
        if root.info.is_executable and interp:
            found = self._probe(_as_image_dir(interp))
            if found[1] is None:
                result.missing.append(_missing(root, interp, found[0]))
            else:
                real, info = found
                rtld = by_real.setdefault(
                    real, _Loaded(_as_image_dir(interp), real, info, posixpath.dirname(real))
                )
                self._register(by_name, rtld, interp)
                result.loaded[info.soname or posixpath.basename(interp)] = real
        queue = [root]
        while queue:
            obj = queue.pop(0)
            for name in obj.info.needed:
                dep = by_name.get(name)
                if dep is None:
                    dep, rejected = self._search(name, obj, root)
                    if dep is None:
                        result.missing.append(MissingLibrary(obj.real, name, rejected))
                        continue
                    if dep.real in by_real:  # the same file under another name
                        dep = by_real[dep.real]
                    else:
                        by_real[dep.real] = dep
                        queue.append(dep)
                    self._register(by_name, dep, name)
                if dep is not root:
                    result.loaded.setdefault(name, dep.real)
        return result

    @staticmethod
    def _register(by_name: dict[str, _Loaded], obj: _Loaded, name: str) -> None:
        by_name.setdefault(name, obj)
        if obj.info.soname:
            by_name.setdefault(obj.info.soname, obj)

    def _search(
        self, name: str, loader: _Loaded, main: _Loaded
    ) -> tuple[_Loaded | None, tuple[str, ...]]:
        if "/" in name:
            # A NEEDED entry with a slash is opened as a path, not searched for; a relative
            # one would be relative to the working directory, taken here as the image root.
            expanded = self._expand(name, loader)
            candidates = [_as_image_dir(expanded)] if expanded is not None else []
        else:
            candidates = [f"{d}/{name}" if d else name for d in self._search_dirs(loader, main)]
        rejected: list[str] = []
        for candidate in candidates:
            real, info = self._probe(candidate)
            if info is not None and real is not None:
                return _Loaded(candidate, real, info, posixpath.dirname(candidate), loader), ()
            if real is not None and real not in rejected:
                rejected.append(real)
        return None, tuple(rejected)

    def _search_dirs(self, loader: _Loaded, main: _Loaded) -> list[str]:
        dirs: list[str] = []
        if loader.info.runpath_tag != "DT_RUNPATH":
            obj: _Loaded | None = loader
            did_main = False
            while obj is not None:
                if obj.info.runpath_tag == "DT_RPATH":
                    dirs.extend(self._expand_path(obj))
                    did_main |= obj is main
                obj = obj.loader
            if not did_main and main.info.runpath_tag == "DT_RPATH":
                dirs.extend(self._expand_path(main))
        else:
            dirs.extend(self._expand_path(loader))
        dirs.extend(self.tail_dirs)
        return dirs

    def _expand_path(self, obj: _Loaded) -> list[str]:
        out = []
        for element in obj.info.runpath:
            expanded = self._expand(element, obj)
            # After expansion only absolute directories are meaningful; a relative one
            # names the working directory of a process the image cannot know.
            if expanded is not None and expanded.startswith("/"):
                out.append(_as_image_dir(expanded))
        return out

    def _expand(self, text: str, obj: _Loaded) -> str | None:
        unresolvable = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal unresolvable
            token = match.group(1) or match.group(2)
            if token == "ORIGIN":
                return "/" + obj.origin
            if token == "LIB":
                return f"lib/{self.arch.triplet}"
            unresolvable = True  # $PLATFORM depends on the CPU the image will run on
            return ""

        expanded = _DST.sub(substitute, text)
        return None if unresolvable else expanded

    def _probe(self, candidate: str) -> tuple[str | None, ElfInfo | None]:
        cached = self._probes.get(candidate)
        if cached is not None:
            return cached
        real = self.tree.resolve(candidate)
        entry = self.tree.get(real) if real is not None else None
        if entry is None or entry.kind not in (Kind.FILE, Kind.HARDLINK):
            result: tuple[str | None, ElfInfo | None] = (None, None)
        else:
            info = self.elves.get(entry.path)
            loadable = (
                info is not None
                and info.elf_type == "ET_DYN"
                and info.has_dynamic
                and self.arch.accepts(info)
            )
            result = (entry.path, info if loadable else None)
        self._probes[candidate] = result
        return result


def _as_image_dir(path: str) -> str:
    """An absolute container path as an image path; ``..`` parts stay for ``Tree.resolve``
    to walk the way the kernel does (after following the links before them)."""
    return "/".join(p for p in path.split("/") if p not in ("", "."))


def _missing(obj: _Loaded, name: str, rejected_real: str | None) -> MissingLibrary:
    return MissingLibrary(obj.real, name, (rejected_real,) if rejected_real else ())


def _closures(loader: _Loader, only: Iterable[str] | None) -> list[_Closure]:
    if only is not None:
        return [loader.closure(loader.root(p)) for p in only]
    # Check each object in the context it is loaded in: a library's dependencies may be
    # found through the RPATH of what loads it, or because that already loaded them (as
    # auditwheel-repaired wheels rely on). Entry points are the executables and the objects
    # nothing else names in DT_NEEDED (extension modules, plugins); whatever their closures
    # do not reach (a library whose users fail to find it, a cycle) is checked on its own.
    # Files for other machines (test data some packages ship) are nothing ld.so would load.
    objects = [
        path
        for path, info in sorted(loader.elves.items())
        if info.has_dynamic and info.elf_type in ("ET_DYN", "ET_EXEC") and loader.arch.accepts(info)
    ]
    referenced = {name for path in objects for name in loader.elves[path].needed}

    def is_entry(path: str) -> bool:
        info = loader.elves[path]
        names = {posixpath.basename(path), info.soname}
        return info.is_executable or not names & referenced

    closures = []
    reached: set[str] = set()
    for path in [p for p in objects if is_entry(p)]:
        closure = loader.closure(loader.root(path))
        closures.append(closure)
        reached.add(path)
        reached.update(closure.loaded.values())
    for path in objects:
        if path not in reached:
            closure = loader.closure(loader.root(path))
            closures.append(closure)
            reached.update(closure.loaded.values())
    return closures


def missing_libraries(
    tree: Tree,
    debian_arch: str,
    *,
    only: Iterable[str] | None = None,
    extra_dirs: Sequence[str] = (),
    elves: Mapping[str, ElfInfo] | None = None,
) -> list[MissingLibrary]:
    """Every needed library the loader would not find, sorted by needing path and name.

    Without ``only``, every dynamically linked ELF object of the architecture is checked:
    programs and objects no other one needs (extension modules, plugins) as the start of
    a load, libraries in the context of what loads them. With ``only``, just those paths
    (programs, or shared objects such as Python extension modules) and, transitively, what
    they load. ``extra_dirs`` are the directories an ``/etc/ld.so.cache`` in the image
    covers beyond the defaults. ``elves`` reuses an earlier :func:`scan` of ``tree``.
    """
    loader = _Loader(
        tree, scan(tree) if elves is None else elves, architecture(debian_arch), extra_dirs
    )
    found: dict[tuple[str, str], MissingLibrary] = {}
    for closure in _closures(loader, only):
        for item in closure.missing:
            found.setdefault((item.path, item.soname), item)
    return [found[key] for key in sorted(found)]


def check_libraries(
    tree: Tree,
    debian_arch: str,
    *,
    only: Iterable[str] | None = None,
    extra_dirs: Sequence[str] = (),
    elves: Mapping[str, ElfInfo] | None = None,
) -> None:
    """Raise :class:`ImageCheckError` if :func:`missing_libraries` finds anything."""
    missing = missing_libraries(tree, debian_arch, only=only, extra_dirs=extra_dirs, elves=elves)
    if missing:
        raise ImageCheckError(describe_missing(missing, architecture(debian_arch)))


_SHOWN_LIBRARIES = 3
_SHOWN_USERS = 2


def describe_missing(missing: Sequence[MissingLibrary], arch: Arch) -> str:
    """One line for the user: what is missing, for whom, and what to do."""
    if len(missing) == 1:
        item = missing[0]
        if item.rejected:
            return (
                f"{item.path} needs {item.soname}, but {item.rejected[0]} is not a shared "
                f"library the {arch.description} loader can use; add the package that "
                "provides it for this architecture with --package"
            )
        return (
            f"{item.path} needs {item.soname}, which is not in the image; "
            "add the package that provides it with --package"
        )
    users: dict[str, list[str]] = {}
    for item in missing:
        users.setdefault(item.soname, []).append(item.path)
    if len(users) == 1:
        soname, paths = next(iter(users.items()))
        return (
            f"{soname} is needed by {_some(paths, _SHOWN_USERS)} but is not in the image; "
            "add the package that provides it with --package"
        )
    sonames = sorted(users)
    listed = "; ".join(
        f"{s} (needed by {_some(users[s], _SHOWN_USERS)})" for s in sonames[:_SHOWN_LIBRARIES]
    )
    more = len(sonames) - _SHOWN_LIBRARIES
    return (
        f"{len(sonames)} needed libraries are not in the image: {listed}"
        f"{f' and {more} more' if more > 0 else ''}; "
        "add the packages that provide them with --package"
    )


def _some(items: Sequence[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return f"{shown} and {more} more" if more > 0 else shown


def needed_closure(
    tree: Tree,
    debian_arch: str,
    roots: Iterable[str],
    *,
    extra_dirs: Sequence[str] = (),
    elves: Mapping[str, ElfInfo] | None = None,
) -> dict[str, str]:
    """The libraries the ``roots`` load, transitively: needed name -> canonical path of the
    file the loader would map (the dynamic loader included, under its SONAME). Names that do
    not resolve are left out (:func:`check_libraries` reports them), and so are roots for
    another machine, which load nothing; when two roots resolve one name to different files,
    the first root's answer is kept."""
    arch = architecture(debian_arch)
    loader = _Loader(tree, scan(tree) if elves is None else elves, arch, extra_dirs)
    result: dict[str, str] = {}
    for path in roots:
        real = tree.resolve(canonical(path.lstrip("/")))
        info = loader.elves.get(real) if real is not None else None
        if info is not None and not arch.accepts(info):
            continue
        for name, real in loader.closure(loader.root(path)).loaded.items():
            result.setdefault(name, real)
    return result
