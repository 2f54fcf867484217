"""Fixtures for tests that drive real container tools: docker, podman, skopeo, umoci.

A missing or broken tool fails the test with a message saying what to install or start; it is
never skipped, so a machine without the tools cannot pass by running nothing. To leave the
engines out on purpose, deselect them by marker: ``pytest -m "not docker and not podman"``
(``skopeo`` and ``umoci`` mark the tests of those tools).

No test here pulls from a registry: every image is built locally, and containers run with
``--network none``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from tests.fixtures.tools import machine

# How the daemon is started when it is not running (CI, a fresh machine): no iptables and no
# bridge, since containers in these tests have no network anyway.
DOCKERD_ARGS = (
    "--iptables=false",
    "--ip6tables=false",
    "--bridge=none",
    "-H",
    "unix:///var/run/docker.sock",
)
DOCKERD_START_TIMEOUT = 60


def pytest_configure(config: pytest.Config) -> None:
    # docker and podman are registered for the whole project; these two only matter here.
    config.addinivalue_line("markers", "skopeo: needs skopeo")
    config.addinivalue_line("markers", "umoci: needs umoci")


def require_tool(name: str, package: str) -> str:
    """The path of ``name``, or a failed test saying which Debian package provides it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: apt-get install {package} "
            f"(or deselect these tests with -m 'not {name}')",
            pytrace=False,
        )
    return path


@dataclass(frozen=True)
class Engine:
    """A container engine CLI with the options this machine needs."""

    name: str
    global_args: tuple[str, ...] = ()
    run_args: tuple[str, ...] = ()

    def argv(self, *args: str) -> list[str]:
        return [self.name, *self.global_args, *args]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        with machine(alone=False):
            result = subprocess.run(
                self.argv(*args),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(self.argv(*args))} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}",
                pytrace=False,
            )
        return result

    def run(
        self, image: str, *command: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a throwaway container without network."""
        return self(
            "run", "--rm", "--network", "none", *self.run_args, image, *command, check=check
        )

    def remove_images(self, *references: str) -> None:
        for reference in references:
            self("rmi", "-f", reference, check=False)


def _docker_answers() -> bool:
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


@contextlib.contextmanager
def _start_lock() -> Iterator[None]:
    # pytest-xdist workers share one daemon: only one of them may try to start it.
    with open(Path(tempfile.gettempdir()) / "pydistroless-dockerd.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _start_dockerd(log_path: Path) -> subprocess.Popen[bytes]:
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.fail(
            "docker is installed but its daemon is not running, and dockerd is not there to "
            "start it: apt-get install docker.io (or deselect with -m 'not docker')",
            pytrace=False,
        )
    if os.geteuid() != 0:
        pytest.fail(
            "the docker daemon is not running and only root can start it here: start it "
            "(sudo dockerd ...) or deselect with -m 'not docker'",
            pytrace=False,
        )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [dockerd, *DOCKERD_ARGS],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + DOCKERD_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"dockerd exited with {process.returncode} while starting; its log is "
                f"{log_path}:\n{log_path.read_text(errors='replace')[-2000:]}",
                pytrace=False,
            )
        if _docker_answers():
            return process
        time.sleep(0.5)
    process.terminate()
    pytest.fail(
        f"dockerd did not answer within {DOCKERD_START_TIMEOUT} s; see {log_path}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A docker CLI whose daemon answers, starting the daemon when it is not running.

    A daemon this fixture started is stopped at the end of the session, unless other
    pytest-xdist workers may still be using it.
    """
    require_tool("docker", "docker.io")
    started: subprocess.Popen[bytes] | None = None
    with _start_lock():
        if not _docker_answers():
            log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
            started = _start_dockerd(log)
    yield Engine("docker")
    if started is not None and "PYTEST_XDIST_WORKER" not in os.environ:
        started.terminate()
        try:
            started.wait(timeout=30)
        except subprocess.TimeoutExpired:
            started.kill()
            started.wait()


@pytest.fixture(scope="session")
def podman() -> Engine:
    """podman as root in a container-like sandbox: runc as the runtime, and resource limits
    small enough for runc to apply inside this machine's own limits."""
    require_tool("podman", "podman")
    runtime: tuple[str, ...] = ()
    if shutil.which("runc") is not None:
        runtime = ("--runtime", "runc")
    engine = Engine(
        "podman",
        global_args=runtime,
        run_args=("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"),
    )
    info = engine("info", "--format", "{{.Store.GraphDriverName}}", check=False)
    if info.returncode != 0:
        pytest.fail(f"podman does not work here: {info.stderr.strip()}", pytrace=False)
    return engine


@pytest.fixture(scope="session")
def skopeo() -> str:
    return require_tool("skopeo", "skopeo")


@pytest.fixture(scope="session")
def umoci() -> str:
    return require_tool("umoci", "umoci")


@pytest.fixture(scope="session")
def static_busybox() -> bytes:
    """A statically linked busybox for this machine: a whole runnable image in one file."""
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        path = Path(candidate)
        if path.is_file() and _is_static(path):
            return path.read_bytes()
    pytest.fail("no static busybox at /bin/busybox: apt-get install busybox-static", pytrace=False)


def _is_static(path: Path) -> bool:
    with open(path, "rb") as f:
        try:
            elf = ELFFile(f)
        except ELFError:
            return False
        return not any(seg["p_type"] == "PT_INTERP" for seg in elf.iter_segments())
