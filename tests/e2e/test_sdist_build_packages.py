"""Source distributions that compile against a system library, built by ``pydistroless app``.

psycopg2 needs libpq's headers and ``pg_config``, python-ldap OpenLDAP's and Cyrus SASL's: the
builder gets the -dev packages of Debian's own source package of each (found in the signed
Sources index of the base's suite), and ``--build-package`` / ``build-packages`` add others.
The psycopg2 image talks to a real PostgreSQL, a throwaway cluster started here as a non-root
user. Each sdist is compiled once (its wheel kept in the cache), and a build that fails is one
line with the compiler's first error and the path of the kept log.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pydistroless.core.arch import host_arch
from pydistroless.fs.elf import multiarch_triplet
from tests.fixtures.tools import (
    assert_clean_failure,
    describe,
    missing,
    need_network,
    pydistroless,
    seeded_cache,
    shared_cache_dir,
)

if TYPE_CHECKING:
    from conftest import Engine

pytestmark = [pytest.mark.network, pytest.mark.docker]

SITE = "/usr/local/lib/python3.13/dist-packages"
TRIPLET = multiarch_triplet(host_arch())  # x86_64-linux-gnu
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
COMPILED_PSYCOPG2 = "compiling psycopg2-2.9.10.tar.gz in the builder image"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres(argv: list[str]) -> list[str]:
    """``argv`` as the postgres user when we are root (PostgreSQL refuses to run as root)."""
    if os.getuid() != 0:
        return argv
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        missing("no postgres user to run a throwaway PostgreSQL as: apt-get install postgresql")
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free port of 127.0.0.1; its libpq DSN."""
    if not (POSTGRES_BIN / "initdb").is_file():
        missing(f"PostgreSQL 15 is not installed ({POSTGRES_BIN}): apt-get install postgresql-15")
    # Not under pytest's folders, which the postgres user may not enter.
    home = Path(tempfile.mkdtemp(prefix="pydistroless-e2e-postgres-"))
    if os.getuid() == 0:
        shutil.chown(home, "postgres")
    port = _free_port()
    data = home / "data"
    init = subprocess.run(
        _as_postgres([str(POSTGRES_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "app"]),
        capture_output=True, text=True, timeout=120, check=False, cwd=home,
    )  # fmt: skip
    assert init.returncode == 0, describe(init)
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
    start = subprocess.run(
        _as_postgres([str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-o", options,
                      "-l", str(home / "log"), "-w", "start"]),
        capture_output=True, text=True, timeout=120, check=False, cwd=home,
    )  # fmt: skip
    assert start.returncode == 0, describe(start)
    try:
        yield f"host=127.0.0.1 port={port} user=app dbname=postgres"
    finally:
        subprocess.run(
            _as_postgres([str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True, timeout=120, check=False, cwd=home,
        )  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


def _project(folder: Path, requirements: str, main: str, pyproject: str = "") -> Path:
    folder.mkdir(parents=True)
    (folder / "requirements.txt").write_text(requirements)
    (folder / "main.py").write_text(main)
    if pyproject:
        (folder / "pyproject.toml").write_text(pyproject)
    return folder


def _run(
    docker_engine: Engine, tar: Path, tag: str, *args: str, network: str = "none"
) -> subprocess.CompletedProcess[str]:
    docker_engine("load", "-i", str(tar))
    try:
        return docker_engine(
            "run", "--rm", "--network", network, "--read-only", "--user", "65532", *args, tag,
            check=False,
        )  # fmt: skip
    finally:
        docker_engine.remove_images(tag)


PSYCOPG2_MAIN = """\
import os, psycopg2, psycopg2._psycopg as c
with psycopg2.connect(os.environ["DSN"]) as conn, conn.cursor() as cur:
    cur.execute("select 40 + 2, current_setting('server_version_num')::int >= 150000")
    print(c.__file__, *cur.fetchone())
"""


def test_psycopg2_compiles_against_debians_libpq_once_and_talks_to_postgresql(
    tmp_path: Path, docker_engine: Engine, postgres: str
):
    """In a cache of its own (the downloads of the shared one, none of its records), so that
    its builds are seen: psycopg2 is compiled once, for its metadata and its wheel alike, and
    never again for a change that is not its own."""
    need_network()
    cache = seeded_cache(tmp_path / "cache")
    project = _project(tmp_path / "pg", "psycopg2==2.9.10\n", PSYCOPG2_MAIN)
    tag = "e2e-psycopg2:1"
    first = pydistroless("app", project, "-o", tmp_path / "pg.tar", "--tag", tag, cache_dir=cache)
    assert first.returncode == 0, describe(first)
    assert "build packages from Debian's psycopg2 " in first.stderr, describe(first)
    assert "libpq-dev perl-base" in first.stderr, describe(first)
    assert first.stderr.count(COMPILED_PSYCOPG2) == 1, describe(first)
    ran = _run(docker_engine, tmp_path / "pg.tar", tag, "-e", f"DSN={postgres}", network="host")
    # cp313 (the host's Python is not 3.13): compiled in the builder image; and it reached
    # the server.
    assert ran.returncode == 0, describe(ran)
    assert ran.stdout.split() == [
        f"{SITE}/psycopg2/_psycopg.cpython-313-{TRIPLET}.so",
        "42",
        "True",
    ], describe(ran)

    # Another entrypoint, tag or environment is not another build of psycopg2.
    second = pydistroless(
        "app", project, "-o", tmp_path / "pg2.tar", "--tag", "e2e-psycopg2:2", "--env", "A=1",
        "--entrypoint", "/usr/bin/python3.13 -u /app/main.py", cache_dir=cache,
    )  # fmt: skip
    assert second.returncode == 0, describe(second)
    assert COMPILED_PSYCOPG2 not in second.stderr, describe(second)
    # Nor is another set of dependencies (new layers): its wheel comes from the cache.
    (project / "requirements.txt").write_text("psycopg2==2.9.10\nsix==1.17.0\n")
    third = pydistroless("app", project, "-o", tmp_path / "pg3.tar", cache_dir=cache)
    assert third.returncode == 0, describe(third)
    assert COMPILED_PSYCOPG2 not in third.stderr, describe(third)
    assert (
        "psycopg2-2.9.10.tar.gz: its wheel psycopg2-2.9.10-cp313-cp313-linux_x86_64.whl from "
        "the cache, not compiled again"
    ) in third.stderr, describe(third)


def test_python_ldap_compiles_with_ldap_and_sasl(tmp_path: Path, docker_engine: Engine):
    need_network()
    main = (
        "import ldap, _ldap\n"
        "print(ldap.__version__, _ldap.__file__, ldap.SASL_AVAIL, ldap.TLS_AVAIL)\n"
    )
    project = _project(tmp_path / "ldap", "python-ldap==3.4.4\n", main)
    tag = "e2e-python-ldap:1"
    built = pydistroless("app", project, "-o", tmp_path / "ldap.tar", "--tag", tag)
    assert built.returncode == 0, describe(built)
    # Once at most (none when an earlier run's wheel is in the cache), though uv needed
    # its metadata before the build.
    assert built.stderr.count("compiling python-ldap-3.4.4.tar.gz in") <= 1, describe(built)
    ran = _run(docker_engine, tmp_path / "ldap.tar", tag)
    assert ran.stdout.split() == [
        "3.4.4",
        f"{SITE}/_ldap.cpython-313-{TRIPLET}.so",
        "1",
        "1",
    ], describe(ran)


def _sdist(folder: Path, name: str, c_source: str, libraries: tuple[str, ...] = ()) -> Path:
    """A local sdist ``name`` 1.0 with a C extension ``name._c`` of ``c_source``."""
    top = folder / "src" / f"{name}-1.0"
    (top / name).mkdir(parents=True)
    (top / name / "__init__.py").write_text("")
    (top / name / "c.c").write_text(c_source)
    (top / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (top / "setup.py").write_text(
        "from setuptools import Extension, setup\n"
        f"setup(name={name!r}, version='1.0', packages=[{name!r}], ext_modules=[\n"
        f"    Extension('{name}._c', ['{name}/c.c'], libraries={list(libraries)!r})])\n"
    )
    dist = folder / "dist"
    dist.mkdir()
    with tarfile.open(dist / f"{name}-1.0.tar.gz", "w:gz") as archive:
        archive.add(top, arcname=top.name)
    return dist


def test_an_sdist_that_does_not_compile_is_one_line_with_its_kept_log(tmp_path: Path):
    need_network()
    source = "#include <Python.h>\n#include <no_such_header_pdl.h>\n"
    dist = _sdist(tmp_path, "pdlbadext", source)
    requirements = f"--find-links {dist}\n--no-index\npdlbadext==1.0\n"
    project = _project(tmp_path / "bad", requirements, "import pdlbadext\n")
    result = pydistroless("app", project, "-o", tmp_path / "bad.tar")
    line = assert_clean_failure(
        result,
        6,
        "compiling pdlbadext-1.0.tar.gz in the builder image failed (exit 1): "
        "pdlbadext/c.c:2:10: fatal error: no_such_header_pdl.h: No such file or directory "
        "(whole log: ",
        "--build-package NAME",
    )
    kept = Path(line.split("(whole log: ", 1)[1].split(")", 1)[0])
    assert kept.parent == shared_cache_dir() / "sdists" / "logs"
    assert "fatal error: no_such_header_pdl.h" in kept.read_text()
    kept.unlink()


YAML_EXT = """\
#include <Python.h>
#include <yaml.h>
static PyObject *version(PyObject *self, PyObject *args) {
    return PyUnicode_FromString(yaml_get_version_string());
}
static PyMethodDef methods[] = {{"version", version, METH_NOARGS, ""}, {0}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_c", "", -1, methods};
PyMODINIT_FUNC PyInit__c(void) { return PyModule_Create(&module); }
"""


def _pure_wheel(dist: Path, name: str) -> None:
    """A pure-Python wheel ``name`` 1.0 in ``dist``."""
    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": "",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(dist / f"{name}-1.0-py3-none-any.whl", "w") as archive:
        for path, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(path, text)


def test_build_packages_by_hand_from_the_flag_or_the_config(tmp_path: Path, docker_engine: Engine):
    """An sdist Debian does not package, which needs libyaml's headers: --build-package
    adds them, and [tool.pydistroless.app] build-packages is the same build (its wheel
    comes from the cache); libyaml itself comes into the image with the library closure."""
    need_network()
    cache = seeded_cache(tmp_path / "cache")
    dist = _sdist(tmp_path, "pdlyamlext", YAML_EXT, libraries=("yaml",))
    _pure_wheel(dist, "pdlpure")
    requirements = f"--find-links {dist}\n--no-index\npdlyamlext==1.0\n"
    main = "import pdlyamlext._c as c\nprint(c.__file__, c.version())\n"
    project = _project(tmp_path / "yaml", requirements, main)
    tag = "e2e-yaml-ext:1"
    flag = pydistroless(
        "app", project, "-o", tmp_path / "y.tar", "--tag", tag,
        "--build-package", "libyaml-dev", cache_dir=cache,
    )  # fmt: skip
    assert flag.returncode == 0, describe(flag)
    assert "note: no Debian source package builds python3-pdlyamlext" in flag.stderr
    assert "pdlyamlext-1.0.tar.gz: build packages libyaml-dev" in flag.stderr
    ran = _run(docker_engine, tmp_path / "y.tar", tag)
    path, version = ran.stdout.split()
    assert path == f"{SITE}/pdlyamlext/_c.cpython-313-{TRIPLET}.so", describe(ran)
    assert version.startswith("0."), describe(ran)

    # The same build packages from the config, and one more dependency (new layers).
    (project / "pyproject.toml").write_text(
        '[tool.pydistroless.app]\nbuild-packages = ["libyaml-dev"]\n'
    )
    (project / "requirements.txt").write_text(requirements + "pdlpure==1.0\n")
    config = pydistroless("app", project, "-o", tmp_path / "y2.tar", cache_dir=cache)
    assert config.returncode == 0, describe(config)
    assert "compiling pdlyamlext" not in config.stderr, describe(config)
    assert (
        "pdlyamlext-1.0.tar.gz: its wheel pdlyamlext-1.0-cp313-cp313-linux_x86_64.whl from "
        "the cache" in config.stderr
    ), describe(config)
