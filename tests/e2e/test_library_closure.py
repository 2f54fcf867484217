"""The library closure to a fixed point, in real images run by docker as 65532 on a read-only
root: a package added for an app, or asked for by name, brings every library it loads, also
one the base slimmed away, and a library whose package has an irregular name is found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_app_examples import loaded, ok
from tests.fixtures.tools import need_network, pydistroless
from tests.unit.test_elf import lib
from tests.unit.test_recipes import make_wheel, wheel_entry, write_pylock

pytestmark = [pytest.mark.network, pytest.mark.docker]

# libpq5 -> libgssapi-krb5-2 -> libkrb5-3, which needs glibc's libresolv.so.2: a library the
# standard base leaves out, as nothing in it loads libresolv.
LIBPQ_VERSION = "import ctypes; print('libpq', ctypes.CDLL('libpq.so.5').PQlibVersion())"


def run(docker_engine, *args: str) -> str:
    """``docker run`` of ``args`` (options, the image, its arguments) as 65532 on a
    read-only root without a network."""
    return docker_engine(
        "run", "--rm", "--network", "none", "--read-only", "--user", "65532", *args
    ).stdout.strip()  # fmt: skip


def test_an_app_package_brings_the_libraries_the_base_slimmed_away(
    tmp_path: Path, docker_engine
) -> None:
    need_network()
    project = tmp_path / "pq"
    project.mkdir()
    (project / "requirements.txt").write_text("")
    (project / "main.py").write_text(LIBPQ_VERSION + "\n")
    tag = "e2e-closure-pq:1"
    result = pydistroless("app", project, "-o", tmp_path / "pq.tar", "--tag", tag,
                          "--package", "libpq5")  # fmt: skip
    ok(result)
    assert "added libpq5 (--package)" in result.stderr
    assert "put back libresolv.so.2 of the base's libc6 for libkrb5-3" in result.stderr
    with loaded(docker_engine, tmp_path / "pq.tar", tag):
        assert run(docker_engine, tag).startswith("libpq 1")
        status = run(docker_engine, "--entrypoint", "/usr/bin/python3", tag, "-c",
                     "print(open('/var/lib/dpkg/status.d/libc6.md5sums').read())")  # fmt: skip
        assert "libresolv.so.2" in status


def test_a_package_asked_for_in_the_base_keeps_its_libraries(tmp_path: Path, docker_engine) -> None:
    need_network()
    tag = "e2e-closure-base-pq:1"
    ok(pydistroless("build", "--package", "libpq5", "-o", tmp_path / "b.tar", "--tag", tag))
    document = json.loads((tmp_path / "b.amd64.spdx.json").read_text())
    assert "libpq5" in {p["name"] for p in document["packages"]}
    with loaded(docker_engine, tmp_path / "b.tar", tag):
        assert run(docker_engine, tag, "-c", LIBPQ_VERSION).startswith("libpq 1")


def test_a_library_of_an_irregularly_named_package_is_found(tmp_path: Path, docker_engine) -> None:
    """libglib-2.0.so.0 is in libglib2.0-0t64, a name Debian's library naming does not give;
    the Contents index (or, where the mirror's copy is not the signed one, that copy checked
    against the package's own files) does."""
    need_network()
    project = tmp_path / "gcheck"
    extension = lib(None, "libglib-2.0.so.0")
    wheel = make_wheel(project / "wheels", "gcheck", "1.0", "py3-none-manylinux_2_17_x86_64",
                       extra={"gcheck/_glib.so": extension})  # fmt: skip
    write_pylock(project, [wheel_entry("gcheck", "1.0", wheel, project)])
    # The extension module is a bare ELF header (it names its library, it has no code): the
    # program loads the library it names and calls it.
    (project / "main.py").write_text(
        "import ctypes\n"
        "glib = ctypes.CDLL('libglib-2.0.so.0')\n"
        "glib.glib_check_version.restype = ctypes.c_char_p\n"
        "print('glib ok' if glib.glib_check_version(2, 0, 0) is None else 'too old')\n"
    )
    tag = "e2e-closure-glib:1"
    result = pydistroless("app", project, "-o", tmp_path / "g.tar", "--tag", tag)
    ok(result)
    assert "added libglib2.0-0t64 for gcheck (libglib-2.0.so.0)" in result.stderr
    with loaded(docker_engine, tmp_path / "g.tar", tag):
        assert run(docker_engine, tag) == "glib ok"


def test_a_library_no_package_ships_is_named_with_its_user(tmp_path: Path) -> None:
    need_network()
    project = tmp_path / "ghost"
    wheel = make_wheel(project / "wheels", "ghost", "1.0", "py3-none-manylinux_2_17_x86_64",
                       extra={"ghost/_x.so": lib(None, "libnowhere-to-be-found.so.7")})  # fmt: skip
    write_pylock(project, [wheel_entry("ghost", "1.0", wheel, project)])
    (project / "main.py").write_text("import ghost\n")
    result = pydistroless("app", project, "-o", tmp_path / "x.tar")
    assert result.returncode == 8, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("pydistroless: error: no Debian package of trixie ships "
                                "libnowhere-to-be-found.so.7, which ghost needs")  # fmt: skip
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.tar").exists()
