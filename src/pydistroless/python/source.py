"""Upstream CPython's release tarball, found and verified before anything is built from it.

Debian's ``python3.X`` source packages carry the unchanged upstream tarball as their
``python3.X_X.Y.Z.orig.tar.xz``, and the signed ``Sources`` index of sid and forky names its
SHA256 and size: a route to a verified upstream release that needs nothing but the Debian
archive and its keyring. Upstream's own copy on python.org is taken when the archive lacks the
release, checked against the release manager's detached OpenPGP signature (``.asc``) with the
key that Debian's source package carries in ``debian/upstream/signing-key.asc``.
``--source-url`` names any other copy (a mirror, a local file), vouched for by
``--source-sha256`` or by ``--source-signature``.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pysequoia
from debian.deb822 import Sources

from pydistroless.core.cache import sha256_hex
from pydistroless.core.errors import IntegrityError, NetworkError, UsageError
from pydistroless.core.fetch import Download
from pydistroless.core.report import log
from pydistroless.debian import source_packages
from pydistroless.debian.archive import Release
from pydistroless.debian.store import Store

# The suites whose source packages carry the newest upstream CPython tarballs, newest first.
UPSTREAM_SUITES = ("sid", "forky")
VERSION = re.compile(r"3\.(\d{1,2})\.(\d{1,3})")
# An upstream tarball is about 22 MB; a file of another order is not one.
MAX_TARBALL = 128 * 1024 * 1024
MAX_SIGNATURE = 64 * 1024  # an armored detached signature is under 1 kB
MAX_SIGNING_KEY = 1024 * 1024
PYTHON_ORG = "https://www.python.org/ftp/python"
# Where Debian's python3.X source package keeps the release managers' keys (uscan checks the
# upstream tarball with them).
SIGNING_KEY = "debian/upstream/signing-key.asc"
# From 3.14 on, python.org signs releases with Sigstore only (PEP 761).
SIGSTORE_ONLY = (3, 14)


@dataclass(frozen=True)
class PythonSource:
    """The upstream CPython an image's Python is compiled from, instead of Debian's."""

    version: str  # "3.13.15"
    urls: tuple[str, ...]
    sha256: str
    size: int | None
    origin: str  # where the SHA256 came from: "sid Sources (python3.13 3.13.15-1)", ...
    optimize: bool  # built with --enable-optimizations --with-lto
    free_threaded: bool = False  # built with --disable-gil: python3.13t, ABI cp313t

    @property
    def abiflags(self) -> str:
        """``sys.abiflags`` of the build: ``t`` for a free-threaded one."""
        return "t" if self.free_threaded else ""

    @property
    def published_url(self) -> str | None:
        """Where anyone can download the tarball, for the image to name: the first of its
        URLs that is not a file on the machine that built it (a ``--source-url`` path says
        nothing to the image's users, and names a folder of the builder's)."""
        return next((url for url in self.urls if not url.startswith("file://")), None)


@dataclass(frozen=True)
class Tarball:
    """A CPython release tarball: where it is, and what it must hash to."""

    version: str  # "3.13.15"
    urls: tuple[str, ...]
    sha256: str
    size: int | None
    origin: str  # "sid Sources (python3.13 3.13.15-1)", or "--source-url"

    @classmethod
    def of(cls, source: PythonSource) -> Tarball:
        """The tarball a lock's ``python-source`` names."""
        return cls(source.version, source.urls, source.sha256, source.size, source.origin)

    def locked(self, *, optimize: bool, free_threaded: bool = False) -> PythonSource:
        """The lock's record of this tarball, built with or without PGO and LTO, and with
        or without the GIL."""
        return PythonSource(
            self.version,
            self.urls,
            self.sha256,
            self.size,
            self.origin,
            optimize=optimize,
            free_threaded=free_threaded,
        )

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
    return Tarball(version, (_as_url(url),), sha256, None, "--source-url")


