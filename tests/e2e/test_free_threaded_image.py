"""Free-threaded CPython 3.13 (``--python 3.13.15t``) compiled from source on trixie, in a real
docker engine.

It is compiled without PGO and LTO, as in ``test_python_source.py``, and cached: one
module-scoped lock and build are checked from every side. Without the GIL, two threads running
pure Python take two cores: the same job is timed with one thread and with two in one
container run, and the ratio is asserted, not a time. The debug and builder variants come
from the same compile. An app on the base gets numpy's cp313t wheel, and msgpack's sdist is
compiled for cp313t in the builder image; a pin with no such wheel and no sdist ends in one
line.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.test_app_examples import loaded
from tests.e2e.test_base_image import STDLIB_CHECK, STDLIB_MODULES
from tests.fixtures.tools import (
    assert_clean_failure,
    describe,
    machine,
    need_network,
    pydistroless,
    syft_artifacts,
)

if TYPE_CHECKING:
    from conftest import Engine

pytestmark = [pytest.mark.network, pytest.mark.docker]

VERSION = "3.13.15"  # the one upstream tarball this machine's mirror serves
QUICK = ("--no-python-optimizations", "--accept-expired-release")
TAG = "pydistroless/python:3.13t-upstream-debian13"  # the default tag: no --tag given
FULL_TAG = "pydistroless/python:3.13.15t-upstream-debian13"
NONROOT = "65532"

# What the interpreter says of itself, and how many cores two threads of a CPU-bound
# pure-Python job keep busy at once: the process's CPU time over the wall time of the run.
# Under a GIL one thread runs Python at a time, so that ratio stays at 1 however long it is
# measured; without it, two threads on two cores approach 2. Other work on the machine only
# lowers it for a while, so short rounds are measured until one shows the two cores (or a
# minute passes): the best round decides, which a GIL can never pass.
FREE_THREADED_CHECK = r"""
import json, os, os.path as osp, shutil, sys, sysconfig, threading, time

def job(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total

def cores_busy(threads, n):
    workers = [threading.Thread(target=job, args=(n,)) for _ in range(threads)]
    wall, cpu = time.perf_counter(), time.process_time()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)

job(100_000)  # warm up
one = max(cores_busy(1, 600_000) for _ in range(5))
two, rounds = 0.0, 0
deadline = time.monotonic() + float(sys.argv[1])
while two < 1.6 and time.monotonic() < deadline:
    two, rounds = max(two, cores_busy(2, 600_000)), rounds + 1
