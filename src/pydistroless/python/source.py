"""Upstream CPython's release tarball, found and verified before anything is built from it.

Debian's ``python3.X`` source packages carry the unchanged upstream tarball as their
``python3.X_X.Y.Z.orig.tar.xz``, and the signed ``Sources`` index of sid and forky names its
SHA256 and size: a route to a verified upstream release that needs nothing but the Debian
archive and its keyring. ``--source-url`` with ``--source-sha256`` names any other copy (a
mirror, a local file); the digest is then the user's promise, and is checked all the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Sources

from pydistroless.context import Context
from pydistroless.debian.archive import Release
from pydistroless.errors import IntegrityError, PydistrolessError, UsageError
from pydistroless.fetch import Download, log

# The suites whose source packages carry the newest upstream CPython tarballs, newest first.
UPSTREAM_SUITES = ("sid", "forky")
VERSION = re.compile(r"3\.(\d{1,2})\.(\d{1,3})")
# An upstream tarball is about 22 MB; a file of another order is not one.
MAX_TARBALL = 128 * 1024 * 1024


@dataclass(frozen=True)
class Tarball:
    """A CPython release tarball: where it is, and what it must hash to."""

    version: str  # "3.13.15"
    urls: tuple[str, ...]
    sha256: str
    size: int | None
    origin: str  # "sid Sources (python3.13 3.13.15-1)", or "--source-url"

    @property
    def minor(self) -> str:
        return self.version.rsplit(".", 1)[0]

    @property
    def file_name(self) -> str:
        return f"Python-{self.version}.tar.xz"


def check_version(version: str) -> str:
    if not VERSION.fullmatch(version):
        raise UsageError(
            f"--python {version!r} is not a CPython release; use MAJOR.MINOR.PATCH, e.g. 3.13.15"
        )
    return version


def given_tarball(version: str, url: str, sha256: str) -> Tarball:
    """``--source-url`` and ``--source-sha256``: a copy the user vouches for by its digest."""
    check_version(version)
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise UsageError(
            f"--source-sha256 {sha256!r} is not a SHA256 digest (64 lowercase hex digits)"
        )
    if "://" not in url:
        url = Path(url).resolve().as_uri()
    return Tarball(version, (url,), sha256, None, "--source-url")


def debian_tarball(version: str, ctx: Context) -> Tarball:
    """The upstream tarball of ``version`` (``3.X.Y``, or ``3.X`` for its newest patch release)
    as the signed ``Sources`` of sid or forky lists it.

    An unknown version is one error naming the versions the archive does have."""
    if not re.fullmatch(r"3\.\d{1,2}", version):
        check_version(version)
    minor = ".".join(version.split(".")[:2])
    found: dict[str, Tarball] = {}
    failures: list[str] = []
    for suite, release, text in upstream_sources(ctx, failures):
        for paragraph in _python_sources(text, minor):
            for entry in paragraph.get("Checksums-Sha256", []):
                name = entry["name"]
                match = re.fullmatch(rf"python{re.escape(minor)}_(.+)\.orig\.tar\.xz", name)
                if match is None or match.group(1) in found:
                    continue
                label = f"{suite} Sources ({paragraph['Package']} {paragraph['Version']})"
                found[match.group(1)] = Tarball(
                    match.group(1),
                    tuple(f"{base}/{paragraph['Directory']}/{name}" for base in release.base_urls),
                    entry["sha256"],
                    int(entry["size"]),
                    label,
                )
        if version in found:  # an exact release: the first suite that has it will do
            return found[version]
    releases = sorted((v for v in found if VERSION.fullmatch(v)), key=_version_key)
    if version == minor and releases:
        return found[releases[-1]]
    if failures and not found:
        raise UsageError(
            f"cannot look up CPython {version}: {failures[0]}; or give the tarball with "
            "--source-url and --source-sha256"
        )
    have = ", ".join(releases) or "none"
    raise UsageError(
        f"CPython {version} is not in the Sources of {' or '.join(UPSTREAM_SUITES)} (they have "
        f"{minor}: {have}); pick one of those, or give the tarball with --source-url and "
        "--source-sha256"
    )


def upstream_sources(ctx: Context, failures: list[str]) -> Iterator[tuple[str, Release, bytes]]:
    """The ``Sources`` index of each of :data:`UPSTREAM_SUITES` the mirror serves, in order;
    why a suite could not be read (an expired Release, say) is appended to ``failures``."""
    for suite in UPSTREAM_SUITES:
        try:
            release = ctx.archive.release(ctx.mirrors.main, suite, required=False)
        except PydistrolessError as exc:
            failures.append(str(exc))
            continue
        if release is not None:
            yield suite, release, ctx.archive.sources(release, "main")


def fetch(tarball: Tarball, ctx: Context) -> Path:
    """The verified tarball in the cache (downloaded once; a copy whose SHA256 is not the
    signed one is never kept)."""
    log(f"CPython {tarball.version} from {tarball.origin}")
    item = Download(tarball.urls, tarball.sha256, tarball.size, tarball.file_name)
    if tarball.urls[0].startswith("file://"):
        return _local(tarball, ctx)
    return ctx.fetcher.fetch_path(item)


def _local(tarball: Tarball, ctx: Context) -> Path:
    path = Path(tarball.urls[0].removeprefix("file://"))
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UsageError(f"--source-url {path}: {exc.strerror}; name a CPython tarball") from None
    if size > MAX_TARBALL:
        raise IntegrityError(f"--source-url {path} is {size} bytes, not a CPython tarball")
    try:
        with path.open("rb") as stream, ctx.cache.blob_writer(tarball.sha256) as writer:
            while chunk := stream.read(1 << 20):
                writer.write(chunk)
    except IntegrityError:
        raise IntegrityError(
            f"--source-url {path} does not hash to --source-sha256 {tarball.sha256[:16]}…; "
            "nothing was kept (check the digest against the release's)"
        ) from None
    return ctx.cache.blob_path(tarball.sha256)


def _python_sources(text: bytes, minor: str):
    marker = f"Package: python{minor}\n".encode()
    for chunk in text.split(b"\n\n"):
        if chunk.startswith(marker) or b"\n" + marker in chunk:
            yield Sources(chunk.decode("utf-8", "replace"))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.~+]", version))
