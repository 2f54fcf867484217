"""A content-addressed download and build cache.

Blobs live at ``<root>/blobs/sha256/<hex>`` and are named by the SHA256 the signed chain
promised for them, so a hit is only a hit after the content is hashed again on read: a corrupt
or truncated entry is dropped and reported as a miss, never used. Writes go to a temporary name
in the same folder and are renamed into place, so an interrupted build never leaves a
half-written entry behind.

Besides blobs, a few small named records (the last verified ``InRelease`` of each suite, the
resolution and layer caches) live under ``<root>/records``; each is checked by its reader.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from pydistroless.errors import ConfigError, PydistrolessError

T = TypeVar("T")


def default_cache_dir() -> Path:
    env = os.environ.get("PYDISTROLESS_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("pydistroless"))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old content or the new, never a part."""
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(20, f"{path.parent} is not a directory", str(path.parent))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
