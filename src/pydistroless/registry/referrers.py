"""Documents about a pushed image (its SBOM, a Sigstore bundle of its signature or of an
attestation) as OCI 1.1 artifacts that refer to it.

The artifact is a manifest whose ``subject`` is the image, whose ``artifactType`` says what
the document is (an SBOM's media type, a Sigstore bundle's), whose config is the empty
descriptor and whose one layer is the document. Registries with the referrers API list it
under the image's digest; for those without it (Debian's docker-registry is one), the client
keeps the fallback index tagged ``sha256-<hex>`` that the distribution spec describes.
Scanners and ``oras discover`` find it either way, and so do ``pydistroless sbom`` and
``pydistroless verify``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from pydistroless.core.digest import Digest
from pydistroless.core.errors import ImageFormatError, RegistryNotFoundError
from pydistroless.oci.model import (
    ANNOTATION_CREATED,
    OCI_EMPTY,
    OCI_MANIFEST,
    BytesBlob,
    Descriptor,
    Image,
    Layer,
    canonical_json,
)
from pydistroless.registry import remote
from pydistroless.registry.client import Repository

SPDX = "application/spdx+json"
CYCLONEDX = "application/vnd.cyclonedx+json"
SBOM_TYPES = (SPDX, CYCLONEDX)
EMPTY = b"{}"


def artifact(
    subject: Descriptor,
    document: bytes,
    media_type: str,
    *,
    artifact_type: str,
    annotations: Mapping[str, str],
) -> Image:
    """The artifact manifest whose one layer is ``document`` and whose subject is the
    manifest ``subject`` describes."""
    empty = Descriptor(OCI_EMPTY, Digest.of(EMPTY), len(EMPTY))
    layer = Layer(
        descriptor=Descriptor(media_type, Digest.of(document), len(document)),
        diff_id=Digest.of(document),
        blob=BytesBlob(document),
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty.to_json(),
        "layers": [layer.descriptor.to_json()],
        "subject": Descriptor(subject.media_type, subject.digest, subject.size).to_json(),
        "annotations": dict(annotations),
    }
    return Image(
        manifest=canonical_json(manifest), config=EMPTY, layers=(layer,), media_type=OCI_MANIFEST
    )


def attach_document(
    repository: Repository,
    subject: Descriptor,
    document: bytes,
    media_type: str,
    *,
    artifact_type: str,
    annotations: Mapping[str, str],
) -> Digest:
    """Push ``document`` as an artifact that refers to ``subject`` (already pushed) and make
    it findable: by the referrers API, or in the ``sha256-<hex>`` fallback index."""
    made = artifact(
        subject, document, media_type, artifact_type=artifact_type, annotations=annotations
    )
    remote.write(made, repository, [])
    # The referrers list carries each artifact's annotations, as the referrers API does.
    listed = replace(made.descriptor(with_platform=False), annotations=tuple(annotations.items()))
    repository.add_referrer(subject.digest, listed.to_json())
    return made.digest


def referring(repository: Repository, subject: Digest, *artifact_types: str) -> list[Descriptor]:
    """The artifacts of one of ``artifact_types`` that refer to ``subject``, oldest first (a
    malformed entry of the list is left out)."""
    found = []
    for entry in repository.referrers(subject):
        if not isinstance(entry, dict) or entry.get("artifactType") not in artifact_types:
            continue
        try:
            found.append(Descriptor.from_json(entry, f"a referrer of {subject}"))
        except ImageFormatError:
            continue
    return found


def fetch_document(
    repository: Repository,
    referrer: Descriptor,
    *,
    where: str,
    limit: int,
    media_type_prefix: str = "",
) -> bytes:
    """The document of the artifact ``referrer`` names (its first layer whose media type
    starts with ``media_type_prefix``), at most ``limit`` bytes."""
    manifest = repository.fetch_manifest(str(referrer.digest))
    found = Image.read(
        manifest.data, manifest.media_type, lambda d: remote.RemoteBlob(repository, d), where=where
    )
    layers = [layer for layer in found.layers if layer.media_type.startswith(media_type_prefix)]
    if not layers:
        raise ImageFormatError(f"{where}: the artifact {referrer.digest} has no such document")
    if layers[0].size > limit:
        raise ImageFormatError(
            f"{where}: the artifact {referrer.digest} is larger than {limit} bytes"
        )
    with layers[0].open() as stream:
        return stream.read()


def sbom_artifact(subject: Image, document: bytes, media_type: str, *, created: str) -> Image:
    """The artifact manifest that attaches ``document`` to ``subject``."""
    return artifact(
        subject.descriptor(with_platform=False),
        document,
        media_type,
        artifact_type=media_type,
        annotations={ANNOTATION_CREATED: created},
    )


def attach(
    repository: Repository, subject: Image, document: bytes, media_type: str, *, created: str
) -> Digest:
    """Push the SBOM artifact for ``subject`` (already pushed) and make it findable."""
    return attach_document(
        repository,
        subject.descriptor(with_platform=False),
        document,
        media_type,
        artifact_type=media_type,
        annotations={ANNOTATION_CREATED: created},
    )


def fetch_sbom(repository: Repository, image: Image, *, where: str) -> bytes:
    """The SBOM document attached to ``image``."""
    found = [d for d in repository.referrers(image.digest) if d.get("artifactType") in SBOM_TYPES]
    if not found:
        raise RegistryNotFoundError(
            f"no SBOM refers to {where} ({image.digest}); push it with `pydistroless build "
            "--push` or `pydistroless push`, which attach one"
        )
    chosen = Descriptor.from_json(found[-1], f"the SBOM referrer of {where}")
    manifest = repository.fetch_manifest(str(chosen.digest))
    artifact = Image.read(
        manifest.data, manifest.media_type, lambda d: remote.RemoteBlob(repository, d), where=where
    )
    with artifact.layers[0].open() as stream:
        return stream.read()
