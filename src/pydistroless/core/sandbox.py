"""Run a command inside the builder tree, as if it were the whole system.

As root the tree becomes the command's root directory through ``chroot(2)``. Otherwise an
unprivileged user namespace (``unshare --user --map-root-user --mount``) gives the same
powers over the tree alone: inside it the device nodes are bind-mounted from the host, as
``mknod`` needs real root. No daemon, no image, nothing of the host but the kernel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from pydistroless.core.errors import UsageError
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
DEVICES = ("null", "zero", "random", "urandom")
# Lines of a failed command's log shown on the terminal; the whole log stays where it is.
LOG_TAIL = 15


def command(root: Path, argv: Sequence[str], *, cwd: str = "/") -> list[str]:
    """The host command that runs ``argv`` in ``root`` at ``cwd`` (a path inside it). The
    environment is emptied on the host's side, so the tree needs no ``env`` of its own."""
    clean = ["env", "-i", *(f"{k}={v}" for k, v in ENV.items())]
    if os.geteuid() == 0:
        return [*clean, "chroot", str(root), "/bin/sh", "-c", 'cd "$0" && exec "$@"', cwd, *argv]
    unshare = shutil.which("unshare")
    if unshare is None or not _user_namespaces():
        raise UsageError(
            "building CPython needs root (for chroot) or unprivileged user namespaces, and "
            "this host allows neither; run as root, or enable kernel.unprivileged_userns_clone"
        )
    binds = " && ".join(f'mount --bind /dev/{d} "$0/dev/{d}"' for d in DEVICES)
    script = f'{binds} && exec chroot "$0" /bin/sh -c \'cd "$0" && exec "$@"\' "$@"'
    return [*clean, unshare, "--user", "--map-root-user", "--mount", "sh", "-c", script,
            str(root), cwd, *argv]  # fmt: skip


def prepare(root: Path) -> None:
    """Make the mount points a user namespace binds the device nodes onto."""
    if os.geteuid() == 0:
        return
    for name in DEVICES:
        (root / "dev" / name).touch(exist_ok=True)


def run(root: Path, argv: Sequence[str], *, cwd: str, log: Path) -> int:
    """Run ``argv`` in ``root``; its output, both streams, goes to ``log`` (appended)."""
    prepare(root)
    with log.open("ab") as out:
        proc = subprocess.run(
            command(root, argv, cwd=cwd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return proc.returncode


# A compiler's or linker's own error line: "x.c:3:10: fatal error: lber.h: No such file",
# "ld: cannot find -lpq". Build front ends (pip, make) end their logs with a summary instead.
_CAUSE = re.compile(r"^\S+?:(?:\d+:){1,2} (?:fatal )?error: |^\S*ld(?:\.\w+)?: cannot find ")


def show_failure(log: Path) -> str:
    """Print the last :data:`LOG_TAIL` lines of a failed command's ``log`` (each as ``  | ...``),
    and give the line that says why, for the one-line error: the compiler's first error, else
    the last line that says something."""
    lines = log.read_bytes().decode("utf-8", "replace").splitlines()
    for line in lines[-LOG_TAIL:]:
        say(f"  | {line}")
    cause = next((line.strip() for line in lines if _CAUSE.search(line.strip())), None)
    last = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
    return (cause or last)[:200]


def _user_namespaces() -> bool:
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0
