"""Image tars as a source and a sink: OCI archives and ``docker save`` archives.

The tar we write holds two descriptions of the same blobs. ``index.json`` with ``oci-layout``
makes it an OCI image layout, which skopeo (``oci-archive:``), podman, containerd and umoci
read and which keeps every platform. ``manifest.json`` makes it a ``docker save`` archive,
which is all docker before 25 reads; that format knows one image only, so it names the
platform docker should run (the host's, when the index has it).

The tars we read are either kind. One with an ``index.json`` (ours, skopeo's, docker 25+'s
``docker save``) is read as the layout it holds, digests and all. One with only
``manifest.json`` (docker before 25) carries no manifest at all: its image is described by a
Docker schema 2 manifest made from its config and layer files, as registries would receive it.

Blobs are never extracted: each is read from its place in the tar when a sink asks for it.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from pydistroless.core import files as files_
from pydistroless.core.arch import Platform
from pydistroless.core.digest import Digest
from pydistroless.core.errors import ImageFormatError, PlatformNotFoundError, UsageError
from pydistroless.oci.blobs import copy_blob
from pydistroless.oci.layer import tar_end, tar_header, tar_padding
from pydistroless.oci.layout import OCI_LAYOUT, index_json, select
from pydistroless.oci.limits import load_json
from pydistroless.oci.model import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    Artifact,
    Blob,
    BytesBlob,
    Descriptor,
    FileBlob,
    Image,
    canonical_json,
    parse_document,
    platform_image,
    read_small,
    walk,
)
from pydistroless.oci.reference import check_tags, split_reference

# Links inside a docker save archive (it links identical layers) are followed this often.
_MAX_LINK_HOPS = 8


# ---- writing ----------------------------------------------------------------------------


def docker_manifest(image: Image, tags: Sequence[str]) -> bytes:
    """``manifest.json`` of a ``docker save`` archive for one image."""
    repo_tags = []
    for reference in tags:
        name, tag = split_reference(reference)
        repo_tags.append(f"{name}:{tag}")
    return canonical_json(
        [
            {
                "Config": image.config_descriptor.digest.path,
                "RepoTags": repo_tags,
                "Layers": [layer.digest.path for layer in image.layers],
            }
        ]
    )


def _for_docker(artifact: Artifact, platform: Platform | None) -> Image:
    """The one image ``manifest.json`` names: the platform asked for, else the host's, else
    the first (docker on another machine still loads something it can inspect and push)."""
    if platform is not None or isinstance(artifact, Image):
        return platform_image(artifact, platform, where="the image")
    try:
        return platform_image(artifact, None, where="the image")
    except PlatformNotFoundError:
        images = list(artifact.images())
        return next((i for i in images if i.platform is not None), images[0])


def write_tar(
    path: Path,
    artifact: Artifact,
    *,
    tags: Sequence[str],
    docker_platform: Platform | None = None,
    mtime: int = 0,
) -> None:
    """Write ``artifact`` as one tar that ``docker load``, ``podman load`` and skopeo's
    ``oci-archive:`` all accept. The bytes depend on the inputs only; blobs are streamed in
    and checked on the way."""
    if isinstance(mtime, bool) or not isinstance(mtime, int) or mtime < 0:
        raise UsageError(f"tar mtime must be a whole number of seconds >= 0, not {mtime!r}")
    check_tags(tags)
    path = Path(os.path.abspath(path))
    chosen = _for_docker(artifact, docker_platform)
    documents = {
        "index.json": index_json(artifact, tags),
        "manifest.json": docker_manifest(chosen, tags),
        "oci-layout": OCI_LAYOUT,
    }
    blobs = sorted(walk(artifact), key=lambda item: item[0].digest.path)
    with files_.atomic_file(path, "--output") as out:
        _write_members(out, blobs, documents, mtime, where=str(path))


def _write_members(
    out: BinaryIO,
    blobs: Sequence[tuple[Descriptor, Blob]],
    documents: dict[str, bytes],
    mtime: int,
    *,
    where: str,
) -> None:
    offset = 0

    def put(data: bytes) -> None:
        nonlocal offset
        out.write(data)
        offset += len(data)

    # Members in name order: blobs/, blobs/sha256/, the blobs, then the documents.
    put(tar_header("blobs", tarfile.DIRTYPE, mode=0o755, mtime=mtime))
    put(tar_header("blobs/sha256", tarfile.DIRTYPE, mode=0o755, mtime=mtime))
    for descriptor, blob in blobs:
        put(tar_header(descriptor.digest.path, tarfile.REGTYPE, size=descriptor.size, mtime=mtime))
        copy_blob(descriptor, blob, out, what=f"writing {where}")
        offset += descriptor.size
        put(tar_padding(descriptor.size))
    for name in sorted(documents):
        data = documents[name]
        put(tar_header(name, tarfile.REGTYPE, size=len(data), mode=0o644, mtime=mtime))
        put(data)
        put(tar_padding(len(data)))
    put(tar_end(offset))


# ---- reading ----------------------------------------------------------------------------


def is_image_tar(path: Path) -> bool:
    return path.is_file() and tarfile.is_tarfile(path)


def read_tar(path: Path, *, tag: str | None = None) -> Artifact:
    """The image or index of an image tar (OCI archive or ``docker save``)."""
    path = Path(os.path.abspath(path))
    where = str(path)
    members = _members(path)

    def blob_at(name: str) -> FileBlob:
        info = _regular(members, name, where)
        return FileBlob(path, info.offset_data, info.size)

    if "index.json" in members:

        def blob_of(descriptor: Descriptor) -> Blob:
            info = _regular(members, descriptor.digest.path, where)
            if info.size != descriptor.size:
                raise ImageFormatError(
                    f"{where}: blob {descriptor.digest} is {info.size} bytes, not the "
                    f"{descriptor.size} its descriptor says; the archive is damaged"
                )
            return FileBlob(path, info.offset_data, info.size)

        return select(read_small(blob_at("index.json")), blob_of, where=where, tag=tag)
    if "manifest.json" in members:
        return _docker_save(read_small(blob_at("manifest.json")), blob_at, where=where, tag=tag)
    raise UsageError(f"{where} is a tar but not an image archive (no index.json, no manifest.json)")


def _members(path: Path) -> dict[str, tarfile.TarInfo]:
    try:
        with tarfile.open(path, "r:") as tar:
            return {m.name.removeprefix("./"): m for m in tar.getmembers()}
    except (OSError, tarfile.TarError) as exc:
        raise ImageFormatError(
            f"cannot read the tar {path}: {exc}; is it an image archive?"
        ) from None


def _regular(members: dict[str, tarfile.TarInfo], name: str, where: str) -> tarfile.TarInfo:
    for _ in range(_MAX_LINK_HOPS):
        info = members.get(name)
        if info is None:
            raise ImageFormatError(f"{where} lacks {name}; the archive is incomplete")
        if info.isfile():
            return info
        if not (info.issym() or info.islnk()):
            raise ImageFormatError(f"{where}: {name} is not a file; the archive is damaged")
        target = info.linkname
        if info.issym():
            target = os.path.normpath(os.path.join(os.path.dirname(name), target))
        name = target.removeprefix("./")
    raise ImageFormatError(f"{where}: {name} is a chain of links; the archive is damaged")


def _docker_save(
    data: bytes, blob_at: Callable[[str], Blob], *, where: str, tag: str | None
) -> Image:
    """The image of a ``docker save`` archive without an index: a schema 2 manifest over its
    config and layer files, which is what docker itself would push."""
    try:
        entries = load_json(data)
    except ValueError:  # not JSON, or past the bounds of oci/limits.py
        entries = None
    if (
        not isinstance(entries, list)
        or not entries
        or not all(isinstance(e, dict) for e in entries)
    ):
        raise ImageFormatError(f"manifest.json of {where} is not a list of images")
    if tag is not None:
        entries = [e for e in entries if any(_tag_matches(t, tag) for t in e.get("RepoTags") or [])]
        if not entries:
            raise ImageFormatError(f"{where} has no image tagged {tag!r}")
    if len(entries) > 1:
        raise UsageError(f"{where} holds {len(entries)} images; name one as {where}:TAG")
    entry = entries[0]
    config_name, layer_names = entry.get("Config"), entry.get("Layers")
    if not isinstance(config_name, str) or not isinstance(layer_names, list):
        raise ImageFormatError(f"manifest.json of {where} lacks Config or Layers")
    config = read_small(blob_at(config_name))
    parse_document(config, f"the config of {where}")
    layers = []
    for name in layer_names:
        blob = blob_at(str(name))
        digest, size, gzipped = _describe(blob)
        layers.append(
            {
                "mediaType": DOCKER_LAYER_GZIP if gzipped else DOCKER_LAYER,
                "digest": str(digest),
                "size": size,
            }
        )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": DOCKER_CONFIG,
                "digest": str(Digest.of(config)),
                "size": len(config),
            },
            "layers": layers,
        }
    )
    blobs = {str(Digest.of(config)): BytesBlob(config)}
    blobs.update(
        {layer["digest"]: blob_at(str(n)) for layer, n in zip(layers, layer_names, strict=True)}
    )
    return Image.read(manifest, DOCKER_MANIFEST, lambda d: blobs[str(d.digest)], where=where)


def _tag_matches(repo_tag: str, tag: str) -> bool:
    return repo_tag == tag or repo_tag.endswith(f":{tag}") or repo_tag.endswith(f"/{tag}")


def _describe(blob: Blob) -> tuple[Digest, int, bool]:
    with blob.open() as stream:
        head = stream.read(2)
    with blob.open() as stream:
        digest, size = Digest.of_file(stream)
    return digest, size, head == b"\x1f\x8b"
