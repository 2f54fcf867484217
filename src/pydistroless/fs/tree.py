"""An in-memory image filesystem.

Every stage between "unpack the packages" and "write the layers" works on a :class:`Tree`:
package contents go in, generated files are added, slices are cut out, checks read it, and the
layer writer walks it in a stable order. Nothing is ever written under the host's ``/``.

Paths are kept in one canonical form: relative to the image root, ``/``-separated, no leading
``/``, no ``.`` or ``..`` parts, no trailing ``/`` (``usr/bin/python3``). The root itself is
the empty string and is never stored.

Safety is enforced here, once, for every producer: an entry name that is absolute or contains
``..`` is refused, and so is one deeper than :data:`MAX_DEPTH` levels or longer than Linux's
``PATH_MAX``; a new entry whose parent directory is a symlink is placed where the link leads
(as dpkg would, which is how ``lib/...`` lands in ``usr/lib/...`` on merged-/usr), but a link
may never lead out of the tree, and a hard link must name a regular file already present.
Every entry's parent is a directory of the tree, and the tree indexes entries by parent and
files by the hard links that share them, so that no operation scans every entry.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from pydistroless.core.errors import UnsafePathError

_MAX_LINK_HOPS = 40  # the kernel's limit on symlinks followed in one lookup

# Far deeper than any Debian package goes (about 10 levels), and low enough that the parent
# directories a deep name implies cost little: their paths together grow with the depth
# squared.
MAX_DEPTH = 64
# Linux's PATH_MAX is 4096 bytes with the leading "/" and the closing NUL.
MAX_PATH_BYTES = 4094
MAX_LINK_BYTES = 4095  # the longest text the kernel stores in a symlink


class Kind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"


@dataclass(frozen=True, slots=True)
class Entry:
    """One filesystem object of the image.

    ``mode`` holds the permission bits only (``0o7777``); the type is ``kind``. ``target`` is
    the link text of a symlink (kept as written, relative or absolute) or the canonical path of
    the regular file a hard link shares its content with. ``origin`` names the package the
    entry came from ("" for files pydistroless generates).
    """

    path: str
    kind: Kind
    mode: int
    uid: int = 0
    gid: int = 0
    data: bytes = b""
    target: str = ""
    origin: str = ""

    @property
    def size(self) -> int:
        return len(self.data) if self.kind is Kind.FILE else 0

    @property
    def is_executable(self) -> bool:
        return self.kind is Kind.FILE and bool(self.mode & 0o111)


def canonical(name: str, *, context: str = "") -> str:
    """Return the canonical form of an entry name from a package or a caller.

    ``./usr/bin/`` and ``usr/bin`` both become ``usr/bin``. Absolute names, names with ``..``
    parts and names too deep or too long for Linux are refused: a package has no business
    writing outside its own tree, nor names that only serve to exhaust memory.
    """
    if name.startswith("/"):
        raise UnsafePathError(
            f"absolute path {_short(name)!r}{_in(context)} is not allowed; the package is "
            "malformed or hostile"
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(
            f"path {_short(name)!r}{_in(context)} contains '..'; the package is malformed or "
            "hostile"
        )
    path = "/".join(parts)
    check_bounds(path, context=context)
    return path


def check_bounds(path: str, *, context: str = "") -> None:
    """Refuse a canonical path deeper than :data:`MAX_DEPTH` or longer than ``PATH_MAX``."""
    depth = path.count("/") + 1 if path else 0
    if depth > MAX_DEPTH:
        raise UnsafePathError(
            f"path {_short(path)!r}{_in(context)} is {depth} directories deep, more than the "
            f"{MAX_DEPTH} allowed; the package is malformed or hostile"
        )
    size = _byte_length(path)
    if size > MAX_PATH_BYTES:
        raise UnsafePathError(
            f"path {_short(path)!r}{_in(context)} is {size} bytes long, more than the "
            f"{MAX_PATH_BYTES} Linux's PATH_MAX allows; the package is malformed or hostile"
        )


def link_destination(link_path: str, target: str) -> str | None:
    """Where a symlink at ``link_path`` points, as a canonical path, without following
    further links. Returns None when the target climbs above the image root."""
    base = [] if target.startswith("/") else link_path.split("/")[:-1]
    parts = list(base)
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


class Tree:
    """A mutable set of :class:`Entry` objects keyed by canonical path."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._children: dict[str, set[str]] = {}  # parent ("" for the root) -> its entries
        self._links: dict[str, set[str]] = {}  # file -> the hard links sharing its content

    # ---- reading -------------------------------------------------------------------------

    def __contains__(self, path: str) -> bool:
        return path in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: str) -> Entry | None:
        return self._entries.get(path)

    def entries(self) -> Iterator[Entry]:
        """All entries, sorted by path (the order layers are written in)."""
        for path in sorted(self._entries):
            yield self._entries[path]

    def files(self) -> Iterator[Entry]:
        return (e for e in self.entries() if e.kind is Kind.FILE)

    def resolve(self, path: str, *, follow_last: bool = True) -> str | None:
        """Follow symlinks in ``path`` inside the tree, the way the kernel would inside the
        container. Returns the canonical real path, or None if a link leaves the tree, loops
        or dangles, or the path gets deeper or longer than any entry can be. The last
        component need not exist unless ``follow_last`` finds a link."""
        hops = 0
        done: list[str] = []  # the real path so far, one prefix per level
        todo = _reversed_parts(path)  # a stack: the next part is last
        while todo:
            part = todo.pop()
            if part == "..":
                if not done:
                    return None
                done.pop()
                continue
            candidate = f"{done[-1]}/{part}" if done else part
            entry = self._entries.get(candidate)
            if entry is not None and entry.kind is Kind.SYMLINK and (todo or follow_last):
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    return None
                if entry.target.startswith("/"):
                    done = []
                todo.extend(_reversed_parts(entry.target))
                continue
            if todo and entry is not None and entry.kind is not Kind.DIR:
                return None
            if len(done) >= MAX_DEPTH or len(candidate) > MAX_PATH_BYTES:
                return None  # nothing is stored that deep, and the kernel would refuse it
            done.append(candidate)
        return done[-1] if done else ""

    def read(self, path: str) -> bytes | None:
        """Content of the regular file at ``path`` (links followed), or None."""
        real = self.resolve(path)
        if real is None:
            return None
        entry = self._entries.get(real)
        if entry is None:
            return None
        if entry.kind is Kind.HARDLINK:
            entry = self._entries[entry.target]
        return entry.data if entry.kind is Kind.FILE else None

    def children(self, directory: str) -> list[str]:
        return sorted(self._children.get(directory, ()))

    # ---- writing -------------------------------------------------------------------------

    def add(self, entry: Entry, *, context: str = "") -> Entry:
        """Add ``entry`` (its path canonical or not), placing it through directory symlinks.

        Returns the entry as stored (its path may differ from the one given). A directory
        that already exists keeps its content and takes the new metadata; any other existing
        object at that path is replaced, as a later package would replace it: hard links to a
        replaced file keep the content they shared, as they keep the old inode under dpkg.
        """
        path = self._place(canonical(entry.path, context=context), context)
        if not path:
            return entry  # the root directory itself: nothing to store
        check_bounds(path, context=context)  # a link on the way can make it longer
        if entry.kind is Kind.SYMLINK:
            _check_symlink(path, entry.target, context)
        if entry.kind is Kind.HARDLINK:
            entry = replace(entry, target=self._hardlink_target(path, entry.target, context))
        existing = self._entries.get(path)
        if entry.kind is Kind.DIR and existing is not None and existing.kind is Kind.SYMLINK:
            real = self.resolve(path)
            if real is not None and (found := self._entries.get(real)) and found.kind is Kind.DIR:
                # dpkg keeps a symlink to a directory where a package ships that directory:
                # this is what keeps lib -> usr/lib intact on merged-/usr.
                return existing
        replaces_dir = existing is not None and existing.kind is Kind.DIR
        if replaces_dir and entry.kind is not Kind.DIR and path in self._children:
            raise UnsafePathError(
                f"{entry.kind.value} {path!r}{_in(context)} would replace a non-empty directory"
            )
        self._make_parents(path, entry.origin)
        # The permission bits, by arithmetic: stat.S_IMODE refuses what a tar header can hold.
        stored = replace(entry, path=path, mode=entry.mode & 0o7777)
        if existing is not None and not (replaces_dir and stored.kind is Kind.DIR):
            self._drop(path)
        self._put(stored)
        return stored

    def add_dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
        return self.add(Entry(path, Kind.DIR, mode, uid, gid))

    def add_file(
        self, path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0
    ) -> Entry:
        return self.add(Entry(path, Kind.FILE, mode, uid, gid, data=data))

    def add_symlink(self, path: str, target: str) -> Entry:
        return self.add(Entry(path, Kind.SYMLINK, 0o777, target=target))

    def remove(self, path: str) -> int:
        """Remove ``path`` and, for a directory, everything below it. Hard links that shared
        a removed file's content take it over. Returns how many entries went."""
        doomed: dict[str, None] = {}
        if path in self._entries:
            self._gather(path, doomed)
        self._drop_all(doomed)
        return len(doomed)

    def remove_entries(self, paths: Iterable[str]) -> None:
        """Remove each of ``paths`` that is present, a directory with everything below it
        (so that no entry is ever left without its parent)."""
        doomed: dict[str, None] = {}
        for p in paths:
            if p in self._entries:
                self._gather(p, doomed)
        self._drop_all(doomed)

    # ---- internals -----------------------------------------------------------------------

    def _put(self, entry: Entry) -> None:
        """Store ``entry`` (its parent already a directory of the tree) and index it."""
        path = entry.path
        if path not in self._entries:
            self._children.setdefault(path.rpartition("/")[0], set()).add(path)
        self._entries[path] = entry
        if entry.kind is Kind.HARDLINK:
            self._links.setdefault(entry.target, set()).add(path)

    def _gather(self, path: str, into: dict[str, None]) -> None:
        """Add ``path`` and everything below it to ``into``; a subtree already there is
        skipped whole, so that a list naming a directory and its content costs no more."""
        stack = [path]
        while stack:
            p = stack.pop()
            if p not in into:
                into[p] = None
                stack.extend(self._children.get(p, ()))

    def _drop_all(self, paths: Iterable[str]) -> None:
        """Drop whole subtrees. Hard links go first: a file then hands its content to the
        links outside the subtree at once, instead of from one doomed heir to the next."""
        paths = list(paths)
        links = [p for p in paths if self._entries[p].kind is Kind.HARDLINK]
        for p in links:
            self._drop(p)
        for p in paths:
            if p in self._entries:
                self._drop(p)

    def _drop(self, path: str) -> None:
        gone = self._entries.pop(path)
        parent = path.rpartition("/")[0]
        siblings = self._children[parent]
        siblings.discard(path)
        if not siblings:
            del self._children[parent]
        if gone.kind is Kind.HARDLINK:
            group = self._links[gone.target]
            group.discard(path)
            if not group:
                del self._links[gone.target]
            return
        heirs = self._links.pop(path, None) if gone.kind is Kind.FILE else None
        if heirs:
            first, *rest = sorted(heirs)
            self._entries[first] = replace(
                self._entries[first], kind=Kind.FILE, data=gone.data, target=""
            )
            for p in rest:
                self._entries[p] = replace(self._entries[p], target=first)
            if rest:
                self._links[first] = set(rest)

    def _hardlink_target(self, path: str, target: str, context: str) -> str:
        """The regular file a hard link at ``path`` shares its content with."""
        real_path = self.resolve(canonical(target, context=context))
        real = self._entries.get(real_path) if real_path else None
        if real is not None and real.kind is Kind.HARDLINK:
            real_path, real = real.target, self._entries[real.target]
        if real is None or real.kind is not Kind.FILE or real_path == path:
            raise UnsafePathError(
                f"hard link {path!r} -> {_short(target)!r}{_in(context)} does not name a "
                "regular file already in the image"
            )
        return real_path

    def _place(self, path: str, context: str) -> str:
        """Resolve symlinks among the parent directories of ``path`` (never the last part)."""
        parent, _, name = path.rpartition("/")
        if not parent or not self._below_symlink(parent):
            return path
        real_parent = self.resolve(parent)
        if real_parent is None:
            raise UnsafePathError(
                f"path {_short(path)!r}{_in(context)} goes through a link that leads outside "
                "the image, loops, or leads too deep"
            )
        return f"{real_parent}/{name}" if real_parent else name

    def _below_symlink(self, directory: str) -> bool:
        """Whether ``directory`` or one of its ancestors is a symlink. The nearest one that
        exists decides: every entry's parent is a directory, so all above it are too."""
        while directory:
            entry = self._entries.get(directory)
            if entry is not None:
                return entry.kind is Kind.SYMLINK
            directory = directory.rpartition("/")[0]
        return False

    def _make_parents(self, path: str, origin: str) -> None:
        parent = path.rpartition("/")[0]
        missing: list[str] = []
        while parent and parent not in self._entries:
            missing.append(parent)
            parent = parent.rpartition("/")[0]
        if parent and self._entries[parent].kind is not Kind.DIR:
            raise UnsafePathError(f"{path!r}: parent {parent!r} is not a directory")
        for p in reversed(missing):
            self._put(Entry(p, Kind.DIR, 0o755, origin=origin))


