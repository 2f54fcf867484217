"""The signed chain InRelease -> Packages, on tiny repositories signed with throwaway keys."""

from __future__ import annotations

import gzip
import lzma

import pytest

from pydistroless.core.cache import Cache, sha256_hex
from pydistroless.core.errors import CacheMissError, ConfigError, IntegrityError, UsageError
from pydistroless.core.fetch import Fetcher
from pydistroless.debian.archive import Archive, load_keyring, parse_release, verify_inrelease
from tests.fixtures import debs
from tests.fixtures.repo import RepoPackage, SigningKey, build_repo, release_text

RELEASE = f"""\
Origin: Debian
Label: Debian
Suite: stable
Version: 13.2
Codename: trixie
Changelogs: https://metadata.example.invalid/changelogs/@CHANGEPATH@_changelog
Date: Sat, 15 Nov 2025 10:00:00 UTC
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: all amd64 arm64
Components: main contrib
Description: Debian 13.2 Released 15 November 2025
MD5Sum:
 0123456789abcdef0123456789abcdef   123 main/binary-amd64/Packages
SHA256:
 {"1" * 64} 45678901 main/binary-amd64/Packages
 {"2" * 64}  9876543 main/binary-amd64/Packages.xz
 {"3" * 64}      120 main/i18n/Translation-en.bz2
"""


# ---- Release text ---------------------------------------------------------------------------


def test_parse_release():
    release = parse_release(RELEASE, suite="trixie")
    assert release.suite == "trixie"
    assert (release.codename, release.version) == ("trixie", "13.2")
    assert release.date == "Sat, 15 Nov 2025 10:00:00 UTC"
    assert release.valid_until == ""
    assert release.architectures == ("all", "amd64", "arm64")
    assert release.components == ("main", "contrib")
    assert release.acquire_by_hash is True
    assert set(release.files) == {
        "main/binary-amd64/Packages",
        "main/binary-amd64/Packages.xz",
        "main/i18n/Translation-en.bz2",
    }
    xz = release.files["main/binary-amd64/Packages.xz"]
    assert (xz.sha256, xz.size) == ("2" * 64, 9876543)


def test_md5_lines_are_not_taken_as_checksums():
    text = RELEASE.split("SHA256:")[0]
    with pytest.raises(IntegrityError, match="no SHA256"):
        parse_release(text, suite="trixie")


def test_release_dist_urls():
    release = parse_release(RELEASE, suite="trixie-security")
    from dataclasses import replace

    release = replace(release, base_urls=("http://a.example.invalid/d", "file:///srv/d"))
    assert release.dist_urls("main/binary-amd64/Packages.xz") == (
        "http://a.example.invalid/d/dists/trixie-security/main/binary-amd64/Packages.xz",
        "file:///srv/d/dists/trixie-security/main/binary-amd64/Packages.xz",
    )


# ---- signatures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return SigningKey.generate("someone else <else@example.invalid>")


def test_verify_good_signature(key):
    signed = key.clearsign(RELEASE.encode())
    assert verify_inrelease(signed, [key.cert], label="InRelease").decode() == RELEASE


def test_verify_tampered_text(key):
    signed = key.clearsign(RELEASE.encode())
    tampered = signed.replace(b"Version: 13.2", b"Version: 13.3")
    assert tampered != signed
    with pytest.raises(IntegrityError, match="InRelease") as info:
        verify_inrelease(tampered, [key.cert], label="InRelease")
    assert info.value.exit_code == 4


def test_verify_tampered_checksum_line(key):
    signed = key.clearsign(RELEASE.encode())
    tampered = signed.replace(b" 2222222222", b" 2222222223", 1)
    with pytest.raises(IntegrityError):
        verify_inrelease(tampered, [key.cert], label="InRelease")


def test_verify_wrong_key(key, other_key):
    signed = key.clearsign(RELEASE.encode())
    with pytest.raises(IntegrityError):
        verify_inrelease(signed, [other_key.cert], label="InRelease")


