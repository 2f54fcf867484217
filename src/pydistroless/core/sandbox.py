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

import contextlib
import ctypes
import json
import os
import re
import select
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydistroless.core.arch import host
from pydistroless.core.errors import BuildError, UsageError
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
# The host uid (and gid) the sandbox's root is when pydistroless runs as root: far above any
# account a system hands out, so it owns nothing on the host but what a build writes.
SANDBOX_UID = 2_000_000_000
DEVICES = ("null", "zero", "random", "urandom")
# Mount points every sandbox root gets, made in the tree before it is mounted read-only.
MOUNT_POINTS = ("tmp", "proc", "dev")
# A CPython build with PGO takes tens of minutes on two cores: a run past this is stuck.
DEFAULT_TIMEOUT = 4 * 3600.0
WEAK_VAR = "PYDISTROLESS_WEAK_SANDBOX"
# What the launcher prints, on stderr, when it cannot make the sandbox; exit status 125.
SETUP_FAILED = "pydistroless-sandbox:"
SETUP_STATUS = 125
# Lines of a failed command's log shown on the terminal; the whole log stays where it is.
LOG_TAIL = 15


# The folder the pydistroless package lies in.
_PACKAGE_HOME = Path(__file__).resolve().parents[2]
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
    spec = {
        "root": str(root),
        "argv": list(argv),
        "cwd": cwd,
        "binds": [{**asdict(b), "source": str(b.source)} for b in binds],
        "env": dict(env),
        "weak": os.environ.get(WEAK_VAR, "") not in ("", "0"),
    }
    # Isolated (-I: no environment, no user site), with the folder this package lies in on
    # the path, wherever that is (an install, a checkout on PYTHONPATH).
    start = (
        f"import sys, runpy; sys.path.insert(0, {str(_PACKAGE_HOME)!r}); "
        "runpy.run_module('pydistroless.core.sandbox', run_name='__main__')"
    )
    return [sys.executable, "-I", "-c", start, json.dumps(spec)]


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
    if found is not None:
        raise UsageError(
            f"cannot make a sandbox for code from an image or a package: {found.group(1)}; "
            "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
            f"user.max_user_namespaces > 0), or set {WEAK_VAR}=1 to run it as root with only "
            "a read-only root around it (it could then reach the network, and the host if it "
            "escapes)"
        )


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


# A compiler's or linker's own error line: "x.c:3:10: fatal error: lber.h: No such file",
# "ld: cannot find -lpq". Build front ends (pip, make) end their logs with a summary instead.
_CAUSE = re.compile(r"^\S+?:(?:\d+:){1,2} (?:fatal )?error: |^\S*ld(?:\.\w+)?: cannot find ")


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


# ---- the launcher: run as a program, never imported for this -----------------------------

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 2
_PR_SET_PDEATHSIG = 1


class _SetupError(Exception):
    pass


class _Kernel:
    """The few system calls Python's ``os`` module lacks."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        arch = host()
        self.pivot_root_number = arch.pivot_root_syscall if arch is not None else 0

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise _SetupError(f"{what}: {os.strerror(errno)}")

    def unshare(self, flags: int, what: str) -> None:
        self._check(self.libc.unshare(flags), f"unshare({what})")

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str = ""
    ) -> None:
        self._check(
            self.libc.mount(
                source.encode() if source else None,
                target.encode(),
                fstype.encode() if fstype else None,
                ctypes.c_ulong(flags),
                data.encode() if data else None,
            ),
            f"mount {target}",
        )

    def pivot_root_here(self) -> None:
        """Make the current folder the root, and detach the old one entirely."""
        if not self.pivot_root_number:
            raise _SetupError("pivot_root: this machine's system call number is not known")
        self._check(self.libc.syscall(self.pivot_root_number, b".", b"."), "pivot_root")
        self._check(self.libc.umount2(b".", _MNT_DETACH), "detaching the host's root")
        os.chdir("/")

    def die_with_parent(self) -> None:
        self.libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _own(path: Path, uid: int) -> None:
    """Give ``path`` and everything below it to ``uid``, never following a link."""
    os.lchown(path, uid, uid)
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.lchown(os.path.join(folder, name), uid, uid)


def _prepare_root(root: Path, binds: Sequence[dict[str, Any]], uid: int | None) -> None:
    """The mount points the sandbox needs, made in the tree while it is still writable by
    us; the tree's top readable by the sandbox's user; writable folders given to it."""
    os.chmod(root, 0o755)
    for name in MOUNT_POINTS:
        (root / name).mkdir(exist_ok=True)
    for bind in binds:
        target = root / bind["target"].lstrip("/")
        if not target.is_dir() or target.is_symlink():
            target.mkdir(parents=True)
        if bind["writable"] and uid is not None:
            _own(Path(bind["source"]), uid)


def _assemble(kernel: _Kernel, root: Path, jail: str, binds: Sequence[dict[str, Any]]) -> None:
    """The sandbox's file system at ``jail``: the tree read-only, the binds, /tmp, /dev."""
    kernel.mount(str(root), jail, None, _MS_BIND | _MS_REC)
    kernel.mount(None, jail, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)
    for bind in binds:
        target = jail + bind["target"]
        kernel.mount(bind["source"], target, None, _MS_BIND | _MS_REC)
        if not bind["writable"]:
            kernel.mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)
    kernel.mount("tmpfs", f"{jail}/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777")
    kernel.mount("tmpfs", f"{jail}/dev", "tmpfs", _MS_NOSUID, "mode=755")
    for name in DEVICES:
        node = f"{jail}/dev/{name}"
        with open(node, "w"):
            pass
        kernel.mount(f"/dev/{name}", node, None, _MS_BIND)


