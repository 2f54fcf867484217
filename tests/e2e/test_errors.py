"""Bad inputs and hostile mirrors: one clear line, the right exit code, nothing half-written.

Each case checks the whole contract of a failure: a single ``pydistroless: error: ...`` line
(the last one on stderr) naming the problem, no traceback, the documented exit code, nothing
on stdout, no output file, and a cache that still works for the next normal command.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from pydistroless.core.cache import sha256_hex
from tests.fixtures import debs
from tests.fixtures.debs import DebSpec, directory, file, symlink
from tests.fixtures.proxy import MirrorProxy
from tests.fixtures.repo import fake_python_repo, repo_args
from tests.fixtures.tools import (
    assert_clean_failure,
    debian_mirrors,
    describe,
    files_under,
    need_network,
    pydistroless,
    seeded_cache,
)

EXIT_USAGE, EXIT_NETWORK, EXIT_INTEGRITY, EXIT_OFFLINE = 2, 3, 4, 5
EXIT_RESOLVE, EXIT_PACKAGE, EXIT_OUTPUT = 6, 7, 9


def assert_lock_works(cache_dir: Path | None = None, *args: str) -> dict:
    """A following normal command succeeds with the same cache."""
    result = pydistroless("lock", "-o", "-", *args, cache_dir=cache_dir)
    assert result.returncode == 0, describe(result)
    lock = json.loads(result.stdout)
    assert lock["archs"][0]["packages"], lock
    return lock


def cache_blobs_are_sound(cache_dir: Path) -> None:
    """Every blob in the cache is what its name says (nothing tampered was kept)."""
    for blob in (cache_dir / "blobs" / "sha256").iterdir():
        if not blob.name.startswith("."):
            assert sha256_hex(blob.read_bytes()) == blob.name, blob


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "out"
    directory.mkdir()
    return directory


# ---- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["build"], ["lock"]], ids=["main", "build", "lock"])
def test_help_shows_examples(command):
    result = pydistroless(*command, "--help")
    assert result.returncode == 0, describe(result)
    assert "Examples:" in result.stdout
    assert "pydistroless build" in result.stdout


def test_main_help_lists_exit_codes():
    result = pydistroless("--help")
    assert "Exit codes:" in result.stdout and "9 output failed" in result.stdout


# ---- the request is wrong --------------------------------------------------------------------


@pytest.mark.network
def test_unknown_suite(out: Path):
    need_network()
    result = pydistroless("build", "--suite", "nosuchsuite", "--output", out / "img.tar")
    assert_clean_failure(result, EXIT_USAGE, "'nosuchsuite'", "does not exist")
    assert files_under(out) == []
    assert_lock_works()


@pytest.mark.network
def test_unknown_python(out: Path):
    need_network()
    result = pydistroless("build", "--python", "3.7", "--output", out / "img.tar")
    line = assert_clean_failure(result, EXIT_USAGE, "Python 3.7")
    assert "3.13" in line  # names the versions there are
    assert files_under(out) == []
    assert_lock_works()


def test_malformed_python_version(out: Path):
    result = pydistroless("build", "--python", "three", "--output", out / "img.tar")
    assert_clean_failure(result, EXIT_USAGE, "'three'", "MAJOR.MINOR")
    assert files_under(out) == []


@pytest.mark.network
def test_unknown_package(out: Path):
    need_network()
    result = pydistroless("build", "--package", "no-such-package-xyz", "--output", out / "img.tar")
    assert_clean_failure(result, EXIT_RESOLVE, "no-such-package-xyz")
    assert files_under(out) == []
    assert_lock_works()


@pytest.mark.parametrize("text", ["not json", "[]", '{"lock-version": 1}'])
def test_bad_lock_file(out: Path, tmp_path: Path, text: str):
    lock = tmp_path / "bad.lock"
    lock.write_text(text)
    result = pydistroless(
        "build",
        "--lock",
        lock,
        "--output",
        out / "img.tar",
        "--offline",
        "--cache-dir",
        tmp_path / "cache",
    )
    assert_clean_failure(result, EXIT_USAGE, str(lock))
    assert files_under(out) == []


# ---- the mirror is unreachable or lies -------------------------------------------------------


@pytest.mark.network
def test_unreachable_mirror(out: Path, tmp_path: Path):
    cache = seeded_cache(tmp_path / "cache")
    result = pydistroless(
        "build",
        "--mirror",
        "http://127.0.0.1:9/debian",
        "--output",
        out / "img.tar",
        cache_dir=cache,
    )
    assert_clean_failure(result, EXIT_NETWORK, "127.0.0.1:9", "connection refused")
    assert files_under(out) == []
    need_network()
    assert_lock_works(cache)


def flip_inside_signed_text(path: str, body: bytes) -> bytes:
    """Change one checksum digit of the main suite's InRelease, inside the signed text."""
    if not path.endswith("/dists/trixie/InRelease"):
        return body
    at = body.index(b"\nSHA256:\n ") + len(b"\nSHA256:\n ")
    flipped = b"1" if body[at : at + 1] != b"1" else b"2"
    return body[:at] + flipped + body[at + 1 :]


