"""A content-addressed download and build cache.

Blobs live at ``<root>/blobs/sha256/<hex>`` and are named by the SHA256 the signed chain
promised for them, so a hit is only a hit after the content is hashed again on read: a corrupt
or truncated entry is dropped and reported as a miss, never used. Writes go to a temporary name
in the same folder and are renamed into place, so an interrupted build never leaves a
half-written entry behind. Downloads are streamed in with :meth:`Cache.blob_writer`, which
hashes while writing and renames only bytes that hash to the name.

Besides blobs, a few small named records (the last verified ``InRelease`` of each suite, the
resolution and layer caches) live under ``<root>/records``; each is checked by its reader.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import platformdirs

from pydistroless import __version__
from pydistroless.core import files
from pydistroless.core.errors import ConfigError, IntegrityError, PydistrolessError

T = TypeVar("T")


def default_cache_dir() -> Path:
    env = os.environ.get("PYDISTROLESS_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("pydistroless"))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.cache
def code_digest() -> str:
    """A digest of this installation's own code. Build caches are keyed on it, so a changed
    rule (a slice, a default package) never serves an image made under the old one."""
    digest = hashlib.sha256(__version__.encode())
    root = Path(__file__).parent.parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(parts: dict[str, Any], *, tool: bool = True) -> str:
    """The name of a cache entry: the SHA256 of everything it depends on, as canonical JSON.
    With ``tool``, this installation's code is one of those inputs; entries that must outlive
    an unrelated change of the tool (a CPython build, a builder tree) version their own
    recipe instead."""
    if tool:
        parts = {**parts, "tool": code_digest()}
    return sha256_hex(json.dumps(parts, sort_keys=True).encode())


READY = ".ready"


def is_finished(folder: Path) -> bool:
    return (folder / READY).is_file()


def finished_folder(
    folder: Path,
    fill: Callable[[Path], bool | None],
    *,
    staging_in: Path | None = None,
) -> bool:
    """Make ``folder`` whole or not at all. ``fill`` writes into a fresh staging folder (in
    ``staging_in``, by default beside ``folder``, on the same file system), which is then
    marked finished and renamed into place; a folder that another process finished first is
    taken as it is. ``fill`` returns False to give up, and nothing is kept. Answers whether
    ``folder`` is there."""
    if is_finished(folder):
        return True
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=staging_in or folder.parent))
    try:
        if fill(staging) is False:
            return False
        (staging / READY).write_text("ok\n")
        try:
            os.rename(staging, folder)
        except OSError:
            if not is_finished(folder):  # another build won the race: use its copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old content or the new, never a part."""
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(20, f"{path.parent} is not a directory", str(path.parent))
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.temporary(path) as (handle, temp):
        handle.write(data)
        handle.flush()
        os.replace(temp, path)


def unwritable(root: Path, exc: OSError) -> ConfigError:
    """The one-line error for a cache that cannot take a file (a full disk, a read-only or
    foreign folder)."""
    return ConfigError(
        f"cannot write to the cache {root}: {exc.strerror or exc}; free some space there or "
        "pass a writable --cache-dir"
    )


