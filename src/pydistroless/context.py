"""The I/O services the stages share: the cache, the downloader, the signed archive, the
mirrors, and the packages already read in this run."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from pydistroless.cache import Cache, default_cache_dir
from pydistroless.debian.archive import Archive
from pydistroless.debian.deb import DebPackage, read_deb
from pydistroless.debian.sources import Mirrors, choose_mirrors, split_login
from pydistroless.errors import PackageFormatError
from pydistroless.fetch import Download, Fetcher, cancel_on_sigint
from pydistroless.lock import LockedPackage
from pydistroless.spec import SourceOptions


@dataclass(frozen=True)
class Context:
    cache: Cache
    fetcher: Fetcher
    archive: Archive
    mirrors: Mirrors
    # Packages read in this run, by SHA256: planning and assembly both unpack them.
    _debs: dict[str, DebPackage] = field(default_factory=dict, repr=False, compare=False)
    _inflight: dict[str, Future[None]] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # Stdlib .pyc made in this run, shared by the architectures of one build.
    pyc_memo: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    # Compilations started early that fill pyc_memo; wait for them before compiling.
    pyc_pending: list[Future[None]] = field(default_factory=list, repr=False, compare=False)

    def pyc_ready(self) -> dict[str, bytes]:
        """The .pyc memo, once every compilation started early has finished."""
        while self.pyc_pending:
            self.pyc_pending.pop().result()
        return self.pyc_memo

    @classmethod
    def create(
        cls,
        sources: SourceOptions,
        *,
        progress: bool | None = None,
        config_mirrors: tuple[str, ...] = (),
        config_security_mirrors: tuple[str, ...] = (),
    ) -> Context:
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
