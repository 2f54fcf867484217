"""The image model every source and sink speaks: :class:`Image`, :class:`Layer`, :class:`Index`.

An image is its raw bytes. The manifest and the config are kept exactly as they were read
(from a tar, a layout, a registry) or as they were serialised once (by our build or a
mutation), and everything else (digests, platform, the parsed JSON) is derived from those
bytes. So an image that goes through any chain of sources and sinks keeps every digest: no
document is ever re-serialised unless it is changed.

Blobs are not held: a :class:`Layer` names a :class:`Blob` that opens a stream (a file of the
cache or a layout, a member of a tar, a registry response), and every copy hashes the stream
as it flows (:mod:`pydistroless.oci.blobs`). A layer larger than memory is as good as a small
one.

Docker's schema 2 media types and OCI's are both read and kept as they are.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from pydistroless.core import arch
from pydistroless.core.arch import Platform
from pydistroless.core.digest import Digest
from pydistroless.core.errors import ImageFormatError, PlatformNotFoundError, UsageError
from pydistroless.oci.limits import MAX_DOCUMENT, DocumentError, load_json

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"

Pairs = tuple[tuple[str, str], ...]


def canonical_json(value: Any) -> bytes:
    """The one serialisation of a document we write: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pairs(value: Pairs | Mapping[str, str], what: str) -> Pairs:
    """Sorted key/value pairs, so that equal contents compare and serialise equal."""
    items = list(value.items()) if isinstance(value, Mapping) else list(value)
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        raise UsageError(f"{what} has a key given twice: {sorted(keys)}")
    return tuple(sorted((str(k), str(v)) for k, v in items))


def parse_document(data: bytes, what: str) -> dict[str, Any]:
    """A JSON object read from a source, refused in one line if it is not one (or is larger
    or nests deeper than any image document, see :mod:`pydistroless.oci.limits`)."""
    if len(data) > MAX_DOCUMENT:
        raise ImageFormatError(f"{what} is {len(data)} bytes, more than any image document")
    try:
        value = load_json(data)
    except DocumentError as exc:
        raise ImageFormatError(f"{what} is refused: {exc}; the image is damaged") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise ImageFormatError(f"{what} is not JSON ({exc}); the image is damaged") from None
    if not isinstance(value, dict):
        raise ImageFormatError(f"{what} is not a JSON object; the image is damaged")
    return value


# ---- blobs ------------------------------------------------------------------------------


class Blob(Protocol):
    """Something that opens a blob's bytes as a stream, as often as asked."""

    def open(self) -> BinaryIO: ...


@dataclass(frozen=True)
class BytesBlob:
    """A blob held in memory: documents, and the layers our own build just wrote."""

    data: bytes = field(repr=False)

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)


@dataclass(frozen=True)
class FileBlob:
    """A blob in a file: a whole file (the cache, a layout) or ``size`` bytes of it from
    ``offset`` (a member of a tar)."""

    path: Path
    offset: int = 0
    size: int | None = None

    def open(self) -> BinaryIO:
        handle = open(self.path, "rb")  # noqa: SIM115 - the caller closes it
        if self.offset:
            handle.seek(self.offset)
        if self.size is None:
            return handle
        return _Window(handle, self.size)  # type: ignore[return-value]


class _Window(io.RawIOBase):
    """At most ``size`` bytes of ``handle`` from where it stands."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle = handle
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        n = self._handle.readinto(view)  # type: ignore[attr-defined]
        self._left -= n or 0
        return n or 0

    def close(self) -> None:
        self._handle.close()
        super().close()


def read_small(blob: Blob) -> bytes:
    """A document blob's bytes, refused past :data:`MAX_DOCUMENT`."""
    with blob.open() as stream:
        data = stream.read(MAX_DOCUMENT + 1)
    if len(data) > MAX_DOCUMENT:
        raise ImageFormatError(f"a document of the image is larger than {MAX_DOCUMENT} bytes")
    return data


# ---- descriptors ------------------------------------------------------------------------


@dataclass(frozen=True)
class Descriptor:
    """What an index or a manifest says about a blob it refers to."""

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: Pairs = ()
    artifact_type: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    @classmethod
    def from_json(cls, data: object, what: str) -> Descriptor:
        if not isinstance(data, dict):
            raise ImageFormatError(f"{what} is not a descriptor object; the image is damaged")
        media_type, digest, size = data.get("mediaType"), data.get("digest"), data.get("size")
        annotations = data.get("annotations") or {}
        if (
            not isinstance(media_type, str)
            or not isinstance(digest, str)
            or type(size) is not int
            or size < 0
            or not isinstance(annotations, dict)
            or not all(isinstance(v, str) for v in annotations.values())
        ):
            raise ImageFormatError(
                f"{what} lacks a media type, digest or size of the right type; the image is damaged"
            )
        try:
            parsed = Digest.parse(digest)
        except UsageError as exc:
            raise ImageFormatError(f"{what}: {exc}") from None
        artifact = data.get("artifactType") or ""
        return cls(
            media_type=media_type,
            digest=parsed,
            size=size,
            platform=Platform.from_json(data.get("platform")),
            annotations=pairs(annotations, what),
            artifact_type=artifact if isinstance(artifact, str) else "",
        )


