from __future__ import annotations

import hashlib
import json

import pytest

from pydistroless.errors import UsageError
from pydistroless.fs.tree import Tree
from pydistroless.oci.image import (
    MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_INDEX,
    MEDIA_TYPE_MANIFEST,
    Image,
    ImageConfig,
    ImageIndex,
    Platform,
    canonical_json,
    platform_for_debian_arch,
    rfc3339,
)
from pydistroless.oci.layer import MEDIA_TYPE_LAYER_GZIP, Layer, layer_from_tree

EPOCH = 1_700_000_000


def make_layer(content: bytes, comment: str = "") -> Layer:
    tree = Tree()
    tree.add_file("app/data", content)
    return layer_from_tree(tree, mtime=EPOCH, comment=comment)


def make_config(**overrides: object) -> ImageConfig:
    values: dict[str, object] = {
        "entrypoint": ("/usr/bin/python3",),
        "env": ("PATH=/usr/bin:/bin", "LANG=C.UTF-8"),
        "user": "65532:65532",
        "working_dir": "/app",
        "labels": {"org.opencontainers.image.title": "demo", "a": "1"},
        "created": rfc3339(EPOCH),
    }
    values.update(overrides)
    return ImageConfig(**values)  # type: ignore[arg-type]


def make_image(arch: str = "amd64", content: bytes = b"base", **config: object) -> Image:
    layers = (make_layer(content, "base system"), make_layer(b"app", "application"))
    return Image(platform_for_debian_arch(arch), make_config(**config), layers)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("debian", "expected"),
    [
        ("amd64", Platform("amd64")),
        ("arm64", Platform("arm64", variant="v8")),
        ("armhf", Platform("arm", variant="v7")),
        ("armel", Platform("arm", variant="v5")),
        ("i386", Platform("386")),
        ("ppc64el", Platform("ppc64le")),
        ("s390x", Platform("s390x")),
        ("riscv64", Platform("riscv64")),
        ("mips64el", Platform("mips64le")),
    ],
)
def test_debian_architectures_map_to_go_names(debian: str, expected: Platform) -> None:
    platform = platform_for_debian_arch(debian)
    assert platform == expected
    assert platform.os == "linux"


def test_an_unknown_architecture_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"'x86_64'.*amd64"):
        platform_for_debian_arch("x86_64")


def test_platform_text_and_matching() -> None:
    assert str(platform_for_debian_arch("armhf")) == "linux/arm/v7"
    assert str(Platform("amd64")) == "linux/amd64"
    assert Platform("arm64").matches(Platform("arm64", variant="v8"))
    assert not Platform("arm", variant="v7").matches(Platform("arm", variant="v5"))
    assert Platform("arm64", variant="v8").to_json() == {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
    }


def test_rfc3339() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(EPOCH) == "2023-11-14T22:13:20Z"


def test_config_json_follows_the_image_spec() -> None:
    image = make_image("arm64")
    config = json.loads(image.config_blob)
    assert config["architecture"] == "arm64"
    assert config["os"] == "linux"
    assert config["variant"] == "v8"
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["config"] == {
        "Entrypoint": ["/usr/bin/python3"],
        "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
        "User": "65532:65532",
        "WorkingDir": "/app",
        "Labels": {"a": "1", "org.opencontainers.image.title": "demo"},
    }
    assert config["rootfs"] == {
        "type": "layers",
        "diff_ids": [layer.diff_id for layer in image.layers],
    }
    assert config["history"] == [
        {"created": "2023-11-14T22:13:20Z", "created_by": "pydistroless", "comment": c}
        for c in ("base system", "application")
    ]


def test_cmd_appears_only_when_set_and_variant_only_when_known() -> None:
    assert "Cmd" not in json.loads(make_image().config_blob)["config"]
    assert "variant" not in json.loads(make_image().config_blob)
    with_cmd = make_image(cmd=("-m", "app"), author="Team <t@example.com>")
    config = json.loads(with_cmd.config_blob)
    assert config["config"]["Cmd"] == ["-m", "app"]
    assert config["author"] == "Team <t@example.com>"


