"""Logging in to a registry: its ``WWW-Authenticate`` challenge, basic auth, bearer tokens.

A registry says how it wants to be authenticated in the ``WWW-Authenticate`` header of a 401
(RFC 7235): ``Basic realm="..."``, or ``Bearer realm="...",service="...",scope="..."`` for the
Docker token flow, where a token for a set of scopes (``repository:NAME:pull,push``) is asked
of the realm, with the user's login when there is one, and sent as ``Bearer TOKEN``. An
identity token (what ``docker login`` keeps for some registries instead of a password) is an
OAuth2 refresh token: it goes to the realm in a ``POST`` (``grant_type=refresh_token``), as
docker does. Tokens are cached per realm, service and scope set until ``expires_in`` runs out;
a token asked for more scopes serves requests that need fewer.

Secrets never reach a message, a log line or a repr: the login is looked up here and nowhere
else, an ``Authorization`` value is a :class:`Redacted` string whose repr hides it, and no
error raised here carries (or is chained to) anything the secret went into.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode, urlsplit

from pydistroless.core.errors import RegistryAuthError, RegistryError
from pydistroless.oci.limits import load_json
from pydistroless.registry import keychain
from pydistroless.registry.transport import Response, Transport

CLIENT_ID = "pydistroless"
DEFAULT_TOKEN_LIFETIME = 60.0
# A token is renewed when this share of its lifetime is left, so it cannot expire in flight.
_RENEW_SHARE = 0.1
_TOKEN_ANSWER_MAX = 1 << 20


class SecretLike(Protocol):
    """What :func:`pydistroless.registry.keychain.find` returns: a user and a password, or an
    identity token in ``password`` when ``identity_token`` is true."""

    @property
    def username(self) -> str: ...

    @property
    def password(self) -> str: ...

    @property
    def identity_token(self) -> bool: ...


Credentials = Callable[[str], SecretLike | None]


class Redacted(str):
    """An ``Authorization`` header value: sent as the text it is, shown as ``<redacted>``
    wherever a repr is taken (urllib3's debug logs, a dict of headers in a traceback)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<redacted>"


# ---- challenges --------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header: the scheme in lower case, and its
    parameters with lower-case names (or a token68 under the name ``""``)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.params.get("scope", "").split())

    @property
    def error(self) -> str | None:
        return self.params.get("error")


