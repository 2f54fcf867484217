"""What a careless user or a spoiled cache can do, through the CLI, against a local signed
repository of our own (fast, no network): outputs that are not ours to replace, hand-edited
locks, options that contradict a lock, malformed values, broken cache records, a full cache
disk, a CA file holding a private key. Each failure is the one-line contract of
``tests.fixtures.tools.assert_clean_failure``; each recovery is a build that still comes out right.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.fixtures import debs
from tests.fixtures.repo import Repo, fake_python_repo, repo_args
from tests.fixtures.tls import make_ca
from tests.fixtures.tools import assert_clean_failure, describe, files_under, pydistroless

EXIT_USAGE, EXIT_IMAGE_CHECK, EXIT_OUTPUT = 2, 8, 9
UNREACHABLE = ("--mirror", "http://127.0.0.1:9/debian", "--security-mirror", "http://127.0.0.1:9/x")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return fake_python_repo(tmp_path_factory.mktemp("careless") / "repo")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def build(repo: Repo, cache: Path, *args: str | Path, env: dict[str, str] | None = None):
    return pydistroless("build", *repo_args(repo), *args, cache_dir=cache, env=env)


def digest_of(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, describe(result)
    return result.stdout.strip()


def char_device(path: Path) -> Path:
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    return path


# ---- outputs that are not ours to replace -----------------------------------------------------


def test_a_device_as_output_is_refused_and_kept(repo, cache, tmp_path: Path):
    device = char_device(tmp_path / "mynull")
    result = build(repo, cache, "-o", device)
    assert_clean_failure(result, EXIT_OUTPUT, str(device), "character device")
    assert stat.S_ISCHR(device.lstat().st_mode)
    assert files_under(tmp_path) == ["mynull"]  # no SBOM beside it either


def test_dev_null_as_output_is_refused(repo, cache):
    result = build(repo, cache, "-o", "/dev/null")
    assert_clean_failure(result, EXIT_OUTPUT, "/dev/null", "character device")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_lock_output_that_is_a_device_or_fifo(repo, cache, tmp_path: Path):
    device = char_device(tmp_path / "lockdev")
    fifo = tmp_path / "lockfifo"
    os.mkfifo(fifo)
    for target, kind in ((device, "character device"), (fifo, "FIFO")):
        result = pydistroless("lock", *repo_args(repo), "-o", target, cache_dir=cache)
        assert_clean_failure(result, EXIT_OUTPUT, str(target), kind)
    assert stat.S_ISCHR(device.lstat().st_mode) and stat.S_ISFIFO(fifo.lstat().st_mode)
    assert files_under(tmp_path) == ["lockdev", "lockfifo"]


def test_an_sbom_path_that_is_a_fifo_stops_the_build_before_it_starts(repo, cache, tmp_path):
    fifo = tmp_path / "img.amd64.spdx.json"
    os.mkfifo(fifo)
    result = build(repo, cache, "-o", tmp_path / "img.tar", "--arch", "amd64")
    assert_clean_failure(result, EXIT_OUTPUT, str(fifo), "FIFO")
    assert files_under(tmp_path) == ["img.amd64.spdx.json"]


def test_a_symlink_as_output_is_written_through(repo, cache, tmp_path: Path):
    real = tmp_path / "real.tar"
    real.write_bytes(b"old")
    link = tmp_path / "link.tar"
    link.symlink_to("real.tar")
    digest_of(build(repo, cache, "-o", link))
    assert link.is_symlink() and os.readlink(link) == "real.tar"
    with tarfile.open(real) as tar:
        assert "index.json" in tar.getnames()
    sboms = [p for p in files_under(tmp_path) if p.endswith(".spdx.json")]
    assert sboms and all(p.startswith("link.") for p in sboms)


def test_a_symlink_lock_output_is_written_through(repo, cache, tmp_path: Path):
    real = tmp_path / "real.lock"
    real.write_text("old")
    link = tmp_path / "my.lock"
    link.symlink_to(real)
    result = pydistroless("lock", *repo_args(repo), "-o", link, cache_dir=cache)
    assert result.returncode == 0, describe(result)
    assert link.is_symlink()
    assert json.loads(real.read_text())["lock-version"] == 1


def test_a_stale_temporary_of_a_killed_writer_is_cleared(repo, cache, tmp_path: Path):
    stale = tmp_path / ".img.tar.0123456789ab.tmp"
    stale.write_bytes(b"\0" * 4096)
    digest_of(build(repo, cache, "-o", tmp_path / "img.tar"))
    assert not stale.exists()


# ---- locks --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lock_text(repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> str:
    cache = tmp_path_factory.mktemp("lock-cache")
    result = pydistroless("lock", *repo_args(repo), "-o", "-", cache_dir=cache)
    assert result.returncode == 0, describe(result)
    return result.stdout


def _edited(lock_text: str, tmp_path: Path, change) -> Path:
    data = json.loads(lock_text)
    change(data)
    path = tmp_path / "edited.lock"
    path.write_text(json.dumps(data))
    return path


def _no_interpreter(data):
    arch = data["archs"][0]
    arch["packages"] = [p for p in arch["packages"] if not p["name"].endswith("-minimal")]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d["archs"][0].update(packages=[]), "'packages' is empty"),
        (_no_interpreter, "no python3.99-minimal"),
        (lambda d: d.update(archs=[]), "'archs' is empty"),
        (lambda d: d["releases"][0].update(date="not a date"), "not an RFC 2822 date"),
    ],
    ids=["no-packages", "no-interpreter", "no-archs", "bad-date"],
)
def test_a_hand_edited_lock_is_refused(repo, cache, lock_text, tmp_path: Path, change, needle):
    lock = _edited(lock_text, tmp_path, change)
    out = tmp_path / "out"
    out.mkdir()
    result = build(repo, cache, "--lock", lock, "-o", out / "img.tar")
    assert_clean_failure(result, EXIT_USAGE, str(lock), needle)
    assert files_under(out) == []


def test_a_lock_that_is_not_utf8(repo, cache, tmp_path: Path):
    lock = tmp_path / "binary.lock"
    lock.write_bytes(b"\x89PNG\r\n\x1a\n")
    result = build(repo, cache, "--lock", lock, "-o", tmp_path / "img.tar")
    assert_clean_failure(result, EXIT_USAGE, str(lock), "not UTF-8")


def test_one_deb_under_two_names_is_fetched_once(repo, cache, lock_text, tmp_path: Path):
    def twin(data):
        packages = data["archs"][0]["packages"]
        packages.append(dict(packages[0], name=packages[0]["name"] + "-twin"))

    lock = _edited(lock_text, tmp_path, twin)
    digest_of(build(repo, cache, "--lock", lock, "-o", tmp_path / "img.tar"))


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        (("--suite", "bookworm"), "--suite bookworm contradicts the lock"),
        (("--python", "3.13"), "--python 3.13 contradicts the lock"),
        (("--arch", "arm64"), "--arch arm64 contradicts the lock"),
        (("--package", "libpq5"), "--package libpq5 cannot change a locked package set"),
        (("--variant", "debug"), "--variant debug contradicts the lock"),
    ],
    ids=["suite", "python", "arch", "package", "variant"],
)
def test_options_that_contradict_the_lock(repo, cache, lock_text, tmp_path, option, needle):
    lock = tmp_path / "my.lock"
    lock.write_text(lock_text)
    args = [a for a in repo_args(repo) if a not in ("--suite", repo.suite, "--python", "3.99")]
    result = pydistroless(
        "build", *args, "--lock", lock, *option, "-o", tmp_path / "img.tar", cache_dir=cache
    )
    assert_clean_failure(result, EXIT_USAGE, needle)
    assert not (tmp_path / "img.tar").exists()


def test_an_image_without_its_entrypoint_fails_the_image_check(tmp_path: Path, cache):
    headless = debs.simple_deb("python3.99-minimal", "3.99.1-1")  # no /usr/bin/python3.99
    repo = fake_python_repo(tmp_path / "repo", replace={"python3.99-minimal": headless})
    result = build(repo, cache, "-o", tmp_path / "img.tar")
    assert_clean_failure(result, EXIT_IMAGE_CHECK, "/usr/bin/python3.99", "python3.99-minimal")
    assert not (tmp_path / "img.tar").exists()


# ---- malformed values, reported before any download -----------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (("--package", "libpq5=>>1"), {}, "--package 'libpq5=>>1' is not NAME or NAME=VERSION"),
        (("--package", "x="), {}, "--package 'x=' is not NAME or NAME=VERSION"),
        ((), {"SOURCE_DATE_EPOCH": "99999999999999"}, "SOURCE_DATE_EPOCH=99999999999999 is not"),
        ((), {"SOURCE_DATE_EPOCH": "-5"}, "is not a whole number of seconds"),
    ],
    ids=["package-relation", "package-empty-version", "epoch-too-large", "epoch-negative"],
)
def test_malformed_values_are_usage_errors(tmp_path: Path, args, env, needle):
    # An unreachable mirror: an error found only after the downloads would be a network error.
    result = pydistroless(
        "build",
        *UNREACHABLE,
        *args,
        "-o",
        tmp_path / "img.tar",
        cache_dir=tmp_path / "cache",
        env=env,
    )
    assert_clean_failure(result, EXIT_USAGE, needle)
    assert not (tmp_path / "img.tar").exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'suite = "trixie"\n# caf\xe9\n', "is not UTF-8 text"),
        (b"[matrix]\nsuite = []\n", "matrix.suite is an empty list"),
        (b"source-date-epoch = -3\n", "source-date-epoch=-3 is not a whole number"),
        (b"source-date-epoch = 99999999999999\n", "source-date-epoch=99999999999999"),
    ],
    ids=["not-utf8", "empty-matrix", "negative-epoch", "epoch-too-large"],
)
def test_bad_config_is_reported_before_any_download(tmp_path: Path, content: bytes, needle):
    (tmp_path / "pydistroless.toml").write_bytes(content)
    result = pydistroless(
        "build",
        *UNREACHABLE,
        "-o",
        tmp_path / "img.tar",
        cwd=tmp_path,
        cache_dir=tmp_path / "cache",
    )
    assert_clean_failure(result, EXIT_USAGE, needle)
    assert sorted(files_under(tmp_path)) == ["pydistroless.toml"]


# ---- the cache ------------------------------------------------------------------------------


def _records(cache: Path, kind: str) -> list[Path]:
    return sorted(p for p in (cache / "records" / kind).iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("spoil", ["empty", "truncated", "diff-id-digit"])
def test_a_spoiled_image_record_is_rebuilt(repo, cache, tmp_path: Path, spoil: str):
    first = digest_of(build(repo, cache, "-o", tmp_path / "a.tar"))
    (record,) = _records(cache, "images")
    raw = record.read_text()
    if spoil == "empty":
        record.write_text("")
    elif spoil == "truncated":
        record.write_text(raw[: len(raw) // 2])
    else:
        envelope = json.loads(raw)
        diff_id = envelope["body"]["layers"][0]["diff_id"]
        last = diff_id[-1]
        changed = diff_id[:-1] + ("0" if last != "0" else "1")
        envelope["body"]["layers"][0]["diff_id"] = changed
        record.write_text(json.dumps(envelope))
    second = build(repo, cache, "-o", tmp_path / "b.tar")
    assert digest_of(second) == first
    assert "Traceback" not in second.stderr
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_a_spoiled_resolution_record_is_resolved_again(repo, cache, tmp_path: Path):
    first = digest_of(build(repo, cache, "-o", tmp_path / "a.tar"))
    (record,) = _records(cache, "resolutions")
    envelope = json.loads(record.read_text())
    package = envelope["body"]["packages"][0]
    package["sha256"] = ("0" if package["sha256"][0] != "0" else "1") + package["sha256"][1:]
    record.write_text(json.dumps(envelope))
    for image in _records(cache, "images"):
        image.unlink()  # so the resolution is used for downloads again
    second = build(repo, cache, "-o", tmp_path / "b.tar")
    assert digest_of(second) == first


@pytest.fixture
def small_disk(tmp_path: Path):
    """A tmpfs whose inode count can be capped, so the cache on it can be filled up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=10000", "tmpfs", mount], check=True
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", mount], check=False)


