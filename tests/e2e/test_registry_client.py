"""The registry client against the real thing: Debian's docker-registry (docker/distribution
2.8), plain, behind htpasswd over TLS, and behind token auth, started by
tests/fixtures/registry.py.

Blobs go up in one request and in chunks, are skipped when present and mounted across
repositories, and come back byte for byte; manifests keep their exact bytes and digest;
referrers work through the tag fallback this registry needs; a chunked upload survives the
registry dying mid-way; and every failure is one clear line that never shows a password.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

from pydistroless.core.digest import Digest
from pydistroless.core.errors import (
    IntegrityError,
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    RegistryTrustError,
)
from pydistroless.registry.client import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Registry,
    Repository,
    UploadPolicy,
)
from pydistroless.registry.transport import Policy
from tests.fixtures.registry import RunningRegistry, start_registry
from tests.fixtures.tools import need_command

MIB = 1 << 20
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
SBOM_TYPE = "application/spdx+json"
# Failing requests are retried quickly here: a test waits a second, not a minute.
QUICK = Policy().scaled(0.05)


@pytest.fixture(autouse=True)
def _tools() -> None:
    need_command("docker-registry")


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    identity_token: bool = False

    def __repr__(self) -> str:
        return f"Login({self.username!r})"


def anonymous(_host: str) -> None:
    return None


def login_of(reg: RunningRegistry) -> Callable[[str], Login]:
    assert reg.username and reg.password
    secret = Login(reg.username, reg.password)
    return lambda _host: secret


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    reg = start_registry(tmp_path_factory.mktemp("plain"))
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """htpasswd over TLS, with a password made at run time (no source line holds it)."""
    reg = start_registry(
        tmp_path_factory.mktemp("guarded"), htpasswd=("alice", secrets.token_urlsafe(16))
    )
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def tokened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    reg = start_registry(
        tmp_path_factory.mktemp("tokened"),
        token=True,
        token_user=("tester", secrets.token_urlsafe(16)),
    )
    yield reg
    reg.close()


def client(reg: RunningRegistry, **options) -> Registry:
    options.setdefault("credentials", anonymous)
    options.setdefault("policy", QUICK)
    if reg.ca is not None:
        options.setdefault("ca_certs", [reg.ca])
    return Registry(reg.host, **options)


def blob(data: bytes) -> tuple[Digest, int, Callable[[], BinaryIO]]:
    return Digest.of(data), len(data), lambda: io.BytesIO(data)


def push(repo: Repository, data: bytes) -> Digest:
    digest, size, opener = blob(data)
    repo.upload_blob(digest, size, opener)
    return digest


def fetch(repo: Repository, digest: Digest, size: int | None = None) -> bytes:
    out = io.BytesIO()
    assert repo.fetch_blob(digest, out, size=size) == len(out.getvalue())
    return out.getvalue()


def uploads_of(reg: RunningRegistry, since: int, repo: str) -> list[str]:
    return [
        f"{r.method} {r.status}"
        for r in reg.requests()[since:]
        if r.path.startswith(f"/v2/{repo}/") and r.is_blob_upload
    ]


def descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": str(Digest.of(data)), "size": len(data)}


def image(repo: Repository, *, docker: bool = False, salt: bytes = b"") -> tuple[bytes, str]:
    """Push a config and a layer; the manifest naming them (odd spacing kept: the registry
    must store these exact bytes), with its media type."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "salt": salt.hex()}).encode()
    layer = b"layer " + salt + os.urandom(64)
    push(repo, config)
    push(repo, layer)
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
        "layers": [descriptor(DOCKER_LAYER if docker else OCI_LAYER, layer)],
    }
    return json.dumps(manifest, indent=3).encode() + b"\n", media_type


def all_text(exc: BaseException) -> str:
    try:
        raise exc
    except BaseException:
        shown = traceback.format_exc()
    return "\n".join([str(exc), repr(exc), shown])


# ---- blobs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 5 * MIB])
def test_monolithic_round_trip_then_present(plain: RunningRegistry, size: int) -> None:
    repo = client(plain).repository(f"blobs/mono{size}")
    data = os.urandom(size)
    digest, length, opener = blob(data)
    mark = len(plain.requests())
    assert repo.upload_blob(digest, length, opener) == "uploaded"
    assert uploads_of(plain, mark, repo.name) == ["POST 202", "PUT 201"]
    assert repo.blob_size(digest) == size
    assert fetch(repo, digest, size) == data
    assert fetch(repo, digest) == data

    mark = len(plain.requests())
    assert repo.upload_blob(digest, length, opener) == "present"
    again = [f"{r.method} {r.status}" for r in plain.requests()[mark:]]
    assert again == ["HEAD 200"]  # no POST, no PUT: nothing sent


