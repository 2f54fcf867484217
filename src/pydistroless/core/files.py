"""Writing the files the user asked for, and nothing else.

Every file pydistroless puts on the user's file system (an image tar, an SBOM, a lock, an OCI
layout) goes through here, under one rule: **a target is replaced only if it is ours to
replace.** That is a path that does not exist yet, a regular file, or a symlink to either, in
which case the link stays and what it points to is written ("through" the link, as a shell's
``>`` would). Anything else that exists (a directory where a file is wanted, a device, a
FIFO, a socket, a link that leads nowhere) is refused before any work starts, so ``-o
/dev/null`` can never replace the machine's ``/dev/null`` with an image.

Writes are atomic: the content goes to a hidden temporary name beside the target, is synced,
and is renamed over it in one step. A writer holds an exclusive ``flock`` on its temporary for
as long as it lives, so a temporary that nobody holds is the leftover of a killed writer and
is removed by the next one, while another writer's temporary is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pydistroless.core.errors import OutputError

TEMP_SUFFIX = ".tmp"


def file_target(path: Path, option: str) -> Path:
    """The real path to write ``path``'s content to, or an :class:`OutputError` saying why
    that would replace something that is not ours. ``option`` names the flag to change."""
    path = Path(os.path.abspath(path))
    with reporting(path, option):
        return _examine(path, option)


def _examine(path: Path, option: str) -> Path:
    real = Path(os.path.realpath(path))
    if path.is_symlink() and not os.path.lexists(real):
        raise OutputError(
            f"cannot write {path}: it is a symbolic link to {real}, which does not exist; "
            f"remove the link or choose another {option}"
        )
    try:
        mode: int | None = real.stat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        via = f" (through the link {path})" if real != path else ""
        raise OutputError(
            f"cannot write {real}{via}: it exists and is {describe_mode(mode)}, not a regular "
            f"file; choose another {option}"
        )
    parent = real.parent
    if not os.path.lexists(parent):
        raise OutputError(
            f"cannot write {path}: {parent} does not exist; create {parent} first or choose "
            f"another {option}"
        )
    if not parent.is_dir():
        raise OutputError(
            f"cannot write {path}: {parent} is not a directory; choose another {option}"
        )
    if not os.access(parent, os.W_OK):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(parent))
    return real


def check_directory(path: Path, option: str) -> None:
    """``path`` is a directory we may create files in, or an :class:`OutputError`."""
    with reporting(path, option):
        if not path.is_dir():
            raise OutputError(f"cannot write into {path}: it is not a directory; fix {option}")
        if not os.access(path, os.W_OK):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(path))


def describe_mode(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


@contextlib.contextmanager
def atomic_file(path: Path, option: str) -> Iterator[BinaryIO]:
    """A new file that appears at ``path`` complete, or not at all. The target is checked
    again here (it may have changed since the first check), and failures of the file system
    become one-line :class:`OutputError` messages naming ``option``."""
    target = file_target(path, option)
    with reporting(target, option), temporary(target) as (out, temp):
        yield out
        out.flush()
        os.fsync(out.fileno())
        os.replace(temp, target)


@contextlib.contextmanager
def temporary(target: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A new hidden file beside ``target``, for the caller to fill and rename over it. It is
    held under a lock for as long as it lives, removed on any failure (Ctrl-C included), and
    the stale temporaries of ``target`` that killed writers left are cleared first. Every
    writer of the project, outputs and cache alike, writes through here."""
    remove_stale_temporaries(target)
    temp = temp_name(target)
    fd = _create_exclusive(temp)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with os.fdopen(fd, "wb", closefd=False) as out:
            yield out, temp
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    finally:
        os.close(fd)


def _create_exclusive(path: Path) -> int:
    # 0o666 lets the umask decide the final permissions, as for any file the user creates.
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)


def atomic_write(path: Path, data: bytes, option: str) -> None:
    with atomic_file(path, option) as out:
        out.write(data)


def temp_name(path: Path) -> Path:
    """A hidden name beside ``path``: on the same file system, so the final rename is atomic."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


def is_temp_of(candidate: str, name: str) -> bool:
    """Whether ``candidate`` is one of :func:`temp_name`'s names for a target called ``name``."""
    middle = candidate.removeprefix(f".{name}.").removesuffix(TEMP_SUFFIX)
    return (
        candidate.startswith(f".{name}.")
        and candidate.endswith(TEMP_SUFFIX)
        and len(middle) == 12
        and all(c in "0123456789abcdef" for c in middle)
    )


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the temporaries of ``target`` that no live writer holds. Returns what went."""
    removed = []
    try:
        names = os.listdir(target.parent)
    except OSError:
        return removed
    for name in names:
        if not is_temp_of(name, target.name):
            continue
        candidate = target.parent / name
        if _unheld(candidate):
            if candidate.is_dir() and not candidate.is_symlink():
                shutil.rmtree(candidate, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    candidate.unlink()
            removed.append(candidate)
    return removed


def _unheld(path: Path) -> bool:
    """True when no process holds a lock on ``path`` (its writer is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """Serialise the writers of ``directory``'s entries: a second pydistroless writing the
    same OCI layout waits for the first instead of tripping over its half-moved folders."""
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another writer in {directory}", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def reporting(path: Path, option: str) -> Iterator[None]:
    """Turn any failure of the file system into the one-line error the user sees."""
    try:
        yield
    except OSError as e:
        raise OutputError(explain(path, e, option)) from e


def explain(path: Path, error: OSError, option: str) -> str:
    """One line: what could not be written, the system's reason, and what to do."""
    reason = error.strerror or str(error)
    code = error.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        fix = f"free some space or choose another {option}"
    elif code == errno.ENOENT:
        fix = f"create {path.parent} first or choose another {option}"
    elif code == errno.ENOTDIR:
        fix = f"{path.parent} is not a directory; choose another {option}"
    else:
        fix = f"choose another {option}"
    return f"cannot write {path}: {reason}; {fix}"
