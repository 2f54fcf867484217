"""Registry auth: the ``WWW-Authenticate`` parser, the token flow and its cache, and that no
secret ever shows in an error, a repr, a traceback or a log line.

The token flow runs against a tiny registry-and-token-server in a thread (plain HTTP on
127.0.0.1), so the requests really go through urllib3. The transport's small pure parts
(``Retry-After``, backoff, plain-HTTP hosts) are checked here too.
"""

from __future__ import annotations

import base64
import http.server
import io
import json
import logging
import random
import secrets
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import pytest

from pydistroless.core.digest import Digest
from pydistroless.core.errors import ConfigError, IntegrityError, RegistryAuthError, RegistryError
from pydistroless.core.net import Interrupted
from pydistroless.registry.auth import (
    Auth,
    Challenge,
    Redacted,
    merge_scopes,
    parse_challenges,
    repository_scope,
)
from pydistroless.registry.client import OCI_INDEX, OCI_MANIFEST, Registry
from pydistroless.registry.transport import Policy, Transport, _retry_after

FAST = Policy(attempts=2, backoff=0.01, backoff_cap=0.02, total=2, read_timeout=5)


# ---- the challenge parser ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Basic realm="Registry Realm"', [Challenge("basic", {"realm": "Registry Realm"})]),
        ("basic realm=simple", [Challenge("basic", {"realm": "simple"})]),
        (
            'Bearer realm="https://auth.test/token",service="registry.test",'
            'scope="repository:samalba/my-app:pull,push"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://auth.test/token",
                        "service": "registry.test",
                        "scope": "repository:samalba/my-app:pull,push",
                    },
                )
            ],
        ),
        (
            'Bearer realm="https://auth.test/token", service="svc", '
            'scope="repository:a:pull repository:b:pull", error="insufficient_scope"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://auth.test/token",
                        "service": "svc",
                        "scope": "repository:a:pull repository:b:pull",
                        "error": "insufficient_scope",
                    },
                )
            ],
        ),
        # Escapes inside quoted strings, and commas and '=' inside them.
        (
            r'Basic realm="say \"hi\", a=b \\ done"',
            [Challenge("basic", {"realm": 'say "hi", a=b \\ done'})],
        ),
        # Spaces around '=' (RFC 7235's BWS), upper-case names, odd spacing and empty items.
        (
            '  BEARER   Realm = "r" ,, Service=s ,  ',
            [Challenge("bearer", {"realm": "r", "service": "s"})],
        ),
        # Several challenges in one header.
        (
            'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
            [
                Challenge("newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}),
                Challenge("basic", {"realm": "simple"}),
            ],
        ),
        (
            'Basic realm="b", Bearer realm="https://t.test/token",service="s"',
            [
                Challenge("basic", {"realm": "b"}),
                Challenge("bearer", {"realm": "https://t.test/token", "service": "s"}),
            ],
        ),
        # A token68, and schemes without parameters.
        ("Negotiate abc+/def==", [Challenge("negotiate", {"": "abc+/def=="})]),
        ("Negotiate, Basic realm=x", [Challenge("negotiate"), Challenge("basic", {"realm": "x"})]),
        ("Basic", [Challenge("basic")]),
        # The first value of a repeated parameter counts.
        ("Basic realm=a, realm=b", [Challenge("basic", {"realm": "a"})]),
        # An unterminated quoted string gives what there is.
        ('Basic realm="open', [Challenge("basic", {"realm": "open"})]),
        ("", []),
        (",,, ,", []),
    ],
)
def test_parse_challenges(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


def test_parse_several_header_values() -> None:
    found = parse_challenges(['Basic realm="a"', 'Bearer realm="https://t.test/x",service=s'])
    assert [c.scheme for c in found] == ["basic", "bearer"]
    assert found[1].realm == "https://t.test/x"
    assert found[1].service == "s"


def test_challenge_accessors() -> None:
    (challenge,) = parse_challenges(
        'Bearer realm="r",scope="repository:a:pull repository:b:push",error="insufficient_scope"'
    )
    assert challenge.scopes == ("repository:a:pull", "repository:b:push")
    assert challenge.error == "insufficient_scope"
    assert Challenge("basic").scopes == ()


def test_garbage_does_not_hide_the_usable_challenge() -> None:
    found = parse_challenges('=== "junk", Bearer realm="https://t.test/token"')
    assert Challenge("bearer", {"realm": "https://t.test/token"}) in found


# ---- scopes --------------------------------------------------------------------------------


def test_merge_scopes() -> None:
    assert repository_scope("a/b", "pull", "push") == "repository:a/b:pull,push"
    assert merge_scopes(["repository:b:push", "repository:a:pull"], ["repository:b:pull"]) == (
        "repository:a:pull",
        "repository:b:pull,push",
    )
    assert merge_scopes(["repository:a:pull"], ["repository:a:pull"]) == ("repository:a:pull",)
    # A name with a port's colon keeps it: the actions are after the last colon.
    assert merge_scopes(["repository:h:5000/a:pull"]) == ("repository:h:5000/a:pull",)
    assert merge_scopes(["nonsense"]) == ()


# ---- a registry and token server to talk to -------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    form: dict[str, list[str]] = field(default_factory=dict)


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that cancelled and hung up is what some tests do


class FakeRegistry:
    """``/v2/...`` answers 401 with ``challenge`` unless the request carries an accepted
    ``Authorization``; ``/token`` answers ``token_answer(seen)`` as JSON (or an error)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.challenge = ""
        self.accept: Callable[[str | None], bool] = lambda _a: False
        self.token_status = 200
        self.token_answer: Callable[[Seen], dict[str, Any]] = lambda s: {"token": "tok"}
        self.v2_extra: Callable[[Seen], tuple[int, dict[str, str], bytes]] | None = None
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command,
                    url.path,
                    urllib.parse.parse_qs(url.query),
                    self.headers.get("Authorization"),
                    urllib.parse.parse_qs(body.decode()) if self.command == "POST" else {},
                )
                with owner.lock:
                    owner.seen.append(seen)
                if url.path == "/token":
                    status, headers, data = owner.token_status, {}, b""
                    if status == 200:
                        data = json.dumps(owner.token_answer(seen)).encode()
                    else:
                        data = b'{"details":"denied"}'
                elif owner.accept(seen.authorization):
                    if owner.v2_extra is not None:
                        status, headers, data = owner.v2_extra(seen)
                    else:
                        status, headers, data = 200, {}, b"{}"
                else:
                    status = 401
                    headers = {"WWW-Authenticate": owner.challenge}
                    data = json.dumps(
                        {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
                    ).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_HEAD = do_PUT = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    @property
    def realm(self) -> str:
        return f"http://{self.host}/token"

    def token_requests(self) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == "/token"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    yield server
    server.close()


@dataclass(frozen=True, repr=False)
class Login:
    username: str
    password: str
    identity_token: bool = False

    def __repr__(self) -> str:
        return f"Login({self.username!r})"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_auth(fake: FakeRegistry, login: Login | None = None, clock: Clock | None = None) -> Auth:
    transport = Transport(policy=FAST)
    return Auth(
        fake.host,
        lambda: f"http://{fake.host}",
        transport,
        lambda _host: login,
        clock=clock or Clock(),
    )


def bearer(fake: FakeRegistry, extra: str = "") -> None:
    fake.challenge = f'Bearer realm="{fake.realm}",service="svc"{extra}'


# ---- the token flow ------------------------------------------------------------------------


def test_open_registry_needs_no_header(fake: FakeRegistry) -> None:
    fake.accept = lambda _a: True
    auth = make_auth(fake)
    assert auth.headers(["repository:a:pull"]) == {}
    assert auth.scheme is None


def test_basic_auth_sends_the_login(fake: FakeRegistry) -> None:
    fake.challenge = 'Basic realm="r"'
    auth = make_auth(fake, Login("alice", "pw"))
    value = auth.headers(["repository:a:pull"])["Authorization"]
    assert value == "Basic " + base64.b64encode(b"alice:pw").decode()
    assert isinstance(value, Redacted)
    assert auth.scheme == "basic"
    # No login known: nothing to send.
    assert make_auth(fake).headers(["repository:a:pull"]) == {}


def test_token_request_parameters(fake: FakeRegistry) -> None:
    bearer(fake)
    auth = make_auth(fake, Login("alice", "pw"))
    value = auth.headers(["repository:b:pull", "repository:a:pull,push"])["Authorization"]
    assert value == "Bearer tok"
    (seen,) = fake.token_requests()
    assert seen.method == "GET"
    assert seen.query["service"] == ["svc"]
    assert seen.query["scope"] == ["repository:a:pull,push", "repository:b:pull"]
    assert seen.query["offline_token"] == ["true"]
    assert seen.query["client_id"] == ["pydistroless"]
    assert seen.authorization == "Basic " + base64.b64encode(b"alice:pw").decode()


def test_anonymous_token_request(fake: FakeRegistry) -> None:
    bearer(fake)
    make_auth(fake).headers(["repository:a:pull"])
    (seen,) = fake.token_requests()
    assert seen.authorization is None
    assert "offline_token" not in seen.query


def test_identity_token_uses_the_oauth2_post(fake: FakeRegistry) -> None:
    bearer(fake)
    fake.token_answer = lambda s: {"access_token": "from-oauth", "expires_in": 300}
    auth = make_auth(fake, Login("<token>", "refresh-me", identity_token=True))
    assert auth.headers(["repository:a:pull"])["Authorization"] == "Bearer from-oauth"
    (seen,) = fake.token_requests()
    assert seen.method == "POST"
    assert seen.authorization is None
    assert seen.form["grant_type"] == ["refresh_token"]
    assert seen.form["refresh_token"] == ["refresh-me"]
    assert seen.form["service"] == ["svc"]
    assert seen.form["client_id"] == ["pydistroless"]
    assert seen.form["scope"] == ["repository:a:pull"]
    assert auth.user is None  # an identity token names no user


def test_tokens_are_cached_until_they_expire(fake: FakeRegistry) -> None:
    bearer(fake)
    count = iter(range(100))
    fake.token_answer = lambda s: {"token": f"t{next(count)}", "expires_in": 100}
    clock = Clock()
    auth = make_auth(fake, clock=clock)
    pull = ["repository:a:pull"]
    assert auth.headers(pull)["Authorization"] == "Bearer t0"
    clock.now += 80
    assert auth.headers(pull)["Authorization"] == "Bearer t0"
    # Another scope set is another token.
    assert auth.headers(["repository:b:pull"])["Authorization"] == "Bearer t1"
    # Renewed before it runs out, not after.
    clock.now += 15
    assert auth.headers(pull)["Authorization"] == "Bearer t2"
    assert len(fake.token_requests()) == 3


def test_default_lifetime_is_60_seconds(fake: FakeRegistry) -> None:
    bearer(fake)
    count = iter(range(100))
    fake.token_answer = lambda s: {"token": f"t{next(count)}"}
    clock = Clock()
    auth = make_auth(fake, clock=clock)
    auth.headers(["repository:a:pull"])
    clock.now += 50
    assert auth.headers(["repository:a:pull"])["Authorization"] == "Bearer t0"
    clock.now += 10
    assert auth.headers(["repository:a:pull"])["Authorization"] == "Bearer t1"


def test_a_wider_token_serves_narrower_requests(fake: FakeRegistry) -> None:
    bearer(fake)
    auth = make_auth(fake)
    auth.headers(["repository:a:pull,push", "repository:b:pull"])
    auth.headers(["repository:a:pull"])
    auth.headers(["repository:b:pull", "repository:a:push"])
    assert len(fake.token_requests()) == 1
    auth.headers(["repository:b:push"])
    assert len(fake.token_requests()) == 2


def test_parallel_requests_share_one_token(fake: FakeRegistry) -> None:
    bearer(fake)
    auth = make_auth(fake)
    barrier = threading.Barrier(8)
    values: list[str] = []

    def ask() -> None:
        barrier.wait()
        values.append(auth.headers(["repository:a:pull,push"])["Authorization"])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert values == ["Bearer tok"] * 8
    assert len(fake.token_requests()) == 1


def test_insufficient_scope_rechallenges_with_the_wider_scope(fake: FakeRegistry) -> None:
    bearer(fake)
    fake.accept = lambda a: a == "Bearer wide"
    fake.token_answer = lambda s: {
        "token": "wide" if "repository:src:pull" in s.query.get("scope", []) else "narrow"
    }
    fake.v2_extra = lambda seen: (200, {}, b"{}")
    registry = Registry(fake.host, credentials=lambda _h: None, policy=FAST)
    auth = registry.auth
    sent = auth.headers(["repository:dst:pull,push"])
    assert sent["Authorization"] == "Bearer narrow"
    fake.challenge = (
        f'Bearer realm="{fake.realm}",service="svc",scope="repository:src:pull",'
        'error="insufficient_scope"'
    )
    response = registry.transport.request("GET", f"http://{fake.host}/v2/dst/x", headers=sent)
    assert response.status == 401
    again = auth.refused(response, ["repository:dst:pull,push"], sent)
    response.discard()
    assert again == ("repository:dst:pull,push", "repository:src:pull")
    assert auth.headers(again)["Authorization"] == "Bearer wide"


def test_a_refused_basic_login_is_not_retried(fake: FakeRegistry) -> None:
    fake.challenge = 'Basic realm="r"'
    auth = make_auth(fake, Login("alice", "pw"))
    sent = auth.headers(["repository:a:pull"])
    transport = Transport(policy=FAST)
    response = transport.request("GET", f"http://{fake.host}/v2/a/tags/list", headers=sent)
    assert auth.refused(response, ["repository:a:pull"], sent) is None
    response.discard()


def test_token_server_errors(fake: FakeRegistry) -> None:
    bearer(fake)
    fake.token_status = 401
    with pytest.raises(RegistryAuthError, match=r"refuses anonymous access.*pydistroless login"):
        make_auth(fake).headers(["repository:a:pull"])
    with pytest.raises(RegistryAuthError, match="the password for bob was refused"):
        make_auth(fake, Login("bob", "x")).headers(["repository:a:pull"])
    fake.token_status = 200
    fake.token_answer = lambda s: {"nothing": "here"}
    with pytest.raises(RegistryError, match="answered without a token"):
        make_auth(fake).headers(["repository:a:pull"])
    fake.token_answer = lambda s: {"token": "bad\r\nInjected: header"}
    with pytest.raises(RegistryError, match="answered without a token"):
        make_auth(fake).headers(["repository:a:pull"])


def test_no_login_in_clear_to_a_remote_token_server(fake: FakeRegistry) -> None:
    fake.challenge = 'Bearer realm="http://token.invalid/token",service="svc"'
    with pytest.raises(RegistryAuthError, match="refusing to send the login in clear"):
        make_auth(fake, Login("alice", "pw")).headers(["repository:a:pull"])
    fake.challenge = 'Bearer realm="ftp://token.invalid/token"'
    with pytest.raises(RegistryError, match="not an http"):
        make_auth(fake).headers(["repository:a:pull"])


# ---- secrets stay secret -------------------------------------------------------------------


def _everything_shown(exc: BaseException) -> str:
    try:
        raise exc
    except BaseException:
        shown = traceback.format_exc()
    return "\n".join([str(exc), repr(exc), shown, *(repr(a) for a in exc.args)])


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_a_refused_password_never_shows(
    fake: FakeRegistry, scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Made at run time, so no source line a traceback quotes can hold it.
    password = secrets.token_urlsafe(18)
    encoded = base64.b64encode(f"carol:{password}".encode()).decode()
    if scheme == "basic":
        fake.challenge = 'Basic realm="r"'
    else:
        bearer(fake)
        fake.token_status = 401
    registry = Registry(fake.host, credentials=lambda _h: Login("carol", password), policy=FAST)
    data = b"layer"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RegistryAuthError) as caught:
        registry.repository("app").upload_blob(Digest.of(data), len(data), lambda: io.BytesIO(data))
    shown = _everything_shown(caught.value)
    assert "carol" in shown  # the user is named ...
    for secret in (password, encoded):  # ... the password never, nor its encoding
        assert secret not in shown
        assert secret not in caplog.text
        assert secret not in repr(registry) + repr(registry.auth)
    assert "\n" not in str(caught.value)
    headers = registry.auth.headers(["repository:app:pull"]) if scheme == "basic" else {}
    assert password not in repr(headers) and encoded not in repr(headers)


def test_identity_token_never_shows(fake: FakeRegistry) -> None:
    token = secrets.token_urlsafe(24)
    bearer(fake)
    fake.token_status = 401
    auth = make_auth(fake, Login("<token>", token, identity_token=True))
    with pytest.raises(RegistryAuthError) as caught:
        auth.headers(["repository:a:pull"])
    assert "identity token was refused" in str(caught.value)
    assert token not in _everything_shown(caught.value)


def test_redacted_header_value() -> None:
    value = Redacted("Bearer very-secret")
    assert value == "Bearer very-secret"
    assert repr(value) == "<redacted>"
    assert "very-secret" not in repr({"Authorization": value})
    assert value.encode("latin-1") == b"Bearer very-secret"


# ---- transport parts ------------------------------------------------------------------------


def test_retry_after() -> None:
    assert _retry_after("3") == 3.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    later = _retry_after(formatdate(timeval=time.time() + 30, usegmt=True))
    assert later is not None and 25 < later <= 31
    assert _retry_after(formatdate(timeval=0, usegmt=True)) == 0.0


def test_backoff_grows_with_jitter_and_caps() -> None:
    policy = Policy(backoff=1, backoff_cap=5, retry_after_cap=7)
    rng = random.Random(1)
    waits = [policy.wait(n, None, rng) for n in range(6)]
    assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2 and 2 <= waits[2] <= 4
    assert all(2.5 <= w <= 5 for w in waits[3:])
    assert policy.wait(0, 100, rng) == 7  # Retry-After, capped
    assert policy.wait(0, 2, rng) == 2


def test_deadline_scale() -> None:
    scaled = Policy.from_environ({"PYDISTROLESS_DEADLINE_SCALE": "0.1"})
    assert scaled.total == pytest.approx(6) and scaled.backoff == pytest.approx(0.05)
    assert scaled.attempts == Policy().attempts
    with pytest.raises(ConfigError, match="not a positive number"):
        Policy.from_environ({"PYDISTROLESS_DEADLINE_SCALE": "-1"})


def test_plain_http_hosts() -> None:
    transport = Transport(insecure={"registry.lan:5000", "other.lan"}, policy=FAST)
    for host in ("localhost", "localhost:5000", "127.0.0.1:1", "[::1]:5000", "[::1]"):
        assert transport.plain_allowed(host)
    assert transport.plain_allowed("registry.lan:5000")
    assert transport.plain_allowed("other.lan:8080")
    assert not transport.plain_allowed("registry.lan:5001")
    assert not transport.plain_allowed("registry.test")
    assert not transport.plain_allowed("127.0.0.2:5000")
    assert transport.base_url("registry.test") == "https://registry.test"


def test_plain_http_only_when_the_host_does_not_speak_tls(fake: FakeRegistry) -> None:
    fake.accept = lambda _a: True
    transport = Transport(policy=FAST)
    assert transport.base_url(fake.host) == f"http://{fake.host}"


# ---- client parts a real docker-registry 2.8 cannot show -------------------------------------


def test_tags_follow_link_pagination(fake: FakeRegistry) -> None:
    fake.accept = lambda _a: True
    names = [f"t{n}" for n in range(5)]

    def page(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        last = seen.query.get("last", [""])[0]
        rest = [n for n in names if n > last][:2]
        headers = {}
        if rest and rest[-1] != names[-1]:
            # Relative, as distribution writes it.
            headers["Link"] = f'</v2/app/tags/list?n=2&last={rest[-1]}>; rel="next"'
        return 200, headers, json.dumps({"name": "app", "tags": rest}).encode()

    fake.v2_extra = page
    registry = Registry(fake.host, credentials=lambda _h: None, policy=FAST)
    assert registry.repository("app").tags() == names
    lists = [s for s in fake.seen if s.path == "/v2/app/tags/list"]
    assert len(lists) == 3


def _reply(status: int, body: bytes = b"", **headers: str) -> tuple[int, dict[str, str], bytes]:
    return status, {k.replace("_", "-"): v for k, v in headers.items()}, body


def test_busy_and_failing_registries_are_retried(fake: FakeRegistry) -> None:
    fake.accept = lambda _a: True
    answers = iter([_reply(503, Retry_After="0"), _reply(502), _reply(200, b'{"tags":["a"]}')])
    fake.v2_extra = lambda seen: next(answers) if seen.path.endswith("/tags/list") else _reply(200)
    policy = Policy(attempts=3, backoff=0.01, total=5)
    repo = Registry(fake.host, credentials=lambda _h: None, policy=policy).repository("app")
    assert repo.tags() == ["a"]
    assert len([s for s in fake.seen if s.path == "/v2/app/tags/list"]) == 3

    fake.v2_extra = lambda seen: _reply(
        429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', Retry_After="0"
    )
    with pytest.raises(RegistryError, match="TOOMANYREQUESTS: slow down; the registry limits"):
        repo.tags()


def test_blob_redirects_keep_the_login_on_its_host_only(fake: FakeRegistry) -> None:
    storage = FakeRegistry()
    try:
        data = b"layer bytes"
        digest = Digest.of(data)
        fake.challenge = 'Basic realm="r"'
        fake.accept = lambda a: a is not None and a.startswith("Basic ")
        storage.accept = lambda _a: True
        storage.v2_extra = lambda seen: _reply(200, data)

        def blobs(seen: Seen) -> tuple[int, dict[str, str], bytes]:
            if seen.path.startswith("/v2/app/blobs/"):
                # First to another path of the same host, then to another host.
                return _reply(307, Location="/local/blob")
            if seen.path == "/local/blob":
                return _reply(302, Location=f"http://{storage.host}/storage/blob?sig=1")
            return _reply(200, b"{}")

        fake.v2_extra = blobs
        registry = Registry(fake.host, credentials=lambda _h: Login("dave", "pw"), policy=FAST)
        out = io.BytesIO()
        assert registry.repository("app").fetch_blob(digest, out, size=len(data)) == len(data)
        assert out.getvalue() == data
        local = [s for s in fake.seen if s.path == "/local/blob"]
        assert local and local[0].authorization is not None
        remote = [s for s in storage.seen if s.path == "/storage/blob"]
        assert remote and remote[0].authorization is None
    finally:
        storage.close()


def test_manifests_are_checked(fake: FakeRegistry) -> None:
    fake.accept = lambda _a: True
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
    other = Digest.of(b"something else")
    answer = {"digest": str(Digest.of(body)), "body": body}

    def manifest(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return _reply(
            200,
            answer["body"],  # type: ignore[arg-type]
            Docker_Content_Digest=answer["digest"],  # type: ignore[arg-type]
            Content_Type="application/vnd.oci.image.manifest.v1+json",
        )

    fake.v2_extra = manifest
    repo = Registry(fake.host, credentials=lambda _h: None, policy=FAST).repository("app")
    assert repo.fetch_manifest("v1").data == body
    with pytest.raises(IntegrityError, match="served a manifest with digest"):
        repo.fetch_manifest(str(other))
    answer["digest"] = str(other)
    with pytest.raises(IntegrityError, match="the registry says the digest is"):
        repo.fetch_manifest("v1")
    answer["body"] = b" " * ((4 << 20) + 1)
    with pytest.raises(RegistryError, match="larger than 4 MiB"):
        repo.fetch_manifest("v1")


def test_referrers_api_is_used_where_there_is_one(fake: FakeRegistry) -> None:
    fake.accept = lambda _a: True
    subject = Digest.of(b"subject")
    listed = [
        {"mediaType": OCI_MANIFEST, "digest": str(Digest.of(b"a")), "size": 1, "artifactType": "x"},
        {"mediaType": OCI_MANIFEST, "digest": str(Digest.of(b"b")), "size": 1, "artifactType": "y"},
    ]

    def referrers(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        if seen.path == f"/v2/app/referrers/{subject}":
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}
            return _reply(200, json.dumps(index).encode(), Content_Type=OCI_INDEX)
        return _reply(404)

    fake.v2_extra = referrers
    repo = Registry(fake.host, credentials=lambda _h: None, policy=FAST).repository("app")
    assert repo.referrers(subject) == listed
    repo.add_referrer(subject, listed[0])
    assert not [s for s in fake.seen if s.method == "PUT"]  # the registry keeps them itself


def test_cancel_ends_a_stalled_request_at_once(fake: FakeRegistry) -> None:
    fake.accept = lambda _a: True
    release = threading.Event()

    def stall(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        if seen.path.endswith("/tags/list"):
            release.wait(10)
        return _reply(200, b'{"tags":[]}')

    fake.v2_extra = stall
    registry = Registry(fake.host, credentials=lambda _h: None, policy=Policy(read_timeout=30))
    repo = registry.repository("app")
    registry.auth.ping()
    timer = threading.Timer(0.2, registry.cancel)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(Interrupted):
            repo.tags()
        assert time.monotonic() - started < 3
        with pytest.raises(Interrupted):  # and from now on
            repo.tags()
    finally:
        release.set()
        timer.join()
