"""A registry as a source and a sink of the image model.

Reading names the blobs without fetching them: a layer is downloaded only when a sink opens
it, streamed into a spool that moves to disk past a few MiB (so a layer larger than memory
is fine), verified on the way by the client. Writing sends every blob first (in parallel,
skipping those the registry has, mounting those another repository of the same registry
has), then the manifests of the images, then the indexes, and the tags last: a tag never
names something whose parts are not all there.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from pydistroless.core.digest import Digest
from pydistroless.oci.documents import read_artifact
from pydistroless.oci.model import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    Artifact,
    Blob,
    Descriptor,
    Index,
    walk,
)
from pydistroless.oci.reference import Reference
from pydistroless.registry.client import Repository

# A blob this small stays in memory while it is passed on; larger ones go to a temporary file.
_SPOOL_IN_MEMORY = 8 << 20
# Blobs sent at once: registries serve a few parallel uploads well, and one layer alone
# rarely fills a link.
UPLOAD_JOBS = 6


@dataclass(frozen=True)
class RemoteBlob:
    """A blob of a repository, fetched (and checked) each time it is opened."""

    repository: Repository = field(repr=False)
    descriptor: Descriptor

    def open(self) -> BinaryIO:
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            self.repository.fetch_blob(self.descriptor.digest, spool, size=self.descriptor.size)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return spool  # type: ignore[return-value]

    def write_to(self, out: BinaryIO) -> None:
        """Stream the blob into ``out``, checked on the way (see :mod:`oci.blobs`)."""
        self.repository.fetch_blob(self.descriptor.digest, out, size=self.descriptor.size)


def read(repository: Repository, reference: Reference) -> Artifact:
    """The image or index ``reference`` names, with every child manifest (blobs unread; a
    child listed many times fetched once)."""
    manifest = repository.fetch_manifest(reference.identifier)
    top = Descriptor(manifest.media_type, manifest.digest, len(manifest.data))

    def document_of(descriptor: Descriptor) -> bytes:
        return repository.fetch_manifest(str(descriptor.digest)).data

    def blob_of(descriptor: Descriptor) -> Blob:
        return RemoteBlob(repository, descriptor)

    return read_artifact(top, manifest.data, document_of, blob_of, where=str(reference))


@dataclass
class PushReport:
    """What a push sent: blobs uploaded (and their bytes), mounted, already present."""

    uploaded: int = 0
    uploaded_bytes: int = 0
    mounted: int = 0
    present: int = 0
    manifests: int = 0

    def summary(self) -> str:
        return (
            f"{self.uploaded} blob(s) uploaded ({self.uploaded_bytes / 1e6:.1f} MB), "
            f"{self.mounted} mounted, {self.present} already there, "
            f"{self.manifests} manifest(s)"
        )


def write(
    artifact: Artifact,
    repository: Repository,
    tags: Sequence[str],
    *,
    mount_from: Sequence[str] = (),
    on_blob: Callable[[Descriptor, str], None] | None = None,
) -> PushReport:
    """Push ``artifact`` to ``repository`` and tag it with each of ``tags`` (none: by digest
    only). Blobs first, then manifests children first, then the tags."""
    report = PushReport()
    documents: list[tuple[Descriptor, bytes]] = []
    blobs: list[tuple[Descriptor, Blob]] = []
    own = _documents(artifact)
    for descriptor, blob in walk(artifact):
        if descriptor.media_type in (*MANIFEST_TYPES, *INDEX_TYPES) and descriptor.digest in own:
            with blob.open() as stream:
                documents.append((descriptor, stream.read()))
        else:
            blobs.append((descriptor, blob))

    def send(item: tuple[Descriptor, Blob]) -> str:
        descriptor, blob = item
        outcome = repository.upload_blob(
            descriptor.digest, descriptor.size, blob.open, mount_from=mount_from
        )
        if on_blob is not None:
            on_blob(descriptor, outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=UPLOAD_JOBS) as pool:
        try:
            outcomes = list(pool.map(send, blobs))
        except KeyboardInterrupt:
            # Ctrl-C reaches the main thread, waiting here: the transport's cancel ends the
            # uploads in the pool's threads now, before the pool waits for them.
            repository.registry.cancel()
            raise
    for (descriptor, _), outcome in zip(blobs, outcomes, strict=True):
        if outcome == "uploaded":
            report.uploaded += 1
            report.uploaded_bytes += descriptor.size
        elif outcome == "mounted":
            report.mounted += 1
        else:
            report.present += 1
    top = artifact.digest
    for descriptor, data in documents:
        if descriptor.digest != top:
            repository.put_manifest(str(descriptor.digest), data, descriptor.media_type)
            report.manifests += 1
    data, media_type = _raw(artifact)
    for tag in tags or [str(top)]:
        repository.put_manifest(tag, data, media_type)
        report.manifests += 1
    return report


def _raw(artifact: Artifact) -> tuple[bytes, str]:
    if isinstance(artifact, Index):
        return artifact.raw, artifact.media_type
    return artifact.manifest, artifact.media_type


def _documents(artifact: Artifact) -> set[Digest]:
    """The digests of the manifests and indexes of ``artifact`` (not of blobs that happen to
    carry a manifest's media type), each index visited once however often it is listed."""
    found: set[Digest] = set()
    pending = [artifact]
    while pending:
        item = pending.pop()
        if item.digest in found:
            continue
        found.add(item.digest)
        if isinstance(item, Index):
            pending.extend(item.children)
    return found