# ---- layers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One layer: its descriptor as the manifest lists it, the digest of its uncompressed
    tar (``diff_id``, what the config lists and engines check), and where its bytes are.

    ``comment`` and ``created_by`` are what a new layer's history entry says; a layer read
    from an image keeps its history in the image's config instead.
    """

    descriptor: Descriptor
    diff_id: Digest
    blob: Blob = field(repr=False, compare=False)
    comment: str = ""
    uncompressed_size: int | None = None

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest

    @property
    def size(self) -> int:
        return self.descriptor.size

    @property
    def media_type(self) -> str:
        return self.descriptor.media_type

    def open(self) -> BinaryIO:
        return self.blob.open()


# ---- images -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Image:
    """One manifest with its config and layers, as raw bytes.

    Made by :meth:`read` from a source's bytes, or by :func:`pydistroless.oci.mutate`
    functions that serialise a new manifest once. ``layers`` are the manifest's ``layers``
    in order: for an image, filesystem layers with their diff_ids; for an artifact (an SBOM
    that refers to an image), its blobs, whose diff_id is their digest.
    """

    manifest: bytes = field(repr=False)
    config: bytes = field(repr=False)
    layers: tuple[Layer, ...]
    media_type: str = OCI_MANIFEST

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Image) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    @cached_property
    def digest(self) -> Digest:
        return Digest.of(self.manifest)

    @cached_property
    def manifest_json(self) -> dict[str, Any]:
        return parse_document(self.manifest, "the manifest")

    @cached_property
    def config_json(self) -> dict[str, Any]:
        return parse_document(self.config, "the image config")

    @property
    def config_descriptor(self) -> Descriptor:
        return Descriptor.from_json(self.manifest_json.get("config"), "the manifest's config")

    @property
    def is_container_image(self) -> bool:
        return self.config_descriptor.media_type in CONFIG_TYPES

    @property
    def platform(self) -> Platform | None:
        if not self.is_container_image:
            return None
        return Platform.from_json(self.config_json)

    @property
    def labels(self) -> dict[str, str]:
        """The config's labels (those whose values are strings)."""
        run = self.config_json.get("config") if self.is_container_image else None
        found = run.get("Labels") if isinstance(run, dict) else None
        if not isinstance(found, dict):
            return {}
        return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)}

    @property
    def artifact_type(self) -> str:
        value = self.manifest_json.get("artifactType")
        if isinstance(value, str):
            return value
        config = self.config_descriptor.media_type
        return "" if config in CONFIG_TYPES else config

    def descriptor(self, *, with_platform: bool = True) -> Descriptor:
        """How an index lists this image."""
        return Descriptor(
            media_type=self.media_type,
            digest=self.digest,
            size=len(self.manifest),
            platform=self.platform if with_platform else None,
            artifact_type=self.artifact_type,
        )

    def blobs(self) -> Iterator[tuple[Descriptor, Blob]]:
        """The config and the layers, each once, in manifest order."""
        yield self.config_descriptor, BytesBlob(self.config)
        seen = {self.config_descriptor.digest}
        for layer in self.layers:
            if layer.digest not in seen:
                seen.add(layer.digest)
                yield layer.descriptor, layer.blob

    @classmethod
    def read(
        cls,
        manifest: bytes,
        media_type: str | None,
        blob_of: Callable[[Descriptor], Blob],
        *,
        where: str,
    ) -> Image:
        """An image from its manifest's bytes; ``blob_of`` says where a descriptor's blob is.

        The config is read at once (it is small, and the diff_ids are in it); the layers'
        blobs are only named. ``media_type`` is what the source said (a registry's
        Content-Type, an index's descriptor); the manifest's own field wins when present.
        """
        body = parse_document(manifest, f"the manifest of {where}")
        kind = body.get("mediaType") or media_type or OCI_MANIFEST
        if kind not in MANIFEST_TYPES:
            raise ImageFormatError(
                f"{where} is a {kind}, not an image manifest; name an image or an index"
            )
        config_desc = Descriptor.from_json(body.get("config"), f"the config of {where}")
        config = read_small(blob_of(config_desc))
        _check(config, config_desc, f"the config of {where}")
        raw_layers = body.get("layers")
        if not isinstance(raw_layers, list):
            raise ImageFormatError(f"the manifest of {where} has no layers list")
        descriptors = [
            Descriptor.from_json(x, f"layer {i + 1} of {where}") for i, x in enumerate(raw_layers)
        ]
        diff_ids: list[Digest] = [d.digest for d in descriptors]
        if config_desc.media_type in CONFIG_TYPES:
            diff_ids = _diff_ids(parse_document(config, f"the config of {where}"), where)
            if len(diff_ids) != len(descriptors):
                raise ImageFormatError(
                    f"{where} lists {len(descriptors)} layers but its config "
                    f"{len(diff_ids)} diff_ids; the image is damaged"
                )
        layers = tuple(
            Layer(descriptor=d, diff_id=diff, blob=blob_of(d))
            for d, diff in zip(descriptors, diff_ids, strict=True)
        )
        return cls(manifest=manifest, config=config, layers=layers, media_type=kind)


