"""The standard library's sources, kept compressed beside its sourceless ``.pyc``.

By default each stdlib module is its ``.pyc`` alone, at its source's place
(``json/decoder.pyc``), which the import system loads as fast as anything can be loaded; the
``.py`` files go, deflated, into ``/usr/lib/python3.X/stdlib-sources.zip``. That archive is
not on ``sys.path`` (a ``python3XY.zip`` there would be read, its whole directory, at every
start of every process, and ``zipimport`` unmarshals each module twice): it is only read when
something asks for a source line. What asks is ``linecache``, for ``traceback``, ``inspect``,
``logging``, ``pdb`` and ``warnings``, through the ``get_source`` of the module's loader; a
small module of ours (:data:`HOOK`), imported at start-up from a ``.pth`` file, teaches the
loader of sourceless files to find the source in the archive. A traceback through the standard
library thus shows its source lines, and ``inspect.getsource`` works, at the cost of the
sources' compressed size.

What stays a plain file, in Debian's layout (``.py`` plus ``__pycache__``):

- the frozen modules (``os``, ``site``, ``codecs``, ``importlib``'s bootstrap, ...): the
  interpreter runs its built-in copies and gives them a ``__file__`` under the stdlib
  directory, which ``inspect`` reads; ``os.py`` is also getpath's landmark for the prefix;
- the ``test`` package, whose files regrtest and the tests read by path;
- symlinks (``sitecustomize.py`` leads to ``/etc``) and the ``_sysconfigdata`` files, which
  tools read as files, and the hook itself.

The archive is written from the tree, in memory, byte for byte the same on every build:
sorted entries, fixed timestamps and attributes, no extra fields.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from pydistroless.fs.tree import Kind, Tree
from pydistroless.python import debian_python
from pydistroless.python.bytecode import pyc_path, stdlib_sources

# The earliest date a zip can hold; any fixed date keeps the archive reproducible.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_FILE_ATTR = (0o100644 << 16) | 0x20  # regular file, rw-r--r--, MS-DOS "archive"
_DIR_ATTR = (0o40755 << 16) | 0x10  # directory, rwxr-xr-x, MS-DOS "directory"
_UNIX = 3  # "made by" system: what lets the Unix mode bits above count
# zlib's default. On the stdlib's 11 MB of sources level 9 takes 2.6 times as long (0.92 s
# against 0.35 s on one core) to save 0.8 % (2.81 MB against 2.79 MB), and this runs on
# every cold build.
_LEVEL = 6

ARCHIVE = "stdlib-sources.zip"
HOOK = "_pydistroless_sources"
# A .pth file's "import" lines run at start-up, in every mode but -S: the hook is imported
# from the stdlib directory, sourceless-fast like the rest.
PTH_DIR = "usr/lib/python3/dist-packages"
PTH = "pydistroless-stdlib-sources.pth"

_FROZEN = re.compile(rb"<frozen ([A-Za-z_][A-Za-z0-9_.]*)>")
# The test package: regrtest lists its directory, and the tests read their data by path.
_LISTED_AS_DIRECTORY = frozenset({"test"})
# getpath finds the prefix by lib/python3.X/os.py (or os.pyc); without it, python warns
# "Could not find platform independent libraries" and guesses.
_LANDMARK = "os"

# The hook, as it goes into the image. It only adds a way to find a source where there was
# none: a sourceless module outside the stdlib, or one missing from the archive, gets what
# it got before (None), and the archive is opened on the first source asked for.
_HOOK_SOURCE = '''\
"""Gives linecache, traceback and inspect the standard library's sources, which pydistroless
keeps compressed in stdlib-sources.zip beside the sourceless .pyc files."""

import sys

_external = sys.modules["_frozen_importlib_external"]
_loader = _external.SourcelessFileLoader
_without = _loader.get_source
_stdlib = __file__.rpartition("/")[0] + "/"
_opened = []


def get_source(self, fullname):
    path = self.get_filename(fullname)
    if path.startswith(_stdlib) and path.endswith(".pyc"):
        try:
            if not _opened:
                import zipfile

                _opened.append(zipfile.ZipFile(_stdlib + "stdlib-sources.zip"))
            data = _opened[0].read(path[len(_stdlib) : -1])
        except (OSError, KeyError, ValueError):
            return _without(self, fullname)
        return _external.decode_source(data)
    return _without(self, fullname)


_loader.get_source = get_source
'''


@dataclass(frozen=True)
class ZipMember:
    name: str  # path inside the archive, "json/decoder.py"
    data: bytes
    deflate: bool


@dataclass(frozen=True)
class ZipReport:
    modules: int  # sources moved into the archive


def archive_path(tree: Tree, python: str) -> str:
    return f"{debian_python.stdlib_dir(tree, python)}/{ARCHIVE}"


def pth_dir(tree: Tree, python: str) -> str:
    """Where ``site`` reads the hook's ``.pth`` from: Debian's ``dist-packages`` or, for a
    Python built here, its ``site-packages``."""
    if debian_python.prefix_of(tree, python) == "usr":
        return PTH_DIR
    return f"{debian_python.stdlib_dir(tree, python)}/site-packages"


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


def add_hook(tree: Tree, python: str) -> None:
    """Put the hook module into the stdlib, before it is byte-compiled with the rest."""
    tree.add_file(f"{debian_python.stdlib_dir(tree, python)}/{HOOK}.py", _HOOK_SOURCE.encode())


def remove_hook(tree: Tree, python: str) -> None:
    """Take the hook out again, for an image whose stdlib stays plain files after all."""
    source = f"{debian_python.stdlib_dir(tree, python)}/{HOOK}.py"
    tree.remove_entries([source, pyc_path(source, python)])


def frozen_modules(tree: Tree, python: str) -> frozenset[str]:
    """The modules the interpreter carries frozen inside itself, read from its binary: each
    one's code names its file ``<frozen NAME>``."""
    binary = tree.read(f"{debian_python.prefix_of(tree, python)}/bin/python{python}") or b""
    return frozenset(m.decode() for m in _FROZEN.findall(binary))


def zip_stdlib(tree: Tree, python: str) -> ZipReport:
    """Replace each compiled stdlib module's ``.py`` by its ``.pyc`` at the same place, keep
    the ``.py`` deflated in :data:`ARCHIVE`, and switch the hook on. Modules without a
    ``.pyc`` and those that must stay plain files (see the module's description) stay."""
    stdlib = debian_python.stdlib_dir(tree, python) + "/"
    pinned = _pinned_to_disk(tree, python)
    members: list[ZipMember] = []
    gone: list[str] = []
    for source in stdlib_sources(tree, python):
        entry = tree.get(source)
        relative = source.removeprefix(stdlib)
        if entry is None or entry.kind is not Kind.FILE or _top_level(relative) in pinned:
            continue
        compiled = tree.get(pyc_path(source, python))
        if compiled is None or compiled.kind is not Kind.FILE:
            continue
        members.append(ZipMember(relative, entry.data, deflate=True))
        tree.add_file(source.removesuffix(".py") + ".pyc", compiled.data, compiled.mode)
        gone += [compiled.path, source]
    if not members:
        return ZipReport(0)
    tree.remove_entries(gone)
    _remove_emptied_caches(tree, gone)
    data = write_zip(members)
    tree.add_file(archive_path(tree, python), data, 0o644)
    tree.add_file(f"{pth_dir(tree, python)}/{PTH}", f"import {HOOK}\n".encode())
    return ZipReport(len(members))


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
    """Top-level names whose sources must stay plain files."""
    stdlib = debian_python.stdlib_dir(tree, python) + "/"
    pinned = {_LANDMARK, HOOK, *_LISTED_AS_DIRECTORY}
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
    return pinned


def _remove_emptied_caches(tree: Tree, gone: Iterable[str]) -> None:
    """Remove the ``__pycache__`` directories the move left empty (only those)."""
    caches = {path.rpartition("/")[0] for path in gone if "/__pycache__/" in path}
    for directory in sorted(caches, reverse=True):
        entry = tree.get(directory)
        if entry is not None and entry.kind is Kind.DIR and not tree.children(directory):
            tree.remove_entries([directory])
