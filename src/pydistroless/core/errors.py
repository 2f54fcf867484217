"""The one exception hierarchy of pydistroless.

Every error the user can cause or meet derives from :class:`PydistrolessError`. Its message is
the whole story on one line: what failed, on which package, file or URL, and what to do about
it. The CLI prints it as is and exits with :attr:`PydistrolessError.exit_code`.
"""

from __future__ import annotations


class PydistrolessError(Exception):
    """Base class: a failure the user can understand and act on."""

    exit_code = 1


class UsageError(PydistrolessError):
    """The request itself is wrong: an unknown suite, Python version, option value."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration file or the apt sources cannot be read or are inconsistent."""


class NetworkError(PydistrolessError):
    """A mirror could not be reached or kept failing after retries."""

    exit_code = 3


class IntegrityError(PydistrolessError):
    """A signature, checksum or size did not match what the signed chain promises."""

    exit_code = 4


class CacheMissError(PydistrolessError):
    """``--offline`` was asked for and the cache lacks something the build needs."""

    exit_code = 5


class ResolveError(PydistrolessError):
    """The package request cannot be satisfied from the archive."""

    exit_code = 6


class PackageFormatError(PydistrolessError):
    """A .deb is truncated, malformed, or tries to write outside the image tree."""

    exit_code = 7


class UnsafePathError(PackageFormatError):
    """A path or link would escape the image tree."""


class ImageCheckError(PydistrolessError):
    """The assembled image fails a consistency check (for example a missing shared library)."""

    exit_code = 8


class OutputError(PydistrolessError):
    """The image could not be written, loaded or pushed where it was asked to go."""

    exit_code = 9


class RegistryError(PydistrolessError):
    """A container registry failed, refused or answered nonsense: unreachable after retries,
    an HTTP error it explains in its own ``errors`` body, a protocol step it got wrong."""

    exit_code = 10


class RegistryAuthError(RegistryError):
    """The registry wants a login, refused the one given, or denies the action with it."""

    exit_code = 11


class RegistryNotFoundError(RegistryError):
    """The repository, tag, manifest or blob is not on the registry."""

    exit_code = 12


class RegistryTrustError(RegistryError):
    """The registry's TLS certificate does not verify against the trusted CAs."""

    exit_code = 13


class PlatformNotFoundError(PydistrolessError):
    """An image index (a tar, a layout or a registry's) has no manifest for the platform
    asked for."""

    exit_code = 14


class ImageFormatError(PydistrolessError):
    """An image read from a tar, a layout or a registry is malformed: a document that is not
    JSON, a descriptor without a digest, a blob that is not what its descriptor says."""

    exit_code = 15


class BuildError(PydistrolessError):
    """A build failed: compiling CPython (the message names the step, its last line and the
    log), or the project's own wheel (the message names the project and how to build it as
    an application instead)."""

    exit_code = 16


class KeyFileError(UsageError):
    """A signing or verification key cannot be used: not a key file we read, the wrong
    password, a key of an algorithm we do not sign with, a key file already in the way."""


class SignatureError(IntegrityError):
    """An image's signature or attestation is missing, made by another key, or says
    something else than the image it is attached to."""
