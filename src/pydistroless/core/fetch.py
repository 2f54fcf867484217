"""Verified, cached, parallel downloads, bounded in size, time and by Ctrl-C.

Every download is of something whose SHA256 (and usually size) the signed Release chain has
already told us, except ``InRelease`` itself, which is verified by its OpenPGP signature
instead (see :mod:`pydistroless.debian.archive`). urllib3 does the HTTP: it is thread-safe
with connection pools per host, and has retries with exponential backoff built in.

A body is streamed in chunks straight into the cache (hashed on the way) and never read past
the size the signed index gives, or past a cap when no size is known: a mirror cannot make the
build hold more than one copy of a file, or any file larger than promised. Each file also has
a total deadline its size implies (:class:`Limits`), checked between chunks and bounding every
socket read, so a mirror that drips bytes fails and the next mirror is tried. A cancel (Ctrl-C,
:meth:`Fetcher.cancel`) shuts the open sockets down, which wakes every blocked read at once.
"""

from __future__ import annotations

import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import urllib3

from pydistroless import __version__
from pydistroless.core.cache import Cache
from pydistroless.core.errors import CacheMissError, IntegrityError, NetworkError
from pydistroless.core.net import (
    DEADLINE_SCALE_VAR,
    Credentials,
    Interrupted,
    Sockets,
    deadline_scale,
    pool_classes,
)
from pydistroless.core.net import cancel_on_sigint as net_cancel_on_sigint
from pydistroless.core.report import log, redact

_PARALLEL = 8
R = TypeVar("R")  # what fetching one file answers: its bytes, or its path
_CHUNK = 1 << 20
# Body reads are not retried by urllib3 (the body is streamed), and a header read that timed
# out once has used up most of its file's deadline: one more try is enough.
_RETRY = urllib3.Retry(
    total=4,
    connect=3,
    read=1,
    backoff_factor=0.3,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=frozenset({"GET"}),
    raise_on_status=False,
)
# A body cut off mid-way (a reset connection) is fetched once more from the same mirror.
_BODY_ATTEMPTS = 2
_MIB = 1 << 20
_LEAST_TIMEOUT = 0.05


