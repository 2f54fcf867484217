"""Upstream CPython compiled from source on trixie, in a real docker engine.

The tarball is the Debian archive's unchanged upstream one (its SHA256 from sid's or forky's
signed ``Sources``; trixie's own, with its release manager's ``.asc``, shows the signature
route); it is compiled without PGO and LTO here, to keep the suite quick. One
module-scoped lock and build are checked from every side: the stdlib sweep as nonroot on a
read-only root, the libraries its ELF files load (all trixie's, all in ``status.d``), the
SBOM, a cached rebuild offline, and an app on top of it. The bad inputs each end in one line.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pysequoia
import pytest
from debian.deb822 import Sources
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from pydistroless.core.arch import host_arch
from pydistroless.core.fetch import Download
from pydistroless.debian.sources import SourceOptions
from pydistroless.debian.store import Store
from pydistroless.python import cpython
from pydistroless.python import source as upstream
from tests.e2e.test_base_image import STDLIB_CHECK, STDLIB_MODULES
from tests.fixtures.repo import fake_python_repo, repo_args
from tests.fixtures.tools import (
    assert_clean_failure,
    describe,
    need_network,
    pydistroless,
    shared_cache_dir,
    syft_artifacts,
)

if TYPE_CHECKING:
    from conftest import Engine

pytestmark = [pytest.mark.network, pytest.mark.docker]

VERSION = "3.13.15"  # the one upstream tarball this machine's mirror serves
TAG = "pydistroless-test/python:from-source"
NONROOT = 65532
QUICK = ("--no-python-optimizations", "--accept-expired-release")
SUITES = {"trixie", "trixie-updates", "trixie-security"}

# The modules of the base sweep, and the two it leaves to Debian's packaging of them.
EXTRA_CHECK = r"""
def t_readline():
    import readline
    readline.add_history("x"); assert readline.get_current_history_length() == 1

def t_dbm():
    import dbm, dbm.gnu, dbm.ndbm, tempfile, os
    path = os.path.join(tempfile.mkdtemp(), "db")
    with dbm.open(path, "c") as db:
        db[b"k"] = b"v"
    with dbm.open(path) as db:
        assert db[b"k"] == b"v"

def t_multiprocessing():
    # POSIX semaphores (configure once probed them in the sandbox, which has no /dev/shm).
    import multiprocessing
    lock, queue = multiprocessing.Lock(), multiprocessing.Queue()
    with lock:
        queue.put("x")
    assert queue.get(timeout=10) == "x"

def t_version():
    assert sys.version.startswith("%s "), sys.version
    assert "1970" not in sys.version, sys.version  # built on the release's date
    assert sys.prefix == "/usr/local" and sys.executable == "/usr/local/bin/python3.13"
    assert sys.flags.optimize == 0 and not sys.flags.no_site
"""


@dataclass(frozen=True)
class Built:
    lock: dict
    lock_path: Path
    tar: Path
    digest: str
    stderr: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    need_network()
    out = tmp_path_factory.mktemp("from-source")
    made = pydistroless("lock", "--python", VERSION, *QUICK, "-o", out / "python.lock")
    assert made.returncode == 0, describe(made)
    result = pydistroless(
        "build", "--lock", out / "python.lock", "--accept-expired-release",
        "--output", out / "img.tar", "--tag", TAG,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    digest = result.stdout.strip().splitlines()[-1]
    lock = json.loads((out / "python.lock").read_text())
    return Built(lock, out / "python.lock", out / "img.tar", digest, made.stderr + result.stderr)


@pytest.fixture(scope="module")
def image(built: Built, docker_engine: Engine) -> Iterator[str]:
    docker_engine("load", "-i", str(built.tar))
    yield TAG
    docker_engine.remove_images(TAG)


@pytest.fixture(scope="module")
def files(image: str, docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image's file system, as docker exports it."""
    root = tmp_path_factory.mktemp("rootfs")
    name = "pydistroless-from-source-export"
    docker_engine("rm", "-f", name, check=False)
    docker_engine("create", "--name", name, image)
    try:
        exported = docker_engine.argv("export", name)
        data = subprocess.run(exported, capture_output=True, check=True, timeout=300).stdout
    finally:
        docker_engine("rm", "-f", name, check=False)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(root, filter="tar")
    return root


