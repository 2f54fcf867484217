"""An image's file tree, made from its layers: how later stages read a base image's files
(its ``status.d``, its Python, its ``ld.so.cache``) without an engine.

Layers are applied bottom first as the OCI image spec's "applying changesets" says: a path
in a later layer replaces the same path below it, directories merge, ``.wh.NAME`` deletes
``NAME`` from the layers below, and ``.wh..wh..opq`` in a directory hides everything the
layers below put there. Each layer is streamed (decompressed as it is read, never whole),
checked against its diff_id as it goes, and bounded (the bounds are in
:mod:`pydistroless.oci.limits`) while it streams, before memory grows: a layer decompresses to
at most a fixed ratio of its compressed size (a gzip bomb stops at its first megabytes), an
image's files add up to at most :data:`MAX_UNPACKED` bytes and its tars to at most
:data:`MAX_ENTRIES` entries, and a file's size is checked against what is left before any of
it is read. The entries land in a :class:`~pydistroless.fs.tree.Tree`, whose rules refuse a
path out of the tree.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import zstandard

from pydistroless.core.digest import Hasher
from pydistroless.core.errors import ImageFormatError, PackageFormatError
from pydistroless.fs.tree import Entry, Kind, Tree, canonical
from pydistroless.oci.limits import (
    LAYER_RATIO,
    LAYER_SLACK,
    MAX_ENTRIES,
    MAX_UNPACKED,
    layer_allowance,
)
from pydistroless.oci.model import (
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    Image,
    Layer,
)

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"

_GZIP = (OCI_LAYER_GZIP, DOCKER_LAYER_GZIP)
_PLAIN = (OCI_LAYER, DOCKER_LAYER)
_CHUNK = 1 << 20


@dataclass
class Budget:
    """What an image may unpack to, and what its layers have spent of it so far: bytes of
    files (held in memory) and tar entries."""

    max_files: int = MAX_UNPACKED
    max_entries: int = MAX_ENTRIES
    files: int = 0
    entries: int = 0

    def spend_entry(self, what: str) -> None:
        self.entries += 1
        if self.entries > self.max_entries:
            raise ImageFormatError(
                f"{what}: the image has more than {self.max_entries} files, directories and "
                "links (MAX_ENTRIES), more than any real image and a tree in memory should hold"
            )

    def spend_file(self, size: int, what: str) -> None:
        self.files += size
        if self.files > self.max_files:
            raise ImageFormatError(
                f"{what}: the image unpacks to more than {self.max_files >> 20} MiB of files "
                "(MAX_UNPACKED), more than a tree in memory should hold"
            )


def tree_of(image: Image, *, budget: Budget | None = None) -> Tree:
    """The file tree ``image`` runs with."""
    tree = Tree()
    spent = budget if budget is not None else Budget()
    for number, layer in enumerate(image.layers, 1):
        apply_layer(tree, layer, budget=spent, what=f"layer {number} ({layer.digest})")
    return tree


def apply_layer(tree: Tree, layer: Layer, *, budget: Budget | list[int], what: str) -> None:
    """Apply one layer's changes to ``tree``, spending ``budget`` (a list holds the bytes of
    files still allowed, and no bound on entries but the default)."""
    spent = budget if isinstance(budget, Budget) else Budget(max_files=budget[0])
    added: set[str] = set()
    with layer.open() as raw:
        stream = _Checked(
            _decompressed(raw, layer.media_type, what), layer_allowance(layer.size), what
        )
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                while (member := tar.next()) is not None:
                    _apply(tree, tar, member, added, spent, stream, what)
                    # A streamed tar keeps every header it has read; one at a time is enough.
                    tar.members.clear()
            stream.drain()
        except (tarfile.TarError, EOFError, OSError, zstandard.ZstdError) as exc:
            raise ImageFormatError(f"{what} is not a readable tar ({exc})") from None
    stream.hasher.check(layer.diff_id, None, f"{what}: the uncompressed tar")
    if isinstance(budget, list):
        budget[0] = spent.max_files - spent.files


def _apply(
    tree: Tree,
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    added: set[str],
    budget: Budget,
    stream: _Checked,
    what: str,
) -> None:
    budget.spend_entry(what)
    try:
        path = canonical(member.name, context=what)
    except PackageFormatError as exc:
        raise ImageFormatError(str(exc)) from None
    if not path:
        return
    parent, _, name = path.rpartition("/")
    if name == OPAQUE:
        for child in tree.children(parent):
            if child not in added:
                tree.remove(child)
        return
    if name.startswith(WHITEOUT):
        tree.remove(f"{parent}/{name[len(WHITEOUT) :]}".lstrip("/"))
        return
    common = {"mode": member.mode & 0o7777, "uid": member.uid, "gid": member.gid}
    if member.isdir():
        entry = Entry(path, Kind.DIR, **common)
    elif member.isreg():
        # Both bounds are checked on the header's size, before a byte of the file is read.
        budget.spend_file(member.size, what)
        stream.expect(member.size)
        entry = Entry(path, Kind.FILE, data=_data(tar, member), **common)
    elif member.issym():
        entry = Entry(path, Kind.SYMLINK, target=member.linkname, **common)
    elif member.islnk():
        entry = Entry(path, Kind.HARDLINK, target=canonical(member.linkname), **common)
    else:
        return  # devices and FIFOs have no place in the images this tree serves
    old = tree.get(path)
    if old is not None and old.kind is Kind.DIR and entry.kind is not Kind.DIR:
        tree.remove(path)  # a file over a directory replaces the whole directory
    try:
        tree.add(entry, context=what)
    except PackageFormatError as exc:
        raise ImageFormatError(str(exc)) from None
    added.add(path)


def _data(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """A member's bytes, read in chunks into one buffer (reading it whole would hold it
    twice on the way)."""
    handle = tar.extractfile(member)
    if handle is None:
        return b""
    buffer = io.BytesIO()
    with handle:
        while chunk := handle.read(_CHUNK):
            buffer.write(chunk)
    return buffer.getvalue()


def _decompressed(raw: BinaryIO, media_type: str, what: str) -> BinaryIO:
    if media_type in _GZIP:
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if media_type == OCI_LAYER_ZSTD:
        return zstandard.ZstdDecompressor().stream_reader(raw)  # type: ignore[return-value]
    if media_type in _PLAIN:
        return raw
    raise ImageFormatError(f"{what} is a {media_type}, which is no layer type this tool reads")


class _Checked:
    """A read-only stream that hashes what passes through it and refuses to pass more than
    ``allowance`` bytes: the most its layer may decompress to."""

    def __init__(self, stream: BinaryIO, allowance: int, what: str) -> None:
        self._stream = stream
        self._allowance = allowance
        self._left = allowance
        self._what = what
        self.hasher = Hasher()

    def read(self, size: int = -1) -> bytes:
        # Never more than a chunk at once, so that no read holds more than the bound.
        data = self._stream.read(_CHUNK if size < 0 else min(size, _CHUNK))
        self._left -= len(data)
        if self._left < 0:
            raise self._too_large()
        self.hasher.update(data)
        return data

    def expect(self, size: int) -> None:
        """Refuse now a file of ``size`` bytes the layer has no room left for."""
        if size > self._left:
            raise self._too_large()

    def _too_large(self) -> ImageFormatError:
        return ImageFormatError(
            f"{self._what} decompresses to more than {self._allowance >> 20} MiB, more than "
            f"{LAYER_RATIO} times its compressed size plus {LAYER_SLACK >> 20} MiB (LAYER_RATIO, "
            "LAYER_SLACK), which no real layer does; it is damaged or a decompression bomb"
        )

    def drain(self) -> None:
        """Read what the tar reader left (its end-of-archive padding), so the hash is over
        the whole uncompressed stream."""
        for _ in _chunks(self):
            pass


def _chunks(stream: _Checked) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk
