"""Dates as the documents we write carry them: an image config's ``created``, an SBOM's."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(epoch: int) -> str:
    """``1700000000`` -> ``"2023-11-14T22:13:20Z"``: RFC 3339 in UTC, to the second."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_of(text: object) -> int:
    """An image config's ``created`` as seconds since the epoch; 0 for none or a malformed
    one (the layers of an image without a date get the epoch, as reproducible builds do)."""
    if not isinstance(text, str):
        return 0
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
