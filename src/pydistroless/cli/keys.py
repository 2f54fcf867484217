"""``--sign-key`` and ``--verify-key``, declared once, and the keys they name: read (and a
private key decrypted) before anything is built or downloaded.

A private key's password comes from ``COSIGN_PASSWORD`` (as cosign reads it), or from a
prompt on the terminal; it is never printed, logged or kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pydistroless.core.errors import KeyFileError

if TYPE_CHECKING:
    from pydistroless.core.keys import PublicKey, SigningKey

PASSWORD_VAR = "COSIGN_PASSWORD"


def sign_key_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--sign-key",
        type=click.Path(path_type=Path, dir_okay=False),
        metavar="FILE",
        help="Sign what is pushed with this private key (cosign.key from `pydistroless keygen` "
        "or `cosign generate-key-pair`; its password from COSIGN_PASSWORD or a prompt): "
        "the index and every image, where `cosign verify --key` looks.",
    )(func)


def verify_key_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--verify-key",
        type=click.Path(path_type=Path, dir_okay=False),
        metavar="FILE",
        help="Use the image only if a signature by this public key (cosign.pub) verifies "
        "for the digest the registry gives; then read it by that digest.",
    )(func)


def password(*, confirm: bool) -> bytes:
    """The password: ``COSIGN_PASSWORD`` (empty is a password too, as cosign has it), else
    asked on the terminal (twice for a new key)."""
    if PASSWORD_VAR in os.environ:
        return os.environ[PASSWORD_VAR].encode()
    if not sys.stdin.isatty():
        raise KeyFileError(
            f"the key's password is needed and there is no terminal to ask it on; set "
            f"{PASSWORD_VAR}"
        )
    text = click.prompt(
        "Enter password for private key" if not confirm else "Enter password for the new key",
        hide_input=True,
        confirmation_prompt="Enter password again" if confirm else False,
        default="",
        show_default=False,
        err=True,
    )
    return str(text).encode()


def load_signing_key(path: Path, option: str = "--sign-key") -> SigningKey:
    """The private key at ``path``, decrypted now (before any build or download)."""
    from pydistroless.core import keys

    data = keys.read_key_file(path, option)
    return keys.read_private(data, lambda: password(confirm=False), where=f"{option} {path}")


def load_public_key(path: Path, option: str = "--verify-key") -> PublicKey:
    from pydistroless.core import keys

    return keys.read_public(keys.read_key_file(path, option), where=f"{option} {path}")
