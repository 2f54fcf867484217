"""Where a built image goes: a tar, a layout, the SBOMs beside them, an engine, a registry.

``build`` and ``app`` write their results the same way, through :func:`write_outputs`, from
the typed :class:`OutputOptions` the command line (or a test) fills in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from pydistroless.core import files
from pydistroless.core.digest import Digest
from pydistroless.core.errors import UsageError
from pydistroless.core.keys import SigningKey
from pydistroless.core.report import log
from pydistroless.oci import daemon
from pydistroless.oci.archive import write_tar
from pydistroless.oci.layout import check_layout_target, write_layout
from pydistroless.oci.model import Artifact, Image
from pydistroless.registry import referrers, signatures
from pydistroless.registry.client import Repository
from pydistroless.transfer import places

# Beside an image: the in-toto statements of its build (SBOM and provenance), unsigned.
STATEMENTS_SUFFIX = ".intoto.jsonl"


class Product(Protocol):
    """What a build made, as the outputs see it: base and app builds alike."""

    @property
    def images(self) -> tuple[Image, ...]: ...
    @property
    def tags(self) -> tuple[str, ...]: ...
    @property
    def sboms(self) -> tuple[tuple[str, bytes], ...]: ...
    @property
    def archs(self) -> tuple[str, ...]: ...
    @property
    def sbom_format(self) -> str: ...
    @property
    def ca_certs(self) -> tuple[Path, ...]: ...
    @property
    def artifact(self) -> Artifact: ...
    @property
    def digest(self) -> Digest: ...


@dataclass(frozen=True)
class OutputOptions:
    """Where the user asked a built image to go."""

    output: Path | None = None  # a tar
    oci_layout: Path | None = None
    load: bool = False  # into an engine, from the tar
    engine: str | None = None  # docker or podman; None: whichever answers
    push_to: str | None = None  # REGISTRY/REPO[:TAG]
    registry: places.RegistryOptions = field(default_factory=places.RegistryOptions)
    sign_key: SigningKey | None = None  # sign what is pushed (decrypted before the build)


class Attestation(Protocol):
    """An in-toto statement about one pushed manifest, to sign and attach with it."""

    @property
    def subject(self) -> Digest: ...
    @property
    def statement(self) -> bytes: ...


@dataclass(frozen=True)
class Outputs:
    """Where one built image goes: a tar, a layout, and the SBOMs (one per architecture)
    and the in-toto statements of the build beside each of them."""

    tar: Path | None
    layout: Path | None
    sboms: tuple[tuple[str, Path], ...]  # (architecture, path)
    statements: tuple[Path, ...] = ()  # <stem>.intoto.jsonl


def plan_outputs(
    name: str | None,
    archs: Sequence[str],
    sbom_format: str,
    options: OutputOptions,
    *,
    output_dir: Path | None,
    several: bool,
) -> Outputs:
    """The paths for an image called ``name`` (``None`` before the build, when only the
    paths given explicitly are known)."""
    tar = options.output
    if tar is None and (options.oci_layout is None or options.load) and name is not None:
        tar = (output_dir or Path.cwd()) / f"{name}.tar"
    layout = options.oci_layout
    if layout is not None and several:
        layout = layout / name if name is not None else None
    suffix = ".spdx.json" if sbom_format == "spdx" else ".cdx.json"
    sboms = []
    statements = []
    for stem in (tar.with_suffix("") if tar else None, layout):
        if stem is not None:
            stem = Path(os.path.abspath(stem))
            sboms += [(arch, stem.parent / f"{stem.name}.{arch}{suffix}") for arch in archs]
            statements.append(stem.parent / f"{stem.name}{STATEMENTS_SUFFIX}")
    return Outputs(tar=tar, layout=layout, sboms=tuple(sboms), statements=tuple(statements))


def check_outputs(outputs: Outputs) -> None:
    """Refuse, before anything is written, every target that is not ours to replace."""
    if outputs.tar is not None:
        files.file_target(outputs.tar, "--output")
    if outputs.layout is not None:
        layout = Path(os.path.abspath(outputs.layout))
        with files.reporting(layout, "--oci-layout"):
            check_layout_target(layout)
    for _, path in outputs.sboms:
        files.file_target(path, "--output or --oci-layout (for the SBOM beside it)")
    for path in outputs.statements:
        files.file_target(path, "--output or --oci-layout (for the statements beside it)")


def check_engine(options: OutputOptions) -> None:
    """With ``--load``, the engine it loads into, asked now: one that cannot be used (not
    running, its socket closed to this user) is one line before the build, not after it."""
    if options.load:
        daemon.detect_engine(options.engine)


def write_outputs(
    built: Product,
    options: OutputOptions,
    *,
    output_dir: Path | None,
    several: bool,
    statements: bytes = b"",
    attestations: Sequence[Attestation] = (),
) -> list[tuple[str, str]]:
    """Write, load and push ``built`` as ``options`` say; ``statements`` (the build's in-toto
    statements, unsigned, JSON Lines) go beside the tar and the layout, for a later ``push
    --sign-key --attestations``. Returns (reference, digest) for every tag pushed."""
    name = built.tags[0].split("/")[-1].replace(":", "-")
    archs = [arch for arch, _ in built.sboms]
    outputs = plan_outputs(
        name, archs, built.sbom_format, options, output_dir=output_dir, several=several
    )
    check_outputs(outputs)
    if outputs.tar is not None:
        write_tar(outputs.tar, built.artifact, tags=built.tags)
        log(f"wrote {outputs.tar}")
    if outputs.layout is not None:
        write_layout(outputs.layout, built.artifact, tags=built.tags)
        log(f"wrote OCI layout {outputs.layout}")
    documents = dict(built.sboms)
    for arch, path in outputs.sboms:
        files.atomic_write(path, documents[arch], "--output or --oci-layout")
        log(f"wrote SBOM {path}")
    for path in outputs.statements if statements else ():
        files.atomic_write(path, statements, "--output or --oci-layout")
        log(f"wrote in-toto statements {path}")
    if options.load:
        assert outputs.tar is not None
        engine = daemon.detect_engine(options.engine)
        daemon.load(outputs.tar, tag=built.tags[0], engine=engine, also=built.tags[1:])
        log(f"loaded into {engine} as {', '.join(built.tags)}")
    return push_built(built, options, attestations) if options.push_to else []


def push_built(
    built: Product, options: OutputOptions, attestations: Sequence[Attestation] = ()
) -> list[tuple[str, str]]:
    """Push what was just written, with a tag per architecture besides the index's, then
    attach each image's SBOM to it; with a signing key, sign the index and every image, and
    sign and attach ``attestations``. Returns (reference, digest) for every tag pushed."""
    target = options.push_to
    assert target is not None
    location = places.parse_location(target if "://" in target else f"docker://{target}")
    assert location.reference is not None
    reference = location.reference
    # The certificates the image trusts are trusted for its push too.
    settings = replace(options.registry, ca_certs=options.registry.ca_certs + tuple(built.ca_certs))
    written = places.write(built.artifact, location, settings, tags=built.tags)
    log(f"pushed {written.where}: {written.detail}")
    tags = [reference.tag] if reference.tag else [t.rpartition(":")[2] for t in built.tags]
    rows = [(f"{reference.name}:{tag}", str(built.digest)) for tag in tags]
    repository = settings.repository(reference)
    if len(built.images) > 1:
        for arch, image in zip(built.archs, built.images, strict=True):
            arch_tags = [f"{tag}-{arch}" for tag in tags]
            places.write(image, location, settings, tags=[], explicit_tags=arch_tags)
            rows += [(f"{reference.name}:{t}", str(image.digest)) for t in arch_tags]
    media_type = referrers.SPDX if built.sbom_format == "spdx" else referrers.CYCLONEDX
    documents = dict(built.sboms)
    for arch, image in zip(built.archs, built.images, strict=True):
        created = str(image.config_json.get("created", ""))
        referrers.attach(repository, image, documents[arch], media_type, created=created)
    log(f"attached {len(built.images)} SBOM(s) to {reference.name}")
    if options.sign_key is not None:
        sign_pushed(repository, built.artifact, reference.name, options.sign_key, attestations)
    return rows


def sign_pushed(
    repository: Repository,
    artifact: Artifact,
    name: str,
    key: SigningKey,
    attestations: Sequence[Attestation] = (),
) -> None:
    """Sign ``artifact`` (pushed to ``repository`` as ``name``): the index and every image,
    then sign and attach each attestation to the manifest it is about."""
    signed = signatures.sign_artifact(repository, artifact, name, key)
    log(f"signed {len(signed)} manifest(s) of {name} with key {key.public.fingerprint[:12]}")
    if not attestations:
        return
    subjects = {d.digest: d for d in signatures.subjects(artifact)}
    grouped: dict[Digest, list[bytes]] = {}
    for attestation in attestations:
        if attestation.subject not in subjects:
            raise UsageError(
                f"an attestation is about {attestation.subject}, which {name} does not hold; "
                "this is a bug"
            )
        grouped.setdefault(attestation.subject, []).append(attestation.statement)
    for digest, statements in grouped.items():
        signatures.attach_attestations(repository, subjects[digest], statements, key)
    log(f"attached {len(attestations)} signed attestation(s) to {name}")