def test_the_terminal_says_why_python_is_compiled(built: Built):
    assert re.search(
        rf"Python {VERSION}: compiling upstream CPython from source \(trixie has 3\.13\.\d+\)",
        built.stderr,
    ), built.stderr


def test_the_lock_records_the_tarball_and_only_trixie_packages(built: Built):
    (arch,) = built.lock["archs"]
    source = arch["python-source"]
    assert source["version"] == VERSION and source["optimize"] is False
    assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"])
    assert source["urls"][0].endswith(f"/python3.13_{VERSION}.orig.tar.xz")
    assert re.fullmatch(r"(sid|forky) Sources \(python3\.13 .+\)", source["origin"])
    names = {p["name"] for p in arch["packages"]}
    assert not {n for n in names if n.startswith(("python3", "libpython3"))}, names
    assert {"libssl3t64", "libsqlite3-0", "libffi8", "liblzma5", "libbz2-1.0"} <= names
    assert {p["suite"] for p in arch["packages"]} <= SUITES
    # The builder tree it was compiled in is pinned too, so a build from the lock compiles
    # against the same headers and libraries.
    builder = {p["name"]: p for p in arch["builder"]}
    assert {"gcc-14", "make", "libssl-dev", "libsqlite3-dev", "libc6-dev"} <= set(builder)
    assert {p["suite"] for p in builder.values()} <= SUITES
    assert "host-builder" not in arch  # a native build