def test_chunked_round_trip(plain: RunningRegistry, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as out:
        for _ in range(40):
            out.write(os.urandom(MIB))
    with path.open("rb") as stream:
        digest, size = Digest.of_file(stream)
    registry = client(plain, upload=UploadPolicy(monolithic_max=8 * MIB, chunk_size=4 * MIB))
    repo = registry.repository("blobs/chunked")
    mark = len(plain.requests())
    assert repo.upload_blob(digest, size, lambda: path.open("rb")) == "uploaded"
    assert uploads_of(plain, mark, repo.name) == ["POST 202"] + ["PATCH 202"] * 10 + ["PUT 201"]

    target = tmp_path / "back.bin"
    with target.open("wb") as out:
        assert repo.fetch_blob(digest, out, size=size) == size
    with target.open("rb") as stream:
        assert Digest.of_file(stream) == (digest, size)


def test_cross_repository_mount(plain: RunningRegistry) -> None:
    registry = client(plain)
    source, target = registry.repository("mount/source"), registry.repository("mount/target")
    data = os.urandom(1000)
    digest, size, opener = blob(data)
    source.upload_blob(digest, size, opener)
    mark = len(plain.requests())
    outcome = target.upload_blob(digest, size, opener, mount_from=["mount/none", "mount/source"])
    assert outcome == "mounted"
    mounts = [r for r in plain.requests()[mark:] if r.is_mount]
    assert [r.status for r in mounts] == [202, 201] or [r.status for r in mounts] == [201]
    assert not [r for r in plain.requests()[mark:] if r.method in ("PUT", "PATCH")]
    assert fetch(target, digest, size) == data


def test_parallel_uploads_share_tokens(tokened: RunningRegistry) -> None:
    registry = client(tokened, credentials=login_of(tokened))
    repo = registry.repository("parallel/app")
    blobs = [os.urandom(50_000 + n) for n in range(12)]
    mark = len(tokened.token_requests)
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(lambda data: repo.upload_blob(*blob(data)), blobs))
    assert outcomes == ["uploaded"] * 12
    assert len(tokened.token_requests) - mark <= 2
    assert all(fetch(repo, Digest.of(data)) == data for data in blobs)


def test_sizes_are_enforced(plain: RunningRegistry) -> None:
    repo = client(plain).repository("blobs/sizes")
    digest = push(repo, b"0123456789")
    with pytest.raises(IntegrityError, match=r"5 were promised|more than the 5 bytes"):
        fetch(repo, digest, size=5)
    with pytest.raises(IntegrityError, match="where 20 were promised"):
        fetch(repo, digest, size=20)
    # A blob whose bytes are not its digest is refused before it is stored.
    data = b"not what the digest says"
    with pytest.raises(RegistryError, match="DIGEST_INVALID"):
        repo.upload_blob(Digest.of(b"other"), len(data), lambda: io.BytesIO(data))


# ---- resuming ------------------------------------------------------------------------------


class DyingAt(io.RawIOBase):
    """A blob file that runs ``action`` (once, for every stream of it) when a read first
    reaches ``offset``: the registry dies right then, with the chunk before it stored."""

    def __init__(
        self,
        path: Path,
        offset: int,
        fired: list[bool],
        action: Callable[[], None],
        can_seek: bool,
    ):
        self._file = path.open("rb")
        self._offset = offset
        self._fired = fired
        self._action = action
        self._can_seek = can_seek

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._can_seek

    def seek(self, offset: int, whence: int = 0) -> int:
        if not self._can_seek:
            raise io.UnsupportedOperation("seek")
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int = -1) -> bytes:
        if not self._fired and self._file.tell() >= self._offset:
            self._fired.append(True)
            self._action()
        return self._file.read(size)

    def close(self) -> None:
        self._file.close()
        super().close()


def _random_file(path: Path, size: int) -> tuple[Digest, int]:
    path.write_bytes(os.urandom(size))
    with path.open("rb") as stream:
        return Digest.of_file(stream)


