"""Which Debian package ships a shared library: the archive's ``Contents-<arch>`` index.

The index maps every file of every package of a suite to its packages (170 MB for trixie's
main, 13 MB gzipped). Only shared objects in library folders matter here, so the gzipped
index, checked against the signed Release, is read once as a stream and boiled down to a
small map of library file name -> packages, which the cache keeps under the index's digest.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Mapping
from typing import BinaryIO

from pydistroless.core.cache import Cache
from pydistroless.core.errors import IntegrityError
from pydistroless.core.fetch import Download, Fetcher
from pydistroless.debian.archive import Release

# Where the dynamic loader looks (Debian's multiarch folders included).
_LIBRARY = re.compile(
    rb"^(?:usr/)?lib(?:32|64)?/(?:[^/\s]+-linux-gnu[^/\s]*/)?(lib[^/\s]*\.so[^/\s]*)\s+(\S+)$"
)


def library_owners(
    releases: Iterable[Release], arch: str, fetcher: Fetcher, cache: Cache
) -> dict[str, list[str]]:
    """Library file name (``libstdc++.so.6``) -> the packages that ship it, over the
    ``main`` ``Contents`` indexes of ``releases`` (a suite without one adds nothing)."""
    owners: dict[str, list[str]] = {}
    for release in releases:
        for name, packages in _owners(release, arch, fetcher, cache, "main").items():
            known = owners.setdefault(name, [])
            known += [p for p in packages if p not in known]
    return owners


def _owners(
    release: Release, arch: str, fetcher: Fetcher, cache: Cache, component: str
) -> Mapping[str, list[str]]:
    relative = f"{component}/Contents-{arch}.gz"
    entry = release.files.get(relative)
    if entry is None or entry.size <= 20:  # absent, or an empty gzip
        return {}
    record = ("contents-libraries", entry.sha256)
    cached = cache.get_checked_record(_parse_record, *record)
    if cached is not None:
        return cached
    # By hash where the archive offers it: the file a Release signs stays there while the
    # plain name already serves the next one.
    where = f"{component}/by-hash/SHA256/{entry.sha256}" if release.acquire_by_hash else relative
    path = fetcher.fetch_path(
        Download(release.dist_urls(where), entry.sha256, entry.size, f"{release.suite}/{relative}")
    )
    with path.open("rb") as stream:
        owners = parse(stream, label=f"{release.suite}/{relative}")
    cache.put_checked_record(owners, *record)
    return owners


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
