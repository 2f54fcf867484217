"""HTTP to registries: one urllib3 pool manager per client, TLS checked, failures retried.

Registries are HTTPS. Plain HTTP is used only for the loopback hosts (``localhost``,
``127.0.0.1``, ``[::1]`` in any spelling, ``127.1`` or ``[0:0::1]`` say, any port), where a
local test registry runs and nothing crosses a network, and for hosts the user names with
``--insecure-registry``, and for those only when they do not speak TLS (docker's order: HTTPS
first, then HTTP). Certificates are checked
against the system's store plus the ``--ca-cert`` files; one that does not verify is a
:class:`RegistryTrustError` saying so, never retried and never ignored.

A request is retried, with exponential backoff and jitter, when the connection is refused,
drops or times out, and on 429 and 5xx (after the ``Retry-After`` the registry asks for,
within a cap), a bounded number of times and within a total time per request. Only requests
that are safe to repeat are retried, and a body is never a stream that a first attempt may
have half consumed: it is bytes or a factory that opens it afresh. ``PATCH`` of an upload
chunk is sent once: the client asks the registry how much arrived and resumes from there.

A response's body has a deadline of its own, for the whole body rather than each read (30 s
plus 10 s per MB, as for the Debian downloads), so a registry that sends a byte now and then
fails in time. ``$PYDISTROLESS_DEADLINE_SCALE`` multiplies every wait, timeout and total: more
than 1 on a slow link, much less in tests. A cancel (:meth:`Transport.cancel`, as Ctrl-C does
to the downloads) shuts every open socket down and wakes every wait between attempts, so a
blocked read or a backoff ends now.

A login goes only where it is for: the ``Authorization`` of a request is dropped on a redirect
to another scheme, host or port (:func:`same_origin`), and the client sends none to an upload
``Location`` or a ``Link`` elsewhere.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import os
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import urllib3

from pydistroless import __version__
from pydistroless.core.errors import RegistryError, RegistryTrustError, UsageError
from pydistroless.core.net import (
    DEADLINE_SCALE_VAR,
    Interrupted,
    Sockets,
    cancel_on_sigint,
    deadline_scale,
    pool_classes,
)

CHUNK = 1 << 20
# The loopback hosts as canonical_host spells them.
LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A socket read is never given less than this (zero would make it non-blocking).
_LEAST_TIMEOUT = 0.05
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
# Parallel requests to one host: blob uploads run a few at a time, each with its own socket.
_POOL_SIZE = 8

# A body to send: bytes, or a factory that opens it anew for every attempt (a file, or an
# iterable of chunks). Never a stream, which a failed attempt would leave half read.
Body = bytes | Callable[[], BinaryIO | Iterable[bytes]] | None


@dataclass(frozen=True)
class Policy:
    """How hard to try. A request gets ``attempts`` tries, waiting ``backoff`` seconds before
    the second and twice as long before each next one (up to ``backoff_cap``, each wait a
    random part of that, so parallel uploads do not retry in step), or what ``Retry-After``
    asks (up to ``retry_after_cap``), and none once ``total`` seconds have gone by."""

    attempts: int = 6
    backoff: float = 0.5
    backoff_cap: float = 10.0
    retry_after_cap: float = 30.0
    total: float = 60.0
    connect_timeout: float = 10.0
    # The longest wait for response headers or any one read of a body.
    read_timeout: float = 60.0
    # A whole body must be in within body_grace + size / min_rate seconds: 30 s plus 10 s per
    # MB, so a registry slower than 100 kB/s is failing (of a body of unknown size, each
    # byte must come at that rate after the grace).
    body_grace: float = 30.0
    min_rate: float = 100_000.0

    def body_deadline(self, size: int) -> float:
        return self.body_grace + size / self.min_rate

    def scaled(self, factor: float) -> Policy:
        return Policy(
            attempts=self.attempts,
            backoff=self.backoff * factor,
            backoff_cap=self.backoff_cap * factor,
            retry_after_cap=self.retry_after_cap * factor,
            total=self.total * factor,
            body_grace=self.body_grace * factor,
            min_rate=self.min_rate / factor,
            # Timeouts shrink in tests but never grow past the defaults: a longer wait for a
            # dead peer helps no slow link.
            connect_timeout=min(self.connect_timeout, self.connect_timeout * factor),
            read_timeout=min(self.read_timeout, self.read_timeout * factor),
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Policy:
        factor = deadline_scale(environ)
        return cls() if factor is None else cls().scaled(factor)

    def wait(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.retry_after_cap))
        ceiling = min(self.backoff_cap, self.backoff * (2**attempt))
        return rng.uniform(ceiling / 2, ceiling)


class Response:
    """A response whose body is still on the socket: read it with :meth:`read` or
    :meth:`chunks`, and :meth:`close` it (or use ``with``) so its connection is reused.

    Reading the body fails in one line: :class:`TooSlow` when it misses its deadline
    (:meth:`Policy.body_deadline`), :class:`BodyCutOff` when the connection breaks off or a
    read times out, :class:`Interrupted` after a cancel."""

    def __init__(self, raw: urllib3.BaseHTTPResponse, url: str, transport: Transport):
        self.raw = raw
        self.url = url
        self.status = raw.status
        self.headers = raw.headers
        self._transport = transport

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def announced(self) -> int | None:
        """The ``Content-Length``, when there is a valid one."""
        value = self.headers.get("Content-Length", "")
        return int(value) if value.isdigit() else None

    def chunks(self, size: int = CHUNK, *, expected: int | None = None) -> Iterator[bytes]:
        """The body in pieces of at most ``size`` bytes, as they arrive, the whole of it
        within the deadline of ``expected`` bytes (by default the ``Content-Length``)."""
        clock = _BodyClock(self._transport.policy, expected or self.announced)
        got = 0
        while True:
            self._bound_next_read(clock, got)
            try:
                chunk = self.raw.read1(size)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise self._broken(exc, clock, got) from None
            if not chunk:
                if self._transport.cancelled:
                    # A cancel shuts the socket down: the body just ends, and is not all.
                    raise Interrupted()
                return
            got += len(chunk)
            yield chunk

    def read(self, limit: int) -> bytes | None:
        """The whole body, or None as soon as it is known to be longer than ``limit``."""
        announced = self.announced
        if announced is not None and announced > limit:
            return None
        parts: list[bytes] = []
        got = 0
        for chunk in self.chunks(min(CHUNK, limit + 1)):
            got += len(chunk)
            if got > limit:
                return None
            parts.append(chunk)
        return b"".join(parts)

    def _bound_next_read(self, clock: _BodyClock, got: int) -> None:
        """Fail now if the body is cancelled or late, else let the next read wait no longer
        than the deadline leaves (and than the read timeout)."""
        if self._transport.cancelled:
            raise Interrupted()
        if clock.left(got) <= _LEAST_TIMEOUT:
            raise self._too_slow(clock, got)
        connection = self.raw.connection  # None once the body is in and the socket pooled
        if connection is not None and connection.sock is not None:
            timeout = min(self._transport.policy.read_timeout, clock.left(got))
            connection.sock.settimeout(max(_LEAST_TIMEOUT, timeout))

    def _broken(self, exc: BaseException, clock: _BodyClock, got: int) -> BaseException:
        if self._transport.cancelled:
            return Interrupted()
        if clock.left(got) <= _LEAST_TIMEOUT:
            return self._too_slow(clock, got)
        reason, host = _reason(exc), _host_of(self.url)
        if reason == "timed out":
            wait = self._transport.policy.read_timeout
            what = f"{host} sent nothing for {wait:.0f} s after {got} bytes of its answer"
        else:
            what = f"the answer of {host} broke off after {got} bytes ({reason})"
        return BodyCutOff(f"{what}; try again", reason)

    def _too_slow(self, clock: _BodyClock, got: int) -> TooSlow:
        host = _host_of(self.url)
        return TooSlow(
            f"{host} is too slow: its answer was not all in after {clock.budget(got):.1f} s "
            f"(${DEADLINE_SCALE_VAR} gives a slow link more time)"
        )

    def close(self) -> None:
        """Drop what is left of the body (a half-read body cannot precede the next response
        on the connection) and give the connection back."""
        if not self.raw.isclosed():
            self.raw.close()
        self.raw.release_conn()

    def discard(self) -> None:
        """Read a small rest of the body so the connection can be reused, then close."""
        with contextlib.suppress(urllib3.exceptions.HTTPError, OSError, RegistryError):
            self.read(64 << 10)
        self.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _BodyClock:
    """The deadline of one body: ``Policy.body_deadline`` of its size, counted from the
    first read; of a body of unknown size, of what has come so far."""

    def __init__(self, policy: Policy, expected: int | None):
        self._policy = policy
        self._expected = expected
        self._start = time.monotonic()

    def budget(self, got: int) -> float:
        return self._policy.body_deadline(self._expected if self._expected is not None else got)

    def left(self, got: int) -> float:
        return self._start + self.budget(got) - time.monotonic()


class Transport:
    """The HTTP side of one registry client; thread-safe (urllib3's pools are)."""

    def __init__(
        self,
        *,
        insecure: Collection[str] = (),
        ca_certs: Sequence[Path] = (),
        policy: Policy | None = None,
    ):
        self.insecure = frozenset(h.lower() for h in insecure)
        self.policy = policy or Policy.from_environ()
        self._rng = random.Random()
        self._rng_lock = threading.Lock()
        self._sockets = Sockets()
        self._schemes: dict[str, str] = {}
        self._schemes_lock = threading.Lock()
        self._http = urllib3.PoolManager(
            num_pools=16,
            maxsize=_POOL_SIZE,
            retries=False,
            headers={"User-Agent": f"pydistroless/{__version__}"},
            ssl_context=_ssl_context(ca_certs),
        )
        self._http.pool_classes_by_scheme = pool_classes(self._sockets)
        # Ctrl-C ends this transport's requests too, whichever thread waits on them.
        cancel_on_sigint(self._sockets)

    def plain_allowed(self, host: str) -> bool:
        """Whether ``host`` (``NAME[:PORT]``) may be spoken to in plain HTTP: loopback
        however it is spelt, or named by the user (with this port, or with none)."""
        name, port = split_host(host)
        if name in LOOPBACK:
            return True
        named = {split_host(h) for h in self.insecure}
        return (name, port) in named or (name, None) in named

    def base_url(self, host: str) -> str:
        """``https://HOST``, or ``http://HOST`` for a host that may use plain HTTP and does
        not speak TLS: it is asked once (``GET /v2/`` over TLS first, as docker does). A
        certificate that does not verify stays an error, loopback or not."""
        # One probe per host, however many threads ask at once.
        with self._schemes_lock:
            known = self._schemes.get(host)
            if known is None:
                known = "https"
                if self.plain_allowed(host):
                    try:
                        self.request("GET", f"https://{host}/v2/").discard()
                    except _HandshakeFailed:
                        known = "http"
                self._schemes[host] = known
        return f"{known}://{host}"

    @property
    def cancelled(self) -> bool:
        return self._sockets.cancelled.is_set()

    def cancel(self) -> None:
        """End every request of this transport, now and from now on (:class:`Interrupted`)."""
        self._sockets.cancel()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (between attempts), or raise :class:`Interrupted` as soon as the
        transport is cancelled."""
        if self._sockets.cancelled.wait(max(0.0, seconds)):
            raise Interrupted()

    def close(self) -> None:
        self._http.clear()

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        retry: bool = True,
        follow: bool = False,
    ) -> Response:
        """Send one request (retried when ``retry``, see the module's notes) and return the
        response, whatever its status, once its headers are in. With ``follow``, redirects
        of a GET or HEAD are followed; the ``Authorization`` header goes only to the scheme,
        host and port it was meant for (a redirect elsewhere, or from https to http, goes
        without it, from then on). Failing to reach the host at all is a
        :class:`RegistryError`."""
        target = url
        sent_headers = dict(headers or {})
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._with_retries(method, target, sent_headers, body, retry)
            location = response.header("Location")
            if not (follow and response.status in REDIRECT_STATUSES and location):
                return response
            response.discard()
            target = urljoin(target, location)
            if not same_origin(target, url):
                sent_headers = {
                    k: v for k, v in sent_headers.items() if k.lower() != "authorization"
                }
            if response.status == 303:
                method, body = "GET", None
        raise RegistryError(
            f"{_host_of(url)} redirects {method} {urlsplit(url).path} more than "
            f"{_MAX_REDIRECTS} times; the registry is misconfigured"
        )

    def _with_retries(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Body,
        retry: bool,
    ) -> Response:
        policy = self.policy
        attempts = policy.attempts if retry else 1
        started = time.monotonic()
        for attempt in range(attempts):
            try:
                response = self._send(method, url, headers, body)
            except _Unreachable as failure:
                last = attempt + 1 >= attempts or not failure.worth_retrying
                if not last:
                    wait = self._wait(attempt, None, started)
                    if wait is not None:
                        self.sleep(wait)
                        continue
                raise failure.error(url, attempt + 1, time.monotonic() - started) from None
            if response.status not in RETRY_STATUSES or attempt + 1 >= attempts:
                return response
            retry_after = _retry_after(response.header("Retry-After"))
            wait = self._wait(attempt, retry_after, started)
            if wait is None:
                return response
            response.discard()
            self.sleep(wait)
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, retry_after: float | None, started: float) -> float | None:
        """How long to wait before the next attempt, or None when it would end past the
        total time a request may take."""
        with self._rng_lock:
            wait = self.policy.wait(attempt, retry_after, self._rng)
        if time.monotonic() - started + wait > self.policy.total:
            return None
        return wait

    def _send(self, method: str, url: str, headers: dict[str, str], body: Body) -> Response:
        if self._sockets.cancelled.is_set():
            raise Interrupted()
        payload: bytes | BinaryIO | Iterable[bytes] | None
        payload = body() if callable(body) else body
        try:
            raw = self._http.request(
                method,
                url,
                headers=headers,
                body=payload,
                preload_content=False,
                decode_content=False,  # digests are of the bytes as served
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(
                    connect=self.policy.connect_timeout, read=self.policy.read_timeout
                ),
            )
        except urllib3.exceptions.SSLError as exc:
            if self._sockets.cancelled.is_set():
                raise Interrupted() from None
            raise _tls_error(url, exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if self._sockets.cancelled.is_set():
                raise Interrupted() from None
            raise _Unreachable(exc) from None
        finally:
            close = getattr(payload, "close", None)
            if callable(body) and callable(close):
                close()
        return Response(raw, url, self)


class Unreachable(RegistryError):
    """No response at all, after the retries: refused, dropped, timed out, host unknown.
    ``reason`` says which; the client resumes an upload after one."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class BodyCutOff(Unreachable):
    """A body that stopped arriving part way (the connection broke off, or a read timed
    out): worth one more GET where what came can be dropped."""


class TooSlow(RegistryError):
    """A body that was not all in by its deadline."""


class _HandshakeFailed(RegistryError):
    """A TLS handshake failed for a reason other than the certificate: for a host allowed
    plain HTTP, a sign that it serves plain HTTP."""


class _NotTLS(_HandshakeFailed):
    """The host answered a TLS handshake in plain text."""


class _Unreachable(Exception):
    """One attempt that got no response."""

    def __init__(self, cause: BaseException):
        super().__init__()
        self.reason = _reason(cause)
        # A host that does not resolve will not resolve in a second either.
        self.worth_retrying = self.reason != "host not found"

    def error(self, url: str, attempts: int, elapsed: float) -> Unreachable:
        host = _host_of(url)
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''} in {elapsed:.1f} s"
        if self.reason == "host not found":
            hint = "check the registry's name"
        elif self.reason == "connection refused":
            hint = f"is the registry running at {host}?"
        else:
            hint = f"check the network and the registry at {host}"
        return Unreachable(f"cannot reach {host} ({self.reason}; {tries}): {hint}", self.reason)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(e) for e in _chain(exc))
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if (
        "name or service not known" in lowered
        or "failed to resolve" in lowered
        or "nodename nor servname" in lowered
        or "temporary failure in name resolution" in lowered
    ):
        return "host not found"
    if "timed out" in lowered:
        return "timed out"
    if "reset by peer" in lowered:
        return "connection reset"
    if isinstance(exc, urllib3.exceptions.ProtocolError) or "broken pipe" in lowered:
        return "the connection broke off"
    return "no response"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(a for a in current.args if isinstance(a, BaseException))
        for linked in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(linked, BaseException):
                pending.append(linked)


