"""The sandbox's launcher: a program of its own (``python -I -S jail.py SPEC``), with nothing
but the standard library's smallest modules, since every sandboxed command pays its start.

It makes the namespaces :mod:`pydistroless.core.sandbox` describes, mounts the tree and the
folders ``SPEC`` names, enters the tree with ``pivot_root`` and runs the command there as
the first process of its PID namespace. A sandbox it cannot make is one line on stderr,
starting with :data:`SETUP_FAILED`, and the exit status :data:`SETUP_STATUS`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import select
import signal
import sys
from collections.abc import Sequence
from typing import Any

# The host uid (and gid) the sandbox's root is when pydistroless runs as root: far above any
# account a system hands out, so it owns nothing on the host but what a build writes.
SANDBOX_UID = 2_000_000_000
DEVICES = ("null", "zero", "random", "urandom")
# Mount points every sandbox root gets, made in the tree before it is mounted read-only.
MOUNT_POINTS = ("tmp", "proc", "dev")
SETUP_FAILED = "pydistroless-sandbox:"
SETUP_STATUS = 125


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

    def __init__(self, pivot_root_number: int) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.pivot_root_number = pivot_root_number

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            raise _SetupError(f"{what}: {os.strerror(ctypes.get_errno())}")

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


def _own(path: str, uid: int) -> None:
    """Give ``path`` and everything below it to ``uid``, never following a link.

    Another sandbox may be running in the same folder (the two compilers of a build), as
    ``uid``: a file can be gone before its turn (a temporary renamed), and a subfolder can be
    swapped for a link to a host folder between the listing and the walk into it. So the walk
    goes by file descriptors, each subfolder opened with ``O_NOFOLLOW`` from its parent's,
    each entry changed relative to its folder without following it; an entry that is gone,
    or is no longer a folder, is left alone."""
    try:
        top = os.open(path, _WALK_FLAGS)
    except OSError as exc:
        raise _SetupError(f"the writable folder {path} is not a folder: {exc.strerror}") from None
    try:
        _own_folder(top, uid)
    finally:
        os.close(top)


# A folder, not a link to one, opened without waiting on a FIFO swapped in for it.
_WALK_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _own_folder(folder: int, uid: int) -> None:
    os.fchown(folder, uid, uid)
    with os.scandir(folder) as entries:
        names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    for name, is_folder in names:
        try:
            if is_folder:
                inner = os.open(name, _WALK_FLAGS, dir_fd=folder)
                try:
                    _own_folder(inner, uid)
                finally:
                    os.close(inner)
            else:
                os.chown(name, uid, uid, dir_fd=folder, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            continue  # gone, or swapped for something else, by what runs in the sandbox
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # a link where a folder was listed: not followed
                raise


def _prepare_root(root: str, binds: Sequence[dict[str, Any]], uid: int | None) -> None:
    """The mount points the sandbox needs, made in the tree while it is still writable by
    us; the tree's top readable by the sandbox's user; writable folders given to it."""
    os.chmod(root, 0o755)
    inside = [name for name in MOUNT_POINTS] + [b["target"].lstrip("/") for b in binds]
    for relative in inside:
        target = os.path.join(root, relative)
        # No part of it a link: a mount point made or mounted through one would be outside.
        if os.path.realpath(target) != os.path.join(os.path.realpath(root), relative):
            raise _SetupError(f"/{relative} leads out of the sandbox's root through a link")
        # exist_ok: two sandboxes on one root (the two compilers of a build) start together.
        os.makedirs(target, exist_ok=True)
    for bind in binds:
        if bind["writable"] and uid is not None:
            _own(bind["source"], uid)


def _assemble(kernel: _Kernel, root: str, jail: str, binds: Sequence[dict[str, Any]]) -> None:
    """The sandbox's file system at ``jail``: the tree read-only, the binds, /tmp, /dev."""
    kernel.mount(root, jail, None, _MS_BIND | _MS_REC)
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
    kernel = _Kernel(spec["pivot_root"])
    root = spec["root"]
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
        jail = _new_folder()
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
    jail = _new_folder()
    _assemble(kernel, root, jail, binds)
    code = _fork_command(kernel, jail, spec, 0)
    _remove(kernel, jail)
    return code


def _new_folder() -> str:
    """A fresh mount point every user can reach (the cache may be under root's 0700 home)."""
    path = f"/tmp/pydistroless-sandbox-{os.getpid()}-{os.urandom(6).hex()}"
    os.mkdir(path, 0o755)
    os.chmod(path, 0o755)
    return path


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
