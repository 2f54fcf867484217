"""The image tar and layout against the real tools that read them.

A runnable image is made of a static busybox alone; a second platform is added as a small
image of files only, which no engine here needs to run.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pydistroless.core.arch import Platform
from pydistroless.fs.tree import Tree
from pydistroless.oci import daemon
from pydistroless.oci.archive import write_tar
from pydistroless.oci.layout import write_layout
from pydistroless.oci.model import Image, Index
from pydistroless.oci.mutate import new_index
from tests.fixtures.images import (
    EPOCH,
    GREETING,
    NONROOT,
    host_image,
    make_image,
    native_platform,
    runnable_tree,
)

if TYPE_CHECKING:
    from conftest import Engine


@dataclass(frozen=True)
class Artifacts:
    single: Image  # one platform is written as the image itself, as a build of one arch does
    multi: Index
    single_tar: Path
    multi_tar: Path
    single_layout: Path
    multi_layout: Path
    tag: str  # name:tag of the single-platform image
    multi_tag: str

    @property
    def image(self) -> Image:
        return self.single


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory, static_busybox: bytes) -> Artifacts:
    native = native_platform()
    other = (
        Platform("amd64") if native.architecture == "arm64" else Platform("arm64", "linux", "v8")
    )
    files_only = Tree()
    files_only.add_file("etc/greeting", f"{other}\n".encode())
    runnable = make_image(runnable_tree(static_busybox), native)
    single = runnable
    multi = new_index((runnable, make_image(files_only, other)))
    out = tmp_path_factory.mktemp("oci")
    run = secrets.token_hex(4)
    tag, multi_tag = f"pydistroless-e2e/oci:{run}", f"pydistroless-e2e/oci-multi:{run}"
    write_tar(out / "single.tar", single, tags=[tag])
    write_tar(out / "multi.tar", multi, tags=[multi_tag])
    write_layout(out / "single", single, tags=[tag])
    write_layout(out / "multi", multi, tags=[multi_tag])
    return Artifacts(
        single,
        multi,
        out / "single.tar",
        out / "multi.tar",
        out / "single",
        out / "multi",
        tag,
        multi_tag,
    )


def run_json(*argv: str) -> object:
    return json.loads(run_text(*argv))


def run_text(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed:\n{result.stderr}", pytrace=False)
    return result.stdout


# ---- skopeo and umoci -------------------------------------------------------------------


@pytest.mark.skopeo
def test_skopeo_reads_the_tar_as_an_oci_archive(skopeo: str, artifacts: Artifacts) -> None:
    image = artifacts.image
    for reference in (
        f"oci-archive:{artifacts.single_tar}",
        f"oci-archive:{artifacts.single_tar}:{artifacts.tag.split(':')[1]}",
    ):
        inspected = run_json(skopeo, "inspect", reference)
        assert inspected["Digest"] == str(image.digest)
        assert image.platform is not None
        assert inspected["Architecture"] == image.platform.architecture
        assert inspected["Layers"] == [str(layer.digest) for layer in image.layers]
    config = run_json(skopeo, "inspect", "--config", f"oci-archive:{artifacts.single_tar}")
    assert config == json.loads(image.config)


@pytest.mark.skopeo
def test_skopeo_reads_the_tar_as_a_docker_archive(skopeo: str, artifacts: Artifacts) -> None:
    reference = f"docker-archive:{artifacts.single_tar}"
    config = run_json(skopeo, "inspect", "--config", reference)
    assert config == json.loads(artifacts.image.config)


@pytest.mark.skopeo
def test_skopeo_reads_the_layout(skopeo: str, artifacts: Artifacts) -> None:
    tag = artifacts.tag.split(":")[1]
    for reference in (f"oci:{artifacts.single_layout}", f"oci:{artifacts.single_layout}:{tag}"):
        assert run_json(skopeo, "inspect", reference)["Digest"] == str(artifacts.image.digest)


@pytest.mark.skopeo
def test_skopeo_sees_every_platform(skopeo: str, artifacts: Artifacts, tmp_path: Path) -> None:
    multi = artifacts.multi
    for source in (f"oci-archive:{artifacts.multi_tar}", f"oci:{artifacts.multi_layout}"):
        assert run_text(skopeo, "inspect", "--raw", source).encode() == multi.raw
        for image in multi.images():
            platform = image.platform
            assert platform is not None
            args = ["--override-arch", platform.architecture]
            if platform.variant:
                args += ["--override-variant", platform.variant]
            config = run_json(skopeo, *args, "inspect", "--config", source)
            assert config["architecture"] == platform.architecture
            assert config == json.loads(image.config)
    # copying every platform re-reads and checks every blob against its digest
    run_text(
        skopeo, "copy", "--all", f"oci-archive:{artifacts.multi_tar}", f"oci:{tmp_path / 'copy'}:x"
    )
    copied = json.loads((tmp_path / "copy/index.json").read_text())
    assert [m["digest"] for m in copied["manifests"]] == [str(multi.digest)]


@pytest.mark.umoci
def test_umoci_unpacks_the_extracted_tar(
    umoci: str, artifacts: Artifacts, tmp_path: Path, static_busybox: bytes
) -> None:
    layout = tmp_path / "layout"
    with tarfile.open(artifacts.single_tar) as tar:
        tar.extractall(layout, filter="data")
    bundle = tmp_path / "bundle"
    rootless = ["--rootless"] if os.geteuid() != 0 else []
    run_text(
        umoci,
        "unpack",
        *rootless,
        "--image",
        f"{layout}:{artifacts.tag.split(':')[1]}",
        str(bundle),
    )
    rootfs = bundle / "rootfs"
    assert (rootfs / "bin/busybox").read_bytes() == static_busybox
    inodes = {(rootfs / "bin" / n).stat().st_ino for n in ("ash", "busybox", "echo")}
    assert len(inodes) == 1
    assert os.readlink(rootfs / "bin/sh") == "busybox"
    assert (rootfs / "etc/greeting").read_text() == GREETING
    assert (rootfs / "etc/greeting").stat().st_mtime == EPOCH
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    if not rootless:
        assert (rootfs / "home/nonroot").stat().st_uid == NONROOT
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"] == ["/bin/busybox", "cat", "/etc/greeting"]
    assert config["process"]["cwd"] == "/home/nonroot"


# ---- docker -----------------------------------------------------------------------------


@pytest.fixture
def docker(docker_engine: Engine, artifacts: Artifacts) -> Iterator[Engine]:
    yield docker_engine
    docker_engine.remove_images(artifacts.tag, artifacts.multi_tag, f"{artifacts.tag}-again")


@pytest.mark.docker
def test_docker_loads_and_runs_the_image(docker: Engine, artifacts: Artifacts) -> None:
    loaded = docker("load", "-i", str(artifacts.single_tar)).stdout
    assert f"Loaded image: {artifacts.tag}" in loaded  # named by manifest.json alone
    assert docker.run(artifacts.tag).stdout == GREETING
    assert docker.run(artifacts.tag, "id", "-u").stdout.strip() == str(NONROOT)
    assert docker.run(artifacts.tag, "pwd").stdout.strip() == "/home/nonroot"
    inodes = docker.run(artifacts.tag, "stat", "-c", "%i", "/bin/ash", "/bin/busybox").stdout
    assert len(set(inodes.split())) == 1


@pytest.mark.docker
def test_docker_image_id_is_the_config_digest(docker: Engine, artifacts: Artifacts) -> None:
    assert daemon.detect_engine(None) == "docker"
    tag = f"{artifacts.tag}-again"
    image_id = daemon.load(artifacts.single_tar, tag=tag, engine="docker")
    assert image_id == str(artifacts.image.config_descriptor.digest)
    inspected = run_json("docker", "image", "inspect", tag)[0]
    assert inspected["Config"]["User"] == f"{NONROOT}:{NONROOT}"
    assert inspected["Config"]["Labels"] == {"org.opencontainers.image.title": "pydistroless e2e"}
    assert inspected["Created"].startswith("2023-11-14T22:13:20")


@pytest.mark.docker
def test_docker_loads_the_host_platform_of_a_multi_platform_tar(
    docker: Engine, artifacts: Artifacts
) -> None:
    image_id = daemon.load(artifacts.multi_tar, tag=artifacts.multi_tag, engine="docker")
    assert image_id == str(host_image(artifacts.multi).config_descriptor.digest)
    assert docker.run(artifacts.multi_tag).stdout == GREETING


# ---- podman -----------------------------------------------------------------------------


@pytest.fixture
def podman_clean(podman: Engine, artifacts: Artifacts) -> Iterator[Engine]:
    yield podman
    names = (artifacts.tag, artifacts.multi_tag, f"{artifacts.tag}-again")
    podman.remove_images(*names, *(f"docker.io/{n}" for n in names))


@pytest.mark.podman
def test_podman_loads_and_runs_the_image(podman_clean: Engine, artifacts: Artifacts) -> None:
    podman = podman_clean
    loaded = podman("load", "-i", str(artifacts.single_tar)).stdout
    # read as an OCI archive and named after io.containerd.image.name
    assert f"Loaded image: docker.io/{artifacts.tag}" in loaded
    assert podman.run(artifacts.tag).stdout == GREETING
    assert podman.run(artifacts.tag, "id", "-u").stdout.strip() == str(NONROOT)


@pytest.mark.podman
def test_podman_image_id_is_the_config_digest(podman_clean: Engine, artifacts: Artifacts) -> None:
    tag = f"{artifacts.tag}-again"
    image_id = daemon.load(artifacts.single_tar, tag=tag, engine="podman")
    assert image_id == str(artifacts.image.config_descriptor.digest)
    assert podman_clean.run(tag, "pwd").stdout.strip() == "/home/nonroot"


@pytest.mark.podman
def test_podman_loads_the_host_platform_of_a_multi_platform_tar(
    podman_clean: Engine, artifacts: Artifacts
) -> None:
    image_id = daemon.load(artifacts.multi_tar, tag=artifacts.multi_tag, engine="podman")
    assert image_id == str(host_image(artifacts.multi).config_descriptor.digest)
    assert podman_clean.run(artifacts.multi_tag).stdout == GREETING