print(json.dumps({
    "gil": sys._is_gil_enabled(),
    "Py_GIL_DISABLED": sysconfig.get_config_var("Py_GIL_DISABLED"),
    "abiflags": sys.abiflags,
    "executable": sys.executable,
    # One file under every name (python3.13 and python3.13t, hard-linked), links to it.
    "same": [osp.samefile(shutil.which(n), sys.executable)
             for n in ("python", "python3", "python3.13", "python3.13t")],
    "cache_tag": sys.implementation.cache_tag,
    "os": os.__file__,
    "json": json.__file__,
    "stdlib": sysconfig.get_path("stdlib"),
    "purelib": sysconfig.get_path("purelib"),
    "tests": osp.exists(osp.join(sysconfig.get_path("stdlib"), "test")),
    "idlelib": osp.exists(osp.join(sysconfig.get_path("stdlib"), "idlelib")),
    "uid": os.getuid(),
    "cpus": os.cpu_count(),
    "one": one,
    "two": two,
    "rounds": rounds,
}))
"""


@contextlib.contextmanager
def _loaded(engine: Engine, tar: Path, tag: str) -> Iterator[None]:
    """``tar`` loaded for the block, and both its tags (3.13t-..., 3.13.15t-...) removed after."""
    with loaded(engine, tar, tag):
        try:
            yield
        finally:
            engine.remove_images(tag.replace(":3.13t-", f":{VERSION}t-"))


@dataclass(frozen=True)
class Built:
    lock: dict
    lock_path: Path
    tar: Path
    stderr: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    need_network()
    out = tmp_path_factory.mktemp("free-threaded")
    made = pydistroless("lock", "--python", f"{VERSION}t", *QUICK, "-o", out / "python.lock")
    assert made.returncode == 0, describe(made)
    result = pydistroless(
        "build", "--lock", out / "python.lock", "--accept-expired-release",
        "--output", out / "img.tar",
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    lock = json.loads((out / "python.lock").read_text())
    return Built(lock, out / "python.lock", out / "img.tar", made.stderr + result.stderr)


@pytest.fixture(scope="module")
def image(built: Built, docker_engine: Engine) -> Iterator[str]:
    docker_engine("load", "-i", str(built.tar))
    yield TAG
    docker_engine.remove_images(TAG, FULL_TAG)


def test_the_lock_and_the_tags_say_t(built: Built):
    assert re.search(
        rf"Python {VERSION}t: compiling upstream CPython from source \(Debian's Python has no "
        r"free-threaded build\)",
        built.stderr,
    ), built.stderr
    (arch,) = built.lock["archs"]
    assert arch["python"] == "3.13t" and arch["python-package-version"] == VERSION
    assert arch["python-source"]["free_threaded"] is True
    assert arch["python-source"]["optimize"] is False
    assert f"built {TAG} in " in built.stderr


def test_no_gil_and_two_threads_take_two_cores_as_nonroot_on_a_read_only_root(
    image: str, docker_engine: Engine
):
    with machine(alone=True):  # no build of the other test worker's beside it
        result = docker_engine(
            "run", "--rm", "--network", "none", "--read-only", "--user", NONROOT, image,
            "-c", FREE_THREADED_CHECK, "60",
        )  # fmt: skip
    said = json.loads(result.stdout)
    assert said["gil"] is False and said["Py_GIL_DISABLED"] == 1, said
    assert said["abiflags"] == "t" and said["uid"] == 65532, said
    assert said["executable"] == "/usr/local/bin/python3.13t", said
    assert said["same"] == [True, True, True, True], said
    # The stdlib is sourceless .pyc (compiled when the image was made, cpython-313 as the
    # GIL build's), in lib/python3.13t, without its test package and IDLE.
    assert said["cache_tag"] == "cpython-313", said
    assert said["os"] == "/usr/local/lib/python3.13t/os.py", said  # frozen, kept as a file
    assert said["json"] == "/usr/local/lib/python3.13t/json/__init__.pyc", said
    assert said["purelib"] == "/usr/local/lib/python3.13t/site-packages", said
    assert not said["tests"] and not said["idlelib"], said
    assert said["cpus"] >= 2, said
    # Two threads kept more than one core busy at once: no GIL serialised them. (A round
    # lasts over 100 ms, and the kernel's count of the other thread's time may lag by one
    # tick, 4 ms: a GIL stays under 1.05 by this measure.)
    assert said["one"] < 1.1 and said["two"] > 1.2, (
        f"two threads kept {said['two']:.2f} cores busy at best in {said['rounds']} rounds "
        f"(one thread {said['one']:.2f})"
    )
    # The same measure with the GIL turned back on (-X gil=1) stays at one core: what it
    # counts is the interpreter's, not the machine's.
    again = docker_engine(
        "run", "--rm", "--network", "none", "--read-only", "--user", NONROOT, image,
        "-X", "gil=1", "-c", FREE_THREADED_CHECK, "3",
    )  # fmt: skip
    with_gil = json.loads(again.stdout)
    assert with_gil["gil"] is True and with_gil["two"] < 1.1, with_gil


def test_the_standard_library_works(image: str, docker_engine: Engine):
    result = docker_engine(
        "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp", image,
        "-c", STDLIB_CHECK,
        check=False,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    ok = {line.split()[1] for line in lines if line.startswith("OK ")}
    failed = [line for line in lines if line.startswith("FAIL ")]
    assert not failed and ok == STDLIB_MODULES, describe(result)
    config = json.loads(docker_engine("image", "inspect", image).stdout)[0]["Config"]
    assert config["Entrypoint"] == ["/usr/local/bin/python3.13t"]
    labels = config["Labels"]
    assert labels["dev.pydistroless.python.abi"] == "cp313t"
    assert labels["dev.pydistroless.python.interpreter"] == "/usr/local/bin/python3.13t"
    assert labels["dev.pydistroless.python.version"] == VERSION
    printed = docker_engine.run(image, "-VV").stdout
    assert printed.startswith(f"Python {VERSION} ") and "free-threading build" in printed


def test_outdated_proposes_the_newer_free_threaded_release(built: Built):
    result = pydistroless("outdated", built.lock_path, "--accept-expired-release")
    match = re.search(
        rf"python 3\.13t: {VERSION}t here, (3\.13\.\d+)t upstream \((sid|forky) Sources; "
        r"compiled from source: rebuild with --python \1t\)",
        result.stdout,
    )
    assert match, describe(result)
    assert tuple(map(int, match.group(1).split("."))) > (3, 13, 15)
    assert result.returncode == 1, describe(result)
    # The image says the same, from its labels (cp313t).
    of_image = pydistroless("outdated", built.tar, "--accept-expired-release", "--json")
    python = json.loads(of_image.stdout)["python"]
    assert python["free_threaded"] is True and python["installed"] == VERSION, of_image.stdout
    assert python["newest"] == match.group(1) and python["behind"] is True


def test_the_debug_variant_has_a_shell_and_the_same_python(
    built: Built, tmp_path: Path, docker_engine: Engine
):
    tar = tmp_path / "debug.tar"
    result = pydistroless("build", "--python", f"{VERSION}t", *QUICK, "--variant", "debug",
                          "--output", tar)  # fmt: skip
    assert result.returncode == 0, describe(result)
    assert "compiling CPython" not in result.stderr  # the base's compile, from the cache
    tag = "pydistroless/python:3.13t-upstream-debian13-debug"
    with _loaded(docker_engine, tar, tag):
        printed = docker_engine(
            "run", "--rm", "--network", "none", "--read-only", "--entrypoint", "/busybox/sh",
            tag, "-c", "python3 -c 'import sys; print(sys._is_gil_enabled(), sys.abiflags)'",
        ).stdout  # fmt: skip
        assert printed == "False t\n"


# ---- an app on it ---------------------------------------------------------------------------


def _project(folder: Path, requirement: str, main: str) -> Path:
    folder.mkdir()
    (folder / "requirements.txt").write_text(requirement + "\n")
    (folder / "main.py").write_text(main)
    return folder


NUMPY_MAIN = r"""
import importlib.util, json, os, sys, threading
import numpy as np