@pytest.mark.parametrize("can_seek", [True, False], ids=["seekable", "stream"])
@pytest.mark.parametrize("upload_lost", [False, True], ids=["resumed", "started-over"])
def test_chunked_upload_survives_a_registry_restart(
    tmp_path: Path, upload_lost: bool, can_seek: bool
) -> None:
    reg = start_registry(tmp_path / "reg")
    try:
        path = tmp_path / "blob.bin"
        digest, size = _random_file(path, 10 * MIB)
        chunk = 2 * MIB
        registry = client(reg, upload=UploadPolicy(monolithic_max=MIB, chunk_size=chunk))
        repo = registry.repository("resume/app")
        fired: list[bool] = []

        def die() -> None:
            reg.stop()
            if upload_lost:
                shutil.rmtree(reg.root / "docker/registry/v2/repositories/resume/app/_uploads")
            reg.start()

        outcome = repo.upload_blob(
            digest,
            size,
            lambda: DyingAt(path, 2 * chunk, fired, die, can_seek),  # type: ignore[arg-type]
        )
        assert outcome == "uploaded" and fired
        uploads = [r for r in reg.requests() if r.is_blob_upload or r.method == "GET"]
        if upload_lost:
            # The registry forgot the session: a new one sends the whole blob again.
            assert sum(r.method == "POST" for r in uploads) == 2
        else:
            status = [r for r in uploads if r.method == "GET" and "/blobs/uploads/" in r.path]
            assert [r.status for r in status] == [204]  # asked where the upload stands ...
            patches = [r for r in uploads if r.method == "PATCH" and r.status == 202]
            assert len(patches) == size // chunk  # ... and sent no chunk twice
            assert sum(r.method == "POST" for r in uploads) == 1
        assert fetch(repo, digest, size) == path.read_bytes()
    finally:
        reg.close()


# ---- manifests -----------------------------------------------------------------------------


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker"])
def test_manifest_round_trip(plain: RunningRegistry, docker: bool) -> None:
    repo = client(plain).repository(f"manifests/{'docker' if docker else 'oci'}")
    data, media_type = image(repo, docker=docker)
    digest = Digest.of(data)
    assert repo.put_manifest("v1", data, media_type) == digest
    for reference in ("v1", str(digest)):
        got = repo.fetch_manifest(reference)
        assert (got.data, got.media_type, got.digest) == (data, media_type, digest)

    # By digest, and an index of it (OCI index or Docker manifest list).
    other, _ = image(repo, docker=docker, salt=b"2")
    assert repo.put_manifest(str(Digest.of(other)), other, media_type) == Digest.of(other)
    index_type = DOCKER_LIST if docker else OCI_INDEX
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": index_type,
            "manifests": [
                {**descriptor(media_type, blob), "platform": {"architecture": a, "os": "linux"}}
                for blob, a in ((data, "amd64"), (other, "arm64"))
            ],
        }
    ).encode()
    assert repo.put_manifest("multi", index, index_type) == Digest.of(index)
    got = repo.fetch_manifest("multi")
    assert (got.data, got.media_type) == (index, index_type)
    assert sorted(repo.tags()) == ["multi", "v1"]


def test_referrers_through_the_tag_fallback(plain: RunningRegistry) -> None:
    repo = client(plain).repository("referrers/app")
    subject_data, media_type = image(repo)
    subject = repo.put_manifest("1.0", subject_data, media_type)
    assert repo.referrers(subject) == []

    empty, sbom = b"{}", b'{"spdxVersion":"SPDX-2.3"}'
    push(repo, empty)
    push(repo, sbom)
    artifact = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SBOM_TYPE,
            "config": descriptor(EMPTY_TYPE, empty),
            "layers": [descriptor(SBOM_TYPE, sbom)],
            "subject": descriptor(media_type, subject_data),
        }
    ).encode()
    digest = repo.put_manifest(str(Digest.of(artifact)), artifact, OCI_MANIFEST)
    entry = {**descriptor(OCI_MANIFEST, artifact), "artifactType": SBOM_TYPE}
    repo.add_referrer(subject, entry)
    repo.add_referrer(subject, entry)  # twice is once

    assert repo.referrers(subject) == [entry]
    fallback = repo.fetch_manifest(f"sha256-{subject.hex}")
    assert fallback.media_type == OCI_INDEX
    assert [d["digest"] for d in json.loads(fallback.data)["manifests"]] == [str(digest)]
    # Another client (no memory of the push) finds it too.
    assert client(plain).repository("referrers/app").referrers(subject) == [entry]


