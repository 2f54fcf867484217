"""`pydistroless app` on the examples, each image run in a real docker engine.

The wheels come from the real index (through uv's and the fetcher's caches), the base from the
real Debian archive; the images are loaded into docker and run as its users would run them:
no network (or the host's, for the HTTP servers), uid 65532, a read-only root file system.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydistroless.oci.archive import write_tar
from pydistroless.python.wheels import uv_binary
from tests.fixtures.images import make_image, native_platform, runnable_tree
from tests.fixtures.kube import deployments_api
from tests.fixtures.pubsub import publisher
from tests.fixtures.registry import start_registry
from tests.fixtures.tools import (
    assert_clean_failure,
    need_network,
    pydistroless,
    syft_artifacts,
)

pytestmark = pytest.mark.network

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    return result.stdout.strip()


def locked(example: str, tmp_path: Path) -> Path:
    """A copy of ``example`` with its lock made by the tool its users have: ``uv lock`` for
    a uv project, ``pipenv lock`` for a Pipfile, ``uv pip compile --format pylock.toml`` for
    a PEP 751 lock (these locks name the index they were made against, so they are made
    where they are used)."""
    project = tmp_path / example
    shutil.copytree(EXAMPLES / example, project)
    if (project / "Pipfile").exists():
        env = {
            **os.environ,
            "PIPENV_PYTHON": sys.executable,
            "WORKON_HOME": str(tmp_path / "venvs"),
            "PIPENV_VERBOSITY": "-1",
        }
        pipenv = Path(sys.executable).with_name("pipenv")
        done = subprocess.run([str(pipenv), "lock"], cwd=project, env=env, capture_output=True,
                              text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert (project / "Pipfile.lock").is_file()
    elif (project / "requirements.in").exists():
        command = ["pip", "compile", "requirements.in", "--universal", "--format", "pylock.toml"]
        done = subprocess.run([uv_binary(), *command, "-o", "pylock.toml", "--quiet"],
                              cwd=project, capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert (project / "pylock.toml").is_file()
    else:
        done = subprocess.run([uv_binary(), "lock", "--quiet"], cwd=project, capture_output=True,
                              text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert (project / "uv.lock").is_file()
    return project


def build(example: Path | str, out: Path, *extra: str, cache_dir: Path | None = None) -> str:
    project = example if isinstance(example, Path) else EXAMPLES / example
    return ok(pydistroless("app", project, "-o", out, *extra, cache_dir=cache_dir))


def layers_of(tar: Path) -> list[str]:
    with tarfile.open(tar) as archive:
        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].removeprefix("sha256:")
        manifest = json.load(archive.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
    return [layer["digest"] for layer in manifest["layers"]]


@contextlib.contextmanager
def loaded(engine, tar: Path, tag: str) -> Iterator[None]:
    """``tar`` loaded into ``engine`` for the block, its ``tag`` removed after."""
    engine("load", "-i", str(tar))
    try:
        yield
    finally:
        engine.remove_images(tag)


@contextlib.contextmanager
def detached(engine, name: str, *args: str) -> Iterator[None]:
    """A container ``name`` running in the background for the block, removed after."""
    try:
        engine("run", "-d", "--name", name, *args)
        yield
    finally:
        engine("rm", "-f", name, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, deadline: float = 30.0) -> tuple[int, str]:
    end = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read().decode()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.3)


@pytest.mark.docker
@pytest.mark.parametrize("variant", ["standard", "debug"])
def test_hello_world(tmp_path: Path, docker_engine, variant: str) -> None:
    need_network()
    tag = f"e2e-hello:{variant}"
    build("hello-world", tmp_path / "hello.tar", "--variant", variant, "--tag", tag)
    with loaded(docker_engine, tmp_path / "hello.tar", tag):
        out = docker_engine("run", "--rm", "--network", "none", "--read-only", tag).stdout
        assert out == "hello there\n"
        user = docker_engine("image", "inspect", "--format", "{{.Config.User}}", tag).stdout
        assert user.strip() == "65532"


@pytest.mark.docker
def test_fastapi_uvicorn_runs_uvicorn_directly(tmp_path: Path, docker_engine) -> None:
    need_network()
    tag = "e2e-fastapi:1"
    build(locked("fastapi-uvicorn", tmp_path), tmp_path / "app.tar", "--tag", tag)
    with loaded(docker_engine, tmp_path / "app.tar", tag):
        config = json.loads(
            docker_engine("image", "inspect", "--format", "{{json .Config}}", tag).stdout
        )
        assert config["Entrypoint"][0] == "uvicorn"
        port = free_port()
        # The image's own launcher, with another port: no shell, no run.py.
        with detached(
            docker_engine, "e2e-fastapi", "--network", "host", "--read-only",
            "--entrypoint", "/usr/local/bin/uvicorn", tag,
            "main:app", "--host", "127.0.0.1", "--port", str(port),
        ):  # fmt: skip
            status, body = get(f"http://127.0.0.1:{port}/")
            assert status == 200
            assert "I am alive" in body


@pytest.mark.docker
def test_pandas_from_requirements_gets_libstdcxx_from_debian(tmp_path: Path, docker_engine) -> None:
    need_network()
    tag = "e2e-pandas:1"
    result = pydistroless("app", EXAMPLES / "pandas", "-o", tmp_path / "p.tar", "--tag", tag)
    ok(result)
    with loaded(docker_engine, tmp_path / "p.tar", tag):
        out = docker_engine("run", "--rm", "--network", "none", "--read-only", tag).stdout
        assert out == "The Mainframe says: 2\n"
        # the library the wheels need, added as a Debian package scanners see
        listing = docker_engine(
            "run", "--rm", "--network", "none", "--entrypoint", "/usr/bin/python3", tag, "-c",
            "import os; print(sorted(os.listdir('/var/lib/dpkg/status.d')))",
        ).stdout  # fmt: skip
        assert "'libstdc++6'" in listing


@pytest.mark.docker
def test_flask_gunicorn_from_poetry_lock(tmp_path: Path, docker_engine) -> None:
    need_network()
    tag = "e2e-flask:1"
    build("flask-gunicorn", tmp_path / "app.tar", "--tag", tag)
    with loaded(docker_engine, tmp_path / "app.tar", tag):
        port = free_port()
        # gunicorn's own launcher is the entrypoint; only the address is changed here
        with detached(
            docker_engine, "e2e-flask", "--network", "host", "--read-only", tag,
            "--bind", f"127.0.0.1:{port}",
        ):  # fmt: skip
            status, body = get(f"http://127.0.0.1:{port}/")
            assert status == 200
            assert "flask/gunicorn" in body


@pytest.mark.docker
def test_kubernetes_from_pipfile_lock_watches_deployments(tmp_path: Path, docker_engine) -> None:
    need_network()
    tag = "e2e-kubernetes:1"
    build(locked("kubernetes", tmp_path), tmp_path / "app.tar", "--tag", tag)
    with loaded(docker_engine, tmp_path / "app.tar", tag):
        with deployments_api(["web"]) as api:
            out = docker_engine(
                "run", "--rm", "--network", "host", "--read-only", "--user", "65532",
                "-e", f"KUBERNETES_API={api.url}", "-e", "EVENTS=2", tag,
            ).stdout  # fmt: skip
        assert "Event: MODIFIED web" in out.splitlines()
        assert api.watches, "the client never watched"


@pytest.mark.docker
def test_a_library_the_base_lacks_is_added_from_debian(tmp_path: Path, docker_engine) -> None:
    """pyodbc's wheel needs libodbc.so.2 (unixODBC), which no base has: libodbc2 is found in
    the archive, added, reported, recorded in status.d and the SBOM, and the import works."""
    need_network()
    project = tmp_path / "odbc"
    project.mkdir()
    (project / "requirements.txt").write_text("pyodbc\n")
    (project / "main.py").write_text("import pyodbc\nprint('pyodbc', pyodbc.version)\n")
    tag = "e2e-odbc:1"
    result = pydistroless("app", project, "-o", tmp_path / "odbc.tar", "--tag", tag)
    ok(result)
    assert "added libodbc2 for pyodbc (libodbc.so.2)" in result.stderr
    document = json.loads((tmp_path / "odbc.amd64.spdx.json").read_text())
    names = {p["name"] for p in document["packages"]}
    assert {"libodbc2", "pyodbc", "libc6"} <= names
    with loaded(docker_engine, tmp_path / "odbc.tar", tag):
        out = docker_engine("run", "--rm", "--network", "none", "--read-only", tag).stdout
        assert out.startswith("pyodbc ")
        status = docker_engine(
            "run", "--rm", "--network", "none", "--entrypoint", "/usr/bin/python3", tag, "-c",
            "print(open('/var/lib/dpkg/status.d/libodbc2').read())",
        ).stdout  # fmt: skip
        assert "Package: libodbc2" in status
        found = docker_engine(
            "run", "--rm", "--network", "none", "--entrypoint", "/usr/bin/python3", tag, "-c",
            "import ctypes.util; print(ctypes.util.find_library('odbc'))",
        ).stdout  # fmt: skip
        assert found.strip() == "libodbc.so.2"


def unpack(tar: Path, rootfs: Path) -> None:
    """The image's layers, in order, extracted into ``rootfs`` (our images have no
    whiteouts)."""
    with tarfile.open(tar) as archive:
        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]
        top = index["manifests"][0]["digest"].removeprefix("sha256:")
        manifest = json.load(archive.extractfile(f"blobs/sha256/{top}"))  # type: ignore[arg-type]
        for layer in manifest["layers"]:
            blob = archive.extractfile("blobs/sha256/" + layer["digest"].removeprefix("sha256:"))
            with tarfile.open(fileobj=blob, mode="r:gz") as part:
                part.extractall(rootfs, filter="tar")


def test_arm64_app_has_only_aarch64_elf_files_and_imports_under_qemu(tmp_path: Path) -> None:
    need_network()
    qemu = shutil.which("qemu-aarch64-static")
    assert qemu, "qemu-user-static is not installed (scripts/test installs it)"
    tar = tmp_path / "arm.tar"
    build(locked("fastapi-uvicorn", tmp_path), tar, "--arch", "arm64")
    rootfs = tmp_path / "rootfs"
    unpack(tar, rootfs)
    machines = {}
    for path in rootfs.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.read_bytes()[:4] == b"\x7fELF":
            machines[str(path.relative_to(rootfs))] = path.read_bytes()[18:20]
    assert any("pydantic_core" in p for p in machines), "no extension module of a wheel"
    assert set(machines.values()) == {(183).to_bytes(2, "little")}  # EM_AARCH64
    assert list(rootfs.glob("usr/local/lib/python3.13/dist-packages/**/*.cpython-313.pyc"))
    out = subprocess.run(
        [qemu, "-L", str(rootfs), str(rootfs / "usr/bin/python3.13"), "-c",
         "import platform, fastapi, pydantic_core, uvicorn; print(platform.machine(), "
         "pydantic_core.__version__)"],
        capture_output=True, text=True, timeout=300, env={"LANG": "C.UTF-8"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("aarch64 ")


@pytest.mark.docker
def test_google_cloud_pubsub_creates_and_deletes_a_topic(tmp_path: Path, docker_engine) -> None:
    need_network()
    tag = "e2e-pubsub:1"
    build(locked("google-cloud-pubsub", tmp_path), tmp_path / "app.tar", "--tag", tag)
    with loaded(docker_engine, tmp_path / "app.tar", tag):
        with publisher() as server:
            out = docker_engine(
                "run", "--rm", "--network", "host", "--read-only",
                "-e", f"PUBSUB_EMULATOR_HOST={server.host}", tag,
            ).stdout  # fmt: skip
        assert server.created and server.created == server.deleted
        name = server.created[0]
        assert name.startswith("projects/made-up-project/topics/")
        assert out.splitlines() == [f"Topic [{name}] created", f"Topic [{name}] deleted"]


@pytest.mark.docker
def test_package_by_hand_for_a_library_loaded_with_dlopen(tmp_path: Path, docker_engine) -> None:
    """python-magic loads libmagic with ctypes, which no ELF header shows: --package adds it."""
    need_network()
    project = tmp_path / "magic"
    project.mkdir()
    (project / "requirements.txt").write_text("python-magic\n")
    (project / "main.py").write_text("import magic\nprint(magic.from_buffer(b'%PDF-1.4 x'))\n")
    tag = "e2e-magic:1"
    result = pydistroless(
        "app", project, "-o", tmp_path / "m.tar", "--tag", tag, "--package", "libmagic1"
    )
    ok(result)
    assert "added libmagic1 (--package)" in result.stderr
    with loaded(docker_engine, tmp_path / "m.tar", tag):
        out = docker_engine("run", "--rm", "--network", "none", "--read-only", tag).stdout
        assert out.startswith("PDF document")


@pytest.mark.docker
def test_a_pure_python_sdist_is_built_into_a_wheel(tmp_path: Path, docker_engine) -> None:
    """docopt 0.6.2 was only ever published as a source distribution: its (pure-Python) wheel
    is built, checked to fit the image, and installed like the others."""
    need_network()
    project = tmp_path / "docopt"
    project.mkdir()
    (project / "requirements.txt").write_text("docopt==0.6.2\n")
    (project / "main.py").write_text("import docopt\nprint('docopt', docopt.__version__)\n")
    tag = "e2e-docopt:1"
    result = pydistroless("app", project, "-o", tmp_path / "d.tar", "--tag", tag)
    ok(result)
    with loaded(docker_engine, tmp_path / "d.tar", tag):
        out = docker_engine("run", "--rm", "--network", "none", "--read-only", tag).stdout
        assert out == "docopt 0.6.2\n"


def test_syft_sees_every_distribution_and_debian_package(tmp_path: Path) -> None:
    """Scanners read the .dist-info metadata and status.d: syft (the real binary) finds each
    wheel the lock pinned, and the Debian packages, added ones included."""
    need_network()
    project = locked("fastapi-uvicorn", tmp_path)
    tar = tmp_path / "app.tar"
    ok(pydistroless("app", project, "-o", tar, "--write-lock", tmp_path / "lock.json"))
    pinned = json.loads((tmp_path / "lock.json").read_text())["images"][0]
    found = syft_artifacts(f"oci-archive:{tar}")
    python = {
        (a["name"].lower().replace("_", "-"), a["version"]) for a in found if a["type"] == "python"
    }
    assert python == {(w["name"], w["version"]) for w in pinned["wheels"]}
    debs = {a["name"] for a in found if a["type"] == "deb"}
    assert {"libc6", "libpython3.13-minimal", "python3.13-minimal"} <= debs


@pytest.mark.docker
def test_pylock_toml(tmp_path: Path, docker_engine) -> None:
    """A PEP 751 lock, universal (every platform's wheels, markers): the image's own wheels
    are chosen from it."""
    need_network()
    project = locked("pylock", tmp_path)
    tag = "e2e-pylock:1"
    result = pydistroless("app", project, "-o", tmp_path / "p.tar", "--tag", tag)
    ok(result)
    assert "with uv" not in result.stderr  # the lock lists the files: nothing is asked of uv
    with loaded(docker_engine, tmp_path / "p.tar", tag):
        out = docker_engine("run", "--rm", "--network", "none", "--read-only", tag).stdout
        assert out.splitlines() == [
            "bücher.example -> xn--bcher-kva.example",
            "straße.example -> xn--strae-oqa.example",
        ]


@pytest.mark.podman
def test_podman_runs_an_app_image(tmp_path: Path, podman) -> None:
    need_network()
    tag = "localhost/e2e-hello:podman"
    build("hello-world", tmp_path / "hello.tar", "--tag", tag)
    with loaded(podman, tmp_path / "hello.tar", tag):
        assert podman.run(tag).stdout == "hello there\n"


@pytest.mark.skopeo
def test_a_code_change_rebuilds_and_pushes_only_the_project_layer(tmp_path: Path) -> None:
    need_network()
    project = locked("fastapi-uvicorn", tmp_path)
    first = build(project, tmp_path / "one.tar")
    main = project / "main.py"
    main.write_text(main.read_text().replace("I am alive", "I am still alive"))
    second = build(project, tmp_path / "two.tar")
    assert first != second
    one, two = layers_of(tmp_path / "one.tar"), layers_of(tmp_path / "two.tar")
    assert len(one) == len(two)
    assert one[:-1] == two[:-1]
    assert one[-1] != two[-1]
    registry = start_registry(tmp_path / "registry")
    try:
        ref = f"{registry.host}/apps/fastapi:1"
        ok(pydistroless("push", tmp_path / "one.tar", ref))
        again = pydistroless("push", tmp_path / "two.tar", ref)
        assert ok(again) == second
        # the new project layer and the new config, nothing else
        assert "2 blob(s) uploaded" in again.stderr, again.stderr
    finally:
        registry.close()


def test_same_lock_on_fresh_caches_gives_the_same_digest(tmp_path: Path) -> None:
    need_network()
    project = locked("fastapi-uvicorn", tmp_path)
    digests = {
        build(project, tmp_path / f"{n}.tar", cache_dir=tmp_path / f"cache{n}") for n in (1, 2)
    }
    assert len(digests) == 1


def ghost_wheel(folder: Path) -> Path:
    """A wheel (from a local path, as a pylock.toml may name one) whose extension module
    needs ``libq.so.6``, which no Debian package ships: the host's zlib with its
    ``DT_NEEDED`` libc renamed in place."""
    machine = platform.machine()
    data = Path(f"/usr/lib/{machine}-linux-gnu/libz.so.1").resolve().read_bytes()
    assert data.count(b"libc.so.6\0") == 1
    module = data.replace(b"libc.so.6\0", b"libq.so.6\0")
    files = {
        "ghostlib/__init__.py": b"from ghostlib._ghost import *\n",
        f"ghostlib/_ghost.cpython-313-{machine}-linux-gnu.so": module,
        "ghostlib-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: ghostlib\nVersion: 1.0\n",
        "ghostlib-1.0.dist-info/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
            f"Tag: cp313-cp313-manylinux_2_17_{machine}\n"
        ).encode(),
    }
    record = (
        "".join(
            f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b'=').decode()},{len(body)}\n"
            for name, body in files.items()
        )
        + "ghostlib-1.0.dist-info/RECORD,,\n"
    )
    folder.mkdir(parents=True)
    wheel = folder / f"ghostlib-1.0-cp313-cp313-manylinux_2_17_{machine}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
        archive.writestr("ghostlib-1.0.dist-info/RECORD", record)
    return wheel


def test_bad_input_is_one_clear_line(tmp_path: Path, static_busybox: bytes) -> None:
    need_network()
    # A project of one script and no dependency file builds: tests/e2e/test_app_projects.py.
    stale = locked("fastapi-uvicorn", tmp_path)
    pyproject = stale / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"uvicorn"]', '"uvicorn", "httpx"]'))
    result = pydistroless("app", stale, "-o", tmp_path / "x.tar")
    assert_clean_failure(result, 6, "uv.lock")

    tampered = tmp_path / "tampered"
    tampered.mkdir()
    (tampered / "main.py").write_text("import six\n")
    (tampered / "requirements.txt").write_text("six==1.17.0 --hash=sha256:" + "0" * 64 + "\n")
    result = pydistroless("app", tampered, "-o", tmp_path / "x.tar")
    assert_clean_failure(result, 4, "six==1.17.0")
    # An sdist that does not compile in the builder image (python-ldap without OpenLDAP's
    # headers): tests/unit/test_recipes.py, with a fake compiler and a fake sandbox.

    result = pydistroless(
        "app", EXAMPLES / "hello-world", "-o", tmp_path / "x.tar", "--entrypoint", "nosuch"
    )
    assert_clean_failure(result, 8, "nosuch")

    not_python = tmp_path / "busybox.tar"  # an image that runs, with no Python in it
    write_tar(
        not_python, make_image(runnable_tree(static_busybox), native_platform()), tags=["b:1"]
    )
    result = pydistroless(
        "app", EXAMPLES / "hello-world", "-o", tmp_path / "x.tar", "--base", not_python
    )
    assert_clean_failure(result, 2, "not a Python image")
    ghost = tmp_path / "ghost"
    ghost.mkdir()
    (ghost / "main.py").write_text("import ghostlib\n")
    wheel = ghost_wheel(ghost / "wheels")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (ghost / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\nname = "ghostlib"\n'
        f'version = "1.0"\nwheels = [{{path = "wheels/{wheel.name}", '
        f'hashes = {{sha256 = "{digest}"}}}}]\n'
    )
    result = pydistroless("app", ghost, "-o", tmp_path / "x.tar")
    assert_clean_failure(result, 8, "libq.so.6", "ghostlib")

    for leftover in ("x.tar", "x.amd64.spdx.json"):
        assert not (tmp_path / leftover).exists()
