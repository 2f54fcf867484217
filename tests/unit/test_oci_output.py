from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pydistroless.core import arch
from pydistroless.core.arch import Platform
from pydistroless.core.errors import OutputError, PlatformNotFoundError, UsageError
from pydistroless.fs.tree import Tree
from pydistroless.oci import archive as archive_module
from pydistroless.oci import layout as layout_module
from pydistroless.oci.archive import write_tar
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.layout import write_layout
from pydistroless.oci.model import (
    OCI_INDEX,
    OCI_MANIFEST,
    Artifact,
    Image,
    platform_image,
    walk,
)
from pydistroless.oci.mutate import ImageConfig, new_image, new_index
from pydistroless.oci.reference import full_name, split_reference

TAG = "example.com/team/python:3.11"


def make_image(debian: str) -> Image:
    tree = Tree()
    tree.add_file("etc/arch", debian.encode())
    tree.add_file("usr/lib/shared", b"same in every image")
    layer = layer_from_tree(tree, mtime=1)
    platform = arch.architecture(debian).platform
    return new_image(platform, ImageConfig(entrypoint=("/bin/true",)), (layer,))


# One platform is written as the image itself (what a build of one architecture writes),
# several as an index of them.
SINGLE = make_image("amd64")
MULTI = new_index((make_image("amd64"), make_image("arm64")))
AMD, ARM = MULTI.images()


def blob_paths(artifact: Artifact) -> set[str]:
    """Where every blob of ``artifact`` (its own document included) goes in a layout."""
    return {descriptor.digest.path for descriptor, _ in walk(artifact)}


def on_host(monkeypatch: pytest.MonkeyPatch, debian: str | None) -> None:
    """Pretend to run on ``debian`` (None: a machine the architecture table lacks)."""
    found = None if debian is None else arch.architecture(debian)
    monkeypatch.setattr(arch, "host", lambda: found)


@pytest.fixture(autouse=True)
def _amd64_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # which image manifest.json names depends on the machine; these tests must not
    on_host(monkeypatch, "amd64")


def read_tar(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {m.name: m for m in tar.getmembers()}


def tar_file(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def tar_json(path: Path, name: str) -> object:
    return json.loads(tar_file(path, name))


# ---- references -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "name", "tag", "full"),
    [
        ("python", "python", "latest", "docker.io/library/python:latest"),
        ("python:3.11", "python", "3.11", "docker.io/library/python:3.11"),
        ("me/app:1", "me/app", "1", "docker.io/me/app:1"),
        ("localhost/app:1", "localhost/app", "1", "localhost/app:1"),
        ("reg.io:5000/a/b", "reg.io:5000/a/b", "latest", "reg.io:5000/a/b:latest"),
        ("ghcr.io/me/py-app_2:v1.0-rc", "ghcr.io/me/py-app_2", "v1.0-rc", None),
    ],
)
def test_references_split_into_name_and_tag(
    reference: str, name: str, tag: str, full: str | None
) -> None:
    assert split_reference(reference) == (name, tag)
    assert full_name(reference) == (full or f"{name}:{tag}")


@pytest.mark.parametrize("reference", ["", "Python:1", "app:", "app@sha256:00", "a//b", ":1"])
def test_invalid_references_are_refused(reference: str) -> None:
    with pytest.raises(UsageError, match="not a valid image name"):
        split_reference(reference)


# ---- the tar ----------------------------------------------------------------------------


def test_tar_is_identical_every_time(tmp_path: Path) -> None:
    write_tar(tmp_path / "a.tar", MULTI, tags=[TAG])
    write_tar(tmp_path / "b.tar", MULTI, tags=[TAG])
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_tar_members_are_sorted_with_fixed_metadata(tmp_path: Path) -> None:
    out = tmp_path / "image.tar"
    write_tar(out, SINGLE, tags=[TAG], mtime=42)
    members = read_tar(out)
    assert list(members) == sorted(members)
    assert {"oci-layout", "index.json", "manifest.json", "blobs", "blobs/sha256"} <= set(members)
    for m in members.values():
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 42)
        assert m.mode == (0o755 if m.isdir() else 0o644)
        assert not m.pax_headers


