"""The standard library's sources stay reachable in the default image: its modules run from
sourceless .pyc files, and their sources, kept compressed in stdlib-sources.zip, reach
tracebacks, inspect and linecache through the loader. Checked the way users meet it: docker,
uid 65532, a read-only root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fixtures.tools import describe, need_network, pydistroless

if TYPE_CHECKING:
    from conftest import Engine

pytestmark = [pytest.mark.network, pytest.mark.docker]

TAG = "pydistroless-test/python:sources"
PLAIN_TAG = "pydistroless-test/python:sources-plain"
TESTS_TAG = "pydistroless-test/python:sources-tests"
BOOKWORM_TAG = "pydistroless-test/python:sources-bookworm"
USER = ("--user", "65532")

SOURCES_CHECK = r"""
import inspect, json, linecache, logging, sys
print(inspect.getsource(json.dumps).splitlines()[0])
code = json.dumps.__code__
print(linecache.getline(code.co_filename, code.co_firstlineno, json.__dict__).rstrip())
logging.basicConfig(stream=sys.stdout, format="%(message)s")
try:
    json.loads("x")
except ValueError:
    logging.exception("logged")
"""

# Every module of the standard library (packages walked), each imported or not: the set is
# compared between the default and the plain layout.
IMPORT_ALL = r"""
import importlib, pkgutil, sys
# Side effects (a browser, a poem), cut by default, or the test suite.
skip = {"antigravity", "this", "idlelib", "turtledemo", "tkinter", "turtle", "test"}
imported = set()
def visit(name):
    try:
        module = importlib.import_module(name)
    except BaseException:
        return
    imported.add(name)
    for info in pkgutil.iter_modules(getattr(module, "__path__", None) or []):
        if info.name != "__main__":  # running a package's __main__ is no import
            visit(f"{name}.{info.name}")
for name in sorted(sys.stdlib_module_names - skip):
    visit(name)
print("\n".join(sorted(imported)))
"""

# These open the stdlib's own files by path (open(dirname(linecache.__file__) + "/abc.py"))
# and call linecache.getline(path) without module globals, which only a stdlib made of plain
# .py files satisfies; they pass with --keep stdlib-sources.
PLAIN_FILES_ONLY = (
    "test.test_linecache.LineCacheTests.test_clearcache",
    "test.test_linecache.LineCacheTests.test_getline",
    "test.test_linecache.LineCacheTests.test_memoryerror",
)


def build_and_load(directory: Path, docker: Engine, tag: str, *args: str) -> str:
    need_network()
    directory.mkdir(parents=True, exist_ok=True)
    tar = directory / "img.tar"
    result = pydistroless("build", "--output", tar, "--tag", tag, *args, cwd=directory)
    assert result.returncode == 0, describe(result)
    docker("load", "-i", str(tar))
    return tag


def run(docker: Engine, *args: str):
    return docker("run", "--rm", "--network", "none", *args, check=False)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, docker_engine: Engine) -> Iterator[str]:
    yield build_and_load(tmp_path_factory.mktemp("sources"), docker_engine, TAG)
    docker_engine.remove_images(TAG)


def in_image(docker: Engine, image: str, *command: str):
    return run(docker, "--read-only", *USER, image, *command)


def test_python_starts_without_a_word(image: str, docker_engine: Engine):
    # getpath still finds its landmark (lib/python3.13/os.py), and the hook imports quietly.
    result = in_image(docker_engine, image, "-c", "pass")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), describe(result)


def test_a_traceback_through_the_stdlib_shows_its_source_lines(image: str, docker_engine: Engine):
    result = in_image(docker_engine, image, "-c", "import json; json.loads('x')")
    assert result.returncode == 1, describe(result)
    lines = [line.strip() for line in result.stderr.splitlines()]
    where = 'File "/usr/lib/python3.13/json/decoder.py", line '
    frames = [i for i, line in enumerate(lines) if line.startswith(where)]
    assert frames, describe(result)
    assert lines[frames[-1] + 1] == (
        'raise JSONDecodeError("Expecting value", s, err.value) from None'
    ), describe(result)


def test_inspect_linecache_and_logging_read_stdlib_sources(image: str, docker_engine: Engine):
    result = in_image(docker_engine, image, "-c", SOURCES_CHECK)
    assert result.returncode == 0, describe(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("def dumps(obj, *, skipkeys=False"), describe(result)
    assert lines[1].startswith("def dumps(obj, *, skipkeys=False"), describe(result)
    assert lines[2] == "logged"
    assert "    return _default_decoder.decode(s)" in lines, describe(result)


def test_every_module_that_imports_from_plain_files_imports_sourceless(
    image: str, docker_engine: Engine, tmp_path: Path
):
    plain = build_and_load(tmp_path, docker_engine, PLAIN_TAG, "--keep", "stdlib-sources")
    try:
        imported = {
            tag: in_image(docker_engine, tag, "-c", IMPORT_ALL).stdout.split()
            for tag in (image, plain)
        }
    finally:
        docker_engine.remove_images(PLAIN_TAG)
    sourceless, files = set(imported[image]), set(imported[plain])
    assert sourceless == files, (sorted(files - sourceless), sorted(sourceless - files))
    assert len(sourceless) > 500
    assert {"json.decoder", "asyncio.base_events", "venv"} <= sourceless


def test_cpython_source_tests_pass(tmp_path: Path, docker_engine: Engine):
    """CPython's own tests of linecache, inspect, contextlib and doctest (Debian ships them in
    libpython3.13-testsuite), run against the sourceless stdlib. The root is writable here:
    test_doctest's clean-up unlinks its .pyc in every sys.path directory and takes the
    read-only error for a failure."""
    tests = build_and_load(
        tmp_path,
        docker_engine,
        TESTS_TAG,
        "--keep",
        "test",
        "--package",
        "libpython3.13-testsuite",
    )
    try:
        ignored = [a for name in PLAIN_FILES_ONLY for a in ("--ignore", name)]
        result = run(
            docker_engine,
            *USER,
            "--tmpfs",
            "/tmp:exec",
            "--workdir",
            "/tmp",
            tests,
            "-m",
            "test",
            *ignored,
            "test_linecache",
            "test_inspect",
            "test_contextlib",
            "test_doctest",
        )
    finally:
        docker_engine.remove_images(TESTS_TAG)
    assert result.returncode == 0, describe(result)
    assert "Result: SUCCESS" in result.stdout, describe(result)
    assert re.search(r"Total test files: run=4/4\b", result.stdout), describe(result)


def test_bookworm_python_3_11_reads_stdlib_sources(tmp_path: Path, docker_engine: Engine):
    """Python 3.11 prints an uncaught exception in C, which opens files by name and so shows
    no source line for a sourceless module; the traceback module, logging and inspect do."""
    bookworm = build_and_load(tmp_path, docker_engine, BOOKWORM_TAG, "--suite", "bookworm")
    try:
        silent = in_image(docker_engine, bookworm, "-c", "pass")
        result = in_image(docker_engine, bookworm, "-c", SOURCES_CHECK)
    finally:
        docker_engine.remove_images(BOOKWORM_TAG)
    assert (silent.returncode, silent.stdout, silent.stderr) == (0, "", ""), describe(silent)
    assert result.returncode == 0, describe(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("def dumps(obj, *, skipkeys=False"), describe(result)
    assert any(
        line.startswith('  File "/usr/lib/python3.11/json/decoder.py", line ') for line in lines
    ), describe(result)
    assert "    return _default_decoder.decode(s)" in lines, describe(result)
