"""The image model: lossless sources and sinks, docker save archives, damaged inputs,
mutations, digests and the architecture table."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from pydistroless.core import arch
from pydistroless.core.arch import Platform
from pydistroless.core.digest import Digest, Hasher
from pydistroless.core.errors import (
    ImageFormatError,
    IntegrityError,
    PlatformNotFoundError,
    PydistrolessError,
    UsageError,
)
from pydistroless.fs.tree import Tree
from pydistroless.oci.archive import read_tar, write_tar
from pydistroless.oci.blobs import copy_blob
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.layout import read_layout, write_layout
from pydistroless.oci.model import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Artifact,
    Blob,
    BytesBlob,
    Descriptor,
    FileBlob,
    Image,
    Index,
    Layer,
    canonical_json,
    platform_image,
    walk,
)
from pydistroless.oci.mutate import (
    ImageConfig,
    append,
    new_image,
    new_index,
    with_config,
)

EPOCH = 1_700_000_000
TAG = "example.com/team/app:1.0"
AMD64 = Platform("amd64")
ARM64 = Platform("arm64", variant="v8")


def make_layer(content: bytes, comment: str = "", compression: str = "gzip") -> Layer:
    tree = Tree()
    tree.add_file("app/data", content)
    return layer_from_tree(tree, mtime=EPOCH, comment=comment, compression=compression)


def make_image(debian: str = "amd64", content: bytes = b"base", **config: object) -> Image:
    settings: dict[str, object] = {
        "entrypoint": ("/usr/bin/python3",),
        "cmd": ("-m", "app"),
        "env": ("PATH=/usr/bin:/bin", "LANG=C"),
        "labels": {"a": "1", "b": "2"},
        "exposed_ports": ("8000",),
        "created": EPOCH,
    }
    settings.update(config)
    layers = (make_layer(content, "base system"), make_layer(b"shared", "application"))
    image_config = ImageConfig(**settings)  # type: ignore[arg-type]
    return new_image(arch.architecture(debian).platform, image_config, layers)


def read(blob: Blob) -> bytes:
    with blob.open() as stream:
        return stream.read()


def tar_files(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def layout_blobs(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (directory / "blobs/sha256").iterdir()}


def blob_map(artifact: Artifact) -> dict[Digest, bytes]:
    return {descriptor.digest: read(blob) for descriptor, blob in walk(artifact)}


def one_line(error: pytest.ExceptionInfo[PydistrolessError]) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


def pack(directory: Path, path: Path) -> Path:
    """A tar of ``directory``'s contents, as ``tar -C DIR -cf PATH .`` would make it."""
    with tarfile.open(path, "w") as tar:
        for child in sorted(directory.rglob("*")):
            tar.add(child, arcname=str(child.relative_to(directory)), recursive=False)
    return path


@pytest.fixture(autouse=True)
def _amd64_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # which image a tar's manifest.json names depends on the machine; these tests must not
    monkeypatch.setattr(arch, "host", lambda: arch.architecture("amd64"))


# ---- lossless round trips ---------------------------------------------------------------


@pytest.mark.parametrize("multi", [False, True], ids=["image", "index"])
def test_tar_layout_tar_round_trip_is_lossless(tmp_path: Path, multi: bool) -> None:
    original: Artifact = (
        new_index((make_image("amd64"), make_image("arm64", b"other"))) if multi else make_image()
    )
    first, second = tmp_path / "first.tar", tmp_path / "second.tar"
    write_tar(first, original, tags=[TAG], docker_platform=ARM64 if multi else None)

    from_tar = read_tar(first)
    assert type(from_tar) is type(original)
    assert from_tar.digest == original.digest
    write_layout(tmp_path / "oci", from_tar, tags=[TAG])
    from_layout = read_layout(tmp_path / "oci")
    assert from_layout.digest == original.digest
    write_tar(second, from_layout, tags=[TAG], docker_platform=ARM64 if multi else None)

    assert first.read_bytes() == second.read_bytes()
    assert tar_files(first) == tar_files(second)
    in_tar = {n.rsplit("/", 1)[1]: d for n, d in tar_files(first).items() if "blobs/" in n}
    assert layout_blobs(tmp_path / "oci") == in_tar
    assert blob_map(from_layout) == blob_map(original)
    for back in (from_tar, from_layout):
        images = list(back.images()) if isinstance(back, Index) else [back]
        wanted = list(original.images()) if isinstance(original, Index) else [original]
        assert [i.digest for i in images] == [i.digest for i in wanted]
        for got, want in zip(images, wanted, strict=True):
            assert (got.manifest, got.config) == (want.manifest, want.config)
            assert [x.descriptor for x in got.layers] == [x.descriptor for x in want.layers]
            assert [x.diff_id for x in got.layers] == [x.diff_id for x in want.layers]
            assert got.platform == want.platform
    if isinstance(from_tar, Index):
        assert from_tar.raw == original.raw  # type: ignore[union-attr]
        assert from_tar.media_type == OCI_INDEX