def test_tar_holds_every_blob_under_its_digest(tmp_path: Path) -> None:
    out = tmp_path / "image.tar"
    write_tar(out, MULTI, tags=[TAG])
    names = {n for n in read_tar(out) if n.startswith("blobs/sha256/")}
    expected = {layer.digest.path for image in (AMD, ARM) for layer in image.layers}
    expected |= {i.config_descriptor.digest.path for i in (AMD, ARM)}
    expected |= {AMD.digest.path, ARM.digest.path, MULTI.digest.path}
    assert names == expected == blob_paths(MULTI)
    for name in names:
        assert hashlib.sha256(tar_file(out, name)).hexdigest() == name.rsplit("/", 1)[1]
    assert tar_json(out, "oci-layout") == {"imageLayoutVersion": "1.0.0"}


def test_single_image_index_lists_the_manifest_directly(tmp_path: Path) -> None:
    out = tmp_path / "image.tar"
    write_tar(out, SINGLE, tags=[TAG, "python:latest"])
    image = SINGLE
    index = tar_json(out, "index.json")
    assert index["mediaType"] == OCI_INDEX
    assert [m["annotations"] for m in index["manifests"]] == [
        {
            "org.opencontainers.image.ref.name": "3.11",
            "io.containerd.image.name": "example.com/team/python:3.11",
        },
        {
            "org.opencontainers.image.ref.name": "latest",
            "io.containerd.image.name": "docker.io/library/python:latest",
        },
    ]
    for descriptor in index["manifests"]:
        assert descriptor["mediaType"] == OCI_MANIFEST
        assert descriptor["digest"] == str(image.digest)
        assert descriptor["size"] == len(image.manifest)
        assert descriptor["platform"] == {"architecture": "amd64", "os": "linux"}


def test_multi_platform_index_points_at_the_nested_index(tmp_path: Path) -> None:
    out = tmp_path / "image.tar"
    write_tar(out, MULTI, tags=[TAG])
    (descriptor,) = tar_json(out, "index.json")["manifests"]
    assert descriptor["mediaType"] == OCI_INDEX
    assert descriptor["digest"] == str(MULTI.digest)
    assert descriptor["size"] == len(MULTI.raw)
    assert descriptor["annotations"]["org.opencontainers.image.ref.name"] == "3.11"
    nested = tar_file(out, MULTI.digest.path)
    assert nested == MULTI.raw


def test_an_index_of_one_image_is_listed_as_the_index(tmp_path: Path) -> None:
    out = tmp_path / "image.tar"
    one = new_index((SINGLE,))
    write_tar(out, one, tags=[TAG])
    (descriptor,) = tar_json(out, "index.json")["manifests"]
    assert (descriptor["mediaType"], descriptor["digest"]) == (OCI_INDEX, str(one.digest))
    assert tar_json(out, "manifest.json")[0]["Config"] == SINGLE.config_descriptor.digest.path


def test_docker_manifest_describes_one_image(tmp_path: Path) -> None:
    out = tmp_path / "image.tar"
    write_tar(out, MULTI, tags=[TAG, "python"], docker_platform=Platform("arm64"))
    assert tar_json(out, "manifest.json") == [
        {
            "Config": ARM.config_descriptor.digest.path,
            "RepoTags": ["example.com/team/python:3.11", "python:latest"],
            "Layers": [layer.digest.path for layer in ARM.layers],
        }
    ]


def test_docker_gets_the_host_image_else_the_only_one(monkeypatch: pytest.MonkeyPatch) -> None:
    on_host(monkeypatch, "arm64")
    assert platform_image(MULTI, None, where="x") is ARM
    on_host(monkeypatch, "amd64")
    assert platform_image(MULTI, None, where="x") is AMD
    assert platform_image(MULTI, Platform("arm64"), where="x") is ARM
    on_host(monkeypatch, "s390x")
    assert platform_image(new_index((ARM,)), None, where="x") is ARM
    assert platform_image(SINGLE, None, where="x") is SINGLE
    with pytest.raises(PlatformNotFoundError, match="has no image for linux/s390x"):
        platform_image(MULTI, Platform("s390x"), where="x")
    with pytest.raises(PlatformNotFoundError, match="is a linux/amd64 image, not linux/s390x"):
        platform_image(SINGLE, Platform("s390x"), where="x")


@pytest.mark.parametrize("host", ["s390x", None])
def test_no_image_is_guessed_for_a_foreign_host(
    monkeypatch: pytest.MonkeyPatch, host: str | None
) -> None:
    on_host(monkeypatch, host)
    message = "has images for linux/amd64, linux/arm64/v8 and none for this machine"
    with pytest.raises(PlatformNotFoundError, match=message):
        platform_image(MULTI, None, where="x")


