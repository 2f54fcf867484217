"""The standard library in ``/usr/lib/python3XY.zip``: sources kept, compressed, beside the
``.pyc``.

The interpreter puts ``{prefix}/lib/python3XY.zip`` first on ``sys.path`` whether it exists or
not, and its ``zipimport`` serves both halves of a module from there: the code from ``mod.pyc``
next to ``mod.py`` inside the archive (not from ``__pycache__``; an unchecked-hash ``.pyc`` is
taken without reading the source), and the source to ``linecache`` and ``inspect`` through the
loader's ``get_source``. So a traceback through the standard library shows its source lines,
at the cost of the sources' compressed size instead of their full size.

What ``zipimport`` cannot serve stays a plain file, in Debian's layout (``.py`` plus
``__pycache__``):

- the frozen modules (``os``, ``site``, ``codecs``, ``importlib``'s bootstrap, ...): the
  interpreter runs its built-in copies and gives them a ``__file__`` under the stdlib
  directory, which ``inspect`` reads; ``os.py`` is also getpath's landmark for the prefix;
- packages that read their own non-Python files by path (``venv``'s activate scripts, IDLE's
  config files), and the ``test`` package, whose directory regrtest lists;
- symlinks (``sitecustomize.py`` leads to ``/etc``) and the ``_sysconfigdata`` files they lead
  to, extension modules (``lib-dynload``), site-packages and top-level non-Python files such
  as ``EXTERNALLY-MANAGED``, which pip reads from the stdlib directory.

The archive is written from the tree, in memory, byte for byte the same on every build:
sorted entries, fixed timestamps and attributes, no extra fields.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from pydistroless.errors import ImageCheckError
from pydistroless.fs.tree import Kind, Tree
from pydistroless.python.bytecode import pyc_path

# The earliest date a zip can hold; any fixed date keeps the archive reproducible.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_FILE_ATTR = (0o100644 << 16) | 0x20  # regular file, rw-r--r--, MS-DOS "archive"
_DIR_ATTR = (0o40755 << 16) | 0x10  # directory, rwxr-xr-x, MS-DOS "directory"
_UNIX = 3  # "made by" system: what lets the Unix mode bits above count
# zlib's default. On the stdlib's 11 MB of sources level 9 takes 2.6 times as long (0.92 s
# against 0.35 s on one core) to save 0.8 % (2.81 MB against 2.79 MB), and this runs on
# every cold build.
_LEVEL = 6

# Development files in a package that nothing reads at run time: they do not pin the package
# to the file system.
_NOT_DATA = re.compile(r".*\.rst|mypy\.ini|README(?:\.\w+)?")
_FROZEN = re.compile(rb"<frozen ([A-Za-z_][A-Za-z0-9_.]*)>")
# The test package: regrtest lists its directory, and the tests read their data by path.
_LISTED_AS_DIRECTORY = frozenset({"test"})
# getpath finds the prefix by lib/python3.X/os.py (or os.pyc); without it, python warns
# "Could not find platform independent libraries" and guesses.
_LANDMARK = "os"


@dataclass(frozen=True)
class ZipMember:
    name: str  # path inside the archive, "json/decoder.py"
    data: bytes
    deflate: bool


@dataclass(frozen=True)
class ZipReport:
    modules: int  # sources moved into the archive
    on_disk: tuple[str, ...]  # top-level names left as plain files
    size: int  # bytes of the archive


def zip_name(python: str) -> str:
    """Where getpath looks for the archive: ``{prefix}/lib/python3XY.zip``."""
    return f"usr/lib/python{python.replace('.', '')}.zip"


def write_zip(members: Iterable[ZipMember]) -> bytes:
    """A zip of ``members``, sorted by name, with an entry for every directory they are in,
    and nothing in it that depends on when or where it was made."""
    files = {m.name: m for m in members}
    directories = {
        "/".join(name.split("/")[:depth]) + "/"
        for name in files
        for depth in range(1, name.count("/") + 1)
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(directories | set(files)):
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.create_system = _UNIX
            if name in directories:
                info.external_attr = _DIR_ATTR
                archive.writestr(info, b"", zipfile.ZIP_STORED)
                continue
            member = files[name]
            info.external_attr = _FILE_ATTR
            if member.deflate:
                archive.writestr(info, member.data, zipfile.ZIP_DEFLATED, compresslevel=_LEVEL)
            else:
                archive.writestr(info, member.data, zipfile.ZIP_STORED)
    return buffer.getvalue()


def relocate_pyc(data: bytes, old: str, new: str) -> bytes:
    """The ``.pyc`` ``data`` compiled for the file name ``old``, with every code object's
    ``co_filename`` set to ``new``.

    Every code object of a module shares one file-name string, which marshal writes once, in
    full, and then refers back to; so rewriting that one string (its type byte and length
    prefix, then its text) renames them all. The 16-byte header (magic, flags, source hash)
    does not involve the name and stays as it is."""
    header, body = data[:16], data[16:]
    count = 0
    for before, after in zip(_encodings(old), _encodings(new), strict=True):
        count += body.count(before)
        body = body.replace(before, after)
    if count == 0:
        raise ImageCheckError(
            f"cannot move the .pyc of {old} into the stdlib zip: its file name is not where "
            "marshal puts it; build with --keep stdlib-sources"
        )
    return header + body


def _encodings(text: str) -> list[bytes]:
    """How marshal (format 4 and later) may write the str ``text``: ASCII (short or long) or
    UTF-8, interned or not, referred back to later (FLAG_REF) or not. The n-th items of two
    calls are the same kind, so ``text`` can be swapped for another string of that kind."""
    raw = text.encode()
    out = []
    for flag in (0, 0x80):
        for interned in (False, True):
            for as_unicode in (False, True):
                if as_unicode or not text.isascii():
                    kind = b"t" if interned else b"u"
                    size = len(raw).to_bytes(4, "little")
                elif len(raw) < 256:
                    kind = b"Z" if interned else b"z"
                    size = bytes([len(raw)])
                else:
                    kind = b"A" if interned else b"a"
                    size = len(raw).to_bytes(4, "little")
                out.append(bytes([kind[0] | flag]) + size + raw)
    return out


def frozen_modules(tree: Tree, python: str) -> frozenset[str]:
    """The modules the interpreter carries frozen inside itself, read from its binary: each
    one's code names its file ``<frozen NAME>``."""
    binary = tree.read(f"usr/bin/python{python}") or b""
    return frozenset(m.decode() for m in _FROZEN.findall(binary))


