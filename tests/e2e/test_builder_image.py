"""The builder variant: the first stage of a multi-stage Dockerfile, in a real docker engine.

It has Debian's Python with its headers, gcc, busybox as /bin/sh, bash and perl, pip, uv,
poetry and pipenv, and, like python:X-slim as a build stage, runs as root in /, installs with
pip without --break-system-packages, and makes venvs with pip in them; a venv made in it runs
in the base. It compiles the C extension of a source distribution that publishes no wheel
(crcmod 1.7, downloaded on the host: containers here have no network).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pydistroless.core.arch import host_arch
from pydistroless.fs.elf import multiarch_triplet
from tests.fixtures.tools import assert_clean_failure, describe, need_network, pydistroless

if TYPE_CHECKING:
    from conftest import Engine

pytestmark = [pytest.mark.network, pytest.mark.docker]

TAG = "pydistroless-test/python:builder"
SDIST = "crcmod-1.7.tar.gz"  # sdist only on the index, with an optional C extension
TRIPLET = multiarch_triplet(host_arch())  # x86_64-linux-gnu


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, docker_engine: Engine) -> Iterator[str]:
    need_network()
    out = tmp_path_factory.mktemp("builder")
    result = pydistroless("build", "--variant", "builder", "--output", out / "b.tar", "--tag", TAG)
    assert result.returncode == 0, describe(result)
    docker_engine("load", "-i", str(out / "b.tar"))
    yield TAG
    docker_engine.remove_images(TAG)


@contextlib.contextmanager
def dockerfile_built(
    docker_engine: Engine, context: Path, dockerfile: str, tag: str
) -> Iterator[str]:
    """``dockerfile`` built by docker in ``context`` (no network) as ``tag``, for the
    block; the tag is removed after."""
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    try:
        docker_engine("build", "--network", "none", "-q", "-t", tag, str(context), timeout=600)
        yield tag
    finally:
        docker_engine.remove_images(tag)


@pytest.fixture(scope="module")
def sdists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sdists")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "crcmod==1.7", "--no-binary", ":all:",
         "--no-deps", "--dest", str(folder), "--quiet"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and (folder / SDIST).is_file(), done.stderr
    folder.chmod(0o755)  # read by the container's nonroot user
    (folder / SDIST).chmod(0o644)
    return folder


def test_the_tools_are_there_and_it_runs_as_root_in_the_root(image: str, docker_engine: Engine):
    script = (
        "id -u; pwd; for t in gcc make pkg-config pip uv poetry pipenv; do command -v $t; done; "
        "ls /usr/include/python3.13/Python.h /usr/include/openssl/ssl.h"
    )
    result = docker_engine(
        "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image, "-c", script
    )
    lines = result.stdout.split()
    assert lines[:2] == ["0", "/"]
    assert lines[2:] == [
        "/usr/bin/gcc", "/usr/bin/make", "/usr/bin/pkg-config", "/usr/local/bin/pip",
        "/usr/local/bin/uv", "/usr/local/bin/poetry", "/usr/local/bin/pipenv",
        "/usr/include/openssl/ssl.h", "/usr/include/python3.13/Python.h",
    ]  # fmt: skip
    version = docker_engine.run(image, "-m", "pip", "--version").stdout
    assert "python 3.13" in version


def test_its_own_scripts_run_and_check_passes(image: str, docker_engine: Engine, tmp_path: Path):
    """Debian's packages assume the Essential set: ldd is a bash script, binutils' and make's
    helpers are perl. `check` finds every script's interpreter, and a Dockerfile that sets
    `SHELL` to bash (hadolint's advice for pipes) runs ldd in it."""
    checked = pydistroless("check", f"docker-daemon:{image}")
    assert checked.returncode == 0, describe(checked)
    dockerfile = (
        f"FROM {image}\n"
        'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n'
        "RUN ldd /usr/bin/python3 | grep -c libc.so.6 > /libc-count"
        " && perl -e 'print qq(perl ok\\n)' > /perl-says\n"
    )
    tag = "pydistroless-test/builder-shell:1"
    with dockerfile_built(docker_engine, tmp_path / "context", dockerfile, tag):
        out = docker_engine(
            "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", tag,
            "-c", "cat /libc-count /perl-says",
        ).stdout.splitlines()  # fmt: skip
    assert out == ["1", "perl ok"]


def test_it_builds_a_c_extension_wheel_from_an_sdist(
    image: str, docker_engine: Engine, sdists: Path, tmp_path: Path
):
    out = tmp_path / "wheels"
    out.mkdir()
    out.chmod(0o777)  # the container writes as nonroot
    docker_engine(
        "run", "--rm", "--network", "none", "-v", f"{sdists}:/src:ro", "-v", f"{out}:/out",
        image, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", f"/src/{SDIST}",
        "--wheel-dir", "/out",
    )  # fmt: skip
    (wheel,) = out.glob("*.whl")
    assert wheel.name == f"crcmod-1.7-cp313-cp313-linux_{TRIPLET.split('-')[0]}.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("crcmod/_crcfunext.cpython-313-") for n in names), names
    # The extension loads in the image it was built for.
    check = docker_engine(
        "run", "--rm", "--network", "none", "-v", f"{out}:/out:ro", "--entrypoint", "/bin/sh",
        image, "-c",
        "pip install --quiet --no-index --target /tmp/t /out/*.whl && PYTHONPATH=/tmp/t "
        "python3 -c 'import zlib, crcmod._crcfunext as c, crcmod.predefined as p; "
        "print(c.__file__, p.mkCrcFun(\"crc-32\")(b\"abc\") == zlib.crc32(b\"abc\"))'",
    )  # fmt: skip
    assert "_crcfunext.cpython-313" in check.stdout and check.stdout.split()[-1] == "True"


def _app_prints(tmp_path: Path, docker_engine: Engine, requirement: str, main: str) -> list[str]:
    """What an app that needs ``requirement`` prints, running read-only in docker."""
    need_network()
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text(requirement + "\n")
    (project / "main.py").write_text(main)
    tag = "e2e-sdist-app:1"
    result = pydistroless("app", project, "-o", tmp_path / "app.tar", "--tag", tag)
    assert result.returncode == 0, describe(result)
    docker_engine("load", "-i", str(tmp_path / "app.tar"))
    try:
        return docker_engine("run", "--rm", "--network", "none", "--read-only", tag).stdout.split()
    finally:
        docker_engine.remove_images(tag)


def test_an_app_whose_dependency_has_only_an_sdist_gets_it_compiled_in_the_builder_image(
    tmp_path: Path, docker_engine: Engine, sdists: Path
):
    printed = _app_prints(
        tmp_path, docker_engine, "crcmod==1.7",
        "import zlib, crcmod._crcfunext as c, crcmod.predefined as p\n"
        "print(c.__file__, p.mkCrcFun('crc-32')(b'abc') == zlib.crc32(b'abc'))\n",
    )  # fmt: skip
    # The host's Python is not 3.13: the cp313 extension the container loads can only have
    # been compiled in the builder image (now, or in an earlier run the cache kept).
    assert printed == [
        f"/usr/local/lib/python3.13/dist-packages/crcmod/_crcfunext.cpython-313-{TRIPLET}.so",
        "True",
    ]
    # The SBOM names what was downloaded (the sdist, by its SHA256) and that it was built.
    document = json.loads((tmp_path / f"app.{host_arch()}.spdx.json").read_text())
    crcmod = next(p for p in document["packages"] if p["name"] == "crcmod")
    assert crcmod["sourceInfo"] == f"built from the source distribution {SDIST} and installed"
    assert (
        crcmod["checksums"][0]["checksumValue"]
        == hashlib.sha256((sdists / SDIST).read_bytes()).hexdigest()
    )


def test_an_sdist_that_builds_with_cython_gets_it_as_a_wheel_for_the_image(
    tmp_path: Path, docker_engine: Engine
):
    """datrie 0.8.3 publishes no wheel for Python 3.13 and declares Cython as a build
    requirement, which the builder image lacks: Cython comes as a wheel for the image's
    Python, downloaded on the host, into the build's isolated environment."""
    printed = _app_prints(
        tmp_path, docker_engine, "datrie==0.8.3",
        "import datrie, string\n"
        "trie = datrie.Trie(string.ascii_lowercase)\n"
        "trie['foo'] = 1\n"
        "print(datrie.__file__, trie.keys('f'))\n",
    )  # fmt: skip
    assert printed == [
        f"/usr/local/lib/python3.13/dist-packages/datrie.cpython-313-{TRIPLET}.so",
        "['foo']",
    ]


def test_the_lock_pins_the_tools_the_builder_image_gets(tmp_path: Path, docker_engine: Engine):
    need_network()
    lock = tmp_path / "builder.lock"
    made = pydistroless("lock", "--variant", "builder", "-o", lock)
    assert made.returncode == 0, describe(made)
    data = json.loads(lock.read_text())
    tools = data["archs"][0]["python-tools"]
    assert {"pip", "setuptools", "wheel", "uv", "poetry", "pipenv"} <= {
        line.split("==")[0] for line in tools
    }
    # An older pip, pinned by the SHA256 of the wheel the index serves: the image gets it.
    fetched = subprocess.run(
        [sys.executable, "-m", "pip", "download", "pip==25.0", "--no-deps", "--only-binary",
         ":all:", "--dest", str(tmp_path / "pip"), "--quiet"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    wheel = next((tmp_path / "pip").glob("pip-25.0-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    others = [line for line in tools if not line.startswith("pip==")]
    data["archs"][0]["python-tools"] = [*others, f"pip==25.0 --hash=sha256:{digest}"]
    lock.write_text(json.dumps(data))
    tag = "pydistroless-test/python:builder-locked"
    result = pydistroless(
        "build", "--lock", lock, "--variant", "builder", "--output", tmp_path / "b.tar",
        "--tag", tag,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    docker_engine("load", "-i", str(tmp_path / "b.tar"))
    try:
        printed = docker_engine(
            "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", tag, "-c",
            "pip --version",
        ).stdout  # fmt: skip
    finally:
        docker_engine.remove_images(tag)
    assert printed.startswith("pip 25.0 "), printed


def test_an_sdist_for_an_architecture_this_host_cannot_run_is_one_clear_error(tmp_path: Path):
    need_network()
    other = "arm64" if host_arch() == "amd64" else "amd64"
    project = tmp_path / "crc"
    project.mkdir()
    (project / "requirements.txt").write_text("crcmod==1.7\n")
    (project / "main.py").write_text("import crcmod\n")
    result = pydistroless("app", project, "--arch", other, "-o", tmp_path / "app.tar")
    assert_clean_failure(
        result, 2, "a source distribution must be compiled for", f"cannot run {other} code",
        "install qemu-user-static",
    )  # fmt: skip
    assert not (tmp_path / "app.tar").exists()


def test_pip_installs_and_a_venv_made_in_it_runs_in_the_base(
    image: str, docker_engine: Engine, tmp_path: Path
):
    """The multi-stage build users write: a venv made in the builder with pip, copied into
    the cc base of the same Python, run there as 65532 on a read-only root. Plain `pip install`
    works too (no PEP 668 marker). The wheel comes from the build context: builds here have
    no network."""
    need_network()
    base = "pydistroless-test/python:builder-base"
    # The README's example: the venv goes into the cc variant.
    built = pydistroless(
        "build", "--variant", "cc", "--output", tmp_path / "base.tar", "--tag", base
    )
    assert built.returncode == 0, describe(built)
    context = tmp_path / "context"
    fetched = subprocess.run(
        [sys.executable, "-m", "pip", "download", "six==1.17.0", "--no-deps", "--only-binary",
         ":all:", "--dest", str(context / "wheels"), "--quiet"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    (context / "Dockerfile").write_text(
        f"FROM {image} AS build\n"
        "COPY wheels /wheels\n"
        "RUN ! test -e /usr/lib/python3.13/EXTERNALLY-MANAGED\n"
        "RUN pip install --no-index --find-links /wheels six\n"
        "RUN python -m venv /venv && /venv/bin/pip install --no-index --find-links /wheels six\n"
        f"FROM {base}\n"
        "COPY --from=build /venv /venv\n"
        'ENTRYPOINT ["/venv/bin/python", "-c", '
        '"import six, sys; print(six.__version__, sys.prefix, sys.executable)"]\n'
    )
    tag = "pydistroless-test/venv-app:1"
    docker_engine("load", "-i", str(tmp_path / "base.tar"))
    try:
        docker_engine("build", "--network", "none", "-q", "-t", tag, str(context), timeout=600)
        out = docker_engine(
            "run", "--rm", "--network", "none", "--read-only", "--user", "65532", tag
        ).stdout.split()  # fmt: skip
        assert out == ["1.17.0", "/venv", "/venv/bin/python"]
        # `check` sees the venv whole in the base.
        saved = pydistroless("check", f"docker-daemon:{tag}")
        assert saved.returncode == 0, describe(saved)
    finally:
        docker_engine.remove_images(tag, base)


def test_a_venv_whose_python_lives_elsewhere_is_named_by_check(
    image: str, docker_engine: Engine, tmp_path: Path
):
    """A venv made by a Python in /usr/local (python:X-slim's, or a Python compiled from
    source) copied into a base whose Python is /usr/bin's: `check` names its pyvenv.cfg and
    its scripts, rather than the image failing when it starts."""
    dockerfile = (
        f"FROM {image}\n"
        "RUN python -m venv --without-pip /venv && "
        "sed -i 's|^home = .*|home = /usr/local/bin|' /venv/pyvenv.cfg && "
        "printf '#!/usr/local/bin/python3\\nprint(1)\\n' > /venv/bin/tool && "
        "chmod +x /venv/bin/tool\n"
    )
    tag = "pydistroless-test/moved-venv:1"
    with dockerfile_built(docker_engine, tmp_path / "context", dockerfile, tag):
        found = pydistroless("check", f"docker-daemon:{tag}")
    assert found.returncode == 8, describe(found)
    rows = {tuple(line.split(None, 1)) for line in found.stdout.splitlines()}
    missing = "runs /usr/local/bin/python3, which is not in the image"
    # exactly these: the builder's own scripts all find their interpreters
    assert rows == {("/venv/pyvenv.cfg", missing), ("/venv/bin/tool", missing)}, rows


def test_as_nonroot_its_home_is_its_own(docker_engine: Engine, tmp_path: Path):
    need_network()
    tag = "pydistroless-test/python:builder-nonroot"
    result = pydistroless("build", "--variant", "builder", "--user", "nonroot",
                          "--output", tmp_path / "b.tar", "--tag", tag)  # fmt: skip
    assert result.returncode == 0, describe(result)
    docker_engine("load", "-i", str(tmp_path / "b.tar"))
    try:
        out = docker_engine(
            "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", tag, "-c",
            "id -u; pwd; stat -c '%u %a' $HOME; mkdir $HOME/site && echo written",
        ).stdout.split()  # fmt: skip
        assert out == ["65532", "/", "65532", "700", "written"]
    finally:
        docker_engine.remove_images(tag)
