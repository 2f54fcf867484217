"""The Dockerfiles of alexdmoss/distroless-python's test apps (``tests/corpus/distroless-python``,
as published), built by docker with only their ``FROM`` images pointed at ours: the builder
variant as ``python:3.13-slim-trixie`` (their build stage, which runs pip, poetry, pipenv and
uv as root and makes venvs) and the cc variant, the base for what a Dockerfile copies in, as
their distroless image. Their builds reach the package index as theirs do, through this
machine's network (its CA given to the builder with ``--ca-cert``), with BuildKit for the two
that mount caches (``RUN --mount``): Debian's ``docker-buildx`` plugin, taken from trixie's
signed archive by the project's own Debian client. The pass conditions are those of the
repository's ``scripts/tests.sh``, against the suite's stand-ins for the Pub/Sub emulator and
the Kubernetes API.

Five of the six: ``pandas`` copies ``/home/monty/.local`` out of the repository's own builder
image, whose user ``monty`` (and so that user's pip install) no other image has.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_app_examples import ok
from tests.e2e.test_corpus import detached, http_get, run, wait_for_log
from tests.fixtures import published as published_apps
from tests.fixtures.debian_tools import debian_program
from tests.fixtures.kube import deployments_api, kubeconfig
from tests.fixtures.pubsub import publisher
from tests.fixtures.tools import describe, need_network, pydistroless

pytestmark = [pytest.mark.network, pytest.mark.docker]

BUILDER = "python:3.13-slim-trixie"
BASE = "e2e-original-distroless:1"
# Where this machine keeps the CA its HTTPS goes through, if any (Debian's local CA folder).
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
BUILDX = "usr/libexec/docker/cli-plugins/docker-buildx"


def buildx_config(into: Path) -> Path:
    """A docker client configuration folder whose one CLI plugin is trixie's buildx."""
    plugin = into / "cli-plugins" / "docker-buildx"
    plugin.parent.mkdir(parents=True)
    shutil.copyfile(debian_program("docker-buildx", BUILDX), plugin)
    plugin.chmod(0o755)
    return into


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, docker_engine) -> Iterator[Path]:
    """The six apps, byte for byte, with our builder and base loaded under the names their
    Dockerfiles are given."""
    need_network()
    folder = tmp_path_factory.mktemp("original")
    apps = published_apps.unpack(folder)
    cas = [a for c in sorted(LOCAL_CAS.glob("*.crt")) for a in ("--ca-cert", str(c))]
    ok(pydistroless("build", "--variant", "builder", *cas, "-o", folder / "builder.tar",
                    "--tag", BUILDER, "--load"))  # fmt: skip
    ok(pydistroless("build", "--variant", "cc", "-o", folder / "base.tar", "--tag", BASE,
                    "--load"))  # fmt: skip
    try:
        yield apps
    finally:
        docker_engine.remove_images(BUILDER, BASE)


@pytest.fixture(scope="module")
def buildkit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    config = buildx_config(tmp_path_factory.mktemp("docker-config"))
    return {**os.environ, "DOCKER_CONFIG": str(config), "DOCKER_BUILDKIT": "1"}


@pytest.fixture()
def image(request: pytest.FixtureRequest, published: Path, docker_engine) -> Iterator[str]:
    """The app the test names (``request.param``), built by ``docker build`` from its
    Dockerfile as its tests.sh runs it, the build arguments naming our images."""
    app = request.param
    tag = f"e2e-original-{app}:1"
    env = request.getfixturevalue("buildkit") if app in ("fastapi", "google-cloud") else None
    done = subprocess.run(
        ["docker", "build", "--network", "host", "-t", tag,
         "--build-arg", "PYTHON_VERSION=3.13", "--build-arg", "DEBIAN_NAME=trixie",
         "--build-arg", f"PYTHON_BUILDER_IMAGE={BUILDER}",
         "--build-arg", f"PYTHON_DISTROLESS_IMAGE={BASE}", str(published / app)],
        capture_output=True, text=True, timeout=900, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, describe(done)
    try:
        yield tag
    finally:
        docker_engine.remove_images(tag)


@pytest.mark.parametrize("image", ["hello-world"], indirect=True)
def test_hello_world(image: str, docker_engine) -> None:
    assert "hello there" in run(docker_engine, image)


@pytest.mark.parametrize("image", ["gunicorn"], indirect=True)
def test_gunicorn(image: str, docker_engine) -> None:
    """A poetry venv made in /home/venv. tests.sh: ``curl -i :5000/`` has ``200 OK`` and
    ``flask/gunicorn``: asked here from a second container in the app's network namespace,
    and read-only with a tmpfs where gunicorn keeps its worker files."""
    with detached(docker_engine, "original-gunicorn", image, tmpfs=["/tmp"]) as name:
        out = http_get(docker_engine, image, "http://127.0.0.1:5000/", f"container:{name}")
    assert out.startswith("200 OK") and "flask/gunicorn" in out, out


@pytest.mark.parametrize("image", ["fastapi"], indirect=True)
def test_fastapi(image: str, docker_engine) -> None:
    """A uv venv (BuildKit cache mounts). tests.sh: ``curl -i :5000/`` has ``200 OK`` and
    ``I am alive``."""
    with detached(docker_engine, "original-fastapi", image) as name:
        out = http_get(docker_engine, image, "http://127.0.0.1:5000/", f"container:{name}")
    assert out.startswith("200 OK") and "I am alive" in out, out


@pytest.mark.parametrize("image", ["google-cloud"], indirect=True)
def test_google_cloud(image: str, docker_engine) -> None:
    with publisher() as server:
        out = run(docker_engine, image, network="host",
                  env={"PUBSUB_EMULATOR_HOST": server.host})  # fmt: skip
    topic = "projects/made-up-project/topics/alexos-distroless-python-test"
    assert f"Topic [{topic}]" in out, out
    assert server.created == [topic] and server.deleted == [topic]


@pytest.mark.parametrize("image", ["kubernetes"], indirect=True)
def test_kubernetes(image: str, docker_engine, tmp_path: Path) -> None:
    """A pipenv venv in /.venv. tests.sh (in kind): the pod's log has ``Event: MODIFIED
    distroless-python-test-...``; here the API server is the stand-in, named by a kubeconfig."""
    deployment = "distroless-python-test-3.13-debian13"
    with deployments_api([deployment]) as api:
        config = tmp_path / "kubeconfig"
        config.write_text(kubeconfig(api.url))
        config.chmod(0o644)
        with detached(
            docker_engine, "original-kubernetes", image, network="host",
            env={"KUBECONFIG": "/etc/kube/config"}, volumes=[f"{config}:/etc/kube/config:ro"],
        ) as name:  # fmt: skip
            wait_for_log(docker_engine, name, f"Event: MODIFIED {deployment}")
    assert api.watches, "the client never watched"
