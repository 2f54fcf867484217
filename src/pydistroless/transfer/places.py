"""Where images come from and go: one parser for every place a command names, and one
read and one write over the image model, so that ``push``, ``pull``, ``copy`` and
``build --push`` are the same few lines.

A place is written as skopeo writes it, or plainly:

- ``oci:DIR[:TAG]`` / an existing directory, or a new path ending in ``/``: an OCI layout;
- ``oci-archive:FILE[:TAG]``, ``docker-archive:FILE[:TAG]`` / an existing file, a name ending
  in ``.tar``, or another new path starting with ``/``, ``./`` or ``../``: an image tar (we
  write one tar that both kinds of reader take);
- ``docker-daemon:NAME[:TAG]``, ``podman:NAME[:TAG]``: loaded into that engine, or read from
  it (saved to a scratch folder first) by a command that reads any image (``check``);
- ``docker://REF`` / anything else: a registry reference.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydistroless.core.arch import Platform
from pydistroless.core.digest import Digest
from pydistroless.core.errors import RegistryAuthError, RegistryError, UsageError
from pydistroless.core.keys import PublicKey
from pydistroless.core.report import log
from pydistroless.oci import daemon
from pydistroless.oci import reference as references
from pydistroless.oci.archive import read_tar, write_tar
from pydistroless.oci.layout import is_layout, read_layout, write_layout
from pydistroless.oci.model import Artifact, Descriptor, platform_image
from pydistroless.oci.reference import split_reference
from pydistroless.registry import keychain, remote, signatures
from pydistroless.registry.client import Registry, Repository

_PREFIXES = {
    "oci:": "layout",
    "oci-archive:": "tar",
    "docker-archive:": "tar",
    "docker-daemon:": "docker",
    "podman:": "podman",
    "docker://": "registry",
}


@dataclass(frozen=True)
class Location:
    """One place an image is read from or written to."""

    kind: str  # "tar", "layout", "registry", "docker", "podman"
    path: Path | None = None
    tag: str | None = None  # the tag inside a tar or layout, or an engine's NAME:TAG
    reference: references.Reference | None = None

    def __str__(self) -> str:
        if self.reference is not None:
            return str(self.reference)
        if self.kind in ("docker", "podman"):
            return f"{'docker-daemon' if self.kind == 'docker' else 'podman'}:{self.tag}"
        return f"{self.path}{':' + self.tag if self.tag else ''}"


def parse_location(text: str) -> Location:
    """The place ``text`` names (see the module's description)."""
    if not text:
        raise UsageError("an empty image location; name a tar, a layout or a registry reference")
    for prefix, kind in _PREFIXES.items():
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            if kind == "registry":
                return Location("registry", reference=references.parse(rest))
            if kind in ("docker", "podman"):
                split_reference(rest)
                return Location(kind, tag=rest)
            path, tag = _path_and_tag(rest)
            return Location(kind, path=path, tag=tag)
    path, tag = _path_and_tag(text)
    if path.is_dir():
        return Location("layout", path=path, tag=tag)
    if path.is_file() or path.suffix == ".tar":
        return Location("tar", path=path, tag=tag)
    if text.startswith(("/", "./", "../")):
        # a path that does not exist yet: a layout if it ends in "/", else a tar
        return Location("layout" if text.endswith("/") else "tar", path=path, tag=tag)
    return Location("registry", reference=references.parse(text))


def _path_and_tag(text: str) -> tuple[Path, str | None]:
    """``DIR:TAG`` -> (DIR, TAG) when ``DIR`` exists or TAG cannot be part of a path name."""
    head, colon, tail = text.rpartition(":")
    if not (colon and head and "/" not in tail) or Path(text).exists():
        return Path(text), None
    if Path(head).exists() or head.endswith(".tar"):
        return Path(head), tail
    return Path(text), None


@dataclass(frozen=True)
class RegistryOptions:
    """How registries are reached: hosts allowed over plain HTTP, and CAs to trust besides
    the system's."""

    insecure: tuple[str, ...] = ()
    ca_certs: tuple[Path, ...] = ()

    def check_login(self, host: str, secret: keychain.Secret) -> None:
        """Ask ``host`` whether it takes ``secret``, before ``login`` stores it: a token for
        no scope from a token server, or ``GET /v2/`` with basic auth."""
        client = Registry(
            host, insecure=set(self.insecure), ca_certs=self.ca_certs, credentials=lambda _: secret
        )
        headers = client.auth.headers(())
        response = client.transport.request("GET", f"{client.base_url}/v2/", headers=headers)
        status = response.status
        response.discard()
        if status == 401:
            raise RegistryAuthError(
                f"{host} refused the login of {secret.username!r}; check the user name and "
                "password (or token)"
            )
        if status >= 400:
            raise RegistryError(
                f"{host} answered {status} to a login check; is it a container registry?"
            )

    def repository(self, reference: references.Reference) -> Repository:
        client = Registry(reference.registry, insecure=set(self.insecure), ca_certs=self.ca_certs)
        return client.repository(reference.repository)


def read(
    location: Location,
    options: RegistryOptions,
    *,
    scratch: Path | None = None,
    verify_key: PublicKey | None = None,
) -> Artifact:
    """The image or index at ``location``. An engine's image is saved into the folder
    ``scratch`` first, which must outlive the artifact. With ``verify_key``, a registry's
    image is read only if a signature by that key verifies for the digest the registry
    gives, and then by that digest (a tar, a layout or an engine carries no signature)."""
    if verify_key is not None:
        if location.kind != "registry":
            raise UsageError(
                f"{location} carries no signature to verify; --verify-key checks images "
                "on a registry"
            )
        assert location.reference is not None
        repository = options.repository(location.reference)
        pinned, verified = signatures.verify_reference(repository, location.reference, verify_key)
        log(
            f"verified {location.reference} ({pinned.digest}): {len(verified)} signature(s) "
            f"by key {verify_key.fingerprint[:12]}"
        )
        return remote.read(repository, pinned)
    if location.kind in ("docker", "podman") and scratch is not None:
        assert location.tag is not None
        saved = daemon.save(location.tag, scratch / "saved.tar", engine=location.kind)
        return read_tar(saved)
    if location.kind == "tar":
        assert location.path is not None
        if not location.path.is_file():
            raise UsageError(f"{location.path} does not exist; name an image tar or layout")
        return read_tar(location.path, tag=location.tag)
    if location.kind == "layout":
        assert location.path is not None
        if not is_layout(location.path):
            raise UsageError(f"{location.path} is not an OCI layout (no oci-layout file)")
        return read_layout(location.path, tag=location.tag)
    if location.kind == "registry":
        assert location.reference is not None
        return remote.read(options.repository(location.reference), location.reference)
    raise UsageError(f"cannot read images from {location}; it is only a destination")


def narrow(artifact: Artifact, platform: Platform | None, where: str) -> Artifact:
    """``artifact`` as a sink should get it: one platform's image when asked for one."""
    if platform is None:
        return artifact
    return platform_image(artifact, platform, where=where)


@dataclass(frozen=True)
class Written:
    """What a write did, for the command to print."""

    digest: Digest
    where: str
    detail: str = ""


def write(
    artifact: Artifact,
    location: Location,
    options: RegistryOptions,
    *,
    tags: Sequence[str] = (),
    mount_from: Sequence[str] = (),
    on_blob: Callable[[Descriptor, str], None] | None = None,
    explicit_tags: Sequence[str] = (),
) -> Written:
    """Write ``artifact`` to ``location``; ``tags`` are the names it gets in a tar, a layout
    or an engine (a registry location's own tag, or these tags' tag parts, or its digest)."""
    if location.kind in ("tar", "layout"):
        assert location.path is not None
        names = list(tags) or ([f"image:{location.tag}"] if location.tag else [])
        if location.kind == "tar":
            write_tar(location.path, artifact, tags=names)
        else:
            write_layout(location.path, artifact, tags=names)
        return Written(artifact.digest, str(location.path))
    if location.kind in ("docker", "podman"):
        assert location.tag is not None
        with tempfile.TemporaryDirectory(prefix="pydistroless-load-") as temp:
            tar = Path(temp) / "image.tar"
            write_tar(tar, artifact, tags=[location.tag])
            daemon.load(tar, tag=location.tag, engine=location.kind)
        return Written(artifact.digest, f"{location.kind} as {location.tag}")
    assert location.reference is not None
    ref = location.reference
    repository = options.repository(ref)
    if explicit_tags:
        wanted = list(explicit_tags)
    elif ref.tag is not None:
        wanted = [ref.tag]
    else:
        wanted = [split_reference(t)[1] for t in tags]
    if ref.digest is not None and ref.digest != artifact.digest:
        raise UsageError(
            f"{ref} names digest {ref.digest}, but the image to push is {artifact.digest}; "
            "drop the @digest part"
        )
    report = remote.write(artifact, repository, wanted, mount_from=mount_from, on_blob=on_blob)
    shown = ", ".join(f"{ref.name}:{t}" for t in wanted) or f"{ref.name}@{artifact.digest}"
    return Written(artifact.digest, shown, report.summary())