def debian_tarball(version: str, ctx: Store) -> Tarball:
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
            "--source-url and --source-sha256 or --source-signature"
        )
    have = ", ".join(releases) or "none"
    raise UsageError(
        f"CPython {version} is not in the Sources of {' or '.join(UPSTREAM_SUITES)} (they have "
        f"{minor}: {have}); pick one of those, or give the tarball with --source-url and "
        "--source-sha256 or --source-signature"
    )


def python_org_tarball(version: str, suite: str, ctx: Store) -> Tarball:
    """Upstream's own tarball of ``version``, checked against its release manager's
    signature."""
    check_version(version)
    url = f"{PYTHON_ORG}/{version}/Python-{version}.tar.xz"
    if _version_key(version) >= SIGSTORE_ONLY:
        raise UsageError(
            f"python.org signs CPython {version} with Sigstore only, which pydistroless does "
            f"not check; give --source-url {url} with the --source-sha256 its release page lists"
        )
    return signed_tarball(version, url, url + ".asc", suite, ctx, origin="python.org")


def signed_tarball(
    version: str, url: str, signature_url: str, suite: str, ctx: Store, *, origin: str
) -> Tarball:
    """The tarball at ``url`` once its detached OpenPGP signature verifies against the keys of
    the release managers of ``version``'s minor, kept in the cache under its SHA256 (which a
    lock then pins). Verified once: the record of the check answers later runs, offline ones
    too."""
    check_version(version)
    url, signature_url = _as_url(url), _as_url(signature_url)
    # A local file is known by its size and time too: one replaced in place is checked anew.
    key = sha256_hex(
        json.dumps([version, *((u, _stamp(u)) for u in (url, signature_url))]).encode()
    )
    known = ctx.cache.get_checked_record(_parse_signed, "python-tarballs", key)
    if known is not None and ctx.cache.has_blob(known["sha256"]):
        return Tarball(version, (url,), known["sha256"], known["size"], known["origin"])
    signature = ctx.fetcher.get_upstream(signature_url, MAX_SIGNATURE, "OpenPGP signature")
    certs = signing_keys(version.rsplit(".", 1)[0], suite, ctx)
    log(f"CPython {version}: downloading {url}")
    data = ctx.fetcher.get_upstream(url, MAX_TARBALL, "CPython tarball")
    signer = verify_signature(data, signature, certs, label=f"CPython {version} ({url})")
    digest = ctx.cache.put_blob(data)
    found = Tarball(version, (url,), digest, len(data), f"{origin}, signed by {signer}")
    ctx.cache.put_checked_record(
        {"sha256": digest, "size": len(data), "origin": found.origin}, "python-tarballs", key
    )
    return found


def verify_signature(
    data: bytes, signature: bytes, certs: Sequence[pysequoia.Cert], *, label: str
) -> str:
    """Who signed ``data`` ("NAME <EMAIL> (FINGERPRINT)"), or IntegrityError."""
    try:
        sig = pysequoia.Sig.from_bytes(signature)
    except Exception as exc:
        raise IntegrityError(
            f"{label}: its signature file is not an OpenPGP signature ({_first_line(exc)}); "
            "check --source-signature"
        ) from None
    try:
        verified = pysequoia.verify(bytes=data, store=lambda _ids: list(certs), signature=sig)
    except Exception:
        verified = None
    if verified is None or not verified.valid_sigs:
        # Made by another key, or by theirs over other bytes: OpenPGP cannot tell which
        # from here, and either way these bytes are not the release.
        issuer = (sig.issuer_fingerprint or "unknown").upper()
        raise IntegrityError(
            f"{label}: bad signature (made by key {issuer}, it does not verify with the "
            "release managers' keys); the tarball or its signature is broken or tampered "
            "with, and nothing was kept"
        )
    fingerprint = verified.valid_sigs[0].certificate.lower()
    cert = next(c for c in certs if c.fingerprint.lower() == fingerprint)
    who = str(cert.user_ids[0]) if cert.user_ids else "?"
    return f"{who} ({fingerprint.upper()})"