_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68 = frozenset("-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPACE = " \t"


def parse_challenges(header: str | Iterable[str]) -> list[Challenge]:
    """Every challenge in one or more ``WWW-Authenticate`` values (RFC 7235 section 4.1:
    comma-separated challenges, each a scheme then a token68 or ``name=value`` parameters,
    values tokens or quoted strings with backslash escapes). What cannot be read is skipped,
    so a registry's odd extra challenge does not hide the one that can be used."""
    text = header if isinstance(header, str) else ", ".join(header)
    return _Parser(text).challenges()


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.at = 0

    def challenges(self) -> list[Challenge]:
        found: list[Challenge] = []
        while True:
            self._skip(_SPACE + ",")
            if self.at >= len(self.text):
                return found
            scheme = self._token()
            if not scheme:
                self._skip_to_comma()
                continue
            found.append(Challenge(scheme.lower(), self._params()))

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        self._skip(_SPACE)
        token68 = self._token68()
        if token68 is not None:
            params[""] = token68
            return params
        while True:
            mark = self.at
            self._skip(_SPACE)
            name = self._token()
            self._skip(_SPACE)
            if not name or not self._peek("="):
                # The next challenge's scheme (or garbage): leave it for the caller.
                self.at = mark
                return params
            self.at += 1
            self._skip(_SPACE)
            value = self._quoted() if self._peek('"') else self._token()
            params.setdefault(name.lower(), value)
            self._skip(_SPACE)
            if not self._peek(","):
                if self.at < len(self.text):
                    self._skip_to_comma()
                return params
            # Past the comma: another parameter or the next challenge; either way a run of
            # empty list elements may come first.
            self.at += 1
            while self._skip(_SPACE) or self._peek(","):
                if self._peek(","):
                    self.at += 1
                else:
                    break

    def _token68(self) -> str | None:
        """A token68 (``Negotiate abc==``): token68 characters, then only '=', up to the end
        or a comma. A word followed by ``=`` and a value is a parameter instead."""
        text, end = self.text, self.at
        while end < len(text) and text[end] in _TOKEN68:
            end += 1
        if end == self.at:
            return None
        while end < len(text) and text[end] == "=":
            end += 1
        rest = end
        while rest < len(text) and text[rest] in _SPACE:
            rest += 1
        if rest < len(text) and text[rest] != ",":
            return None
        value = text[self.at : end]
        self.at = rest
        return value

    def _token(self) -> str:
        start = self.at
        while self.at < len(self.text) and self.text[self.at] in _TCHAR:
            self.at += 1
        return self.text[start : self.at]

    def _quoted(self) -> str:
        self.at += 1  # the opening quote
        out: list[str] = []
        while self.at < len(self.text):
            char = self.text[self.at]
            self.at += 1
            if char == "\\" and self.at < len(self.text):
                out.append(self.text[self.at])
                self.at += 1
            elif char == '"':
                return "".join(out)
            else:
                out.append(char)
        return "".join(out)  # unterminated: what there is

    def _peek(self, char: str) -> bool:
        return self.at < len(self.text) and self.text[self.at] == char

    def _skip(self, chars: str) -> bool:
        start = self.at
        while self.at < len(self.text) and self.text[self.at] in chars:
            self.at += 1
        return self.at > start

    def _skip_to_comma(self) -> None:
        while self.at < len(self.text) and self.text[self.at] != ",":
            if self.text[self.at] == '"':
                self._quoted()
            else:
                self.at += 1


# ---- scopes ------------------------------------------------------------------------------


def repository_scope(name: str, *actions: str) -> str:
    return f"repository:{name}:{','.join(actions)}"


def merge_scopes(*groups: Iterable[str]) -> tuple[str, ...]:
    """The scopes of all ``groups``, one per resource with the union of its actions, sorted:
    what a token is asked for and cached under."""
    actions: dict[str, list[str]] = {}
    for group in groups:
        for scope in group:
            resource, _, wanted = scope.rpartition(":")
            if not resource:
                continue
            have = actions.setdefault(resource, [])
            have.extend(a for a in wanted.split(",") if a and a not in have)
    return tuple(
        f"{resource}:{','.join(sorted(have))}" for resource, have in sorted(actions.items())
    )


def _covers(granted: Sequence[str], wanted: Sequence[str]) -> bool:
    have = {s.rpartition(":")[0]: set(s.rpartition(":")[2].split(",")) for s in granted}
    for scope in wanted:
        resource, _, actions = scope.rpartition(":")
        if not set(actions.split(",")) <= have.get(resource, set()):
            return False
    return True


# ---- the authenticator -------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    value: Redacted = field(repr=False)
    scopes: tuple[str, ...]
    renew_at: float


class Auth:
    """How requests to one registry host are authorised; thread-safe.

    :meth:`ping` learns the challenge once (``GET /v2/``, as docker does), so the first
    upload does not send its body only to be refused. :meth:`headers` is the
    ``Authorization`` for a request needing ``scopes``; after a 401, :meth:`refused` says
    whether one more try with fresh authorisation can help.
    """

    def __init__(
        self,
        registry: str,
        base_url: Callable[[], str],
        transport: Transport,
        credentials: Credentials | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.registry = registry
        self.base_url = base_url
        self._transport = transport
        self._credentials = credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._ping_lock = threading.Lock()  # held through the ping, so there is one
        self._pinged = False
        self._challenge: Challenge | None = None
        self._secret_known = False
        self._secret: SecretLike | None = None
        self._tokens: dict[tuple[str, str, tuple[str, ...]], _Token] = {}
        self._fetching: dict[tuple[str, str, tuple[str, ...]], threading.Lock] = {}

    def __repr__(self) -> str:
        return f"Auth({self.registry!r})"

    # -- what is known --

    @property
    def user(self) -> str | None:
        """The user name of the login for this registry, or None when going anonymous."""
        secret = self._login()
        return None if secret is None or secret.identity_token else secret.username

    @property
    def has_login(self) -> bool:
        return self._login() is not None

    @property
    def scheme(self) -> str | None:
        """``basic``, ``bearer`` or None (no challenge seen: the registry is open)."""
        self.ping()
        return None if self._challenge is None else self._challenge.scheme

    def _login(self) -> SecretLike | None:
        with self._lock:
            if not self._secret_known:
                lookup = self._credentials
                if lookup is None:
                    lookup = keychain.find
                self._secret = lookup(self.registry)
                self._secret_known = True
            return self._secret

    # -- the flow --

    def ping(self) -> None:
        """Learn the registry's challenge, once per client: threads that ask meanwhile wait
        for the answer rather than sending their own."""
        with self._ping_lock:
            if self._pinged:
                return
            response = self._transport.request("GET", f"{self.base_url()}/v2/")
            try:
                challenge = self._usable(response) if response.status == 401 else None
            finally:
                response.discard()
            with self._lock:
                self._challenge = challenge
                self._pinged = True

    def headers(self, scopes: Sequence[str]) -> dict[str, str]:
        """The ``Authorization`` header for a request needing ``scopes`` (none when the
        registry is open or no login is known for basic auth)."""
        self.ping()
        challenge = self._challenge
        if challenge is None:
            return {}
        if challenge.scheme == "basic":
            secret = self._login()
            if secret is None or secret.identity_token:
                return {}
            return {"Authorization": _basic(secret)}
        token = self._token(challenge, merge_scopes(scopes))
        return {"Authorization": Redacted(f"Bearer {token.value}")}

    def refused(
        self, response: Response, scopes: Sequence[str], sent: Mapping[str, str]
    ) -> tuple[str, ...] | None:
        """After a 401: the scopes to try once more with, or None when trying again cannot
        help (a basic login that was refused, or no login to send)."""
        challenge = self._usable(response)
        if challenge is None:
            return None
        with self._lock:
            self._challenge = challenge
            self._pinged = True
        if challenge.scheme == "basic":
            # A retry helps only if this request went without the login it now can have.
            if "Authorization" in sent or self._login() is None:
                return None
            return tuple(scopes)
        wanted = merge_scopes(scopes, challenge.scopes)
        self._forget(challenge, wanted)
        return wanted

    def _usable(self, response: Response) -> Challenge | None:
        challenges = parse_challenges(response.headers.getlist("WWW-Authenticate"))
        for challenge in challenges:
            if challenge.scheme == "bearer" and challenge.realm:
                return challenge
        for challenge in challenges:
            if challenge.scheme == "basic":
                return challenge
        return None

    # -- tokens --

    def _key(self, challenge: Challenge, scopes: tuple[str, ...]) -> tuple[str, str, tuple]:
        return (challenge.realm or "", challenge.service or "", scopes)

    def _forget(self, challenge: Challenge, scopes: tuple[str, ...]) -> None:
        """Drop every cached token of this realm that a request needing ``scopes`` could pick:
        the registry has just refused one of them."""
        with self._lock:
            for key in [
                k
                for k, t in self._tokens.items()
                if k[:2] == self._key(challenge, ())[:2] and _covers(t.scopes, scopes)
            ]:
                del self._tokens[key]

    def _cached(self, challenge: Challenge, scopes: tuple[str, ...]) -> _Token | None:
        now = self._clock()
        realm = self._key(challenge, ())[:2]
        with self._lock:
            for key, token in list(self._tokens.items()):
                if token.renew_at <= now:
                    del self._tokens[key]
                elif key[:2] == realm and _covers(token.scopes, scopes):
                    return token
        return None

    def _token(self, challenge: Challenge, scopes: tuple[str, ...]) -> _Token:
        cached = self._cached(challenge, scopes)
        if cached is not None:
            return cached
        key = self._key(challenge, scopes)
        with self._lock:
            gate = self._fetching.setdefault(key, threading.Lock())
        # One request per key at a time: parallel uploads share one token.
        with gate:
            cached = self._cached(challenge, scopes)
            if cached is not None:
                return cached
            token = self._fetch_token(challenge, scopes)
            with self._lock:
                self._tokens[key] = token
            return token

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> _Token:
        realm = challenge.realm or ""
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(
                f"{self.registry} names a token server at {realm[:120]!r}, which is not an "
                "http(s) URL; the registry is misconfigured"
            )
        secret = self._login()
        if (
            secret is not None
            and parts.scheme == "http"
            and not self._transport.plain_allowed(parts.netloc)
        ):
            raise RegistryAuthError(
                f"{self.registry} sends logins to the plain-http token server {parts.netloc}; "
                f"refusing to send the login in clear (pass --insecure-registry "
                f"{parts.netloc} to allow it)"
            )
        started = self._clock()
        if secret is not None and secret.identity_token:
            response = self._oauth(realm, challenge, scopes, secret)
        else:
            response = self._get_token(realm, challenge, scopes, secret)
        try:
            status = response.status
            body = response.read(_TOKEN_ANSWER_MAX) if status == 200 else None
        finally:
            response.discard()
        if status == 200 and body is not None:
            value, lifetime = _token_answer(body)
            if value is not None:
                return _Token(
                    value=Redacted(value),
                    scopes=scopes,
                    renew_at=started + lifetime * (1 - _RENEW_SHARE),
                )
        raise self._token_failure(status, parts.netloc, secret)

    def _get_token(
        self,
        realm: str,
        challenge: Challenge,
        scopes: tuple[str, ...],
        secret: SecretLike | None,
    ) -> Response:
        query: list[tuple[str, str]] = []
        if challenge.service:
            query.append(("service", challenge.service))
        query.extend(("scope", scope) for scope in scopes)
        headers: dict[str, str] = {}
        if secret is not None:
            query += [("offline_token", "true"), ("client_id", CLIENT_ID)]
            headers["Authorization"] = _basic(secret)
        separator = "&" if "?" in realm else "?"
        url = f"{realm}{separator}{urlencode(query)}" if query else realm
        return self._transport.request("GET", url, headers=headers)

    def _oauth(
        self,
        realm: str,
        challenge: Challenge,
        scopes: tuple[str, ...],
        secret: SecretLike,
    ) -> Response:
        form = {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "scope": " ".join(scopes),
            "refresh_token": secret.password,
        }
        if challenge.service:
            form["service"] = challenge.service
        body = urlencode(form).encode()
        return self._transport.request(
            "POST",
            realm,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=body,
        )

    def _token_failure(self, status: int, server: str, secret: SecretLike | None) -> RegistryError:
        login = f"`pydistroless login {self.registry}`"
        if status in (401, 403):
            if secret is None:
                return RegistryAuthError(
                    f"the token server {server} of {self.registry} refuses anonymous access "
                    f"(HTTP {status}); log in with {login}"
                )
            who = (
                "the identity token"
                if secret.identity_token
                else (f"the password for {secret.username}")
            )
            return RegistryAuthError(
                f"{who} was refused by the token server {server} of {self.registry} "
                f"(HTTP {status}); log in again with {login}"
            )
        if status == 200:
            return RegistryError(
                f"the token server {server} of {self.registry} answered without a token; "
                "the registry's auth is misconfigured"
            )
        return RegistryError(
            f"the token server {server} of {self.registry} answered HTTP {status}; try again "
            "later or check the registry's auth setup"
        )


def _basic(secret: SecretLike) -> Redacted:
    pair = f"{secret.username}:{secret.password}".encode()
    return Redacted(f"Basic {base64.b64encode(pair).decode('ascii')}")


def _token_answer(body: bytes) -> tuple[str | None, float]:
    """The token of a token server's answer (``token``, or OAuth2's ``access_token``) and
    its lifetime in seconds."""
    try:
        doc = load_json(body)
    except ValueError:  # not JSON (or not UTF-8), or nested past any real answer
        return None, 0.0
    if not isinstance(doc, dict):
        return None, 0.0
    token = doc.get("token") or doc.get("access_token")
    if not isinstance(token, str) or not token or any(c in token for c in "\r\n"):
        return None, 0.0
    lifetime = doc.get("expires_in")
    if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME
    return token, float(lifetime)
