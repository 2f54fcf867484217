"""Verified, cached, parallel downloads.

Every download is of something whose SHA256 (and usually size) the signed Release chain has
already told us, except ``InRelease`` itself, which is verified by its OpenPGP signature
instead (see :mod:`pydistroless.debian.archive`). urllib3 does the HTTP: it is thread-safe
with connection pools per host, and has retries with exponential backoff built in.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import urllib3
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from pydistroless import __version__
from pydistroless.cache import Cache, sha256_hex
from pydistroless.errors import CacheMissError, IntegrityError, NetworkError

_PARALLEL = 8
_RETRY = urllib3.Retry(
    total=4,
    connect=3,
    read=3,
    backoff_factor=0.3,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=frozenset({"GET"}),
    raise_on_status=False,
)
_TIMEOUT = urllib3.Timeout(connect=10.0, read=60.0)


class NotFound(NetworkError):
    """The mirror answered 404: the file is not there (an unknown suite, say)."""


@dataclass(frozen=True)
class Download:
    """One file to get: mirror URLs to try in order, what it must hash to, and a label."""

    urls: tuple[str, ...]
    sha256: str
    size: int | None
    label: str


def log(message: str) -> None:
    """Progress notes go to stderr, so stdout carries only results (the digest)."""
    print(message, file=sys.stderr, flush=True)


class Fetcher:
    def __init__(self, cache: Cache, *, offline: bool = False, progress: bool | None = None):
        self.cache = cache
        self.offline = offline
        self.progress = sys.stderr.isatty() if progress is None else progress
        self._http = urllib3.PoolManager(
            num_pools=8,
            maxsize=_PARALLEL,
            retries=_RETRY,
            timeout=_TIMEOUT,
            headers={"User-Agent": f"pydistroless/{__version__}"},
        )

    # ---- unverified: only for signed documents --------------------------------------------

    def get(self, urls: Sequence[str]) -> bytes:
        """GET the first URL that answers. Raises :class:`NotFound` if every mirror says 404."""
        if self.offline:
            raise CacheMissError(f"offline: {urls[0]} is not in the cache")
        errors: list[str] = []
        not_found = 0
        for url in urls:
            if url.startswith("file://"):
                try:
                    return Path(url.removeprefix("file://")).read_bytes()
                except FileNotFoundError:
                    not_found += 1
                    errors.append(f"{url}: no such file")
                except OSError as exc:
                    errors.append(f"{url}: {exc.strerror}")
                continue
            try:
                response = self._http.request("GET", url, preload_content=True)
            except urllib3.exceptions.HTTPError as exc:
                errors.append(f"{url}: {_reason(exc)}")
                continue
            if response.status == 200:
                return response.data
            if response.status == 404:
                not_found += 1
            errors.append(f"{url}: HTTP {response.status}")
        if not_found == len(urls):
            raise NotFound(f"{urls[0]} does not exist (HTTP 404)")
        raise NetworkError(
            f"cannot download {errors[0]}; check the mirror (--mirror) and the network"
            + (f" ({len(errors) - 1} other mirror(s) failed too)" if len(errors) > 1 else "")
        )

    # ---- verified, cached ----------------------------------------------------------------

    def fetch(self, item: Download, on_bytes: Callable[[int], None] | None = None) -> bytes:
        cached = self.cache.get_blob(item.sha256)
        if cached is not None:
            if on_bytes:
                on_bytes(len(cached))
            return cached
        if self.offline:
            raise CacheMissError(f"offline: {item.label} is not in the cache")
        data = self.get(item.urls)
        self._verify(item, data)
        self.cache.put_blob(data, item.sha256)
        if on_bytes:
            on_bytes(len(data))
        return data

    def fetch_many(self, items: Sequence[Download], what: str = "files") -> list[bytes]:
        """Fetch all ``items`` in parallel; results in the same order. In offline mode every
        missing item is named in one error, so one online run can be planned to fill them."""
        if self.offline:
            missing = [i.label for i in items if not self.cache.has_blob(i.sha256)]
            if missing:
                shown = ", ".join(missing[:5])
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                raise CacheMissError(
                    f"offline: the cache lacks {len(missing)} {what}: {shown}{more}; "
                    "run once without --offline to fill it"
                )
        total = sum(i.size or 0 for i in items)
        started = time.monotonic()
        with self._progress_bar(what, total) as advance, ThreadPoolExecutor(_PARALLEL) as pool:
            results = list(pool.map(lambda i: self.fetch(i, advance), items))
        fetched = sum(len(r) for r in results)
        if items:
            log(
                f"{what}: {len(items)} ({fetched / 1e6:.1f} MB) ready in "
                f"{time.monotonic() - started:.1f} s"
            )
        return results

    def _progress_bar(self, what: str, total: int):
        if not self.progress or not total:
            return _NoProgress()
        return _RichProgress(what, total)

    @staticmethod
    def _verify(item: Download, data: bytes) -> None:
        if item.size is not None and len(data) != item.size:
            raise IntegrityError(
                f"{item.label}: size {len(data)} differs from the signed size {item.size} "
                f"(from {item.urls[0]}); the mirror is broken or tampered with, try another "
                "--mirror"
            )
        actual = sha256_hex(data)
        if actual != item.sha256:
            raise IntegrityError(
                f"{item.label}: SHA256 {actual[:16]}… differs from the signed "
                f"{item.sha256[:16]}… (from {item.urls[0]}); the mirror is broken or tampered "
                "with, try another --mirror"
            )


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "Failed to resolve" in text:
        return "host not found"
    if "timed out" in text.lower():
        return "timed out"
    return text.splitlines()[0][:160]


class _NoProgress:
    def __enter__(self) -> Callable[[int], None]:
        return lambda n: None

    def __exit__(self, *exc: object) -> None:
        return None


class _RichProgress:
    def __init__(self, what: str, total: int):
        self._bar = Progress(
            TextColumn(f"[bold]{what}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._task = self._bar.add_task(what, total=total)

    def __enter__(self) -> Callable[[int], None]:
        self._bar.start()
        return lambda n: self._bar.advance(self._task, n)

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()
