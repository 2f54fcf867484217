from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import tarfile
from pathlib import Path

import pytest
import zstandard

from pydistroless.core.errors import ImageCheckError, UsageError
from pydistroless.fs.tree import Entry, Kind, Tree
from pydistroless.oci import layer as layer_module
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.model import OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, Descriptor, Layer

MTIME = 1_700_000_000
LONG_DIR = "usr/share/" + "/".join(["deeply-nested-directory"] * 6)


def sample_tree() -> Tree:
    tree = Tree()
    tree.add_dir("etc")
    tree.add_dir("home/nonroot", 0o750, uid=65532, gid=65532)
    tree.add_file("etc/passwd", b"root:x:0:0::/root:/sbin/nologin\n")
    tree.add_file("usr/bin/python3.11", b"\x7fELF python" * 100, 0o755)
    tree.add_file("usr/bin/su", b"setuid", 0o4755)
    tree.add_file("usr/lib/empty", b"")
    tree.add_symlink("usr/bin/python3", "python3.11")
    tree.add_symlink("bin", "usr/bin")
    # one hard link group: the file sorts between its two links
    tree.add_file("usr/lib/m/shared", b"shared content", 0o640, uid=7, gid=8)
    tree.add(Entry("usr/lib/m/a-link", Kind.HARDLINK, 0o600, target="usr/lib/m/shared"))
    tree.add(Entry("usr/lib/m/z-link", Kind.HARDLINK, 0o600, target="usr/lib/m/shared"))
    tree.add_file(f"{LONG_DIR}/file-with-a-long-name.txt", b"long")
    tree.add_file("usr/share/doc/naïve.txt", "ünïcödé".encode())
    return tree


def blob(layer: Layer) -> bytes:
    """The layer's bytes, read from its blob as any sink reads them."""
    with layer.open() as stream:
        return stream.read()


def members(layer_blob: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer_blob))) as tar:
        return tar.getmembers()


def test_same_tree_gives_identical_bytes() -> None:
    for compression in ("gzip", "zstd", "none"):
        first = layer_from_tree(sample_tree(), mtime=MTIME, compression=compression)
        second = layer_from_tree(sample_tree(), mtime=MTIME, compression=compression)
        assert blob(first) == blob(second)
        assert first == second


def test_digests_and_sizes_describe_the_blob() -> None:
    layer = layer_from_tree(sample_tree(), mtime=MTIME)
    raw = gzip.decompress(blob(layer))
    assert layer.media_type == OCI_LAYER_GZIP
    assert str(layer.digest) == "sha256:" + hashlib.sha256(blob(layer)).hexdigest()
    assert str(layer.diff_id) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert layer.size == len(blob(layer))
    assert layer.uncompressed_size == len(raw)
    assert layer.digest.hex == str(layer.digest).removeprefix("sha256:")
    assert layer.descriptor == Descriptor(OCI_LAYER_GZIP, layer.digest, layer.size)
    assert len(raw) % tarfile.RECORDSIZE == 0


def test_zstd_and_uncompressed_layers_hold_the_same_tar() -> None:
    gz = layer_from_tree(sample_tree(), mtime=MTIME)
    zs = layer_from_tree(sample_tree(), mtime=MTIME, compression="zstd")
    plain = layer_from_tree(sample_tree(), mtime=MTIME, compression="none")
    raw = gzip.decompress(blob(gz))
    assert zs.media_type == OCI_LAYER_ZSTD
    assert plain.media_type == OCI_LAYER
    assert zstandard.ZstdDecompressor().decompressobj().decompress(blob(zs)) == raw
    assert blob(plain) == raw
    assert gz.diff_id == zs.diff_id == plain.diff_id
    assert plain.digest == plain.diff_id


def test_members_follow_the_tree_order_with_fixed_metadata() -> None:
    tree = sample_tree()
    got = members(blob(layer_from_tree(tree, mtime=MTIME)))
    assert [m.name for m in got] == [e.path for e in tree.entries()]
    for m in got:
        assert m.mtime == MTIME
        assert (m.uname, m.gname) == ("", "")
        assert not m.name.startswith(("/", "./"))
        # only names too long or not ASCII need a pax record; never times
        assert set(m.pax_headers) <= {"path", "linkpath"}
    by_name = {m.name: m for m in got}
    assert by_name["home/nonroot"].isdir()
    assert (by_name["home/nonroot"].mode, by_name["home/nonroot"].uid) == (0o750, 65532)
    assert by_name["usr/bin/su"].mode == 0o4755
    assert by_name["usr/bin/python3"].issym()
    assert by_name["usr/bin/python3"].linkname == "python3.11"
    assert by_name["bin"].linkname == "usr/bin"
    assert by_name["usr/lib/empty"].isreg()
    assert by_name["usr/lib/empty"].size == 0
    assert by_name["usr/share/doc/naïve.txt"].size == len("ünïcödé".encode())
    assert f"{LONG_DIR}/file-with-a-long-name.txt" in by_name


def test_directories_are_written_with_a_trailing_slash() -> None:
    raw = gzip.decompress(blob(layer_from_tree(sample_tree(), mtime=MTIME)))
    assert raw[:512].startswith(b"bin\0")  # a symlink: no slash
    assert b"etc/\0" in raw


