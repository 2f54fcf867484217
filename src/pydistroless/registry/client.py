"""The OCI distribution API, at the level of blobs and manifests.

A :class:`Registry` is one host with its transport (pools, TLS, retries) and its auth (the
challenge, the login, the token cache); :meth:`Registry.repository` gives a
:class:`Repository`, where blobs are fetched (streamed, checked against their digest and size
while they arrive), uploaded (skipped when present, mounted from another repository when
possible, in one request or in resumable chunks), and manifests are read and written as the
exact bytes their digest is of. Both are thread-safe: blobs of one push go up in parallel.

Every failure is one line that says what the registry said (its own error code and message),
about which reference, and what to do. Every wait is bounded: a body by its deadline (see
:mod:`pydistroless.registry.transport`), an upload that does not advance by the attempts and
the total time of the transport's policy.

The login goes only to the registry: an upload ``Location`` or a ``Link`` to another scheme,
host or port (:func:`~pydistroless.registry.transport.same_origin`) is sent nothing, and its
401 is an error, never a challenge to answer.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import quote, urlencode, urljoin, urlsplit

import urllib3

from pydistroless.core.digest import Digest, Hasher
from pydistroless.core.errors import (
    IntegrityError,
    OutputError,
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    UsageError,
)
from pydistroless.oci.limits import MAX_DOCUMENT, load_json
from pydistroless.oci.reference import DEFAULT_REGISTRY, DOCKER_API_HOST
from pydistroless.registry.auth import Auth, Credentials, merge_scopes, repository_scope
from pydistroless.registry.transport import (
    CHUNK,
    Body,
    BodyCutOff,
    Policy,
    Response,
    Transport,
    Unreachable,
    same_origin,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_ACCEPT = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
MANIFEST_MAX = MAX_DOCUMENT
_ERROR_BODY_MAX = 64 << 10
_TAG_PAGES_MAX = 10_000
_MIB = 1 << 20
_DIGEST_HEADER = "Docker-Content-Digest"

Outcome = str  # "present", "mounted" or "uploaded"


@dataclass(frozen=True)
class UploadPolicy:
    """When a blob goes up in one ``PUT`` and in what pieces otherwise.

    A blob up to ``monolithic_max`` bytes is sent in one request: fewer round trips, and a
    failure costs little to redo. A larger one is sent in ``PATCH`` chunks of ``chunk_size``
    (or the registry's ``OCI-Chunk-Min-Length`` if larger), each read from the file as it
    goes, so an upload that breaks resumes from what the registry holds."""

    monolithic_max: int = 16 * _MIB
    chunk_size: int = 8 * _MIB
    # Sessions to start for one blob (each a new POST) before giving up.
    sessions: int = 4


class Manifest(NamedTuple):
    """A manifest or index as the registry served it: the exact bytes, their media type and
    their digest (checked)."""

    data: bytes
    media_type: str
    digest: Digest


@dataclass(frozen=True)
class _Failure:
    """A registry's error answer: the HTTP status and the first entry of its ``errors``."""

    status: int
    code: str | None
    message: str | None

    def said(self) -> str:
        if self.code and self.message:
            return f"{self.code}: {self.message}"
        if self.code or self.message:
            return self.code or self.message or ""
        return f"HTTP {self.status}"


class Registry:
    """One registry host: its transport and its auth, shared by its repositories."""

    def __init__(
        self,
        host: str,
        *,
        insecure: Collection[str] = (),
        ca_certs: Sequence[Path] = (),
        credentials: Credentials | None = None,
        policy: Policy | None = None,
        upload: UploadPolicy | None = None,
    ):
        self.host = host
        self.api_host = DOCKER_API_HOST if host == DEFAULT_REGISTRY else host
        self.transport = Transport(insecure=insecure, ca_certs=ca_certs, policy=policy)
        self.auth = Auth(host, lambda: self.base_url, self.transport, credentials)
        self.upload = upload or UploadPolicy()

    def __repr__(self) -> str:
        return f"Registry({self.host!r})"

    @property
    def base_url(self) -> str:
        """``https://API_HOST`` (or ``http://`` for a local or insecure registry without TLS;
        found out on first use, not when the client is made)."""
        return self.transport.base_url(self.api_host)

    def repository(self, name: str) -> Repository:
        return Repository(self, name)

    def cancel(self) -> None:
        """End every request of this client now, in every thread (as Ctrl-C does)."""
        self.transport.cancel()

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Repository:
    """One repository of a registry."""

    def __init__(self, registry: Registry, name: str):
        self.registry = registry
        self.name = name
        self._pull = (repository_scope(name, "pull"),)
        self._push = (repository_scope(name, "pull", "push"),)
        self._lock = threading.Lock()
        # Manifests whose push the registry answered with OCI-Subject: it keeps their
        # referrers itself.
        self._subject_known: set[Digest] = set()
        self._referrers_api: bool | None = None
        # The fallback index is read, changed and written back: one writer at a time here
        # (other processes can still race; the spec accepts that).
        self._fallback_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Repository({self.registry.host!r}, {self.name!r})"

    @property
    def where(self) -> str:
        return f"{self.registry.host}/{self.name}"

    # ---- blobs -------------------------------------------------------------------------

    def blob_size(self, digest: Digest) -> int | None:
        """The size of blob ``digest`` here, or None when the repository lacks it."""
        what = f"checking for blob {digest} in {self.where}"
        with self._request("HEAD", self._url(f"blobs/{digest}"), self._pull, what) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise self._error(response, what, kind="blob")
            length = response.header("Content-Length") or ""
            return int(length) if length.isdigit() else None

    def fetch_blob(self, digest: Digest, out: BinaryIO, *, size: int | None = None) -> int:
        """Stream blob ``digest`` into ``out``, checked on the way (never more than ``size``
        bytes when it is known); returns the size. Redirects to storage elsewhere are
        followed without the login. A body cut off is fetched again if ``out`` can seek."""
        what = f"fetching blob {digest} from {self.where}"
        start = _position(out)
        for attempt in range(2):
            try:
                return self._fetch_blob_once(digest, out, size, what)
            except BodyCutOff:
                if attempt or start is None:
                    raise
                out.seek(start)
                out.truncate()
        raise AssertionError("unreachable")

    def _fetch_blob_once(self, digest: Digest, out: BinaryIO, size: int | None, what: str) -> int:
        url = self._url(f"blobs/{digest}")
        with self._request("GET", url, self._pull, what, follow=True) as response:
            if response.status != 200:
                raise self._error(response, what, kind="blob")
            announced = response.header("Content-Length") or ""
            if size is not None and announced.isdigit() and int(announced) > size:
                raise IntegrityError(
                    f"{what}: the registry announces {announced} bytes where {size} were "
                    "promised; the registry is broken or the image is tampered with"
                )
            limit = size if size is not None else (int(announced) if announced.isdigit() else None)
            hasher = Hasher()
            try:
                for chunk in response.chunks(CHUNK, expected=limit):
                    if limit is not None and hasher.size + len(chunk) > limit:
                        raise IntegrityError(
                            f"{what}: the registry sends more than the {limit} bytes promised; "
                            "the registry is broken or the image is tampered with"
                        )
                    hasher.update(chunk)
                    out.write(chunk)
            except RegistryError as exc:  # cut off, or too slow
                raise _prefixed(exc, what) from None
            hasher.check(digest, size, what)
            return hasher.size

    def upload_blob(
        self,
        digest: Digest,
        size: int,
        open_blob: Callable[[], BinaryIO],
        *,
        mount_from: Sequence[str] = (),
    ) -> Outcome:
        """Make blob ``digest`` (``size`` bytes, read from a fresh ``open_blob()`` each time it
        is needed) present here: ``"present"`` when it already was (nothing sent),
        ``"mounted"`` when the registry linked it from one of ``mount_from`` (repositories of
        the same registry), ``"uploaded"`` otherwise."""
        what = f"pushing blob {digest} to {self.where}"
        if self.blob_size(digest) is not None:
            return "present"
        session: str | None = None
        for source in dict.fromkeys(mount_from):
            if source == self.name:
                continue
            outcome, started = self._mount(digest, source, what)
            if outcome == "mounted":
                self._cancel(session)
                return "mounted"
            if started is not None:
                # The session a refused mount opened serves the upload, unless the next
                # source mounts: only the last one is kept.
                self._cancel(session)
                session = started
        policy = self.registry.upload
        progress = _Progress(self.registry.transport.policy.total)
        for attempt in range(policy.sessions):
            if session is None:
                session, minimum = self._start_upload(what)
            else:
                minimum = None
            try:
                if size <= policy.monolithic_max:
                    self._put_whole(session, digest, size, open_blob, what)
                else:
                    chunk = max(policy.chunk_size, minimum or 0, 1)
                    self._put_chunks(session, digest, size, open_blob, chunk, what, progress)
                return "uploaded"
            except (_SessionLost, Unreachable) as failure:
                # A whole upload (or the closing PUT) cut off is sent once only, as a body
                # cannot be replayed by the transport; a new session sends it again.
                error = failure.error if isinstance(failure, _SessionLost) else failure
                session = None
                self._pause(attempt)
                if self.blob_size(digest) == size:
                    return "uploaded"  # the last request did land; its answer did not
                if attempt + 1 >= policy.sessions or progress.expired():
                    raise error from None
        raise AssertionError("unreachable")

    def _mount(self, digest: Digest, source: str, what: str) -> tuple[str, str | None]:
        query = urlencode({"mount": str(digest), "from": source})
        scopes = merge_scopes(self._push, [repository_scope(source, "pull")])
        url = self._url(f"blobs/uploads/?{query}")
        with self._request("POST", url, scopes, what) as response:
            if response.status == 201:
                return "mounted", None
            if response.status == 202 and response.header("Location"):
                # Not mountable: the registry started an upload instead; use it.
                return "uploaded", urljoin(response.url, response.header("Location") or "")
            if response.status in (401, 403):
                raise self._error(response, what, kind="blob", action="push")
            # A registry without mounts (or a source it will not read) just means uploading.
            return "uploaded", None

    def _cancel(self, session: str | None) -> None:
        """Drop an upload session that will not be used (best effort: registries also purge
        stale sessions themselves)."""
        if session is None:
            return
        with contextlib.suppress(RegistryError):
            self._request("DELETE", session, self._push, "cancelling an upload").discard()

    def _start_upload(self, what: str) -> tuple[str, int | None]:
        with self._request("POST", self._url("blobs/uploads/"), self._push, what) as response:
            location = response.header("Location")
            if response.status != 202 or not location:
                raise self._error(response, what, kind="blob", action="push")
            minimum = response.header("OCI-Chunk-Min-Length") or ""
            return urljoin(response.url, location), int(minimum) if minimum.isdigit() else None

    def _put_whole(
        self,
        session: str,
        digest: Digest,
        size: int,
        open_blob: Callable[[], BinaryIO],
        what: str,
    ) -> None:
        def body() -> Iterator[bytes]:
            return _read_range(open_blob, 0, size, what)

        self._finish(session, digest, what, body, size)

    def _put_chunks(
        self,
        session: str,
        digest: Digest,
        size: int,
        open_blob: Callable[[], BinaryIO],
        chunk: int,
        what: str,
        progress: _Progress,
    ) -> None:
        with _Source(open_blob, what) as source:
            self._send_chunks(session, digest, size, source, chunk, what, progress)

    def _send_chunks(
        self,
        session: str,
        digest: Digest,
        size: int,
        source: _Source,
        chunk: int,
        what: str,
        progress: _Progress,
    ) -> None:
        offset = 0
        location = session
        # Failures in a row without progress: a registry that keeps failing the same chunk
        # (or taking it and holding no more than before) is given up on, as a request is
        # after its retries, and so is one that has not advanced for the policy's total.
        stalled = 0
        # Chunks sent: twice as many as the blob has, and the attempts, are enough for any
        # registry that keeps what it takes; one that keeps a byte of each is not.
        sent, most = 0, 2 * -(-size // chunk) + self.registry.transport.policy.attempts
        while True:
            if offset >= size:
                try:
                    self._finish(location, digest, what, None, 0)
                    return
                except _SessionLost as lost:
                    if self.blob_size(digest) == size:
                        return  # the PUT landed; its answer did not
                    # Ask where the session stands: it may still hold every byte, and then
                    # only the closing PUT is sent again.
                    stalled = self._stalled(stalled, lost.error, progress)
                    location, offset = self._resume(location, lost.error, what)
                    continue
            sent += 1
            if sent > most:
                raise _SessionLost(
                    RegistryError(
                        f"{what}: the registry took {sent - 1} chunks and holds {offset} of "
                        f"{size} bytes; the registry is broken"
                    )
                )
            length = min(chunk, size - offset)
            start = offset

            def body(start: int = start, length: int = length) -> Iterator[bytes]:
                return source.range(start, length)

            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + length - 1}",
                "Content-Length": str(length),
            }
            try:
                # Sent once: after a failure the registry is asked what it holds.
                response = self._request(
                    "PATCH", location, self._push, what, headers=headers, body=body, retry=False
                )
            except Unreachable as exc:
                stalled = self._stalled(stalled, exc, progress)
                location, offset = self._resume(location, exc, what)
                continue
            with response:
                if response.status == 202 and response.header("Location"):
                    location = urljoin(response.url, response.header("Location") or "")
                    offset = _range_end(response.header("Range"), start + length) or 0
                    if offset > start:
                        progress.advanced()
                        stalled = 0
                        continue
                    # Taken, yet the registry holds no more than before: it would be sent
                    # again and again.
                    error = RegistryError(
                        f"{what}: the registry takes chunks but its upload does not advance "
                        f"(it holds {offset} of {size} bytes); the registry is broken"
                    )
                    stalled = self._stalled(stalled, error, progress)
                    continue
                if response.status in (416, 500, 502, 503, 504) or (
                    response.status == 404 and self._failure(response).code == "BLOB_UPLOAD_UNKNOWN"
                ):
                    error = self._error(response, what, kind="blob", action="push")
                else:
                    raise self._error(response, what, kind="blob", action="push")
            stalled = self._stalled(stalled, error, progress)
            location, offset = self._resume(location, error, what)

    def _stalled(self, stalled: int, error: RegistryError, progress: _Progress) -> int:
        if stalled + 1 >= self.registry.transport.policy.attempts or progress.expired():
            raise _SessionLost(error)
        self._pause(stalled)
        return stalled + 1

    def _resume(self, location: str, cause: RegistryError, what: str) -> tuple[str, int]:
        """After a chunk failed: where the upload stands, as the registry says (``Range``).
        A session it no longer knows is lost: start again with a new one."""
        try:
            response = self._request("GET", location, self._push, what)
        except Unreachable:
            raise _SessionLost(cause) from None
        with response:
            if response.status == 204 or response.status == 202:
                held = _range_end(response.header("Range"), None)
                if held == 1:
                    # distribution writes "0-0" both for nothing and for one byte; chunks are
                    # never one byte, so it means nothing.
                    held = 0
                if held is not None:
                    return urljoin(response.url, response.header("Location") or location), held
            raise _SessionLost(cause)

    def _finish(self, location: str, digest: Digest, what: str, body: Body, size: int) -> None:
        """The closing ``PUT ?digest=``, with the whole blob or nothing."""
        url = _add_query(location, {"digest": str(digest)})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        try:
            response = self._request(
                "PUT", url, self._push, what, headers=headers, body=body, retry=False
            )
        except Unreachable as exc:
            raise _SessionLost(exc) from None
        with response:
            if response.status == 201:
                self._check_digest(response, digest, what)
                return
            failure = self._failure(response)
            error = self._error(response, what, kind="blob", action="push", failure=failure)
            if response.status >= 500 or failure.code in ("BLOB_UPLOAD_UNKNOWN",):
                raise _SessionLost(error)
            raise error

    def _pause(self, attempt: int) -> None:
        """Wait before trying again (a cancel ends the wait at once)."""
        transport = self.registry.transport
        policy = transport.policy
        transport.sleep(min(policy.backoff_cap, policy.backoff * (2**attempt)))

    # ---- manifests -----------------------------------------------------------------------

    def fetch_manifest(self, reference: str) -> Manifest:
        """The manifest or index at tag or digest ``reference``, its digest checked against
        the registry's ``Docker-Content-Digest`` and, by digest, against the one asked."""
        wanted = _as_digest(reference)
        what = f"fetching {self._ref(reference)}"
        headers = {"Accept": ", ".join(MANIFEST_ACCEPT)}
        url = self._url(f"manifests/{quote(reference, safe=':')}")
        with self._request("GET", url, self._pull, what, headers=headers) as response:
            if response.status != 200:
                raise self._error(response, what, kind="manifest")
            data = _read(response, MANIFEST_MAX, what)
            if data is None:
                raise RegistryError(
                    f"{what}: the manifest is larger than {MANIFEST_MAX // _MIB} MiB, which no "
                    "image manifest is; the registry is broken or hostile"
                )
            digest = Digest.of(data)
            self._check_digest(response, digest, what)
            if wanted is not None and digest != wanted:
                raise IntegrityError(
                    f"{what}: the registry served a manifest with digest {digest}; the "
                    "registry is broken or tampered with"
                )
            media_type = _media_type(response.header("Content-Type"), data)
        return Manifest(data, media_type, digest)

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> Digest:
        """Store ``data`` as a manifest of ``media_type`` under a tag or its digest; returns
        its digest, checked against what the registry answers."""
        digest = Digest.of(data)
        wanted = _as_digest(reference)
        what = f"pushing {self._ref(reference)}"
        if wanted is not None and wanted != digest:
            raise IntegrityError(
                f"{what}: the manifest's bytes have digest {digest}, not the one it is pushed "
                "as; this is a bug"
            )
        headers = {"Content-Type": media_type}
        url = self._url(f"manifests/{quote(reference, safe=':')}")
        with self._request("PUT", url, self._push, what, headers=headers, body=data) as response:
            if response.status != 201:
                raise self._error(response, what, kind="manifest", action="push")
            self._check_digest(response, digest, what)
            if response.header("OCI-Subject"):
                with self._lock:
                    self._subject_known.add(digest)
        return digest

    # ---- referrers -------------------------------------------------------------------------

    def referrers(self, digest: Digest) -> list[dict[str, Any]]:
        """The descriptors of the manifests whose ``subject`` is ``digest``: from the
        referrers API (OCI 1.1), or from the ``sha256-<hex>`` index where the registry lacks
        it."""
        what = f"listing the referrers of {self.where}@{digest}"
        url = self._url(f"referrers/{digest}")
        found: list[dict[str, Any]] = []
        pages = 0
        while url:
            headers = {"Accept": OCI_INDEX}
            with self._request("GET", url, self._pull, what, headers=headers) as response:
                if response.status == 404 and pages == 0:
                    index = _index_of(response, what)
                    if index is None:
                        self._referrers_api = False
                        found = self._fallback_referrers(digest, what)
                        break
                    found.extend(index)
                    break
                if response.status != 200:
                    raise self._error(response, what, kind="manifest")
                body = _read(response, MANIFEST_MAX, what)
                index = _manifests(body)
                if index is None:
                    raise RegistryError(
                        f"{what}: the registry's answer is not an image index; the registry "
                        "is broken"
                    )
                self._referrers_api = True
                found.extend(index)
                url = _next_link(response)
            pages += 1
            if pages > _TAG_PAGES_MAX:
                break
        return found

    def _fallback_referrers(self, digest: Digest, what: str) -> list[dict[str, Any]]:
        tag = _fallback_tag(digest)
        try:
            manifest = self.fetch_manifest(tag)
        except RegistryNotFoundError:
            return []
        index = _manifests(manifest.data)
        if index is None:
            raise RegistryError(
                f"{what}: {self.where}:{tag} is not an image index; remove that tag or push "
                "an index there"
            )
        return index

    def add_referrer(self, subject: Digest, descriptor: Mapping[str, Any]) -> None:
        """Make the manifest ``descriptor`` names (already pushed) findable as a referrer of
        ``subject``: nothing to do on a registry that keeps referrers itself; elsewhere, add
        it to the ``sha256-<hex>`` index (the distribution spec's fallback)."""
        try:
            referrer = Digest.parse(str(descriptor["digest"]))
        except (KeyError, UsageError):
            raise UsageError(f"a referrer of {subject} needs a descriptor with a digest") from None
        with self._lock:
            if referrer in self._subject_known:
                return
        if self._has_referrers_api(subject):
            return
        with self._fallback_lock:
            self._add_to_fallback(subject, referrer, descriptor)

    def _add_to_fallback(
        self, subject: Digest, referrer: Digest, descriptor: Mapping[str, Any]
    ) -> None:
        tag = _fallback_tag(subject)
        what = f"adding a referrer of {subject} to {self.where}:{tag}"
        try:
            manifest = self.fetch_manifest(tag)
        except RegistryNotFoundError:
            doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        else:
            try:
                doc = load_json(manifest.data)
            except ValueError:
                doc = None  # type: ignore[assignment]
            if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
                raise RegistryError(
                    f"{what}: the tag holds something other than an image index; remove it "
                    "and push again"
                )
        if any(isinstance(d, dict) and d.get("digest") == str(referrer) for d in doc["manifests"]):
            return
        doc["manifests"].append(dict(descriptor))
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        self.put_manifest(tag, data, OCI_INDEX)

    def _has_referrers_api(self, subject: Digest) -> bool:
        if self._referrers_api is None:
            what = f"checking {self.where} for the referrers API"
            headers = {"Accept": OCI_INDEX}
            url = self._url(f"referrers/{subject}")
            with self._request("GET", url, self._pull, what, headers=headers) as response:
                if response.status == 200:
                    body = _read(response, MANIFEST_MAX, what)
                    self._referrers_api = _manifests(body) is not None
                elif response.status == 404:
                    self._referrers_api = _index_of(response, what) is not None
                else:
                    raise self._error(response, what, kind="manifest")
        return bool(self._referrers_api)

    # ---- tags ----------------------------------------------------------------------------

    def tags(self) -> list[str]:
        """Every tag of the repository, following ``Link`` pagination."""
        what = f"listing the tags of {self.where}"
        url: str | None = self._url("tags/list")
        found: list[str] = []
        pages = 0
        while url:
            with self._request("GET", url, self._pull, what) as response:
                if response.status != 200:
                    raise self._error(response, what, kind="repository")
                body = _read(response, MANIFEST_MAX, what)
                try:
                    doc = load_json(body or b"")
                except ValueError:
                    doc = None
                if not isinstance(doc, dict):
                    raise RegistryError(
                        f"{what}: the answer is not a tag list; the registry is broken"
                    )
                found.extend(t for t in doc.get("tags") or [] if isinstance(t, str))
                url = _next_link(response)
            pages += 1
            if pages > _TAG_PAGES_MAX:
                raise RegistryError(f"{what}: more than {_TAG_PAGES_MAX} pages; giving up")
        return found

    # ---- requests and errors -----------------------------------------------------------

    def _url(self, path: str) -> str:
        """The API path of ``path`` in this repository; :meth:`_request` adds the scheme and
        host (finding out the scheme may mean a first request, whose failure names what was
        being done)."""
        return f"/v2/{self.name}/{path}"

    def _ref(self, reference: str) -> str:
        sep = "@" if _as_digest(reference) is not None else ":"
        return f"{self.where}{sep}{reference}"

    def _request(
        self,
        method: str,
        url: str,
        scopes: Sequence[str],
        what: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        retry: bool = True,
        follow: bool = False,
    ) -> Response:
        """One authorised request: with the login the registry's challenge wants, once more
        with fresh authorisation after a 401 that a new token can fix. A URL the registry
        named (an upload ``Location``, a ``Link``) on another scheme, host or port gets no
        login, and its 401 is an error. A host that cannot be reached is an error naming
        ``what``."""
        auth = self.registry.auth
        transport = self.registry.transport
        try:
            base = self.registry.base_url
            if url.startswith("/"):
                url = base + url
            own = same_origin(url, base)
            sent = auth.headers(scopes) if own else {}
            response = transport.request(
                method,
                url,
                headers={**(headers or {}), **sent},
                body=body,
                retry=retry,
                follow=follow,
            )
            if response.status == 401 and not own:
                response.discard()
                raise RegistryAuthError(
                    f"the registry sent this request on to {_origin_of(url)}, which wants a "
                    f"login; the login for {self.registry.host} goes to no other host, port or "
                    "scheme (is the registry's own URL set right?)"
                )
            if response.status == 401:
                again = auth.refused(response, scopes, sent)
                if again is not None:
                    response.discard()
                    sent = auth.headers(again)
                    response = transport.request(
                        method,
                        url,
                        headers={**(headers or {}), **sent},
                        body=body,
                        retry=retry,
                        follow=follow,
                    )
        except RegistryError as exc:
            raise _prefixed(exc, what) from None
        return response

    def _check_digest(self, response: Response, digest: Digest, what: str) -> None:
        said = response.header(_DIGEST_HEADER)
        if said and said.strip() != str(digest):
            raise IntegrityError(
                f"{what}: the registry says the digest is {said.strip()[:80]}, not {digest}; "
                "the registry is broken or tampered with"
            )

    def _failure(self, response: Response) -> _Failure:
        cached = getattr(response, "_failure", None)
        if cached is not None:
            return cached
        body = b""
        if response.status and response.raw.headers.get("Content-Length") != "0":
            try:
                body = response.read(_ERROR_BODY_MAX) or b""
            except (urllib3.exceptions.HTTPError, OSError, RegistryError):
                body = b""  # an unreadable error body is just no body
        code = message = None
        try:
            doc = load_json(body) if body else None
        except ValueError:
            doc = None
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            code = _one_line(first.get("code"))
            message = _one_line(first.get("message"))
            detail = first.get("detail")
            if isinstance(detail, str) and detail.strip() and len(detail) < 120:
                message = f"{message or ''} ({_one_line(detail)})".strip()
        if code is None and message is None and response.raw.reason:
            message = _one_line(f"HTTP {response.status} {response.raw.reason}")
        failure = _Failure(response.status, code, message)
        response._failure = failure  # type: ignore[attr-defined]
        return failure

    def _error(
        self,
        response: Response,
        what: str,
        *,
        kind: str,
        action: str = "pull",
        failure: _Failure | None = None,
    ) -> RegistryError:
        """The one-line error for an answer that is not the expected one."""
        failure = failure or self._failure(response)
        auth = self.registry.auth
        host = self.registry.host
        said = failure.said()
        login = f"log in with `pydistroless login {host}`"
        if failure.status in (401, 403) or failure.code in ("UNAUTHORIZED", "DENIED"):
            if not auth.has_login:
                return RegistryAuthError(f"{what}: {said}; the registry wants a login: {login}")
            user = auth.user or "the identity token"
            if auth.scheme == "basic" and failure.status == 401:
                return RegistryAuthError(
                    f"{what}: {said}; the password for {user} was refused: {login} again"
                )
            return RegistryAuthError(
                f"{what}: {said}; {user} may not {action} {self.where}: ask for access or "
                f"{login} as another user"
            )
        if failure.status == 404 or failure.code in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN"):
            if failure.code == "NAME_UNKNOWN" or kind == "repository":
                hint = f"check the repository name ({self.where})"
            elif failure.code == "BLOB_UNKNOWN" or kind == "blob":
                hint = f"the repository lacks this blob; push the image to {self.where} again"
            else:
                hint = "check the tag or digest"
            return RegistryNotFoundError(f"{what}: {said}; {hint}")
        if failure.status == 429:
            return RegistryError(f"{what}: {said}; the registry limits requests, try later")
        if failure.status >= 500:
            return RegistryError(
                f"{what}: the registry failed ({said}) after retries; try again later"
            )
        return RegistryError(f"{what}: the registry answered {said} (HTTP {failure.status})")