def test_blobs_read_from_a_tar_stream_from_their_place_in_it(tmp_path: Path) -> None:
    image = make_image()
    write_tar(tmp_path / "image.tar", image, tags=[TAG])
    back = read_tar(tmp_path / "image.tar")
    assert isinstance(back, Image)
    for got, want in zip(back.layers, image.layers, strict=True):
        assert isinstance(got.blob, FileBlob)
        assert got.blob.path == tmp_path / "image.tar"
        assert read(got.blob) == read(want.blob)
        assert read(got.blob) == read(got.blob)  # as often as asked
        with got.open() as stream:
            assert len(stream.read(7)) == 7  # partial reads stay inside the member


def test_tags_of_one_image_name_one_image(tmp_path: Path) -> None:
    image = make_image()
    write_tar(tmp_path / "image.tar", image, tags=["app:1", "app:latest", "other/app:2"])
    for tag in (None, "1", "latest", "app:1", "other/app:2", "docker.io/other/app:2"):
        assert read_tar(tmp_path / "image.tar", tag=tag) == image
    with pytest.raises(ImageFormatError, match=r"no image tagged 'nope' .*1, 2, latest") as caught:
        read_tar(tmp_path / "image.tar", tag="nope")
    one_line(caught)


def test_a_tar_of_several_different_images_needs_a_tag(tmp_path: Path) -> None:
    amd, arm = make_image("amd64"), make_image("arm64", b"other")
    layout = tmp_path / "oci"
    write_layout(layout, new_index((amd, arm)), tags=[])  # every blob of both images
    listing = [
        {**amd.descriptor().to_json(), "annotations": _names("app:amd")},
        {**arm.descriptor().to_json(), "annotations": _names("app:arm")},
    ]
    (layout / "index.json").write_bytes(
        canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listing})
    )
    path = pack(layout, tmp_path / "both.tar")
    for source in (path, layout):
        reader = read_tar if source == path else read_layout
        assert reader(source, tag="amd") == amd
        assert reader(source, tag="app:arm") == arm
        with pytest.raises(UsageError, match="holds 2 different images; name one") as caught:
            reader(source)
        assert "amd, arm" in one_line(caught)


def _names(reference: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.ref.name": reference.split(":")[1],
        "io.containerd.image.name": f"docker.io/library/{reference}",
    }


def test_nested_indexes_read_back_flattened(tmp_path: Path) -> None:
    amd, arm = make_image("amd64"), make_image("arm64", b"other")
    s390x = make_image("s390x", b"big endian")
    inner = new_index((amd, arm))
    outer = new_index((inner, s390x))
    assert [i.digest for i in outer.images()] == [amd.digest, arm.digest, s390x.digest]
    order = [d.digest for d, _ in walk(outer)]
    assert len(order) == len(set(order))  # each blob once: the shared layer too
    assert order.index(inner.digest) < order.index(outer.digest) == len(order) - 1

    write_layout(tmp_path / "oci", outer, tags=[TAG])
    write_tar(tmp_path / "image.tar", outer, tags=[TAG], docker_platform=Platform("s390x"))
    for back in (read_layout(tmp_path / "oci"), read_tar(tmp_path / "image.tar")):
        assert isinstance(back, Index)
        assert back.digest == outer.digest
        assert isinstance(back.children[0], Index)
        assert back.children[0].digest == inner.digest
        assert isinstance(back.children[1], Image)
        assert [i.digest for i in back.images()] == [amd.digest, arm.digest, s390x.digest]
        assert back.platforms() == [AMD64, ARM64, Platform("s390x")]
        assert back.image_for(Platform("arm64")) == arm
        assert platform_image(back, Platform("s390x"), where="x") == s390x
    manifest = json.loads(tar_files(tmp_path / "image.tar")["manifest.json"])
    assert manifest[0]["Config"] == s390x.config_descriptor.digest.path


# ---- docker save archives without index.json --------------------------------------------


def plain_layer(content: bytes) -> bytes:
    with make_layer(content, compression="none").open() as stream:
        return stream.read()


