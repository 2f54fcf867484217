"""Which Debian package ships a shared library: the archive's ``Contents-<arch>`` index.

The index maps every file of every package of a suite to its packages (170 MB for trixie's
main, 13 MB gzipped). Only shared objects in library folders matter here, so the gzipped
index, checked against the signed Release, is read once as a stream and boiled down to a
small map of library file name -> packages, which the cache keeps under the index's digest.

Mirrors do not always serve the ``Contents`` their signed Release names (the index is large
and some mirrors sync it apart from the rest). The mirror's copy is then still read, as a
map of *hints*: :class:`LibraryOwners` says so, and its user must see each hinted package's
own verified ``.deb`` hold the file before taking it.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from pydistroless.core.cache import Cache
from pydistroless.core.errors import IntegrityError, NetworkError
from pydistroless.core.fetch import Download, Fetcher
from pydistroless.core.report import log
from pydistroless.debian.archive import Release

# Where the dynamic loader looks (Debian's multiarch folders included).
_LIBRARY = re.compile(
    rb"^(?:usr/)?lib(?:32|64)?/(?:[^/\s]+-linux-gnu[^/\s]*/)?(lib[^/\s]*\.so[^/\s]*)\s+(\S+)$"
)

# An unverified copy may differ from the signed one by a sync or two, not by an order of
# magnitude: more than this is no Contents index.
_HINT_GROWTH = 4
_HINT_SLACK = 16 << 20


@dataclass(frozen=True)
class LibraryOwners:
    """Library file name (``libstdc++.so.6``) -> the packages that ship it. ``verified`` is
    false when some part of the map comes from a copy the signed Release does not vouch for."""

    packages: Mapping[str, list[str]]
    verified: bool


def library_owners(
    releases: Iterable[Release], arch: str, fetcher: Fetcher, cache: Cache
) -> LibraryOwners:
    """The owners of each library over the ``main`` ``Contents`` indexes of ``releases`` (a
    suite without one adds nothing). Raises :class:`NetworkError` when no copy can be had."""
    owners: dict[str, list[str]] = {}
    verified = True
    for release in releases:
        found, signed = _owners(release, arch, fetcher, cache, "main")
        verified = verified and signed
        for name, packages in found.items():
            known = owners.setdefault(name, [])
            known += [p for p in packages if p not in known]
    return LibraryOwners(owners, verified)


def _owners(
    release: Release, arch: str, fetcher: Fetcher, cache: Cache, component: str
) -> tuple[Mapping[str, list[str]], bool]:
    relative = f"{component}/Contents-{arch}.gz"
    entry = release.files.get(relative)
    if entry is None or entry.size <= 20:  # absent, or an empty gzip
        return {}, True
    label = f"{release.suite}/{relative}"
    record = ("contents-libraries", entry.sha256)
    cached = cache.get_checked_record(_parse_record, *record)
    if cached is not None:
        return cached, True
    hint_record = ("contents-library-hints", entry.sha256)
    hinted = cache.get_checked_record(_parse_record, *hint_record)
    if hinted is not None:
        return hinted, False
    # By hash where the archive offers it: the file a Release signs stays there while the
    # plain name already serves the next one. The plain name is the fallback of a mirror
    # without by-hash files.
    by_hash = f"{component}/by-hash/SHA256/{entry.sha256}"
    urls = release.dist_urls(relative)
    if release.acquire_by_hash:
        urls = release.dist_urls(by_hash) + urls
    try:
        path = fetcher.fetch_path(Download(urls, entry.sha256, entry.size, label))
    except (IntegrityError, NetworkError):
        hints = _unverified(release, relative, entry.size, fetcher, label)
        cache.put_checked_record(hints, *hint_record)
        return hints, False
    with path.open("rb") as stream:
        owners = parse(stream, label=label)
    cache.put_checked_record(owners, *record)
    return owners, True


def _unverified(
    release: Release, relative: str, size: int, fetcher: Fetcher, label: str
) -> dict[str, list[str]]:
    """The mirror's own copy of the index, read as hints (see the module's docstring)."""
    log(
        f"note: the mirror's {label} is not the one its Release signs; its library map serves "
        "as hints, each checked against the package's own verified files"
    )
    cap = size * _HINT_GROWTH + _HINT_SLACK
    failure: NetworkError | IntegrityError = NetworkError(f"{label}: no mirror to try")
    for url in release.dist_urls(relative):
        try:
            body = fetcher.get_upstream(url, cap, "Contents index")
        except (NetworkError, IntegrityError) as exc:
            failure = exc
            continue
        return parse(io.BytesIO(body), label=label)
    raise failure


def parse(gzipped: BinaryIO, *, label: str) -> dict[str, list[str]]:
    """The library map of a gzipped ``Contents`` index, read as a stream."""
    owners: dict[str, list[str]] = {}
    try:
        for line in gzip.GzipFile(fileobj=gzipped):
            _add(owners, line.rstrip(b"\n"))
    except (OSError, EOFError) as exc:
        raise IntegrityError(f"{label}: not a gzip file ({exc}); the mirror is broken") from None
    return owners


def _add(owners: dict[str, list[str]], line: bytes) -> None:
    if b".so" in line:
        match = _LIBRARY.match(line)
        if match is None:
            return
        name = match.group(1).decode("utf-8", errors="replace")
        for qualified in match.group(2).decode("utf-8", errors="replace").split(","):
            package = qualified.rsplit("/", 1)[-1]
            known = owners.setdefault(name, [])
            if package not in known:
                known.append(package)


def _parse_record(body: object) -> dict[str, list[str]]:
    if not isinstance(body, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(p, str) for p in v)
        for k, v in body.items()
    ):
        raise ValueError("not a library map")
    return body  # type: ignore[return-value]
