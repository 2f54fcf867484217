"""Checking an upstream CPython tarball by its release manager's detached OpenPGP signature,
with throwaway keys standing in for the release managers'."""

from __future__ import annotations

from pathlib import Path

import pysequoia
import pytest

from pydistroless.core.errors import IntegrityError, UsageError
from pydistroless.python import source
from pydistroless.python.source import SIGNING_KEY, verify_signature
from tests.fixtures.archives import write_tar

TARBALL = b"Python-3.13.5/configure\n" * 1000


def _key(name: str) -> pysequoia.Tsk:
    return pysequoia.Tsk.generate(f"{name} <{name.lower()}@example.invalid>")


def _signature(key: pysequoia.Tsk, data: bytes) -> bytes:
    return pysequoia.sign(key.signer(), data, mode=pysequoia.SignatureMode.DETACHED)


def test_the_release_managers_signature_names_them():
    manager = _key("Manager")
    cert = manager.extract_certificate()
    signer = verify_signature(TARBALL, _signature(manager, TARBALL), [cert], label="x")
    assert signer == f"Manager <manager@example.invalid> ({cert.fingerprint.upper()})"


def test_a_changed_byte_is_a_bad_signature():
    manager = _key("Manager")
    signature = _signature(manager, TARBALL)
    changed = TARBALL[:-1] + b"!"
    with pytest.raises(IntegrityError, match=r"bad signature .*nothing was kept"):
        verify_signature(changed, signature, [manager.extract_certificate()], label="x")


def test_a_strangers_signature_is_refused_and_named():
    manager, stranger = _key("Manager"), _key("Stranger")
    signature = _signature(stranger, TARBALL)
    issuer = pysequoia.Sig.from_bytes(signature).issuer_fingerprint.upper()
    with pytest.raises(IntegrityError, match=f"made by key {issuer}, it does not verify"):
        verify_signature(TARBALL, signature, [manager.extract_certificate()], label="x")


def test_a_file_that_is_no_signature_says_so():
    cert = _key("Manager").extract_certificate()
    with pytest.raises(IntegrityError, match=r"not an OpenPGP signature.*--source-signature"):
        verify_signature(TARBALL, b"<html>404</html>", [cert], label="x")


def _debian_tarball(path: Path, members: dict[str, bytes]) -> Path:
    return write_tar(path, members, mode="w:xz")


def test_the_keys_come_from_the_debian_source_package(tmp_path: Path):
    certs = [_key(n).extract_certificate() for n in ("One", "Two")]
    armored = "".join(pysequoia.armor(bytes(c), pysequoia.ArmorKind.PublicKey) for c in certs)
    tarball = _debian_tarball(
        tmp_path / "python3.13_3.13.5-2.debian.tar.xz",
        {"debian/control": b"Source: python3.13\n", SIGNING_KEY: armored.encode()},
    )
    found = source._signing_key(tarball)
    assert sorted(c.fingerprint for c in found) == sorted(c.fingerprint for c in certs)


@pytest.mark.parametrize(
    "members",
    [{"debian/control": b"x"}, {SIGNING_KEY: b"not a key"}],
    ids=["no key file", "no certificate in it"],
)
def test_a_source_package_without_keys_gives_none(tmp_path: Path, members):
    assert source._signing_key(_debian_tarball(tmp_path / "p.debian.tar.xz", members)) == []


def test_python_org_releases_signed_with_sigstore_only_are_not_taken_unchecked():
    with pytest.raises(UsageError, match=r"Sigstore only.*--source-sha256"):
        source.python_org_tarball("3.14.10", "trixie", ctx=None)  # type: ignore[arg-type]