results = [None, None]
def part(k):
    a = np.arange(1, 1_000_001, dtype=np.int64)
    results[k] = int((a * a % 1_000_003).sum())
threads = [threading.Thread(target=part, args=(k,)) for k in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"gil": sys._is_gil_enabled(), "numpy": np.__version__,
                  "file": np.__file__, "results": results,
                  "pyc": os.path.exists(importlib.util.cache_from_source(np.__file__))}))
"""


def test_an_app_gets_numpys_cp313t_wheel(built: Built, tmp_path: Path, docker_engine: Engine):
    project = _project(tmp_path / "numbers", "numpy==2.3.5", NUMPY_MAIN)
    tag = "e2e-free-threaded-numpy:1"
    result = pydistroless(
        "app", project, "--python", f"{VERSION}t", *QUICK, "-o", tmp_path / "app.tar",
        "--tag", tag,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    assert "(cp313t, glibc 2.41, " in result.stderr, result.stderr
    with loaded(docker_engine, tmp_path / "app.tar", tag):
        out = docker_engine(
            "run", "--rm", "--network", "none", "--read-only", "--user", NONROOT, tag
        ).stdout  # fmt: skip
        said = json.loads(out)
        expected = sum(i * i % 1_000_003 for i in range(1, 1_000_001))
        assert said["gil"] is False and said["numpy"] == "2.3.5", said
        # numpy's extension modules did not turn the GIL back on: they say they need none.
        assert said["results"] == [expected, expected], said
        assert said["file"] == "/usr/local/lib/python3.13t/site-packages/numpy/__init__.py"
        assert said["pyc"] is True, said  # compiled by the image's interpreter, cpython-313
        wheel = docker_engine(
            "run", "--rm", "--network", "none", "--entrypoint", "/usr/local/bin/python3.13t",
            tag, "-c",
            "import importlib.metadata as m; print(m.distribution('numpy').read_text('WHEEL'))",
        ).stdout  # fmt: skip
        assert re.search(r"^Tag: cp313-cp313t-manylinux", wheel, re.M), wheel


def test_a_pin_with_no_cp313t_wheel_and_no_sdist_is_refused(built: Built, tmp_path: Path):
    """psycopg-binary 3.2.3 publishes cp313 wheels and no source distribution."""
    project = _project(tmp_path / "pg", "psycopg-binary==3.2.3", "import psycopg_binary\n")
    result = pydistroless(
        "app", project, "--python", f"{VERSION}t", *QUICK, "-o", tmp_path / "app.tar"
    )  # fmt: skip
    assert_clean_failure(
        result, 6, "no wheel for Python 3.13.15 (cp313t, ", "psycopg-binary==3.2.3",
        "no source distribution", "pin versions that publish cp313t wheels, or drop "
        "free-threading",
    )  # fmt: skip
    assert not (tmp_path / "app.tar").exists()


MSGPACK_MAIN = r"""
import json, sys
import msgpack, msgpack._cmsgpack as compiled
data = msgpack.packb({"n": list(range(5))})
print(json.dumps({"gil": sys._is_gil_enabled(), "back": msgpack.unpackb(data),
                  "compiled": compiled.__file__}))