def build_through_proxy(tamper, output: Path, cache: Path):
    """``pydistroless build`` from the machine's mirrors through a proxy that passes each
    response through ``tamper``; the result, and the proxy for what it saw."""
    mirrors = debian_mirrors()
    upstream = {"main": mirrors.main[0], "security": mirrors.security[0]}
    with MirrorProxy(upstream, tamper) as proxy:
        result = pydistroless(
            "build", "--mirror", proxy.url("main"), "--security-mirror", proxy.url("security"),
            "--output", output, cache_dir=cache,
        )  # fmt: skip
    return result, proxy


@pytest.mark.network
def test_bad_signature_on_inrelease(out: Path, tmp_path: Path):
    need_network()
    cache = seeded_cache(tmp_path / "cache")
    result, proxy = build_through_proxy(flip_inside_signed_text, out / "img.tar", cache)
    assert proxy.tampered == ["/main/dists/trixie/InRelease"], proxy.requests
    assert_clean_failure(result, EXIT_INTEGRITY, "InRelease", "signature")
    assert files_under(out) == []
    # nothing unverified was recorded (the other suites, verified in parallel, may be)
    recorded = [p for p in files_under(cache / "records") if p.startswith("inrelease/")]
    assert not [p for p in recorded if p.endswith("/trixie")], recorded
    assert_lock_works(cache)


@pytest.mark.network
def test_checksum_mismatch_of_a_package(out: Path, tmp_path: Path):
    need_network()
    lock = assert_lock_works()
    [base_files] = [p for p in lock["archs"][0]["packages"] if p["name"] == "base-files"]
    # A private cache without base-files, so that it must come through the proxy.
    cache = seeded_cache(tmp_path / "cache", without={base_files["sha256"]})
    tampered: dict[str, bytes] = {}

    def tamper(path: str, body: bytes) -> bytes:
        if "/base-files_" not in path or not path.endswith(".deb"):
            return body
        middle = len(body) // 2
        tampered[path] = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]
        return tampered[path]

    result, proxy = build_through_proxy(tamper, out / "img.tar", cache)
    assert proxy.tampered, proxy.requests
    assert_clean_failure(result, EXIT_INTEGRITY, "base-files", "SHA256")
    assert files_under(out) == []
    # The bad bytes are nowhere in the cache; what is there is sound.
    bad = {hashlib.sha256(b).hexdigest() for b in tampered.values()}
    blobs = {p.name for p in (cache / "blobs" / "sha256").iterdir()}
    assert not bad & blobs
    assert base_files["sha256"] not in blobs
    cache_blobs_are_sound(cache)
    # The next normal build with this cache fetches base-files afresh and succeeds.
    again = pydistroless("build", "--output", out / "img.tar", cache_dir=cache, cwd=out)
    assert again.returncode == 0, describe(again)
    assert (out / "img.tar").is_file()
    assert (cache / "blobs" / "sha256" / base_files["sha256"]).is_file()


# ---- hostile or broken packages, from a signed repository of our own -------------------------

HOSTILE = {
    "dotdot": (file("./../../etc/evil", "owned\n"),),
    "absolute": (file("/etc/evil", "owned\n"),),
    "symlink-escape": (
        directory("./usr/"),
        directory("./usr/lib/"),
        symlink("./usr/lib/evil", "../../../etc"),
    ),
}


