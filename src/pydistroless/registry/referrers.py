"""The SBOM of a pushed image, as an OCI 1.1 artifact that refers to it.

The artifact is a manifest whose ``subject`` is the image, whose ``artifactType`` is the
SBOM's media type, whose config is the empty descriptor and whose one layer is the SBOM
document. Registries with the referrers API list it under the image's digest; for those
without it (Debian's docker-registry is one), the client keeps the fallback index tagged
``sha256-<hex>`` that the distribution spec describes. Scanners and ``oras discover`` find
it either way, and so does ``pydistroless sbom``.
"""

from __future__ import annotations

from pydistroless.core.digest import Digest
from pydistroless.core.errors import RegistryNotFoundError
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


def sbom_artifact(subject: Image, document: bytes, media_type: str, *, created: str) -> Image:
    """The artifact manifest that attaches ``document`` to ``subject``."""
    empty = Descriptor(OCI_EMPTY, Digest.of(EMPTY), len(EMPTY))
    layer = Layer(
        descriptor=Descriptor(media_type, Digest.of(document), len(document)),
        diff_id=Digest.of(document),
        blob=BytesBlob(document),
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": media_type,
        "config": empty.to_json(),
        "layers": [layer.descriptor.to_json()],
        "subject": subject.descriptor(with_platform=False).to_json(),
        "annotations": {ANNOTATION_CREATED: created},
    }
    return Image(
        manifest=canonical_json(manifest), config=EMPTY, layers=(layer,), media_type=OCI_MANIFEST
    )


def attach(
    repository: Repository, subject: Image, document: bytes, media_type: str, *, created: str
) -> Digest:
    """Push the SBOM artifact for ``subject`` (already pushed) and make it findable."""
    artifact = sbom_artifact(subject, document, media_type, created=created)
    remote.write(artifact, repository, [])
    repository.add_referrer(subject.digest, artifact.descriptor(with_platform=False).to_json())
    return artifact.digest


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