def test_standard_library_works_as_nonroot_on_a_read_only_root(image: str, docker_engine: Engine):
    script = STDLIB_CHECK.replace(
        'for name, func in list(globals().items()):', EXTRA_CHECK % VERSION
        + '\nfor name, func in list(globals().items()):'
    )  # fmt: skip
    result = docker_engine(
        "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp", image, "-c", script,
        check=False,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    ok = {line.split()[1] for line in lines if line.startswith("OK ")}
    failed = [line for line in lines if line.startswith("FAIL ")]
    extra = {"readline", "dbm", "multiprocessing", "version"}
    assert not failed and ok == STDLIB_MODULES | extra, describe(result)
    assert f"UID {NONROOT} HOME /home/nonroot CWD /home/nonroot" in lines
    assert "SH False" in lines
    config = json.loads(docker_engine("image", "inspect", image).stdout)[0]["Config"]
    assert config["Entrypoint"] == ["/usr/local/bin/python3.13"]
    assert config["Labels"]["dev.pydistroless.python.version"] == VERSION
    printed = docker_engine.run(image, "--version").stdout.strip()
    assert printed == f"Python {VERSION}"


def _status(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """status.d: package -> version, and each listed file -> its package."""
    versions, owners = {}, {}
    for path in (root / "var/lib/dpkg/status.d").iterdir():
        if path.suffix == ".md5sums":
            for line in path.read_text().splitlines():
                owners["/" + line.split(None, 1)[1]] = path.stem
        else:
            versions[path.name] = re.search(r"^Version: (\S+)", path.read_text(), re.M).group(1)
    return versions, owners


def test_every_library_the_python_loads_is_a_trixie_package_in_status_d(built: Built, files: Path):
    versions, owners = _status(files)
    locked = {p["name"]: p["version"] for p in built.lock["archs"][0]["packages"]}
    assert versions == {n: v for n, v in locked.items() if n in versions}
    libdir = files / "usr/lib" / ("x86_64-linux-gnu" if host_arch() == "amd64" else "")
    needed: dict[str, set[str]] = {}
    for path in (files / "usr/local").rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as stream:
            if stream.read(4) != b"\x7fELF":
                continue
            stream.seek(0)
            for section in ELFFile(stream).iter_sections():
                if isinstance(section, DynamicSection):
                    for tag in section.iter_tags("DT_NEEDED"):
                        needed.setdefault(tag.needed, set()).add(path.name)
    assert "libssl.so.3" in needed and "libc.so.6" in needed, needed
    for soname, users in sorted(needed.items()):
        library = libdir / soname
        assert library.exists(), f"{soname} (needed by {sorted(users)[:3]}) is not in the image"
        real = "/" + str(library.resolve().relative_to(files.resolve()))
        assert real in owners, f"{real} is in no status.d package"
        assert owners[real] in locked, owners[real]


def test_the_sbom_lists_cpython_with_its_tarball(built: Built, files: Path):
    document = json.loads((files / "usr/share/sbom/pydistroless.spdx.json").read_text())
    python = next(p for p in document["packages"] if p["name"] == "python")
    source = built.lock["archs"][0]["python-source"]
    assert python["versionInfo"] == VERSION
    assert python["checksums"] == [{"algorithm": "SHA256", "checksumValue": source["sha256"]}]
    refs = sorted((r["referenceType"], r["referenceLocator"]) for r in python["externalRefs"])
    assert refs[:2] == [
        ("cpe23Type", f"cpe:2.3:a:python:python:{VERSION}:*:*:*:*:*:*:*"),
        ("cpe23Type", f"cpe:2.3:a:python_software_foundation:python:{VERSION}:*:*:*:*:*:*:*"),
    ]
    assert refs[2][0] == "purl"
    assert refs[2][1].startswith(f"pkg:generic/python@{VERSION}?download_url=")
    assert not (files / "usr/local/include").exists()
    assert not list((files / "usr/local/lib").glob("libpython*"))
    assert not (files / "usr/local/lib/python3.13/test").exists()


def test_scanners_see_cpython_at_its_version(built: Built, files: Path):
    """syft finds the compiled interpreter by its file name and the version string inside it;
    trivy, which has no CPython detection of its own, reads any SBOM in the image whose name
    ends in .spdx.json or .cdx.json, and ours lists CPython."""
    found = syft_artifacts(f"oci-archive:{built.tar}")
    (python,) = [a for a in found if a["type"] == "binary" and a["name"] == "python"]
    assert python["version"] == VERSION
    assert python["purl"] == f"pkg:generic/python@{VERSION}"
    cpes = {c["cpe"] if isinstance(c, dict) else c for c in python["cpes"]}
    assert {
        f"cpe:2.3:a:python:python:{VERSION}:*:*:*:*:*:*:*",
        f"cpe:2.3:a:python_software_foundation:python:{VERSION}:*:*:*:*:*:*:*",
    } <= cpes
    sboms = sorted(p.name for p in (files / "usr/share/sbom").iterdir())
    assert sboms == ["pydistroless.spdx.json"]


def test_the_image_passes_its_own_check(built: Built):
    """Every library resolves and every script's interpreter is in the image (the stdlib's
    macOS shell helper is not)."""
    result = pydistroless("check", built.tar)
    assert result.returncode == 0, describe(result)


def test_a_second_build_comes_from_the_cache_offline(built: Built, tmp_path: Path):
    again = pydistroless(
        "build", "--python", VERSION, *QUICK, "--offline", "--output", tmp_path / "again.tar",
        "--tag", TAG,
    )  # fmt: skip
    assert again.returncode == 0, describe(again)
    assert "compiling CPython" not in again.stderr
    assert again.stdout.strip().splitlines()[-1] == built.digest


def test_a_tarball_given_as_a_local_file_leaves_no_path_in_the_image(built: Built, tmp_path: Path):
    """The same bytes from two folders of the builder's give one image, which names neither
    folder; the lock and the provenance, the build's own record, keep where it came from."""
    sha256 = built.lock["archs"][0]["python-source"]["sha256"]
    digests = []
    for folder in ("downloads", "elsewhere"):
        tarball = tmp_path / folder / f"Python-{VERSION}.tar.xz"
        tarball.parent.mkdir()
        tarball.write_bytes((shared_cache_dir() / "blobs" / "sha256" / sha256).read_bytes())
        out = tmp_path / folder / "img.tar"
        result = pydistroless(
            "build", "--python", VERSION, *QUICK, "--source-url", tarball,
            "--source-sha256", sha256, "--output", out,
        )  # fmt: skip
        assert result.returncode == 0, describe(result)
        assert "compiling CPython" not in result.stderr  # cached by the tarball's digest
        digests.append(result.stdout.strip().splitlines()[-1])
        with tarfile.open(out) as archive:
            for member in archive.getmembers():
                data = archive.extractfile(member).read() if member.isfile() else b""
                if data[:2] == b"\x1f\x8b":
                    data = gzip.decompress(data)
                assert str(tmp_path).encode() not in data, member.name
        sbom = (tmp_path / folder / "img.amd64.spdx.json").read_text()
        assert str(tmp_path) not in sbom and f"pkg:generic/python@{VERSION}" in sbom
        assert tarball.as_uri() in (tmp_path / folder / "img.intoto.jsonl").read_text()
    assert digests[0] == digests[1]
    outdated = pydistroless(
        "outdated", tmp_path / "elsewhere" / "img.tar", "--accept-expired-release"
    )
    # Its labels still say it was compiled: outdated proposes a release, not a Debian update.
    assert "compiled from source: rebuild with --python 3.13." in outdated.stdout, describe(
        outdated
    )


def test_outdated_asks_for_a_rebuild_when_upstream_has_a_newer_patch_release(built: Built):
    result = pydistroless("outdated", built.lock_path, "--accept-expired-release")
    match = re.search(
        rf"python 3\.13: {VERSION} here, (3\.13\.\d+) upstream \((sid|forky) Sources; "
        r"compiled from source: rebuild with --python \1\)",
        result.stdout,
    )
    assert match, describe(result)
    assert tuple(map(int, match.group(1).split("."))) > (3, 13, 15)
    assert result.returncode == 1, describe(result)


def test_the_fastapi_example_runs_on_the_from_source_base(
    built: Built, tmp_path: Path, docker_engine: Engine
):
    from tests.e2e.test_app_examples import build as build_app
    from tests.e2e.test_app_examples import detached, free_port, get, loaded, locked

    tag = "e2e-fastapi-from-source:1"
    project = locked("fastapi-uvicorn", tmp_path)
    build_app(project, tmp_path / "app.tar", "--python", VERSION, *QUICK, "--tag", tag)
    with loaded(docker_engine, tmp_path / "app.tar", tag):
        config = json.loads(docker_engine("image", "inspect", tag).stdout)[0]["Config"]
        assert config["Labels"]["dev.pydistroless.python.version"] == VERSION
        assert config["Labels"]["dev.pydistroless.python.site-packages"] == (
            "/usr/local/lib/python3.13/site-packages"
        )
        port = free_port()
        with detached(
            docker_engine, "e2e-fastapi-from-source", "--network", "host", "--read-only",
            "--entrypoint", "/usr/local/bin/uvicorn", tag,
            "main:app", "--host", "127.0.0.1", "--port", str(port),
        ):  # fmt: skip
            status, body = get(f"http://127.0.0.1:{port}/")
            assert status == 200 and "I am alive" in body
        printed = docker_engine(
            "run", "--rm", "--network", "none", "--entrypoint", "/usr/local/bin/python3.13", tag,
            "-c", "import sys, fastapi, pydantic_core; print(sys.version.split()[0])",
        ).stdout  # fmt: skip
        assert printed.strip() == VERSION


# ---- bad input ------------------------------------------------------------------------------


def test_an_unknown_release_names_the_known_ones(tmp_path: Path):
    result = pydistroless("build", "--python", "3.13.99", *QUICK, "--output", tmp_path / "x.tar")
    line = assert_clean_failure(result, 2, "CPython 3.13.99 is not in the Sources of", VERSION)
    assert "--source-url" in line
    assert not (tmp_path / "x.tar").exists()


def test_a_tarball_whose_sha256_differs_is_refused_and_not_kept(tmp_path: Path):
    fake = tmp_path / "Python-3.13.15.tar.xz"
    fake.write_bytes(b"not a tarball")
    wrong = "0" * 64
    result = pydistroless(
        "build", "--python", VERSION, "--source-url", fake, "--source-sha256", wrong,
        "--no-python-optimizations", "--output", tmp_path / "x.tar",
    )  # fmt: skip
    assert_clean_failure(result, 4, "does not hash to --source-sha256", "nothing was kept")
    assert not (shared_cache_dir() / "blobs" / "sha256" / wrong).exists()
    assert not (tmp_path / "x.tar").exists()


def _failing_tarball(directory: Path) -> tuple[Path, str]:
    """A CPython-shaped tarball whose ``configure`` fails as a missing compiler would."""
    script = b"#!/bin/sh\necho 'checking for gcc... no'\necho 'configure: error: no acceptable C compiler found in $PATH' >&2\nexit 77\n"  # noqa: E501
    path = directory / "Python-3.13.98.tar.xz"
    with tarfile.open(path, "w:xz") as archive:
        info = tarfile.TarInfo("Python-3.13.98/configure")
        info.size, info.mode = len(script), 0o755
        archive.addfile(info, io.BytesIO(script))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_compiler_failure_shows_the_log_tail_and_leaves_nothing_half_built(tmp_path: Path):
    tarball, digest = _failing_tarball(tmp_path)
    result = pydistroless(
        "build", "--python", "3.13.98", "--source-url", tarball, "--source-sha256", digest,
        "--no-python-optimizations", "--output", tmp_path / "x.tar",
    )  # fmt: skip
    line = assert_clean_failure(
        result, 16, "building CPython 3.13.98 failed in configure (exit 77)",
        "no acceptable C compiler found", "the full log is ",
    )  # fmt: skip
    assert "  | checking for gcc... no" in result.stderr
    log = Path(line.rsplit("the full log is ", 1)[1])
    assert "no acceptable C compiler" in log.read_text()
    pythons = shared_cache_dir() / "pythons"
    assert not [p for p in pythons.iterdir() if p.name.startswith(".")]
    # (The builder images of app builds, "image-*", are another test's, maybe busy now.)
    for builder in (shared_cache_dir() / "builders").glob("[0-9a-f]*/build"):
        assert not list(builder.iterdir()), f"{builder} keeps a build's work tree"
    assert not (tmp_path / "x.tar").exists()


def test_an_architecture_with_no_way_to_build_for_it_is_refused_before_building(
    tmp_path: Path,
):
    """This host cannot run the other architecture's code, and the suite (a signed repository
    of our own) has no cross toolchain to it: one error, before anything is compiled."""
    other = "arm64" if host_arch() == "amd64" else "amd64"
    assert not cpython.runnable(other), f"this host runs {other} code: qemu-user is registered"
    repo = fake_python_repo(tmp_path / "repo", other_archs=(other,))
    tarball, digest = _failing_tarball(tmp_path)
    cache = tmp_path / "cache"
    result = pydistroless(
        "build", *repo_args(repo, python="3.13.98"), "--arch", other, "--python-from", "source",
        "--source-url", tarball, "--source-sha256", digest, "--output", tmp_path / "x.tar",
        cache_dir=cache,
    )  # fmt: skip
    assert_clean_failure(
        result, 2, f"cannot build CPython for {other} on this {host_arch()} host",
        "no cross toolchain", "install qemu-user-static",
    )  # fmt: skip
    assert not (cache / "pythons").exists() and not (cache / "builders").exists()
    assert not (tmp_path / "x.tar").exists()


# ---- a release manager's signature ---------------------------------------------------------


@dataclass(frozen=True)
class SignedRelease:
    version: str
    tarball: Path
    signature: Path
    sha256: str  # as trixie's signed Sources lists it


@pytest.fixture(scope="module")
def signed_release(tmp_path_factory: pytest.TempPathFactory) -> SignedRelease:
    """Trixie's upstream tarball of its own Python and the release manager's ``.asc`` beside
    it, both as its signed ``Sources`` lists them: a real release and its real signature."""
    need_network()
    ctx = Store.create(SourceOptions(cache_dir=shared_cache_dir()), progress=False)
    release = ctx.archive.release(ctx.mirrors.main, "trixie")
    assert release is not None
    paragraph = next(
        Sources(chunk.decode())
        for chunk in ctx.archive.sources(release, "main").split(b"\n\n")
        if chunk.startswith(b"Package: python3.13\n")
    )
    entries = {e["name"]: e for e in paragraph["Checksums-Sha256"]}
    orig = next(n for n in entries if n.endswith(".orig.tar.xz"))
    version = orig.split("_")[1].removesuffix(".orig.tar.xz")
    folder = tmp_path_factory.mktemp("signed")
    paths = []
    for name, local in (
        (orig, f"Python-{version}.tar.xz"),
        (orig + ".asc", f"Python-{version}.tar.xz.asc"),
    ):
        entry = entries[name]
        item = Download(
            tuple(f"{b}/{paragraph['Directory']}/{name}" for b in release.base_urls),
            entry["sha256"], int(entry["size"]), name,
        )  # fmt: skip
        paths.append(folder / local)
        paths[-1].write_bytes(ctx.fetcher.fetch_path(item).read_bytes())
    return SignedRelease(version, paths[0], paths[1], entries[orig]["sha256"])


def test_the_release_managers_signature_vouches_for_the_tarball(signed_release: SignedRelease):
    ctx = Store.create(SourceOptions(cache_dir=shared_cache_dir()), progress=False)
    found = upstream.signed_tarball(
        signed_release.version, str(signed_release.tarball), str(signed_release.signature),
        "trixie", ctx, origin="--source-url",
    )  # fmt: skip
    # The digest of the bytes the signature vouched for is the one Debian's signed index has.
    assert found.sha256 == signed_release.sha256
    assert re.search(r"signed by .+ <.+@.+> \([0-9A-F]{40}\)", found.origin), found.origin
    offline = Store.create(
        SourceOptions(cache_dir=shared_cache_dir(), offline=True), progress=False
    )
    again = upstream.signed_tarball(
        signed_release.version, str(signed_release.tarball), str(signed_release.signature),
        "trixie", offline, origin="--source-url",
    )  # fmt: skip
    assert again == found


def _build_signed(tarball: Path, signature: Path, version: str, out: Path):
    return pydistroless(
        "build", "--python", version, "--python-from", "source", "--source-url", tarball,
        "--source-signature", signature, "--no-python-optimizations", "--output", out,
    )  # fmt: skip


def test_a_tarball_changed_after_signing_is_a_bad_signature(
    signed_release: SignedRelease, tmp_path: Path
):
    changed = tmp_path / signed_release.tarball.name
    data = bytearray(signed_release.tarball.read_bytes())
    data[len(data) // 2] ^= 0x01
    changed.write_bytes(bytes(data))
    result = _build_signed(changed, signed_release.signature, signed_release.version,
                           tmp_path / "x.tar")  # fmt: skip
    assert_clean_failure(result, 4, "bad signature", "nothing was kept")
    digest = hashlib.sha256(data).hexdigest()
    assert not (shared_cache_dir() / "blobs" / "sha256" / digest).exists()
    assert not (tmp_path / "x.tar").exists()


def test_a_signature_by_someone_else_is_refused(signed_release: SignedRelease, tmp_path: Path):
    stranger = pysequoia.Tsk.generate("Not A Release Manager <nobody@example.invalid>")
    signature = tmp_path / "Python.tar.xz.asc"
    data = signed_release.tarball.read_bytes()
    mode = pysequoia.SignatureMode.DETACHED
    signature.write_bytes(pysequoia.sign(stranger.signer(), data, mode=mode))
    result = _build_signed(signed_release.tarball, signature, signed_release.version,
                           tmp_path / "x.tar")  # fmt: skip
    assert_clean_failure(result, 4, "bad signature", "does not verify with the release managers'")
    assert not (tmp_path / "x.tar").exists()


def test_a_signed_tarball_must_also_match_a_digest_given_with_it(
    signed_release: SignedRelease, tmp_path: Path
):
    result = pydistroless(
        "build", "--python", signed_release.version, "--python-from", "source",
        "--source-url", signed_release.tarball, "--source-signature", signed_release.signature,
        "--source-sha256", "0" * 64, "--no-python-optimizations", "--output", tmp_path / "x.tar",
    )  # fmt: skip
    assert_clean_failure(result, 4, "its signature verifies, but its SHA256", "--source-sha256")
    assert not (tmp_path / "x.tar").exists()
