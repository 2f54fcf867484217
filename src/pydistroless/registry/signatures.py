"""Signatures and attestations of pushed images, stored where cosign writes and reads them,
and checked against a public key.

Two places, both kept, so cosign 2.x and 3 (and the admission controllers built on them)
find them:

- **The tag** ``sha256-<hex>.sig`` (signatures) or ``sha256-<hex>.att`` (attestations) of
  the image's repository: an image manifest whose layers are the signed documents, the
  signature of each in a layer annotation (a simple-signing claim with its signature in
  ``dev.cosignproject.cosign/signature``; a DSSE envelope, signature inside, with its
  ``predicateType``). Signing again appends a layer, so earlier signatures stay.
- **A referrer** (OCI 1.1, or the ``sha256-<hex>`` fallback index on a registry without the
  referrers API; see :mod:`registry.referrers`): a Sigstore bundle v0.3 holding a DSSE
  envelope of an in-toto statement about the image (cosign 3's ``sign`` and ``attest``).

Verifying reads both, checks every candidate and says, in one line, why none verified when
none does. Signatures and attestations share the mechanism: a candidate is a signed
document, a check turns it into what it vouches for or says why not.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydistroless.core.digest import Digest
from pydistroless.core.errors import (
    ImageFormatError,
    IntegrityError,
    RegistryError,
    RegistryNotFoundError,
    SignatureError,
)
from pydistroless.core.keys import PublicKey, SigningKey
from pydistroless.core.signing import (
    BUNDLE_CONTENT_ANNOTATION,
    BUNDLE_PREDICATE_ANNOTATION,
    BUNDLE_V03,
    COSIGN_SIGN_PREDICATE,
    DSSE_ENVELOPE,
    PREDICATE_TYPE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    b64,
    bundle,
    bundle_envelope,
    envelope,
    open_envelope,
    predicate_type_of,
    read_statement,
    signed_digest,
    simple_signing_payload,
    statement,
    unb64,
)
from pydistroless.core.timestamps import rfc3339
from pydistroless.oci.model import (
    ANNOTATION_CREATED,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_MANIFEST,
    Artifact,
    Descriptor,
    Index,
    canonical_json,
)
from pydistroless.oci.reference import Reference
from pydistroless.registry import referrers
from pydistroless.registry.client import Repository

SIGNATURES = "sig"
ATTESTATIONS = "att"
# A signed document larger than this is not one anyone made: an SBOM predicate of a large
# image is a few MiB.
DOCUMENT_MAX = 64 << 20
# What one .sig or .att tag may hold: thousands of signatures, or a few large SBOMs.
ATTACHED_MAX = 4096
ATTACHED_BYTES_MAX = 512 << 20
# Every Sigstore bundle's media type starts so (v0.1 to v0.3 and later).
BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"
# What go-containerregistry's empty image says, which cosign's .sig images start from.
_ZERO_TIME = "0001-01-01T00:00:00Z"


def tag_for(digest: Digest, suffix: str) -> str:
    """The tag cosign keeps ``digest``'s signatures (``sig``) or attestations (``att``) at."""
    return f"{digest.algorithm}-{digest.hex}.{suffix}"


def now() -> str:
    return rfc3339(int(time.time()))


@dataclass(frozen=True)
class Attached:
    """One layer of a ``.sig`` or ``.att`` manifest: a signed document and its annotations."""

    media_type: str
    payload: bytes = field(repr=False)
    annotations: tuple[tuple[str, str], ...] = ()

    def annotation(self, name: str) -> str | None:
        return dict(self.annotations).get(name)


# ---- writing ----------------------------------------------------------------------------


def subjects(artifact: Artifact) -> list[Descriptor]:
    """What a signature of ``artifact`` covers: an index and each manifest below it (each
    once), or the one image."""
    found: dict[Digest, Descriptor] = {}
    pending: list[Artifact] = [artifact]
    while pending:
        item = pending.pop(0)
        if item.digest in found:
            continue
        if isinstance(item, Index):
            found[item.digest] = item.descriptor()
            pending.extend(item.children)
        else:
            found[item.digest] = item.descriptor(with_platform=False)
    return list(found.values())


def sign_artifact(
    repository: Repository, artifact: Artifact, docker_reference: str, key: SigningKey
) -> list[Digest]:
    """Sign ``artifact`` (pushed to ``repository``): the index and every platform's image.
    Returns the digests signed."""
    created = now()
    signed = []
    for subject in subjects(artifact):
        sign(repository, subject, docker_reference, key, created=created)
        signed.append(subject.digest)
    return signed