def docker_save_tar(
    path: Path,
    images: list[tuple[list[str], list[bytes]]],
    *,
    link_duplicates: bool = True,
) -> list[bytes]:
    """An archive as ``docker save`` before 25 wrote it: ``<id>/layer.tar`` per layer, a
    duplicate layer linked to the first copy, ``<config hex>.json``, ``manifest.json``.
    Returns each image's config."""
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    entries, configs = [], []
    for tags, layers in images:
        diff_ids = [
            str(Digest.of(gzip.decompress(x) if x[:2] == b"\x1f\x8b" else x)) for x in layers
        ]
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
                "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD"]},
                "docker_version": "20.10.24",
                "created": "2023-11-14T22:13:20.123456789Z",
                "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            },
            indent=1,  # not canonical: it must be kept byte for byte
        ).encode()
        configs.append(config)
        config_name = f"{Digest.of(config).hex}.json"
        files[config_name] = config
        names = []
        for position, data in enumerate(layers):
            layer_id = hashlib.sha256(b"%d" % position + data + config).hexdigest()
            name = f"{layer_id}/layer.tar"
            first = next((n for n, d in files.items() if d == data), None)
            if first is not None and link_duplicates:
                links[name] = f"../{first}"
            else:
                files[name] = data
            files[f"{layer_id}/VERSION"] = b"1.0"
            names.append(name)
        entries.append({"Config": config_name, "RepoTags": tags, "Layers": names})
    files["manifest.json"] = json.dumps(entries).encode()
    files["repositories"] = b"{}"
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return configs


def test_a_docker_save_archive_is_a_docker_schema_2_image(tmp_path: Path) -> None:
    base, app = plain_layer(b"base"), plain_layer(b"app")
    path = tmp_path / "saved.tar"
    (config,) = docker_save_tar(path, [(["app:1"], [base, base, app])])
    image = read_tar(path)
    assert isinstance(image, Image)
    assert image.media_type == DOCKER_MANIFEST
    assert image.manifest == canonical_json(image.manifest_json)
    assert image.manifest_json["mediaType"] == DOCKER_MANIFEST
    assert image.config == config  # byte for byte, unknown fields and all
    assert image.config_descriptor == Descriptor(DOCKER_CONFIG, Digest.of(config), len(config))
    assert image.platform == AMD64
    assert image.config_json["docker_version"] == "20.10.24"
    diff_ids = [Digest.parse(d) for d in json.loads(config)["rootfs"]["diff_ids"]]
    assert [x.diff_id for x in image.layers] == diff_ids
    assert [x.descriptor for x in image.layers] == [
        Descriptor(DOCKER_LAYER, Digest.of(data), len(data)) for data in (base, base, app)
    ]
    # uncompressed: the blob is the tar the diff_id names, the duplicate read through its link
    assert [read(x.blob) for x in image.layers] == [base, base, app]
    for layer in image.layers:
        assert layer.digest == layer.diff_id
    assert [d.digest for d, _ in walk(image)] == [
        Digest.of(config),
        Digest.of(base),
        Digest.of(app),
        image.digest,
    ]
    assert image.layers[1].blob == image.layers[0].blob  # the link followed to the same bytes


def test_a_docker_save_archive_goes_on_losslessly(tmp_path: Path) -> None:
    base, app = plain_layer(b"base"), plain_layer(b"app")
    docker_save_tar(tmp_path / "saved.tar", [(["app:1"], [base, base, app])])
    image = read_tar(tmp_path / "saved.tar")
    write_tar(tmp_path / "image.tar", image, tags=["app:1"])
    write_layout(tmp_path / "oci", image, tags=["app:1"])
    for back in (read_tar(tmp_path / "image.tar"), read_layout(tmp_path / "oci")):
        assert isinstance(back, Image)
        assert (back.digest, back.media_type) == (image.digest, DOCKER_MANIFEST)
        assert [read(x.blob) for x in back.layers] == [base, base, app]
    docker = json.loads(tar_files(tmp_path / "image.tar")["manifest.json"])
    assert docker[0]["Layers"] == [x.digest.path for x in image.layers]


def test_a_docker_save_archive_without_links_and_with_a_gzip_layer(tmp_path: Path) -> None:
    base = plain_layer(b"base")
    gz = read(make_layer(b"gz").blob)
    docker_save_tar(tmp_path / "saved.tar", [(["app:1"], [base, base, gz])], link_duplicates=False)
    image = read_tar(tmp_path / "saved.tar")
    assert isinstance(image, Image)
    assert [x.media_type for x in image.layers] == [DOCKER_LAYER, DOCKER_LAYER, DOCKER_LAYER_GZIP]
    assert image.layers[2].digest == Digest.of(gz)
    assert image.layers[2].diff_id == Digest.of(gzip.decompress(gz))
    assert read(image.layers[2].blob) == gz


