"""Dates as the documents we write carry them: an image config's ``created``, an SBOM's."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(epoch: int) -> str:
    """``1700000000`` -> ``"2023-11-14T22:13:20Z"``: RFC 3339 in UTC, to the second."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
