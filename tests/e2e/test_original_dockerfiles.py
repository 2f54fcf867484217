"""The Dockerfiles of alexdmoss/distroless-python's test apps (``tests/corpus/distroless-python``,
as published), built by docker with only their ``FROM`` images pointed at ours: the builder
variant as ``python:3.13-slim-trixie`` (their build stage, which runs pip, poetry and pipenv
as root and makes venvs) and the standard base as their distroless image. Their builds reach
the package index as theirs do, through this machine's network (its CA given to the builder
with ``--ca-cert``). The pass conditions are those of the repository's ``scripts/tests.sh``.

Three of the six are here. ``fastapi`` and ``google-cloud`` use ``RUN --mount`` (BuildKit),
which this docker engine has no buildx for; ``pandas`` copies ``/home/monty/.local`` out of
the repository's own builder image, whose user ``monty`` no other image has.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_app_examples import free_port, get, ok
from tests.fixtures.tools import need_network, pydistroless

pytestmark = [pytest.mark.network, pytest.mark.docker]

PUBLISHED = Path(__file__).parents[1] / "corpus/distroless-python/distroless-python-tests.tar.gz"
BUILDER = "python:3.13-slim-trixie"
BASE = "e2e-original-distroless:1"
# Where this machine keeps the CA its HTTPS goes through, if any (Debian's local CA folder).
LOCAL_CAS = Path("/usr/local/share/ca-certificates")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, docker_engine) -> Iterator[Path]:
    """The six apps, byte for byte, with our builder and base loaded under the names their
    Dockerfiles are given."""
    need_network()
    folder = tmp_path_factory.mktemp("original")
    with tarfile.open(PUBLISHED) as archive:
        archive.extractall(folder, filter="data")
    cas = [a for c in sorted(LOCAL_CAS.glob("*.crt")) for a in ("--ca-cert", str(c))]
    ok(pydistroless("build", "--variant", "builder", *cas, "-o", folder / "builder.tar",
                    "--tag", BUILDER, "--load"))  # fmt: skip
    ok(pydistroless("build", "-o", folder / "base.tar", "--tag", BASE, "--load"))
    try:
        yield folder / "distroless-python" / "tests"
    finally:
        docker_engine.remove_images(BUILDER, BASE)


def docker_build(docker_engine, app: Path, tag: str) -> None:
    """``docker build`` of ``app``'s Dockerfile as its tests.sh runs it, with its build
    arguments naming our images."""
    docker_engine(
        "build", "-q", "--network", "host", "-t", tag,
        "--build-arg", "PYTHON_VERSION=3.13", "--build-arg", "DEBIAN_NAME=trixie",
        "--build-arg", f"PYTHON_BUILDER_IMAGE={BUILDER}",
        "--build-arg", f"PYTHON_DISTROLESS_IMAGE={BASE}", str(app),
        timeout=900,
    )  # fmt: skip


def test_hello_world(published: Path, docker_engine) -> None:
    tag = "e2e-original-hello:1"
    docker_build(docker_engine, published / "hello-world", tag)
    try:
        out = docker_engine("run", "--rm", "--network", "none", "--read-only", tag).stdout
        assert "hello there" in out
    finally:
        docker_engine.remove_images(tag)


def test_gunicorn_from_a_poetry_venv(published: Path, docker_engine) -> None:
    """Its build stage upgrades pip, installs poetry and makes a venv in /home/venv; the venv
    runs in the base. tests.sh: ``curl -i :5000/`` has ``200 OK`` and ``flask/gunicorn`` (on a
    port of our choosing here, and read-only with a tmpfs for gunicorn's worker files)."""
    tag = "e2e-original-gunicorn:1"
    docker_build(docker_engine, published / "gunicorn", tag)
    port = free_port()
    name = "e2e-original-gunicorn"
    try:
        docker_engine("run", "-d", "--name", name, "--network", "host", "--user", "65532",
                      "--read-only", "--tmpfs", "/tmp", "--entrypoint", "/home/venv/bin/python",
                      tag, "run.py", "-b", f"127.0.0.1:{port}", "app:app")  # fmt: skip
        try:
            status, body = get(f"http://127.0.0.1:{port}/", deadline=60)
        except OSError:
            pytest.fail(docker_engine("logs", name, check=False).stderr[-2000:])
        assert status == 200 and "flask/gunicorn" in body, body
    finally:
        docker_engine("rm", "-f", name, check=False)
        docker_engine.remove_images(tag)


def test_kubernetes_from_a_pipenv_venv(published: Path, docker_engine) -> None:
    """Its build stage installs pipenv with pip and the Pipfile.lock into /.venv; the venv's
    kubernetes client loads in the base (the watch itself is test_corpus's)."""
    tag = "e2e-original-kubernetes:1"
    docker_build(docker_engine, published / "kubernetes", tag)
    try:
        out = docker_engine(
            "run", "--rm", "--network", "none", "--read-only", "--user", "65532",
            "--entrypoint", "/.venv/bin/python", tag, "-c",
            "import kubernetes, sys; print(kubernetes.__version__, sys.executable)",
        ).stdout.split()  # fmt: skip
        assert out[1] == "/.venv/bin/python" and out[0].split(".")[0].isdigit(), out
        assert pydistroless("check", f"docker-daemon:{tag}").returncode == 0
    finally:
        docker_engine.remove_images(tag)
