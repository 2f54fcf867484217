"""Mirrors that drip, stall, send too much or want a login, through the CLI.

Each runs against a local HTTP server on 127.0.0.1 (:mod:`tests.fixtures.hostile`) serving a
signed repository of our own, or forwarding to the real Debian mirror for the login case. The
failure contract is the one of ``test_errors.py``: one ``pydistroless: error:`` line, the
documented exit code, nothing on stdout, nothing half-written. ``PYDISTROLESS_DEADLINE_SCALE``
shrinks the download deadlines so a slow mirror fails in seconds.
"""

from __future__ import annotations

import base64
import gzip
import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import zstandard

from pydistroless.core.cache import sha256_hex
from tests.fixtures.hostile import (
    LocalMirror,
    Reply,
    drip,
    endless,
    longer,
    stall,
    wait_for,
)
from tests.fixtures.repo import Repo, fake_python_repo
from tests.fixtures.tools import (
    assert_clean_failure,
    debian_mirrors,
    describe,
    files_under,
    need_network,
    pydistroless,
    seeded_cache,
)

EXIT_NETWORK, EXIT_INTEGRITY, EXIT_INTERRUPTED = 3, 4, 130
# Deadlines of 5 % of the real ones: 3 s for InRelease, 1.5 s plus 0.5 s per MB for the rest.
QUICK = {"PYDISTROLESS_DEADLINE_SCALE": "0.05"}
SECRET = "s3cr3t"
SECRETS = (SECRET, base64.b64encode(f"alice:{SECRET}".encode()).decode())
INTERPRETER_DEB = "/python3.99-minimal_"


def temporaries(directory: Path) -> list[str]:
    return [p for p in files_under(directory) if Path(p).name.startswith(".")]


def on(fragment: str, reply: Reply):
    return lambda path: reply if fragment in path else None


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return fake_python_repo(tmp_path / "repo")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "out"
    directory.mkdir()
    return directory


def http_args(repo: Repo, mirror: LocalMirror | str) -> list[str]:
    """CLI arguments that make pydistroless use ``repo`` alone, through ``mirror``."""
    url = mirror if isinstance(mirror, str) else mirror.url()
    return [
        "--mirror",
        url,
        "--security-mirror",
        url,
        "--keyring",
        str(repo.keyring),
        "--suite",
        repo.suite,
        "--python",
        "3.99",
    ]


