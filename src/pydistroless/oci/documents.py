"""An image or an index read with every manifest and index below it, each document once.

A source (a layout, a tar, a registry) says how to get a document's bytes, checked against
its descriptor, and where a blob is; this module makes the :class:`Image` or :class:`Index`
from them. An index may list one child many times: the child is read once, and the same
object stands in every place it is listed, so an index of 40 entries naming one index of 40
entries (and so on, 6 deep) costs 6 documents, not 40 to the 6th. An index that lists itself
or an index above it (a cycle), nests deeper than :data:`MAX_INDEX_NESTING` or names more
than :data:`MAX_DOCUMENTS` documents is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from pydistroless.core.digest import Digest
from pydistroless.core.errors import ImageFormatError
from pydistroless.oci.limits import MAX_DOCUMENTS, MAX_INDEX_NESTING
from pydistroless.oci.model import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    Artifact,
    Blob,
    Descriptor,
    Image,
    Index,
)

# The bytes of a manifest or an index, checked against the descriptor that names it.
DocumentOf = Callable[[Descriptor], bytes]
BlobOf = Callable[[Descriptor], Blob]


def read_artifact(
    descriptor: Descriptor,
    data: bytes,
    document_of: DocumentOf,
    blob_of: BlobOf,
    *,
    where: str,
) -> Artifact:
    """The index (when ``descriptor`` says it is one) or image whose bytes are ``data``,
    with every manifest and index it lists read through ``document_of``; other entries of
    an index are carried as opaque blobs, and no blob is read."""
    return _Reader(document_of, blob_of, where).read(descriptor, data, ())


class _Reader:
    """One read: what it has made so far, by digest and media type."""

    def __init__(self, document_of: DocumentOf, blob_of: BlobOf, where: str):
        self._document_of = document_of
        self._blob_of = blob_of
        self._where = where
        self._made: dict[tuple[Digest, str], Artifact] = {}

    def read(self, descriptor: Descriptor, data: bytes, above: tuple[Digest, ...]) -> Artifact:
        if len(above) > MAX_INDEX_NESTING:
            raise ImageFormatError(
                f"{self._where}: indexes nest more than {MAX_INDEX_NESTING} deep"
            )
        if descriptor.media_type not in INDEX_TYPES:
            return Image.read(data, descriptor.media_type, self._blob_of, where=self._where)
        shell = Index(raw=data, children=(), media_type=descriptor.media_type)
        path = (*above, descriptor.digest)
        children: list[Artifact] = []
        others: list[tuple[Descriptor, Blob]] = []
        for entry in shell.manifests():
            if entry.media_type not in (*INDEX_TYPES, *MANIFEST_TYPES):
                others.append((entry, self._blob_of(entry)))
            elif entry.digest in path:
                raise ImageFormatError(
                    f"{self._where}: the index {descriptor.digest} lists {entry.digest}, which "
                    "is itself or an index above it (a cycle); the image is damaged"
                )
            else:
                children.append(self._child(entry, path))
        return Index(
            raw=data,
            children=tuple(children),
            media_type=descriptor.media_type,
            others=tuple(others),
        )

    def _child(self, entry: Descriptor, path: tuple[Digest, ...]) -> Artifact:
        key = (entry.digest, entry.media_type)
        made = self._made.get(key)
        if made is None:
            if len(self._made) >= MAX_DOCUMENTS:
                raise ImageFormatError(
                    f"{self._where}: the index names more than {MAX_DOCUMENTS} manifests and "
                    "indexes, more than any image has"
                )
            made = self.read(entry, self._document_of(entry), path)
            self._made[key] = made
        return made