def test_a_docker_save_archive_of_several_images_is_chosen_from_by_tag(tmp_path: Path) -> None:
    path = tmp_path / "saved.tar"
    one, two = docker_save_tar(
        path,
        [
            (["app:1", "registry.example.com/team/app:stable"], [plain_layer(b"one")]),
            (["other:2"], [plain_layer(b"two")]),
        ],
    )
    assert read_tar(path, tag="1").config == one  # type: ignore[union-attr]
    assert read_tar(path, tag="app:1").config == one  # type: ignore[union-attr]
    assert read_tar(path, tag="team/app:stable").config == one  # type: ignore[union-attr]
    assert read_tar(path, tag="other:2").config == two  # type: ignore[union-attr]
    with pytest.raises(UsageError, match=r"holds 2 images; name one as .*:TAG") as caught:
        read_tar(path)
    one_line(caught)
    with pytest.raises(ImageFormatError, match="no image tagged '3'") as missing:
        read_tar(path, tag="3")
    one_line(missing)


# ---- damaged inputs ---------------------------------------------------------------------


def tampered(layer: Layer, data: bytes) -> Layer:
    """``layer``'s descriptor over other bytes."""
    return Layer(descriptor=layer.descriptor, diff_id=layer.diff_id, blob=BytesBlob(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), r"its content has digest sha256:\w+, not "),
        (lambda b: b + b"x", "runs past its"),
        (lambda b: b[:-1], r"got \d+ bytes where \d+ were promised"),
    ],
    ids=["flipped", "longer", "shorter"],
)
def test_a_blob_that_is_not_its_digest_is_refused_and_nothing_is_written(
    tmp_path: Path, change: object, message: str
) -> None:
    good = make_layer(b"data")
    bad = tampered(good, change(read(good.blob)))  # type: ignore[operator]
    image = new_image(AMD64, ImageConfig(entrypoint=("/x",)), (bad,))
    old = tmp_path / "old.tar"
    old.write_bytes(b"previous")
    with pytest.raises(IntegrityError, match=message) as caught:
        write_tar(tmp_path / "new.tar", image, tags=[TAG])
    assert str(good.digest) in one_line(caught)
    with pytest.raises(IntegrityError, match=message):
        write_tar(old, image, tags=[TAG])
    with pytest.raises(IntegrityError, match=message):
        write_layout(tmp_path / "oci", image, tags=[TAG])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.tar"]
    assert old.read_bytes() == b"previous"
    out = io.BytesIO()
    with pytest.raises(IntegrityError, match=message):
        copy_blob(good.descriptor, bad.blob, out, what="copying")


def test_a_layout_keeps_its_old_contents_when_a_blob_is_refused(tmp_path: Path) -> None:
    good = make_image()
    write_layout(tmp_path / "oci", good, tags=[TAG])
    before = layout_blobs(tmp_path / "oci")
    layer = good.layers[0]
    bad = new_image(AMD64, ImageConfig(entrypoint=("/x",)), (tampered(layer, b"\0" * layer.size),))
    with pytest.raises(IntegrityError):
        write_layout(tmp_path / "oci", bad, tags=[TAG])
    assert layout_blobs(tmp_path / "oci") == before
    assert [p.name for p in tmp_path.iterdir()] == ["oci"]


def test_a_damaged_tar_is_refused_when_its_blob_is_copied(tmp_path: Path) -> None:
    image = make_image()
    write_tar(tmp_path / "image.tar", image, tags=[TAG])
    with tarfile.open(tmp_path / "image.tar") as tar:
        offset = tar.getmember(image.layers[0].digest.path).offset_data
    with open(tmp_path / "image.tar", "r+b") as handle:
        handle.seek(offset + 20)
        byte = handle.read(1)
        handle.seek(offset + 20)
        handle.write(bytes([byte[0] ^ 0xFF]))
    back = read_tar(tmp_path / "image.tar")  # blobs are not read until copied
    with pytest.raises(IntegrityError, match=f"blob {image.layers[0].digest}") as caught:
        write_layout(tmp_path / "oci", back, tags=[TAG])
    one_line(caught)
    assert not (tmp_path / "oci").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["image.tar"]


def layout_of(
    tmp_path: Path, manifest: bytes, media_type: str = OCI_MANIFEST, blobs: tuple[bytes, ...] = ()
) -> Path:
    """A layout whose index.json names ``manifest``, stored under its own digest with
    ``blobs``."""
    directory = tmp_path / "oci"
    (directory / "blobs/sha256").mkdir(parents=True)
    for blob in blobs:
        (directory / Digest.of(blob).path).write_bytes(blob)
    (directory / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    (directory / Digest.of(manifest).path).write_bytes(manifest)
    descriptor = Descriptor(media_type, Digest.of(manifest), len(manifest))
    (directory / "index.json").write_bytes(
        canonical_json({"schemaVersion": 2, "manifests": [descriptor.to_json()]})
    )
    return directory


def test_a_manifest_that_is_not_json_is_an_image_format_error(tmp_path: Path) -> None:
    directory = layout_of(tmp_path, b"{not json")
    with pytest.raises(ImageFormatError, match=r"manifest of .* is not JSON") as caught:
        read_layout(directory)
    one_line(caught)
    (directory / "index.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ImageFormatError, match=r"index\.json of .* is not JSON") as caught:
        read_layout(directory)
    one_line(caught)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b'{"config": {"mediaType": 1}, "layers": []}', "lacks a media type, digest or size"),
        (
            b'{"config": {"mediaType": "x", "digest": "md5:ab", "size": 1}, "layers": []}',
            "is not a sha256 digest",
        ),
        (b'{"mediaType": "text/plain"}', "not an image manifest"),
    ],
)
def test_malformed_manifests_are_one_line_errors(
    tmp_path: Path, document: bytes, message: str
) -> None:
    with pytest.raises(ImageFormatError, match=message) as caught:
        read_layout(layout_of(tmp_path, document))
    one_line(caught)