# ---- time -------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["/InRelease", INTERPRETER_DEB])
def test_a_dripping_mirror_fails_within_its_deadline(repo, out, tmp_path, where):
    with LocalMirror(repo.root, misbehave=on(where, drip(1.0))) as mirror:
        started = time.monotonic()
        result = pydistroless(
            "lock",
            *http_args(repo, mirror),
            "-o",
            out / "x.lock",
            cache_dir=tmp_path / "cache",
            env=QUICK,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    line = assert_clean_failure(result, EXIT_NETWORK, "too slow", mirror.url())
    assert where in line
    assert elapsed < 15, (elapsed, line)  # a 3 s deadline, and the start-up
    assert files_under(out) == []
    assert temporaries(tmp_path / "cache") == []


# ---- size -------------------------------------------------------------------------------------


# Runs the CLI and, as it exits, writes its peak resident memory (VmHWM, in kB) to a file.
# Measured from inside: ru_maxrss of a child also counts the parent's memory it was forked
# with before exec, which in a long test session is far more than the CLI ever uses.
_MEASURED = """
import atexit, runpy, sys
def report(path=sys.argv.pop(1)):
    with open("/proc/self/status") as status, open(path, "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(report)
sys.argv[0] = "pydistroless"
runpy.run_module("pydistroless.cli.main", run_name="__main__")
"""


def run_measured(*args: str | Path, cache_dir: Path) -> tuple[subprocess.CompletedProcess, int]:
    """Run the CLI; its result and its own peak resident memory in MiB."""
    env = {**os.environ, "PYDISTROLESS_CACHE_DIR": str(cache_dir)}
    peak = cache_dir.parent / "peak-kb"
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED, str(peak), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    return result, int(peak.read_text()) // 1024


@pytest.mark.parametrize("announce", [True, False], ids=["announced", "unannounced"])
def test_an_oversized_inrelease_is_refused_with_little_memory(repo, tmp_path, announce):
    body = endless(300 * 1024 * 1024, announce=announce)
    with LocalMirror(repo.root, misbehave=on("/InRelease", body)) as mirror:
        result, peak_mib = run_measured(
            "lock", *http_args(repo, mirror), "-o", "-", cache_dir=tmp_path / "cache"
        )
    assert_clean_failure(result, EXIT_INTEGRITY, "InRelease", "MiB")
    assert mirror.sent < 64 * 1024 * 1024  # it stopped reading at the cap
    assert peak_mib < 120, f"peak RSS {peak_mib} MiB for a refused 300 MB body"


@pytest.mark.parametrize("announce", [True, False], ids=["announced", "unannounced"])
def test_a_package_longer_than_its_signed_size_is_refused(repo, out, tmp_path, announce):
    cache = tmp_path / "cache"
    reply = longer(100_000, announce=announce)
    with LocalMirror(repo.root, misbehave=on(INTERPRETER_DEB, reply)) as mirror:
        result = pydistroless(
            "build", *http_args(repo, mirror), "--output", out / "img.tar", cache_dir=cache
        )
    assert_clean_failure(result, EXIT_INTEGRITY, "python3.99-minimal", "signed size")
    assert files_under(out) == []
    assert temporaries(cache) == []
    for blob in (cache / "blobs" / "sha256").iterdir():
        assert sha256_hex(blob.read_bytes()) == blob.name, blob


# ---- Ctrl-C -----------------------------------------------------------------------------------


def test_ctrl_c_during_a_stalled_download_stops_at_once_leaving_nothing(repo, out, tmp_path):
    cache = tmp_path / "cache"
    deb = next(repo.root.glob(f"pool/**/{INTERPRETER_DEB.lstrip('/')}*.deb"))
    with LocalMirror(repo.root, misbehave=on(INTERPRETER_DEB, stall(deb.stat().st_size // 2))) as m:
        env = {**os.environ, "PYDISTROLESS_CACHE_DIR": str(cache)}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pydistroless.cli.main",
                "build",
                *http_args(repo, m),
                "--output",
                str(out / "img.tar"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            # as from a terminal: a test run started in the background inherits an ignored
            # SIGINT, which the CLI rightly leaves alone
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            wait_for(m.reached, "the stalled download")
            deadline = time.monotonic() + 10
            while not temporaries(cache) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert temporaries(cache), "the partial download should be in a temporary file"
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=10)
            elapsed = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    report = f"exit {proc.returncode} after {elapsed:.1f} s\n{stderr}"
    assert proc.returncode == EXIT_INTERRUPTED, report
    assert elapsed < 2, report
    assert stderr.rstrip("\n").splitlines()[-1] == "pydistroless: interrupted", report
    assert "Traceback" not in stderr and stdout == "", report
    assert temporaries(cache) == [], report
    assert files_under(out) == [], report


# ---- logins -----------------------------------------------------------------------------------


def with_login(url: str, password: str = SECRET) -> str:
    return url.replace("http://", f"http://alice:{password}@", 1)


def assert_no_secret(text: str | bytes, where: str) -> None:
    for secret in SECRETS:
        needle = secret.encode() if isinstance(text, bytes) else secret
        assert needle not in text, f"{secret!r} in {where}"


def image_blobs(tar_path: Path) -> dict[str, bytes]:
    """Every member of the image tar, layers decompressed."""
    blobs = {}
    with tarfile.open(tar_path) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            elif data[:4] == b"\x28\xb5\x2f\xfd":
                data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
            blobs[member.name] = data
    return blobs


@pytest.mark.network
def test_a_login_in_the_mirror_url_is_sent_and_written_nowhere(out, tmp_path):
    need_network()
    mirrors = debian_mirrors()
    cache = seeded_cache(tmp_path / "cache")
    upstream = {"main": mirrors.main[0], "security": mirrors.security[0]}
    with LocalMirror(upstream=upstream, login=("alice", SECRET)) as mirror:
        args = [
            "--mirror",
            with_login(mirror.url("main")),
            "--security-mirror",
            with_login(mirror.url("security")),
        ]
        built = pydistroless("build", *args, "--output", out / "img.tar", cache_dir=cache)
        locked = pydistroless("lock", *args, "-o", out / "img.lock", cache_dir=cache)
    assert built.returncode == 0, describe(built)
    assert locked.returncode == 0, describe(locked)
    assert mirror.requests and mirror.refused == 0, mirror.requests
    assert set(mirror.authorizations) == {"Basic " + SECRETS[1]}
    for result in (built, locked):
        assert_no_secret(result.stdout + result.stderr, "the output")
    lock = (out / "img.lock").read_text()
    assert mirror.url("main") in lock  # the mirror is named, without its login
    assert_no_secret(lock, "the lock")
    sboms = [p for p in out.iterdir() if p.name.endswith(".json")]
    assert sboms, files_under(out)
    for sbom in sboms:
        assert_no_secret(sbom.read_bytes(), sbom.name)
    blobs = image_blobs(out / "img.tar")
    # The SBOM inside the image names the mirror (the download URLs), without its login.
    assert any(
        b"usr/share/sbom/" in data and mirror.url("main").encode() in data
        for data in blobs.values()
    )
    for name, data in blobs.items():
        assert_no_secret(data, f"image member {name}")


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_a_refused_login_is_reported_without_the_secret(repo, out, tmp_path, debug):
    with LocalMirror(repo.root, login=("alice", "the-right-one")) as mirror:
        result = pydistroless(
            *(["--debug"] if debug else []),
            "lock",
            *http_args(repo, with_login(mirror.url())),
            "-o",
            out / "x.lock",
            cache_dir=tmp_path / "cache",
        )
    assert mirror.refused and set(mirror.authorizations) == {"Basic " + SECRETS[1]}
    assert_no_secret(result.stdout + result.stderr, "the output")
    if debug:
        assert result.returncode != 0 and "401" in result.stderr, describe(result)
    else:
        assert_clean_failure(result, EXIT_NETWORK, "HTTP 401", "login was refused")
    assert files_under(out) == []
