"""Writing an image out: one tar that docker and OCI tools all load, or an OCI layout.

The tar holds two descriptions of the same blobs. ``index.json`` with ``oci-layout`` makes it
an OCI image layout, which skopeo (``oci-archive:``), podman, containerd and umoci read and
which keeps every platform. ``manifest.json`` makes it a ``docker save`` archive, which is all
docker before 25 reads; that format knows one image only, so it names the platform docker
should run (the host's, when the index has it).

Nothing is ever left half written, and nothing that is not ours is replaced: the rules of
:mod:`pydistroless.files` apply (a temporary name beside the target, renamed over it in one
step; devices, FIFOs and other foreign objects refused). Writers of one layout directory take
turns, holding a lock on its parent folder, and clear the temporaries of killed writers.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from pydistroless import files as files_
from pydistroless.errors import OutputError, UsageError
from pydistroless.oci.image import (
    ANNOTATION_CONTAINERD_NAME,
    ANNOTATION_REF_NAME,
    MEDIA_TYPE_INDEX,
    Image,
    ImageIndex,
    Platform,
    canonical_json,
    host_platform,
)
from pydistroless.oci.layer import tar_end, tar_header, tar_padding

OCI_LAYOUT = canonical_json({"imageLayoutVersion": "1.0.0"})

# the command-line option an error message tells the user to change
_LAYOUT_OPTION = "--oci-layout"

# The reference grammar of docker/distribution, reduced to what a local tag needs.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?)"
_NAME_RE = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")


def split_reference(reference: str) -> tuple[str, str]:
    """``"ghcr.io/me/app:1.0"`` -> ``("ghcr.io/me/app", "1.0")``; the tag defaults to
    ``latest``. Refuses what docker would refuse, so the error comes before the build."""
    name, tag = reference, "latest"
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        name, tag = reference[:colon], reference[colon + 1 :]
    if "@" in reference or not _NAME_RE.fullmatch(name) or not _TAG_RE.fullmatch(tag):
        raise UsageError(
            f"{reference!r} is not a valid image name; use lowercase NAME[:TAG], "
            "for example myapp:1.0 or registry.example.com/team/myapp:1.0"
        )
    return name, tag


def full_name(reference: str) -> str:
    """The fully qualified form engines store: ``app:1`` -> ``docker.io/library/app:1``."""
    name, tag = split_reference(reference)
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}"
    return f"{name}:{tag}"


def choose_image(index: ImageIndex, platform: Platform | None = None) -> Image:
    """The image docker should get: the one for ``platform``, else the host's, else the
    first. Asking for a platform the index lacks is an error, not a silent substitute."""
    if platform is not None:
        image = index.image_for(platform)
        if image is None:
            have = ", ".join(str(i.platform) for i in index.images)
            raise UsageError(f"the image has no {platform} variant (it has {have})")
        return image
    host = host_platform()
    found = index.image_for(host) if host is not None else None
    return found or index.images[0]


def layout_index(index: ImageIndex, tags: Sequence[str]) -> dict[str, Any]:
    """The ``index.json`` of a layout holding ``index`` under ``tags``.

    One descriptor per tag, each annotated with the tag (``ref.name``, which skopeo's
    ``oci:DIR:TAG`` and umoci's ``--image DIR:TAG`` look up) and the full name (which
    containerd and so docker 25+ use). A single-platform image is listed directly; several
    are listed through the nested image index blob, so one tag still names all platforms and
    the reader picks its own, as it would from a registry.
    """
    if len(index.images) == 1:
        target = index.images[0].descriptor()
    else:
        target = {"mediaType": MEDIA_TYPE_INDEX, "digest": index.digest, "size": index.size}
    manifests = []
    for reference in tags:
        _, tag = split_reference(reference)
        annotations = {ANNOTATION_REF_NAME: tag, ANNOTATION_CONTAINERD_NAME: full_name(reference)}
        manifests.append({**target, "annotations": annotations})
    if not tags:
        manifests.append(target)
    return {"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": manifests}


def docker_manifest(image: Image, tags: Sequence[str]) -> list[dict[str, Any]]:
    """``manifest.json`` of a ``docker save`` archive for one image."""
    repo_tags = []
    for reference in tags:
        name, tag = split_reference(reference)
        repo_tags.append(f"{name}:{tag}")
    return [
        {
            "Config": _blob_path(image.config_digest),
            "RepoTags": repo_tags,
            "Layers": [_blob_path(layer.digest) for layer in image.layers],
        }
    ]


def _blob_path(digest: str) -> str:
    algorithm, _, hex_ = digest.partition(":")
    return f"blobs/{algorithm}/{hex_}"


def _layout_files(index: ImageIndex, tags: Sequence[str]) -> dict[str, bytes]:
    """Every file of the OCI layout (blobs included) by path."""
    _check_tags(tags)
    files = {
        _blob_path(digest): data
        for digest, data in index.blobs(include_index=len(index.images) > 1).items()
    }
    files["index.json"] = canonical_json(layout_index(index, tags))
    files["oci-layout"] = OCI_LAYOUT
    return files


def _check_tags(tags: Sequence[str]) -> None:
    if isinstance(tags, str):
        raise TypeError("tags must be a sequence of references, not one string")
    for reference in tags:
        split_reference(reference)
    if len(set(tags)) != len(tags):
        raise UsageError(f"a tag is given twice in {list(tags)}")


# ---- the tar ----------------------------------------------------------------------------


def write_tar(
    path: Path,
    index: ImageIndex,
    *,
    tags: Sequence[str],
    docker_platform: Platform | None = None,
    mtime: int = 0,
) -> None:
    """Write ``index`` as one tar that ``docker load``, ``podman load`` and skopeo's
    ``oci-archive:`` all accept. The bytes depend on the inputs only."""
    path = Path(os.path.abspath(path))
    files = _layout_files(index, tags)
    files["manifest.json"] = canonical_json(
        docker_manifest(choose_image(index, docker_platform), tags)
    )
    if isinstance(mtime, bool) or not isinstance(mtime, int) or mtime < 0:
        raise UsageError(f"tar mtime must be a whole number of seconds >= 0, not {mtime!r}")
    with files_.atomic_file(path, "--output") as out:
        _write_tar_members(out, files, mtime)


def _write_tar_members(out: BinaryIO, files: dict[str, bytes], mtime: int) -> None:
    offset = 0

    def put(data: bytes) -> None:
        nonlocal offset
        out.write(data)
        offset += len(data)

    directories = sorted({d for p in files for d in _parents(p)})
    for name in sorted([*directories, *files]):
        if name in files:
            data = files[name]
            put(tar_header(name, tarfile.REGTYPE, size=len(data), mode=0o644, mtime=mtime))
            put(data)
            put(tar_padding(len(data)))
        else:
            put(tar_header(name, tarfile.DIRTYPE, mode=0o755, mtime=mtime))
    put(tar_end(offset))


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        yield "/".join(parts[:i])


# ---- the layout directory ---------------------------------------------------------------


def write_layout(directory: Path, index: ImageIndex, *, tags: Sequence[str]) -> None:
    """Write ``index`` as an OCI image layout directory (``oci:DIR`` for skopeo).

    An existing layout at ``directory`` is replaced whole; an empty directory is taken; any
    other existing file or non-empty directory is refused rather than overwritten.
    """
    directory = Path(os.path.abspath(directory))
    files = _layout_files(index, tags)
    with files_.reporting(directory, _LAYOUT_OPTION):
        check_layout_target(directory)
    with files_.reporting(directory, _LAYOUT_OPTION), files_.exclusive(directory.parent):
        check_layout_target(directory)
        files_.remove_stale_temporaries(directory)
        _write_layout(directory, files)


def _write_layout(directory: Path, files: dict[str, bytes]) -> None:
    temp: Path | None = None
    old: Path | None = None
    try:
        temp = files_.temp_name(directory)
        os.mkdir(temp)
        for name, data in files.items():
            target = temp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                out.write(data)
        if _is_layout(directory):
            # rename(2) cannot replace a non-empty directory: move the old one aside first,
            # and put it back if the new one cannot take its place.
            old = files_.temp_name(directory)
            os.rename(directory, old)
            try:
                os.rename(temp, directory)
            except OSError as e:
                aside, old = old, None  # from here on it is the only copy: never delete it
                try:
                    os.rename(aside, directory)
                except OSError:
                    raise OutputError(
                        f"{files_.explain(directory, e, _LAYOUT_OPTION)}; "
                        f"the previous layout is kept at {aside}"
                    ) from e
                raise
        else:
            os.replace(temp, directory)  # absent, or an empty directory
        temp = None
    finally:
        for leftover in (temp, old):
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)


def _is_layout(directory: Path) -> bool:
    return directory.is_dir() and (directory / "oci-layout").is_file()


def check_layout_target(directory: Path) -> None:
    """Refuse a layout target that is not ours to replace (before the build, and again
    before the write)."""
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise OutputError(
            f"cannot write an OCI layout to {directory}: it exists and is not a directory; "
            f"choose another {_LAYOUT_OPTION}"
        )
    if directory.is_dir() and not _is_layout(directory) and any(directory.iterdir()):
        raise OutputError(
            f"cannot write an OCI layout to {directory}: it is a non-empty directory that "
            f"is not an OCI layout; choose an empty or new directory for {_LAYOUT_OPTION}"
        )
