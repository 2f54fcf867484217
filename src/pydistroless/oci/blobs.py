"""Copying a blob from any source to any sink, checked on the way.

Every blob that crosses from one place to another goes through :func:`copy_blob`: read in
chunks, hashed and counted as it flows, refused as soon as it runs past its descriptor's size
and at the end unless it is exactly the promised bytes. So a corrupt cache entry, a damaged
tar or a tampered registry response never reaches an output, and no blob is ever held whole.
"""

from __future__ import annotations

from typing import BinaryIO

from pydistroless.digest import Hasher
from pydistroless.errors import IntegrityError
from pydistroless.oci.model import Blob, Descriptor

CHUNK = 1 << 20


def copy_blob(descriptor: Descriptor, blob: Blob, out: BinaryIO, *, what: str) -> None:
    """Write ``blob`` to ``out``, checked against ``descriptor``."""
    hasher = Hasher()
    with blob.open() as stream:
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
            if hasher.size > descriptor.size:
                raise IntegrityError(
                    f"{what}: blob {descriptor.digest} runs past its {descriptor.size} bytes; "
                    "the source is damaged or tampered with"
                )
            out.write(chunk)
    hasher.check(descriptor.digest, descriptor.size, f"{what}: blob {descriptor.digest}")
