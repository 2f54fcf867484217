"""OCI image layouts: a directory (``oci:DIR`` for skopeo) as a source and a sink, and the
``index.json`` logic that the tar archive shares.

A layout lists each tag as one descriptor in ``index.json``, annotated with the tag
(``org.opencontainers.image.ref.name``, which skopeo and umoci look up) and the full name
(``io.containerd.image.name``, which containerd and docker 25+ use). A single-platform image
is listed directly; an index is listed as itself, so one tag still names every platform.

Writing follows :mod:`pydistroless.core.files`: the new layout is made beside the target and
renamed into place; an existing layout is replaced whole, anything else is refused; writers
of one directory take turns.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydistroless.core import files as files_
from pydistroless.core.digest import Digest
from pydistroless.core.errors import ImageFormatError, OutputError, UsageError
from pydistroless.oci import documents
from pydistroless.oci.blobs import SelfChecking, copy_blob
from pydistroless.oci.model import (
    ANNOTATION_CONTAINERD_NAME,
    ANNOTATION_REF_NAME,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    Artifact,
    Blob,
    Descriptor,
    FileBlob,
    Index,
    canonical_json,
    parse_document,
    read_small,
    walk,
)
from pydistroless.oci.reference import check_tags, full_name, split_reference

OCI_LAYOUT = canonical_json({"imageLayoutVersion": "1.0.0"})

# the command-line option an error message tells the user to change
_LAYOUT_OPTION = "--oci-layout"
# blobs written at once
_JOBS = 4

BlobOf = Callable[[Descriptor], Blob]


# ---- index.json -------------------------------------------------------------------------


def index_json(artifact: Artifact, tags: Sequence[str]) -> bytes:
    """The ``index.json`` of a layout holding ``artifact`` under ``tags``."""
    check_tags(tags)
    target = artifact.descriptor()
    manifests = []
    for reference in tags:
        _, tag = split_reference(reference)
        annotations = {ANNOTATION_REF_NAME: tag, ANNOTATION_CONTAINERD_NAME: full_name(reference)}
        manifests.append({**target.to_json(), "annotations": annotations})
    if not tags:
        manifests.append(target.to_json())
    return canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})


def read_artifact(descriptor: Descriptor, blob_of: BlobOf, *, where: str) -> Artifact:
    """The image or index ``descriptor`` names, with its children (blobs stay unread; each
    child document read once, see :mod:`pydistroless.oci.documents`)."""
    if descriptor.media_type not in (*INDEX_TYPES, *MANIFEST_TYPES):
        raise ImageFormatError(
            f"{where}: {descriptor.digest} is a {descriptor.media_type}, neither an image nor "
            "an index"
        )

    def document_of(entry: Descriptor) -> bytes:
        data = read_small(blob_of(entry))
        if len(data) != entry.size or entry.digest != Digest.of(data):
            raise ImageFormatError(
                f"{where}: the document {entry.digest} is not what its descriptor says; the "
                "image is damaged or tampered with"
            )
        return data

    return documents.read_artifact(
        descriptor, document_of(descriptor), document_of, blob_of, where=where
    )


def select(index_bytes: bytes, blob_of: BlobOf, *, where: str, tag: str | None) -> Artifact:
    """The artifact a layout's ``index.json`` names: the one tagged ``tag``, else the only
    one it lists (several tags of one image are one)."""
    top = parse_document(index_bytes, f"index.json of {where}")
    listed = Index(raw=index_bytes, children=()).manifests() if top else []
    if tag is not None:
        chosen = [d for d in listed if _tag_of(d) == tag or _names(d, tag)]
        if not chosen:
            have = sorted({t for d in listed if (t := _tag_of(d))})
            raise ImageFormatError(
                f"{where} has no image tagged {tag!r} (it has {', '.join(have) or 'no tags'})"
            )
    else:
        chosen = listed
    digests = {d.digest for d in chosen}
    if not digests:
        raise ImageFormatError(f"{where} lists no image in its index.json")
    if len(digests) > 1:
        have = sorted({t for d in chosen if (t := _tag_of(d))})
        raise UsageError(
            f"{where} holds {len(digests)} different images; name one as {where}:TAG "
            f"({', '.join(have) or 'they have no tags'})"
        )
    first = chosen[0]
    plain = Descriptor(first.media_type, first.digest, first.size, first.platform)
    return read_artifact(plain, blob_of, where=where)


def _tag_of(descriptor: Descriptor) -> str:
    return dict(descriptor.annotations).get(ANNOTATION_REF_NAME, "")


def _names(descriptor: Descriptor, tag: str) -> bool:
    name = dict(descriptor.annotations).get(ANNOTATION_CONTAINERD_NAME, "")
    return bool(name) and (name == tag or name.endswith(f"/{tag}") or name.endswith(f":{tag}"))


# ---- reading a layout -------------------------------------------------------------------


def is_layout(directory: Path) -> bool:
    return directory.is_dir() and (directory / "oci-layout").is_file()


def read_layout(directory: Path, *, tag: str | None = None) -> Artifact:
    """The image or index of a layout directory; blobs are opened from its files when read."""
    directory = Path(os.path.abspath(directory))
    where = str(directory)
    if not is_layout(directory):
        raise UsageError(f"{where} is not an OCI layout (it has no oci-layout file)")
    try:
        index_bytes = (directory / "index.json").read_bytes()
    except OSError as exc:
        raise ImageFormatError(f"cannot read index.json of {where}: {exc.strerror}") from None

    def blob_of(descriptor: Descriptor) -> Blob:
        path = directory / descriptor.digest.path
        if path.is_symlink() or not path.is_file():
            raise ImageFormatError(
                f"{where} lacks the blob {descriptor.digest} (or it is not a regular file); "
                "the layout is incomplete"
            )
        return FileBlob(path)

    return select(index_bytes, blob_of, where=where, tag=tag)


# ---- writing a layout -------------------------------------------------------------------


def write_layout(directory: Path, artifact: Artifact, *, tags: Sequence[str]) -> None:
    """Write ``artifact`` as an OCI image layout directory.

    An existing layout at ``directory`` is replaced whole; an empty directory is taken; any
    other existing file or non-empty directory is refused rather than overwritten.
    """
    directory = Path(os.path.abspath(directory))
    index = index_json(artifact, tags)
    with files_.reporting(directory, _LAYOUT_OPTION):
        check_layout_target(directory)
    with files_.reporting(directory, _LAYOUT_OPTION), files_.exclusive(directory.parent):
        check_layout_target(directory)
        files_.remove_stale_temporaries(directory)
        _write_layout(directory, artifact, index)


def _write_layout(directory: Path, artifact: Artifact, index: bytes) -> None:
    temp: Path | None = None
    old: Path | None = None
    try:
        temp = files_.temp_name(directory)
        os.mkdir(temp)
        (temp / "blobs" / "sha256").mkdir(parents=True)

        def write(item: tuple[Descriptor, Blob]) -> None:
            descriptor, blob = item
            with open(temp / descriptor.digest.path, "wb") as out:
                copy_blob(descriptor, blob, out, what=f"writing {directory}")

        items = list(walk(artifact))
        if any(isinstance(blob, SelfChecking) for _, blob in items):
            _write_all(write, items)
        else:
            for item in items:  # local blobs: the disk, not waiting, is the limit
                write(item)
        (temp / "index.json").write_bytes(index)
        (temp / "oci-layout").write_bytes(OCI_LAYOUT)
        if is_layout(directory):
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


def _write_all(
    write: Callable[[tuple[Descriptor, Blob]], None], items: Sequence[tuple[Descriptor, Blob]]
) -> None:
    """Blobs from a registry are separate downloads: several at once keep its link busy.
    The first failure ends the write; the blobs not started are dropped."""
    with ThreadPoolExecutor(max_workers=_JOBS) as pool:
        futures = [pool.submit(write, item) for item in items]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def check_layout_target(directory: Path) -> None:
    """Refuse a layout target that is not ours to replace (before the build, and again
    before the write).

    The directory is opened once and judged by that handle: another writer may be swapping
    its new layout in meanwhile (two renames), and the name alone could then show the old
    directory to one question and the new one, or none, to the next."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise  # explained by the caller's files_.reporting
        if directory.is_symlink() or directory.exists():
            raise OutputError(
                f"cannot write an OCI layout to {directory}: it exists and is not a "
                f"directory; choose another {_LAYOUT_OPTION}"
            ) from None
        return  # a folder above it is no folder: the write says so
    try:
        names = os.listdir(fd)
        marker = "oci-layout" in names and stat.S_ISREG(
            os.stat("oci-layout", dir_fd=fd, follow_symlinks=False).st_mode
        )
    finally:
        os.close(fd)
    if names and not marker:
        raise OutputError(
            f"cannot write an OCI layout to {directory}: it is a non-empty directory that "
            f"is not an OCI layout; choose an empty or new directory for {_LAYOUT_OPTION}"
        )