def sign(
    repository: Repository,
    subject: Descriptor,
    docker_reference: str,
    key: SigningKey,
    *,
    created: str | None = None,
) -> None:
    """Sign the manifest ``subject`` describes (pushed to ``repository``), in both places:
    a simple-signing layer appended at ``sha256-<hex>.sig``, and a bundle referrer."""
    digest = subject.digest
    payload = simple_signing_payload(docker_reference, digest)
    layer = Attached(SIMPLE_SIGNING, payload, ((SIGNATURE_ANNOTATION, b64(key.sign(payload))),))
    append_attached(repository, digest, SIGNATURES, [layer])
    claim = statement(digest, COSIGN_SIGN_PREDICATE, {})
    _attach_bundle(repository, subject, claim, COSIGN_SIGN_PREDICATE, key, created)


def attach_attestations(
    repository: Repository,
    subject: Descriptor,
    statements: Sequence[bytes],
    key: SigningKey,
    *,
    created: str | None = None,
) -> None:
    """Sign each in-toto statement (its bytes, as made) about ``subject`` into a DSSE
    envelope, appended at ``sha256-<hex>.att`` and attached as a bundle referrer."""
    layers = []
    for claim in statements:
        predicate_type = predicate_type_of(claim)
        document = envelope(claim, key)
        layers.append(
            Attached(
                DSSE_ENVELOPE,
                json.dumps(document, separators=(",", ":")).encode(),
                ((SIGNATURE_ANNOTATION, ""), (PREDICATE_TYPE_ANNOTATION, predicate_type)),
            )
        )
        _attach_bundle(repository, subject, claim, predicate_type, key, created, document)
    if layers:
        append_attached(repository, subject.digest, ATTESTATIONS, layers)


def _attach_bundle(
    repository: Repository,
    subject: Descriptor,
    claim: bytes,
    predicate_type: str,
    key: SigningKey,
    created: str | None,
    document: dict[str, Any] | None = None,
) -> None:
    signed = document if document is not None else envelope(claim, key)
    referrers.attach_document(
        repository,
        subject,
        bundle(signed, key.public),
        BUNDLE_V03,
        artifact_type=BUNDLE_V03,
        annotations={
            ANNOTATION_CREATED: created or now(),
            BUNDLE_CONTENT_ANNOTATION: "dsse-envelope",
            BUNDLE_PREDICATE_ANNOTATION: predicate_type,
        },
    )