def _tls_error(url: str, exc: BaseException) -> RegistryError:
    host = _host_of(url)
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = (cause.verify_message or "it does not verify").strip()
            return RegistryTrustError(
                f"the TLS certificate of {host} is not trusted ({why}); pass --ca-cert FILE "
                "with the CA that signed it, or install that CA in the system's store"
            )
    text = " ".join(str(e) for e in _chain(exc))
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return RegistryTrustError(
            f"the TLS certificate of {host} is not trusted; pass --ca-cert FILE with the CA "
            "that signed it, or install that CA in the system's store"
        )
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        return _NotTLS(
            f"{host} does not speak TLS; if it serves plain HTTP, pass --insecure-registry {host}"
        )
    return _HandshakeFailed(f"the TLS handshake with {host} failed; check the registry's TLS setup")


def _ssl_context(ca_certs: Sequence[Path]) -> ssl.SSLContext:
    """The system's trust store plus each ``--ca-cert`` file."""
    context = ssl.create_default_context(capath=_hashed_cert_dir())
    for path in ca_certs:
        try:
            context.load_verify_locations(cafile=str(path))
        except FileNotFoundError:
            raise UsageError(
                f"--ca-cert {path}: no such file; pass the PEM file of the registry's CA"
            ) from None
        except (ssl.SSLError, OSError, ValueError):
            raise UsageError(
                f"--ca-cert {path}: not a readable PEM certificate; pass the PEM file of the "
                "registry's CA"
            ) from None
    return context


