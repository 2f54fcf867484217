"""Where a built image goes: a tar, a layout, the SBOMs beside them, an engine, a registry.

``build`` and ``app`` write their results the same way, through :func:`write_outputs`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pydistroless.cli.images import registry_settings
from pydistroless.core import files

if TYPE_CHECKING:
    from pydistroless.recipes.app import AppBuilt
    from pydistroless.recipes.base import Built

    Product = Built | AppBuilt  # what a build made


def print_pushed(rows: list[tuple[str, str]], report: Path | None) -> None:
    """The table of what a push published, and the same as JSON for the next tool."""
    width = max(len(name) for name, _ in rows)
    for name, digest in rows:
        click.echo(f"  {name:<{width}}  {digest}", err=True)
    if report is not None:
        import json

        body = json.dumps({name: digest for name, digest in rows}, indent=2, sort_keys=True)
        files.atomic_write(report, (body + "\n").encode(), "--push-report")
        click.echo(f"wrote {report}", err=True)


@dataclass(frozen=True)
class Outputs:
    """Where one built image goes: a tar, a layout, and the SBOMs (one per architecture)
    beside each of them."""

    tar: Path | None
    layout: Path | None
    sboms: tuple[tuple[str, Path], ...]  # (architecture, path)


def plan_outputs(
    name: str | None,
    archs: Sequence[str],
    sbom_format: str,
    kw: dict[str, Any],
    *,
    output_dir: Path | None,
    several: bool,
) -> Outputs:
    """The paths for an image called ``name`` (``None`` before the build, when only the
    paths given explicitly are known)."""
    tar: Path | None = kw["output"]
    if tar is None and (kw["oci_layout"] is None or kw["load"]) and name is not None:
        tar = (output_dir or Path.cwd()) / f"{name}.tar"
    layout: Path | None = kw["oci_layout"]
    if layout is not None and several:
        layout = layout / name if name is not None else None
    suffix = ".spdx.json" if sbom_format == "spdx" else ".cdx.json"
    sboms = []
    for stem in (tar.with_suffix("") if tar else None, layout):
        if stem is not None:
            stem = Path(os.path.abspath(stem))
            sboms += [(arch, stem.parent / f"{stem.name}.{arch}{suffix}") for arch in archs]
    return Outputs(tar=tar, layout=layout, sboms=tuple(sboms))


def check_outputs(outputs: Outputs) -> None:
    """Refuse, before anything is written, every target that is not ours to replace."""
    from pydistroless.oci.layout import check_layout_target

    if outputs.tar is not None:
        files.file_target(outputs.tar, "--output")
    if outputs.layout is not None:
        layout = Path(os.path.abspath(outputs.layout))
        with files.reporting(layout, "--oci-layout"):
            check_layout_target(layout)
    for _, path in outputs.sboms:
        files.file_target(path, "--output or --oci-layout (for the SBOM beside it)")


def write_outputs(
    built: Product, kw: dict[str, Any], *, output_dir: Path | None, several: bool
) -> list[tuple[str, str]]:
    from pydistroless.oci import daemon
    from pydistroless.oci.archive import write_tar
    from pydistroless.oci.layout import write_layout

    name = built.tags[0].split("/")[-1].replace(":", "-")
    archs = [arch for arch, _ in built.sboms]
    outputs = plan_outputs(
        name, archs, built.sbom_format, kw, output_dir=output_dir, several=several
    )
    check_outputs(outputs)
    if outputs.tar is not None:
        write_tar(outputs.tar, built.artifact, tags=built.tags)
        click.echo(f"wrote {outputs.tar}", err=True)
    if outputs.layout is not None:
        write_layout(outputs.layout, built.artifact, tags=built.tags)
        click.echo(f"wrote OCI layout {outputs.layout}", err=True)
    documents = dict(built.sboms)
    for arch, path in outputs.sboms:
        files.atomic_write(path, documents[arch], "--output or --oci-layout")
        click.echo(f"wrote SBOM {path}", err=True)
    if kw["load"]:
        assert outputs.tar is not None
        engine = daemon.detect_engine(kw["engine"])
        daemon.load(outputs.tar, tag=built.tags[0], engine=engine, also=built.tags[1:])
        click.echo(f"loaded into {engine} as {', '.join(built.tags)}", err=True)
    rows = push_built(built, kw) if kw["push_to"] else []
    click.echo(f"{built.digest} {built.tags[0]}" if several else built.digest)
    return rows


def push_built(built: Product, kw: dict[str, Any]) -> list[tuple[str, str]]:
    """Push what was just written, with a tag per architecture besides the index's, then
    attach each image's SBOM to it. Returns (reference, digest) for every tag pushed."""
    from pydistroless.registry import referrers
    from pydistroless.transfer import places

    target = kw["push_to"]
    location = places.parse_location(target if "://" in target else f"docker://{target}")
    assert location.reference is not None
    reference = location.reference
    options = registry_settings(kw, built.ca_certs)
    written = places.write(built.artifact, location, options, tags=built.tags)
    click.echo(f"pushed {written.where}: {written.detail}", err=True)
    tags = [reference.tag] if reference.tag else [t.rpartition(":")[2] for t in built.tags]
    rows = [(f"{reference.name}:{tag}", str(built.digest)) for tag in tags]
    repository = options.repository(reference)
    if len(built.images) > 1:
        for arch, image in zip(built.archs, built.images, strict=True):
            arch_tags = [f"{tag}-{arch}" for tag in tags]
            places.write(image, location, options, tags=[], explicit_tags=arch_tags)
            rows += [(f"{reference.name}:{t}", str(image.digest)) for t in arch_tags]
    media_type = referrers.SPDX if built.sbom_format == "spdx" else referrers.CYCLONEDX
    documents = dict(built.sboms)
    for arch, image in zip(built.archs, built.images, strict=True):
        created = str(image.config_json.get("created", ""))
        referrers.attach(repository, image, documents[arch], media_type, created=created)
    click.echo(f"attached {len(built.images)} SBOM(s) to {reference.name}", err=True)
    return rows