# ---- errors --------------------------------------------------------------------------------


def test_unknown_names(plain: RunningRegistry) -> None:
    registry = client(plain)
    known = registry.repository("errors/known")
    data, media_type = image(known)
    known.put_manifest("v1", data, media_type)

    with pytest.raises(RegistryNotFoundError) as caught:
        registry.repository("errors/nobody").tags()
    message = str(caught.value)
    assert "NAME_UNKNOWN" in message and "check the repository name" in message
    assert f"{plain.host}/errors/nobody" in message

    with pytest.raises(RegistryNotFoundError) as caught:
        known.fetch_manifest("v2")
    message = str(caught.value)
    assert "MANIFEST_UNKNOWN" in message and "check the tag or digest" in message
    assert f"{plain.host}/errors/known:v2" in message

    missing = Digest.of(b"never pushed")
    with pytest.raises(RegistryNotFoundError, match="BLOB_UNKNOWN"):
        fetch(known, missing)
    assert known.blob_size(missing) is None
    for exc in (caught.value,):
        assert exc.exit_code == 12 and "\n" not in str(exc)


def test_htpasswd_over_tls(guarded: RunningRegistry) -> None:
    assert guarded.password
    good = client(guarded, credentials=login_of(guarded)).repository("private/app")
    data = os.urandom(3000)
    digest = push(good, data)
    assert fetch(good, digest) == data

    wrong = secrets.token_urlsafe(16)
    bad = client(guarded, credentials=lambda _h: Login("alice", wrong)).repository("private/app")
    with pytest.raises(RegistryAuthError) as caught:
        fetch(bad, digest)
    message = str(caught.value)
    assert "the password for alice was refused" in message
    assert f"pydistroless login {guarded.host}" in message
    assert caught.value.exit_code == 11
    assert wrong not in all_text(caught.value)

    with pytest.raises(RegistryAuthError, match="wants a login") as caught:
        client(guarded).repository("private/app").tags()
    assert guarded.password not in all_text(caught.value)


def test_untrusted_certificate(guarded: RunningRegistry) -> None:
    registry = Registry(guarded.host, credentials=login_of(guarded), policy=QUICK)
    with pytest.raises(RegistryTrustError) as caught:
        registry.repository("private/app").tags()
    message = str(caught.value)
    assert f"certificate of {guarded.host} is not trusted" in message
    assert "--ca-cert" in message and "\n" not in message
    assert caught.value.exit_code == 13
    assert guarded.password and guarded.password not in all_text(caught.value)


def test_token_auth(tokened: RunningRegistry) -> None:
    data = os.urandom(2000)
    digest, size, opener = blob(data)
    with pytest.raises(RegistryAuthError) as caught:
        client(tokened).repository("team/app").upload_blob(digest, size, opener)
    assert f"log in with `pydistroless login {tokened.host}`" in str(caught.value)

    repo = client(tokened, credentials=login_of(tokened)).repository("team/app")
    assert repo.upload_blob(digest, size, opener) == "uploaded"
    assert fetch(repo, digest, size) == data
    asked = [r for r in tokened.token_requests if r.user == tokened.username]
    assert asked and all(r.basic and r.service for r in asked)

    wrong = secrets.token_urlsafe(16)
    bad = client(tokened, credentials=lambda _h: Login(tokened.username or "", wrong))
    with pytest.raises(RegistryAuthError) as caught:
        bad.repository("team/app").upload_blob(digest, size, opener)
    assert "was refused by the token server" in str(caught.value)
    text = all_text(caught.value)
    assert wrong not in text and (tokened.password or "x") not in text


def test_registry_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = start_registry(tmp_path / "reg")
    host = reg.host
    reg.close()
    monkeypatch.setenv("PYDISTROLESS_DEADLINE_SCALE", "0.05")
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        Registry(host, credentials=anonymous).repository("any/app").fetch_manifest("v1")
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"is the registry running at {host}?" in message
    assert "connection refused" in message and "6 attempts" in message
    assert f"fetching {host}/any/app:v1" in message and "\n" not in message
