"""The sandbox that code from images and packages runs in, run for real: an unprivileged
host uid, a read-only root entered with pivot_root, only the named folders writable, no
network, nothing of the host visible, a time limit.

The root is a folder holding a static busybox (Debian's busybox-static, which
`scripts/test` installs): a whole system in one file.
"""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from pydistroless.core import jail, sandbox
from pydistroless.core.errors import BuildError, UsageError
from pydistroless.python import bytecode

BUSYBOX = Path("/bin/busybox")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    if not BUSYBOX.is_file():
        pytest.fail("no /bin/busybox: apt-get install busybox-static", pytrace=False)
    tree = tmp_path / "root"
    (tree / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, tree / "bin" / "busybox")
    (tree / "bin" / "sh").symlink_to("busybox")
    (tree / "etc").mkdir()
    (tree / "etc" / "greeting").write_text("hello\n")
    for name in jail.MOUNT_POINTS:  # as the roots pydistroless makes have them
        (tree / name).mkdir()
    return tree


def run(root: Path, script: str, tmp_path: Path, **options) -> tuple[int, str]:
    log = tmp_path / "run.log"
    log.write_bytes(b"")
    env = {"PATH": "/bin"}
    code = sandbox.run(
        root, ["/bin/busybox", "sh", "-c", script], cwd="/", log=log, env=env, **options
    )
    return code, log.read_text()