def test_a_multi_platform_tar_is_written_on_a_foreign_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_host(monkeypatch, "s390x")
    write_tar(tmp_path / "image.tar", MULTI, tags=[TAG])
    assert tar_json(tmp_path / "image.tar", "manifest.json")[0]["Config"] == (
        AMD.config_descriptor.digest.path
    )


def test_a_platform_the_index_lacks_fails_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(PlatformNotFoundError, match="has no image for linux/s390x"):
        write_tar(tmp_path / "x.tar", MULTI, tags=[TAG], docker_platform=Platform("s390x"))
    assert list(tmp_path.iterdir()) == []


def test_untagged_tar_still_loads_as_one_image(tmp_path: Path) -> None:
    out = tmp_path / "image.tar"
    write_tar(out, SINGLE, tags=[])
    (descriptor,) = tar_json(out, "index.json")["manifests"]
    assert "annotations" not in descriptor
    assert tar_json(out, "manifest.json")[0]["RepoTags"] == []


def test_bad_tags_fail_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        write_tar(tmp_path / "x.tar", SINGLE, tags=["Bad:Tag"])
    with pytest.raises(UsageError, match="twice"):
        write_tar(tmp_path / "x.tar", SINGLE, tags=["a:1", "a:1"])
    with pytest.raises(TypeError):
        write_tar(tmp_path / "x.tar", SINGLE, tags="a:1")
    assert list(tmp_path.iterdir()) == []


def test_existing_tar_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "image.tar"
    out.write_bytes(b"old")
    write_tar(out, SINGLE, tags=[TAG])
    assert tarfile.is_tarfile(out)
    assert list(tmp_path.iterdir()) == [out]


def test_new_tar_gets_the_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_tar(tmp_path / "image.tar", SINGLE, tags=[TAG])
    finally:
        os.umask(old)
    assert (tmp_path / "image.tar").stat().st_mode & 0o777 == 0o640


def test_unwritable_directory_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def refuse(path: str, flags: int, mode: int = 0o777) -> int:
        if str(path).startswith(str(tmp_path)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, flags, mode)

    monkeypatch.setattr(archive_module.os, "open", refuse)
    out = tmp_path / "image.tar"
    with pytest.raises(OutputError) as caught:
        write_tar(out, SINGLE, tags=[TAG])
    assert str(caught.value) == f"cannot write {out}: Permission denied; choose another --output"
    assert list(tmp_path.iterdir()) == []


