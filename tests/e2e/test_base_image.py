"""The default image, built by the CLI from the real Debian archive, in real engines.

One module-scoped build (trixie, with an extra CA) is loaded into docker once and checked
from every side: what Python says, the runtime config, the standard library as the nonroot
user, TLS with the extra CA, no shell, a read-only root, podman, skopeo and umoci. A bookworm
build and ``--load`` are checked on their own.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pydistroless.core.arch import host_arch
from pydistroless.python.debian_python import upstream_version
from tests.fixtures import tls
from tests.fixtures.tools import describe, need_command, need_network, pydistroless, run

if TYPE_CHECKING:
    from conftest import Engine

pytestmark = [pytest.mark.network, pytest.mark.docker]

TAG = "pydistroless-test/python:e2e"
BOOKWORM_TAG = "pydistroless-test/python:e2e-bookworm"
LOAD_TAG = "pydistroless-test/python:e2e-load"
NONROOT = 65532

OCI_ARCH = {
    "amd64": "amd64",
    "arm64": "arm64",
    "armhf": "arm",
    "i386": "386",
    "ppc64el": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}

# Every check prints "OK <name>" or "FAIL <name>: <why>", so one failure does not hide others.
STDLIB_CHECK = r"""
import os, sys, traceback

def check(name, func):
    try:
        detail = func()
    except BaseException as exc:
        print(f"FAIL {name}: {type(exc).__name__}: {exc}")
        traceback.print_exc()
    else:
        print(f"OK {name}" + (f" {detail}" if detail is not None else ""))

def t_ssl():
    import ssl
    ctx = ssl.create_default_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] > 50, ctx.cert_store_stats()
    return ssl.OPENSSL_VERSION

def t_sqlite3():
    import sqlite3
    con = sqlite3.connect(":memory:")
    con.execute("create table t (x integer)")
    con.executemany("insert into t values (?)", [(20,), (22,)])
    assert con.execute("select sum(x) from t").fetchone() == (42,)
    return sqlite3.sqlite_version

def t_ctypes():
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    assert libc.abs(-7) == 7
    assert ctypes.sizeof(ctypes.c_void_p) == 8 or ctypes.sizeof(ctypes.c_void_p) == 4

def t_bz2():
    import bz2
    data = b"pydistroless " * 1000
    assert bz2.decompress(bz2.compress(data)) == data

def t_lzma():
    import lzma
    data = b"pydistroless " * 1000
    assert lzma.decompress(lzma.compress(data)) == data

def t_zlib():
    import gzip, zlib
    data = b"pydistroless " * 1000
    assert zlib.decompress(zlib.compress(data)) == data
    assert gzip.decompress(gzip.compress(data)) == data