def test_blobs_are_canonical_json() -> None:
    image = make_image()
    for blob in (image.config_blob, image.manifest_blob, ImageIndex((image,)).blob):
        assert blob == canonical_json(json.loads(blob))
        assert b": " not in blob and b", " not in blob


def test_digests_are_sha256_of_the_blobs() -> None:
    image = make_image()
    index = ImageIndex((image,))
    assert image.config_digest == sha(image.config_blob)
    assert image.manifest_digest == sha(image.manifest_blob)
    assert image.manifest_size == len(image.manifest_blob)
    assert index.digest == sha(index.blob)
    assert index.size == len(index.blob)


def test_manifest_describes_config_and_layers() -> None:
    image = make_image()
    manifest = json.loads(image.manifest_blob)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == MEDIA_TYPE_MANIFEST
    assert manifest["config"] == {
        "mediaType": MEDIA_TYPE_CONFIG,
        "digest": image.config_digest,
        "size": len(image.config_blob),
    }
    assert manifest["layers"] == [
        {"mediaType": MEDIA_TYPE_LAYER_GZIP, "digest": layer.digest, "size": layer.size}
        for layer in image.layers
    ]
    assert "annotations" not in manifest


def test_annotations_reach_the_manifest() -> None:
    base = make_image()
    image = Image(base.platform, base.config, base.layers, {"org.example": "yes"})
    assert json.loads(image.manifest_blob)["annotations"] == {"org.example": "yes"}


def test_same_inputs_same_digests() -> None:
    assert make_image().manifest_digest == make_image().manifest_digest
    assert make_image().config_digest != make_image(user="0:0").config_digest


def test_values_are_frozen_and_hashable() -> None:
    config = make_config()
    assert config == make_config(labels=(("org.opencontainers.image.title", "demo"), ("a", "1")))
    assert hash(config) == hash(make_config())
    with pytest.raises(AttributeError):
        config.user = "root"  # type: ignore[misc]


def test_created_may_be_given_as_an_epoch() -> None:
    assert make_config(created=EPOCH) == make_config(created="2023-11-14T22:13:20Z")


def test_config_checks_its_fields() -> None:
    with pytest.raises(UsageError, match="KEY=VALUE"):
        make_config(env=("NOEQUALS",))
    with pytest.raises(UsageError, match="twice"):
        make_config(labels=(("a", "1"), ("a", "2")))


def test_index_lists_each_platform() -> None:
    index = ImageIndex((make_image("amd64"), make_image("arm64", content=b"other")))
    doc = json.loads(index.blob)
    assert doc["mediaType"] == MEDIA_TYPE_INDEX
    assert doc["schemaVersion"] == 2
    assert [m["platform"] for m in doc["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    for image, descriptor in zip(index.images, doc["manifests"], strict=True):
        assert descriptor["digest"] == image.manifest_digest
        assert descriptor["size"] == image.manifest_size
        assert descriptor["mediaType"] == MEDIA_TYPE_MANIFEST
    assert index.image_for(Platform("arm64")) is index.images[1]
    assert index.image_for(Platform("s390x")) is None


def test_index_blobs_are_deduplicated() -> None:
    amd, arm = make_image("amd64"), make_image("arm64")  # same layers, different configs
    index = ImageIndex((amd, arm))
    blobs = index.blobs()
    expected = {layer.digest for layer in amd.layers} | {
        amd.config_digest,
        arm.config_digest,
        amd.manifest_digest,
        arm.manifest_digest,
    }
    assert set(blobs) == expected
    assert len(blobs) == 6
    for digest, data in blobs.items():
        assert digest == sha(data)
    assert index.blobs(include_index=True)[index.digest] == index.blob


def test_index_refuses_duplicates_and_emptiness() -> None:
    with pytest.raises(UsageError, match="two images for platform linux/arm64"):
        ImageIndex((make_image("arm64"), make_image("arm64", content=b"x")))
    with pytest.raises(UsageError, match="at least one image"):
        ImageIndex(())
    with pytest.raises(UsageError, match="at least one layer"):
        Image(Platform("amd64"), make_config(), ())
