"""The registry client's trust boundaries, against registries on 127.0.0.1 that misbehave:

- the login goes only to the registry's own scheme, host and port: never to an upload
  ``Location``, a ``Link: rel=next`` or a redirect elsewhere, nor in clear after a redirect
  from https to http; loopback counts as loopback however it is spelt;
- every wait is bounded: a body by its deadline (not each read), an upload that does not
  advance by the policy's attempts and total, and a cancel ends a stalled upload at once;
- every answer is bounded: a manifest cut off, stalled or nested too deep is a one-line
  error, and an index that lists one child many times has it fetched once.
"""

from __future__ import annotations

import base64
import io
import json
import signal
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pydistroless.core.arch import Platform
from pydistroless.core.digest import Digest
from pydistroless.core.errors import (
    ImageFormatError,
    RegistryAuthError,
    RegistryError,
)
from pydistroless.core.net import Interrupted
from pydistroless.fs.tree import Tree
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.layout import write_layout
from pydistroless.oci.model import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    canonical_json,
)
from pydistroless.oci.mutate import ImageConfig, new_image
from pydistroless.oci.reference import parse
from pydistroless.registry import remote
from pydistroless.registry.client import Registry, UploadPolicy
from pydistroless.registry.transport import (
    Policy,
    Transport,
    canonical_host,
    same_origin,
    split_host,
)
from tests.fixtures.scripted_registry import (
    Reply,
    Request,
    ScriptedRegistry,
    reply,
    run_bounded,
    scripted,
)
from tests.fixtures.tls import make_ca, make_server_cert

FAST = Policy(attempts=3, backoff=0.01, backoff_cap=0.05, total=5, read_timeout=5)
BLOB = b"sixteen bytes!!!"
BLOB_DIGEST = Digest.of(BLOB)
TOKEN = "the-token-of-registry-a"


@dataclass(frozen=True, repr=False)
class Login:
    username: str = "dave"
    password: str = "the-password"
    identity_token: bool = False

    def __repr__(self) -> str:
        return "Login(<hidden>)"


BASIC = "Basic " + base64.b64encode(b"dave:the-password").decode()


@pytest.fixture
def other() -> Iterator[ScriptedRegistry]:
    """The second server on 127.0.0.1, which must never see the login."""

    def answer(request: Request) -> Reply:
        if request.method == "PUT":  # an upload's end
            return reply(201, Docker_Content_Digest=str(BLOB_DIGEST))
        return reply(200, b'{"tags":["b"]}')

    with scripted(answer) as server:
        yield server


def guarded(route, scheme: str, registry: ScriptedRegistry | None = None):
    """An answer that wants the login (``basic``, or a bearer token from its own realm)
    before ``route`` answers."""

    def answer(request: Request) -> Reply:
        if request.path == "/token":
            return reply(200, json.dumps({"token": TOKEN}).encode())
        wanted = BASIC if scheme == "basic" else f"Bearer {TOKEN}"
        if request.authorization != wanted:
            assert registry is not None or scheme == "basic"
            challenge = (
                'Basic realm="r"'
                if scheme == "basic"
                else f'Bearer realm="{registry.url("/token")}",service="a"'  # type: ignore[union-attr]
            )
            return reply(401, b"", WWW_Authenticate=challenge)
        return route(request)

    return answer


def client(server: ScriptedRegistry, **kw) -> Registry:
    kw.setdefault("policy", FAST)
    return Registry(server.host, credentials=lambda _h: Login(), **kw)


def no_login_seen(server: ScriptedRegistry) -> None:
    assert server.seen, "the second server was never asked"
    assert [r.authorization for r in server.seen] == [None] * len(server.seen)


# ---- 1. the login stays with its registry ---------------------------------------------------


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_a_link_to_another_port_gets_no_login(other: ScriptedRegistry, scheme: str) -> None:
    def route(request: Request) -> Reply:
        if request.path == "/v2/app/tags/list":
            link = f'<{other.url("/v2/app/tags/list?last=a")}>; rel="next"'
            return reply(200, b'{"tags":["a"]}', Link=link)
        return reply(200, b"{}")

    with scripted() as registry:
        registry.answer = guarded(route, scheme, registry)
        assert client(registry).repository("app").tags() == ["a", "b"]
    no_login_seen(other)


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_an_upload_location_on_another_port_gets_no_login(
    other: ScriptedRegistry, scheme: str
) -> None:
    def route(request: Request) -> Reply:
        if request.method == "HEAD":
            return reply(404)
        if request.method == "POST":
            return reply(202, Location=other.url("/upload/1"))
        return reply(200, b"{}")

    with scripted() as registry:
        registry.answer = guarded(route, scheme, registry)
        repo = client(registry).repository("app")
        outcome = repo.upload_blob(BLOB_DIGEST, len(BLOB), lambda: io.BytesIO(BLOB))
    assert outcome == "uploaded"
    assert [r.method for r in other.seen] == ["PUT"] and other.seen[0].body == BLOB
    no_login_seen(other)


def test_a_login_wanted_elsewhere_is_an_error_not_a_challenge(other: ScriptedRegistry) -> None:
    """The other host's 401 names its own token server: the registry's login and token go
    to neither."""
    other.answer = lambda r: reply(
        401, b"", WWW_Authenticate=f'Bearer realm="{other.url("/token")}",service="x"'
    )

    def route(request: Request) -> Reply:
        if request.method == "HEAD":
            return reply(404)
        return reply(202, Location=other.url("/upload/1"))

    with scripted() as registry:
        registry.answer = guarded(route, "bearer", registry)
        repo = client(registry).repository("app")
        with pytest.raises(RegistryAuthError) as caught:
            repo.upload_blob(BLOB_DIGEST, len(BLOB), lambda: io.BytesIO(BLOB))
    message = str(caught.value)
    assert "\n" not in message and other.host in message and "no other host" in message
    assert not other.requests(path="/token")
    no_login_seen(other)


def test_a_redirect_to_another_port_gets_no_login(other: ScriptedRegistry) -> None:
    other.answer = lambda r: reply(200, BLOB)

    def route(request: Request) -> Reply:
        if request.path.startswith("/v2/app/blobs/"):
            return reply(307, Location=other.url("/storage/blob"))
        return reply(200, b"{}")

    with scripted() as registry:
        registry.answer = guarded(route, "basic")
        out = io.BytesIO()
        client(registry).repository("app").fetch_blob(BLOB_DIGEST, out, size=len(BLOB))
    assert out.getvalue() == BLOB
    no_login_seen(other)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    directory = tmp_path_factory.mktemp("tls")
    ca = make_ca(directory, "ca")
    leaf = make_server_cert(ca, directory, "registry")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf.cert, leaf.key)
    return context, ca.cert


def test_a_redirect_from_https_to_http_gets_no_login(
    tls: tuple[ssl.SSLContext, Path],
) -> None:
    """The same host and port, in clear: the login would cross the network readable."""
    context, ca = tls

    def route(request: Request) -> Reply:
        if request.path.startswith("/v2/app/blobs/"):
            return reply(307, Location=registry.url("/plain/blob", scheme="http"))
        if request.path == "/plain/blob":
            return reply(200, BLOB)
        return reply(200, b"{}")

    with scripted(tls=context) as registry:
        plain_answer = guarded(route, "basic")
        registry.answer = lambda r: route(r) if r.path == "/plain/blob" else plain_answer(r)
        out = io.BytesIO()
        repo = client(registry, ca_certs=[ca]).repository("app")
        repo.fetch_blob(BLOB_DIGEST, out, size=len(BLOB))
    assert out.getvalue() == BLOB
    over_tls = [r for r in registry.seen if r.path.startswith("/v2/app/blobs/")]
    assert over_tls and all(r.tls and r.authorization == BASIC for r in over_tls)
    in_clear = registry.requests(path="/plain/blob")
    assert in_clear and [(r.tls, r.authorization) for r in in_clear] == [(False, None)]


@pytest.mark.parametrize(
    "host",
    ["127.1", "127.0.0.1", "localhost", "LocalHost.", "[::1]", "::1", "[0:0::1]", "0x7f.0.0.1",
     "2130706433", "127.000.000.001", "[::ffff:127.0.0.1]"],
)  # fmt: skip
def test_loopback_however_it_is_spelt(host: str) -> None:
    transport = Transport(policy=FAST)
    assert transport.plain_allowed(host)
    assert transport.plain_allowed(f"[{host.strip('[]')}]:5000" if ":" in host else f"{host}:5000")


def test_not_loopback() -> None:
    transport = Transport(insecure={"registry.lan:5000", "10.1:80"}, policy=FAST)
    for host in ("127.0.0.2:5000", "127.example", "localhost.example", "[::2]", "0x7f.example"):
        assert not transport.plain_allowed(host), host
    assert transport.plain_allowed("REGISTRY.lan.:5000")
    assert transport.plain_allowed("10.0.0.1:80")  # 10.1 is 10.0.0.1
    assert not transport.plain_allowed("10.0.0.1:81")


def test_what_counts_as_the_same_origin() -> None:
    assert canonical_host("127.1") == "127.0.0.1" and canonical_host("0:0::1") == "[::1]"
    assert split_host("[::1]:5000") == ("[::1]", 5000) and split_host("::1") == ("[::1]", None)
    base = "https://registry.test"
    assert same_origin("https://REGISTRY.test:443/v2/x", base)
    assert not same_origin("http://registry.test/v2/x", base)
    assert not same_origin("https://registry.test:444/v2/x", base)
    assert not same_origin("https://other.test/v2/x", base)
    assert same_origin("http://127.1:5000/upload", "http://127.0.0.1:5000")
    assert not same_origin("ftp://registry.test/x", "ftp://registry.test/x")


# ---- 2. every wait is bounded --------------------------------------------------------------

CONFIG = canonical_json(
    {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
)
MANIFEST = canonical_json(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": str(Digest.of(CONFIG)), "size": len(CONFIG)},
        "layers": [],
    }
)


@pytest.fixture
def short_deadlines(monkeypatch: pytest.MonkeyPatch) -> float:
    """Deadlines a twentieth of the defaults: a body of a few bytes must be in within 1.5 s
    (30 s), while a read may wait 3 s (60 s) for a byte."""
    monkeypatch.setenv("PYDISTROLESS_DEADLINE_SCALE", "0.05")
    return 30 * 0.05


def test_a_manifest_sent_a_byte_every_2_s_fails_within_its_deadline(short_deadlines: float) -> None:
    dripping = Reply(200, {"Content-Type": OCI_MANIFEST}, MANIFEST, drip=2.0)
    with scripted(lambda r: dripping if "/manifests/" in r.path else reply(200)) as registry:
        repo = Registry(registry.host, credentials=lambda _h: None).repository("app")
        started = time.monotonic()
        _, error = run_bounded(lambda: repo.fetch_manifest("v1"), timeout=10)
        took = time.monotonic() - started
    assert isinstance(error, RegistryError), error
    message = str(error)
    assert "\n" not in message
    assert registry.host in message and "PYDISTROLESS_DEADLINE_SCALE" in message
    assert took < short_deadlines + 1.5


def test_a_blob_sent_a_byte_every_2_s_fails_within_its_deadline(short_deadlines: float) -> None:
    dripping = Reply(200, {}, BLOB, drip=2.0)
    with scripted(lambda r: dripping if "/blobs/" in r.path else reply(200)) as registry:
        repo = Registry(registry.host, credentials=lambda _h: None).repository("app")
        started = time.monotonic()
        _, error = run_bounded(
            lambda: repo.fetch_blob(BLOB_DIGEST, io.BytesIO(), size=len(BLOB)), timeout=10
        )
        took = time.monotonic() - started
    assert isinstance(error, RegistryError) and "PYDISTROLESS_DEADLINE_SCALE" in str(error)
    assert took < short_deadlines + 1.5


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (Reply(200, {"Content-Type": OCI_MANIFEST}, MANIFEST, cut_after=20), "broke off"),
        (Reply(200, {"Content-Type": OCI_MANIFEST}, MANIFEST, drip=30), "sent nothing"),
    ],
    ids=["cut-off", "read-timeout"],
)
def test_a_manifest_cut_off_or_stalled_is_a_one_line_error(answer: Reply, said: str) -> None:
    policy = Policy(attempts=1, read_timeout=0.5, body_grace=20)
    with scripted(lambda r: answer if "/manifests/" in r.path else reply(200)) as registry:
        repo = Registry(registry.host, credentials=lambda _h: None, policy=policy)
        _, error = run_bounded(lambda: repo.repository("app").fetch_manifest("v1"), timeout=10)
    assert isinstance(error, RegistryError), repr(error)
    message = str(error)
    assert message.startswith(f"fetching {registry.host}/app:v1: ") and said in message
    assert "\n" not in message


def uploads_that_never_advance(request: Request) -> Reply:
    if request.method == "HEAD":
        return reply(404)
    if request.method == "POST":
        return reply(202, Location="/v2/app/blobs/uploads/1")
    if request.method == "PATCH":
        # Taken, and yet the registry holds no more than a byte ("0-0").
        return reply(202, Location="/v2/app/blobs/uploads/1", Range="0-0")
    return reply(204, Location="/v2/app/blobs/uploads/1", Range="0-0")


def test_an_upload_whose_range_never_advances_is_given_up() -> None:
    upload = UploadPolicy(monolithic_max=0, chunk_size=4, sessions=2)
    with scripted(uploads_that_never_advance) as registry:
        repo = Registry(registry.host, credentials=lambda _h: None, policy=FAST, upload=upload)
        _, error = run_bounded(
            lambda: repo.repository("app").upload_blob(
                BLOB_DIGEST, len(BLOB), lambda: io.BytesIO(BLOB)
            ),
            timeout=10,
        )
        patches = len(registry.requests("PATCH"))
    assert isinstance(error, RegistryError), repr(error)
    assert "does not advance" in str(error) and "\n" not in str(error)
    # Per session: the first chunk (the registry then says it holds a byte), then the
    # attempts that do not advance.
    assert patches <= upload.sessions * (FAST.attempts + 1)


def test_an_upload_that_does_not_advance_stops_after_the_total_time() -> None:
    """However many attempts are left: the policy's total is the most it may stall."""
    policy = Policy(attempts=1000, backoff=0.05, backoff_cap=0.05, total=1.0)
    upload = UploadPolicy(monolithic_max=0, chunk_size=4, sessions=1000)
    with scripted(uploads_that_never_advance) as registry:
        repo = Registry(registry.host, credentials=lambda _h: None, policy=policy, upload=upload)
        started = time.monotonic()
        _, error = run_bounded(
            lambda: repo.repository("app").upload_blob(
                BLOB_DIGEST, len(BLOB), lambda: io.BytesIO(BLOB)
            ),
            timeout=10,
        )
    assert isinstance(error, RegistryError), repr(error)
    assert time.monotonic() - started < 3


def test_an_upload_that_advances_a_byte_a_chunk_is_given_up() -> None:
    blob = bytes(range(64))
    held = {"bytes": 0}

    def answer(request: Request) -> Reply:
        if request.method == "HEAD":
            return reply(404)
        if request.method == "PATCH":
            held["bytes"] += 1  # of each chunk of 4, one byte kept
        if request.method == "POST":
            held["bytes"] = 0
        if request.method == "PUT":
            return reply(201, Docker_Content_Digest=str(Digest.of(blob)))
        end = f"0-{held['bytes'] - 1}" if held["bytes"] else "0-0"
        return reply(202, Location="/v2/app/blobs/uploads/1", Range=end)

    upload = UploadPolicy(monolithic_max=0, chunk_size=4, sessions=2)
    with scripted(answer) as registry:
        repo = Registry(registry.host, credentials=lambda _h: None, policy=FAST, upload=upload)
        _, error = run_bounded(
            lambda: repo.repository("app").upload_blob(
                Digest.of(blob), len(blob), lambda: io.BytesIO(blob)
            ),
            timeout=10,
        )
        patches = len(registry.requests("PATCH"))
    assert isinstance(error, RegistryError), repr(error)
    assert "the registry is broken" in str(error)
    assert patches <= upload.sessions * (2 * 16 + FAST.attempts)