@pytest.mark.parametrize("which", ["layer", "config", "manifest"])
def test_a_missing_blob_in_a_layout_is_an_image_format_error(tmp_path: Path, which: str) -> None:
    image = make_image()
    write_layout(tmp_path / "oci", image, tags=[TAG])
    digest = {
        "layer": image.layers[1].digest,
        "config": image.config_descriptor.digest,
        "manifest": image.digest,
    }[which]
    (tmp_path / "oci" / digest.path).unlink()
    with pytest.raises(ImageFormatError, match=f"lacks the blob {digest}") as caught:
        read_layout(tmp_path / "oci")
    one_line(caught)


@pytest.mark.parametrize("which", ["config", "manifest"])
def test_a_tampered_document_in_a_layout_is_an_image_format_error(
    tmp_path: Path, which: str
) -> None:
    image = make_image()
    write_layout(tmp_path / "oci", image, tags=[TAG])
    digest = image.config_descriptor.digest if which == "config" else image.digest
    path = tmp_path / "oci" / digest.path
    data = path.read_bytes()
    changed = data.replace(b'"amd64"', b'"arm64"').replace(
        b'"schemaVersion":2', b'"schemaVersion":3'
    )
    assert changed != data and len(changed) == len(data)
    path.write_bytes(changed)
    with pytest.raises(ImageFormatError, match="damaged or tampered with") as caught:
        read_layout(tmp_path / "oci")
    one_line(caught)


def test_damaged_tars_are_image_format_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"\x00not a tar" * 100)
    with pytest.raises(ImageFormatError, match="cannot read the tar") as caught:
        read_tar(garbage)
    one_line(caught)

    image = make_image()
    write_layout(tmp_path / "oci", image, tags=[TAG])
    (tmp_path / "oci" / image.layers[0].digest.path).unlink()
    with pytest.raises(ImageFormatError, match=f"lacks {image.layers[0].digest.path}") as caught:
        read_tar(pack(tmp_path / "oci", tmp_path / "incomplete.tar"))
    one_line(caught)

    saved = tmp_path / "saved.tar"
    with tarfile.open(saved, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"{}x"))
    with pytest.raises(ImageFormatError, match="not a list of images") as caught:
        read_tar(saved)
    one_line(caught)


def test_a_blob_of_the_wrong_size_in_a_tar_is_an_image_format_error(tmp_path: Path) -> None:
    image = make_image()
    write_layout(tmp_path / "oci", image, tags=[TAG])
    path = tmp_path / "oci" / image.layers[0].digest.path
    path.write_bytes(path.read_bytes() + b"more")
    with pytest.raises(ImageFormatError, match=r"bytes, not the .* its descriptor says") as caught:
        read_tar(pack(tmp_path / "oci", tmp_path / "image.tar"))
    one_line(caught)


def test_a_digest_with_a_newline_in_a_manifest_is_still_a_one_line_error(tmp_path: Path) -> None:
    image = make_image()
    manifest = json.loads(image.manifest)
    manifest["layers"][0]["digest"] = "sha256:abc\nwhat the log would show next"
    directory = layout_of(tmp_path, canonical_json(manifest), blobs=(image.config,))
    with pytest.raises(
        ImageFormatError, match=r"(?s)layer 1 of .* is not a sha256 digest"
    ) as caught:
        read_layout(directory)
    one_line(caught)