def _enter(kernel: _Kernel, jail: str, spec: dict[str, Any]) -> None:
    """In the sandbox's namespaces: its own /proc, the jail as the root, then the command."""
    kernel.mount(jail, jail, None, _MS_BIND | _MS_REC)  # a mount of this namespace's own
    # A kernel that hides /proc from user namespaces: builds do without it.
    with contextlib.suppress(_SetupError):
        kernel.mount("proc", f"{jail}/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    os.chdir(jail)
    kernel.pivot_root_here()
    os.chdir(spec["cwd"])
    argv = spec["argv"]
    os.execvpe(argv[0], argv, spec["env"])


def _wait(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        except InterruptedError:
            continue


def _launch(spec: dict[str, Any]) -> int:
    kernel = _Kernel()
    root = Path(spec["root"])
    binds = spec["binds"]
    as_root = os.geteuid() == 0
    # Namespaces of the command; with the weak mode (as root), only a mount namespace.
    isolate = _CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWIPC | _CLONE_NEWUTS
    if as_root:
        _prepare_root(root, binds, None if spec["weak"] else SANDBOX_UID)
        os.setgroups([])
        # The tree is mounted by host root, in a mount namespace of this launcher, at a
        # folder every user can reach (the cache may be under root's 0700 home).
        kernel.unshare(_CLONE_NEWNS, "mount")
        kernel.mount(None, "/", None, _MS_REC | _MS_PRIVATE)
        jail = tempfile.mkdtemp(prefix="pydistroless-sandbox-")
        os.chmod(jail, 0o755)
        _assemble(kernel, root, jail, binds)
        if spec["weak"]:
            code = _fork_command(kernel, jail, spec, _CLONE_NEWPID)
            _remove(kernel, jail)
            return code
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
        child = os.fork()
        if child == 0:
            try:
                kernel.die_with_parent()
                kernel.unshare(_CLONE_NEWUSER | isolate, "user")
                os.write(ready_w, b"1")
                if os.read(go_r, 1) != b"1":
                    os._exit(SETUP_STATUS)
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
                os._exit(_fork_command(kernel, jail, spec, 0))
            except _SetupError as exc:
                print(f"{SETUP_FAILED} {exc}", file=sys.stderr, flush=True)
                os._exit(SETUP_STATUS)
            except BaseException:
                os._exit(SETUP_STATUS)
        select.select([ready_r], [], [], 30)
        if os.read(ready_r, 1) == b"1":
            for name, line in (
                ("setgroups", "deny"),
                ("uid_map", f"0 {SANDBOX_UID} 1"),
                ("gid_map", f"0 {SANDBOX_UID} 1"),
            ):
                fd = os.open(f"{child}/{name}", os.O_WRONLY, dir_fd=proc)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
            os.write(go_w, b"1")
        code = _wait(child)
        _remove(kernel, jail)
        return code
    uid, gid = os.geteuid(), os.getegid()
    kernel.unshare(_CLONE_NEWUSER | isolate, "user")
    for name, line in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(line)
    kernel.mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    _prepare_root(root, binds, None)
    jail = tempfile.mkdtemp(prefix="pydistroless-sandbox-")
    _assemble(kernel, root, jail, binds)
    code = _fork_command(kernel, jail, spec, 0)
    _remove(kernel, jail)
    return code


def _remove(kernel: _Kernel, jail: str) -> None:
    """The launcher's mount point, now empty on the host's side."""
    kernel.libc.umount2(jail.encode(), _MNT_DETACH)
    with contextlib.suppress(OSError):
        os.rmdir(jail)


def _fork_command(kernel: _Kernel, jail: str, spec: dict[str, Any], unshare: int) -> int:
    """The command as the first process of the new PID namespace (it is killed with this
    launcher, and everything it started is killed with it)."""
    if unshare:
        kernel.unshare(unshare, "pid")
    pid = os.fork()
    if pid == 0:
        try:
            kernel.die_with_parent()
            _enter(kernel, jail, spec)
        except _SetupError as exc:
            print(f"{SETUP_FAILED} {exc}", file=sys.stderr, flush=True)
            os._exit(SETUP_STATUS)
        except OSError as exc:  # the command itself could not be started
            print(f"{spec['argv'][0]}: {exc.strerror}", file=sys.stderr, flush=True)
            os._exit(127)
    return _wait(pid)


def _main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        code = _launch(spec)
    except _SetupError as exc:
        print(f"{SETUP_FAILED} {exc}", file=sys.stderr, flush=True)
        code = SETUP_STATUS
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    _main()