def hostile_deb(kind: str) -> bytes:
    name = "python3.99-minimal"
    if kind == "truncated":
        good = debs.simple_deb(name, "3.99.1-1", files={"./usr/bin/python3.99": b"x" * 20000})
        return good[: len(good) * 6 // 10]
    return debs.build_deb(DebSpec(name, "3.99.1-1", members=(directory("./"), *HOSTILE[kind])))


def test_fake_python_repository_builds(out: Path, tmp_path: Path):
    """The control for the hostile cases below: the same repository with sound packages."""
    repo = fake_python_repo(tmp_path / "repo")
    result = pydistroless(
        "build", *repo_args(repo), "--output", out / "img.tar", cache_dir=tmp_path / "cache"
    )
    assert result.returncode == 0, describe(result)
    assert (out / "img.tar").is_file()


@pytest.mark.parametrize("kind", [*HOSTILE, "truncated"])
def test_hostile_or_truncated_package(out: Path, tmp_path: Path, kind: str):
    cache = tmp_path / "cache"
    bad = hostile_deb(kind)
    repo = fake_python_repo(tmp_path / "repo", replace={"python3.99-minimal": bad})
    result = pydistroless("build", *repo_args(repo), "--output", out / "img.tar", cache_dir=cache)
    line = assert_clean_failure(result, EXIT_PACKAGE, "python3.99-minimal")
    if kind != "truncated":
        assert re.search(r"outside|\.\.|absolute", line), line
    assert files_under(out) == []
    assert not (Path("/etc/evil")).exists()
    if kind in ("dotdot", "absolute", "truncated"):
        # unreadable bytes are dropped from the cache, so the next run fetches them afresh
        assert not (cache / "blobs" / "sha256" / sha256_hex(bad)).exists()
    cache_blobs_are_sound(cache)
    # The archive fixes the package: the same cache builds.
    fixed = fake_python_repo(tmp_path / "fixed", key=repo.key)
    result = pydistroless("build", *repo_args(fixed), "--output", out / "img.tar", cache_dir=cache)
    assert result.returncode == 0, describe(result)


# ---- where the image goes ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_repo(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("fake-repo")
    return fake_python_repo(root / "repo"), root / "cache"


@pytest.mark.parametrize("where", ["proc", "parent-is-a-file"])
def test_output_not_writable(fake_repo, tmp_path: Path, where: str):
    repo, cache = fake_repo
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me\n")
    output = Path("/proc/nope.tar") if where == "proc" else blocker / "img.tar"
    result = pydistroless("build", *repo_args(repo), "--output", output, cache_dir=cache)
    assert_clean_failure(result, EXIT_OUTPUT, str(output))
    assert blocker.read_text() == "keep me\n"
    assert files_under(tmp_path) == ["a-file"]
    assert not Path("/proc/nope.tar").exists()


def test_oci_layout_not_writable(fake_repo, tmp_path: Path):
    repo, cache = fake_repo
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me\n")
    result = pydistroless(
        "build", *repo_args(repo), "--oci-layout", blocker / "layout", cache_dir=cache
    )
    assert_clean_failure(result, EXIT_OUTPUT, "layout")
    assert files_under(tmp_path) == ["a-file"]


def test_ca_cert_that_is_not_pem(fake_repo, tmp_path: Path):
    repo, cache = fake_repo
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    output = tmp_path / "img.tar"
    result = pydistroless(
        "build", *repo_args(repo), "--ca-cert", bogus, "--output", output, cache_dir=cache
    )
    assert_clean_failure(result, EXIT_USAGE, str(bogus), "PEM")
    assert files_under(tmp_path) == ["bogus.pem"]


def test_lock_output_not_writable(fake_repo, tmp_path: Path):
    repo, cache = fake_repo
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me\n")
    result = pydistroless("lock", *repo_args(repo), "-o", blocker / "x.lock", cache_dir=cache)
    assert_clean_failure(result, EXIT_OUTPUT, "x.lock")
    assert files_under(tmp_path) == ["a-file"]


# ---- offline ---------------------------------------------------------------------------------


def test_offline_with_an_empty_cache(out: Path, tmp_path: Path):
    empty = tmp_path / "empty-cache"
    result = pydistroless(
        "build",
        "--offline",
        "--cache-dir",
        empty,
        "--output",
        out / "img.tar",
        "--mirror",
        "http://127.0.0.1:9/debian",
    )
    assert_clean_failure(result, EXIT_OFFLINE, "offline", "InRelease", "trixie")
    assert files_under(out) == []


@pytest.mark.network
def test_offline_with_a_warm_cache():
    need_network()
    online = assert_lock_works()
    offline = assert_lock_works(None, "--offline")
    assert [p["sha256"] for p in offline["archs"][0]["packages"]] == [
        p["sha256"] for p in online["archs"][0]["packages"]
    ]
