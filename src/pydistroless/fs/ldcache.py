"""``/etc/ld.so.cache`` for an image tree, written the way glibc's ``ldconfig`` writes it.

Debian runs ``ldconfig`` from a dpkg trigger; an image assembled from unpacked packages never
runs it, and cannot (foreign architectures, no ``/sbin/ldconfig`` in the image). Without a
cache ``ld.so`` still finds libraries in its default directories, but not in the ones
``/etc/ld.so.conf.d`` adds (``/usr/local/lib`` and what packages register there), and
``ldconfig -p`` (which ``ctypes.util.find_library`` runs) has nothing to print.

This module reproduces ``ldconfig -r ROOT`` of glibc 2.39 and later (Debian 13 ships 2.41),
as Debian patches it: the directories come from ``etc/ld.so.conf`` (its ``include`` globs in
C order), then the system directories ``/lib/<triplet>``, ``/usr/lib/<triplet>``, ``/lib``
and ``/usr/lib``; a directory reached twice (``/lib`` is ``/usr/lib`` on merged-/usr) is
scanned once, under the name it was first given. Each directory's ``glibc-hwcaps``
subdirectories are scanned too. In a directory, files named like libraries (``lib*.so*``,
``ld-*.so*``...) that are ELF shared objects ``ldconfig`` of that architecture accepts
become entries keyed by their SONAME, pointing at ``<dir>/<SONAME>``; a symlink named after
the SONAME, or a ``libfoo.so`` development link to it, becomes an entry under its own name.
Debian 12's glibc 2.36 writes the same bytes except where it still lists dpkg and RPM
temporary files, flags an i386 or riscv64 library that needs no ``libc.so.6`` as plain
"ELF" (which its ``ld.so`` accepts all the same), and scans legacy hwcap subdirectories
(``tls``, ``haswell``...), which Debian's packages do not ship.
Only the "new" format is written (magic ``glibc-ld.so.cache1.1``, the default since glibc
2.32), in the byte order of the architecture, with the string table tail-merged and the
extension section (generator string, ``glibc-hwcaps`` names) as ``ldconfig`` lays them out,
so the bytes match ``ldconfig``'s when the generator string does.

Not reproduced: legacy a.out libraries, the auxiliary cache (it only saves time), the
symlinks ``ldconfig`` would create, and which of two same-SONAME files of different
architectures in one directory sets the entry's flags (``ldconfig`` keeps the flags of
whichever ``readdir`` returned first; this takes the first by name).
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydistroless.core.arch import (
    EF_ARM_ABI_FLOAT_HARD,
    EF_ARM_ABI_FLOAT_SOFT,
    EF_ARM_EABI_VER5,
    EF_ARM_EABIMASK,
    EF_RISCV_FLOAT_ABI,
    EF_RISCV_FLOAT_ABI_DOUBLE,
    EF_RISCV_FLOAT_ABI_SOFT,
    EF_RISCV_RVC,
    Arch,
    architecture,
)
from pydistroless.core.errors import ImageCheckError
from pydistroless.fs.elf import ElfInfo, scan
from pydistroless.fs.tree import Kind, Tree

LD_SO_CONF = "etc/ld.so.conf"
# What Debian's libc-bin ships as /etc/ld.so.conf; used when the image has none: libc-bin
# (ldconfig, ld.so.conf, ld.so.conf.d/libc.conf) is rarely part of a distroless image, but
# libc6 still ships ld.so.conf.d/<triplet>.conf.
DEBIAN_LD_SO_CONF = "include /etc/ld.so.conf.d/*.conf\n"
DEFAULT_GENERATOR = "pydistroless"

# Entry flags (glibc's sysdeps/generic/ldconfig.h).
FLAG_ELF_LIBC6 = 0x0003
FLAG_X8664_LIB64 = 0x0300
FLAG_S390_LIB64 = 0x0400
FLAG_POWERPC_LIB64 = 0x0500
FLAG_X8664_LIBX32 = 0x0800
FLAG_ARM_LIBHF = 0x0900
FLAG_AARCH64_LIB64 = 0x0A00
FLAG_ARM_LIBSF = 0x0B00
FLAG_RISCV_FLOAT_ABI_SOFT = 0x0F00
FLAG_RISCV_FLOAT_ABI_DOUBLE = 0x1000

_CACHEMAGIC_NEW = b"glibc-ld.so.cache1.1"
_CACHEMAGIC_OLD = b"ld.so-1.7.0"
_HEADER = "20sIIB3xI12x"  # struct cache_file_new, 48 bytes
_ENTRY = "iIIIQ"  # struct file_entry_new, 24 bytes
_EXTENSION_MAGIC = 0xEAA42174  # (uint32_t) -358342284
_TAG_GENERATOR = 0
_TAG_GLIBC_HWCAPS = 1
_HWCAP_EXTENSION = 1 << 62
_ISA_LEVEL_MASK = (1 << 10) - 1
_ENDIAN_LITTLE, _ENDIAN_BIG = 2, 3

_C_SPACE = " \t\n\v\f\r"
_MAX_INCLUDE_DEPTH = 16


# ---- per-architecture rules ----------------------------------------------------------------


def cache_flags(info: ElfInfo, debian_arch: str) -> int | None:
    """The flags ``ldconfig`` of ``debian_arch`` records for the library ``info``, or None
    when it would leave the file out. Each architecture's ``ldconfig`` has its own rule
    (glibc's ``sysdeps/.../readelflib.c``): only x86 checks the machine; the others take
    any ELF file of the right class and derive the flags from class and ``e_flags``."""
    if info.elf_type != "ET_DYN" or not info.has_dynamic:
        return None
    arch = architecture(debian_arch)
    if arch.debian in ("amd64", "i386"):
        if info.machine == "EM_X86_64":
            return FLAG_ELF_LIBC6 | (
                FLAG_X8664_LIB64 if info.elf_class == 64 else FLAG_X8664_LIBX32
            )
        if info.machine == "EM_386" and info.elf_class == 32:
            return FLAG_ELF_LIBC6
        return None
    if arch.debian in ("arm64", "armhf", "armel"):
        if info.elf_class == 64:
            return FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64
        if info.flags & EF_ARM_EABIMASK == EF_ARM_EABI_VER5:
            if info.flags & EF_ARM_ABI_FLOAT_HARD:
                return FLAG_ELF_LIBC6 | FLAG_ARM_LIBHF
            if info.flags & EF_ARM_ABI_FLOAT_SOFT:
                return FLAG_ELF_LIBC6 | FLAG_ARM_LIBSF
        return FLAG_ELF_LIBC6
    if arch.debian == "riscv64":
        abi = info.flags & EF_RISCV_FLOAT_ABI
        if info.flags & ~(EF_RISCV_FLOAT_ABI | EF_RISCV_RVC):
            return None
        if abi == EF_RISCV_FLOAT_ABI_SOFT:
            return FLAG_ELF_LIBC6 | FLAG_RISCV_FLOAT_ABI_SOFT
        if abi == EF_RISCV_FLOAT_ABI_DOUBLE:
            return FLAG_ELF_LIBC6 | FLAG_RISCV_FLOAT_ABI_DOUBLE
        return None
    if info.elf_class == 32:
        return FLAG_ELF_LIBC6
    return FLAG_ELF_LIBC6 | (FLAG_POWERPC_LIB64 if arch.debian == "ppc64el" else FLAG_S390_LIB64)


def _char_is_signed(arch: Arch) -> bool:
    # The sort order depends on whether plain char is signed in the C ABI: ld.so compares
    # names with the same function when it binary-searches the cache.
    return arch.machine in ("EM_X86_64", "EM_386")


def libcmp(left: str | bytes, right: str | bytes, *, signed_char: bool = True) -> int:
    """glibc's ``_dl_cache_libcmp``: byte order, except that runs of digits compare as
    numbers (so ``libfoo.so.10`` sorts after ``libfoo.so.9``) and after any non-digit."""
    a = left.encode("utf-8", "surrogateescape") if isinstance(left, str) else left
    b = right.encode("utf-8", "surrogateescape") if isinstance(right, str) else right

    def char(s: bytes, k: int) -> int:
        c = s[k] if k < len(s) else 0
        return c - 256 if signed_char and c > 127 else c

    i = j = 0
    while i < len(a):
        c1, c2 = a[i], (b[j] if j < len(b) else 0)
        if 48 <= c1 <= 57:
            if not 48 <= c2 <= 57:
                return 1
            v1, i = _number(a, i)
            v2, j = _number(b, j)
            if v1 != v2:
                return _int32(v1 - v2)
        elif 48 <= c2 <= 57:
            return -1
        elif c1 != c2:
            return char(a, i) - char(b, j)
        else:
            i += 1
            j += 1
    return char(a, i) - char(b, j)


def _number(s: bytes, k: int) -> tuple[int, int]:
    value = 0
    while k < len(s) and 48 <= s[k] <= 57:
        value = _int32(value * 10 + s[k] - 48)  # C int arithmetic, overflow wraps
        k += 1
    return value, k


def _int32(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


# ---- which directories ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Dir:
    path: str  # as ldconfig names it, e.g. "/lib/x86_64-linux-gnu": the entries' prefix
    real: str  # canonical image path of the directory
    hwcaps: str | None = None  # the glibc-hwcaps subdirectory name, if it is one


@dataclass
class _Dirs:
    dirs: list[_Dir]
    hwcaps_names: set[str]  # every glibc-hwcaps subdirectory seen, used or not


def cache_directories(tree: Tree, debian_arch: str) -> list[str]:
    """The directories ``ldconfig`` would scan, in order, as absolute paths (the
    ``glibc-hwcaps`` subdirectories left out). They are what ``ld.so`` finds through the
    cache, for :func:`pydistroless.fs.elf.missing_libraries`'s ``extra_dirs``."""
    return [d.path for d in _directories(tree, architecture(debian_arch)).dirs if not d.hwcaps]


def _directories(tree: Tree, arch: Arch) -> _Dirs:
    found = _Dirs([], set())
    seen: set[str] = set()

    def add(line: str) -> None:
        path = line.rstrip(_C_SPACE).rstrip("/")
        if not path:
            return
        real = _real_dir(tree, path)
        if real is None or real in seen:
            return
        seen.add(real)
        found.dirs.append(_Dir(path, real))
        _add_hwcaps_subdirectories(tree, path, real, found, seen)

    conf = tree.read(LD_SO_CONF)
    text = DEBIAN_LD_SO_CONF if conf is None else _text(conf)
    _parse_conf(tree, "/" + LD_SO_CONF, text, add, 0)
    triplet = arch.triplet
    for system_dir in (f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib", "/usr/lib"):
        add(system_dir)
    return found


def _add_hwcaps_subdirectories(
    tree: Tree, path: str, real: str, found: _Dirs, seen: set[str]
) -> None:
    base = _real_dir(tree, f"{real}/glibc-hwcaps")
    if base is None:
        return
    for child in tree.children(base):
        name = posixpath.basename(child)
        entry = tree.get(child)
        if name.startswith(".") or ":" in name or entry is None:
            continue
        if entry.kind in (Kind.FILE, Kind.HARDLINK):
            continue
        sub = _real_dir(tree, child)
        if sub is None:
            continue
        found.hwcaps_names.add(name)  # ldconfig interns the name before de-duplicating
        if sub not in seen:
            seen.add(sub)
            found.dirs.append(_Dir(f"{path}/glibc-hwcaps/{name}", sub, name))


def _real_dir(tree: Tree, path: str) -> str | None:
    real = tree.resolve(path)
    if real is None:
        return None
    if real == "":
        return real
    entry = tree.get(real)
    return real if entry is not None and entry.kind is Kind.DIR else None


def _parse_conf(tree: Tree, name: str, text: str, add: Callable[[str], None], depth: int) -> None:
    if depth > _MAX_INCLUDE_DEPTH:
        raise ImageCheckError(
            f"{name.lstrip('/')} includes configuration files more than {_MAX_INCLUDE_DEPTH} "
            "levels deep; an include loop in the image's ld.so.conf?"
        )
    for raw in text.split("\n"):
        line = raw.split("#", 1)[0].lstrip(_C_SPACE)
        if not line:
            continue
        if line.startswith("include") and line[7:8] in (" ", "\t") and len(line) > 7:
            for pattern in line[8:].replace("\t", " ").split(" "):
                if pattern:
                    _include(tree, name, pattern, add, depth)
        elif line[:5].lower() == "hwcap" and line[5:6] in (" ", "\t") and len(line) > 5:
            continue  # ignored by ldconfig since glibc 2.37 (and meaningless to ld.so)
        else:
            add(line)


def _include(tree: Tree, conf: str, pattern: str, add: Callable[[str], None], depth: int) -> None:
    if not pattern.startswith("/"):
        pattern = posixpath.join(posixpath.dirname(conf), pattern)
    for path in _glob(tree, pattern):
        data = tree.read(path)
        if data is not None:
            _parse_conf(tree, path, _text(data), add, depth + 1)


def _glob(tree: Tree, pattern: str) -> list[str]:
    """glob(3) without flags, inside the tree: absolute results, sorted bytewise (ldconfig
    sets LC_COLLATE=C), wildcards not matching a leading dot."""
    matches = [("", "")]  # (path as the pattern spells it, real directory)
    parts = [p for p in pattern.split("/") if p]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        following: list[tuple[str, str]] = []
        for shown, real in matches:
            if any(c in part for c in "*?["):
                names = [
                    posixpath.basename(c)
                    for c in tree.children(real)
                    if fnmatch.fnmatchcase(posixpath.basename(c), part)
                    and (part.startswith(".") or not posixpath.basename(c).startswith("."))
                ]
            else:
                names = [part]
            for name in names:
                candidate = f"{shown}/{name}"
                if last:
                    if tree.resolve(candidate, follow_last=False) in tree:
                        following.append((candidate, ""))
                else:
                    sub = _real_dir(tree, candidate)
                    if sub is not None:
                        following.append((candidate, sub))
        matches = following
    return sorted(
        (shown for shown, _ in matches), key=lambda s: s.encode("utf-8", "surrogateescape")
    )


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


# ---- which libraries -----------------------------------------------------------------------


def _is_dso_name(name: str) -> bool:
    """glibc's ``_dl_is_dso``: lib*.so*, ld-*.so*, ld.so.*, ld64.so.*."""
    return (
        (name.startswith(("lib", "ld-")) and ".so" in name)
        or name.startswith("ld.so.")
        or name.startswith("ld64.so.")
    )


def _skipped_name(name: str) -> bool:
    """Temporary files of prelink, RPM and dpkg, which ldconfig never reads."""
    if name.endswith(".#prelink#") or (len(name) >= 17 and name[-17:-6] == ".#prelink#."):
        return True
    return ";" in name or name.endswith((".dpkg-new", ".dpkg-tmp"))


@dataclass(slots=True)
class _Lib:
    name: str
    soname: str
    flags: int
    is_link: bool
    isa_level: int


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One record of the cache: ``soname`` is the key ``ld.so`` looks up, ``path`` the
    absolute path it opens, ``hwcaps`` the ``glibc-hwcaps`` subdirectory it lives in."""

    soname: str
    flags: int
    path: str
    hwcaps: str | None = None
    isa_level: int = 0


def _scan_directory(
    tree: Tree, directory: _Dir, arch: Arch, elves: Mapping[str, ElfInfo]
) -> list[_Lib]:
    libs: dict[str, _Lib] = {}
    for child in tree.children(directory.real):
        name = posixpath.basename(child)
        entry = tree.get(child)
        if entry is None:
            continue
        regular = entry.kind in (Kind.FILE, Kind.HARDLINK)
        if not _is_dso_name(name) and (regular or directory.hwcaps is None):
            continue
        if _skipped_name(name):
            continue
        is_link = entry.kind is Kind.SYMLINK
        if is_link:
            target = tree.resolve(child)
            target_entry = tree.get(target) if target is not None else None
            if target_entry is None or target_entry.kind not in (Kind.FILE, Kind.HARDLINK):
                continue  # dangling, or a directory: nothing ldconfig can read
            info = elves.get(target_entry.path)
        elif regular:
            info = elves.get(child)
        else:
            continue
        flags = cache_flags(info, arch.debian) if info is not None else None
        if info is None or flags is None:
            continue
        soname = info.soname or name
        # A link counts as one only when it is named after the SONAME or is the libfoo.so
        # link for the linker; any other link is treated like a copy of the library.
        if is_link and name != soname and not (name.endswith(".so") and soname.startswith(name)):
            is_link = False
        if is_link:
            soname = name
        known = libs.get(soname)
        if known is None:
            libs[soname] = _Lib(name, soname, flags, is_link, info.isa_level)
        elif (not is_link and known.is_link) or (
            is_link == known.is_link
            and libcmp(known.name, name, signed_char=_char_is_signed(arch)) < 0
        ):
            # The newer file wins; ldconfig keeps the flags of the first one it saw.
            known.name, known.is_link, known.isa_level = name, is_link, info.isa_level
    # ldconfig pushes each library onto the head of a list, then walks it.
    return list(reversed(libs.values()))


def _entries(
    tree: Tree, arch: Arch, elves: Mapping[str, ElfInfo] | None
) -> tuple[list[CacheEntry], set[str]]:
    elves = scan(tree) if elves is None else elves
    found = _directories(tree, arch)
    entries = []
    for directory in found.dirs:
        for lib in _scan_directory(tree, directory, arch, elves):
            filename = lib.name if directory.hwcaps else lib.soname
            entries.append(
                CacheEntry(
                    lib.soname,
                    lib.flags,
                    f"{directory.path}/{filename}",
                    directory.hwcaps,
                    lib.isa_level,
                )
            )
    # ldconfig inserts each entry after all that do not sort after it: a stable sort.
    signed = _char_is_signed(arch)

    def compare(e1: CacheEntry, e2: CacheEntry) -> int:
        res = libcmp(e2.soname, e1.soname, signed_char=signed)  # descending by name
        if res:
            return res
        if e1.flags != e2.flags:
            return 1 if e1.flags < e2.flags else -1
        if (e1.hwcaps is None) != (e2.hwcaps is None):
            # ld.so stops at the first non-hwcaps entry, so hwcaps entries go first.
            return -1 if e1.hwcaps is not None else 1
        if e1.hwcaps is not None and e2.hwcaps is not None and e1.hwcaps != e2.hwcaps:
            return -1 if _b(e1.hwcaps) < _b(e2.hwcaps) else 1
        return 0

    entries.sort(key=functools.cmp_to_key(compare))
    return entries, found.hwcaps_names


# ---- the file ------------------------------------------------------------------------------


def debian_ldconfig_generator(libc_version: str) -> str:
    """The generator string Debian's ``ldconfig`` writes, from the libc6 package version
    (``2.36-9+deb12u14`` gives "ldconfig (Debian GLIBC 2.36-9+deb12u14) stable release
    version 2.36")."""
    upstream = libc_version.split(":", 1)[-1].split("-", 1)[0]
    return f"ldconfig (Debian GLIBC {libc_version}) stable release version {upstream}"


def generate_ld_so_cache(
    tree: Tree,
    debian_arch: str,
    *,
    generator: str = DEFAULT_GENERATOR,
    elves: Mapping[str, ElfInfo] | None = None,
) -> bytes:
    """The bytes ``ldconfig -r <tree>`` of ``debian_arch`` would write to ``/etc/ld.so.cache``.

    ``generator`` is the text ``ldconfig -p`` shows as "Cache generated by"; pass
    :func:`debian_ldconfig_generator` of the image's libc6 version for a byte-identical file.
    Nothing else depends on the clock or the host, so equal trees give equal bytes.
    """
    arch = architecture(debian_arch)
    entries, hwcaps_names = _entries(tree, arch, elves)
    order = "<" if arch.little_endian else ">"

    strings = {_b(e.soname) for e in entries} | {_b(e.path) for e in entries}
    strings |= {_b(name) for name in hwcaps_names}
    offsets, table = _string_table(strings)

    used = sorted({_b(e.hwcaps) for e in entries if e.hwcaps is not None})
    hwcaps_index = {name: index for index, name in enumerate(used)}

    str_offset = struct.calcsize(order + _HEADER) + len(entries) * struct.calcsize(order + _ENTRY)
    extension_offset = _round_up(str_offset + len(table), 4)

    records = bytearray()
    for e in entries:
        hwcap = 0
        if e.hwcaps is not None:
            if e.isa_level > _ISA_LEVEL_MASK:
                raise ImageCheckError(
                    f"{e.path.lstrip('/')}: ISA level is too high "
                    f"({e.isa_level} > {_ISA_LEVEL_MASK})"
                )
            hwcap = _HWCAP_EXTENSION | e.isa_level << 32 | hwcaps_index[_b(e.hwcaps)]
        records += struct.pack(
            order + _ENTRY,
            e.flags,
            str_offset + offsets[_b(e.soname)],
            str_offset + offsets[_b(e.path)],
            0,
            hwcap,
        )

    header = struct.pack(
        order + _HEADER,
        _CACHEMAGIC_NEW,
        len(entries),
        len(table),
        _ENDIAN_LITTLE if arch.little_endian else _ENDIAN_BIG,
        extension_offset,
    )
    body = header + records + table
    body += b"\0" * (extension_offset - len(body))
    return body + _extensions(order, extension_offset, str_offset, offsets, used, generator)


def _extensions(
    order: str,
    extension_offset: int,
    str_offset: int,
    offsets: Mapping[bytes, int],
    hwcaps: list[bytes],
    generator: str,
) -> bytes:
    """The extension directory, then the hwcaps name array, then the generator string."""
    generator_bytes = generator.encode("utf-8")
    count = 2 if hwcaps else 1
    directory_size = 8 + count * 16
    hwcaps_offset = extension_offset + directory_size
    hwcaps_array = b"".join(struct.pack(order + "I", str_offset + offsets[h]) for h in hwcaps)
    generator_offset = hwcaps_offset + len(hwcaps_array)
    out = struct.pack(order + "II", _EXTENSION_MAGIC, count)
    out += struct.pack(order + "IIII", _TAG_GENERATOR, 0, generator_offset, len(generator_bytes))
    if hwcaps:
        out += struct.pack(order + "IIII", _TAG_GLIBC_HWCAPS, 0, hwcaps_offset, len(hwcaps_array))
    return out + hwcaps_array + generator_bytes


def _string_table(strings: set[bytes]) -> tuple[dict[bytes, int], bytes]:
    """glibc's ``stringtable_finalize``: strings ordered by their reversed bytes, longest
    first among equal tails, so a string that ends another is stored inside it."""
    ordered = sorted(strings, key=lambda s: s[::-1], reverse=True)
    offsets: dict[bytes, int] = {}
    table = bytearray()
    previous = b""
    for s in ordered:
        if previous.endswith(s) and previous:
            offsets[s] = offsets[previous] + len(previous) - len(s)
        else:
            offsets[s] = len(table)
            table += s + b"\0"
        # A merged string shares the end of the one before it, so the next string is
        # compared against that one's text, which ends the same way.
        previous = s
    return offsets, bytes(table)


def _round_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def parse_ld_so_cache(data: bytes) -> list[tuple[str, int, str]]:
    """(name, flags, path) of every record of a cache file, in file order.

    Reads the new format, alone or hidden in the old one (``ldconfig -c compat``); an
    old-format-only file gives its old records. Both byte orders are understood.
    """
    if data.startswith(_CACHEMAGIC_NEW):
        return _parse_new(data, 0)
    if data.startswith(_CACHEMAGIC_OLD) and len(data) >= 16:
        count = struct.unpack_from("<I", data, 12)[0]
        end_old = 16 + count * 12
        for alignment in (8, 4):  # alignof(struct cache_file_new) differs by ABI
            start = _round_up(end_old, alignment)
            if data[start : start + len(_CACHEMAGIC_NEW)] == _CACHEMAGIC_NEW:
                return _parse_new(data, start)
        if end_old > len(data):
            raise ImageCheckError("ld.so.cache is truncated")
        return [
            (
                _cstring(data, end_old + key),
                flags,
                _cstring(data, end_old + value),
            )
            for flags, key, value in struct.iter_unpack("<iII", data[16:end_old])
        ]
    raise ImageCheckError("not a glibc ld.so.cache file (unknown magic)")


def _parse_new(data: bytes, start: int) -> list[tuple[str, int, str]]:
    if len(data) < start + 48:
        raise ImageCheckError("ld.so.cache is truncated")
    order = ">" if data[start + 28] & 3 == _ENDIAN_BIG else "<"
    count = struct.unpack_from(order + "I", data, start + 20)[0]
    entry_size = struct.calcsize(order + _ENTRY)
    if start + 48 + count * entry_size > len(data):
        raise ImageCheckError("ld.so.cache is truncated")
    out = []
    for index in range(count):
        flags, key, value, _, _ = struct.unpack_from(
            order + _ENTRY, data, start + 48 + index * entry_size
        )
        out.append((_cstring(data, start + key), flags, _cstring(data, start + value)))
    return out


def _cstring(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if offset >= len(data) or end < 0:
        raise ImageCheckError("ld.so.cache has a string index outside the file")
    return _text(data[offset:end])
