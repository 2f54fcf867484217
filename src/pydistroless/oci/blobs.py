"""Copying a blob from any source to any sink, checked on the way.

Every blob that crosses from one place to another goes through :func:`copy_blob`: read in
chunks, hashed and counted as it flows, refused as soon as it runs past its descriptor's size
and at the end unless it is exactly the promised bytes. So a corrupt cache entry, a damaged
tar or a tampered registry response never reaches an output, and no blob is ever held whole.
A blob that checks itself as it streams (a registry's, see :class:`SelfChecking`) is written
straight to the sink rather than staged first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import BinaryIO, Protocol, runtime_checkable

from pydistroless.core.digest import Hasher
from pydistroless.core.errors import ImageFormatError, IntegrityError
from pydistroless.oci.model import Blob, Descriptor

CHUNK = 1 << 20


@runtime_checkable
class SelfChecking(Protocol):
    """A blob that writes itself to a sink, refusing bytes that do not match its own
    descriptor while they stream (the sink may then hold a part, which its writer drops)."""

    descriptor: Descriptor

    def write_to(self, out: BinaryIO) -> None: ...


def copy_blob(descriptor: Descriptor, blob: Blob, out: BinaryIO, *, what: str) -> None:
    """Write ``blob`` to ``out``, checked against ``descriptor``."""
    if isinstance(blob, SelfChecking) and blob.descriptor == descriptor:
        blob.write_to(out)
        return
    hasher = Hasher()
    with _opened(blob, descriptor, what) as stream:
        while chunk := _read(stream, descriptor, what):
            hasher.update(chunk)
            if hasher.size > descriptor.size:
                raise IntegrityError(
                    f"{what}: blob {descriptor.digest} runs past its {descriptor.size} bytes; "
                    "the source is damaged or tampered with"
                )
            out.write(chunk)
    hasher.check(descriptor.digest, descriptor.size, f"{what}: blob {descriptor.digest}")


# A source that fails to read is the source's problem, not the output's: it is reported as
# such, and not as an OSError that the output's error handling would blame on its target.
@contextlib.contextmanager
def _opened(blob: Blob, descriptor: Descriptor, what: str) -> Iterator[BinaryIO]:
    try:
        stream = blob.open()
    except OSError as exc:
        raise _unreadable(descriptor, what, exc) from None
    with stream:
        yield stream


def _read(stream: BinaryIO, descriptor: Descriptor, what: str) -> bytes:
    try:
        return stream.read(CHUNK)
    except OSError as exc:
        raise _unreadable(descriptor, what, exc) from None


def _unreadable(descriptor: Descriptor, what: str, exc: OSError) -> ImageFormatError:
    return ImageFormatError(
        f"{what}: the source's blob {descriptor.digest} cannot be read "
        f"({exc.strerror or exc}); the source image is incomplete"
    )