class _Progress:
    """When an upload last advanced (the registry held more of the blob than before): one
    that has not for ``total`` seconds, over every session, is given up on."""

    def __init__(self, total: float):
        self._total = total
        self._since = time.monotonic()

    def advanced(self) -> None:
        self._since = time.monotonic()

    def expired(self) -> bool:
        return time.monotonic() - self._since > self._total


class _SessionLost(Exception):
    """An upload session that cannot go on: start a new one (the blob may be there)."""

    def __init__(self, error: RegistryError):
        super().__init__()
        self.error = error


def _prefixed(exc: RegistryError, what: str) -> RegistryError:
    """``exc`` of the same class, its message led by what was being done."""
    text = str(exc)
    if text.startswith(what):
        return exc
    new = type(exc).__new__(type(exc))
    Exception.__init__(new, f"{what}: {text}")
    new.__dict__.update(exc.__dict__)
    return new


def _read_range(
    open_blob: Callable[[], BinaryIO], start: int, length: int, what: str
) -> Iterator[bytes]:
    """``length`` bytes of a freshly opened blob from ``start``, in chunks."""
    with _Source(open_blob, what) as source:
        yield from source.range(start, length)


class _Source:
    """The blob being uploaded, read front to back through one open stream; a range that
    does not start where the stream stands (a resumed or repeated chunk) re-opens it and
    seeks, or reads up to the range when the stream cannot seek.

    Reading it is never mistaken for the network failing: urllib3 takes any ``OSError``
    raised while it sends a body for a broken connection, so a local read error is an
    :class:`OutputError` instead, and a blob shorter than its size an
    :class:`IntegrityError`."""

    def __init__(self, open_blob: Callable[[], BinaryIO], what: str):
        self._open = open_blob
        self._what = what
        self._stream: BinaryIO | None = None
        self._at = 0

    def range(self, start: int, length: int) -> Iterator[bytes]:
        try:
            if self._stream is None or self._at != start:
                self._reopen(start)
            assert self._stream is not None
            left = length
            while left:
                chunk = self._stream.read(min(CHUNK, left))
                if not chunk:
                    raise IntegrityError(
                        f"{self._what}: the blob ends {left} bytes before its size; it changed "
                        "while being pushed"
                    )
                self._at += len(chunk)
                left -= len(chunk)
                yield chunk
        except OSError as exc:
            raise OutputError(
                f"{self._what}: cannot read the blob ({exc.strerror or exc}); check the image "
                "being pushed"
            ) from None

    def _reopen(self, start: int) -> None:
        self.close()
        self._stream = self._open()
        self._at = 0
        if not start:
            return
        if self._stream.seekable():
            self._at = self._stream.seek(start)
            return
        while self._at < start:
            skipped = self._stream.read(min(CHUNK, start - self._at))
            if not skipped:
                break
            self._at += len(skipped)

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _range_end(header: str | None, default: int | None) -> int | None:
    """The size the registry holds, from ``Range: 0-END`` (END inclusive)."""
    match = re.fullmatch(r"\s*(?:bytes=)?0-(\d+)\s*", header or "")
    if not match:
        return default
    return int(match[1]) + 1


