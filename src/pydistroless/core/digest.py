"""Content digests: the one way the project names a blob, a layer, a manifest or a file.

A :class:`Digest` is ``ALGORITHM:HEX`` as the OCI image spec writes it. Only ``sha256`` is
made and accepted: it is what every registry and engine uses, and accepting a digest whose
algorithm we cannot check would mean trusting bytes we never verified.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO

from pydistroless.core.errors import IntegrityError, UsageError

_HEX = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


@dataclass(frozen=True, order=True, slots=True)
class Digest:
    """``sha256:<64 hex>``; compares, hashes and prints as that text."""

    hex: str
    algorithm: str = "sha256"

    def __post_init__(self) -> None:
        if self.algorithm != "sha256" or not _HEX.fullmatch(self.hex):
            raise UsageError(
                f"{_shown(self.algorithm + ':' + self.hex)} is not a sha256 digest; a digest is "
                "sha256: followed by 64 lowercase hex digits"
            )

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        """``"sha256:ab…"`` -> Digest; anything else is a :class:`UsageError`."""
        if not isinstance(text, str):
            raise UsageError(f"{text!r} is not a digest")
        algorithm, colon, hex_ = text.partition(":")
        if not colon:
            raise UsageError(
                f"{_shown(text)} is not a digest; a digest is sha256: followed by 64 hex digits"
            )
        return cls(hex_, algorithm)

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls(hashlib.sha256(data).hexdigest())

    @classmethod
    def of_file(cls, stream: BinaryIO) -> tuple[Digest, int]:
        """The digest and size of everything left in ``stream``, read in chunks."""
        sha = hashlib.sha256()
        size = 0
        while chunk := stream.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
        return cls(sha.hexdigest()), size

    @property
    def path(self) -> str:
        """Where the blob lives in an OCI layout or a ``docker save`` tar."""
        return f"blobs/{self.algorithm}/{self.hex}"


def _shown(text: str) -> str:
    """Untrusted text as a message may quote it: on one line, and not too long."""
    return repr(text[:80])


class Hasher:
    """A running SHA256 over a stream, with its size: what every blob copy is checked by."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes) -> None:
        self._sha.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self._sha.hexdigest())

    def check(self, expected: Digest, size: int | None, what: str) -> None:
        """Refuse what was read unless it is exactly the promised blob."""
        if size is not None and self.size != size:
            raise IntegrityError(
                f"{what}: got {self.size} bytes where {size} were promised; the source is "
                "truncated or tampered with"
            )
        got = self.digest()
        if got != expected:
            raise IntegrityError(
                f"{what}: its content has digest {got}, not {expected}; the source is corrupt "
                "or tampered with"
            )