def signing_keys(minor: str, suite: str, ctx: Store) -> list[pysequoia.Cert]:
    """The OpenPGP keys of CPython ``minor``'s release managers, from Debian's ``python3.X``
    source package (found in ``suite`` or :data:`UPSTREAM_SUITES`, fetched by the SHA256 of
    the signed ``Sources``): the archive's keyring vouches for them."""
    failures: list[str] = []
    suites = tuple(dict.fromkeys((suite, *UPSTREAM_SUITES)))
    for _suite, release, text in upstream_sources(ctx, failures, suites):
        for paragraph in _python_sources(text, minor):
            for entry in paragraph.get("Checksums-Sha256", []):
                if not entry["name"].endswith(".debian.tar.xz"):
                    continue
                where = f"{paragraph['Directory']}/{entry['name']}"
                item = Download(
                    tuple(f"{base}/{where}" for base in release.base_urls),
                    entry["sha256"],
                    int(entry["size"]),
                    entry["name"],
                )
                try:
                    certs = _signing_key(ctx.fetcher.fetch_path(item))
                except NetworkError as exc:
                    failures.append(str(exc))
                    continue
                if certs:
                    return certs
    why = f" ({failures[0]})" if failures else ""
    raise UsageError(
        f"no Debian python{minor} source package in {', '.join(suites)} carries the release "
        f"managers' keys ({SIGNING_KEY}){why}; vouch for the tarball with --source-sha256 "
        "instead"
    )


def upstream_sources(
    ctx: Store, failures: list[str], suites: Sequence[str] = UPSTREAM_SUITES
) -> Iterator[tuple[str, Release, bytes]]:
    """The signed ``Sources`` index of each of ``suites`` the mirror serves, in order; why a
    suite could not be read (an expired Release, say) is appended to ``failures``."""
    return source_packages.suite_sources(ctx, suites, failures)


def fetch(tarball: Tarball, ctx: Store) -> Path:
    """The verified tarball in the cache (downloaded once; a copy whose SHA256 is not the
    signed one is never kept)."""
    log(f"CPython {tarball.version} from {tarball.origin}")
    cached = ctx.cache.checked_blob_path(tarball.sha256)
    if cached is not None:
        return cached
    item = Download(tarball.urls, tarball.sha256, tarball.size, tarball.file_name)
    if tarball.urls[0].startswith("file://"):
        return _local(tarball, ctx)
    return ctx.fetcher.fetch_path(item)


def _local(tarball: Tarball, ctx: Store) -> Path:
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


def _python_sources(text: bytes, minor: str) -> Iterator[Sources]:
    name = f"python{minor}"
    for paragraph in source_packages.paragraphs(text, "Package", name):
        if paragraph.get("Package") == name:
            yield paragraph


def _signing_key(debian_tarball: Path) -> list[pysequoia.Cert]:
    """The certificates in ``debian/upstream/signing-key.asc`` of a ``.debian.tar.xz``."""
    try:
        with tarfile.open(debian_tarball, "r:xz") as archive:
            member = archive.getmember(SIGNING_KEY)
            if not member.isfile() or member.size > MAX_SIGNING_KEY:
                return []
            stream = archive.extractfile(member)
            data = stream.read() if stream is not None else b""
    except (KeyError, tarfile.TarError, OSError, EOFError):
        return []
    try:
        return pysequoia.Cert.split_bytes(data)
    except Exception:
        return []


def _parse_signed(body: Any) -> dict[str, Any]:
    if not (
        isinstance(body, dict)
        and re.fullmatch(r"[0-9a-f]{64}", str(body.get("sha256")))
        and isinstance(body.get("size"), int)
        and isinstance(body.get("origin"), str)
    ):
        raise ValueError("not a record of a signed tarball")
    return body


def _stamp(url: str) -> list[int] | None:
    if not url.startswith("file://"):
        return None
    try:
        info = Path(url.removeprefix("file://")).stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def _as_url(location: str) -> str:
    return location if "://" in location else Path(location).resolve().as_uri()


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.~+]", version))