def digest_of(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_root_inside_is_an_unprivileged_uid_outside(root: Path, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    code, said = run(
        root,
        "id -u; echo made > /out/file",
        tmp_path,
        binds=[sandbox.Bind(out, "/out", writable=True)],
    )
    assert (code, said.split()) == (0, ["0"])
    owner = (out / "file").stat().st_uid
    expected = jail.SANDBOX_UID if os.geteuid() == 0 else os.geteuid()
    assert owner == expected and owner != 0


def test_the_root_is_read_only_and_the_tree_unchanged(root: Path, tmp_path: Path):
    before = digest_of(root)
    _, said = run(
        root, "echo x > /etc/greeting; echo y > /new; rm /bin/sh; echo tmp > /tmp/ok", tmp_path
    )
    assert said.count("Read-only file system") == 3, said
    assert digest_of(root) == before
    assert (root / "etc" / "greeting").read_text() == "hello\n"


def test_a_folder_not_marked_writable_is_read_only(root: Path, tmp_path: Path):
    given = tmp_path / "given"
    given.mkdir()
    (given / "input").write_text("data\n")
    _, said = run(
        root,
        "cat /in/input; echo x > /in/input",
        tmp_path,
        binds=[sandbox.Bind(given, "/in")],
    )
    assert "data" in said and "Read-only file system" in said
    assert (given / "input").read_text() == "data\n"


def test_nothing_of_the_host_is_visible(root: Path, tmp_path: Path):
    marker = tmp_path / "host-file"
    marker.write_text("s3cr3t\n")
    script = f"cat {marker}; ls /tmp | wc -l; ls /proc/1/root/ | wc -l; cat /proc/1/cmdline"
    _, said = run(root, script, tmp_path)
    assert "s3cr3t" not in said
    assert "No such file" in said
    # A fresh /tmp; PID 1 is the command itself (the shell runs its last command in its
    # place), and its root is the sandbox's, not the host's.
    lines = said.splitlines()
    assert lines[1].strip() == "0"
    assert lines[2].strip() == str(len(list(root.iterdir())))
    assert lines[-1].startswith("cat\x00/proc/1/cmdline")


def test_there_is_no_network(root: Path, tmp_path: Path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not accepted:
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    waiter = threading.Thread(target=accept)
    waiter.start()
    try:
        _, said = run(root, f"echo hi | nc -w 2 127.0.0.1 {port}; echo nc=$?", tmp_path)
    finally:
        waiter.join()
        server.close()
    assert accepted == [], "the host's server was reached from the sandbox"
    assert "nc=1" in said, said


def test_a_run_past_its_time_limit_is_stopped(root: Path, tmp_path: Path):
    started = time.monotonic()
    with pytest.raises(BuildError, match="in the sandbox and was stopped"):
        run(root, "sleep 60", tmp_path, timeout=1)
    assert time.monotonic() - started < 10


def test_a_hostile_compiler_cannot_write_on_the_host(root: Path, tmp_path: Path):
    """The image's interpreter compiles bytecode in the sandbox: one that writes a file on
    the host (a hostile base image's) writes nothing there."""
    marker = tmp_path / "written-by-the-image"
    work = tmp_path / "work"
    work.mkdir()
    hostile = bytecode._Compiler(
        ("/bin/busybox", "sh", "-c", f"echo pwned > {marker}; echo 0", "compiler"),
        "a hostile base's interpreter",
        root,
    )
    assert bytecode._run(hostile, work, ["a.py"]) == 0
    assert not marker.exists()


def test_results_are_read_without_following_links(tmp_path: Path):
    out = tmp_path / "out"
    (out / "pkg").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text("host file")
    (out / "pkg" / "a.pyc").symlink_to(secret)
    (out / "linked").symlink_to(tmp_path)
    (out / "pkg" / "b.pyc").write_bytes(b"real")
    assert sandbox.read_result(out, "pkg/a.pyc") is None
    assert sandbox.read_result(out, "linked/secret") is None
    assert sandbox.read_result(out, "pkg/missing.pyc") is None
    assert sandbox.read_result(out, "pkg/b.pyc") == b"real"


def test_a_host_without_user_namespaces_gets_one_line_that_names_the_way_out():
    said = f"some output\n{jail.SETUP_FAILED} unshare(user): Operation not permitted\n"
    with pytest.raises(UsageError) as caught:
        sandbox.check_setup(said)
    line = str(caught.value)
    assert "Operation not permitted" in line and sandbox.WEAK_VAR in line
    assert "\n" not in line
    sandbox.check_setup("a build that failed for its own reasons\n")  # no error from this


def test_the_launcher_is_a_script_of_the_standard_library():
    """Run isolated, with no site-packages: it must import nothing of the package."""
    argv = sandbox.command(Path("/cache/root"), ["make", "-j2"], cwd="/build/src")
    assert argv[:4] == [sys.executable, "-I", "-S", jail.__file__]
    imported = {
        node.names[0].name.split(".")[0] if isinstance(node, ast.Import) else node.module
        for node in ast.walk(ast.parse(Path(jail.__file__).read_text()))
        if isinstance(node, (ast.Import, ast.ImportFrom))
    }
    assert not any(name and name.startswith("pydistroless") for name in imported), imported


def test_two_sandboxes_on_one_fresh_root_start_together(tmp_path: Path):
    """The two compilers of a build start at the same moment on a root just unpacked: the
    mount point of their folder may be made by the other between a look and a mkdir."""
    bind = {"source": str(tmp_path), "target": "/work/deep", "writable": False}
    for attempt in range(30):
        fresh = tmp_path / f"root-{attempt}"
        fresh.mkdir()
        start = threading.Barrier(8)
        failures: list[BaseException] = []

        def prepare(
            root: Path = fresh,
            barrier: threading.Barrier = start,
            failed: list[BaseException] = failures,
        ) -> None:
            barrier.wait()
            try:
                jail._prepare_root(str(root), [bind], None)
            except BaseException as exc:
                failed.append(exc)

        threads = [threading.Thread(target=prepare) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert (fresh / "work" / "deep").is_dir()


def test_a_mount_point_that_leads_out_through_a_link_is_refused(root: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "work").symlink_to(outside)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(BuildError, match="leads out of the sandbox's root through a link"):
        run(root, "true", tmp_path, binds=[sandbox.Bind(work, "/work/deep", writable=True)])
    assert list(outside.iterdir()) == []


def test_a_writable_folder_is_given_over_while_another_sandbox_writes_in_it(tmp_path: Path):
    """The two compilers of a build share one folder: the second's launcher gives it to the
    sandbox's uid while the first already writes there, each .pyc to a temporary that it then
    renames. A file that is gone by the time its turn comes is no longer there to give."""
    work = tmp_path / "work"
    pycache = work / "pkg" / "__pycache__"
    pycache.mkdir(parents=True)
    stop = threading.Event()

    def compile_forever() -> None:
        number = 0
        while not stop.is_set():
            temp = pycache / f"m{number % 50}.cpython-313.pyc.{number}"
            temp.write_bytes(b"pyc")
            time.sleep(0.0001)  # writing a real one takes a moment
            os.replace(temp, pycache / f"m{number % 50}.cpython-313.pyc")
            number += 1

    writer = threading.Thread(target=compile_forever)
    writer.start()
    try:
        for _ in range(300):
            jail._own(str(work), os.getuid())
    finally:
        stop.set()
        writer.join()


def test_a_folder_swapped_for_a_link_is_not_followed_when_given_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """What runs in the sandbox owns its folder, so it can swap a subfolder for a link to a
    host folder while the launcher of another sandbox walks it, after the walk has listed the
    folder and before it goes in: nothing out there changes owner."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "sub" / "own-file").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "host-file").write_text("x")
    os.chown(outside / "host-file", 4242, 4242)
    swapped = []
    real_scandir = os.scandir

    class Listing:
        """The folder's entries as they were listed, handed over after the swap."""

        def __init__(self, entries: list[os.DirEntry]) -> None:
            self.entries = iter(entries)

        def __enter__(self) -> Listing:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def __iter__(self) -> Listing:
            return self

        def __next__(self) -> os.DirEntry:
            return next(self.entries)

    def list_then_swap(folder):
        with real_scandir(folder) as entries:
            listed = list(entries)
        if not swapped:  # the walk has listed work/ and has yet to go into sub/
            os.rename(work / "sub", tmp_path / "moved")
            os.symlink(outside, work / "sub")
            swapped.append(True)
        return Listing(listed)

    monkeypatch.setattr(jail.os, "scandir", list_then_swap)
    jail._own(str(work), 4343)
    assert swapped
    assert (outside / "host-file").stat().st_uid == 4242
    assert outside.stat().st_uid == os.getuid()
    assert (work / "sub").is_symlink() and work.stat().st_uid == 4343
