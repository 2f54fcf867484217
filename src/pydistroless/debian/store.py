"""Where Debian packages come from in a run: the cache, the downloader, the signed archive and
its mirrors, a suite's verified indexes, and the packages already read.

A :class:`Store` is made once per command and handed down; every stage that needs a package
asks it, so that one file is downloaded and read once however many stages want it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from pydistroless.core.cache import Cache, default_cache_dir
from pydistroless.core.errors import PackageFormatError, UsageError
from pydistroless.core.fetch import Download, Fetcher, cancel_on_sigint
from pydistroless.core.report import log
from pydistroless.debian.archive import Archive, Release
from pydistroless.debian.deb import DebPackage, read_deb
from pydistroless.debian.index import IndexText, LazyPackageIndex, PackageIndex, PackageRecord
from pydistroless.debian.sources import Mirrors, SourceOptions, choose_mirrors, split_login

COMPONENT = "main"


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    architecture: str
    filename: str  # pool path, relative to the mirror's base URL
    size: int
    sha256: str
    source: str
    source_version: str
    suite: str
    url: str  # where it was found, for the SBOM and for humans


@dataclass
class Store:
    cache: Cache
    fetcher: Fetcher
    archive: Archive
    mirrors: Mirrors
    # Packages read in this run, by SHA256: planning and assembly both unpack them.
    _debs: dict[str, DebPackage] = field(default_factory=dict, repr=False, compare=False)
    _inflight: dict[str, Future[None]] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def create(
        cls,
        sources: SourceOptions,
        *,
        progress: bool | None = None,
        config_mirrors: tuple[str, ...] = (),
        config_security_mirrors: tuple[str, ...] = (),
    ) -> Store:
        cache = Cache(sources.cache_dir or default_cache_dir())
        mirrors = choose_mirrors(
            flags_main=sources.mirrors,
            flags_security=sources.security_mirrors,
            config_main=config_mirrors,
            config_security=config_security_mirrors,
        )
        fetcher = Fetcher(
            cache, offline=sources.offline, progress=progress, credentials=mirrors.credentials
        )
        cancel_on_sigint(fetcher)
        archive = Archive(
            fetcher,
            cache,
            keyring=sources.keyrings,
            insecure=sources.insecure,
            accept_expired=sources.accept_expired,
        )
        return cls(cache, fetcher, archive, mirrors)

    def debs(self, packages: Sequence[LockedPackage]) -> list[DebPackage]:
        """Download (or take from the cache), verify and read these packages, in order.

        Safe to call from several threads: a package another call is already getting is
        waited for, not fetched twice. Packages are told apart by their SHA256, so one file
        listed under two names is downloaded and read once."""
        with self._lock:
            # One per digest, the first name wins (the name only labels messages).
            wanted: dict[str, LockedPackage] = {}
            for p in packages:
                wanted.setdefault(p.sha256, p)
            mine = [
                p
                for sha, p in wanted.items()
                if sha not in self._debs and sha not in self._inflight
            ]
            for p in mine:
                self._inflight[p.sha256] = Future()
            ours = {p.sha256 for p in mine}
            theirs = [
                self._inflight[sha] for sha in wanted if sha in self._inflight and sha not in ours
            ]
        try:
            self._get(mine)
        except BaseException as exc:
            for p in mine:
                if not self._inflight[p.sha256].done():
                    self._inflight[p.sha256].set_exception(exc)
            raise
        finally:
            with self._lock:
                for p in mine:
                    self._inflight.pop(p.sha256, None)
        for future in theirs:
            future.result()
        return [self._debs[p.sha256] for p in packages]

    def _get(self, packages: Sequence[LockedPackage]) -> None:
        items = [
            Download(
                # A lock written by an older version may hold a login in its URL: it is
                # neither sent nor shown, only the mirrors' own logins are.
                urls=(*(f"{m}/{p.filename}" for m in self._mirrors_for(p)), split_login(p.url)[0]),
                sha256=p.sha256,
                size=p.size,
                label=p.filename.rsplit("/", 1)[-1],
            )
            for p in packages
        ]
        blobs = self.fetcher.fetch_many(items, what="packages")
        # Decompression releases the GIL, so two threads use both cores.
        with ThreadPoolExecutor(2) as pool:
            for package, deb in zip(packages, pool.map(self._read, packages, blobs), strict=True):
                self._debs[package.sha256] = deb
                self._inflight[package.sha256].set_result(None)

    def _read(self, package: LockedPackage, data: bytes) -> DebPackage:
        try:
            return read_deb(data, name=package.name)
        except PackageFormatError:
            # Never keep bytes that failed to read: the next run fetches them afresh.
            self.cache.blob_path(package.sha256).unlink(missing_ok=True)
            raise

    def _mirrors_for(self, package: LockedPackage) -> tuple[str, ...]:
        if package.suite.endswith("-security"):
            return self.mirrors.security
        return self.mirrors.main


def load_releases(archive: Archive, mirrors: Mirrors, suite: str) -> list[Release]:
    """The verified Release files of the suite, its -updates and its -security, fetched at
    the same time (each is a round trip to a mirror)."""
    wanted = [(mirrors.main, suite, True), (mirrors.main, f"{suite}-updates", False)]
    if mirrors.security:
        wanted.append((mirrors.security, f"{suite}-security", False))
    else:
        log(
            "WARNING: no Debian security mirror configured (apt sources, "
            "--security-mirror): the image will lack security updates"
        )
    with ThreadPoolExecutor(len(wanted)) as pool:
        found = list(pool.map(lambda w: archive.release(w[0], w[1], required=w[2]), wanted))
    if mirrors.security and found[-1] is None:
        log(f"WARNING: no {suite}-security suite on {mirrors.security[0]}")
    return [r for r in found if r is not None]


def locked(record: PackageRecord) -> LockedPackage:
    """The lock's entry of a package the index lists."""
    return LockedPackage(
        name=record.name,
        version=record.version,
        architecture=record.architecture,
        filename=record.filename,
        size=record.size,
        sha256=record.sha256,
        source=record.source_name,
        source_version=record.source_version,
        suite=record.suite,
        url=record.urls[0],
    )


def load_index(archive: Archive, releases: list[Release], arch: str) -> PackageIndex:
    for release in releases:
        if arch not in release.architectures:
            raise UsageError(
                f"architecture {arch!r} is not in {release.suite} (it has: "
                f"{' '.join(a for a in release.architectures if a != 'all')}); pick one of those"
            )
    with ThreadPoolExecutor(len(releases)) as pool:
        texts = list(pool.map(lambda r: archive.packages(r, COMPONENT, arch), releases))
    return LazyPackageIndex(
        IndexText(text, r.suite, r.base_urls) for text, r in zip(texts, releases, strict=True)
    )
