"""Every image input is read within bounds (oci/limits.py): documents by size and nesting,
indexes by the documents they name (each once, no cycle), layers by what they decompress
to and by their entries, all refused in one line before memory grows."""

from __future__ import annotations

import io
import tarfile
import time
import zlib
from pathlib import Path
from typing import BinaryIO

import pytest

from pydistroless.core.arch import Platform
from pydistroless.core.digest import Digest
from pydistroless.core.errors import ImageFormatError
from pydistroless.fs.tree import Tree
from pydistroless.oci import documents, limits
from pydistroless.oci.archive import read_tar, write_tar
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.layout import read_layout, write_layout
from pydistroless.oci.limits import LAYER_RATIO, MAX_ENTRIES, MAX_JSON_DEPTH, MAX_UNPACKED
from pydistroless.oci.model import (
    OCI_INDEX,
    OCI_LAYER_GZIP,
    Artifact,
    BytesBlob,
    Descriptor,
    Image,
    Index,
    Layer,
    canonical_json,
    parse_document,
    walk,
)
from pydistroless.oci.mutate import ImageConfig, new_image, new_index
from pydistroless.oci.unpack import Budget, apply_layer, tree_of
from tests.fixtures.scripted_registry import run_bounded

EPOCH = 1_700_000_000


def small_image() -> Image:
    tree = Tree()
    tree.add_file("etc/greeting", b"hello\n")
    layer = layer_from_tree(tree, mtime=EPOCH, comment="one file")
    return new_image(
        Platform("amd64"),
        ImageConfig(entrypoint=("/bin/true",), created="2023-11-14T22:13:20Z"),
        (layer,),
    )


def nested(image: Image, width: int, depth: int) -> Index:
    """An index listing ``image`` ``width`` times, listed ``width`` times by the next index
    up, ``depth`` indexes in all."""
    entry = image.descriptor().to_json()
    raw = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry] * width})
    index = Index(raw=raw, children=(image,) * width)
    for _ in range(depth - 1):
        index = new_index([index] * width)
    return index


def nest(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


# ---- documents --------------------------------------------------------------------------


def test_json_nesting_is_bounded() -> None:
    assert limits.load_json(nest(MAX_JSON_DEPTH)) is not None
    for levels in (MAX_JSON_DEPTH + 1, 100_000, 2_000_000):
        with pytest.raises(limits.DocumentError, match=f"deeper than {MAX_JSON_DEPTH} levels"):
            limits.load_json(nest(levels))
    # Brackets in strings are no nesting; documents in UTF-16 or with a BOM still read.
    assert limits.load_json(b'{"a": "[[[[[' + b"[" * 100 + b'"}') == {"a": "[[[[[" + "[" * 100}
    assert limits.load_json('\ufeff{"a": [1]}'.encode()) == {"a": [1]}
    assert limits.load_json('{"a": [1]}'.encode("utf-16")) == {"a": [1]}


def test_a_document_nested_too_deep_is_a_one_line_error() -> None:
    deep = b'{"rootfs": ' + nest(100_000) + b"}"
    with pytest.raises(ImageFormatError) as caught:
        parse_document(deep, "the config of x")
    assert str(caught.value) == (
        "the config of x is refused: it nests deeper than 64 levels, which no image document "
        "does; the image is damaged"
    )


def test_an_index_json_nested_too_deep_is_a_one_line_error(tmp_path: Path) -> None:
    write_layout(tmp_path / "layout", small_image(), tags=[])
    (tmp_path / "layout" / "index.json").write_bytes(nest(100_000))
    with pytest.raises(ImageFormatError, match=r"index.json of .* nests deeper than 64"):
        read_layout(tmp_path / "layout")


def test_a_docker_save_manifest_nested_too_deep_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "save.tar"
    with tarfile.open(path, "w") as tar:
        data = nest(100_000)
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ImageFormatError, match=r"manifest.json of .* is not a list of images"):
        read_tar(path)


# ---- indexes ----------------------------------------------------------------------------


def test_an_index_listing_one_child_many_times_is_read_and_written_once_each(
    tmp_path: Path,
) -> None:
    """40 entries, 6 deep: 40 to the 6th visits before (gigabytes, hours)."""
    image = small_image()
    index = nested(image, 40, 6)
    assert [i.digest for i in index.images()] == [image.digest]
    assert len(list(walk(index))) == 3 + 6  # config, layer, manifest; six indexes

    def copy() -> Artifact:
        write_layout(tmp_path / "a", index, tags=[])
        read = read_layout(tmp_path / "a")
        write_tar(tmp_path / "b.tar", read, tags=[])
        return read_tar(tmp_path / "b.tar")

    copied, error = run_bounded(copy, timeout=15)
    assert error is None, error
    assert isinstance(copied, Index) and copied.digest == index.digest
    assert len(list(copied.images())) == 1
    assert len(list((tmp_path / "a" / "blobs" / "sha256").iterdir())) == 9


def test_each_document_is_read_once() -> None:
    image = small_image()
    index = nested(image, 40, 3)
    docs = {d.digest: d for d in (index, index.children[0], index.children[0].children[0])}  # type: ignore[union-attr]
    reads: list[Digest] = []

    def document_of(descriptor: Descriptor) -> bytes:
        reads.append(descriptor.digest)
        item = docs.get(descriptor.digest)
        return item.raw if isinstance(item, Index) else image.manifest

    def blob_of(descriptor: Descriptor) -> BytesBlob:
        return BytesBlob(image.config)

    read = documents.read_artifact(index.descriptor(), index.raw, document_of, blob_of, where="x")
    assert read.digest == index.digest
    assert sorted(reads) == sorted(
        [index.children[0].digest, image.digest, index.children[0].children[0].digest]
    )  # type: ignore[union-attr]


