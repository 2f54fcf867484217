"""The commands that move images: ``push``, ``pull``, ``copy``, ``sbom``, ``login``, ``logout``.

They only parse, call :mod:`pydistroless.transfer.places` and print; the digest goes to stdout, what
happened to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pydistroless.cli.keys import (
    load_public_key,
    load_signing_key,
    sign_key_option,
    verify_key_option,
)
from pydistroless.core.arch import Platform
from pydistroless.core.errors import UsageError
from pydistroless.core.report import log
from pydistroless.oci import reference as references
from pydistroless.oci.model import Image, Index, platform_image
from pydistroless.registry import keychain

if TYPE_CHECKING:
    # Imported by the commands that use it: `build` and `app`, which only offer --push
    # from here, start without the registry client.
    from pydistroless.core.keys import SigningKey
    from pydistroless.transfer import places


def _insecure_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--insecure-registry",
        "insecure_registries",
        multiple=True,
        metavar="HOST[:PORT]",
        help="Talk plain HTTP to this registry (repeatable). localhost and 127.0.0.1 may "
        "always use HTTP.",
    )(func)


def _ca_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--ca-cert",
        "registry_ca_certs",
        multiple=True,
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        metavar="FILE",
        help="PEM CA certificate to trust for registries, besides the system's (repeatable).",
    )(func)


# `build` has its own --ca-cert (certificates for the image, trusted for its push too).
insecure_registry_option = _insecure_option


def registry_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--insecure-registry`` and ``--ca-cert`` for the commands that only move images."""
    return _insecure_option(_ca_option(func))


def registry_settings(
    kw: dict[str, Any], extra_cas: tuple[Path, ...] = ()
) -> places.RegistryOptions:
    from pydistroless.transfer import places

    return places.RegistryOptions(
        insecure=tuple(kw.get("insecure_registries", ())),
        ca_certs=tuple(kw.get("registry_ca_certs", ())) + extra_cas,
    )


def _platform(text: str | None) -> Platform | None:
    return Platform.parse(text) if text else None


def _report(written: places.Written) -> None:
    click.echo(
        f"wrote {written.where}" + (f": {written.detail}" if written.detail else ""), err=True
    )
    click.echo(str(written.digest))


def _attestations_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--attestations",
        "attestations_file",
        type=click.Path(path_type=Path, dir_okay=False),
        metavar="FILE",
        help="With --sign-key: sign and attach these in-toto statements (the .intoto.jsonl "
        "a build wrote beside the image: its SBOM and provenance) to the images they are about.",
    )(func)


@click.command(
    "push",
    epilog="""\b
Examples:
  pydistroless push python.tar registry.example.com/team/python:3.13
  pydistroless push ./oci-layout:3.13-debian13 127.0.0.1:5000/python:3.13
  pydistroless push python.tar registry.example.com/team/python:3.13 --sign-key cosign.key
""",
)
@click.argument("source")
@click.argument("destination")
@sign_key_option
@_attestations_option
@registry_options
def push_cmd(
    source: str,
    destination: str,
    sign_key: Path | None,
    attestations_file: Path | None,
    **kw: Any,
) -> None:
    """Push an image tar or OCI layout (SOURCE) to a registry (DESTINATION) as it is: every
    digest stays the same, blobs the registry has are not sent again."""
    from pydistroless.transfer import places

    src = places.parse_location(source)
    if src.kind not in ("tar", "layout"):
        raise UsageError(f"{source!r} is not an image tar or OCI layout; push sends a local image")
    dst = places.parse_location(destination)
    if dst.kind != "registry":
        dst = places.Location("registry", reference=references.parse(destination))
    assert dst.reference is not None
    attestations = _read_attestations(attestations_file, sign_key, str(dst.reference))
    key = load_signing_key(sign_key) if sign_key is not None else None
    options = registry_settings(kw)
    artifact = places.read(src, options)
    attestations = _attestations_for(artifact, dst, key, attestations, attestations_file)
    written = places.write(artifact, dst, options)
    _sign(artifact, dst, options, key, attestations)
    _report(written)