def test_verify_unsigned_text(key):
    with pytest.raises(IntegrityError):
        verify_inrelease(RELEASE.encode(), [key.cert], label="InRelease")


def test_text_outside_the_signature_is_not_returned(key):
    signed = key.clearsign(RELEASE.encode())
    smuggled = b"SHA256:\n " + b"6" * 64 + b" 1 main/binary-amd64/Packages.gz\n"
    text = verify_inrelease(smuggled + signed + smuggled, [key.cert], label="InRelease")
    assert b"6" * 64 not in text
    assert text.decode() == RELEASE


def test_load_keyring(tmp_path, key, other_key):
    ring = tmp_path / "ring.pgp"
    ring.write_bytes(key.public_bytes() + other_key.public_bytes())
    assert {c.fingerprint for c in load_keyring([ring])} == {
        key.cert.fingerprint,
        other_key.cert.fingerprint,
    }
    armored = tmp_path / "ring.asc"
    armored.write_text(str(key.cert))
    assert [c.fingerprint for c in load_keyring([armored])] == [key.cert.fingerprint]


def test_load_keyring_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read keyring"):
        load_keyring([tmp_path / "missing.pgp"])
    junk = tmp_path / "junk.pgp"
    junk.write_bytes(b"this is not OpenPGP")
    with pytest.raises(ConfigError, match="holds no OpenPGP certificates"):
        load_keyring([junk])


# ---- the chain, through a tiny repository ----------------------------------------------------


def tiny_packages() -> list[RepoPackage]:
    return [
        RepoPackage("hello", "2.10-3", debs.simple_deb("hello", "2.10-3"), depends="libc6"),
        RepoPackage("libc6", "2.41-12", debs.simple_deb("libc6", "2.41-12")),
    ]


def archive(tmp_path, keyring, *, offline=False, insecure=False) -> Archive:
    cache = Cache(tmp_path / "cache")
    fetcher = Fetcher(cache, offline=offline, progress=False)
    return Archive(fetcher, cache, keyring=[keyring], insecure=insecure)


@pytest.mark.parametrize("formats", [("xz", "gz", ""), ("gz",), ("",), ("xz",)])
def test_release_and_packages_from_a_signed_repository(tmp_path, formats):
    repo = build_repo(tmp_path / "repo", tiny_packages(), index_formats=formats)
    arc = archive(tmp_path, repo.keyring)
    release = arc.release([repo.url], repo.suite)
    assert release.codename == "pdltest"
    assert release.version == "99.1"
    assert release.base_urls == (repo.url,)
    assert release.inrelease_sha256 == sha256_hex(repo.inrelease())
    text = arc.packages(release, "main", repo.arch)
    assert b"Package: hello\n" in text and b"Package: libc6\n" in text
    # A second read comes from the cache, even with the repository gone.
    for path in (repo.dist / "main").rglob("Packages*"):
        path.unlink()
    if "" in formats:
        assert arc.packages(release, "main", repo.arch) == text


def test_acquire_by_hash(tmp_path):
    repo = build_repo(tmp_path / "repo", tiny_packages(), acquire_by_hash=True)
    for name in ("Packages", "Packages.gz", "Packages.xz"):
        (repo.dist / "main" / f"binary-{repo.arch}" / name).unlink()  # only by-hash is left
    arc = archive(tmp_path, repo.keyring)
    release = arc.release([repo.url], repo.suite)
    assert release.acquire_by_hash
    assert b"Package: hello" in arc.packages(release, "main", repo.arch)


def test_index_tampered_after_signing(tmp_path):
    repo = build_repo(tmp_path / "repo", tiny_packages(), index_formats=("xz",))
    index = repo.dist / "main" / f"binary-{repo.arch}" / "Packages.xz"
    plain = lzma.decompress(index.read_bytes()).replace(b"Depends: libc6", b"Depends: evil0")
    index.write_bytes(lzma.compress(plain))
    arc = archive(tmp_path, repo.keyring)
    release = arc.release([repo.url], repo.suite)
    with pytest.raises(IntegrityError, match=r"Packages\.xz") as info:
        arc.packages(release, "main", repo.arch)
    assert info.value.exit_code == 4
    assert not any((tmp_path / "cache" / "blobs" / "sha256").iterdir())