class BlobSink:
    """Where a download goes while it arrives: written to a temporary file, counted and
    hashed on the way, so the body is never held in memory."""

    def __init__(self, handle: BinaryIO, root: Path):
        self._handle = handle
        self._root = root
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        try:
            self._handle.write(data)
        except OSError as exc:
            raise unwritable(self._root, exc) from exc
        self.size += len(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@dataclass(frozen=True)
class Cache:
    root: Path

    def __post_init__(self) -> None:
        try:
            (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            (self.root / "records").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot use cache directory {self.root}: {exc.strerror}; "
                "pass a writable --cache-dir"
            ) from exc

    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / "sha256" / sha256

    def get_blob(self, sha256: str) -> bytes | None:
        """The blob with this digest, re-verified; a bad entry is removed and None returned."""
        path = self.blob_path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if sha256_hex(data) != sha256:
            path.unlink(missing_ok=True)
            return None
        return data

    def checked_blob_path(self, sha256: str) -> Path | None:
        """The file of the blob with this digest, re-verified as a stream (for blobs too big
        to read whole); a bad entry is removed and None returned."""
        path = self.blob_path(sha256)
        digest = hashlib.sha256()
        try:
            with path.open("rb") as stream:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
        except FileNotFoundError:
            return None
        if digest.hexdigest() != sha256:
            path.unlink(missing_ok=True)
            return None
        return path

    @contextlib.contextmanager
    def blob_writer(self, sha256: str) -> Iterator[BlobSink]:
        """A sink for the blob ``sha256``. When the block ends, the bytes written are renamed
        into place if they hash to ``sha256`` (IntegrityError otherwise); on any failure,
        KeyboardInterrupt included, the temporary file is removed and nothing is kept. A
        cache that cannot be written is a one-line ConfigError."""
        path = self.blob_path(sha256)
        with contextlib.ExitStack() as stack:
            try:
                handle, tmp = stack.enter_context(files.temporary(path))
            except OSError as exc:
                raise unwritable(self.root, exc) from exc
            sink = BlobSink(handle, self.root)
            yield sink
            _flushed(handle, self.root)
            if sink.hexdigest() != sha256:
                raise IntegrityError(
                    f"cache: the bytes written for {sha256[:16]}… hash to "
                    f"{sink.hexdigest()[:16]}…; nothing was kept"
                )
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise unwritable(self.root, exc) from exc

    def has_blob(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def put_blob(self, data: bytes, sha256: str | None = None) -> str:
        digest = sha256 or sha256_hex(data)
        path = self.blob_path(digest)
        if not path.exists():
            atomic_write(path, data)
        return digest

    def record_path(self, *parts: str) -> Path:
        return self.root.joinpath("records", *parts)

    def get_record(self, *parts: str) -> bytes | None:
        try:
            return self.record_path(*parts).read_bytes()
        except FileNotFoundError:
            return None

    def put_record(self, data: bytes, *parts: str) -> None:
        atomic_write(self.record_path(*parts), data)

    def drop_record(self, *parts: str) -> None:
        self.record_path(*parts).unlink(missing_ok=True)

    def get_checked_record(self, parse: Callable[[Any], T], *parts: str) -> T | None:
        """A record written by :meth:`put_checked_record`, or None: one that is missing,
        does not parse, fails its own checksum (changed since it was written), or that
        ``parse`` rejects (raising ``ValueError``, ``KeyError``, ``TypeError`` or a
        :class:`PydistrolessError`) is a
        cache miss, and a broken one is dropped so it is rebuilt."""
        raw = self.get_record(*parts)
        if raw is None:
            return None
        try:
            envelope = json.loads(raw)
            body = envelope["body"]
            if envelope["sha256"] != sha256_hex(_canonical(body)):
                raise ValueError("checksum mismatch")
            return parse(body)
        except (ValueError, KeyError, TypeError, AttributeError, PydistrolessError):
            self.drop_record(*parts)
            return None

    def put_checked_record(self, body: Any, *parts: str) -> None:
        """Store a JSON value with a checksum of itself. Best effort: the cache only saves
        time, so a record that cannot be written (a full disk) is a note, not a failure."""
        envelope = {"body": body, "sha256": sha256_hex(_canonical(body))}
        try:
            self.put_record(json.dumps(envelope, sort_keys=True).encode(), *parts)
        except OSError as exc:
            log_cache_problem(self.root, exc)


def _flushed(handle: BinaryIO, root: Path) -> None:
    # Buffered bytes reach the disk here, so a full disk can show up now rather than on write.
    try:
        handle.flush()
    except OSError as exc:
        raise unwritable(root, exc) from exc


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def log_cache_problem(root: Path, exc: OSError) -> None:
    """The one note for a cache that cannot take what the build wanted to keep."""
    print(
        f"note: could not store into the cache {root} ({exc.strerror or exc}); the next "
        "build redoes that work (free some space or pass another --cache-dir)",
        file=sys.stderr,
        flush=True,
    )