def _read_attestations(path: Path | None, key_path: Path | None, destination: str) -> list[Any]:
    """The statements of ``--attestations``, checked (and named for ``destination``) before
    anything is pushed."""
    if path is None:
        return []
    if key_path is None:
        raise UsageError("--attestations are signed when attached; add --sign-key FILE")
    from pydistroless.core.keys import read_key_file
    from pydistroless.recipes import provenance

    data = read_key_file(path, "--attestations", limit=_STATEMENTS_MAX)
    name = references.parse(destination).name
    return [provenance.renamed(a, name) for a in provenance.read_statements(data, str(path))]


def _attestations_for(
    artifact: Image | Index,
    destination: places.Location,
    key: SigningKey | None,
    given: Sequence[Any],
    path: Path | None,
) -> list[Any]:
    """What is attested with the signature, checked before anything is pushed: the
    statements of ``--attestations`` about this image or its platforms (none at all is an
    error), else the SBOM inside each image (in its top layer, so that it describes it)."""
    from pydistroless.recipes import provenance

    if key is None or destination.reference is None:
        return []
    if given:
        return list(provenance.for_artifact(given, artifact, str(path)))
    found = list(provenance.image_sbom_attestations(artifact, destination.reference.name))
    if not found:
        log(
            "note: no SBOM in the image's top layer to attest; give --attestations FILE (the "
            ".intoto.jsonl written beside it) for its SBOM and provenance"
        )
    return found


# A build's statements: its SBOMs (a few MiB for a large image) and its provenance.
_STATEMENTS_MAX = 256 << 20


def _sign(
    artifact: Image | Index,
    destination: places.Location,
    options: places.RegistryOptions,
    key: SigningKey | None,
    attestations: Sequence[Any] = (),
) -> None:
    """Sign what was just pushed to ``destination``, when a key was given, and attach the
    attestations."""
    from pydistroless.transfer.outputs import sign_pushed

    if key is None or destination.reference is None:
        return
    repository = options.repository(destination.reference)
    sign_pushed(repository, artifact, destination.reference.name, key, attestations)


@click.command(
    "pull",
    epilog="""\b
Examples:
  pydistroless pull 127.0.0.1:5000/python:3.13 --output python.tar
  pydistroless pull registry.example.com/team/python:3.13 --oci-layout ./oci --platform linux/arm64
  pydistroless pull registry.example.com/team/python:3.13 -o python.tar --verify-key cosign.pub
""",
)
@click.argument("reference")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Write an image tar.",
)
@click.option(
    "--oci-layout",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Write an OCI image layout directory.",
)
@click.option(
    "--platform",
    metavar="OS/ARCH[/VARIANT]",
    help="Take only this platform's image of an index (default: every platform).",
)
@verify_key_option
@registry_options
def pull_cmd(
    reference: str,
    output: Path | None,
    oci_layout: Path | None,
    platform: str | None,
    verify_key: Path | None,
    **kw: Any,
) -> None:
    """Pull an image or index from a registry, every digest checked while it streams."""
    from pydistroless.transfer import places

    if (output is None) == (oci_layout is None):
        raise UsageError("pull needs exactly one of --output FILE or --oci-layout DIR")
    ref = references.parse(reference)
    key = load_public_key(verify_key) if verify_key is not None else None
    options = registry_settings(kw)
    target = (
        places.Location("tar", path=output)
        if output
        else places.Location("layout", path=oci_layout)
    )
    _check_target(target)
    artifact = places.read(places.Location("registry", reference=ref), options, verify_key=key)
    artifact = places.narrow(artifact, _platform(platform), str(ref))
    tag = ref.tag or "latest"
    _report(places.write(artifact, target, options, tags=[f"{ref.name}:{tag}"]))