def _hashed_cert_dir() -> str | None:
    """The system's certificate folder when OpenSSL can look certificates up in it by hash
    (Debian's /etc/ssl/certs), else None for the default trust store. Looked up, a
    certificate is read when a handshake needs it; the default store parses the whole bundle
    first, which costs a registry command a sixth of its start-up."""
    if "SSL_CERT_FILE" in os.environ or "SSL_CERT_DIR" in os.environ:
        return None
    paths = ssl.get_default_verify_paths()
    directory = paths.capath or paths.openssl_capath
    try:
        with os.scandir(directory) as entries:
            hashed = any(len(e.name) == 10 and e.name.endswith(".0") for e in entries)
    except OSError:
        return None
    return directory if hashed else None


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def split_host(host: str) -> tuple[str, int | None]:
    """``NAME[:PORT]`` (``[V6]:PORT``, or a bare IPv6 address) -> the canonical name and the
    port, or None for none (or one that is not a number)."""
    host = host.strip()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""
    return canonical_host(name), int(port) if port.isdigit() else None


def canonical_host(name: str) -> str:
    """A host name as it compares: lower case without a final dot, an IP address in one
    spelling whatever the one given (``127.1``, ``0x7f.0.0.1`` and ``2130706433`` are
    ``127.0.0.1``; ``0:0::1`` and ``::ffff:127.0.0.1`` are ``[::1]`` and ``127.0.0.1``), an
    IPv6 address in brackets."""
    name = name.strip().strip("[]").lower().rstrip(".")
    if ":" in name:
        try:
            address = ipaddress.IPv6Address(name)
        except ValueError:
            return name
        mapped = address.ipv4_mapped
        return str(mapped) if mapped is not None else f"[{address}]"
    # What the resolver takes for an IPv4 address (inet_aton's forms), it connects to as one.
    if re.fullmatch(r"[0-9a-fx.]+", name) and name[:1].isdigit():
        try:
            return str(ipaddress.IPv4Address(socket.inet_aton(name)))
        except OSError:
            return name
    return name


def origin(url: str) -> tuple[str, str, int | None]:
    """The scheme, canonical host and port (the scheme's default when none is given) of
    ``url``: what must be equal for a login to go along."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1  # not a port: equal to nothing real
    return scheme, canonical_host(parts.hostname or ""), port or _DEFAULT_PORTS.get(scheme)


def same_origin(url: str, other: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``other`` (so a login for the one
    may go to the other: not to another host or port, nor from https to http)."""
    mine = origin(url)
    return mine[0] in _DEFAULT_PORTS and mine == origin(other)


def _host_of(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2]