def zip_stdlib(tree: Tree, python: str, *, deflate_pyc: bool = False) -> ZipReport:
    """Move the stdlib's modules, each source with its ``.pyc``, into ``/usr/lib/python3XY.zip``
    and leave the rest (see the module's description) where it is. Sources are deflated; the
    ``.pyc`` are stored unless ``deflate_pyc``, so that the layer's compression takes them as
    before and an import reads them without inflating."""
    stdlib = f"usr/lib/python{python}/"
    archive = zip_name(python)
    pinned = _pinned_to_disk(tree, python)
    members: list[ZipMember] = []
    moved: list[str] = []
    modules = 0
    for entry in tree.entries():
        relative = entry.path.removeprefix(stdlib)
        if relative == entry.path or entry.kind is not Kind.FILE:
            continue
        top = _top_level(relative)
        if top is None or top in pinned or "__pycache__" in relative.split("/"):
            continue
        members.append(ZipMember(relative, entry.data, deflate=True))
        moved.append(entry.path)
        if not relative.endswith(".py"):
            continue
        modules += 1
        cached = tree.get(pyc_path(entry.path, python))
        if cached is not None and cached.kind is Kind.FILE:
            pyc = relocate_pyc(cached.data, f"/{entry.path}", f"/{archive}/{relative}")
            members.append(ZipMember(relative + "c", pyc, deflate=deflate_pyc))
            moved.append(cached.path)
    if not members:
        return ZipReport(0, tuple(sorted(pinned)), 0)
    data = write_zip(members)
    tree.add_file(archive, data, 0o644)
    tree.remove_entries(moved)
    _remove_emptied_dirs(tree, moved, stdlib)
    return ZipReport(modules, tuple(sorted(pinned)), len(data))


def _top_level(relative: str) -> str | None:
    """The top-level module or package ``relative`` belongs to; None for what is never
    zipped: top-level non-Python files, extension modules, site-packages."""
    first, slash, _ = relative.partition("/")
    if not slash:
        return first.removesuffix(".py") if first.endswith(".py") else None
    if first in ("lib-dynload", "site-packages", "dist-packages", "__pycache__"):
        return None
    return first


def _pinned_to_disk(tree: Tree, python: str) -> set[str]:
    """Top-level names whose files must stay plain files."""
    stdlib = f"usr/lib/python{python}/"
    pinned = {_LANDMARK, *_LISTED_AS_DIRECTORY}
    pinned |= {name.split(".")[0] for name in frozen_modules(tree, python)}
    for entry in tree.entries():
        relative = entry.path.removeprefix(stdlib)
        if relative == entry.path or (top := _top_level(relative)) is None:
            continue
        if top.startswith("_sysconfigdata"):
            pinned.add(top)  # read by tools as files, and the target of a symlink
        elif entry.kind is Kind.SYMLINK or entry.kind is Kind.HARDLINK:
            pinned.add(top)
            target = tree.resolve(entry.path)
            if target and target.startswith(stdlib) and (t := _top_level(target[len(stdlib) :])):
                pinned.add(t)
        elif entry.kind is Kind.FILE and "/" in relative and _is_data(relative):
            pinned.add(top)
    return pinned


def _is_data(relative: str) -> bool:
    name = relative.rpartition("/")[2]
    return not name.endswith((".py", ".pyc")) and not _NOT_DATA.fullmatch(name)


def _remove_emptied_dirs(tree: Tree, moved: Iterable[str], stdlib: str) -> None:
    """Remove the directories that the move left empty (only those: an empty directory a
    package ships stays)."""
    parents = set()
    for path in moved:
        parent = path.rpartition("/")[0]
        while parent.startswith(stdlib) and parent not in parents:
            parents.add(parent)
            parent = parent.rpartition("/")[0]
    for directory in sorted(parents, reverse=True):  # children before their parents
        entry = tree.get(directory)
        if entry is not None and entry.kind is Kind.DIR and not tree.children(directory):
            tree.remove_entries([directory])