def append_attached(
    repository: Repository, digest: Digest, suffix: str, items: Sequence[Attached]
) -> Digest:
    """Add ``items`` as layers to the manifest at ``sha256-<hex>.<suffix>`` (made if absent),
    keeping every layer it had; a layer already there (same document, same annotations) is
    not added twice. Returns the new manifest's digest."""
    tag = tag_for(digest, suffix)
    layers = [_layer_json(d) for d in _existing_layers(repository, tag)]
    for item in items:
        descriptor = Descriptor(
            item.media_type,
            Digest.of(item.payload),
            len(item.payload),
            annotations=item.annotations,
        ).to_json()
        if descriptor in layers:
            continue
        payload = item.payload
        repository.upload_blob(
            Digest.of(payload), len(payload), lambda payload=payload: io.BytesIO(payload)
        )
        layers.append(descriptor)
    config = canonical_json(
        {
            "architecture": "",
            "config": {},
            "created": _ZERO_TIME,
            "history": [{"created": _ZERO_TIME} for _ in layers],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in layers]},
        }
    )
    repository.upload_blob(Digest.of(config), len(config), lambda: io.BytesIO(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": Descriptor(OCI_CONFIG, Digest.of(config), len(config)).to_json(),
        "layers": layers,
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    return repository.put_manifest(tag, data, OCI_MANIFEST)


def _layer_json(descriptor: Descriptor) -> dict[str, Any]:
    return Descriptor(
        descriptor.media_type,
        descriptor.digest,
        descriptor.size,
        annotations=descriptor.annotations,
    ).to_json()


def _existing_layers(repository: Repository, tag: str) -> list[Descriptor]:
    """The layer descriptors of the manifest at ``tag``; none when there is none."""
    where = f"{repository.where}:{tag}"
    try:
        manifest = repository.fetch_manifest(tag)
    except RegistryNotFoundError:
        return []
    try:
        document = json.loads(manifest.data)
        listed = document["layers"]
        if not isinstance(listed, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise RegistryError(
            f"{where} holds something other than an image manifest; remove that tag"
        ) from None
    return [Descriptor.from_json(d, f"a layer of {where}") for d in listed]


# ---- reading ----------------------------------------------------------------------------


def read_attached(
    repository: Repository,
    digest: Digest,
    suffix: str,
    *,
    select: Callable[[Descriptor], bool] | None = None,
) -> list[Attached]:
    """The layers of ``sha256-<hex>.<suffix>`` (those ``select`` picks by their descriptor,
    when given), each document fetched (and checked against its digest); none when the tag
    is absent."""
    tag = tag_for(digest, suffix)
    found = []
    layers = _existing_layers(repository, tag)
    wanted = [d for d in layers if select is None or select(d)]
    if len(wanted) > ATTACHED_MAX or sum(d.size for d in wanted) > ATTACHED_BYTES_MAX:
        raise RegistryError(
            f"{repository.where}:{tag} lists {len(wanted)} documents; more than anyone signs "
            "(the registry is broken or hostile)"
        )
    for descriptor in wanted:
        if descriptor.size > DOCUMENT_MAX:
            continue
        out = io.BytesIO()
        repository.fetch_blob(descriptor.digest, out, size=descriptor.size)
        found.append(Attached(descriptor.media_type, out.getvalue(), descriptor.annotations))
    return found


@dataclass(frozen=True)
class Verified:
    """A signed document that verified: where it was, and what it vouches for."""

    place: str  # "sha256-<hex>.sig", "sha256-<hex>.att" or "referrer sha256:..."
    payload: bytes = field(repr=False)  # the claim or in-toto statement
    predicate_type: str = ""  # of an attestation (or cosign's sign predicate)


# A candidate: where it is, and the check that returns what it vouches for or raises why not.
Candidate = tuple[str, Callable[[], Verified]]


def verify_signatures(
    repository: Repository, digest: Digest, key: PublicKey, *, where: str
) -> list[Verified]:
    """Every signature of ``digest`` that ``key`` made and that names ``digest``; when none,
    a :class:`SignatureError` saying why (unsigned, another key, another image)."""
    candidates = list(_signature_candidates(repository, digest, key))
    candidates += _bundle_candidates(repository, digest, key, {COSIGN_SIGN_PREDICATE})
    return settle(candidates, what=f"signature of {where} ({digest})", hint=_SIGN_HINT)


def verify_attestations(
    repository: Repository,
    digest: Digest,
    key: PublicKey,
    predicate_type: str,
    *,
    where: str,
) -> list[Verified]:
    """Every attestation of ``predicate_type`` about ``digest`` that ``key`` signed (its
    statement in :attr:`Verified.payload`); when none, a :class:`SignatureError`."""
    candidates = list(_attestation_candidates(repository, digest, key, predicate_type))
    candidates += _bundle_candidates(repository, digest, key, {predicate_type})
    return settle(
        candidates,
        what=f"{predicate_type} attestation of {where} ({digest})",
        hint="attest it with the key's private half when pushing (--sign-key)",
    )


def verify_reference(
    repository: Repository, reference: Reference, key: PublicKey
) -> tuple[Reference, list[Verified]]:
    """Verify the signatures of what ``reference`` names now: the registry's digest for it,
    checked; returns the reference pinned to that digest (read it by that, so no byte of
    anything else is used) and what verified."""
    manifest = repository.fetch_manifest(reference.identifier)
    pinned = replace(reference, digest=manifest.digest)
    return pinned, verify_signatures(repository, manifest.digest, key, where=str(reference))


_SIGN_HINT = "sign it with `pydistroless sign` or `cosign sign --key`"


def settle(candidates: Sequence[Candidate], *, what: str, hint: str) -> list[Verified]:
    """The candidates that verify; if none does, one line: that there is none, or the most
    telling reason (a document the key signed that says something else beats a signature
    the key did not make)."""
    verified: list[Verified] = []
    reasons: list[tuple[int, str]] = []
    for place, check in candidates:
        try:
            verified.append(check())
        except _NotCandidate:
            continue
        except _Mismatch as exc:
            reasons.append((1, f"{place}: {exc}"))
        except SignatureError as exc:
            reasons.append((0, f"{place}: {exc}"))
    if verified:
        return verified
    if not reasons:
        raise SignatureError(f"no {what} found; {hint}")
    reasons.sort(key=lambda r: -r[0])
    others = f" (and {len(reasons) - 1} more that do not verify)" if len(reasons) > 1 else ""
    raise SignatureError(f"no {what} verifies: {reasons[0][1]}{others}")


class _Mismatch(SignatureError):
    """The key signed it, but it vouches for something else."""


class _NotCandidate(Exception):
    """Not a document of the kind asked about (another artifact, another predicate type)."""


def _signature_candidates(
    repository: Repository, digest: Digest, key: PublicKey
) -> Iterator[Candidate]:
    tag = tag_for(digest, SIGNATURES)

    def simple_signing(descriptor: Descriptor) -> bool:
        return descriptor.media_type == SIMPLE_SIGNING

    for item in read_attached(repository, digest, SIGNATURES, select=simple_signing):

        def check(item: Attached = item) -> Verified:
            signature = unb64(item.annotation(SIGNATURE_ANNOTATION), "its signature annotation")
            if not key.verifies(signature, item.payload):
                raise SignatureError("its signature does not verify with the key")
            named = signed_digest(item.payload, "it")
            if named != digest:
                raise _Mismatch(f"it is signed for {named}, another image")
            return Verified(tag, item.payload)

        yield tag, check


def _attestation_candidates(
    repository: Repository, digest: Digest, key: PublicKey, predicate_type: str
) -> Iterator[Candidate]:
    tag = tag_for(digest, ATTESTATIONS)

    def envelope_of_type(descriptor: Descriptor) -> bool:
        # The annotation is unsigned: it only picks candidates (and spares fetching the
        # others); the signed statement decides.
        annotated = dict(descriptor.annotations).get(PREDICATE_TYPE_ANNOTATION)
        return descriptor.media_type == DSSE_ENVELOPE and annotated in (None, predicate_type)

    for item in read_attached(repository, digest, ATTESTATIONS, select=envelope_of_type):

        def check(item: Attached = item) -> Verified:
            try:
                document = json.loads(item.payload)
            except ValueError:
                raise SignatureError("it is not a DSSE envelope") from None
            return _statement_check(document, key, digest, {predicate_type}, tag)

        yield tag, check


def _bundle_candidates(
    repository: Repository, digest: Digest, key: PublicKey, predicate_types: set[str]
) -> list[Candidate]:
    found: list[Candidate] = []
    # cosign 3 lists its bundles under their own artifact type; cosign 2.x's put the type on
    # the config descriptor alone, so a registry (or the fallback index) lists them under
    # the empty config's: those are opened to see whether they hold a bundle.
    for referrer in referrers.referring(repository, digest, BUNDLE_V03, OCI_EMPTY):
        annotated = dict(referrer.annotations).get(BUNDLE_PREDICATE_ANNOTATION)
        if annotated is not None and annotated not in predicate_types:
            continue
        place = f"referrer {referrer.digest}"

        def check(referrer: Descriptor = referrer, place: str = place) -> Verified:
            try:
                data = referrers.fetch_document(
                    repository,
                    referrer,
                    where=place,
                    limit=DOCUMENT_MAX,
                    media_type_prefix=BUNDLE_MEDIA_PREFIX,
                )
            except (ImageFormatError, IntegrityError, RegistryNotFoundError) as exc:
                if referrer.artifact_type != BUNDLE_V03:
                    raise _NotCandidate from None  # another kind of artifact
                raise SignatureError(str(exc)) from None
            inner = bundle_envelope(data, "the bundle")
            return _statement_check(inner, key, digest, predicate_types, place)

        found.append((place, check))
    return found


def _statement_check(
    document: object, key: PublicKey, digest: Digest, predicate_types: set[str], place: str
) -> Verified:
    if isinstance(document, dict):
        # What it claims to be, read before its signature is checked, only to leave out
        # statements of other kinds: nothing is believed until the signature verifies.
        try:
            claimed = read_statement(unb64(document.get("payload"), "its payload"), "it")
        except SignatureError:
            claimed = None
        if claimed is not None and claimed.predicate_type not in predicate_types:
            raise _NotCandidate
    _, payload = open_envelope(document, key, "its envelope")
    claim = read_statement(payload, "it")
    if claim.predicate_type not in predicate_types:
        raise _Mismatch(f"it is a {claim.predicate_type} statement")
    if not claim.about(digest):
        others = ", ".join(sorted(str(d) for d in claim.subjects)) or "nothing"
        raise _Mismatch(f"it is about {others}, another image")
    return Verified(place, payload, claim.predicate_type)