def _add_query(url: str, params: Mapping[str, str]) -> str:
    separator = "&" if urlsplit(url).query else ("" if url.endswith("?") else "?")
    return f"{url}{separator}{urlencode(params)}"


def _as_digest(reference: str) -> Digest | None:
    if not reference.startswith("sha256:"):
        return None
    try:
        return Digest.parse(reference)
    except UsageError:
        return None


def _media_type(content_type: str | None, data: bytes) -> str:
    media_type = (content_type or "").split(";")[0].strip()
    if media_type and media_type not in ("application/json", "text/plain"):
        return media_type
    try:
        doc = load_json(data) if data else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("mediaType"), str):
        return doc["mediaType"]
    return media_type


def _manifests(body: bytes | None) -> list[dict[str, Any]] | None:
    try:
        doc = load_json(body) if body else None
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
        return None
    return [d for d in doc["manifests"] if isinstance(d, dict)]


def _index_of(response: Response, what: str) -> list[dict[str, Any]] | None:
    """The manifests of a 404's body if it is an OCI index (a registry with the referrers
    API and nothing to list), else None: the registry lacks the API."""
    content_type = (response.header("Content-Type") or "").split(";")[0].strip()
    if content_type != OCI_INDEX:
        return None
    return _manifests(_read(response, MANIFEST_MAX, what))


def _read(response: Response, limit: int, what: str) -> bytes | None:
    """:meth:`Response.read`, its failures (a body cut off, or too slow) led by ``what``."""
    try:
        return response.read(limit)
    except RegistryError as exc:
        raise _prefixed(exc, what) from None


def _next_link(response: Response) -> str | None:
    for link in response.headers.getlist("Link"):
        for part in link.split(","):
            match = re.match(r"\s*<([^>]*)>\s*;(.*)", part)
            if match and re.search(r'rel="?next"?', match[2]):
                return urljoin(response.url, match[1])
    return None


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _fallback_tag(digest: Digest) -> str:
    return f"{digest.algorithm}-{digest.hex}"


def _position(stream: BinaryIO) -> int | None:
    try:
        return stream.tell() if stream.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def _one_line(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return " ".join(value.split())[:200]