def test_a_source_blob_that_cannot_be_read_is_not_blamed_on_the_output(tmp_path: Path) -> None:
    image = make_image()
    write_layout(tmp_path / "src", image, tags=[TAG])
    source = read_layout(tmp_path / "src")
    (tmp_path / "src" / image.layers[0].digest.path).unlink()
    with pytest.raises(ImageFormatError, match="cannot be read") as caught:
        write_tar(tmp_path / "out.tar", source, tags=[TAG])
    message = one_line(caught)
    assert "cannot write" not in message
    assert f"blob {image.layers[0].digest}" in message
    with pytest.raises(ImageFormatError, match=f"blob {image.layers[0].digest} cannot be read"):
        write_layout(tmp_path / "copy", source, tags=[TAG])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_an_index_entry_of_an_unknown_type_is_carried_along(tmp_path: Path) -> None:
    image = make_image()
    thing = b'{"an":"artifact"}'
    entry = Descriptor("application/vnd.example.thing.v1+json", Digest.of(thing), len(thing))
    raw = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [image.descriptor().to_json(), entry.to_json()],
        }
    )
    source = tmp_path / "src"
    write_layout(source, image, tags=[])
    (source / entry.digest.path).write_bytes(thing)
    (source / Digest.of(raw).path).write_bytes(raw)
    listing = Descriptor(OCI_INDEX, Digest.of(raw), len(raw))
    (source / "index.json").write_bytes(
        canonical_json({"schemaVersion": 2, "manifests": [listing.to_json()]})
    )
    index = read_layout(source)
    assert index.digest == Digest.of(raw)
    write_layout(tmp_path / "copy", index, tags=[TAG])
    assert (tmp_path / "copy" / Digest.of(raw).path).read_bytes() == raw
    assert (tmp_path / "copy" / entry.digest.path).read_bytes() == thing
    assert read_layout(tmp_path / "copy").digest == index.digest
    # and a missing one is refused as any other missing blob is
    (source / entry.digest.path).unlink()
    with pytest.raises(ImageFormatError, match=f"lacks the blob {entry.digest}"):
        read_layout(source)


# ---- mutate -----------------------------------------------------------------------------


def test_append_keeps_the_base_and_adds_history(tmp_path: Path) -> None:
    plain = make_image()
    annotated = {**plain.manifest_json, "annotations": {"org.example.base": "yes"}}
    base = Image(manifest=canonical_json(annotated), config=plain.config, layers=plain.layers)
    before = (base.manifest, base.config)
    top = make_layer(b"my app", "my application")
    image = append(base, [top], created=EPOCH + 60)
    assert (base.manifest, base.config) == before  # the input is left as it was
    assert image.layers == (*base.layers, top)
    assert image.manifest_json["layers"][:2] == base.manifest_json["layers"]
    assert image.manifest_json["layers"][2] == top.descriptor.to_json()
    assert image.manifest_json["annotations"] == {"org.example.base": "yes"}
    config, old = image.config_json, base.config_json
    assert config["rootfs"]["diff_ids"] == [*old["rootfs"]["diff_ids"], str(top.diff_id)]
    assert config["history"][:2] == old["history"]
    assert config["history"][2] == {
        "created": "2023-11-14T22:14:20Z",
        "created_by": "pydistroless",
        "comment": "my application",
    }
    assert config["created"] == "2023-11-14T22:14:20Z"
    assert config["config"] == old["config"]
    assert image.config_descriptor == Descriptor(
        OCI_CONFIG, Digest.of(image.config), len(image.config)
    )
    # and what it makes is a whole image
    write_layout(tmp_path / "oci", image, tags=[TAG])
    assert read_layout(tmp_path / "oci") == image


def test_append_without_a_date_leaves_the_dates_alone() -> None:
    base = make_image()
    image = append(base, [make_layer(b"x"), make_layer(b"y", "second")])
    assert image.config_json["created"] == base.config_json["created"]
    assert image.config_json["history"][2:] == [
        {"created_by": "pydistroless"},
        {"created_by": "pydistroless", "comment": "second"},
    ]


def test_append_to_a_docker_image_keeps_what_docker_wrote(tmp_path: Path) -> None:
    docker_save_tar(tmp_path / "saved.tar", [(["app:1"], [plain_layer(b"base")])])
    base = read_tar(tmp_path / "saved.tar")
    assert isinstance(base, Image)
    image = append(base, [make_layer(b"app")])
    assert image.media_type == DOCKER_MANIFEST
    assert image.config_descriptor.media_type == DOCKER_CONFIG
    assert image.config_json["docker_version"] == "20.10.24"
    assert image.config_json["container_config"] == base.config_json["container_config"]
    assert image.config_json["history"][0] == {"created_by": "layer 0"}
    assert image.layers[0].descriptor == base.layers[0].descriptor


def test_with_config_merges_env_and_labels_and_replaces_the_rest() -> None:
    base = make_image()
    image = with_config(
        base,
        env={"LANG": "C.UTF-8", "NEW": "1"},
        labels={"b": "3", "c": "4"},
        user="65532",
        working_dir="/srv",
    )
    run = image.config_json["config"]
    assert run["Env"] == ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "NEW=1"]
    assert run["Labels"] == {"a": "1", "b": "3", "c": "4"}
    assert (run["User"], run["WorkingDir"]) == ("65532", "/srv")
    assert (run["Entrypoint"], run["Cmd"]) == (["/usr/bin/python3"], ["-m", "app"])
    assert image.layers == base.layers
    assert image.manifest_json["layers"] == base.manifest_json["layers"]
    assert image.config_descriptor.digest == Digest.of(image.config)
    assert base.config_json["config"]["Env"] == ["PATH=/usr/bin:/bin", "LANG=C"]
    assert with_config(base).config == base.config  # nothing asked, nothing changed