def seconds_to_end_on_ctrl_c(stalled: threading.Event, work: Callable[[], object]) -> float:
    """Run ``work`` in the main thread, press Ctrl-C (SIGINT) 0.3 s after ``stalled`` is set,
    and give how long ``work`` took from then to end in KeyboardInterrupt."""
    main = threading.main_thread().ident
    assert main == threading.get_ident()
    sent: dict[str, float] = {}

    def interrupt() -> None:
        if stalled.wait(10):
            time.sleep(0.3)
            sent["at"] = time.monotonic()
            signal.pthread_kill(main, signal.SIGINT)

    interrupter = threading.Thread(target=interrupt, daemon=True)
    interrupter.start()
    with pytest.raises(KeyboardInterrupt):
        work()
    ended = time.monotonic()
    interrupter.join(5)
    return ended - sent["at"]


def test_ctrl_c_during_a_push_ends_the_stalled_uploads() -> None:
    """Ctrl-C reaches the main thread, which waits for the uploads in a pool: it cancels the
    transport, so a chunk the registry never answers does not hold the push."""
    tree = Tree()
    tree.add_file("data", bytes(range(256)) * 64)
    layer = layer_from_tree(tree, mtime=0, comment="", compression="none")
    image = new_image(Platform("amd64"), ImageConfig(entrypoint=("/data",)), (layer,))
    answered = threading.Event()

    def answer(request: Request) -> Reply:
        if request.method == "HEAD":
            return reply(404)
        if request.method == "POST":
            return reply(202, Location="/v2/app/blobs/uploads/1")
        answered.set()
        return Reply(202, {"Location": "/v2/app/blobs/uploads/1"}, delay=30)

    policy = Policy(read_timeout=20)
    upload = UploadPolicy(monolithic_max=0, chunk_size=4096)
    with scripted(answer) as registry:
        client = Registry(registry.host, credentials=lambda _h: None, policy=policy, upload=upload)
        took = seconds_to_end_on_ctrl_c(
            answered, lambda: remote.write(image, client.repository("app"), ["v1"])
        )
    assert took < 2


@pytest.mark.parametrize("stall", ["backoff", "retry-after"])
def test_a_cancel_ends_a_stalled_upload_within_2_s(stall: str) -> None:
    """With the default policy: between attempts it waits seconds (4 s before the fifth
    try of a failing chunk, or what Retry-After asks); a cancel (Ctrl-C) ends the wait."""

    def answer(request: Request) -> Reply:
        if request.method == "HEAD":
            return reply(404)
        if request.method == "POST":
            if stall == "retry-after":
                return reply(429, Retry_After="20")
            return reply(202, Location="/v2/app/blobs/uploads/1")
        if request.method == "PATCH":
            return reply(500)
        return reply(204, Location="/v2/app/blobs/uploads/1", Range="0-0")

    upload = UploadPolicy(monolithic_max=0, chunk_size=4)
    with scripted(answer) as registry:
        client = Registry(registry.host, credentials=lambda _h: None, upload=upload)
        assert client.transport.policy.backoff == Policy().backoff  # not scaled
        repo = client.repository("app")
        outcome: dict[str, float] = {}

        def cancel_when_stalled() -> None:
            deadline = time.monotonic() + 10
            wanted = ("PATCH", 4) if stall == "backoff" else ("POST", 1)
            while len(registry.requests(wanted[0])) < wanted[1]:
                assert time.monotonic() < deadline, "the upload never stalled"
                time.sleep(0.02)
            time.sleep(0.3)  # well into the wait
            outcome["cancelled"] = time.monotonic()
            client.cancel()

        canceller = threading.Thread(target=cancel_when_stalled, daemon=True)
        canceller.start()
        _, error = run_bounded(
            lambda: repo.upload_blob(BLOB_DIGEST, len(BLOB), lambda: io.BytesIO(BLOB)),
            timeout=15,
        )
        ended = time.monotonic()
        canceller.join(5)
    assert isinstance(error, Interrupted), repr(error)
    assert ended - outcome["cancelled"] < 2