@dataclass(frozen=True)
class Limits:
    """How large and how slow a download may be.

    A file of known size must arrive within ``grace + size / min_rate`` seconds (30 s plus
    10 s per MB: a mirror slower than 100 kB/s is treated as failing, and the next one is
    tried); ``InRelease`` within ``inrelease_deadline``. ``InRelease`` is never read past
    ``inrelease_cap`` (real ones are about 150 kB), a file of unknown size past
    ``unsized_cap``. ``$PYDISTROLESS_DEADLINE_SCALE`` multiplies every deadline: more than 1
    on a very slow link, less in tests."""

    grace: float = 30.0
    min_rate: float = 100_000.0
    inrelease_deadline: float = 60.0
    inrelease_cap: int = 4 * _MIB
    unsized_cap: int = 256 * _MIB
    connect_timeout: float = 10.0
    # The longest wait for the response headers or any one read, within the deadline.
    read_timeout: float = 30.0

    def deadline(self, size: int | None) -> float:
        return self.grace + (self.unsized_cap if size is None else size) / self.min_rate

    def scaled(self, factor: float) -> Limits:
        return Limits(
            grace=self.grace * factor,
            min_rate=self.min_rate / factor,
            inrelease_deadline=self.inrelease_deadline * factor,
            inrelease_cap=self.inrelease_cap,
            unsized_cap=self.unsized_cap,
            connect_timeout=min(self.connect_timeout, self.connect_timeout * factor),
            read_timeout=min(self.read_timeout, self.read_timeout * factor),
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Limits:
        factor = deadline_scale(environ)
        return cls() if factor is None else cls().scaled(factor)


class NotFound(NetworkError):
    """The mirror answered 404: the file is not there (an unknown suite, say)."""


class _CutOff(NetworkError):
    """The connection broke off mid-way: worth one more try on the same mirror."""


class _TooLarge(Exception):
    """The body went past the size it may have; the caller says which size that was."""


@dataclass(frozen=True)
class Download:
    """One file to get: mirror URLs to try in order, what it must hash to, and a label."""

    urls: tuple[str, ...]
    sha256: str
    size: int | None
    label: str


class Fetcher:
    def __init__(
        self,
        cache: Cache,
        *,
        offline: bool = False,
        progress: bool | None = None,
        credentials: Credentials | None = None,
        limits: Limits | None = None,
    ):
        self.cache = cache
        self.offline = offline
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.limits = limits or Limits.from_environ()
        self._credentials = credentials or Credentials()
        self._sockets = Sockets()
        self._http = urllib3.PoolManager(
            num_pools=8,
            maxsize=_PARALLEL,
            retries=_RETRY,
            headers={"User-Agent": f"pydistroless/{__version__}"},
        )
        self._http.pool_classes_by_scheme = pool_classes(self._sockets)

    def cancel(self) -> None:
        """Stop every download of this fetcher, now and from now on: each raises
        :class:`Interrupted` and leaves nothing in the cache."""
        self._sockets.cancel()

    def with_credentials(self, credentials: Credentials) -> Fetcher:
        """A fetcher of this one's cache and limits, cancelled with it, that sends
        ``credentials`` (and no others) to the URLs they are for: package indexes' logins
        never meet the mirrors'."""
        other = Fetcher(
            self.cache,
            offline=self.offline,
            progress=self.progress,
            credentials=credentials,
            limits=self.limits,
        )
        other._sockets = self._sockets
        other._http.pool_classes_by_scheme = pool_classes(self._sockets)
        return other

    # ---- unverified: only for signed documents --------------------------------------------

    def get(self, urls: Sequence[str]) -> bytes:
        """GET an ``InRelease`` from the first URL that answers, within its deadline and cap.
        Raises :class:`NotFound` if every mirror says 404."""
        if self.offline:
            raise CacheMissError(f"offline: {redact(urls[0])} is not in the cache")
        cap, budget = self.limits.inrelease_cap, self.limits.inrelease_deadline
        failures: list[NetworkError] = []
        for url in urls:
            for attempt in range(_BODY_ATTEMPTS):
                try:
                    return b"".join(self._chunks(url, cap, budget))
                except _TooLarge:
                    raise IntegrityError(
                        f"{redact(url)}: more than {cap // _MIB} MiB, far more than any "
                        "InRelease (about 150 kB); the mirror is broken or hostile, try "
                        "another --mirror"
                    ) from None
                except NetworkError as exc:
                    if not _again(exc, attempt):
                        failures.append(exc)
                        break
        raise _give_up(urls, failures)

    def get_upstream(self, url: str, cap: int, what: str) -> bytes:
        """GET a file that no signed index names (a release tarball and its signature), never
        more than ``cap`` bytes; the caller verifies it before anything keeps it."""
        if self.offline:
            raise CacheMissError(f"offline: {what} ({redact(url)}) is not in the cache")
        failure = NetworkError(f"{redact(url)}: no attempt made")
        for attempt in range(_BODY_ATTEMPTS):
            try:
                return b"".join(self._chunks(url, cap, self.limits.deadline(cap)))
            except _TooLarge:
                raise IntegrityError(
                    f"{redact(url)}: more than {cap} bytes, far more than any {what}; it is "
                    "not one (check the URL)"
                ) from None
            except NetworkError as exc:
                failure = exc
                if not _again(exc, attempt):
                    break
        if isinstance(failure, NotFound):
            raise NotFound(f"{redact(url)} does not exist (HTTP 404)")
        raise NetworkError(f"cannot download {failure}")

    # ---- verified, cached ----------------------------------------------------------------

    def fetch(self, item: Download, on_bytes: Callable[[int], None] | None = None) -> bytes:
        cached = self.cache.get_blob(item.sha256)
        if cached is not None:
            if on_bytes:
                on_bytes(len(cached))
            return cached
        # Read back from the page cache: the body was never held in memory.
        return self.fetch_path(item, on_bytes).read_bytes()

    def fetch_path(self, item: Download, on_bytes: Callable[[int], None] | None = None) -> Path:
        """The cached file of ``item``, downloaded first if the cache lacks it."""
        cached = self.cache.checked_blob_path(item.sha256)
        if cached is not None:
            if on_bytes:
                on_bytes(cached.stat().st_size)
            return cached
        if self.offline:
            raise CacheMissError(f"offline: {item.label} is not in the cache")
        failures: list[NetworkError] = []
        for url in item.urls:
            for attempt in range(_BODY_ATTEMPTS):
                try:
                    self._fetch_from(url, item, on_bytes or _ignore)
                    return self.cache.blob_path(item.sha256)
                except NetworkError as exc:
                    if not _again(exc, attempt):
                        failures.append(exc)
                        break
        raise _give_up(item.urls, failures)

    def fetch_many(self, items: Sequence[Download], what: str = "files") -> list[bytes]:
        """Fetch all ``items`` in parallel; results in the same order. In offline mode every
        missing item is named in one error, so one online run can be planned to fill them."""
        return self._many(items, what, self.fetch, len)

    def fetch_paths(self, items: Sequence[Download], what: str = "files") -> list[Path]:
        """:meth:`fetch_many`, answered with the cached files rather than their bytes (for
        files too big to hold, such as wheels)."""
        return self._many(items, what, self.fetch_path, lambda path: path.stat().st_size)

    def _many(
        self,
        items: Sequence[Download],
        what: str,
        one: Callable[[Download, Callable[[int], None]], R],
        size_of: Callable[[R], int],
    ) -> list[R]:
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
        pool = ThreadPoolExecutor(_PARALLEL)
        try:
            with self._progress_bar(what, total) as advance:
                futures = [pool.submit(one, i, advance) for i in items]
                results = [f.result() for f in futures]
        except BaseException as exc:
            if not isinstance(exc, Exception):
                self.cancel()
            # Never wait here for downloads that may be stuck: the cancel, or their
            # deadlines, end them, and each removes its own temporary file.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        fetched = sum(size_of(r) for r in results)
        if items:
            log(
                f"{what}: {len(items)} ({fetched / 1e6:.1f} MB) ready in "
                f"{time.monotonic() - started:.1f} s"
            )
        return results

    def _fetch_from(self, url: str, item: Download, on_bytes: Callable[[int], None]) -> None:
        limit = self.limits.unsized_cap if item.size is None else item.size
        with self.cache.blob_writer(item.sha256) as sink:
            try:
                for chunk in self._chunks(url, limit, self.limits.deadline(item.size)):
                    sink.write(chunk)
                    on_bytes(len(chunk))
            except _TooLarge:
                promised = (
                    f"the {limit} bytes the limit for a file of unknown size allows"
                    if item.size is None
                    else f"the signed size {item.size}"
                )
                raise IntegrityError(
                    f"{item.label}: the mirror sends more than {promised} (from "
                    f"{redact(url)}); the mirror is broken or tampered with, try another "
                    "--mirror"
                ) from None
            self._verify(item, url, sink.size, sink.hexdigest())

    def _progress_bar(self, what: str, total: int):
        if not self.progress or not total:
            return _NoProgress()
        return _RichProgress(what, total)

    @staticmethod
    def _verify(item: Download, url: str, size: int, digest: str) -> None:
        if item.size is not None and size != item.size:
            raise IntegrityError(
                f"{item.label}: size {size} differs from the signed size {item.size} "
                f"(from {redact(url)}); the mirror is broken or tampered with, try another "
                "--mirror"
            )
        if digest != item.sha256:
            raise IntegrityError(
                f"{item.label}: SHA256 {digest[:16]}… differs from the signed "
                f"{item.sha256[:16]}… (from {redact(url)}); the mirror is broken or tampered "
                "with, try another --mirror"
            )

    # ---- the transfer ----------------------------------------------------------------------

    def _chunks(self, url: str, limit: int, budget: float) -> Iterator[bytes]:
        """The body of ``url`` in chunks, never more than ``limit`` bytes (:class:`_TooLarge`
        as soon as it would be), all of it within ``budget`` seconds."""
        if url.startswith("file://"):
            yield from _file_chunks(url, limit)
            return
        clock = _Clock(budget)
        try:
            response = self._http.request(
                "GET",
                url,
                headers=self._headers(url),
                preload_content=False,
                decode_content=False,  # the signed digest is of the bytes as served
                timeout=urllib3.Timeout(
                    connect=clock.bound(self.limits.connect_timeout),
                    read=clock.bound(self.limits.read_timeout),
                ),
            )
        except urllib3.exceptions.HTTPError as exc:
            raise self._failure(url, exc, clock) from exc
        complete = False
        try:
            self._check_status(url, response)
            if _announced(response) > limit:
                raise _TooLarge()
            got = 0
            while True:
                self._check_running(url, clock)
                # Bounds this read by what is left of the deadline: a stalled body is noticed
                # when the deadline passes, not when the mirror next sends. Once the body is
                # complete the connection is back in the pool, another request's to time.
                connection = response.connection
                if connection is not None and connection.sock is not None:
                    connection.sock.settimeout(clock.bound(self.limits.read_timeout))
                chunk = response.read1(min(_CHUNK, limit - got + 1))
                if not chunk:
                    break
                got += len(chunk)
                if got > limit:
                    raise _TooLarge()
                yield chunk
            complete = True
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failure(url, exc, clock) from exc
        finally:
            if not complete:
                # Whatever is left of this body must not be read as the next response.
                response.close()
            response.release_conn()

    def _headers(self, url: str) -> dict[str, str]:
        login = self._credentials.basic_auth(url)
        if login is None:
            return {}
        return urllib3.util.make_headers(basic_auth=login)

    def _check_status(self, url: str, response: urllib3.BaseHTTPResponse) -> None:
        status = response.status
        if status == 200:
            return
        if status == 404:
            raise NotFound(f"{redact(url)}: HTTP 404")
        if status in (401, 403):
            hint = (
                "the login was refused"
                if self._credentials.basic_auth(url)
                else "the server wants a login: give it as http://USER:PASS@HOST/..., or in "
                "/etc/apt/auth.conf for a mirror, ~/.netrc for a package index"
            )
            raise NetworkError(f"{redact(url)}: HTTP {status} ({hint})")
        raise NetworkError(f"{redact(url)}: HTTP {status}")

    def _check_running(self, url: str, clock: _Clock) -> None:
        if self._sockets.cancelled.is_set():
            raise Interrupted()
        if clock.expired():
            raise _too_slow(url, clock)

    def _failure(self, url: str, exc: Exception, clock: _Clock) -> BaseException:
        """What a failed request or read means: a cancel, a missed deadline, or a mirror
        that failed in some other way."""
        if self._sockets.cancelled.is_set():
            return Interrupted()
        if clock.expired():
            return _too_slow(url, clock)
        kind = _CutOff if isinstance(exc, urllib3.exceptions.ProtocolError) else NetworkError
        return kind(f"{redact(url)}: {_reason(exc)}")


class _Clock:
    """The deadline of one transfer."""

    def __init__(self, budget: float):
        self.budget = budget
        self._end = time.monotonic() + budget

    def left(self) -> float:
        return self._end - time.monotonic()

    def expired(self) -> bool:
        # Within the least timeout of the end: a read bounded by the deadline that timed
        # out is the deadline passing, even if it woke a moment early.
        return self.left() <= _LEAST_TIMEOUT

    def bound(self, timeout: float) -> float:
        """``timeout``, cut to what is left of the deadline (never zero, which would mean a
        non-blocking read)."""
        return max(_LEAST_TIMEOUT, min(timeout, self.left()))


def _too_slow(url: str, clock: _Clock) -> NetworkError:
    return NetworkError(
        f"{redact(url)}: the mirror is too slow (not done after {clock.budget:.0f} s; "
        f"${DEADLINE_SCALE_VAR} gives slow links more time)"
    )


def _again(exc: NetworkError, attempt: int) -> bool:
    """Whether to try the same mirror once more after ``exc``."""
    return isinstance(exc, _CutOff) and attempt + 1 < _BODY_ATTEMPTS


def _give_up(urls: Sequence[str], failures: Sequence[NetworkError]) -> NetworkError:
    if failures and all(isinstance(f, NotFound) for f in failures):
        return NotFound(f"{redact(urls[0])} does not exist (HTTP 404)")
    first = str(failures[0]) if failures else f"{redact(urls[0])}: no mirror"
    others = len(failures) - 1
    return NetworkError(
        f"cannot download {first}; check the mirror (--mirror) and the network"
        + (f" ({others} other mirror(s) failed too)" if others > 0 else "")
    )


def _announced(response: urllib3.BaseHTTPResponse) -> int:
    """The Content-Length the mirror announces, or 0."""
    try:
        return int(response.headers.get("Content-Length", "0"))
    except ValueError:
        return 0


def local_path(url: str) -> Path:
    """The file a ``file:`` URL names, percent-decoded (RFC 8089: ``%20`` is a space, ``%25``
    a percent sign); ``file://localhost/`` is this host too."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise NotFound(f"{url}: not a file of this host")
    return Path(urllib.parse.unquote(parts.path))


def _file_chunks(url: str, limit: int) -> Iterator[bytes]:
    path = local_path(url)
    try:
        with path.open("rb") as handle:
            got = 0
            while chunk := handle.read(min(_CHUNK, limit - got + 1)):
                got += len(chunk)
                if got > limit:
                    raise _TooLarge()
                yield chunk
    except FileNotFoundError:
        raise NotFound(f"{url}: no such file") from None
    except OSError as exc:
        raise NetworkError(f"{url}: {exc.strerror}") from exc


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "Failed to resolve" in text:
        return "host not found"
    if "timed out" in text.lower():
        return "timed out"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return "the connection broke off"
    return redact(text.splitlines()[0][:160])


def _ignore(_n: int) -> None:
    return None


# ---- Ctrl-C ----------------------------------------------------------------------------------


def cancel_on_sigint(fetcher: Fetcher) -> None:
    """Make Ctrl-C cancel ``fetcher``'s downloads wherever the main thread is (see
    :func:`pydistroless.core.net.cancel_on_sigint`)."""
    net_cancel_on_sigint(fetcher._sockets)


class _NoProgress:
    def __enter__(self) -> Callable[[int], None]:
        return lambda n: None

    def __exit__(self, *exc: object) -> None:
        return None


class _RichProgress:
    def __init__(self, what: str, total: int):
        # Imported here: only a terminal shows a bar, and rich costs every other run (a CI
        # log, a warm rebuild) a twentieth of a second to import.
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

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