def test_index_that_does_not_decompress_to_the_signed_plain_digest(tmp_path):
    repo = build_repo(tmp_path / "repo", tiny_packages(), index_formats=("gz", ""))
    # Re-sign a Release whose Packages.gz is a different (but validly signed) index.
    index_dir = repo.dist / "main" / f"binary-{repo.arch}"
    other = gzip.compress(b"Package: other\nVersion: 1\nFilename: x\n", mtime=0)
    (index_dir / "Packages.gz").write_bytes(other)
    repo.resign(
        release_text(
            suite=repo.suite,
            codename=repo.suite,
            version="99.1",
            date="Sat, 10 Jan 2026 10:00:00 UTC",
            architectures=("all", repo.arch),
            files={
                f"main/binary-{repo.arch}/Packages.gz": other,
                f"main/binary-{repo.arch}/Packages": (index_dir / "Packages").read_bytes(),
            },
        )
    )
    arc = archive(tmp_path, repo.keyring)
    release = arc.release([repo.url], repo.suite)
    with pytest.raises(IntegrityError, match="does not match the signed SHA256"):
        arc.packages(release, "main", repo.arch)


def test_inrelease_tampered(tmp_path):
    repo = build_repo(tmp_path / "repo", tiny_packages())
    path = repo.dist / "InRelease"
    path.write_bytes(path.read_bytes().replace(b"Version: 99.1", b"Version: 99.2"))
    with pytest.raises(IntegrityError, match="signature"):
        archive(tmp_path, repo.keyring).release([repo.url], repo.suite)


def test_inrelease_signed_by_another_key(tmp_path, other_key):
    repo = build_repo(tmp_path / "repo", tiny_packages())
    wrong = other_key.write_public(tmp_path / "other.pgp")
    with pytest.raises(IntegrityError):
        archive(tmp_path, wrong).release([repo.url], repo.suite)


def test_validly_signed_release_of_another_suite_is_refused(tmp_path):
    repo = build_repo(tmp_path / "repo", tiny_packages(), codename="othersuite")
    with pytest.raises(IntegrityError, match="othersuite"):
        archive(tmp_path, repo.keyring).release([repo.url], repo.suite)


def test_suite_updates_shares_the_codename(tmp_path):
    repo = build_repo(
        tmp_path / "repo", tiny_packages(), suite="pdltest-updates", codename="pdltest-updates"
    )
    release = archive(tmp_path, repo.keyring).release([repo.url], "pdltest-updates")
    assert release.suite == "pdltest-updates"


def test_expired_release_is_refused(tmp_path):
    repo = build_repo(
        tmp_path / "repo", tiny_packages(), valid_until="Thu, 01 Jan 2015 00:00:00 UTC"
    )
    with pytest.raises(IntegrityError, match="Valid-Until"):
        archive(tmp_path, repo.keyring).release([repo.url], repo.suite)


def test_insecure_skips_signature_and_expiry(tmp_path, other_key):
    repo = build_repo(
        tmp_path / "repo", tiny_packages(), valid_until="Thu, 01 Jan 2015 00:00:00 UTC"
    )
    wrong = other_key.write_public(tmp_path / "other.pgp")
    release = archive(tmp_path, wrong, insecure=True).release([repo.url], repo.suite)
    assert release.codename == "pdltest"
    assert f"main/binary-{repo.arch}/Packages.xz" in release.files


def test_missing_suite(tmp_path):
    repo = build_repo(tmp_path / "repo", tiny_packages())
    arc = archive(tmp_path, repo.keyring)
    with pytest.raises(UsageError, match="'nosuchsuite' does not exist"):
        arc.release([repo.url], "nosuchsuite")
    assert arc.release([repo.url], "pdltest-security", required=False) is None


