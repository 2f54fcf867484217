"""An in-memory image filesystem.

Every stage between "unpack the packages" and "write the layers" works on a :class:`Tree`:
package contents go in, generated files are added, slices are cut out, checks read it, and the
layer writer walks it in a stable order. Nothing is ever written under the host's ``/``.

Paths are kept in one canonical form: relative to the image root, ``/``-separated, no leading
``/``, no ``.`` or ``..`` parts, no trailing ``/`` (``usr/bin/python3``). The root itself is
the empty string and is never stored.

Safety is enforced here, once, for every producer: an entry name that is absolute or contains
``..`` is refused; a new entry whose parent directory is a symlink is placed where the link
leads (as dpkg would, which is how ``lib/...`` lands in ``usr/lib/...`` on merged-/usr), but a
link may never lead out of the tree, and a hard link must name a regular file already present.
"""

from __future__ import annotations

import enum
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace

from pydistroless.errors import UnsafePathError

_MAX_LINK_HOPS = 40


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

    ``./usr/bin/`` and ``usr/bin`` both become ``usr/bin``. Absolute names and names with
    ``..`` parts are refused: a package has no business writing outside its own tree.
    """
    where = f" in {context}" if context else ""
    if name.startswith("/"):
        raise UnsafePathError(
            f"absolute path {name!r}{where} is not allowed; the package is malformed or hostile"
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(
            f"path {name!r}{where} contains '..'; the package is malformed or hostile"
        )
    return "/".join(parts)


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
        self._hardlinks = 0  # so that removing files need not look for links to them

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
        or dangles. The last component need not exist unless ``follow_last`` finds a link."""
        hops = 0
        done: list[str] = []
        todo = [p for p in path.split("/") if p not in ("", ".")]
        while todo:
            part = todo.pop(0)
            if part == "..":
                if not done:
                    return None
                done.pop()
                continue
            candidate = "/".join([*done, part])
            entry = self._entries.get(candidate)
            if entry is not None and entry.kind is Kind.SYMLINK and (todo or follow_last):
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    return None
                if entry.target.startswith("/"):
                    done = []
                todo = [p for p in entry.target.split("/") if p not in ("", ".")] + todo
                continue
            if todo and entry is not None and entry.kind is not Kind.DIR:
                return None
            done.append(part)
        return "/".join(done)

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
        prefix = f"{directory}/" if directory else ""
        return sorted(
            p for p in self._entries if p.startswith(prefix) and "/" not in p[len(prefix) :]
        )

    # ---- writing -------------------------------------------------------------------------

    def add(self, entry: Entry, *, context: str = "") -> Entry:
        """Add ``entry`` (its path canonical or not), placing it through directory symlinks.

        Returns the entry as stored (its path may differ from the one given). A directory
        that already exists keeps its content and takes the new metadata; any other existing
        object at that path is replaced, as a later package would replace it.
        """
        path = self._place(canonical(entry.path, context=context), context)
        if not path:
            return entry  # the root directory itself: nothing to store
        if entry.kind is Kind.SYMLINK and (
            not entry.target or link_destination(path, entry.target) is None
        ):
            raise UnsafePathError(
                f"symlink {path!r} -> {entry.target!r}{_in(context)} leads outside the image"
            )
        if entry.kind is Kind.HARDLINK:
            target = self.resolve(canonical(entry.target, context=context))
            real = self._entries.get(target) if target else None
            if real is not None and real.kind is Kind.HARDLINK:
                target, real = real.target, self._entries[real.target]
            if real is None or real.kind is not Kind.FILE:
                raise UnsafePathError(
                    f"hard link {path!r} -> {entry.target!r}{_in(context)} does not name a "
                    "regular file already in the image"
                )
            entry = replace(entry, target=target)
        existing = self._entries.get(path)
        if entry.kind is Kind.DIR and existing is not None and existing.kind is Kind.SYMLINK:
            real = self.resolve(path)
            if real is not None and (found := self._entries.get(real)) and found.kind is Kind.DIR:
                # dpkg keeps a symlink to a directory where a package ships that directory:
                # this is what keeps lib -> usr/lib intact on merged-/usr.
                return existing
        replaces_dir = existing is not None and existing.kind is Kind.DIR
        if replaces_dir and entry.kind is not Kind.DIR and self.children(path):
            raise UnsafePathError(
                f"{entry.kind.value} {path!r}{_in(context)} would replace a non-empty directory"
            )
        self._make_parents(path, entry.origin)
        stored = replace(entry, path=path, mode=stat.S_IMODE(entry.mode))
        if stored.kind is Kind.HARDLINK:
            self._hardlinks += 1
        self._entries[path] = stored
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
        prefix = f"{path}/"
        doomed = [p for p in self._entries if p == path or p.startswith(prefix)]
        for p in doomed:
            self._drop(p)
        return len(doomed)

    def remove_entries(self, paths: list[str]) -> None:
        for p in paths:
            if p in self._entries:
                self._drop(p)

    # ---- internals -----------------------------------------------------------------------

    def _drop(self, path: str) -> None:
        gone = self._entries.pop(path)
        if gone.kind is Kind.HARDLINK:
            self._hardlinks -= 1
        if gone.kind is not Kind.FILE or not self._hardlinks:
            return
        heirs = sorted(
            p for p, e in self._entries.items() if e.kind is Kind.HARDLINK and e.target == path
        )
        if heirs:
            first = heirs[0]
            self._hardlinks -= 1
            self._entries[first] = replace(
                self._entries[first], kind=Kind.FILE, data=gone.data, target=""
            )
            for p in heirs[1:]:
                self._entries[p] = replace(self._entries[p], target=first)

    def _place(self, path: str, context: str) -> str:
        """Resolve symlinks among the parent directories of ``path`` (never the last part)."""
        if "/" not in path:
            return path
        parent, _, name = path.rpartition("/")
        if not any(self._is_link_prefix(parent)):
            return path
        real_parent = self.resolve(parent)
        if real_parent is None:
            raise UnsafePathError(
                f"path {path!r}{_in(context)} goes through a link that leads outside the image"
            )
        return f"{real_parent}/{name}" if real_parent else name

    def _is_link_prefix(self, parent: str) -> Iterator[bool]:
        parts = parent.split("/")
        for i in range(1, len(parts) + 1):
            entry = self._entries.get("/".join(parts[:i]))
            yield entry is not None and entry.kind is Kind.SYMLINK

    def _make_parents(self, path: str, origin: str) -> None:
        parent = posixpath.dirname(path)
        missing: list[str] = []
        while parent and parent not in self._entries:
            missing.append(parent)
            parent = posixpath.dirname(parent)
        if parent and self._entries[parent].kind is not Kind.DIR:
            raise UnsafePathError(f"{path!r}: parent {parent!r} is not a directory")
        for p in reversed(missing):
            self._entries[p] = Entry(p, Kind.DIR, 0o755, origin=origin)


def _in(context: str) -> str:
    return f" in {context}" if context else ""
