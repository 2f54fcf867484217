"""Signatures read from a registry that answers what the test writes: a ``.sig`` tag that
lists more documents than anyone signs, one that holds no image manifest, a document whose
bytes are not its digest's, and a signature that verifies, each said in one line.

The real registry and the real cosign are in ``tests/e2e/test_signatures.py``.
"""

from __future__ import annotations

import base64
import json

import pytest

from pydistroless.core import keys, signing
from pydistroless.core.digest import Digest
from pydistroless.core.errors import IntegrityError, RegistryError, SignatureError
from pydistroless.registry import signatures
from pydistroless.registry.client import Registry
from tests.fixtures.scripted_registry import Reply, Request, reply, scripted

IMAGE = Digest.of(b"the image's manifest")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def serve(documents: dict[str, bytes]):
    """Answers: each path of ``documents``; 404 (no referrers API, no fallback tag) else."""

    def answer(request: Request) -> Reply:
        if request.path == "/v2/":
            return reply(200, b"{}")
        found = documents.get(request.path)
        if found is None:
            return reply(404, b"")
        content_type = OCI_MANIFEST if "/manifests/" in request.path else "application/octet-stream"
        return reply(200, found, Content_Type=content_type)

    return answer


def sig_manifest(layers: list[dict]) -> bytes:
    config = {"mediaType": "application/vnd.oci.image.config.v1+json",
              "digest": str(Digest.of(b"{}")), "size": 2}  # fmt: skip
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers}
    ).encode()


def layer(payload: bytes, signature: bytes) -> dict:
    return {
        "mediaType": signing.SIMPLE_SIGNING,
        "digest": str(Digest.of(payload)),
        "size": len(payload),
        "annotations": {signing.SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()},
    }


def verify(host: str, key: keys.PublicKey):
    repository = Registry(host).repository("app")
    return signatures.verify_signatures(repository, IMAGE, key, where=f"{host}/app:1")


SIG_PATH = f"/v2/app/manifests/sha256-{IMAGE.hex}.sig"


def test_a_signature_that_verifies_is_found() -> None:
    key = keys.generate()
    payload = signing.simple_signing_payload("h/app", IMAGE)
    documents = {
        SIG_PATH: sig_manifest([layer(payload, key.sign(payload))]),
        f"/v2/app/blobs/{Digest.of(payload)}": payload,
    }
    with scripted(serve(documents)) as server:
        [found] = verify(server.host, key.public)
    assert found.place == f"sha256-{IMAGE.hex}.sig"
    assert found.payload == payload


def test_more_documents_than_anyone_signs_are_refused_unread() -> None:
    key = keys.generate()
    payload = signing.simple_signing_payload("h/app", IMAGE)
    many = [layer(payload, key.sign(payload))] * (signatures.ATTACHED_MAX + 1)
    with scripted(serve({SIG_PATH: sig_manifest(many)})) as server:
        with pytest.raises(RegistryError) as exc:
            verify(server.host, key.public)
        assert not server.requests("GET", f"/v2/app/blobs/{Digest.of(payload)}")
    assert str(exc.value) == (
        f"{server.host}/app:sha256-{IMAGE.hex}.sig lists {signatures.ATTACHED_MAX + 1} "
        "documents; more than anyone signs (the registry is broken or hostile)"
    )


def test_a_sig_tag_that_is_no_image_manifest_is_one_line() -> None:
    index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    with scripted(serve({SIG_PATH: index})) as server, pytest.raises(RegistryError) as exc:
        verify(server.host, keys.generate().public)
    assert str(exc.value) == (
        f"{server.host}/app:sha256-{IMAGE.hex}.sig holds something other than an image "
        "manifest; remove that tag"
    )


def test_a_document_that_is_not_its_digest_is_refused() -> None:
    key = keys.generate()
    payload = signing.simple_signing_payload("h/app", IMAGE)
    forged = payload.replace(b"h/app", b"h/APP")
    documents = {
        SIG_PATH: sig_manifest([layer(payload, key.sign(payload))]),
        f"/v2/app/blobs/{Digest.of(payload)}": forged,
    }
    with scripted(serve(documents)) as server, pytest.raises(IntegrityError) as exc:
        verify(server.host, key.public)
    assert "\n" not in str(exc.value)


def test_nothing_there_says_so() -> None:
    with scripted(serve({})) as server, pytest.raises(SignatureError) as exc:
        verify(server.host, keys.generate().public)
    assert str(exc.value) == (
        f"no signature of {server.host}/app:1 ({IMAGE}) found; sign it with `pydistroless "
        "sign` or `cosign sign --key`"
    )