@click.command(
    "copy",
    epilog="""\b
Examples:
  pydistroless copy 127.0.0.1:5000/python:3.13 registry.example.com/team/python:3.13
  pydistroless copy docker-archive:saved.tar oci:./layout:app
  pydistroless copy 127.0.0.1:5000/app:1 docker-daemon:app:1
  pydistroless copy registry.example.com/team/app:1 registry.example.com/prod/app:1 \\
      --verify-key team.pub --sign-key prod.key
""",
)
@click.argument("source")
@click.argument("destination")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Copy only this platform's image.")
@verify_key_option
@sign_key_option
@_attestations_option
@registry_options
def copy_cmd(
    source: str,
    destination: str,
    platform: str | None,
    verify_key: Path | None,
    sign_key: Path | None,
    attestations_file: Path | None,
    **kw: Any,
) -> None:
    """Copy an image between any two of: a tar, an OCI layout, a registry, docker or podman
    (as a destination). Digests stay the same unless --platform picks one image of an index."""
    from pydistroless.transfer import places

    src = places.parse_location(source)
    dst = places.parse_location(destination)
    _check_target(dst)
    if sign_key is not None and dst.kind != "registry":
        raise UsageError(
            f"--sign-key signs an image on a registry; {destination} is not one (a tar, a "
            "layout or an engine keeps no signature)"
        )
    attestations = _read_attestations(attestations_file, sign_key, str(dst))
    public = load_public_key(verify_key) if verify_key is not None else None
    key = load_signing_key(sign_key) if sign_key is not None else None
    options = registry_settings(kw)
    read = places.read(src, options, verify_key=public)
    artifact = places.narrow(read, _platform(platform), str(src))
    mount_from: list[str] = []
    if (
        src.reference is not None
        and dst.reference is not None
        and src.reference.registry == dst.reference.registry
        and src.reference.repository != dst.reference.repository
    ):
        mount_from.append(src.reference.repository)
    tags = [f"{src.reference.name}:{src.reference.tag or 'latest'}"] if src.reference else []
    attestations = _attestations_for(artifact, dst, key, attestations, attestations_file)
    written = places.write(artifact, dst, options, tags=tags, mount_from=mount_from)
    _sign(artifact, dst, options, key, attestations)
    _report(written)


def _check_target(location: places.Location) -> None:
    from pydistroless.core import files
    from pydistroless.oci.layout import check_layout_target

    if location.kind == "tar" and location.path is not None:
        files.file_target(location.path, "the destination")
    if location.kind == "layout" and location.path is not None:
        check_layout_target(Path(location.path).absolute())


@click.command(
    "sbom",
    epilog="""\b
Examples:
  pydistroless sbom 127.0.0.1:5000/python:3.13 --platform linux/amd64 -o python.spdx.json
""",
)
@click.argument("reference")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="The image of this platform.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Write it here instead of stdout.",
)
@registry_options
def sbom_cmd(reference: str, platform: str | None, output: Path | None, **kw: Any) -> None:
    """Fetch the SBOM attached to a pushed image (an OCI artifact that refers to it)."""
    from pydistroless.core import files
    from pydistroless.registry import referrers
    from pydistroless.transfer import places

    ref = references.parse(reference)
    options = registry_settings(kw)
    repository = options.repository(ref)
    artifact = places.read(places.Location("registry", reference=ref), options)
    image = platform_image(artifact, _platform(platform), where=str(ref))
    document = referrers.fetch_sbom(repository, image, where=str(ref))
    if output is None:
        sys.stdout.buffer.write(document)
    else:
        files.atomic_write(output, document, "--output")
        click.echo(f"wrote {output}", err=True)


@click.command("login")
@click.argument("registry")
@click.option("--username", "-u", required=True, help="The user name.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password (or token) from stdin; without it, it is asked for.",
)
@registry_options
def login_cmd(registry: str, username: str, password_stdin: bool, **kw: Any) -> None:
    """Check a login with the registry and store it where docker and podman keep theirs
    (a credential helper, $REGISTRY_AUTH_FILE or ~/.docker/config.json)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True)
    if not password:
        raise UsageError("an empty password; give one on stdin with --password-stdin")
    secret = keychain.Secret(username=username, password=password)
    host = references.parse(f"{registry}/probe").registry
    options = registry_settings(kw)
    options.check_login(host, secret)
    where = keychain.store(host, secret)
    click.echo(f"logged in to {host} as {username}; stored in {where}", err=True)


@click.command("logout")
@click.argument("registry")
def logout_cmd(registry: str) -> None:
    """Forget the stored login for a registry."""
    host = references.parse(f"{registry}/probe").registry
    if keychain.erase(host):
        click.echo(f"removed the login for {host}", err=True)
    else:
        click.echo(f"no login for {host} was stored", err=True)


COMMANDS = (push_cmd, pull_cmd, copy_cmd, sbom_cmd, login_cmd, logout_cmd)

__all__ = ["COMMANDS", "Image", "registry_options", "registry_settings"]