def test_a_full_cache_disk_still_gives_the_image(repo, small_disk: Path, tmp_path: Path):
    cache = small_disk / "cache"
    first = digest_of(build(repo, cache, "-o", tmp_path / "a.tar"))
    for record in _records(cache, "images"):
        record.unlink()
    used = int(
        subprocess.run(
            ["df", "--output=iused", small_disk], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
    )
    subprocess.run(["mount", "-o", f"remount,nr_inodes={used}", small_disk], check=True)
    result = build(repo, cache, "-o", tmp_path / "b.tar")
    assert digest_of(result) == first
    assert "could not store into the cache" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "b.tar").read_bytes() == (tmp_path / "a.tar").read_bytes()


# ---- --ca-cert ------------------------------------------------------------------------------


def test_a_ca_file_with_a_private_key_gives_only_the_certificate(repo, cache, tmp_path: Path):
    ca = make_ca(tmp_path / "ca", "corp")
    mixed = tmp_path / "corp.pem"
    mixed.write_bytes(ca.cert.read_bytes() + ca.key.read_bytes())
    result = build(repo, cache, "--ca-cert", mixed, "-o", tmp_path / "img.tar")
    digest_of(result)
    assert "left out PRIVATE KEY" in result.stderr
    with tarfile.open(tmp_path / "img.tar") as outer:
        blobs = [m for m in outer.getmembers() if m.name.startswith("blobs/") and m.isfile()]
        found = b""
        for member in blobs:
            data = outer.extractfile(member).read()
            if data[:2] == b"\x1f\x8b":
                with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as layer:
                    for entry in layer.getmembers():
                        if entry.name.endswith("ca-certificates.crt") and entry.isfile():
                            found = layer.extractfile(entry).read()
    assert b"BEGIN CERTIFICATE" in found
    assert b"PRIVATE KEY" not in found


def test_ca_cert_dev_zero_is_refused_quickly(repo, cache, tmp_path: Path):
    result = build(repo, cache, "--ca-cert", "/dev/zero", "-o", tmp_path / "img.tar")
    assert_clean_failure(result, EXIT_USAGE, "/dev/zero", "larger than")
    assert not (tmp_path / "img.tar").exists()


def test_offline_knows_a_suite_the_mirror_lacks(repo, cache, tmp_path: Path):
    """The repository has no -updates or -security suite: an online build remembers that,
    so the same build offline is the same image, not a complaint about the cache."""
    first = digest_of(build(repo, cache, "-o", tmp_path / "a.tar"))
    again = build(repo, cache, "-o", tmp_path / "b.tar", "--offline")
    assert digest_of(again) == first
