"""The commands of signed images: ``keygen``, ``sign``, ``verify`` (the options of the
other commands are in ``cli/keys.py``).

Keys are cosign's (``cosign generate-key-pair`` makes the same files), so ``cosign verify
--key`` and the admission controllers built on cosign accept what pydistroless signs, and
pydistroless verifies what ``cosign sign --key`` signed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from pydistroless.cli.images import registry_options, registry_settings
from pydistroless.cli.keys import load_public_key, load_signing_key, password
from pydistroless.core.errors import KeyFileError, UsageError
from pydistroless.oci import reference as references


def _key_option(help_text: str):
    """``--key FILE``, required: the private key to sign with or the public one to verify by."""
    return click.option(
        "--key",
        "key_path",
        required=True,
        type=click.Path(path_type=Path, dir_okay=False),
        metavar="FILE",
        help=help_text,
    )


@click.command(
    "keygen",
    epilog="""\b
Examples:
  pydistroless keygen                          # cosign.key and cosign.pub here
  COSIGN_PASSWORD=... pydistroless keygen --output-prefix ci/release
""",
)
@click.option(
    "--output-prefix",
    default="cosign",
    show_default=True,
    metavar="PREFIX",
    help="Write PREFIX.key (private, encrypted) and PREFIX.pub (public).",
)
def keygen_cmd(output_prefix: str) -> None:
    """Make a signing key pair as `cosign generate-key-pair` does: an ECDSA P-256 private key
    encrypted under a password (COSIGN_PASSWORD, or asked twice), and its public key."""
    from pydistroless.core import keys

    private, public = Path(f"{output_prefix}.key"), Path(f"{output_prefix}.pub")
    for path in (private, public):
        if os.path.lexists(path):
            raise KeyFileError(f"{path} already exists; move it away or give --output-prefix")
        if not path.absolute().parent.is_dir():
            raise KeyFileError(f"{path}: its folder does not exist")
    secret = password(confirm=True)
    key = keys.generate()
    _create(private, keys.encrypt(key, secret), 0o600)
    try:
        _create(public, key.public.pem(), 0o644)
    except BaseException:
        private.unlink()
        raise
    click.echo(f"wrote {private} (private, encrypted) and {public}", err=True)


def _create(path: Path, data: bytes, mode: int) -> None:
    """Write a new file, never one that exists (O_EXCL): a key is never overwritten."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; move it away or give --output-prefix") from None
    except OSError as exc:
        raise KeyFileError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


@click.command(
    "sign",
    epilog="""\b
Examples:
  pydistroless sign registry.example.com/team/myapp:1.0 --key cosign.key
""",
)
@click.argument("reference")
@_key_option("The private key (cosign.key); its password from COSIGN_PASSWORD or a prompt.")
@registry_options
def sign_cmd(reference: str, key_path: Path, **kw: Any) -> None:
    """Sign an image or index on a registry as `cosign sign --key` does: the index and every
    platform's image, a signature added to any it already has."""
    from pydistroless.registry import remote
    from pydistroless.transfer.outputs import sign_pushed

    ref = _registry_reference(reference)
    key = load_signing_key(key_path, "--key")
    options = registry_settings(kw)
    repository = options.repository(ref)
    artifact = remote.read(repository, ref)
    sign_pushed(repository, artifact, ref.name, key)
    click.echo(str(artifact.digest))


@click.command(
    "verify",
    epilog="""\b
Examples:
  pydistroless verify registry.example.com/team/myapp:1.0 --key cosign.pub
  pydistroless verify registry.example.com/team/myapp:1.0 --key cosign.pub \\
      --attestation slsaprovenance1
""",
)
@click.argument("reference")
@_key_option("The public key (cosign.pub).")
@click.option(
    "--attestation",
    "attestation",
    metavar="TYPE",
    help="Verify the attestations of this predicate type (a URI, or cosign's name: spdxjson, "
    "cyclonedx, slsaprovenance1, ...) instead, and print their predicates (JSON, one a line).",
)
@registry_options
def verify_cmd(reference: str, key_path: Path, attestation: str | None, **kw: Any) -> None:
    """Check an image's signatures (or attestations) against a public key, as `cosign verify
    --key` does, offline. Exit 0 and what verified; else one line why, exit 4."""
    from pydistroless.registry import signatures

    ref = _registry_reference(reference)
    key = load_public_key(key_path, "--key")
    predicate_type = None
    if attestation:
        from pydistroless.recipes.provenance import predicate_type as named

        predicate_type = named(attestation)
    repository = registry_settings(kw).repository(ref)
    if predicate_type is None:
        pinned, verified = signatures.verify_reference(repository, ref, key)
        places = sorted({v.place.split(" ")[0] for v in verified})
        click.echo(
            f"verified {ref} ({pinned.digest}): {len(verified)} signature(s) by key "
            f"{key.fingerprint[:12]} ({', '.join(places)})",
            err=True,
        )
        click.echo(str(pinned.digest))
        return
    digest = repository.fetch_manifest(ref.identifier).digest
    found = signatures.verify_attestations(repository, digest, key, predicate_type, where=str(ref))
    click.echo(
        f"verified {ref} ({digest}): {len(found)} {predicate_type} attestation(s) by key "
        f"{key.fingerprint[:12]}",
        err=True,
    )
    # The predicates, one JSON document a line; a statement found in both places (.att and
    # a bundle referrer) is printed once.
    for payload in dict.fromkeys(item.payload for item in found):
        predicate = json.loads(payload).get("predicate")
        click.echo(json.dumps(predicate, separators=(",", ":"), ensure_ascii=False))


def _registry_reference(text: str) -> references.Reference:
    """``text`` as a registry reference: a tar, a layout or an engine's image keeps no
    signature, and is refused as such rather than looked up on Docker Hub."""
    from pydistroless.transfer import places

    location = places.parse_location(text)
    if location.reference is None:
        raise UsageError(
            f"{text} is not an image on a registry; signatures live beside a pushed image "
            "(push it with --sign-key, then verify it there)"
        )
    return location.reference


COMMANDS = (keygen_cmd, sign_cmd, verify_cmd)