def test_a_new_entrypoint_clears_the_base_cmd() -> None:
    base = make_image()
    run = with_config(base, entrypoint=["/bin/app"]).config_json["config"]
    assert run["Entrypoint"] == ["/bin/app"]
    assert "Cmd" not in run
    run = with_config(base, entrypoint=["/bin/app"], cmd=["serve"]).config_json["config"]
    assert (run["Entrypoint"], run["Cmd"]) == (["/bin/app"], ["serve"])
    run = with_config(base, cmd=["other"]).config_json["config"]
    assert (run["Entrypoint"], run["Cmd"]) == (["/usr/bin/python3"], ["other"])


def test_exposed_ports_are_added_with_their_protocol() -> None:
    base = make_image()
    assert base.config_json["config"]["ExposedPorts"] == {"8000/tcp": {}}
    image = with_config(base, exposed_ports=["9000", "53/udp"])
    assert image.config_json["config"]["ExposedPorts"] == {
        "8000/tcp": {},
        "9000/tcp": {},
        "53/udp": {},
    }
    for bad in ("http", "0", "70000", "53/sctp"):
        with pytest.raises(UsageError, match="is not PORT"):
            with_config(base, exposed_ports=[bad])
    with pytest.raises(UsageError, match="KEY=VALUE"):
        with_config(base, env={"": "x"})


# ---- digests ----------------------------------------------------------------------------

EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_digests_parse_print_and_name_their_path() -> None:
    digest = Digest.parse(f"sha256:{EMPTY}")
    assert digest == Digest.of(b"") == Digest(EMPTY)
    assert str(digest) == f"sha256:{EMPTY}"
    assert digest.hex == EMPTY and digest.algorithm == "sha256"
    assert digest.path == f"blobs/sha256/{EMPTY}"
    assert Digest.of_file(io.BytesIO(b"abc" * 1000)) == (Digest.of(b"abc" * 1000), 3000)
    assert len({digest, Digest.parse(str(digest))}) == 1
    assert sorted([Digest("f" * 64), Digest("0" * 64)]) == [Digest("0" * 64), Digest("f" * 64)]


@pytest.mark.parametrize(
    "text",
    [
        EMPTY,  # no algorithm
        f"sha512:{EMPTY}",
        f"md5:{EMPTY[:32]}",
        f"sha256:{EMPTY.upper()}",
        f"sha256:{EMPTY[:-1]}",
        f"sha256:{EMPTY}0",
        f"sha256:{EMPTY}\n",
        f"sha256:\n{EMPTY}",
        "x" * 10_000,
        "a" * 10_000 + ":" + EMPTY,
        f" sha256:{EMPTY}",
        "sha256:",
        "",
        None,
        42,
    ],
)
def test_digests_other_than_sha256_hex_are_refused(text: object) -> None:
    with pytest.raises(UsageError, match="digest") as caught:
        Digest.parse(text)  # type: ignore[arg-type]
    assert len(one_line(caught)) < 200


def test_descriptors_with_bad_digests_are_image_format_errors() -> None:
    raw = {"mediaType": OCI_MANIFEST, "digest": "sha256:abc", "size": 3}
    with pytest.raises(ImageFormatError, match=r"entry 1: .* is not a sha256 digest"):
        Descriptor.from_json(raw, "entry 1")
    for size in (-1, "3", 3.0, True):
        with pytest.raises(ImageFormatError, match="lacks a media type, digest or size"):
            Descriptor.from_json({**raw, "digest": f"sha256:{EMPTY}", "size": size}, "entry 1")


def test_descriptors_round_trip_through_json() -> None:
    descriptor = Descriptor(
        OCI_MANIFEST,
        Digest(EMPTY),
        0,
        platform=ARM64,
        annotations=(("a", "1"),),
        artifact_type="application/example",
    )
    assert Descriptor.from_json(descriptor.to_json(), "x") == descriptor
    assert descriptor.to_json()["platform"] == {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
    }


def test_the_hasher_checks_size_then_digest() -> None:
    hasher = Hasher()
    hasher.update(b"ab")
    hasher.update(b"c")
    assert (hasher.digest(), hasher.size) == (Digest.of(b"abc"), 3)
    hasher.check(Digest.of(b"abc"), 3, "x")
    hasher.check(Digest.of(b"abc"), None, "x")
    with pytest.raises(IntegrityError, match="x: got 3 bytes where 4 were promised"):
        hasher.check(Digest.of(b"abc"), 4, "x")
    with pytest.raises(IntegrityError, match=f"x: its content has digest .*, not sha256:{EMPTY}"):
        hasher.check(Digest(EMPTY), 3, "x")


