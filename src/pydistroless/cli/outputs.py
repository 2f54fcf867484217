"""The output options of ``build`` and ``app``, declared once, and what they become: the
typed :class:`~pydistroless.transfer.outputs.OutputOptions`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pydistroless.cli.keys import load_signing_key
from pydistroless.core import files
from pydistroless.core.errors import UsageError
from pydistroless.recipes.sbom import FORMATS

if TYPE_CHECKING:
    # Imported when an image is written: the registry client costs every start otherwise.
    from pydistroless.transfer import places
    from pydistroless.transfer.outputs import OutputOptions


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--output``, ``--oci-layout``, ``--load``, ``--engine``, ``--push``, ``--push-report``,
    ``--sign-key``, ``--tag`` and ``--sbom-format``."""
    options = [
        click.option(
            "--output",
            "-o",
            type=click.Path(path_type=Path, dir_okay=False),
            metavar="FILE",
            help="Write a .tar that `docker load` and OCI tools accept. Default: "
            "./<name>-<tag>.tar unless --oci-layout is given.",
        ),
        click.option(
            "--oci-layout",
            type=click.Path(path_type=Path, file_okay=False),
            metavar="DIR",
            help="Write an OCI image layout directory.",
        ),
        click.option("--load", is_flag=True, help="Load the image into docker or podman."),
        click.option(
            "--engine",
            type=click.Choice(["docker", "podman"]),
            help="Engine for --load. Default: docker if it answers, else podman.",
        ),
        click.option(
            "--push",
            "push_to",
            metavar="REGISTRY/REPO[:TAG]",
            help="Push the image (and its SBOM, as an artifact that refers to it) to a "
            "registry: under TAG, or under each of the image's tags.",
        ),
        click.option(
            "--push-report",
            type=click.Path(path_type=Path, dir_okay=False),
            metavar="FILE",
            help="With --push: write the pushed tags and their digests here as JSON.",
        ),
        click.option(
            "--sign-key",
            type=click.Path(path_type=Path, dir_okay=False),
            metavar="FILE",
            help="With --push: sign the index and every image pushed with this private key "
            "(cosign.key; its password from COSIGN_PASSWORD or a prompt), where `cosign verify "
            "--key` looks.",
        ),
        click.option(
            "--tag",
            "tags",
            multiple=True,
            metavar="NAME:TAG",
            help="Tag for the image (repeatable); replaces the default ones.",
        ),
        click.option(
            "--sbom-format",
            type=click.Choice(FORMATS),
            default="spdx",
            show_default=True,
            help="SBOM format, written next to the image (and inside a base image, under "
            "/usr/share/sbom).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def outputs_from(
    kw: dict[str, Any], registry: places.RegistryOptions, *, config_sign_key: Path | None = None
) -> OutputOptions:
    """The output options as given, checked before anything is built: the signing key (the
    option's, else the config file's ``sign-key`` when pushing) is read and decrypted now."""
    from pydistroless.transfer.outputs import OutputOptions, check_engine

    if kw["push_report"] is not None:
        if not kw["push_to"]:
            raise UsageError("--push-report needs --push REGISTRY/REPO")
        files.file_target(kw["push_report"], "--push-report")
    sign_key = None
    if kw.get("sign_key") is not None and not kw["push_to"]:
        raise UsageError("--sign-key signs what --push pushes; add --push REGISTRY/REPO")
    key_path = kw.get("sign_key") or (config_sign_key if kw["push_to"] else None)
    if key_path is not None:
        sign_key = load_signing_key(key_path)
    options = OutputOptions(
        output=kw["output"],
        oci_layout=kw["oci_layout"],
        load=kw["load"],
        engine=kw["engine"],
        push_to=kw["push_to"],
        registry=registry,
        sign_key=sign_key,
    )
    check_engine(options)
    return options


def subject_name(local: str, push_to: str | None) -> str:
    """The name the attestations of an image give it: the repository it is pushed to, else
    its local name (``local``, NAME[:TAG]) without the tag."""
    from pydistroless.oci.reference import split_reference
    from pydistroless.transfer import places

    if push_to:
        where = places.parse_location(push_to if "://" in push_to else f"docker://{push_to}")
        if where.reference is not None:
            return where.reference.name
    return split_reference(local)[0]


def print_pushed(rows: list[tuple[str, str]], report: Path | None) -> None:
    """The table of what a push published, and the same as JSON for the next tool."""
    width = max(len(name) for name, _ in rows)
    for name, digest in rows:
        click.echo(f"  {name:<{width}}  {digest}", err=True)
    if report is not None:
        body = json.dumps({name: digest for name, digest in rows}, indent=2, sort_keys=True)
        files.atomic_write(report, (body + "\n").encode(), "--push-report")
        click.echo(f"wrote {report}", err=True)
