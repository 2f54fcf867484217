"""The bounds every image input is read within, in one place.

A manifest, a config, an ``index.json`` and every byte of a layer come from a tar, a layout or
a registry that may be damaged or hostile. Each bound here is far above what a real image
meets (the comments say how far) and turns what would exhaust memory, time or the stack into
one :class:`~pydistroless.core.errors.ImageFormatError` that names the bound.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

# A manifest, an index or a config: real ones are a few kB (an index of every platform
# Docker Hub serves is about 10 kB, a config with a long history about 50 kB).
MAX_DOCUMENT = 4 << 20
# How deep the JSON of a document may nest: real ones nest 5 deep (an index's platform
# features). Deeper is refused before anything recurses over it.
MAX_JSON_DEPTH = 64
# How deep indexes may nest: real ones nest once (a tag naming a multi-platform index).
MAX_INDEX_NESTING = 8
# Distinct manifests and indexes below one artifact: real indexes list a few dozen.
MAX_DOCUMENTS = 10_000

# An image unpacked into a tree in memory (oci/unpack.py) holds at most this many bytes of
# files: a Debian Python base is about 50 MB unpacked, python:3 (with gcc) about 1 GB.
MAX_UNPACKED = 4 << 30
# ... and at most this many tar entries, counted over its layers: python:3 has about 30 000.
MAX_ENTRIES = 500_000
# One layer decompresses to at most LAYER_SLACK plus LAYER_RATIO times its compressed size:
# real layers compress 2 to 10 times, a gzip bomb of zeros 1 000 times.
LAYER_SLACK = 64 << 20
LAYER_RATIO = 100


def layer_allowance(compressed_size: int) -> int:
    """The most bytes a layer of ``compressed_size`` bytes may decompress to."""
    return LAYER_SLACK + LAYER_RATIO * max(compressed_size, 0)


class DocumentError(ValueError):
    """Bytes that are not a JSON document within the bounds; the message says why. A
    ValueError, as ``json`` raises for bytes that are not JSON at all."""


def load_json(data: bytes) -> Any:
    """The JSON value of ``data``, refused (:class:`DocumentError`) past
    :data:`MAX_DOCUMENT` bytes or :data:`MAX_JSON_DEPTH` levels of nesting, which is
    measured before the document is parsed."""
    if len(data) > MAX_DOCUMENT:
        raise DocumentError(f"it is {len(data)} bytes, more than any document ({MAX_DOCUMENT})")
    # Decoded as json.loads decodes bytes: UTF-8 (with or without a BOM), -16 or -32.
    text = data.decode(json.detect_encoding(data), "surrogatepass")
    if _depth(text) > MAX_JSON_DEPTH:
        raise DocumentError(
            f"it nests deeper than {MAX_JSON_DEPTH} levels, which no image document does"
        )
    try:
        return json.loads(text)
    except RecursionError:  # not valid JSON either, or the scan would have counted it
        raise DocumentError("it nests too deep to parse") from None


# A JSON string (escapes included), and what is not a bracket.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _depth(text: str) -> int:
    """How deep the brackets of ``text`` nest outside its strings (for valid JSON, how deep
    it nests), counted without recursion or a loop in Python."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)