def t_zoneinfo():
    from datetime import datetime
    from zoneinfo import ZoneInfo
    summer = datetime(2025, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris")).utcoffset()
    winter = datetime(2025, 1, 1, 12, tzinfo=ZoneInfo("Europe/Paris")).utcoffset()
    assert summer.total_seconds() == 7200 and winter.total_seconds() == 3600, (summer, winter)
    return summer

def t_uuid():
    import uuid
    one, four = uuid.uuid1(), uuid.uuid4()
    assert one.version == 1 and four.version == 4 and one != four

def t_decimal():
    import _decimal, decimal
    assert decimal.Decimal("0.1") + decimal.Decimal("0.2") == decimal.Decimal("0.3")
    return decimal.__libmpdec_version__

def t_hashlib():
    import hashlib
    assert hashlib.sha256(b"abc").hexdigest() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert hashlib.md5(b"abc").hexdigest() == "900150983cd24fb0d6963f7d28e17f72"
    assert len(hashlib.blake2b(b"abc").hexdigest()) == 128

def t_json():
    import _json, json
    assert json.loads(json.dumps({"a": [1, 2.5, None, "é"]})) == {"a": [1, 2.5, None, "é"]}

def t_asyncio():
    import asyncio
    async def answer():
        await asyncio.sleep(0)
        return 42
    assert asyncio.run(answer()) == 42

for name, func in list(globals().items()):
    if name.startswith("t_"):
        check(name[2:], func)
print("UID", os.getuid(), "HOME", os.path.expanduser("~"), "CWD", os.getcwd())
print("SH", any(os.path.lexists(p) for p in ("/bin/sh", "/usr/bin/sh", "/bin/bash", "/bin/dash")))
print("FS", sys.getfilesystemencoding(), sys.stdout.encoding)
"""
STDLIB_MODULES = {
    "ssl",
    "sqlite3",
    "ctypes",
    "bz2",
    "lzma",
    "zlib",
    "zoneinfo",
    "uuid",
    "decimal",
    "hashlib",
    "json",
    "asyncio",
}

HTTPS_CHECK = r"""
import sys, urllib.error, urllib.request
trusted, rogue = sys.argv[1:3]
with urllib.request.urlopen(trusted, timeout=60) as response:
    print("TRUSTED", response.status, response.read().decode().strip())
try:
    urllib.request.urlopen(rogue, timeout=60)
except urllib.error.URLError as exc:
    print("ROGUE refused", type(exc.reason).__name__, getattr(exc.reason, "verify_message", ""))
else:
    print("ROGUE accepted")
"""


@dataclass(frozen=True)
class TlsSetup:
    ca: tls.CertKey  # given to the build with --ca-cert
    trusted_leaf: tls.CertKey
    rogue_leaf: tls.CertKey  # signed by a CA the image does not know


@dataclass(frozen=True)
class Built:
    directory: Path
    tar: Path
    layout: Path
    digest: str
    stderr: str

    def ref_names(self) -> list[str]:
        return [m["annotations"]["org.opencontainers.image.ref.name"] for m in self._manifests()]

    def ref_for(self, tag: str) -> str:
        """The ref name the layout's index gives the image tagged ``tag`` (what umoci and
        skopeo take after ``layout:``)."""
        for manifest in self._manifests():
            annotations = manifest.get("annotations", {})
            full = annotations.get("io.containerd.image.name", "")
            if full == tag or full.endswith(f"/{tag}"):
                return annotations["org.opencontainers.image.ref.name"]
        pytest.fail(f"no manifest for {tag} in {self.layout}/index.json", pytrace=False)

    def _manifests(self) -> list[dict]:
        return json.loads((self.layout / "index.json").read_text())["manifests"]


def build(out: Path, *args: str | Path) -> Built:
    """Run ``pydistroless build`` into ``out`` and demand success."""
    need_network()
    out.mkdir(parents=True, exist_ok=True)
    tar, layout = out / "img.tar", out / "layout"
    result = pydistroless("build", "--output", tar, "--oci-layout", layout, *args, cwd=out)
    assert result.returncode == 0, describe(result)
    digest = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), result.stdout
    return Built(out, tar, layout, digest, result.stderr)


def docker_load(docker: Engine, tar: Path) -> list[str]:
    loaded = docker("load", "-i", str(tar)).stdout
    return re.findall(r"Loaded image: (\S+)", loaded)


@pytest.fixture(scope="module")
def tls_setup(tmp_path_factory: pytest.TempPathFactory) -> TlsSetup:
    need_command("openssl")
    directory = tmp_path_factory.mktemp("tls")
    ca = tls.make_ca(directory, "test-ca")
    rogue_ca = tls.make_ca(directory, "rogue-ca")
    return TlsSetup(
        ca=ca,
        trusted_leaf=tls.make_server_cert(ca, directory, "trusted"),
        rogue_leaf=tls.make_server_cert(rogue_ca, directory, "rogue"),
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tls_setup: TlsSetup) -> Built:
    out = tmp_path_factory.mktemp("base")
    ca_pem = out / "test-ca.pem"
    shutil.copyfile(tls_setup.ca.cert, ca_pem)
    return build(out, "--ca-cert", ca_pem, "--tag", TAG)


@pytest.fixture(scope="module")
def image(built: Built, docker_engine: Engine) -> Iterator[str]:
    loaded = docker_load(docker_engine, built.tar)
    assert TAG in loaded
    yield TAG
    docker_engine.remove_images(*loaded)


@pytest.fixture(scope="module")
def inspected(image: str, docker_engine: Engine) -> dict:
    return json.loads(docker_engine("image", "inspect", image).stdout)[0]


# ---- what docker sees ------------------------------------------------------------------------


def test_python_version_matches_the_debian_package(
    image: str, inspected: dict, docker_engine: Engine
):
    labels = inspected["Config"]["Labels"]
    version = labels["dev.pydistroless.python.version"]
    assert re.fullmatch(r"3\.13\.\d+", version), labels
    assert upstream_version(labels["dev.pydistroless.python.debian-version"]) == version
    printed = docker_engine.run(image, "--version").stdout.strip()
    assert printed == f"Python {version}"


def test_runtime_config(inspected: dict, built: Built):
    config = inspected["Config"]
    assert config["User"] == str(NONROOT)
    assert config["WorkingDir"] == "/home/nonroot"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["LANG"] == "C.UTF-8"
    assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert config["Entrypoint"] == ["/usr/bin/python3.13"]
    assert inspected["Architecture"] == OCI_ARCH.get(host_arch(), host_arch())
    assert inspected["Os"] == "linux"
    assert config["Labels"]["dev.pydistroless.debian.suite"] == "trixie"
    # docker names an image by its config digest; the build printed the manifest's.
    assert inspected["Id"].startswith("sha256:") and built.digest.startswith("sha256:")


def test_standard_library_works_as_nonroot(image: str, docker_engine: Engine):
    result = docker_engine.run(image, "-c", STDLIB_CHECK, check=False)
    lines = result.stdout.splitlines()
    ok = {line.split()[1] for line in lines if line.startswith("OK ")}
    failed = [line for line in lines if line.startswith("FAIL ")]
    assert not failed and ok == STDLIB_MODULES, describe(result)
    assert result.returncode == 0, describe(result)
    assert f"UID {NONROOT} HOME /home/nonroot CWD /home/nonroot" in lines
    assert "SH False" in lines
    assert "FS utf-8 utf-8" in lines


def test_https_trusts_the_extra_ca_and_only_known_cas(
    image: str, docker_engine: Engine, tls_setup: TlsSetup
):
    with (
        tls.HttpsServer(tls_setup.trusted_leaf) as trusted,
        tls.HttpsServer(tls_setup.rogue_leaf) as rogue,
    ):
        result = docker_engine(
            "run",
            "--rm",
            "--network",
            "host",
            image,
            "-c",
            HTTPS_CHECK,
            trusted,
            rogue,
            check=False,
        )
    assert f"TRUSTED 200 {tls.HttpsServer.body.decode().strip()}" in result.stdout, describe(result)
    assert "ROGUE refused SSLCertVerificationError" in result.stdout, describe(result)
    assert "unable to get local issuer certificate" in result.stdout, describe(result)


def test_there_is_no_shell(image: str, docker_engine: Engine):
    for shell in ("/bin/sh", "/usr/bin/sh", "/bin/bash"):
        result = docker_engine(
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            shell,
            image,
            "-c",
            "echo pwned",
            check=False,
        )
        assert result.returncode != 0, describe(result)
        assert "pwned" not in result.stdout
        assert "no such file or directory" in result.stderr.lower(), describe(result)


def test_runs_with_a_read_only_root(image: str, docker_engine: Engine):
    result = docker_engine(
        "run",
        "--rm",
        "--network",
        "none",
        "--read-only",
        image,
        "-c",
        "import json, ssl, sqlite3; print(1)",
    )
    assert result.stdout == "1\n"


def test_runs_as_an_arbitrary_uid(image: str, docker_engine: Engine):
    # As in Kubernetes with runAsUser: a UID the image has no passwd entry for.
    result = docker_engine(
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "12345:12345",
        image,
        "-c",
        "import os, ssl, tempfile; print(os.getuid()); tempfile.TemporaryFile().close()",
    )
    assert result.stdout == "12345\n"


# ---- other engines and tools -----------------------------------------------------------------


@pytest.mark.podman
def test_podman_loads_and_runs_it(built: Built, podman: Engine):
    loaded = re.findall(r"Loaded image: (\S+)", podman("load", "-i", str(built.tar)).stdout)
    try:
        # podman qualifies the name with a registry part, depending on what it read
        assert any(name.endswith(f"/{TAG}") for name in loaded), loaded
        result = podman.run(TAG, "-c", 'import ssl, sqlite3; print("ok")')
        assert result.stdout == "ok\n"
        assert podman.run(TAG, "-c", "import os; print(os.getuid())").stdout == f"{NONROOT}\n"
    finally:
        podman.remove_images(*loaded)


@pytest.mark.skopeo
def test_skopeo_inspects_the_tar_and_the_layout(built: Built, skopeo: str):
    names = built.ref_names()
    assert built.ref_for(TAG) in names
    for name in names:
        for reference in (f"oci-archive:{built.tar}:{name}", f"oci:{built.layout}:{name}"):
            inspected = json.loads(run([skopeo, "inspect", reference]).stdout)
            assert inspected["Digest"] == built.digest
            assert inspected["Architecture"] == OCI_ARCH.get(host_arch(), host_arch())
            assert inspected["Os"] == "linux"
            labels = inspected["Labels"]
            assert re.fullmatch(r"3\.13\.\d+", labels["dev.pydistroless.python.version"])
            assert labels["dev.pydistroless.debian.suite"] == "trixie"


@pytest.mark.umoci
def test_umoci_unpacks_the_layout(built: Built, umoci: str, tmp_path: Path, tls_setup: TlsSetup):
    bundle = tmp_path / "bundle"
    run([umoci, "unpack", "--image", f"{built.layout}:{built.ref_for(TAG)}", bundle])
    rootfs = bundle / "rootfs"
    assert (rootfs / "usr/bin/python3.13").is_file()
    assert (rootfs / "bin").is_symlink()
    assert not (rootfs / "usr/bin/sh").exists() and not (rootfs / "bin/sh").exists()
    passwd = (rootfs / "etc/passwd").read_text()
    assert f"nonroot:x:{NONROOT}:{NONROOT}:" in passwd
    home = rootfs / "home/nonroot"
    assert (home.stat().st_uid, home.stat().st_mode & 0o777) == (NONROOT, 0o700)
    bundle_pem = (rootfs / "etc/ssl/certs/ca-certificates.crt").read_text()
    assert tls_setup.ca.cert.read_text().strip() in bundle_pem
    assert bundle_pem.count("-----BEGIN CERTIFICATE-----") > 50
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"] == ["/usr/bin/python3.13"]
    assert config["process"]["cwd"] == "/home/nonroot"
    assert config["process"]["user"]["uid"] == NONROOT


# ---- --load ----------------------------------------------------------------------------------


def test_build_load_puts_the_image_into_docker(built: Built, docker_engine: Engine, tmp_path: Path):
    # After the module's build the image cache is warm, so this mostly exercises --load.
    result = pydistroless("build", "--load", "--tag", LOAD_TAG, cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    try:
        assert "loaded into docker" in result.stderr, result.stderr
        printed = docker_engine.run(LOAD_TAG, "--version").stdout
        assert re.fullmatch(r"Python 3\.13\.\d+\n", printed)
    finally:
        docker_engine.remove_images(LOAD_TAG)


# ---- bookworm --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bookworm_image(tmp_path_factory: pytest.TempPathFactory, docker_engine: Engine):
    built = build(tmp_path_factory.mktemp("bookworm"), "--suite", "bookworm", "--tag", BOOKWORM_TAG)
    loaded = docker_load(docker_engine, built.tar)
    assert BOOKWORM_TAG in loaded
    yield BOOKWORM_TAG
    docker_engine.remove_images(*loaded)


def test_bookworm_gives_python_3_11(bookworm_image: str, docker_engine: Engine):
    inspected = json.loads(docker_engine("image", "inspect", bookworm_image).stdout)[0]
    labels = inspected["Config"]["Labels"]
    version = labels["dev.pydistroless.python.version"]
    assert re.fullmatch(r"3\.11\.\d+", version), labels
    assert labels["dev.pydistroless.debian.suite"] == "bookworm"
    assert docker_engine.run(bookworm_image, "--version").stdout.strip() == f"Python {version}"
    assert inspected["Config"]["Entrypoint"] == ["/usr/bin/python3.11"]


def test_bookworm_standard_library(bookworm_image: str, docker_engine: Engine):
    script = (
        "import sqlite3, ssl, zoneinfo, datetime\n"
        "sqlite3.connect(':memory:').execute('select 1')\n"
        "assert ssl.create_default_context().cert_store_stats()['x509_ca'] > 50\n"
        "tz = zoneinfo.ZoneInfo('Europe/Paris')\n"
        "print('ok', datetime.datetime(2025, 7, 1, tzinfo=tz).utcoffset())\n"
    )
    assert docker_engine.run(bookworm_image, "-c", script).stdout == "ok 2:00:00\n"


def _tar_names(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def test_outputs_are_complete(built: Built):
    """The tar holds an OCI layout (and docker's manifest.json); nothing is left half-written."""
    names = _tar_names(built.tar)
    assert {"oci-layout", "index.json", "manifest.json"} <= set(names)
    assert (built.layout / "oci-layout").is_file()
    leftovers = [p.name for p in built.directory.iterdir() if p.name.startswith(".")]
    assert leftovers == []
