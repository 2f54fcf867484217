"""`pydistroless app` on projects as users bring them, through the CLI: applications with a
``[build-system]`` that are no package (poetry's ``package-mode = false``, uv's ``package =
false``, a hatchling project with no package folder, the config key), a project of one
script, and mistakes refused in one line before anything is downloaded.

The early errors run with an empty cache, an unreachable mirror and an unreachable proxy:
a check that came after a download would fail otherwise, and the cache is asserted untouched.
The builds use the real index and the shared cache, and run their images in docker as
uid 65532 on a read-only root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pydistroless.python.wheels import uv_binary
from tests.e2e.test_app_examples import EXAMPLES, detached, free_port, get, loaded, ok
from tests.fixtures.tools import (
    BUILD_TIMEOUT,
    assert_clean_failure,
    need_command,
    need_network,
    pydistroless,
)
from tests.unit.test_recipes import make_wheel

EXIT_USAGE, EXIT_OUTPUT, EXIT_BUILD = 2, 9, 16
UNREACHABLE = ("--mirror", "http://127.0.0.1:9/debian", "--security-mirror", "http://127.0.0.1:9/x")
NO_NETWORK = {
    name: "http://127.0.0.1:9"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")
}
# What `poetry init` writes into every project, package-mode or not.
POETRY_BUILD_SYSTEM = (
    '\n[build-system]\nrequires = ["poetry-core>=2.0.0,<3.0.0"]\n'
    'build-backend = "poetry.core.masonry.api"\n'
)
HATCHLING = '\n[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'


def project_of(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


# ---- mistakes, one line each, before any download ------------------------------------------


@pytest.fixture
def script(tmp_path: Path) -> Path:
    return project_of(tmp_path / "script", {"main.py": "print('hi')\n"})


def refused_early(tmp_path: Path, *args: str | Path, command: str = "app") -> str:
    """The error line of a run that must stop before any download; its cache stays empty."""
    cache = tmp_path / "cache"
    result = pydistroless(
        command, *args, *UNREACHABLE, "-o", tmp_path / "x.tar", cache_dir=cache, env=NO_NETWORK
    )
    line = assert_clean_failure(result, EXIT_USAGE)
    assert not cache.exists(), sorted(str(p) for p in cache.rglob("*"))
    assert not (tmp_path / "x.tar").exists()
    return line


def test_main_py_and_app_py_ask_which_one_before_any_download(tmp_path: Path) -> None:
    both = project_of(tmp_path / "both", {"main.py": "", "app.py": "", "requirements.txt": "six"})
    line = refused_early(tmp_path, both)
    assert "has both main.py and app.py" in line
    assert "--main main.py" in line and "--entrypoint" in line


def test_main_on_a_package_installed_from_its_wheel_is_refused_before_any_download(
    tmp_path: Path,
) -> None:
    """The wheel holds what the package's build puts in it, not the project's folder: a
    file of the folder to run would be missing, so --main is refused, naming the ways out."""
    package = project_of(
        tmp_path / "pkg",
        {
            "pyproject.toml": '[project]\nname = "pkg"\nversion = "1"\n' + HATCHLING,
            "pkg/__init__.py": "",
            "main.py": "print('hi')\n",
        },
    )
    line = refused_early(tmp_path, package, "--main", "main.py")
    assert "--main main.py" in line and "pkg is a package, installed from its wheel" in line
    assert "--no-install-project" in line and "--entrypoint" in line


def test_a_device_as_the_dependency_file_is_named(tmp_path: Path, script: Path) -> None:
    line = refused_early(tmp_path, script, "--requirements", os.devnull)
    assert f"--requirements {os.devnull} is a character device, not a dependency file" in line
    assert "leave --requirements out" in line


@pytest.mark.parametrize("command", ["app", "build"])
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--tag", "ok:é"), "a tag is up to 128 ASCII letters"),
        (("--tag", "BAD"), "'BAD' is not a valid image name"),
        (("--user", "６５５３２"), "--user '６５５３２' is not root, nonroot or a numeric UID"),
        (("--user", "٦٥٥٣٢"), "(ASCII digits 0-9, below 2^31)"),
    ],
    ids=["tag-accent", "tag-uppercase", "uid-fullwidth", "uid-arabic-indic"],
)
def test_a_tag_or_uid_docker_cannot_load_is_refused_before_any_download(
    tmp_path: Path, script: Path, command: str, args: tuple[str, ...], needle: str
) -> None:
    where = (script,) if command == "app" else ()
    assert needle in refused_early(tmp_path, *where, *args, command=command)


def test_a_docker_socket_closed_to_the_user_says_so_before_the_build(
    tmp_path: Path, script: Path
) -> None:
    """A socket this process may not open (it runs without the capability that lets root
    open any file, as a user outside the socket's group does): the docker CLI's own
    "permission denied" becomes the fix (the group, or sudo), not "start it"."""
    need_command("docker")
    setpriv = need_command("setpriv")
    closed = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(closed))
        closed.chmod(0)
        cache = tmp_path / "cache"
        env = {
            **os.environ,
            **NO_NETWORK,
            "DOCKER_HOST": f"unix://{closed}",
            "PYDISTROLESS_CACHE_DIR": str(cache),
        }
        env.pop("SOURCE_DATE_EPOCH", None)
        command = [
            setpriv, "--bounding-set=-all", sys.executable, "-m", "pydistroless.cli.main",
            "app", str(script), *UNREACHABLE, "-o", str(tmp_path / "x.tar"), "--load",
            "--engine", "docker",
        ]  # fmt: skip
        result = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=120, check=False
        )
    line = assert_clean_failure(result, EXIT_OUTPUT, "this user (uid 0) may not use")
    assert f"the docker daemon's socket {closed} (permission denied)" in line
    assert "add the user to the group" in line and "sudo" in line
    assert "start it" not in line
    assert not cache.exists()


# ---- projects that build ---------------------------------------------------------------------


def built(project: Path, tmp_path: Path, tag: str, *extra: str) -> subprocess.CompletedProcess:
    result = pydistroless("app", project, "-o", tmp_path / "app.tar", "--tag", tag, *extra)
    ok(result)
    return result


def runs(engine, tmp_path: Path, tag: str) -> str:
    """What the image prints, run as its user would: no network, read-only, uid 65532."""
    with loaded(engine, tmp_path / "app.tar", tag):
        return engine(
            "run", "--rm", "--network", "none", "--read-only", "--user", "65532", tag
        ).stdout


@pytest.mark.network
@pytest.mark.docker
def test_a_project_of_one_script_and_no_dependency_file(
    tmp_path: Path, script: Path, docker_engine
) -> None:
    need_network()
    built(script, tmp_path, "e2e-one-script:1")
    assert runs(docker_engine, tmp_path, "e2e-one-script:1") == "hi\n"


@pytest.mark.network
@pytest.mark.docker
def test_a_poetry_app_in_package_mode_false_with_a_build_system(
    tmp_path: Path, docker_engine
) -> None:
    """The flask-gunicorn example (its poetry.lock made by poetry) with the [build-system]
    `poetry init` writes: its dependencies, its files, gunicorn serving it."""
    need_network()
    project = tmp_path / "flask"
    shutil.copytree(EXAMPLES / "flask-gunicorn", project)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + POETRY_BUILD_SYSTEM)
    tag = "e2e-poetry-app:1"
    result = built(project, tmp_path, tag)
    assert "not installed ([tool.poetry] package-mode = false)" in result.stderr
    with loaded(docker_engine, tmp_path / "app.tar", tag):
        port = free_port()
        with detached(
            docker_engine, "e2e-poetry-app", "--network", "host", "--read-only",
            "--user", "65532", tag, "--bind", f"127.0.0.1:{port}",
        ):  # fmt: skip
            status, body = get(f"http://127.0.0.1:{port}/")
    assert status == 200 and "flask/gunicorn" in body


@pytest.mark.network
@pytest.mark.docker
def test_a_uv_project_with_package_false(tmp_path: Path, docker_engine) -> None:
    need_network()
    project = project_of(
        tmp_path / "uvapp",
        {
            "pyproject.toml": '[project]\nname = "uvapp"\nversion = "0.1.0"\n'
            'requires-python = ">=3.11"\ndependencies = ["six"]\n'
            f"{HATCHLING}\n[tool.uv]\npackage = false\n",
            "main.py": "import six\nprint('uvapp', six.__name__)\n",
        },
    )
    done = subprocess.run(
        [uv_binary(), "lock", "--quiet"], cwd=project, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 'source = { virtual = "." }' in (project / "uv.lock").read_text()
    result = built(project, tmp_path, "e2e-uv-app:1")
    assert "not installed ([tool.uv] package = false)" in result.stderr
    assert runs(docker_engine, tmp_path, "e2e-uv-app:1") == "uvapp six\n"


@pytest.mark.network
@pytest.mark.docker
@pytest.mark.parametrize("how", ["no-package-folder", "config-key", "flag"])
def test_a_hatchling_app_that_is_no_package(tmp_path: Path, docker_engine, how: str) -> None:
    """No folder named after the project (hatchling could build no wheel of it), or one that
    the config key or the flag says is not to be installed."""
    need_network()
    files = {
        "pyproject.toml": '[project]\nname = "hatch-app"\nversion = "0.1.0"\n'
        f'dependencies = ["six"]\n{HATCHLING}',
        "main.py": "import six, os\nprint('hatch', six.__name__, os.path.exists('main.py'))\n",
    }
    extra: tuple[str, ...] = ()
    if how != "no-package-folder":
        files["hatch_app/__init__.py"] = ""
    if how == "config-key":
        files["pyproject.toml"] += "\n[tool.pydistroless.app]\nno-install-project = true\n"
    if how == "flag":
        extra = ("--no-install-project",)
    project = project_of(tmp_path / "hatch", files)
    tag = f"e2e-hatch-{how}:1"
    result = built(project, tmp_path, tag, *extra)
    assert "the project is not installed" in result.stderr
    assert runs(docker_engine, tmp_path, tag) == "hatch six True\n"


CPP_EXTENSION = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sstream>
#include <string>

static PyObject *greet(PyObject *, PyObject *args) {
    const char *who;
    if (!PyArg_ParseTuple(args, "s", &who)) return nullptr;
    std::ostringstream out;
    out << "hello " << std::string(who) << " from C++";
    return PyUnicode_FromString(out.str().c_str());
}

static PyMethodDef methods[] = {{"greet", greet, METH_VARARGS, nullptr}, {}};
static PyModuleDef module = {PyModuleDef_HEAD_INIT, "_greet", nullptr, -1, methods};
PyMODINIT_FUNC PyInit__greet() { return PyModule_Create(&module); }
"""


@pytest.mark.network
@pytest.mark.docker
def test_the_projects_own_cpp_extension_gets_its_libraries(tmp_path: Path, docker_engine) -> None:
    """A package with its own C++ extension and no dependency file: its wheel, built in the
    builder image, loads libstdc++, which the base leaves out; the library step adds it for
    the project as it would for a dependency."""
    need_network()
    project = project_of(
        tmp_path / "cppgreet",
        {
            "pyproject.toml": '[project]\nname = "cppgreet"\nversion = "1.0"\n\n'
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n',
            "setup.py": "from setuptools import Extension, setup\n"
            "setup(packages=['cppgreet'], ext_modules=[Extension('cppgreet._greet', "
            "['src/greet.cpp'], language='c++')])\n",
            "src/greet.cpp": CPP_EXTENSION,
            "cppgreet/__init__.py": "from cppgreet._greet import greet\n",
            "cppgreet/__main__.py": "import cppgreet\nprint(cppgreet.greet('65532'))\n",
        },
    )
    result = built(project, tmp_path, "e2e-cpp-extension:1")  # runs python -m cppgreet
    assert "libstdc++6 for cppgreet (libstdc++.so.6)" in result.stderr, result.stderr
    assert runs(docker_engine, tmp_path, "e2e-cpp-extension:1") == "hello 65532 from C++\n"


@pytest.mark.network
def test_a_failed_build_of_the_project_names_it_and_the_flag(tmp_path: Path) -> None:
    """A setuptools project whose setup.py fails: the project's own build, one line, exit
    16 (not a dependency's or a malformed package's), naming --no-install-project; which
    then builds it."""
    need_network()
    project = project_of(
        tmp_path / "broken",
        {
            "pyproject.toml": '[project]\nname = "brokenpkg"\nversion = "1.0"\n\n'
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n',
            "setup.py": "raise SystemExit('this project is no package')\n",
            "main.py": "print('broken but running')\n",
            "requirements.txt": "",
        },
    )
    result = pydistroless("app", project, "-o", tmp_path / "app.tar", timeout=BUILD_TIMEOUT)
    line = assert_clean_failure(result, EXIT_BUILD, "building the project's own wheel (brokenpkg)")
    assert "--no-install-project" in line
    assert not (tmp_path / "app.tar").exists()
    ok(pydistroless("app", project, "-o", tmp_path / "app.tar", "--no-install-project"))


@pytest.mark.network
@pytest.mark.docker
def test_wheels_from_a_folder_the_requirements_name_relatively(
    tmp_path: Path, docker_engine
) -> None:
    """`--find-links ./dist` with `--no-index`, as pip reads it: relative to the requirements
    file, whatever folder the command is run from."""
    need_network()  # the base
    project = project_of(
        tmp_path / "local-wheels",
        {
            "requirements.txt": "--no-index\n--find-links ./dist\npdl-local==1.0\n",
            "main.py": "from pdl_local.origin import ORIGIN\nprint(ORIGIN)\n",
        },
    )
    extra = {"pdl_local/origin.py": b"ORIGIN = 'the project folder'\n"}
    make_wheel(project / "dist", "pdl_local", "1.0", extra=extra)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = pydistroless(
        "app", project, "-o", tmp_path / "app.tar", "--tag", "e2e-local-wheels:1", cwd=elsewhere
    )
    ok(result)
    assert runs(docker_engine, tmp_path, "e2e-local-wheels:1") == "the project folder\n"