def test_an_index_that_lists_itself_or_an_index_above_it_is_refused() -> None:
    """Digests make a cycle impossible where they are checked; a source that does not check
    them still cannot send the reader round in circles."""

    def index_of(*digests: Digest) -> bytes:
        entries = [{"mediaType": OCI_INDEX, "digest": str(d), "size": 1} for d in digests]
        return canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})

    top, below = Digest.of(b"top"), Digest.of(b"below")
    answers = {below: index_of(top)}  # "below" lists "top" again
    with pytest.raises(ImageFormatError, match="a cycle"):
        documents.read_artifact(
            Descriptor(OCI_INDEX, top, 1),
            index_of(below),
            lambda d: answers[d.digest],
            lambda d: BytesBlob(b""),
            where="x",
        )


# ---- layers ------------------------------------------------------------------------------


class Counted(io.BytesIO):
    """A blob's stream that counts what was read of it."""

    def __init__(self, data: bytes, count: list[int]):
        super().__init__(data)
        self._count = count

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self._count[0] += len(data)
        return data


class CountedBlob:
    def __init__(self, data: bytes):
        self.data = data
        self.read = [0]

    def open(self) -> BinaryIO:
        return Counted(self.data, self.read)


def gzip_of_zeros(head: bytes, zeros: int) -> bytes:
    """``head`` then ``zeros`` zero bytes, gzipped, built from one compressed MiB repeated
    (a full flush makes each MiB's compressed form the same), so no test waits for 3.5 GiB
    to be compressed. Without its trailer: no reader gets that far."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [compressor.compress(head), compressor.flush(zlib.Z_FULL_FLUSH)]
    mib = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    out.append(mib * (zeros >> 20))
    return b"".join(out)


def gzip_layer(data: bytes) -> tuple[Layer, CountedBlob]:
    blob = CountedBlob(data)
    descriptor = Descriptor(OCI_LAYER_GZIP, Digest.of(data), len(data))
    return Layer(descriptor=descriptor, diff_id=Digest.of(b"unknown"), blob=blob), blob


def file_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(tarfile.PAX_FORMAT)


def test_a_gzip_bomb_is_refused_before_it_is_read() -> None:
    """3.5 GiB of zeros in 3.6 MB (6 GB of memory before): the file's size alone, against
    what a layer of that size may decompress to, refuses it."""
    size = 3584 << 20
    layer, blob = gzip_layer(gzip_of_zeros(file_header("zeros", size), size))
    started = time.monotonic()
    with pytest.raises(ImageFormatError) as caught:
        apply_layer(Tree(), layer, budget=Budget(), what="layer 1")
    assert time.monotonic() - started < 2
    message = str(caught.value)
    assert message.startswith("layer 1 decompresses to more than") and "LAYER_RATIO" in message
    assert blob.read[0] < 1 << 20  # refused at the file's header


def test_zeros_past_the_end_of_the_tar_are_refused_while_they_stream() -> None:
    """Not in any file, so never held: still not read for ever."""
    small = file_header("a", 1) + b"x" + bytes(511) + bytes(1024)
    size = 3584 << 20
    layer, blob = gzip_layer(gzip_of_zeros(small, size))
    started = time.monotonic()
    with pytest.raises(ImageFormatError, match=f"{LAYER_RATIO} times its compressed size"):
        tree_of(Image(manifest=b"{}", config=b"{}", layers=(layer,)))
    assert time.monotonic() - started < 10
    assert blob.read[0] < len(blob.data)


def test_the_files_an_image_holds_are_bounded_before_they_are_read() -> None:
    tree = Tree()
    tree.add_file("big", bytes(2 << 20))
    layer = layer_from_tree(tree, mtime=EPOCH, comment="")
    with pytest.raises(ImageFormatError, match=r"more than 1 MiB of files \(MAX_UNPACKED\)"):
        apply_layer(Tree(), layer, budget=Budget(max_files=1 << 20), what="layer 1")
    apply_layer(Tree(), layer, budget=Budget(max_files=2 << 20), what="layer 1")
    assert Budget().max_files == MAX_UNPACKED


def test_the_entries_of_an_image_are_bounded() -> None:
    """2 million empty files took 1.8 GB; MAX_ENTRIES of them, a fraction of that."""
    tree = Tree()
    for n in range(1000):
        tree.add_file(f"f/{n}", b"")
    layer = layer_from_tree(tree, mtime=EPOCH, comment="")  # 1001 entries with f/
    apply_layer(Tree(), layer, budget=Budget(max_entries=1001), what="layer 1")
    budget = Budget(max_entries=1000)
    with pytest.raises(ImageFormatError, match=r"more than 1000 files, .*\(MAX_ENTRIES\)"):
        apply_layer(Tree(), layer, budget=budget, what="layer 1")
    assert Budget().max_entries == MAX_ENTRIES


def test_the_bounds_are_far_above_real_images() -> None:
    assert MAX_ENTRIES >= 10 * 30_000  # python:3 has 30 000 entries
    assert MAX_UNPACKED >= 4 * 1_000_000_000  # python:3 unpacks to 1 GB
    assert limits.layer_allowance(30 << 20) > 30 * (30 << 20)  # a layer compressed 30 times
