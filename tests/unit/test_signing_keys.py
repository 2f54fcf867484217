"""cosign's key files and signed documents, without a registry: the encrypted private key
(scrypt + secretbox over PKCS#8) round trip, the older label, plain PKCS#8 and SEC1 keys,
every refusal in one line; DSSE's PAE and envelopes; the simple-signing claim; ``keygen``.

What the real cosign makes and reads is checked in ``tests/e2e/test_signatures.py``.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pydistroless.core import keys, signing
from pydistroless.core.digest import Digest
from pydistroless.core.errors import KeyFileError, SignatureError

DIGEST = Digest.of(b"an image manifest")
OTHER = Digest.of(b"another image manifest")


def no_password() -> bytes:
    raise AssertionError("a plain key must not ask for a password")


def test_an_encrypted_key_round_trips_and_signs() -> None:
    key = keys.generate()
    pem = keys.encrypt(key, b"correct horse")
    assert pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in pem.splitlines())
    body = json.loads(base64.b64decode(b"".join(pem.splitlines()[1:-1])))
    # go-securesystemslib's document, with the standard scrypt parameters cosign uses
    assert body["kdf"]["name"] == "scrypt"
    assert body["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert len(base64.b64decode(body["kdf"]["salt"])) == 32
    assert body["cipher"] == {"name": "nacl/secretbox", "nonce": body["cipher"]["nonce"]}
    assert len(base64.b64decode(body["cipher"]["nonce"])) == 24
    read = keys.read_private(pem, lambda: b"correct horse", where="k")
    assert read.public == key.public
    signature = read.sign(b"payload")
    assert key.public.verifies(signature, b"payload")
    assert not key.public.verifies(signature, b"payload!")
    public = keys.read_public(key.public.pem(), where="pub")
    assert public == key.public
    assert key.public.pem().startswith(b"-----BEGIN PUBLIC KEY-----\n")


def test_the_older_cosign_label_and_an_empty_password_are_read() -> None:
    key = keys.generate()
    pem = keys.encrypt(key, b"").replace(b"SIGSTORE", b"COSIGN")
    assert pem.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    assert keys.read_private(pem, lambda: b"", where="k").public == key.public


@pytest.mark.parametrize(
    ("fmt", "label"),
    [
        (serialization.PrivateFormat.PKCS8, b"-----BEGIN PRIVATE KEY-----"),
        (serialization.PrivateFormat.TraditionalOpenSSL, b"-----BEGIN EC PRIVATE KEY-----"),
    ],
)
def test_plain_pkcs8_and_sec1_keys_need_no_password(fmt, label: bytes) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    assert pem.startswith(label)
    read = keys.read_private(pem, no_password, where="k")
    assert read.public.der == keys.PublicKey(key.public_key()).der


def one_line(exc: pytest.ExceptionInfo[Exception]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_a_wrong_password_is_one_line_that_names_the_file() -> None:
    pem = keys.encrypt(keys.generate(), b"right")
    with pytest.raises(KeyFileError) as exc:
        keys.read_private(pem, lambda: b"wrong", where="--sign-key ci.key")
    assert one_line(exc) == (
        "--sign-key ci.key: the password does not open this key; give the one it was made "
        "with (COSIGN_PASSWORD or the prompt)"
    )
    assert exc.value.exit_code == 2


def test_the_key_never_shows_in_its_repr() -> None:
    key = keys.generate()
    scalar = key.key.private_numbers().private_value
    for shown in (repr(key), str(key), repr([key])):
        assert str(scalar) not in shown and format(scalar, "x") not in shown
        assert "SigningKey(P-256, public " in shown


def encrypted_with(document: dict) -> bytes:
    body = base64.b64encode(json.dumps(document).encode()).decode()
    label = "ENCRYPTED SIGSTORE PRIVATE KEY"
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


def test_malformed_and_foreign_key_files_are_one_line_each() -> None:
    key = keys.generate()
    good = json.loads(base64.b64decode(b"".join(keys.encrypt(key, b"p").splitlines()[1:-1])))
    weak = {**good, "kdf": {**good["kdf"], "params": {"N": 1024, "r": 8, "p": 1}}}
    other_cipher = {**good, "cipher": {**good["cipher"], "name": "aes-gcm"}}
    p384 = ec.generate_private_key(ec.SECP384R1())
    cases = [
        (b"not a key at all", "is not a PEM key file"),
        (b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n", "not valid base64"),
        (encrypted_with({"kdf": 1}), "not the JSON cosign writes"),
        (encrypted_with(weak), "scrypt parameters N=1024 r=8 p=1 are not cosign's"),
        (encrypted_with(other_cipher), "not scrypt/secretbox"),
        (key.public.pem(), "is a public key; signing needs the private key"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "'CERTIFICATE'"),
        (
            p384.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "is not an ECDSA P-256 key",
        ),
    ]
    for data, needle in cases:
        with pytest.raises(KeyFileError) as exc:
            keys.read_private(data, lambda: b"p", where="k.key")
        assert needle in one_line(exc), (data[:40], str(exc.value))


def test_a_private_key_given_to_verify_is_refused() -> None:
    pem = keys.encrypt(keys.generate(), b"p")
    with pytest.raises(KeyFileError) as exc:
        keys.read_public(pem, where="--verify-key cosign.key")
    assert one_line(exc) == (
        "--verify-key cosign.key is a private key; verifying takes the public one (cosign.pub)"
    )


def test_a_missing_or_huge_key_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError) as exc:
        keys.read_key_file(tmp_path / "absent.key", "--sign-key")
    assert "No such file" in one_line(exc)
    big = tmp_path / "big.key"
    big.write_bytes(b"x" * (65 << 10))
    with pytest.raises(KeyFileError) as exc:
        keys.read_key_file(big, "--sign-key")
    assert "is larger than" in one_line(exc)


# ---- signed documents -------------------------------------------------------------------


def test_pae_is_dsse_s_encoding() -> None:
    # the example of the DSSE specification's protocol document
    assert (
        signing.pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_an_envelope_opens_with_its_key_only_and_not_when_tampered() -> None:
    key, other = keys.generate(), keys.generate()
    statement = signing.statement(DIGEST, "https://example.com/p/v1", {"a": 1}, name="r/x")
    document = signing.envelope(statement, key)
    assert document["payloadType"] == "application/vnd.in-toto+json"
    assert signing.open_envelope(document, key.public, "e") == (signing.IN_TOTO, statement)
    with pytest.raises(SignatureError, match="no signature in it verifies"):
        signing.open_envelope(document, other.public, "e")
    tampered = {**document, "payload": base64.b64encode(statement + b" ").decode()}
    with pytest.raises(SignatureError, match="no signature in it verifies"):
        signing.open_envelope(tampered, key.public, "e")
    # the type is signed too: the same payload under another type does not verify
    retyped = {**document, "payloadType": "application/json"}
    with pytest.raises(SignatureError):
        signing.open_envelope(retyped, key.public, "e")
    read = signing.read_statement(statement, "s")
    assert read.predicate_type == "https://example.com/p/v1"
    assert read.about(DIGEST) and not read.about(OTHER)


def test_the_simple_signing_claim_is_cosign_s() -> None:
    payload = signing.simple_signing_payload("127.0.0.1:5000/app", DIGEST)
    assert json.loads(payload) == {
        "critical": {
            "identity": {"docker-reference": "127.0.0.1:5000/app"},
            "image": {"docker-manifest-digest": str(DIGEST)},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    assert signing.signed_digest(payload, "p") == DIGEST
    with pytest.raises(SignatureError, match="not a cosign claim"):
        signing.signed_digest(b'{"critical": {}}', "p")


def test_a_bundle_carries_the_envelope_and_the_key_hint() -> None:
    key = keys.generate()
    document = signing.envelope(signing.statement(DIGEST, signing.COSIGN_SIGN_PREDICATE, {}), key)
    data = signing.bundle(document, key.public)
    parsed = json.loads(data)
    assert parsed["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert parsed["verificationMaterial"] == {"publicKey": {"hint": key.public.hint}}
    assert signing.bundle_envelope(data, "b") == document


# ---- keygen -----------------------------------------------------------------------------


def keygen(folder: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pydistroless.cli.main", "keygen", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        env=full,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def test_keygen_writes_a_pair_once_and_says_nothing_secret(tmp_path: Path) -> None:
    secret = "keygen-secret-7a1"
    done = keygen(tmp_path, env={"COSIGN_PASSWORD": secret})
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == "wrote cosign.key (private, encrypted) and cosign.pub\n"
    private, public = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = keys.read_private(private.read_bytes(), lambda: secret.encode(), where="k")
    assert keys.read_public(public.read_bytes(), where="p") == key.public
    before = private.read_bytes()
    again = keygen(tmp_path, env={"COSIGN_PASSWORD": "other"})
    assert again.returncode == 2
    assert again.stderr == (
        "pydistroless: error: cosign.key already exists; move it away or give --output-prefix\n"
    )
    assert private.read_bytes() == before
    prefixed = keygen(tmp_path, "--output-prefix", "ci/release", env={"COSIGN_PASSWORD": "x"})
    assert prefixed.returncode == 2
    assert "ci/release.key: its folder does not exist" in prefixed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cosign.key", "cosign.pub"]


def test_keygen_without_a_password_or_a_terminal_is_one_line(tmp_path: Path) -> None:
    done = keygen(tmp_path, env={})
    assert done.returncode == 2
    assert done.stderr == (
        "pydistroless: error: the key's password is needed and there is no terminal to ask it "
        "on; set COSIGN_PASSWORD\n"
    )
    assert list(tmp_path.iterdir()) == []


# ---- the options, refused before anything is built -------------------------------------


def cli(*args: str | Path, cwd: Path, env: dict[str, str] | None = None):
    full = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pydistroless.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def error_of(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    [line] = result.stderr.splitlines()
    return line


def test_key_options_are_checked_before_any_work(tmp_path: Path) -> None:
    key = tmp_path / "ci.key"
    key.write_bytes(keys.encrypt(keys.generate(), b"pw"))
    (tmp_path / "ci.pub").write_bytes(
        keys.read_private(key.read_bytes(), lambda: b"pw", where="k").public.pem()
    )
    (tmp_path / "main.py").write_text("print('hi')\n")
    cases = [
        (
            ("build", "--sign-key", key),
            "pydistroless: error: --sign-key signs what --push pushes; add --push REGISTRY/REPO",
        ),
        (
            ("build", "--push", "127.0.0.1:1/x:1", "--sign-key", tmp_path / "absent.key"),
            f"pydistroless: error: --sign-key {tmp_path / 'absent.key'}: No such file or directory",
        ),
        (
            ("push", "x.tar", "127.0.0.1:1/x:1", "--attestations", "x.intoto.jsonl"),
            "pydistroless: error: --attestations are signed when attached; add --sign-key FILE",
        ),
        (
            ("pull", "127.0.0.1:1/x:1", "-o", "x.tar", "--verify-key", key),
            f"pydistroless: error: --verify-key {key} is a private key; verifying takes the "
            "public one (cosign.pub)",
        ),
        (
            ("app", ".", "--verify-key", tmp_path / "ci.pub"),
            "pydistroless: error: --verify-key checks a base image on a registry; give --base "
            "REGISTRY/REPO:TAG (a tar, a layout or the base pydistroless builds carries no "
            "signature)",
        ),
        (
            ("sign", "local.tar", "--key", key),
            "pydistroless: error: local.tar is not an image on a registry; signatures live "
            "beside a pushed image (push it with --sign-key, then verify it there)",
        ),
        (
            ("verify", "docker-daemon:app:1", "--key", tmp_path / "ci.pub"),
            "pydistroless: error: docker-daemon:app:1 is not an image on a registry; signatures "
            "live beside a pushed image (push it with --sign-key, then verify it there)",
        ),
        (
            ("verify", "127.0.0.1:1/x:1", "--key", tmp_path / "ci.pub", "--attestation", "nope"),
            None,  # the predicate type names are the provenance's: one line, exit 2
        ),
    ]
    for args, expected in cases:
        line = error_of(cli(*args, cwd=tmp_path, env={"COSIGN_PASSWORD": "pw"}), 2)
        if expected is not None:
            assert line == expected, args
        assert line.startswith("pydistroless: error: "), args
    wrong = cli("build", "--push", "127.0.0.1:1/x:1", "--sign-key", key, cwd=tmp_path,
                env={"COSIGN_PASSWORD": "not it"})  # fmt: skip
    assert "the password does not open this key" in error_of(wrong, 2)


def test_the_config_file_names_a_signing_key_beside_it(tmp_path: Path) -> None:
    from pydistroless.core.errors import ConfigError
    from pydistroless.recipes import config
    from pydistroless.recipes.spec import ImageSpec

    path = tmp_path / "pydistroless.toml"
    parsed = config.parse({"sign-key": "keys/cosign.key"}, path=path, base=ImageSpec())
    assert parsed.sign_key == tmp_path / "keys" / "cosign.key"
    assert config.parse({}, path=path, base=ImageSpec()).sign_key is None
    with pytest.raises(ConfigError, match="sign-key must be a string"):
        config.parse({"sign-key": 1}, path=path, base=ImageSpec())