def as_unprivileged(action: Callable[[], None]) -> str:
    """Run ``action`` in a child process that has given up root, since root writes through
    directory permissions; return the OutputError message it met, or "" if none."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        message = b"unexpected failure"
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                action()
                message = b""
            except OutputError as e:
                message = str(e).encode()
        finally:
            os.write(write_end, message)
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


def test_read_only_directory_is_an_output_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    tmp_path.chmod(0o755)
    out = locked / "image.tar"
    try:
        if os.geteuid() == 0:
            message = as_unprivileged(lambda: write_tar(out, SINGLE, tags=[TAG]))
        else:
            with pytest.raises(OutputError) as caught:
                write_tar(out, SINGLE, tags=[TAG])
            message = str(caught.value)
        assert message == f"cannot write {out}: Permission denied; choose another --output"
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_layout_in_a_read_only_directory_is_an_output_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    tmp_path.chmod(0o755)
    target = locked / "oci"
    try:
        if os.geteuid() == 0:
            message = as_unprivileged(lambda: write_layout(target, SINGLE, tags=[TAG]))
        else:
            with pytest.raises(OutputError) as caught:
                write_layout(target, SINGLE, tags=[TAG])
            message = str(caught.value)
        assert message == f"cannot write {target}: Permission denied; choose another --oci-layout"
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_failure_mid_write_leaves_no_file_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "image.tar"
    out.write_bytes(b"previous image")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(archive_module.os, "fsync", disk_full)
    with pytest.raises(OutputError, match="No space left on device; free some space"):
        write_tar(out, SINGLE, tags=[TAG])
    assert list(tmp_path.iterdir()) == [out]
    assert out.read_bytes() == b"previous image"


def test_interrupted_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(archive_module, "_write_members", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_tar(tmp_path / "image.tar", SINGLE, tags=[TAG])
    assert list(tmp_path.iterdir()) == []


def test_missing_parent_or_directory_target(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "image.tar"
    with pytest.raises(OutputError, match=f"cannot write {missing}: .*create {missing.parent}"):
        write_tar(missing, SINGLE, tags=[TAG])
    with pytest.raises(OutputError, match="it exists and is a directory"):
        write_tar(tmp_path, SINGLE, tags=[TAG])
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(OutputError, match="Not a directory"):
        write_tar(afile / "image.tar", SINGLE, tags=[TAG])


# ---- the layout -------------------------------------------------------------------------


def layout_files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_layout_matches_the_tar(tmp_path: Path) -> None:
    write_layout(tmp_path / "oci", MULTI, tags=[TAG])
    write_tar(tmp_path / "image.tar", MULTI, tags=[TAG])
    files = layout_files(tmp_path / "oci")
    with tarfile.open(tmp_path / "image.tar") as tar:
        in_tar = {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile() and m.name != "manifest.json"
        }
    assert files == in_tar


def test_layout_replaces_an_old_layout_whole(tmp_path: Path) -> None:
    target = tmp_path / "oci"
    write_layout(target, MULTI, tags=[TAG])
    write_layout(target, SINGLE, tags=["other:1"])
    assert set(layout_files(target)) == blob_paths(SINGLE) | {"index.json", "oci-layout"}
    assert list(tmp_path.iterdir()) == [target]


def test_layout_takes_an_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "oci"
    target.mkdir()
    write_layout(target, SINGLE, tags=[TAG])
    assert (target / "oci-layout").is_file()
    assert list(tmp_path.iterdir()) == [target]


def test_layout_refuses_to_overwrite_other_things(tmp_path: Path) -> None:
    busy = tmp_path / "project"
    busy.mkdir()
    (busy / "precious.txt").write_text("keep me")
    with pytest.raises(OutputError, match="non-empty directory that is not an OCI layout"):
        write_layout(busy, SINGLE, tags=[TAG])
    assert layout_files(busy) == {"precious.txt": b"keep me"}
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(OutputError, match="exists and is not a directory"):
        write_layout(afile, SINGLE, tags=[TAG])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "project"]


def test_layout_failure_keeps_the_old_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "oci"
    write_layout(target, SINGLE, tags=[TAG])
    before = layout_files(target)
    real_rename = os.rename
    failures = {"left": 1}

    def fail_onto_target(src: str, dst: str) -> None:
        if Path(dst) == target and failures["left"]:
            failures["left"] -= 1
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_rename(src, dst)

    monkeypatch.setattr(layout_module.os, "rename", fail_onto_target)
    with pytest.raises(OutputError, match=f"cannot write {target}: Input/output error"):
        write_layout(target, MULTI, tags=[TAG])
    assert layout_files(target) == before
    assert list(tmp_path.iterdir()) == [target]

    # the new layout cannot take its place and the old one cannot go back: keep it aside
    failures["left"] = 2
    with pytest.raises(OutputError, match="the previous layout is kept at") as caught:
        write_layout(target, MULTI, tags=[TAG])
    aside = Path(str(caught.value).rsplit(" ", 1)[1])
    assert layout_files(aside) == before
    assert list(tmp_path.iterdir()) == [aside]


def test_layout_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="create"):
        write_layout(tmp_path / "a" / "oci", SINGLE, tags=[TAG])


def test_layout_blob_bytes_are_the_image_blobs(tmp_path: Path) -> None:
    write_layout(tmp_path / "oci", SINGLE, tags=[TAG])
    image = SINGLE
    blob = tmp_path / "oci" / image.config_descriptor.digest.path
    assert blob.read_bytes() == image.config
    assert (tmp_path / "oci" / image.digest.path).read_bytes() == image.manifest
    for layer in image.layers:
        with layer.open() as stream:
            assert (tmp_path / "oci" / layer.digest.path).read_bytes() == stream.read()
    index = json.loads((tmp_path / "oci/index.json").read_bytes())
    assert index["manifests"][0]["digest"] == str(image.digest)


def test_tar_reads_back_with_tarfile_streaming(tmp_path: Path) -> None:
    out = tmp_path / "image.tar"
    write_tar(out, SINGLE, tags=[TAG])
    with tarfile.open(fileobj=io.BytesIO(out.read_bytes()), mode="r|") as tar:
        assert [m.name for m in tar][:2] == ["blobs", "blobs/sha256"]


def test_relative_paths_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_tar(Path("image.tar"), SINGLE, tags=[TAG])
    write_layout(Path("oci/"), SINGLE, tags=[TAG])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.tar", "oci"]