# ---- 3. every answer is bounded ------------------------------------------------------------


def manifests_of(documents: dict[str, bytes], *, tag: bytes):
    """An answer serving ``documents`` by digest (and ``tag`` as ``v1``), the config blob."""

    def answer(request: Request) -> Reply:
        name = request.path.rpartition("/")[2]
        if "/manifests/" in request.path:
            data = tag if name == "v1" else documents.get(name)
            if data is None:
                return reply(404)
            kind = json.loads(data).get("mediaType", OCI_MANIFEST)
            return reply(200, data, Content_Type=kind, Docker_Content_Digest=str(Digest.of(data)))
        if request.path.endswith(f"/blobs/{Digest.of(CONFIG)}"):
            return reply(200, CONFIG)
        return reply(200, b"{}")

    return answer


def test_an_index_that_lists_one_child_many_times_fetches_it_once() -> None:
    """40 entries, 6 deep: 40 to the 6th visits before; 7 manifests now."""
    documents = {str(Digest.of(MANIFEST)): MANIFEST}
    child, kind = MANIFEST, OCI_MANIFEST
    for _ in range(6):
        entry = {"mediaType": kind, "digest": str(Digest.of(child)), "size": len(child)}
        child = canonical_json(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry] * 40}
        )
        kind = OCI_INDEX
        documents[str(Digest.of(child))] = child
    with scripted(manifests_of(documents, tag=child)) as registry:
        repo = Registry(registry.host, credentials=lambda _h: None, policy=FAST).repository("app")
        artifact, error = run_bounded(
            lambda: remote.read(repo, parse(f"{registry.host}/app:v1")), 10
        )
        fetched = [r.path for r in registry.seen if "/manifests/" in r.path]
    assert error is None, error
    assert len(list(artifact.images())) == 1  # type: ignore[union-attr]
    assert len(fetched) == len(set(fetched)) == 7


def test_a_manifest_nested_too_deep_is_a_one_line_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000

    def answer(request: Request) -> Reply:
        if "/manifests/" in request.path:
            return reply(200, deep, Content_Type=OCI_MANIFEST)
        return reply(200, b"{}")

    with scripted(answer) as registry:
        repo = Registry(registry.host, credentials=lambda _h: None, policy=FAST).repository("app")
        with pytest.raises(ImageFormatError, match="nests deeper than 64 levels"):
            remote.read(repo, parse(f"{registry.host}/app:v1"))


def test_ctrl_c_during_a_pull_ends_the_stalled_downloads(tmp_path: Path) -> None:
    """A pull into a layout fetches blobs in a pool; Ctrl-C reaches the main thread waiting
    on it, and the transport's sockets are shut, so a blob the registry never sends does
    not hold the exit until its deadline."""
    tree = Tree()
    tree.add_file("data", bytes(range(256)) * 64)
    layer = layer_from_tree(tree, mtime=0, comment="", compression="none")
    image = new_image(Platform("amd64"), ImageConfig(entrypoint=("/data",)), (layer,))
    blobs = {str(image.config_descriptor.digest): image.config}
    stalled = threading.Event()

    def answer(request: Request) -> Reply:
        if request.path.endswith(f"/manifests/{image.digest}") or request.path.endswith("/v1"):
            return reply(200, image.manifest, Content_Type=image.media_type)
        digest = request.path.rsplit("/", 1)[-1]
        if digest in blobs:
            return reply(200, blobs[digest])
        if "/blobs/" in request.path:
            stalled.set()
            return Reply(200, {"Content-Length": str(layer.size)}, b"x", delay=30)
        return reply(404)

    with scripted(answer) as registry:
        client = Registry(registry.host, credentials=lambda _h: None, policy=Policy())
        pulled = remote.read(client.repository("app"), parse(f"{registry.host}/app:v1"))
        took = seconds_to_end_on_ctrl_c(
            stalled, lambda: write_layout(tmp_path / "layout", pulled, tags=["app:v1"])
        )
    assert took < 2
