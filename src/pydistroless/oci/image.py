"""OCI image values: platform, config, manifest and index, and their canonical JSON.

Every JSON document is serialised one way only (sorted keys, no spaces, UTF-8), so the same
image always has the same config digest, manifest digest and index digest. Timestamps come
from the caller (``SOURCE_DATE_EPOCH``), never from the clock.
"""

from __future__ import annotations

import json
import platform as _host
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydistroless.errors import UsageError
from pydistroless.oci.layer import (
    MEDIA_TYPE_LAYER_GZIP,
    MEDIA_TYPE_LAYER_TAR,
    MEDIA_TYPE_LAYER_ZSTD,
    Layer,
    sha256_digest,
)

__all__ = [
    "ANNOTATION_CONTAINERD_NAME",
    "ANNOTATION_CREATED",
    "ANNOTATION_REF_NAME",
    "MEDIA_TYPE_CONFIG",
    "MEDIA_TYPE_INDEX",
    "MEDIA_TYPE_LAYER_GZIP",
    "MEDIA_TYPE_LAYER_TAR",
    "MEDIA_TYPE_LAYER_ZSTD",
    "MEDIA_TYPE_MANIFEST",
    "Image",
    "ImageConfig",
    "ImageIndex",
    "Platform",
    "canonical_json",
    "host_platform",
    "platform_for_debian_arch",
    "rfc3339",
]

MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json"

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"

CREATED_BY = "pydistroless"

Pairs = tuple[tuple[str, str], ...]


def canonical_json(value: Any) -> bytes:
    """The one serialisation of a JSON document that digests are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339(epoch: int) -> str:
    """``1700000000`` -> ``"2023-11-14T22:13:20Z"``: the form image configs carry."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pairs(value: Pairs | Mapping[str, str], what: str) -> Pairs:
    """Sorted key/value pairs, so that equal contents compare and serialise equal."""
    items = list(value.items()) if isinstance(value, Mapping) else list(value)
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        raise UsageError(f"{what} has a key given twice: {sorted(keys)}")
    return tuple(sorted((str(k), str(v)) for k, v in items))


# ---- platform ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    """An OCI platform, with Go's architecture names as the image spec requires."""

    architecture: str
    os: str = "linux"
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def matches(self, other: Platform) -> bool:
        """Equal as engines compare platforms: arm64 without a variant means arm64/v8."""
        return (self.os, self.architecture, _variant(self)) == (
            other.os,
            other.architecture,
            _variant(other),
        )


def _variant(p: Platform) -> str:
    return p.variant or ("v8" if p.architecture == "arm64" else "")


_DEBIAN_PLATFORMS = {
    "amd64": Platform("amd64"),
    "arm64": Platform("arm64", variant="v8"),
    "armhf": Platform("arm", variant="v7"),
    # Debian's armel targets ARMv5TE; the official arm32v5 images are built from it.
    "armel": Platform("arm", variant="v5"),
    "i386": Platform("386"),
    "ppc64el": Platform("ppc64le"),
    "s390x": Platform("s390x"),
    "riscv64": Platform("riscv64"),
    "mips64el": Platform("mips64le"),
}

# what the kernel reports (uname -m) -> Go's names
_MACHINES = {
    "x86_64": Platform("amd64"),
    "amd64": Platform("amd64"),
    "aarch64": Platform("arm64", variant="v8"),
    "arm64": Platform("arm64", variant="v8"),
    "armv7l": Platform("arm", variant="v7"),
    "armv6l": Platform("arm", variant="v6"),
    "armv5tel": Platform("arm", variant="v5"),
    "i386": Platform("386"),
    "i686": Platform("386"),
    "ppc64le": Platform("ppc64le"),
    "s390x": Platform("s390x"),
    "riscv64": Platform("riscv64"),
    "mips64": Platform("mips64le"),
}


def platform_for_debian_arch(arch: str) -> Platform:
    """The OCI platform of a Debian architecture (``armhf`` -> ``linux/arm/v7``)."""
    try:
        return _DEBIAN_PLATFORMS[arch]
    except KeyError:
        raise UsageError(
            f"unknown Debian architecture {arch!r}; choose one of "
            f"{', '.join(sorted(_DEBIAN_PLATFORMS))}"
        ) from None


def host_platform() -> Platform | None:
    """The platform of the machine we run on, or None if it has no OCI name we know."""
    return _MACHINES.get(_host.machine().lower())


