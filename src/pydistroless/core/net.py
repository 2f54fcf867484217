"""HTTP plumbing shared by the archive downloader and the registry client: connection pools
whose sockets a cancel can shut down, the logins sent to the URLs they belong to, and the one
reading of ``$PYDISTROLESS_DEADLINE_SCALE``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydistroless.core.errors import ConfigError

if TYPE_CHECKING:
    from urllib3.connectionpool import HTTPConnectionPool

DEADLINE_SCALE_VAR = "PYDISTROLESS_DEADLINE_SCALE"


def deadline_scale(environ: Mapping[str, str] | None = None) -> float | None:
    """The factor ``$PYDISTROLESS_DEADLINE_SCALE`` multiplies every deadline by (more than 1
    on a very slow link, less in tests), or None when it is not set."""
    raw = (os.environ if environ is None else environ).get(DEADLINE_SCALE_VAR, "").strip()
    if not raw:
        return None
    try:
        factor = float(raw)
    except ValueError:
        factor = 0.0
    if not 0 < factor < 1e6:
        raise ConfigError(
            f"{DEADLINE_SCALE_VAR}={raw!r} is not a positive number; set it to, say, 2 to "
            "give slow servers twice the time"
        )
    return factor


class Interrupted(KeyboardInterrupt):
    """The downloads were cancelled (Ctrl-C). A KeyboardInterrupt, so that wherever it
    surfaces the command ends as interrupted, and ``except Exception`` does not swallow it."""


@dataclass(frozen=True)
class Login:
    """An HTTP basic-auth login for the URLs under one ``scheme://host[:port]/path`` prefix.

    As in apt_auth.conf(5): no port matches every port, and the path is a plain prefix of the
    request's path."""

    schemes: tuple[str, ...]
    host: str
    port: int | None
    path: str
    user: str = field(repr=False)
    password: str = field(repr=False)

    def matches(self, url: str) -> bool:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            return False
        return (
            parts.scheme in self.schemes
            and (parts.hostname or "") == self.host
            and (self.port is None or port == self.port)
            and (parts.path or "/").startswith(self.path)
        )


@dataclass(frozen=True)
class Credentials:
    """The logins of a run, first match wins: those given in mirror URLs, then apt's."""

    logins: tuple[Login, ...] = ()

    def __repr__(self) -> str:
        return f"Credentials(<{len(self.logins)} login(s)>)"

    def basic_auth(self, url: str) -> str | None:
        """``USER:PASS`` for ``url``, or None when no login applies to it."""
        login = next((x for x in self.logins if x.matches(url)), None)
        return None if login is None else f"{login.user}:{login.password}"


def split_login(url: str) -> tuple[str, Login | None]:
    """``url`` without its ``USER:PASS@``, and that login for every URL of its scheme, host
    and port (an index serves its files from other paths of its host than its own); None
    when it has none. The parts are percent-decoded, as pip and uv read them."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None
    clean = urlunsplit(parts._replace(netloc=hostport))
    try:
        port = parts.port
    except ValueError:
        return clean, None  # no host a request can go to: the login goes nowhere
    user, _, password = userinfo.partition(":")
    login = Login(
        schemes=(parts.scheme,),
        host=(parts.hostname or "").lower(),
        port=port,
        path="/",
        user=unquote(user),
        password=unquote(password),
    )
    return clean, login


class Sockets:
    """The open sockets of one fetcher, so that a cancel can shut them all down: a thread
    blocked in a read then returns at once, however long its timeout."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._open: weakref.WeakSet[socket.socket] = weakref.WeakSet()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if self.cancelled.is_set():
                sock.close()
                raise Interrupted()
            self._open.add(sock)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled.set()
            sockets = list(self._open)
        for sock in sockets:
            # The plain socket's shutdown, also for TLS: it leaves the TLS state to the
            # thread that is reading, which then sees the connection end.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def pool_classes(sockets: Sockets) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pools whose connections report their sockets to ``sockets``."""
    # Imported here: the logins above are read by every command, and urllib3 costs each
    # start a thirtieth of a second; only a download or a registry needs it.
    from urllib3.connection import HTTPConnection, HTTPSConnection  # noqa: PLC0415
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool  # noqa: PLC0415

    class Connection(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            sockets.add(self.sock)

    class TLSConnection(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            sockets.add(self.sock)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConnection

    return {"http": Pool, "https": TLSPool}


# Every set of sockets a Ctrl-C must end: the process's, as the signal is.
_WATCHED: weakref.WeakSet[Sockets] = weakref.WeakSet()


def cancel_on_sigint(sockets: Sockets) -> None:
    """Make Ctrl-C cancel ``sockets`` (a downloader's, a registry transport's) wherever the
    main thread is (waiting on a pool in a ``with`` block, say), so that no read blocked in
    another thread holds the exit; then KeyboardInterrupt is raised as usual. The handler is
    left alone when SIGINT is not Python's default (ignored, or someone else's), or off the
    main thread, where no handler can be installed."""
    _WATCHED.add(sockets)
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGINT)
    if current is _on_sigint or current is not signal.default_int_handler:
        return
    signal.signal(signal.SIGINT, _on_sigint)


def _on_sigint(signum: int, frame: FrameType | None) -> Any:
    for sockets in list(_WATCHED):
        sockets.cancel()
    return signal.default_int_handler(signum, frame)
