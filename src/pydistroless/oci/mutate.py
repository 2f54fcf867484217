"""Making images and changing them: every function returns a new value and leaves its input,
and the base's layers and their descriptors, exactly as they were.

A document that changes is parsed, edited and serialised once, canonically; fields this code
does not know are carried over untouched, so an image made elsewhere keeps what it said.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydistroless.core.arch import Platform
from pydistroless.core.digest import Digest
from pydistroless.core.errors import UsageError
from pydistroless.core.timestamps import rfc3339
from pydistroless.oci.model import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Artifact,
    Descriptor,
    Image,
    Index,
    Layer,
    Pairs,
    canonical_json,
    pairs,
)

CREATED_BY = "pydistroless"


@dataclass(frozen=True)
class ImageConfig:
    """How the container runs: the ``config`` part of an image config, plus its date.

    ``labels`` may be given as a mapping; it is kept as sorted pairs so the value stays
    frozen. ``created`` is RFC 3339; an epoch in seconds (``SOURCE_DATE_EPOCH``) is turned
    into that form.
    """

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    labels: Pairs = ()
    exposed_ports: tuple[str, ...] = ()
    created: str | int = "1970-01-01T00:00:00Z"

    def __post_init__(self) -> None:
        if isinstance(self.created, int):
            object.__setattr__(self, "created", rfc3339(self.created))
        for name in ("entrypoint", "cmd", "env", "exposed_ports"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "labels", pairs(self.labels, "the image labels"))
        _check_env(self.env)
        for port in self.exposed_ports:
            _check_port(port)

    def to_json(self) -> dict[str, Any]:
        """The ``config`` object of the image config; empty fields are left out."""
        out: dict[str, Any] = {}
        if self.entrypoint:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            out["Cmd"] = list(self.cmd)
        if self.env:
            out["Env"] = list(self.env)
        if self.exposed_ports:
            out["ExposedPorts"] = {_port_key(p): {} for p in self.exposed_ports}
        if self.user:
            out["User"] = self.user
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(self.labels)
        return out


def _check_env(env: Iterable[str]) -> None:
    for item in env:
        if "=" not in item or item.startswith("="):
            raise UsageError(f"environment entry {item!r} is not of the form KEY=VALUE")


def _port_key(port: str) -> str:
    return port if "/" in port else f"{port}/tcp"


def _check_port(port: str) -> None:
    number, _, proto = port.partition("/")
    if not number.isdigit() or not 0 < int(number) < 65536 or proto not in ("", "tcp", "udp"):
        raise UsageError(f"exposed port {port!r} is not PORT[/tcp|/udp], e.g. 8000/tcp")


# ---- new images -------------------------------------------------------------------------


def new_image(
    platform: Platform,
    config: ImageConfig,
    layers: Sequence[Layer],
) -> Image:
    """An OCI image of ``layers`` (bottom first) with ``config``; each layer's ``comment``
    becomes its history entry."""
    if not layers:
        raise UsageError("an image needs at least one layer")
    created = str(config.created)
    body: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "config": config.to_json(),
        "rootfs": {"type": "layers", "diff_ids": [str(layer.diff_id) for layer in layers]},
        "history": [_history(layer.comment, created) for layer in layers],
        "created": created,
    }
    if platform.variant:
        body["variant"] = platform.variant
    config_bytes = canonical_json(body)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": Descriptor(OCI_CONFIG, Digest.of(config_bytes), len(config_bytes)).to_json(),
        "layers": [layer.descriptor.to_json() for layer in layers],
    }
    return Image(
        manifest=canonical_json(manifest),
        config=config_bytes,
        layers=tuple(layers),
        media_type=OCI_MANIFEST,
    )


def _history(comment: str, created: str) -> dict[str, str]:
    out = {"created": created, "created_by": CREATED_BY}
    if comment:
        out["comment"] = comment
    return out


def new_index(children: Sequence[Artifact]) -> Index:
    """An index listing ``children`` in order; two images of one platform are refused."""
    if not children:
        raise UsageError("an image index needs at least one image")
    seen: list[Platform] = []
    for child in children:
        platform = child.platform if isinstance(child, Image) else None
        if platform is None:
            continue
        if any(platform.matches(p) for p in seen):
            raise UsageError(f"two images for platform {platform}; build each platform once")
        seen.append(platform)
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [c.descriptor().to_json() for c in children],
    }
    return Index(raw=canonical_json(body), children=tuple(children), media_type=OCI_INDEX)


# ---- changing images --------------------------------------------------------------------


def append(image: Image, layers: Sequence[Layer], *, created: str | int | None = None) -> Image:
    """``image`` with ``layers`` on top, each with a history entry; the base's layers, their
    descriptors and their history entries are kept as they are."""
    when = rfc3339(created) if isinstance(created, int) else created
    config = copy.deepcopy(image.config_json)
    rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    rootfs.setdefault("diff_ids", []).extend(str(layer.diff_id) for layer in layers)
    history = config.setdefault("history", [])
    for layer in layers:
        entry = {"created_by": CREATED_BY}
        if when:
            entry["created"] = when
        if layer.comment:
            entry["comment"] = layer.comment
        history.append(entry)
    if when:
        config["created"] = when
    manifest = copy.deepcopy(image.manifest_json)
    manifest["layers"] = [*manifest.get("layers", []), *(x.descriptor.to_json() for x in layers)]
    return _replace(image, manifest, config, (*image.layers, *layers))


def with_config(
    image: Image,
    *,
    entrypoint: Sequence[str] | None = None,
    cmd: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    working_dir: str | None = None,
    labels: Mapping[str, str] | None = None,
    exposed_ports: Sequence[str] | None = None,
) -> Image:
    """``image`` with its run settings changed. ``env`` and ``labels`` are merged into what
    the image has (a key given again replaces its value); the others replace. Setting an
    entrypoint clears the base's ``Cmd`` unless ``cmd`` is given too, as a Dockerfile's
    ``ENTRYPOINT`` does."""
    config = copy.deepcopy(image.config_json)
    run = config.setdefault("config", {})
    if entrypoint is not None:
        run["Entrypoint"] = list(entrypoint)
        if cmd is None:
            run.pop("Cmd", None)
    if cmd is not None:
        run["Cmd"] = list(cmd)
    if env:
        items = [f"{k}={v}" for k, v in env.items()]
        _check_env(items)
        current = [e for e in run.get("Env") or [] if e.split("=", 1)[0] not in env]
        run["Env"] = current + items
    if user is not None:
        run["User"] = user
    if working_dir is not None:
        run["WorkingDir"] = working_dir
    if labels:
        run["Labels"] = {**(run.get("Labels") or {}), **labels}
    if exposed_ports is not None:
        for port in exposed_ports:
            _check_port(port)
        run["ExposedPorts"] = {
            **(run.get("ExposedPorts") or {}),
            **{_port_key(p): {} for p in exposed_ports},
        }
    return _replace(image, copy.deepcopy(image.manifest_json), config, image.layers)


def _replace(
    image: Image, manifest: dict[str, Any], config: dict[str, Any], layers: tuple[Layer, ...]
) -> Image:
    config_bytes = canonical_json(config)
    described = manifest.get("config") or {}
    manifest["config"] = {
        **described,
        "mediaType": described.get("mediaType", OCI_CONFIG),
        "digest": str(Digest.of(config_bytes)),
        "size": len(config_bytes),
    }
    return Image(
        manifest=canonical_json(manifest),
        config=config_bytes,
        layers=layers,
        media_type=image.media_type,
    )
