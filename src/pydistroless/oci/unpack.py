"""An image's file tree, made from its layers: how later stages read a base image's files
(its ``status.d``, its Python, its ``ld.so.cache``) without an engine.

Layers are applied bottom first as the OCI image spec's "applying changesets" says: a path
in a later layer replaces the same path below it, directories merge, ``.wh.NAME`` deletes
``NAME`` from the layers below, and ``.wh..wh..opq`` in a directory hides everything the
layers below put there. Each layer is streamed (decompressed as it is read, never whole),
checked against its diff_id as it goes, and bounded in size; the entries land in a
:class:`~pydistroless.fs.tree.Tree`, whose rules refuse a path out of the tree.
"""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

import zstandard

from pydistroless.core.digest import Hasher
from pydistroless.core.errors import ImageFormatError, PackageFormatError
from pydistroless.fs.tree import Entry, Kind, Tree, canonical
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
# The tree is held in memory: an image whose files add up to more than this is refused
# rather than let to exhaust it. Python base images are about 50 MB unpacked.
MAX_UNPACKED = 4 << 30

_GZIP = (OCI_LAYER_GZIP, DOCKER_LAYER_GZIP)
_PLAIN = (OCI_LAYER, DOCKER_LAYER)


def tree_of(image: Image) -> Tree:
    """The file tree ``image`` runs with."""
    tree = Tree()
    budget = [MAX_UNPACKED]
    for number, layer in enumerate(image.layers, 1):
        apply_layer(tree, layer, budget=budget, what=f"layer {number} ({layer.digest})")
    return tree


def apply_layer(tree: Tree, layer: Layer, *, budget: list[int], what: str) -> None:
    """Apply one layer's changes to ``tree`` (``budget`` holds the bytes still allowed)."""
    added: set[str] = set()
    with layer.open() as raw:
        stream = _Checked(_decompressed(raw, layer.media_type, what))
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    _apply(tree, tar, member, added, budget, what)
            stream.drain()
        except (tarfile.TarError, EOFError, OSError, zstandard.ZstdError) as exc:
            raise ImageFormatError(f"{what} is not a readable tar ({exc})") from None
    stream.hasher.check(layer.diff_id, None, f"{what}: the uncompressed tar")


def _apply(
    tree: Tree,
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    added: set[str],
    budget: list[int],
    what: str,
) -> None:
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
        budget[0] -= member.size
        if budget[0] < 0:
            raise ImageFormatError(
                f"{what}: the image unpacks to more than {MAX_UNPACKED >> 20} MiB of files, "
                "more than a tree in memory should hold"
            )
        handle = tar.extractfile(member)
        data = handle.read() if handle is not None else b""
        entry = Entry(path, Kind.FILE, data=data, **common)
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


def _decompressed(raw: BinaryIO, media_type: str, what: str) -> BinaryIO:
    if media_type in _GZIP:
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if media_type == OCI_LAYER_ZSTD:
        return zstandard.ZstdDecompressor().stream_reader(raw)  # type: ignore[return-value]
    if media_type in _PLAIN:
        return raw
    raise ImageFormatError(f"{what} is a {media_type}, which is no layer type this tool reads")


class _Checked:
    """A read-only stream that hashes what passes through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.hasher = Hasher()

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.hasher.update(data)
        return data

    def drain(self) -> None:
        """Read what the tar reader left (its end-of-archive padding), so the hash is over
        the whole uncompressed stream."""
        for _ in _chunks(self):
            pass


def _chunks(stream: _Checked) -> Iterator[bytes]:
    while chunk := stream.read(1 << 20):
        yield chunk