def _check_symlink(path: str, target: str, context: str) -> None:
    if not target or link_destination(path, target) is None:
        raise UnsafePathError(
            f"symlink {_short(path)!r} -> {_short(target)!r}{_in(context)} leads outside the image"
        )
    size = _byte_length(target)
    if size > MAX_LINK_BYTES:
        raise UnsafePathError(
            f"symlink {_short(path)!r}{_in(context)} has a target of {size} bytes, more than "
            f"the {MAX_LINK_BYTES} Linux allows; the package is malformed or hostile"
        )


def _reversed_parts(path: str) -> list[str]:
    return [p for p in reversed(path.split("/")) if p not in ("", ".")]


def _byte_length(text: str) -> int:
    if len(text) * 4 <= MAX_PATH_BYTES:
        return len(text)  # short enough whatever its encoding; the exact count is not needed
    try:
        # tarfile keeps a name's undecodable bytes as surrogate escapes: one byte each
        return len(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return len(text.encode("utf-8", "surrogatepass"))


def _short(text: str, keep: int = 80) -> str:
    """``text`` cut to a readable length for a message about a hostile name."""
    if len(text) <= keep:
        return text
    return f"{text[: keep - 25]}...({len(text)} characters)...{text[-15:]}"


def _in(context: str) -> str:
    return f" in {context}" if context else ""