# ---- config -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageConfig:
    """How the container runs: the ``config`` part of the image config, plus its dates.

    ``labels`` may be given as a mapping; it is kept as sorted pairs so the value stays
    frozen and hashable. ``created`` is RFC 3339; an epoch in seconds (``SOURCE_DATE_EPOCH``)
    is turned into that form.
    """

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    labels: Pairs = ()
    created: str | int = "1970-01-01T00:00:00Z"
    author: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.created, int):
            object.__setattr__(self, "created", rfc3339(self.created))
        object.__setattr__(self, "entrypoint", tuple(self.entrypoint))
        object.__setattr__(self, "cmd", tuple(self.cmd))
        object.__setattr__(self, "env", tuple(self.env))
        object.__setattr__(self, "labels", _pairs(self.labels, "the image labels"))
        for item in self.env:
            if "=" not in item or item.startswith("="):
                raise UsageError(f"environment entry {item!r} is not of the form KEY=VALUE")

    def to_json(self) -> dict[str, Any]:
        """The ``config`` object of the image config; empty fields are left out."""
        out: dict[str, Any] = {}
        if self.entrypoint:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            out["Cmd"] = list(self.cmd)
        if self.env:
            out["Env"] = list(self.env)
        if self.user:
            out["User"] = self.user
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(self.labels)
        return out


# ---- image ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """One single-platform image: its layers, config and manifest."""

    platform: Platform
    config: ImageConfig
    layers: tuple[Layer, ...]
    annotations: Pairs = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "annotations", _pairs(self.annotations, "the annotations"))
        if not self.layers:
            raise UsageError("an image needs at least one layer")

    @property
    def config_json(self) -> dict[str, Any]:
        created = str(self.config.created)
        out: dict[str, Any] = {
            "architecture": self.platform.architecture,
            "os": self.platform.os,
            "config": self.config.to_json(),
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in self.layers]},
            "history": [_history(layer, created, self.config.author) for layer in self.layers],
            "created": created,
        }
        if self.platform.variant:
            out["variant"] = self.platform.variant
        if self.config.author:
            out["author"] = self.config.author
        return out

    @property
    def config_blob(self) -> bytes:
        return canonical_json(self.config_json)

    @property
    def config_digest(self) -> str:
        return sha256_digest(self.config_blob)

    @property
    def manifest_json(self) -> dict[str, Any]:
        config = self.config_blob
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": {
                "mediaType": MEDIA_TYPE_CONFIG,
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}
                for layer in self.layers
            ],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @property
    def manifest_blob(self) -> bytes:
        return canonical_json(self.manifest_json)

    @property
    def manifest_digest(self) -> str:
        return sha256_digest(self.manifest_blob)

    @property
    def manifest_size(self) -> int:
        return len(self.manifest_blob)

    def descriptor(self, annotations: Pairs | Mapping[str, str] = ()) -> dict[str, Any]:
        """The manifest's descriptor as an index lists it, with its platform."""
        out: dict[str, Any] = {
            "mediaType": MEDIA_TYPE_MANIFEST,
            "digest": self.manifest_digest,
            "size": self.manifest_size,
            "platform": self.platform.to_json(),
        }
        pairs = _pairs(annotations, "the annotations")
        if pairs:
            out["annotations"] = dict(pairs)
        return out

    def blobs(self) -> dict[str, bytes]:
        """Every blob of the image by digest: layers, config, manifest."""
        out = {layer.digest: layer.blob for layer in self.layers}
        out[self.config_digest] = self.config_blob
        out[self.manifest_digest] = self.manifest_blob
        return out


def _history(layer: Layer, created: str, author: str) -> dict[str, str]:
    out = {"created": created, "created_by": CREATED_BY}
    if layer.comment:
        out["comment"] = layer.comment
    if author:
        out["author"] = author
    return out


# ---- index ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageIndex:
    """A multi-platform image: one image per platform, in the order given."""

    images: tuple[Image, ...]
    annotations: Pairs = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "annotations", _pairs(self.annotations, "the annotations"))
        if not self.images:
            raise UsageError("an image index needs at least one image")
        seen: list[Platform] = []
        for image in self.images:
            if any(image.platform.matches(p) for p in seen):
                raise UsageError(
                    f"two images for platform {image.platform}; build each platform once"
                )
            seen.append(image.platform)

    @property
    def index_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [image.descriptor() for image in self.images],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @property
    def blob(self) -> bytes:
        return canonical_json(self.index_json)

    @property
    def digest(self) -> str:
        return sha256_digest(self.blob)

    @property
    def size(self) -> int:
        return len(self.blob)

    def image_for(self, platform: Platform) -> Image | None:
        return next((i for i in self.images if i.platform.matches(platform)), None)

    def blobs(self, *, include_index: bool = False) -> dict[str, bytes]:
        """Every blob of every image by digest (a layer shared by two images once), in a
        stable order; with ``include_index``, the index document itself too."""
        out: dict[str, bytes] = {}
        for image in self.images:
            out.update(image.blobs())
        if include_index:
            out[self.digest] = self.blob
        return out
