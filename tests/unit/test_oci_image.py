from __future__ import annotations

import hashlib
import json

import pytest

from pydistroless.core.arch import Platform, architecture
from pydistroless.core.errors import UsageError
from pydistroless.core.timestamps import rfc3339
from pydistroless.fs.tree import Tree
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.model import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Blob,
    Image,
    Layer,
    canonical_json,
    walk,
)
from pydistroless.oci.mutate import ImageConfig, new_image, new_index

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


def make_layers(content: bytes = b"base") -> tuple[Layer, ...]:
    return (make_layer(content, "base system"), make_layer(b"app", "application"))


def make_image(arch: str = "amd64", content: bytes = b"base", **config: object) -> Image:
    return new_image(architecture(arch).platform, make_config(**config), make_layers(content))


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def read(blob: Blob) -> bytes:
    with blob.open() as stream:
        return stream.read()


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
    platform = architecture(debian).platform
    assert platform == expected
    assert platform.os == "linux"


def test_an_unknown_architecture_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"'x86_64'.*amd64"):
        architecture("x86_64")


def test_platform_text_and_matching() -> None:
    assert str(architecture("armhf").platform) == "linux/arm/v7"
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
    config = json.loads(image.config)
    assert config == image.config_json
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
        "diff_ids": [str(layer.diff_id) for layer in image.layers],
    }
    assert config["history"] == [
        {"created": "2023-11-14T22:13:20Z", "created_by": "pydistroless", "comment": c}
        for c in ("base system", "application")
    ]
    assert image.platform == Platform("arm64", variant="v8")
    assert image.is_container_image
    assert image.artifact_type == ""


def test_cmd_appears_only_when_set_and_variant_only_when_known() -> None:
    assert "Cmd" not in json.loads(make_image().config)["config"]
    assert "variant" not in json.loads(make_image().config)
    with_cmd = make_image(cmd=("-m", "app"))
    assert json.loads(with_cmd.config)["config"]["Cmd"] == ["-m", "app"]


def test_blobs_are_canonical_json() -> None:
    image = make_image()
    for blob in (image.config, image.manifest, new_index((image,)).raw):
        assert blob == canonical_json(json.loads(blob))
        assert b": " not in blob and b", " not in blob


def test_digests_are_sha256_of_the_blobs() -> None:
    image = make_image()
    index = new_index((image,))
    assert str(image.config_descriptor.digest) == sha(image.config)
    assert image.config_descriptor.size == len(image.config)
    assert str(image.digest) == sha(image.manifest)
    assert image.descriptor().size == len(image.manifest)
    assert str(index.digest) == sha(index.raw)
    assert index.descriptor().size == len(index.raw)


def test_manifest_describes_config_and_layers() -> None:
    image = make_image()
    manifest = json.loads(image.manifest)
    assert image.media_type == OCI_MANIFEST
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"] == {
        "mediaType": OCI_CONFIG,
        "digest": str(image.config_descriptor.digest),
        "size": len(image.config),
    }
    assert manifest["layers"] == [
        {"mediaType": OCI_LAYER_GZIP, "digest": str(layer.digest), "size": layer.size}
        for layer in image.layers
    ]
    assert "annotations" not in manifest


def test_same_inputs_same_digests() -> None:
    assert make_image().digest == make_image().digest
    assert make_image() == make_image()
    assert make_image().config_descriptor.digest != make_image(user="0:0").config_descriptor.digest


def test_values_are_frozen_and_hashable() -> None:
    config = make_config()
    assert config == make_config(labels=(("org.opencontainers.image.title", "demo"), ("a", "1")))
    assert hash(config) == hash(make_config())
    with pytest.raises(AttributeError):
        config.user = "root"  # type: ignore[misc]
    image = make_image()
    assert hash(image) == hash(make_image())
    with pytest.raises(AttributeError):
        image.manifest = b"{}"  # type: ignore[misc]


def test_created_may_be_given_as_an_epoch() -> None:
    assert make_config(created=EPOCH) == make_config(created="2023-11-14T22:13:20Z")


def test_config_checks_its_fields() -> None:
    with pytest.raises(UsageError, match="KEY=VALUE"):
        make_config(env=("NOEQUALS",))
    with pytest.raises(UsageError, match="twice"):
        make_config(labels=(("a", "1"), ("a", "2")))
    with pytest.raises(UsageError, match="PORT"):
        make_config(exposed_ports=("http",))


def test_index_lists_each_platform() -> None:
    index = new_index((make_image("amd64"), make_image("arm64", content=b"other")))
    images = list(index.images())
    doc = json.loads(index.raw)
    assert index.media_type == OCI_INDEX
    assert doc["mediaType"] == OCI_INDEX
    assert doc["schemaVersion"] == 2
    assert [m["platform"] for m in doc["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    for image, descriptor in zip(images, doc["manifests"], strict=True):
        assert descriptor["digest"] == str(image.digest)
        assert descriptor["size"] == len(image.manifest)
        assert descriptor["mediaType"] == OCI_MANIFEST
    assert [d.digest for d in index.manifests()] == [i.digest for i in images]
    assert index.platforms() == [Platform("amd64"), Platform("arm64", variant="v8")]
    assert index.image_for(Platform("arm64")) is images[1]
    assert index.image_for(Platform("s390x")) is None


def test_index_blobs_are_deduplicated() -> None:
    amd, arm = make_image("amd64"), make_image("arm64")  # same layers, different configs
    index = new_index((amd, arm))
    blobs = list(walk(index))
    expected = {layer.digest for layer in amd.layers} | {
        amd.config_descriptor.digest,
        arm.config_descriptor.digest,
        amd.digest,
        arm.digest,
        index.digest,
    }
    assert {d.digest for d, _ in blobs} == expected
    assert len(blobs) == 7
    for descriptor, blob in blobs:
        data = read(blob)
        assert str(descriptor.digest) == sha(data)
        assert descriptor.size == len(data)
    # children before the documents that list them; the index last
    order = [d.digest for d, _ in blobs]
    assert order[-1] == index.digest
    assert order.index(amd.config_descriptor.digest) < order.index(amd.digest)
    assert read(blobs[-1][1]) == index.raw


def test_index_refuses_duplicates_and_emptiness() -> None:
    with pytest.raises(UsageError, match="two images for platform linux/arm64"):
        new_index((make_image("arm64"), make_image("arm64", content=b"x")))
    with pytest.raises(UsageError, match="at least one image"):
        new_index(())
    with pytest.raises(UsageError, match="at least one layer"):
        new_image(Platform("amd64"), make_config(), ())