def _diff_ids(config: dict[str, Any], where: str) -> list[Digest]:
    rootfs = config.get("rootfs")
    raw = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ImageFormatError(f"the config of {where} has no rootfs.diff_ids list")
    try:
        return [Digest.parse(x) for x in raw]
    except UsageError as exc:
        raise ImageFormatError(f"the config of {where}: {exc}") from None


def _check(data: bytes, descriptor: Descriptor, what: str) -> None:
    got = Digest.of(data)
    if got != descriptor.digest or len(data) != descriptor.size:
        raise ImageFormatError(
            f"{what} has digest {got} ({len(data)} bytes), not the {descriptor.digest} "
            f"({descriptor.size} bytes) the manifest names; the image is damaged or tampered with"
        )


# ---- indexes ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Index:
    """A list of images (or indexes) by platform, as raw bytes, with the children it lists
    that a source could read."""

    raw: bytes = field(repr=False)
    children: tuple[Image | Index, ...]
    media_type: str = OCI_INDEX
    # entries that are neither images nor indexes (attestations, signatures, whatever a
    # tool put there): carried along as opaque blobs, so a copy keeps the index whole
    others: tuple[tuple[Descriptor, Blob], ...] = field(default=(), repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Index) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    @cached_property
    def digest(self) -> Digest:
        return Digest.of(self.raw)

    @cached_property
    def json(self) -> dict[str, Any]:
        return parse_document(self.raw, "the image index")

    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.raw))

    def manifests(self) -> list[Descriptor]:
        raw = self.json.get("manifests")
        if not isinstance(raw, list):
            raise ImageFormatError("the image index has no manifests list; it is damaged")
        return [Descriptor.from_json(x, f"entry {i + 1} of the index") for i, x in enumerate(raw)]

    def images(self) -> Iterator[Image]:
        """Every image below this index, nested indexes flattened, in order, each once (an
        index may list one child many times)."""
        seen: set[Digest] = set()

        def visit(index: Index) -> Iterator[Image]:
            for child in index.children:
                if child.digest in seen:
                    continue
                seen.add(child.digest)
                if isinstance(child, Index):
                    yield from visit(child)
                else:
                    yield child

        yield from visit(self)

    def platforms(self) -> list[Platform]:
        return [p for p in (i.platform for i in self.images()) if p is not None]

    def image_for(self, platform: Platform) -> Image | None:
        return next(
            (i for i in self.images() if i.platform is not None and i.platform.matches(platform)),
            None,
        )


Artifact = Image | Index


def platform_image(artifact: Artifact, platform: Platform | None, *, where: str) -> Image:
    """The image of ``platform`` in ``artifact`` (an image must be of it, an index must list
    it); with no platform asked, the host's if listed, else the only one."""
    if isinstance(artifact, Image):
        own = artifact.platform
        if platform is not None and own is not None and not own.matches(platform):
            raise PlatformNotFoundError(
                f"{where} is a {own} image, not {platform}; choose --platform {own}"
            )
        return artifact
    images = [i for i in artifact.images() if i.platform is not None]
    have = ", ".join(str(i.platform) for i in images) or "none"
    if platform is not None:
        found = artifact.image_for(platform)
        if found is None:
            raise PlatformNotFoundError(
                f"{where} has no image for {platform} (it has {have}); choose one of those "
                "with --platform"
            )
        return found
    host = arch.host()
    if host is not None and (found := artifact.image_for(host.platform)) is not None:
        return found
    if len(images) == 1:
        return images[0]
    raise PlatformNotFoundError(
        f"{where} has images for {have} and none for this machine; choose one with --platform"
    )


def walk(artifact: Artifact) -> Iterator[tuple[Descriptor, Blob]]:
    """Every blob ``artifact`` needs, children before the documents that list them (the
    order a registry needs: a manifest after its blobs, an index after its manifests), each
    blob once, and each image or index visited once however often it is listed."""
    seen: set[Digest] = set()
    visited: set[Digest] = set()

    def visit(item: Artifact) -> Iterator[tuple[Descriptor, Blob]]:
        if item.digest in visited:
            return
        visited.add(item.digest)
        if isinstance(item, Index):
            for child in item.children:
                yield from visit(child)
            for desc, blob in item.others:
                if desc.digest not in seen:
                    seen.add(desc.digest)
                    yield desc, blob
            own = (item.descriptor(), BytesBlob(item.raw))
        else:
            for desc, blob in item.blobs():
                if desc.digest not in seen:
                    seen.add(desc.digest)
                    yield desc, blob
            own = (item.descriptor(), BytesBlob(item.manifest))
        if own[0].digest not in seen:
            seen.add(own[0].digest)
            yield own

    yield from visit(artifact)
