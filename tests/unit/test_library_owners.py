"""Which package ships a library: the signed Contents index, or the mirror's copy as hints;
and the libraries a package asked for by name keeps."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from pydistroless.core.cache import Cache
from pydistroless.core.fetch import Fetcher
from pydistroless.debian import contents
from pydistroless.debian.archive import IndexFile, Release
from pydistroless.debian.rootfs import unused_libraries
from pydistroless.fs.tree import Entry, Kind, Tree
from tests.unit.test_elf import lib, program

SIGNED = "usr/lib/x86_64-linux-gnu/libglib-2.0.so.0    libs/libglib2.0-0t64\n"
NEWER = SIGNED + "usr/lib/x86_64-linux-gnu/libnew.so.1    libs/libnew1\n"


def _release(tmp_path: Path, signed: bytes, served: bytes | None, by_hash: bool) -> Release:
    """A Release that signs ``signed`` as main/Contents-amd64.gz, on a file:// mirror that
    serves ``served`` under the plain name (and the signed file by hash, if ``by_hash``)."""
    digest = hashlib.sha256(signed).hexdigest()
    dists = tmp_path / "mirror" / "dists" / "trixie" / "main"
    (dists / "by-hash" / "SHA256").mkdir(parents=True)
    if served is not None:
        (dists / "Contents-amd64.gz").write_bytes(served)
    if by_hash:
        (dists / "by-hash" / "SHA256" / digest).write_bytes(signed)
    return Release(
        suite="trixie", codename="trixie", version="13", date="", valid_until="",
        architectures=("amd64",), components=("main",), acquire_by_hash=True,
        files={"main/Contents-amd64.gz": IndexFile(digest, len(signed))},
        base_urls=(f"file://{tmp_path / 'mirror'}",),
    )  # fmt: skip


def _owners(tmp_path: Path, release: Release, cache: Cache) -> contents.LibraryOwners:
    return contents.library_owners([release], "amd64", Fetcher(cache, progress=False), cache)


def test_the_signed_index_by_hash_is_verified(tmp_path: Path) -> None:
    signed = gzip.compress(SIGNED.encode())
    release = _release(tmp_path, signed, served=None, by_hash=True)
    owners = _owners(tmp_path, release, Cache(tmp_path / "cache"))
    assert owners.verified
    assert owners.packages == {"libglib-2.0.so.0": ["libglib2.0-0t64"]}


def test_the_plain_name_serves_when_the_mirror_has_no_by_hash_files(tmp_path: Path) -> None:
    signed = gzip.compress(SIGNED.encode())
    release = _release(tmp_path, signed, served=signed, by_hash=False)
    owners = _owners(tmp_path, release, Cache(tmp_path / "cache"))
    assert owners.verified and "libglib-2.0.so.0" in owners.packages


def test_a_copy_the_release_does_not_sign_gives_hints_only_and_is_cached(tmp_path: Path) -> None:
    signed = gzip.compress(SIGNED.encode())
    release = _release(tmp_path, signed, served=gzip.compress(NEWER.encode()), by_hash=False)
    cache = Cache(tmp_path / "cache")
    owners = _owners(tmp_path, release, cache)
    assert not owners.verified
    assert owners.packages["libnew.so.1"] == ["libnew1"]
    # Read once: the mirror may go away, the hints stay (still marked as hints).
    (tmp_path / "mirror" / "dists" / "trixie" / "main" / "Contents-amd64.gz").unlink()
    again = _owners(tmp_path, release, cache)
    assert again == owners


def test_a_package_asked_for_by_name_keeps_its_libraries() -> None:
    tree = Tree()
    libdir = "usr/lib/x86_64-linux-gnu"
    files = [
        (f"{libdir}/libc.so.6", lib("libc.so.6"), "libc6"),
        (f"{libdir}/libresolv.so.2", lib("libresolv.so.2", "libc.so.6"), "libc6"),
        (f"{libdir}/libpq.so.5", lib("libpq.so.5", "libresolv.so.2"), "libpq5"),
        ("usr/bin/python3", program("libc.so.6"), "python3"),
    ]
    for path, data, package in files:
        tree.add(Entry(path, Kind.FILE, 0o755, data=data, origin=package))
    unused = unused_libraries(tree, "amd64")
    assert unused == [f"{libdir}/libpq.so.5", f"{libdir}/libresolv.so.2"]
    # Asked for, libpq is kept, and with it what it loads.
    assert unused_libraries(tree, "amd64", asked=["libpq5"]) == []