"""


def test_an_sdist_with_no_cp313t_wheel_is_compiled_in_the_free_threaded_builder(
    built: Built, tmp_path: Path, docker_engine: Engine
):
    """msgpack 1.2.4 publishes cp314t wheels and no cp313t one: its C extension is compiled
    from the sdist in the base's builder image, whose Python is free-threaded too."""
    project = _project(tmp_path / "packing", "msgpack==1.2.4", MSGPACK_MAIN)
    tag = "e2e-free-threaded-msgpack:1"
    result = pydistroless(
        "app", project, "--python", f"{VERSION}t", *QUICK, "-o", tmp_path / "app.tar",
        "--tag", tag,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    with loaded(docker_engine, tmp_path / "app.tar", tag):
        out = docker_engine(
            "run", "--rm", "--network", "none", "--read-only", "--user", NONROOT, tag
        ).stdout  # fmt: skip
        said = json.loads(out)
        assert said["gil"] is False and said["back"] == {"n": [0, 1, 2, 3, 4]}, said
        assert said["compiled"] == (
            "/usr/local/lib/python3.13t/site-packages/msgpack/"
            "_cmsgpack.cpython-313t-x86_64-linux-gnu.so"
        ), said
        # Compiled here (or kept from when it was): the index has no such wheel, and a
        # wheel built on a machine is tagged linux_<machine>, not manylinux.
        wheel = docker_engine(
            "run", "--rm", "--network", "none", "--entrypoint", "/usr/local/bin/python3.13t",
            tag, "-c",
            "import importlib.metadata as m; print(m.distribution('msgpack').read_text('WHEEL'))",
        ).stdout  # fmt: skip
        assert re.search(r"^Tag: cp313-cp313t-linux_x86_64$", wheel, re.M), wheel


SPAM_C = r"""
#include <Python.h>
static PyObject *twice(PyObject *self, PyObject *arg) { return PyNumber_Add(arg, arg); }
static PyMethodDef methods[] = {{"twice", twice, METH_O, ""}, {NULL}};
static PyModuleDef_Slot slots[] = {
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "spam", NULL, 0, methods, slots};
PyMODINIT_FUNC PyInit_spam(void) { return PyModuleDef_Init(&module); }
"""

BUILD_SPAM = r"""
set -e
cp -r /src /tmp/spam && cd /tmp/spam
python -m venv --system-site-packages /tmp/venv
/tmp/venv/bin/pip wheel --no-deps --no-build-isolation --no-index -q -w /tmp/wheels .
/tmp/venv/bin/pip install --no-index -q /tmp/wheels/*.whl
ls /tmp/wheels
/tmp/venv/bin/python -c 'import spam, sys; print(spam.twice(21), sys._is_gil_enabled())'
command -v uv pip >/dev/null && echo tools
"""


def test_the_builder_variant_compiles_cp313t_extensions(
    built: Built, tmp_path: Path, docker_engine: Engine
):
    """A Dockerfile's build stage: a venv, pip, gcc and the free-threaded headers."""
    tar = tmp_path / "builder.tar"
    result = pydistroless("build", "--python", f"{VERSION}t", *QUICK, "--variant", "builder",
                          "--output", tar)  # fmt: skip
    assert result.returncode == 0, describe(result)
    source = tmp_path / "spam"
    source.mkdir()
    (source / "spam.c").write_text(SPAM_C)
    (source / "setup.py").write_text(
        "from setuptools import setup, Extension\n"
        'setup(name="spam", version="1.0", ext_modules=[Extension("spam", ["spam.c"])])\n'
    )
    tag = "pydistroless/python:3.13t-upstream-debian13-builder"
    with _loaded(docker_engine, tar, tag):
        printed = docker_engine(
            "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp:exec",
            "-v", f"{source}:/src:ro", "--entrypoint", "/bin/sh", tag, "-c", BUILD_SPAM,
        ).stdout  # fmt: skip
        assert printed.splitlines() == [
            "spam-1.0-cp313-cp313t-linux_x86_64.whl",
            "42 False",
            "tools",
        ], printed


def test_scanners_see_cpython_at_its_version(built: Built, image: str):
    """syft knows CPython by a file named python3.X holding its version: the free-threaded
    interpreter is one under that name too. Trivy reads the image's SBOM, which lists it."""
    found = syft_artifacts(f"docker:{image}")
    (python,) = [a for a in found if a["type"] == "binary" and a["name"] == "python"]
    assert python["version"] == VERSION
    assert python["purl"] == f"pkg:generic/python@{VERSION}"
    cpes = {c["cpe"] if isinstance(c, dict) else c for c in python["cpes"]}
    assert f"cpe:2.3:a:python:python:{VERSION}:*:*:*:*:*:*:*" in cpes
    document = json.loads(built.tar.with_name("img.amd64.spdx.json").read_text())
    (listed,) = [p for p in document["packages"] if p["name"] == "python"]
    assert listed["versionInfo"] == VERSION