def test_architecture_not_in_the_release(tmp_path):
    repo = build_repo(tmp_path / "repo", tiny_packages(), arch="amd64")
    arc = archive(tmp_path, repo.keyring)
    release = arc.release([repo.url], repo.suite)
    with pytest.raises(UsageError, match="architecture 's390x'"):
        arc.packages(release, "main", "s390x")


def test_offline_uses_the_last_verified_copy(tmp_path):
    repo = build_repo(tmp_path / "repo", tiny_packages())
    online = archive(tmp_path, repo.keyring)
    release = online.release([repo.url], repo.suite)
    text = online.packages(release, "main", repo.arch)
    offline = archive(tmp_path, repo.keyring, offline=True)
    again = offline.release([repo.url], repo.suite)
    assert again.inrelease_sha256 == release.inrelease_sha256
    assert offline.packages(again, "main", repo.arch) == text


def test_offline_with_an_empty_cache_names_what_is_missing(tmp_path):
    repo = build_repo(tmp_path / "repo", tiny_packages(), index_formats=("xz",))
    with pytest.raises(CacheMissError, match="InRelease for pdltest") as info:
        archive(tmp_path, repo.keyring, offline=True).release([repo.url], repo.suite)
    assert info.value.exit_code == 5
    release = archive(tmp_path / "online", repo.keyring).release([repo.url], repo.suite)
    with pytest.raises(CacheMissError, match=r"Packages\.xz"):
        archive(tmp_path, repo.keyring, offline=True).packages(release, "main", repo.arch)


@pytest.mark.parametrize("what", ["put_record", "put_blob"])
def test_a_cache_that_cannot_keep_the_indexes_is_a_note(tmp_path, monkeypatch, capsys, what):
    """The verified InRelease and the plain index are in memory already: a full cache costs
    the next build their download, and this one nothing but a note."""
    import errno

    repo = build_repo(tmp_path / "repo", tiny_packages())
    arc = archive(tmp_path, repo.keyring)

    def full(*_args, **_kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    release = arc.release([repo.url], repo.suite) if what == "put_blob" else None
    monkeypatch.setattr(Cache, what, full)  # frozen: patched on the class
    if release is None:
        assert arc.release([repo.url], repo.suite).suite == repo.suite
    else:
        assert b"Package: " in arc.packages(release, "main", repo.arch)
    err = capsys.readouterr().err
    assert "could not store into the cache" in err and "No space left on device" in err
    assert str(tmp_path / "cache") in err and "--cache-dir" in err


def test_an_optional_suite_the_mirror_lacks_is_absent_offline_too(tmp_path):
    repo = build_repo(tmp_path / "repo", tiny_packages())
    online = archive(tmp_path, repo.keyring)
    assert online.release([repo.url], f"{repo.suite}-updates", required=False) is None
    offline = archive(tmp_path, repo.keyring, offline=True)
    assert offline.release([repo.url], f"{repo.suite}-updates", required=False) is None
    # Never asked for online: offline cannot know, and says what to do.
    with pytest.raises(CacheMissError, match="no cached InRelease for pdltest-backports"):
        offline.release([repo.url], f"{repo.suite}-backports", required=False)


def test_a_damaged_cached_inrelease_is_a_cache_miss_offline(tmp_path):
    repo = build_repo(tmp_path / "repo", tiny_packages())
    archive(tmp_path, repo.keyring).release([repo.url], repo.suite)
    (record,) = (tmp_path / "cache" / "records" / "inrelease").rglob(repo.suite)
    record.write_bytes(record.read_bytes()[:200])
    offline = archive(tmp_path, repo.keyring, offline=True)
    with pytest.raises(CacheMissError, match=r"no longer verifies.*without --offline"):
        offline.release([repo.url], repo.suite)
    assert not record.exists()
