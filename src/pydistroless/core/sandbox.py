"""Run foreign code walled off from the host: an image's interpreter, an sdist's build, CPython's.

Every run gets namespaces of its own, made by this module run as a program
(``python -m pydistroless.core.sandbox SPEC``), so that the building process never forks
itself:

- a **user namespace** whose root is an unprivileged host uid: :data:`SANDBOX_UID` when
  pydistroless runs as root (the mapping is written by the launcher, which is root; the
  sandbox's files on the host belong to that uid), the caller's own uid otherwise. Host root
  is never root inside, and nothing owned by host root is writable there;
- a **mount namespace** whose root is the given tree, entered with ``pivot_root`` (the host's
  root is detached, not hidden as ``chroot`` hides it), mounted **read-only**, with a fresh
  ``/tmp``, the four device nodes a build opens, its own ``/proc``, and only the named
  folders (:class:`Bind`) writable: what a build writes anywhere else fails, and a cached
  tree is never changed by what runs in it;
- an empty **network namespace** (everything a build needs is downloaded and hash-checked by
  the host first), its own PID, IPC and UTS namespaces;
- a **time limit**, after which the whole namespace is killed.

Where the kernel forbids user namespaces, a run is refused in one line, unless the user
asks for the weak mode (``$PYDISTROLESS_WEAK_SANDBOX=1``, ``--weak-sandbox``): the same
read-only root and folders, but as host root, with the host's network.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pydistroless.core import jail
from pydistroless.core.arch import host
from pydistroless.core.errors import BuildError, UsageError
from pydistroless.core.jail import SETUP_FAILED, SETUP_STATUS
from pydistroless.core.report import log as say

# What a build sees of the environment: nothing of the caller's, which could change the
# result (CFLAGS, LD_LIBRARY_PATH, a locale the tree lacks).
ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    "HOME": "/build",
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
    "SOURCE_DATE_EPOCH": "0",
}
# A CPython build with PGO takes tens of minutes on two cores: a run past this is stuck.
DEFAULT_TIMEOUT = 4 * 3600.0
WEAK_VAR = "PYDISTROLESS_WEAK_SANDBOX"
# Lines of a failed command's log shown on the terminal; the whole log stays where it is.
LOG_TAIL = 15


# Where a root's builds work: a folder beside the (read-only) root, seen inside at /build.
BUILD_DIR = "/build"


def workspace(root: Path) -> Path:
    """The writable folder that builds in ``root`` work in (bind it at :data:`BUILD_DIR`)."""
    folder = root.with_name(f"{root.name}.work")
    folder.mkdir(exist_ok=True)
    return folder


@dataclass(frozen=True)
class Bind:
    """A host folder seen inside the sandbox at ``target`` (an absolute path)."""

    source: Path
    target: str
    writable: bool = False


def command(
    root: Path,
    argv: Sequence[str],
    *,
    cwd: str = "/",
    binds: Sequence[Bind] = (),
    env: Mapping[str, str] = ENV,
) -> list[str]:
    """The host command that runs ``argv`` in a sandbox whose root is ``root``, at ``cwd``
    (a path inside it). ``argv[0]`` is looked up on ``env``'s ``PATH`` inside."""
    arch = host()
    spec = {
        "pivot_root": arch.pivot_root_syscall if arch is not None else 0,
        "root": str(root),
        "argv": list(argv),
        "cwd": cwd,
        "binds": [{**asdict(b), "source": str(b.source)} for b in binds],
        "env": dict(env),
        "weak": os.environ.get(WEAK_VAR, "") not in ("", "0"),
    }
    # The launcher is a script of the standard library alone: isolated from the environment
    # (-I) and from site-packages (-S), it starts in a few milliseconds.
    return [sys.executable, "-I", "-S", jail.__file__, json.dumps(spec)]