def test_first_path_of_a_hard_link_group_carries_the_data() -> None:
    with tarfile.open(
        fileobj=io.BytesIO(gzip.decompress(blob(layer_from_tree(sample_tree(), mtime=MTIME))))
    ) as tar:
        first = tar.getmember("usr/lib/m/a-link")
        assert first.isreg()
        assert (first.mode, first.uid, first.gid) == (0o640, 7, 8)  # the file's, not the link's
        assert tar.extractfile(first).read() == b"shared content"
        for later in ("usr/lib/m/shared", "usr/lib/m/z-link"):
            member = tar.getmember(later)
            assert member.islnk()
            assert member.linkname == "usr/lib/m/a-link"
            assert member.size == 0


def test_extracted_layer_has_real_links(tmp_path: Path) -> None:
    raw = gzip.decompress(blob(layer_from_tree(sample_tree(), mtime=MTIME)))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        tar.extractall(tmp_path, filter="tar")
    inodes = {os.stat(tmp_path / "usr/lib/m" / n).st_ino for n in ("a-link", "shared", "z-link")}
    assert len(inodes) == 1
    assert (tmp_path / "usr/lib/m/z-link").read_bytes() == b"shared content"
    assert os.readlink(tmp_path / "usr/bin/python3") == "python3.11"
    assert os.stat(tmp_path / "etc/passwd").st_mtime == MTIME


def test_a_file_without_links_is_a_plain_member() -> None:
    tree = Tree()
    tree.add_file("a", b"x")
    tree.add(Entry("b", Kind.HARDLINK, 0o644, target="a"))
    got = members(blob(layer_from_tree(tree, mtime=0)))
    assert [(m.name, m.type) for m in got] == [("a", tarfile.REGTYPE), ("b", tarfile.LNKTYPE)]
    assert got[1].linkname == "a"


def test_mtime_changes_the_layer_and_nothing_else_does() -> None:
    a = layer_from_tree(sample_tree(), mtime=MTIME)
    b = layer_from_tree(sample_tree(), mtime=MTIME + 1)
    assert a.diff_id != b.diff_id


def test_gzip_header_names_no_file_and_no_time() -> None:
    data = blob(layer_from_tree(sample_tree(), mtime=MTIME))
    assert data[:4] == b"\x1f\x8b\x08\x00"  # deflate, no FNAME/FEXTRA/FCOMMENT flags
    assert data[4:8] == bytes(4)  # mtime 0
    assert data[9] == 255  # OS unknown, whatever machine wrote it


def big_tree() -> Tree:
    rng = random.Random(1)
    tree = Tree()
    # several chunks' worth of mixed data so the parallel deflate cuts inside files
    for i in range(6):
        noise = rng.randbytes(300_000)
        tree.add_file(f"data/{i}", noise + b"text " * 100_000 + noise[:1000])
    return tree


def test_gzip_over_many_chunks_round_trips() -> None:
    layer = layer_from_tree(big_tree(), mtime=0)
    raw = gzip.decompress(blob(layer))
    assert layer.uncompressed_size > 3 * layer_module._GZIP_CHUNK
    assert hashlib.sha256(raw).hexdigest() == layer.diff_id.hex
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert tar.extractfile("data/5").read() == big_tree().read("data/5")


def test_gzip_bytes_do_not_depend_on_the_number_of_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(layer_module, "_pool_size", lambda: 4)
    many = layer_from_tree(big_tree(), mtime=0, level=1)
    monkeypatch.setattr(layer_module, "_pool_size", lambda: 1)
    one = layer_from_tree(big_tree(), mtime=0, level=1)
    assert blob(one) == blob(many)


def test_levels_change_size_not_content() -> None:
    fast = layer_from_tree(big_tree(), mtime=0, level=1)
    best = layer_from_tree(big_tree(), mtime=0, level=9)
    assert fast.diff_id == best.diff_id
    assert best.size <= fast.size
    assert blob(fast)[8] == 4 and blob(best)[8] == 2  # XFL as gzip(1) sets it


def test_an_empty_tree_is_a_valid_empty_layer() -> None:
    got = members(blob(layer_from_tree(Tree(), mtime=0)))
    assert got == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compression": "bzip2"}, "unknown layer compression"),
        ({"level": 10}, "gzip level 10"),
        ({"compression": "zstd", "level": 23}, "zstd level 23"),
        ({"mtime": -1}, "mtime"),
        ({"mtime": 1.5}, "mtime"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"mtime": 0, **kwargs}
    with pytest.raises(UsageError, match=message):
        layer_from_tree(sample_tree(), **options)  # type: ignore[arg-type]


class _BrokenTree(Tree):
    """A tree whose hard link lost its file, which Tree itself never allows."""

    def __init__(self) -> None:
        super().__init__()
        self._link = Entry("lonely", Kind.HARDLINK, 0o644, target="gone")

    def entries(self):  # type: ignore[no-untyped-def]
        yield self._link


def test_a_hard_link_to_nothing_is_an_image_error() -> None:
    with pytest.raises(ImageCheckError, match="'lonely' names 'gone'"):
        layer_from_tree(_BrokenTree(), mtime=0)
