"""What makes the image better than the reference ones: only the libraries Python loads, files
maintainer scripts would have made, scanner metadata and SBOM, the debug variant, other
architectures, and byte-for-byte reproducible builds from a lock.

Real Debian archive, real docker and podman; the layers are read back with the project's own
Tree so that paths resolve inside the image, never on the host.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from debian.deb822 import Deb822
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from pydistroless.core.arch import host_arch
from pydistroless.fs.tree import Entry, Kind, Tree
from tests.fixtures.tools import describe, need_network, pydistroless, seeded_cache

if TYPE_CHECKING:
    from conftest import Engine

pytestmark = [pytest.mark.network, pytest.mark.docker]

TAG = "pydistroless-test/python:quality"
DEBUG_TAG = "pydistroless-test/python:quality-debug"
UNNEEDED = {
    "libcrypt1",
    "libnsl2",
    "libtirpc3t64",
    "libgssapi-krb5-2",
    "libk5crypto3",
    "libkrb5-3",
    "libkrb5support0",
    "libkeyutils1",
    "libcom-err2",
}


@dataclass(frozen=True)
class Output:
    directory: Path
    tar: Path
    digest: str

    def sbom(self, arch: str, suffix: str = ".spdx.json") -> Path:
        return self.directory / f"img.{arch}{suffix}"


def build(out: Path, *args: str | Path, cache_dir: Path | None = None) -> Output:
    need_network()
    out.mkdir(parents=True, exist_ok=True)
    result = pydistroless("build", "--output", out / "img.tar", *args, cwd=out, cache_dir=cache_dir)
    assert result.returncode == 0, describe(result)
    digest = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), result.stdout
    return Output(out, out / "img.tar", digest)


def read_images(tar: Path) -> dict[str, tuple[dict, Tree]]:
    """platform -> (image config, file tree) for every image of an output tar."""
    blobs: dict[str, bytes] = {}
    with tarfile.open(tar) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.startswith("blobs/sha256/"):
                blobs[member.name.rsplit("/", 1)[1]] = archive.extractfile(member).read()
        index = json.loads(archive.extractfile("index.json").read())

    def blob(digest: str) -> dict:
        return json.loads(blobs[digest.removeprefix("sha256:")])

    manifests = []
    for descriptor in index["manifests"]:
        if descriptor["mediaType"].endswith("index.v1+json"):
            manifests += blob(descriptor["digest"])["manifests"]
        else:
            manifests.append(descriptor)
    images = {}
    for descriptor in manifests:
        manifest = blob(descriptor["digest"])
        config = blob(manifest["config"]["digest"])
        tree = Tree()
        for layer in manifest["layers"]:
            data = gzip.decompress(blobs[layer["digest"].removeprefix("sha256:")])
            with tarfile.open(fileobj=io.BytesIO(data)) as layer_tar:
                for member in layer_tar.getmembers():
                    tree.add(_entry(layer_tar, member))
        platform = descriptor["platform"]
        images[f"{platform['os']}/{platform['architecture']}"] = (config, tree)
    return images


def _entry(layer: tarfile.TarFile, member: tarfile.TarInfo) -> Entry:
    common = {"mode": member.mode, "uid": member.uid, "gid": member.gid}
    if member.isdir():
        return Entry(member.name, Kind.DIR, **common)
    if member.issym():
        return Entry(member.name, Kind.SYMLINK, target=member.linkname, **common)
    if member.islnk():
        return Entry(member.name, Kind.HARDLINK, target=member.linkname, **common)
    return Entry(member.name, Kind.FILE, data=layer.extractfile(member).read(), **common)


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Output:
    return build(tmp_path_factory.mktemp("quality"), "--tag", TAG)


@pytest.fixture(scope="module")
def default_tree(default: Output) -> Tree:
    ((_, tree),) = read_images(default.tar).values()
    return tree


@pytest.fixture(scope="module")
def image(default: Output, docker_engine: Engine) -> Iterator[str]:
    docker_engine("load", "-i", str(default.tar))
    yield TAG
    docker_engine.remove_images(TAG)


@pytest.fixture(scope="module")
def lock_packages(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    result = pydistroless("lock", "-o", "-")
    assert result.returncode == 0, describe(result)
    lock = json.loads(result.stdout)
    return {p["name"] for p in lock["archs"][0]["packages"]}


# ---- only what Python needs --------------------------------------------------------------------


def test_no_library_package_that_no_elf_file_loads(lock_packages: set[str]):
    assert not lock_packages & UNNEEDED
    # ... and the ones its modules do load are all there.
    assert {
        "libssl3t64",
        "libsqlite3-0",
        "libffi8",
        "libbz2-1.0",
        "liblzma5",
        "libuuid1",
        "zlib1g",
        "libexpat1",
        "libc6",
        "libncursesw6",
        "libreadline8t64",
    } <= lock_packages


def test_slices_are_cut_and_copyrights_stay(default_tree: Tree):
    paths = {e.path for e in default_tree.entries()}
    assert not any(
        p.startswith(("usr/share/man/", "usr/share/info/", "usr/share/locale/")) for p in paths
    )
    assert not any("/gconv/" in p for p in paths)
    assert not any(p.startswith("usr/lib/python3.13/test/") for p in paths)
    docs = {
        p for p in paths if p.startswith("usr/share/doc/") and default_tree.get(p).kind is Kind.FILE
    }
    assert docs and all(p.endswith("/copyright") for p in docs), sorted(docs)[:5]
    assert "usr/share/doc/libc6/copyright" in paths


def test_every_needed_library_resolves_and_ld_so_cache_is_ours(default_tree: Tree):
    from pydistroless.fs.elf import missing_libraries
    from pydistroless.fs.ldcache import parse_ld_so_cache

    assert missing_libraries(default_tree, host_arch()) == []
    entries = parse_ld_so_cache(default_tree.read("etc/ld.so.cache"))
    names = {name for name, _flags, _path in entries}
    assert {"libc.so.6", "libssl.so.3", "libsqlite3.so.0", "libz.so.1"} <= names


# ---- files maintainer scripts would have made ----------------------------------------------------


def test_find_library_venv_utc_and_os_release(image: str, docker_engine: Engine):
    script = (
        "import ctypes.util, time, venv, platform\n"
        "print([ctypes.util.find_library(n) for n in ('c', 'ssl', 'sqlite3')])\n"
        "print(time.localtime().tm_zone, time.strftime('%z'))\n"
        "info = platform.freedesktop_os_release()\n"
        "print(info['ID'], info['VERSION_ID'], info['VERSION'])\n"
        "venv.create('/tmp/venv', with_pip=False)\n"
        "import os; print(os.path.exists('/tmp/venv/bin/python'))\n"
    )
    result = docker_engine.run(image, "-c", script)
    lines = result.stdout.splitlines()
    assert lines[0] == "['libc.so.6', 'libssl.so.3', 'libsqlite3.so.0']", describe(result)
    assert lines[1] == "UTC +0000"
    assert lines[2] == "debian 13 13 (trixie)"
    assert lines[3] == "True"
    cli = docker_engine.run(image, "-m", "venv", "--without-pip", "/tmp/v2", check=False)
    assert cli.returncode == 0, describe(cli)


def test_nothing_is_compiled_or_written_at_start_up(image: str, docker_engine: Engine):
    name = "pydistroless-test-startup-writes"
    docker_engine("rm", "-f", name, check=False)
    try:
        # As root, so that Python *could* write __pycache__ if it wanted to compile anything.
        docker_engine(
            "run",
            "--name",
            name,
            "--user",
            "0",
            "--network",
            "none",
            image,
            "-c",
            "import json, ssl, sqlite3, asyncio, email.message, http.client, decimal, "
            "zoneinfo, logging, argparse, urllib.request, xml.etree.ElementTree, dataclasses",
        )
        changes = docker_engine("diff", name).stdout.split()
        assert not [c for c in changes if c.endswith(".pyc") or "__pycache__" in c], changes
    finally:
        docker_engine("rm", "-f", name, check=False)
    # As the default user on a read-only root, the compiled modules are the ones imported.
    result = docker_engine(
        "run",
        "--rm",
        "--read-only",
        "--network",
        "none",
        image,
        "-c",
        "import json, importlib.util as u, sys, os; s = json.__spec__; "
        "print(s.origin.endswith('.pyc') or os.path.exists(s.cached))",
    )
    assert result.stdout == "True\n"


# ---- scanners and SBOM -------------------------------------------------------------------------


def test_status_d_describes_exactly_the_installed_files(default_tree: Tree, lock_packages):
    status = "var/lib/dpkg/status.d"
    names = {p.rsplit("/", 1)[1] for p in default_tree.children(status)}
    packages = {n for n in names if not n.endswith(".md5sums")}
    assert packages == lock_packages
    checked = 0
    for package in packages:
        (paragraph,) = list(Deb822.iter_paragraphs(default_tree.read(f"{status}/{package}")))
        assert paragraph["Package"] == package
        assert paragraph["Version"]
        for line in default_tree.read(f"{status}/{package}.md5sums").decode().splitlines():
            digest, path = line.split("  ", 1)
            data = default_tree.read(path)
            assert data is not None, f"{package}: {path} listed but not in the image"
            assert hashlib.md5(data, usedforsecurity=False).hexdigest() == digest, path
            checked += 1
    assert checked > 500
    assert default_tree.read("etc/debian_version").startswith(b"13.")


def test_spdx_sbom_validates_and_matches_the_image(
    default: Output, default_tree: Tree, lock_packages: set[str]
):
    outside = default.sbom(host_arch())
    assert default_tree.read("usr/share/sbom/pydistroless.spdx.json") == outside.read_bytes()
    document = parse_file(str(outside))
    assert validate_full_spdx_document(document) == []
    packages = {p.name: p for p in document.packages if p.name in lock_packages}
    assert set(packages) == lock_packages
    python = packages["python3.13-minimal"]
    purl = python.external_references[0].locator
    assert purl.startswith("pkg:deb/debian/python3.13-minimal@3.13.")
    assert purl.endswith(f"?arch={host_arch()}&distro=debian-13")
    assert python.download_location.endswith(".deb")
    assert re.fullmatch(r"[0-9a-f]{64}", python.checksums[0].value)
    # Licences come from machine-readable copyright files; Python's is free-form.
    assert str(python.license_declared) == "NOASSERTION"
    assert str(packages["zlib1g"].license_declared) == "Zlib"
    assert "Apache-2.0" in str(packages["libssl3t64"].license_declared)


def test_cyclonedx_sbom_validates(tmp_path: Path):
    out = build(tmp_path, "--sbom-format", "cyclonedx")
    document = out.sbom(host_arch(), ".cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(document) is None
    assert any(c["name"] == "libc6" for c in json.loads(document)["components"])


# ---- variants and architectures ------------------------------------------------------------------


def test_debug_variant_has_busybox_and_keeps_python_as_entrypoint(
    tmp_path: Path, docker_engine: Engine
):
    out = build(tmp_path, "--variant", "debug", "--tag", DEBUG_TAG)
    docker_engine("load", "-i", str(out.tar))
    try:
        shell = docker_engine.run(DEBUG_TAG, check=False)  # entrypoint is python, no args
        assert shell.returncode == 0
        result = docker_engine(
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/busybox/sh",
            DEBUG_TAG,
            "-c",
            "echo ok; id -u; echo $PATH",
        )
        assert result.stdout.splitlines() == [
            "ok",
            "65532",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox",
        ]
        version = docker_engine.run(DEBUG_TAG, "--version")
        assert version.stdout.startswith("Python 3.13.")
    finally:
        docker_engine.remove_images(DEBUG_TAG)


def test_arm64_image_is_assembled_without_emulation(tmp_path: Path, docker_engine: Engine):
    out = build(tmp_path, "--arch", "amd64,arm64", "--tag", "pydistroless-test/python:multi")
    images = read_images(out.tar)
    assert set(images) == {"linux/amd64", "linux/arm64"}
    config, tree = images["linux/arm64"]
    assert config["architecture"] == "arm64"
    interpreter = tree.read("usr/bin/python3.13")
    assert interpreter[:4] == b"\x7fELF"
    assert int.from_bytes(interpreter[18:20], "little") == 183  # EM_AARCH64
    assert tree.read("lib/ld-linux-aarch64.so.1") is not None
    assert any(e.path.endswith(".pyc") for e in tree.files())
    with tarfile.open(out.tar) as archive:
        index = json.loads(archive.extractfile("index.json").read())
        nested = json.loads(
            archive.extractfile(
                "blobs/sha256/" + index["manifests"][0]["digest"].removeprefix("sha256:")
            ).read()
        )
    platforms = {
        (m["platform"]["architecture"], m["platform"].get("variant", ""))
        for m in nested["manifests"]
    }
    assert ("arm64", "v8") in platforms and ("amd64", "") in platforms
    # docker loads the host's image out of the multi-platform tar.
    docker_engine("load", "-i", str(out.tar))
    try:
        result = docker_engine.run(
            "pydistroless-test/python:multi", "-c", "import platform; print(platform.machine())"
        )
        assert result.stdout.strip() == {"amd64": "x86_64", "arm64": "aarch64"}[host_arch()]
    finally:
        docker_engine.remove_images("pydistroless-test/python:multi")


@pytest.mark.podman
def test_podman_runs_ctypes_and_zoneinfo(default: Output, podman: Engine):
    podman("load", "-i", str(default.tar))
    try:
        result = podman.run(
            TAG,
            "-c",
            "import ctypes.util, zoneinfo; print(ctypes.util.find_library('ssl'), "
            "zoneinfo.ZoneInfo('Europe/Paris').key)",
        )
        assert result.stdout.strip() == "libssl.so.3 Europe/Paris"
    finally:
        podman.remove_images(TAG)


# ---- reproducible --------------------------------------------------------------------------------


def test_same_lock_same_bytes_with_other_caches(tmp_path: Path):
    need_network()
    lock_path = tmp_path / "python.lock"
    result = pydistroless("lock", "-o", lock_path)
    assert result.returncode == 0, describe(result)
    outputs = []
    for name in ("one", "two"):
        cache = seeded_cache(tmp_path / f"cache-{name}")
        outputs.append(build(tmp_path / name, "--lock", lock_path, cache_dir=cache))
    first, second = outputs
    assert first.digest == second.digest
    assert first.tar.read_bytes() == second.tar.read_bytes()


def test_a_missing_library_stops_the_build_naming_file_and_soname(tmp_path: Path):
    need_network()
    result = pydistroless("build", "--exclude", "libsqlite3-0", "--output", tmp_path / "x.tar")
    assert result.returncode == 8, describe(result)
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("pydistroless: error: ")
    assert "_sqlite3" in line and "libsqlite3.so.0" in line, line
    assert not (tmp_path / "x.tar").exists()