def run(
    root: Path,
    argv: Sequence[str],
    *,
    cwd: str,
    log: Path,
    binds: Sequence[Bind] = (),
    env: Mapping[str, str] = ENV,
    timeout: float = DEFAULT_TIMEOUT,
) -> int:
    """Run ``argv`` in the sandbox; its output, both streams, goes to ``log`` (appended).
    Returns its exit status; a sandbox that cannot be made is a :class:`UsageError`."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command(root, argv, cwd=cwd, binds=binds, env=env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BuildError(
                f"{argv[0]} ran past {timeout / 60:.0f} minutes in the sandbox and was "
                f"stopped; its log: {log}"
            ) from None
        finally:
            if proc.poll() is None:  # interrupted: the namespace dies with its launcher
                proc.kill()
                proc.wait()
    if code == SETUP_STATUS:
        check_setup(log.read_bytes().decode("utf-8", "replace"))
    return code


def check_setup(output: str) -> None:
    """Raise the one-line error for a sandbox that could not be made, if ``output`` (what a
    run printed) says so."""
    found = re.search(rf"^{re.escape(SETUP_FAILED)} (.*)$", output, re.MULTILINE)
    if found is None:
        return
    cause = found.group(1)
    if not cause.startswith("unshare("):
        raise BuildError(f"cannot make a sandbox for code from an image or a package: {cause}")
    raise UsageError(
        f"cannot make a sandbox for code from an image or a package: {cause}; "
        "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
        f"user.max_user_namespaces > 0), or pass --weak-sandbox ({WEAK_VAR}=1) to run it "
        "as root with only a read-only root around it (it could then reach the network, "
        "and the host if it escapes)"
    )


def show_failure(log: Path) -> str:
    """Print the last :data:`LOG_TAIL` lines of a failed command's ``log`` (each as ``  | ...``),
    and give the line that says why, for the one-line error: the compiler's first error, else
    the last line that says something."""
    lines = log.read_bytes().decode("utf-8", "replace").splitlines()
    for line in lines[-LOG_TAIL:]:
        say(f"  | {line}")
    last = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
    return (first_error(lines) or last)[:200]


def first_error(lines: Sequence[str]) -> str | None:
    """The first line of a build's output that says what went wrong (:data:`_CAUSE`), not
    the summary a front end ends with ("See above for details"), stripped."""
    for line in lines:
        text = line.strip()
        if _CAUSE.search(text) and not _FRONT_END.search(text):
            return text
    return None


# A compiler's or linker's own error line ("x.c:3:10: fatal error: lber.h: No such file",
# "ld: cannot find -lpq"), a build script's ("Error: pg_config executable not found.",
# setuptools' "error: command 'gcc' failed") or the last line of a Python traceback
# ("ModuleNotFoundError: No module named 'numpy'"). Build front ends (pip, make) end their
# logs with a summary instead.
_CAUSE = re.compile(
    r"^\S+?:(?:\d+:){1,2} (?:fatal )?error: |^\S*ld(?:\.\w+)?: cannot find |(?:^|: )fatal error: "
    r"|^(?:error|Error): \S|^[\w.]*(?:Error|Exception): \S"
)
# pip's own error lines: a code word ("error: subprocess-exited-with-error") or "ERROR: ...".
_FRONT_END = re.compile(r"^error: [a-z]+(?:-[a-z]+)+$|^ERROR: ")


def read_result(folder: Path, relative: str) -> bytes | None:
    """The bytes of the regular file ``relative`` under ``folder``, a folder a sandbox could
    write: None when it is missing, and never what a link planted there points to (a link
    to ``/etc/shadow`` in place of a ``.pyc`` must not put the host's file into an image)."""
    parts = relative.split("/")
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                return None
            os.close(fd)
            fd = inner
        try:
            leaf = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        except OSError:
            return None
        with os.fdopen(leaf, "rb") as stream:
            if not stat.S_ISREG(os.fstat(leaf).st_mode):
                return None
            return stream.read()
    finally:
        os.close(fd)
