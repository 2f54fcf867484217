"""The documents of image signatures and attestations, as cosign makes and reads them: plain
data in, plain data out, no I/O (the registry side is ``registry/signatures.py``).

- The **simple-signing payload** (cosign 2.x's ``.sig``): a JSON claim that names the image's
  manifest digest, signed as it is (ECDSA over its SHA256); the signature travels base64 in a
  layer annotation.
- The **DSSE envelope** (attestations, and the Sigstore bundle's content): the signature is
  over the pre-authentication encoding (PAE) of the payload's type and bytes, so a signature
  of one kind of payload is never read as another.
- The **Sigstore bundle** v0.3 (cosign 3's referrers): a DSSE envelope with the verification
  material, here the public key's hint (no certificate, no transparency log entry: a key
  signs offline).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from pydistroless.core.digest import Digest
from pydistroless.core.errors import SignatureError, UsageError
from pydistroless.core.keys import PublicKey, SigningKey

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIMPLE_SIGNING_TYPE = "cosign container image signature"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT = "https://in-toto.io/Statement/v1"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
# cosign 3's predicate for a plain image signature carried as a DSSE statement in a bundle.
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
# The annotations cosign reads on a layer of a .sig or .att manifest.
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PREDICATE_TYPE_ANNOTATION = "predicateType"
# ... and on a bundle referrer's manifest.
BUNDLE_PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
BUNDLE_CONTENT_ANNOTATION = "dev.sigstore.bundle.content"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise SignatureError(f"{what} is not base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{what} is not valid base64") from None


# ---- simple signing -------------------------------------------------------------------


def simple_signing_payload(docker_reference: str, digest: Digest) -> bytes:
    """The claim cosign signs for an image: its repository and its manifest digest."""
    claim = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": str(digest)},
            "type": SIMPLE_SIGNING_TYPE,
        },
        "optional": None,
    }
    return json.dumps(claim, separators=(",", ":")).encode()


def signed_digest(payload: bytes, what: str) -> Digest:
    """The manifest digest a simple-signing payload (already verified) vouches for."""
    try:
        claim = json.loads(payload)
        critical = claim["critical"]
        kind = critical["type"]
        named = Digest.parse(critical["image"]["docker-manifest-digest"])
    except (ValueError, KeyError, TypeError, UsageError):
        raise SignatureError(f"{what}: the signed payload is not a cosign claim") from None
    if kind != SIMPLE_SIGNING_TYPE:
        raise SignatureError(f"{what}: the signed payload is a {kind!r}, not an image signature")
    return named


# ---- DSSE -------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope(payload: bytes, key: SigningKey, payload_type: str = IN_TOTO) -> dict[str, Any]:
    """A DSSE envelope of ``payload`` signed by ``key``."""
    signature = key.sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": b64(payload),
        "signatures": [{"keyid": "", "sig": b64(signature)}],
    }


def open_envelope(document: object, key: PublicKey, what: str) -> tuple[str, bytes]:
    """(payload type, payload) of a DSSE envelope one of whose signatures ``key`` made;
    anything else is a :class:`SignatureError` that says why."""
    if not isinstance(document, dict):
        raise SignatureError(f"{what} is not a DSSE envelope")
    payload_type = document.get("payloadType")
    signatures = document.get("signatures")
    if not isinstance(payload_type, str) or not isinstance(signatures, list) or not signatures:
        raise SignatureError(f"{what} is not a signed DSSE envelope")
    payload = unb64(document.get("payload"), f"{what}: the payload")
    message = pae(payload_type, payload)
    for entry in signatures:
        sig = entry.get("sig") if isinstance(entry, dict) else None
        if sig is not None and key.verifies(unb64(sig, f"{what}: a signature"), message):
            return payload_type, payload
    raise SignatureError(f"{what}: no signature in it verifies with the key")


def statement(subject: Digest, predicate_type: str, predicate: object, name: str = "") -> bytes:
    """An in-toto v1 statement about one digest."""
    entry: dict[str, Any] = {"digest": {subject.algorithm: subject.hex}}
    if name:
        entry["name"] = name
    document = {
        "_type": IN_TOTO_STATEMENT,
        "subject": [entry],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Statement:
    """An in-toto statement as read: its predicate type, the digests it is about, and
    the document itself."""

    predicate_type: str
    subjects: frozenset[Digest]
    document: dict[str, Any]

    def about(self, digest: Digest) -> bool:
        return digest in self.subjects


def read_statement(payload: bytes, what: str) -> Statement:
    try:
        document = json.loads(payload)
        predicate_type = document["predicateType"]
        subjects = document["subject"]
        if not isinstance(predicate_type, str) or not isinstance(subjects, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise SignatureError(f"{what}: the signed payload is not an in-toto statement") from None
    found = set()
    for subject in subjects:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        hex_ = digests.get("sha256") if isinstance(digests, dict) else None
        try:
            found.add(Digest(hex_))
        except (UsageError, TypeError):
            continue
    return Statement(predicate_type, frozenset(found), document)


def predicate_type_of(statement_bytes: bytes) -> str:
    """The predicate type of a statement about to be signed (a malformed one is a bug of its
    maker, said in one line)."""
    try:
        value = json.loads(statement_bytes)["predicateType"]
    except (ValueError, KeyError, TypeError):
        raise UsageError("an attestation to sign is not an in-toto statement") from None
    if not isinstance(value, str) or not value:
        raise UsageError("an attestation to sign has no predicateType")
    return value


# ---- Sigstore bundle --------------------------------------------------------------------


def bundle(envelope_document: dict[str, Any], key: PublicKey) -> bytes:
    """A Sigstore bundle v0.3 of a DSSE envelope signed by ``key`` (offline: no tlog)."""
    document = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": key.hint}},
        "dsseEnvelope": envelope_document,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def bundle_envelope(data: bytes, what: str) -> dict[str, Any]:
    """The DSSE envelope of a Sigstore bundle (v0.3 or later: its media type says)."""
    try:
        document = json.loads(data)
    except ValueError:
        raise SignatureError(f"{what} is not JSON") from None
    if not isinstance(document, dict) or not str(document.get("mediaType", "")).startswith(
        "application/vnd.dev.sigstore.bundle"
    ):
        raise SignatureError(f"{what} is not a Sigstore bundle")
    inner = document.get("dsseEnvelope")
    if not isinstance(inner, dict):
        raise SignatureError(f"{what} carries no DSSE envelope")
    return inner
