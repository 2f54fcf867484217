"""Finished layers kept in the cache, so an unchanged step of a build is not done again.

A record lists each layer's descriptor fields; the layer blobs are content-addressed blobs of
the cache, re-verified when read, and streamed from there. A record is checked for its form
and carries its own checksum (see :meth:`Cache.get_checked_record`), so a damaged one is a
miss, never a broken image.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydistroless.core.cache import Cache, log_cache_problem
from pydistroless.core.digest import Digest
from pydistroless.oci.model import Descriptor, FileBlob, Layer

T = TypeVar("T")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_LAYER_FIELDS = {
    "digest": str,
    "diff_id": str,
    "size": int,
    "media_type": str,
    "uncompressed_size": int,
    "comment": str,
}


def check_layers(value: Any) -> tuple[dict, ...]:
    """The layer entries of a record, their form checked (ValueError otherwise)."""
    if not isinstance(value, list):
        raise ValueError("not a list of layers")
    for meta in value:
        if not isinstance(meta, dict) or set(meta) != set(_LAYER_FIELDS):
            raise ValueError("not a layer record")
        if not all(type(meta[k]) is t for k, t in _LAYER_FIELDS.items()):
            raise ValueError("not a layer record")
        if not (_DIGEST.fullmatch(meta["digest"]) and _DIGEST.fullmatch(meta["diff_id"])):
            raise ValueError("not a layer digest")
    return tuple(value)


def load(cache: Cache, metas: Sequence[dict]) -> tuple[Layer, ...] | None:
    """The layers of ``metas``, every blob re-verified (a damaged one makes it a miss)."""
    layers = []
    for meta in metas:
        digest = Digest.parse(meta["digest"])
        path = cache.blob_path(digest.hex)
        try:
            with open(path, "rb") as stream:
                found = Digest.of_file(stream)
        except OSError:
            return None
        if found != (digest, meta["size"]):
            log_cache_problem(cache.root, OSError(f"layer {digest} in the cache is damaged"))
            return None
        layers.append(
            Layer(
                descriptor=Descriptor(meta["media_type"], digest, meta["size"]),
                diff_id=Digest.parse(meta["diff_id"]),
                blob=FileBlob(path),
                comment=meta["comment"],
                uncompressed_size=meta["uncompressed_size"],
            )
        )
    return tuple(layers)


def store(cache: Cache, layers: Sequence[Layer]) -> list[dict] | None:
    """Put each layer's blob into the cache; their record entries, or None when the cache
    cannot take them (best effort: that costs the next build time, and this one nothing)."""
    metas = []
    try:
        for layer in layers:
            if not cache.has_blob(layer.digest.hex):
                with layer.open() as stream:
                    cache.put_blob(stream.read(), layer.digest.hex)
            metas.append(
                {
                    "digest": str(layer.digest),
                    "diff_id": str(layer.diff_id),
                    "size": layer.size,
                    "media_type": layer.media_type,
                    "uncompressed_size": layer.uncompressed_size or 0,
                    "comment": layer.comment,
                }
            )
    except OSError as exc:
        log_cache_problem(cache.root, exc)
        return None
    return metas


def cached(
    cache: Cache, kind: str, key: str, parse: Callable[[dict], T] = lambda body: body
) -> tuple[tuple[Layer, ...], T] | None:
    """The layers of the ``kind`` record ``key`` and the rest of the record (``parse``d)."""

    def checked(body: Any) -> tuple[tuple[dict, ...], T]:
        if not isinstance(body, dict) or "layers" not in body:
            raise ValueError("not a layer record")
        rest = {k: v for k, v in body.items() if k != "layers"}
        return check_layers(body["layers"]), parse(rest)

    record = cache.get_checked_record(checked, kind, key)
    if record is None:
        return None
    layers = load(cache, record[0])
    return None if layers is None else (layers, record[1])


def keep(cache: Cache, kind: str, key: str, layers: Sequence[Layer], **rest: Any) -> None:
    """Record ``layers`` (and ``rest``) under ``kind``/``key`` for the next identical build."""
    metas = store(cache, layers)
    if metas is not None:
        cache.put_checked_record({"layers": metas, **rest}, kind, key)
