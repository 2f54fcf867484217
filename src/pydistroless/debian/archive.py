"""The signed chain of a Debian archive: InRelease -> Packages -> .deb.

``InRelease`` is verified with Sequoia-PGP (pysequoia) against the Debian archive keyring, and
only the text *inside* the signature is used from then on, so nothing can be smuggled in around
it. The Release text gives the SHA256 and size of every index; an index gives the SHA256 and
size of every package. Each step is checked before the next is trusted.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pysequoia

from pydistroless.core.cache import Cache, log_cache_problem, sha256_hex
from pydistroless.core.errors import CacheMissError, ConfigError, IntegrityError, UsageError
from pydistroless.core.fetch import Download, Fetcher, NotFound
from pydistroless.core.report import log

DEFAULT_KEYRINGS = (
    Path("/usr/share/keyrings/debian-archive-keyring.pgp"),
    Path("/usr/share/keyrings/debian-archive-keyring.gpg"),
)

# Compressed forms of an index, best first. gzip before xz: the main index is 13 MB as gzip
# and 10 MB as xz, but decompresses in a third of the time (0.5 s against 1.6 s here), which
# outweighs the extra download on any link faster than a few MB/s.
_INDEX_FORMATS = (".gz", ".xz", ".bz2", "")


@dataclass(frozen=True)
class IndexFile:
    sha256: str
    size: int


@dataclass(frozen=True)
class Release:
    """The parts of a verified Release file that the build uses."""

    suite: str  # the name asked for, e.g. "trixie-security"
    codename: str
    version: str
    date: str
    valid_until: str
    architectures: tuple[str, ...]
    components: tuple[str, ...]
    acquire_by_hash: bool
    files: dict[str, IndexFile] = field(repr=False)
    inrelease_sha256: str = ""
    base_urls: tuple[str, ...] = ()

    def dist_urls(self, relative: str) -> tuple[str, ...]:
        return tuple(f"{base}/dists/{self.suite}/{relative}" for base in self.base_urls)


def load_keyring(paths: Sequence[Path] | None) -> list[pysequoia.Cert]:
    candidates = list(paths) if paths else [p for p in DEFAULT_KEYRINGS if p.exists()]
    if not candidates:
        raise ConfigError(
            "no Debian archive keyring found; install debian-archive-keyring or pass --keyring FILE"
        )
    certs: list[pysequoia.Cert] = []
    for path in candidates:
        try:
            certs += pysequoia.Cert.split_bytes(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read keyring {path}: {exc.strerror}; fix --keyring") from exc
        except Exception as exc:
            raise ConfigError(
                f"keyring {path} holds no OpenPGP certificates ({_first_line(exc)}); fix --keyring"
            ) from exc
    return certs


def verify_inrelease(data: bytes, certs: list[pysequoia.Cert], *, label: str) -> bytes:
    """Return the signed text of a clearsigned ``InRelease``, or raise IntegrityError."""
    try:
        verified = pysequoia.verify(bytes=data, store=lambda _ids: certs)
    except Exception as exc:
        raise IntegrityError(
            f"{label}: OpenPGP signature check failed ({_first_line(exc)}); the mirror is "
            "broken or tampered with, or the keyring is too old (try --keyring)"
        ) from exc
    if not verified.valid_sigs:
        raise IntegrityError(f"{label}: no valid signature from the Debian archive keyring")
    return verified.bytes


def parse_release(text: str, *, suite: str) -> Release:
    fields: dict[str, str] = {}
    files: dict[str, IndexFile] = {}
    section = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0] in " \t":
            if section == "SHA256":
                parts = line.split()
                if len(parts) == 3:
                    files[parts[2]] = IndexFile(sha256=parts[0], size=int(parts[1]))
            continue
        key, _, value = line.partition(":")
        section = key
        fields[key] = value.strip()
    if not files:
        raise IntegrityError(f"Release of {suite} lists no SHA256 checksums; it cannot be trusted")
    return Release(
        suite=suite,
        codename=fields.get("Codename", ""),
        version=fields.get("Version", ""),
        date=fields.get("Date", ""),
        valid_until=fields.get("Valid-Until", ""),
        architectures=tuple(fields.get("Architectures", "").split()),
        components=tuple(fields.get("Components", "").split()),
        acquire_by_hash=fields.get("Acquire-By-Hash", "").lower() == "yes",
        files=files,
    )


class Archive:
    """Reads the signed indexes of one Debian suite family (suite, -updates, -security)."""

    def __init__(
        self,
        fetcher: Fetcher,
        cache: Cache,
        *,
        keyring: Sequence[Path] | None = None,
        insecure: bool = False,
        accept_expired: bool = False,
    ):
        self.fetcher = fetcher
        self.cache = cache
        self.insecure = insecure
        self.accept_expired = accept_expired
        self._certs = None if insecure else load_keyring(keyring)

    def release(
        self, base_urls: Sequence[str], suite: str, *, required: bool = True
    ) -> Release | None:
        """Fetch and verify ``dists/<suite>/InRelease``. When the fetcher is offline, the last
        verified copy from the cache is verified again and used."""
        key = sha256_hex("\n".join(base_urls).encode())[:16]
        record = ("inrelease", key, suite)
        # An optional suite the mirror lacks (a repository without -updates) is remembered
        # too, so that --offline knows it is absent rather than missing from the cache.
        absent = ("inrelease-absent", key, suite)
        urls = tuple(f"{b}/dists/{suite}/InRelease" for b in base_urls)
        if self.fetcher.offline:
            raw = self.cache.get_record(*record)
            if raw is None:
                if not required and self.cache.get_record(*absent) is not None:
                    return None
                raise CacheMissError(
                    f"offline: no cached InRelease for {suite}; run once without --offline"
                )
            try:
                text = self._verified_text(raw, urls[0])
            except IntegrityError as exc:
                self.cache.drop_record(*record)
                raise CacheMissError(
                    f"offline: the cached InRelease for {suite} no longer verifies (a damaged "
                    "cache, or a changed --keyring); run once without --offline"
                ) from exc
        else:
            try:
                raw = self.fetcher.get(urls)
            except NotFound as exc:
                if not required:
                    self._remember(b"", absent)
                    return None
                raise UsageError(
                    f"suite {suite!r} does not exist on {base_urls[0]} (HTTP 404 for "
                    "InRelease); use a Debian codename such as trixie or bookworm"
                ) from exc
            text = self._verified_text(raw, urls[0])
        release = parse_release(text, suite=suite)
        self._check_names(release, suite, urls[0])
        self._check_valid_until(release, urls[0])
        if not self.fetcher.offline:
            self._remember(raw, record)
            self.cache.drop_record(*absent)
        return replace(release, inrelease_sha256=sha256_hex(raw), base_urls=tuple(base_urls))

    def _remember(self, data: bytes, record: tuple[str, ...]) -> None:
        """Keep a record for --offline. Best effort: this build has what it needs already."""
        try:
            self.cache.put_record(data, *record)
        except OSError as exc:
            log_cache_problem(self.cache.root, exc)

    def packages(self, release: Release, component: str, arch: str) -> bytes:
        """The uncompressed ``Packages`` index, checked against the Release's SHA256s.

        The uncompressed text is cached under its own digest (which Release also signs), so a
        warm build skips decompression."""
        stem = f"{component}/binary-{arch}/Packages"
        found = self._index(release, stem, f"{component}/binary-{arch}")
        if found is not None:
            return found
        if arch not in release.architectures:
            raise UsageError(
                f"architecture {arch!r} is not in {release.suite} (it has: "
                f"{' '.join(a for a in release.architectures if a != 'all')}); pick one of those"
            )
        raise IntegrityError(f"{release.suite}: Release lists no index {stem}")

    def sources(self, release: Release, component: str) -> bytes:
        """The uncompressed ``Sources`` index, checked as :meth:`packages` checks."""
        stem = f"{component}/source/Sources"
        found = self._index(release, stem, f"{component}/source")
        if found is None:
            raise IntegrityError(f"{release.suite}: Release lists no index {stem}")
        return found

    def _index(self, release: Release, stem: str, folder: str) -> bytes | None:
        """The index ``stem`` (compressed in any form the Release lists), decompressed and
        checked against the signed SHA256s; None when the Release lists none."""
        plain = release.files.get(stem)
        if plain is not None:
            cached = self.cache.get_blob(plain.sha256)
            if cached is not None:
                return cached
        for suffix in _INDEX_FORMATS:
            entry = release.files.get(stem + suffix)
            if entry is None:
                continue
            relative = stem + suffix
            if release.acquire_by_hash:
                relative = f"{folder}/by-hash/SHA256/{entry.sha256}"
            item = Download(
                urls=release.dist_urls(relative),
                sha256=entry.sha256,
                size=entry.size,
                label=f"{release.suite}/{stem}{suffix}",
            )
            component = stem.split("/")[0]
            raw = self.fetcher.fetch_many([item], what=f"index {release.suite}/{component}")[0]
            data = _decompress(raw, suffix, item.label)
            if plain is not None and sha256_hex(data) != plain.sha256:
                raise IntegrityError(
                    f"{item.label}: decompressed index does not match the signed SHA256; "
                    "the mirror is broken or tampered with, try another --mirror"
                )
            try:
                # The digest is the signed one just checked, when there is one: no second hash.
                self.cache.put_blob(data, plain.sha256 if plain is not None else None)
            except OSError as exc:
                # Only a later build's time is lost: this one has the index in memory.
                log_cache_problem(self.cache.root, exc)
                return data
            if suffix:
                # The compressed copy is no longer needed once the plain one is cached.
                self.cache.blob_path(entry.sha256).unlink(missing_ok=True)
            return data
        return None

    def _verified_text(self, raw: bytes, url: str) -> str:
        if self.insecure:
            log(f"WARNING: --insecure: NOT verifying the signature of {url}")
            return _strip_clearsign(raw).decode("utf-8", errors="replace")
        assert self._certs is not None
        return verify_inrelease(raw, self._certs, label=url).decode("utf-8", errors="replace")

    @staticmethod
    def _check_names(release: Release, suite: str, url: str) -> None:
        # A validly signed Release of another suite must not be accepted in place of this one.
        base = suite.split("-")[0]
        if release.codename and release.codename.split("-")[0] != base:
            raise IntegrityError(
                f"{url}: signed for codename {release.codename!r}, not {suite!r}; "
                "the mirror serves the wrong file"
            )

    def _check_valid_until(self, release: Release, url: str) -> None:
        if not release.valid_until:
            return
        until = parsedate_to_datetime(release.valid_until)
        if until >= datetime.now(UTC) or self.insecure:
            return
        if self.accept_expired:
            log(
                f"WARNING: --accept-expired-release: {url} expired on {release.valid_until}; "
                "taking it anyway (its signature verified)"
            )
            return
        raise IntegrityError(
            f"{url}: expired on {release.valid_until} (Valid-Until); the mirror is stale: use "
            "another --mirror, or --accept-expired-release for a snapshot archive"
        )


def _decompress(data: bytes, suffix: str, label: str) -> bytes:
    try:
        if suffix == ".xz":
            return lzma.decompress(data)
        if suffix == ".gz":
            return gzip.decompress(data)
        if suffix == ".bz2":
            return bz2.decompress(data)
        return data
    except (lzma.LZMAError, OSError, EOFError) as exc:
        raise IntegrityError(f"{label}: cannot decompress ({exc})") from exc


def _strip_clearsign(raw: bytes) -> bytes:
    """The text of a clearsigned message without checking it (``--insecure`` only)."""
    lines = raw.split(b"\n")
    try:
        start = lines.index(b"") + 1
        end = lines.index(b"-----BEGIN PGP SIGNATURE-----")
    except ValueError:
        return raw
    return b"\n".join(line[2:] if line.startswith(b"- ") else line for line in lines[start:end])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
