"""Upstream CPython cross-compiled for the architecture this host cannot run.

This host has no qemu-user registered with binfmt_misc, so the build cannot run the target's
code: the builder tree is Debian's cross toolchain beside the target's libraries and headers,
and the same release built for the host runs the build's own steps. The image is then started
the one way this host can, the interpreter under qemu-user with the image as its root
(``qemu-aarch64-static -L``), and put through the stdlib sweep.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from pydistroless.core.arch import architecture, host_arch
from pydistroless.python import cpython
from tests.e2e.test_app_examples import unpack
from tests.e2e.test_base_image import STDLIB_CHECK, STDLIB_MODULES
from tests.e2e.test_python_source import EXTRA_CHECK, QUICK, VERSION, _status
from tests.fixtures.tools import describe, need_network, pydistroless, shared_cache_dir

pytestmark = [pytest.mark.network]

TARGET = "arm64" if host_arch() == "amd64" else "amd64"
QEMU = {"arm64": "qemu-aarch64-static", "amd64": "qemu-x86_64-static"}[TARGET]


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_network()
    assert not cpython.runnable(TARGET), f"this host runs {TARGET} code: not a cross build"
    out = tmp_path_factory.mktemp("cross")
    made = pydistroless("lock", "--python", VERSION, "--arch", TARGET, *QUICK, "-o", out / "l")
    assert made.returncode == 0, describe(made)
    return out / "l"


@pytest.fixture(scope="module")
def rootfs(locked: Path) -> Path:
    out = locked.parent
    result = pydistroless(
        "build", "--lock", locked, "--accept-expired-release", "--output", out / "img.tar"
    )
    assert result.returncode == 0, describe(result)
    unpack(out / "img.tar", out / "rootfs")
    return out / "rootfs"


def test_the_lock_pins_the_cross_tree_and_the_hosts(locked: Path, rootfs: Path):
    arch = json.loads(locked.read_text())["archs"][0]
    gnu_type = architecture(TARGET).gnu_type
    cross = {(p["name"], p["architecture"]) for p in arch["builder"]}
    assert {(f"gcc-{gnu_type}", host_arch()), ("libssl-dev", TARGET)} <= cross
    assert ("libssl-dev", host_arch()) in cross  # the build Python's, beside the target's
    native = {(p["name"], p["architecture"]) for p in arch["host-builder"]}
    assert ("gcc-14", host_arch()) in native and not any(a == TARGET for _, a in native)
    # Nothing of the build is left in the cross tree (its copy of the build Python included).
    for folder in (shared_cache_dir() / "builders").glob(f"*-{TARGET}-on-{host_arch()}/build"):
        assert not list(folder.iterdir()), f"{folder} keeps a build's files"


def test_every_elf_file_is_built_for_the_target(rootfs: Path):
    machines: dict[str, str] = {}
    for path in rootfs.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.read_bytes()[:4] == b"\x7fELF":
            with path.open("rb") as stream:
                machines[str(path.relative_to(rootfs))] = ELFFile(stream)["e_machine"]
    assert "usr/local/bin/python3.13" in machines
    assert any("/lib-dynload/_ssl." in p for p in machines), sorted(machines)[:20]
    assert set(machines.values()) == {architecture(TARGET).machine}


def test_the_standard_library_works_under_qemu(rootfs: Path):
    qemu = shutil.which(QEMU)
    assert qemu, f"{QEMU} is not installed (scripts/test installs qemu-user-static)"
    # Under `qemu -L` the interpreter's path is the host's path to it: the version check
    # looks at the version and the prefix's name only.
    version = EXTRA_CHECK.split("def t_version")[0] + (
        "def t_version():\n"
        f"    assert sys.version.startswith('{VERSION} '), sys.version\n"
        "    assert sys.prefix.endswith('/usr/local'), sys.prefix\n"
    )
    script = STDLIB_CHECK.replace(
        "for name, func in list(globals().items()):",
        version + "\nfor name, func in list(globals().items()):",
    )
    result = subprocess.run(
        [qemu, "-L", str(rootfs), str(rootfs / "usr/local/bin/python3.13"), "-c", script],
        capture_output=True, text=True, timeout=600, check=False, cwd=rootfs,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    ok = {line.split()[1] for line in lines if line.startswith("OK ")}
    failed = [line for line in lines if line.startswith("FAIL ")]
    extra = {"readline", "dbm", "multiprocessing", "version"}
    assert not failed and ok == STDLIB_MODULES | extra, describe(result)


def test_the_libraries_it_loads_are_the_targets_packages_in_status_d(rootfs: Path):
    versions, owners = _status(rootfs)
    libdir = rootfs / "usr/lib" / architecture(TARGET).triplet
    for name in ("libssl.so.3", "libsqlite3.so.0", "libffi.so.8", "libc.so.6"):
        real = "/" + str((libdir / name).resolve().relative_to(rootfs.resolve()))
        assert owners.get(real) in versions, f"{name} ({real}) is no package's in status.d"


def test_an_app_on_the_cross_compiled_base_runs_under_qemu(rootfs: Path, tmp_path: Path):
    qemu = shutil.which(QEMU)
    assert qemu, f"{QEMU} is not installed (scripts/test installs qemu-user-static)"
    project = Path(__file__).parents[2] / "examples" / "hello-world"
    result = pydistroless(
        "app", project, "--python", VERSION, "--arch", TARGET, *QUICK,
        "-o", tmp_path / "app.tar",
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    app_root = tmp_path / "rootfs"
    unpack(tmp_path / "app.tar", app_root)
    # Byte-compiled by the host's build of the same release, as the stdlib was.
    assert (app_root / "app/__pycache__/hello.cpython-313.pyc").is_file()
    ran = subprocess.run(
        [qemu, "-L", str(app_root), str(app_root / "usr/local/bin/python3.13"), "/app/hello.py"],
        capture_output=True, text=True, timeout=300, check=False, cwd=app_root / "app",
    )  # fmt: skip
    assert ran.returncode == 0 and ran.stdout == "hello there\n", describe(ran)