# ---- the architecture table -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", AMD64),
        ("linux/arm64", Platform("arm64")),
        ("linux/arm64/v8", ARM64),
        ("linux/arm/v7", Platform("arm", variant="v7")),
        (" linux/riscv64 ", Platform("riscv64")),
        ("windows/amd64", Platform("amd64", os="windows")),
        ("arm64", ARM64),  # a Debian name
        ("armhf", Platform("arm", variant="v7")),
        ("ppc64el", Platform("ppc64le")),
    ],
)
def test_platforms_parse(text: str, expected: Platform) -> None:
    assert Platform.parse(text) == expected


@pytest.mark.parametrize("text", ["", "amd", "x86_64", "linux/", "/amd64", "linux/arm/v7/x"])
def test_bad_platforms_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="is not a platform; write OS/ARCH"):
        Platform.parse(text)


def test_arm64_means_v8_wherever_platforms_are_compared() -> None:
    plain = Platform("arm64")
    assert plain.matches(ARM64) and ARM64.matches(plain)
    assert plain != ARM64  # equal as engines see it, not as values
    assert not plain.matches(Platform("arm64", variant="v9"))
    assert not Platform("arm").matches(Platform("arm", variant="v7"))
    assert not AMD64.matches(Platform("amd64", os="windows"))
    found = arch.for_platform(plain)
    assert found is not None and found.debian == "arm64"
    # an image that names no variant is found by a request that does, and the other way
    bare = new_image(plain, ImageConfig(entrypoint=("/x",)), (make_layer(b"a"),))
    index = new_index((make_image("amd64"), bare))
    assert index.image_for(ARM64) is bare
    assert platform_image(bare, ARM64, where="x") is bare
    with pytest.raises(UsageError, match="two images for platform"):
        new_index((bare, make_image("arm64")))


@pytest.mark.parametrize(
    ("platform", "debian"),
    [
        (AMD64, "amd64"),
        (ARM64, "arm64"),
        (Platform("arm", variant="v7"), "armhf"),
        (Platform("arm", variant="v5"), "armel"),
        (Platform("386"), "i386"),
        (Platform("ppc64le"), "ppc64el"),
        (Platform("mips64le"), "mips64el"),
        (Platform("arm", variant="v6"), None),
        (Platform("arm"), None),
        (Platform("amd64", os="windows"), None),
        (Platform("sparc64"), None),
    ],
)
def test_for_platform_finds_the_debian_architecture(platform: Platform, debian: str | None) -> None:
    found = arch.for_platform(platform)
    assert (found.debian if found else None) == debian
    if found is not None:
        assert arch.architecture(found.debian) is found
        assert found.platform.matches(platform)


def test_every_row_is_found_by_each_of_its_names() -> None:
    for row in arch.ARCHES:
        assert arch.architecture(row.debian) is row
        assert arch.for_platform(row.platform) is row
        assert Platform.parse(str(row.platform)) == row.platform
        assert Platform.parse(row.debian) == row.platform
    assert len({str(row.platform) for row in arch.ARCHES}) == len(arch.ARCHES)


@pytest.mark.parametrize(
    ("machine", "debian"),
    [
        ("x86_64", "amd64"),
        ("aarch64", "arm64"),
        ("ARM64", "arm64"),
        ("armv7l", "armhf"),
        ("armv8l", "armhf"),
        ("i686", "i386"),
        ("ppc64le", "ppc64el"),
        ("s390x", "s390x"),
        ("sparc64", None),
    ],
)
def test_the_host_is_found_by_its_kernel_name(
    monkeypatch: pytest.MonkeyPatch, machine: str, debian: str | None
) -> None:
    monkeypatch.undo()  # the autouse fixture pinned host(); this test is about it
    monkeypatch.setattr(arch._host, "machine", lambda: machine)
    found = arch.host()
    assert (found.debian if found else None) == debian
    assert arch.host_arch() == (debian or machine)


def test_platform_from_json_ignores_what_names_no_platform() -> None:
    assert Platform.from_json({"architecture": "arm", "os": "linux", "variant": "v7"}) == (
        Platform("arm", variant="v7")
    )
    for value in (None, [], {"architecture": "amd64"}, {"architecture": 1, "os": "linux"}):
        assert Platform.from_json(value) is None


def test_an_image_of_another_platform_is_not_taken_for_the_one_asked() -> None:
    image = make_image("arm64")
    with pytest.raises(PlatformNotFoundError, match="is a linux/arm64/v8 image, not linux/amd64"):
        platform_image(image, AMD64, where="the base")
