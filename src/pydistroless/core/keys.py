"""Signing keys as cosign writes and reads them: ECDSA P-256, the public key as PKIX PEM, the
private key encrypted under a password.

The encrypted private key is a PEM block labelled ``ENCRYPTED SIGSTORE PRIVATE KEY`` (cosign
1.x wrote ``ENCRYPTED COSIGN PRIVATE KEY``, the same contents) whose body is a JSON document
(go-securesystemslib's ``encrypted`` format): the password goes through scrypt (its ``N``,
``r``, ``p`` and salt in the document) to a 32-byte key that opens a NaCl secretbox (its
nonce in the document) holding the key's PKCS#8 DER. Plain PKCS#8 (``PRIVATE KEY``) and SEC1
(``EC PRIVATE KEY``) blocks are read too, with no password.

Nothing here prints, logs, caches or writes a key or a password: the caller gets the key as
an object whose ``repr`` shows only its public half, and the bytes of an encrypted key to
write where the user asked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pydistroless.core.errors import KeyFileError

SIGSTORE_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
ENCRYPTED_LABELS = (SIGSTORE_LABEL, COSIGN_LABEL)
PKCS8_LABEL = "PRIVATE KEY"
SEC1_LABEL = "EC PRIVATE KEY"
PUBLIC_LABEL = "PUBLIC KEY"

# The scrypt parameters go-securesystemslib accepts when it decrypts (legacy, standard, OWASP);
# a new key gets the standard ones, as `cosign generate-key-pair` does.
SCRYPT_PARAMS = ((32768, 8, 1), (65536, 8, 1), (131072, 8, 1))
NEW_SCRYPT = SCRYPT_PARAMS[1]
_SCRYPT_MAXMEM = 256 << 20  # 128 * r * N bytes: 128 MiB for the strongest accepted
_SALT = 32
_NONCE = nacl.secret.SecretBox.NONCE_SIZE  # 24
_BLOCK = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n(?P<body>.*?)-----END (?P=label)-----", re.S
)
_KEY_FILE_MAX = 64 << 10

Password = Callable[[], bytes]


@dataclass(frozen=True)
class PublicKey:
    """An ECDSA P-256 public key; it verifies SHA256 signatures in ASN.1 DER, as cosign
    makes them."""

    key: ec.EllipticCurvePublicKey = field(repr=False)

    def __repr__(self) -> str:
        return f"PublicKey(P-256, {self.fingerprint[:12]})"

    @property
    def der(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def fingerprint(self) -> str:
        """The SHA256 of the PKIX DER, hex: how messages name a key."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def hint(self) -> str:
        """The key's hint in a Sigstore bundle: the SHA256 of its PKIX DER, base64."""
        return base64.b64encode(hashlib.sha256(self.der).digest()).decode()

    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verifies(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` (DER) is this key's ECDSA-SHA256 signature of ``data``."""
        try:
            self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """An ECDSA P-256 private key. Its ``repr`` names the public half only."""

    key: ec.EllipticCurvePrivateKey = field(repr=False)

    def __repr__(self) -> str:
        return f"SigningKey(P-256, public {self.public.fingerprint[:12]})"

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    def sign(self, data: bytes) -> bytes:
        """The ECDSA-SHA256 signature of ``data``, ASN.1 DER."""
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))


def generate() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP256R1()))


def encrypt(key: SigningKey, password: bytes) -> bytes:
    """``key`` as cosign's encrypted PEM under ``password`` (which may be empty, as cosign
    allows)."""
    der = key.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt = os.urandom(_SALT)
    nonce = os.urandom(_NONCE)
    n, r, p = NEW_SCRYPT
    box_key = _scrypt(password, salt, n, r, p)
    sealed = nacl.secret.SecretBox(box_key).encrypt(der, nonce).ciphertext
    document = {
        "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    return _pem(SIGSTORE_LABEL, json.dumps(document, separators=(",", ":")).encode())


def read_private(data: bytes, password: Password, *, where: str) -> SigningKey:
    """The private key in ``data`` (the file ``where``); ``password`` is asked only for an
    encrypted one."""
    label, body = _block(data, where)
    if label in ENCRYPTED_LABELS:
        der = _decrypt(body, password, where)
    elif label in (PKCS8_LABEL, SEC1_LABEL):
        der = body
    elif label == PUBLIC_LABEL:
        raise KeyFileError(
            f"{where} is a public key; signing needs the private key (cosign.key), and "
            "verifying takes this one"
        )
    else:
        raise KeyFileError(f"{where} holds a {label!r} PEM block, not a private key cosign makes")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{where}: the key inside is not a PKCS#8 or SEC1 key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise KeyFileError(
            f"{where} is not an ECDSA P-256 key, the one kind pydistroless signs with; make "
            "one with `pydistroless keygen` or `cosign generate-key-pair`"
        )
    return SigningKey(key)


def read_public(data: bytes, *, where: str) -> PublicKey:
    """The public key in ``data`` (the file ``where``)."""
    label, body = _block(data, where)
    if label != PUBLIC_LABEL:
        secret = label in (*ENCRYPTED_LABELS, PKCS8_LABEL, SEC1_LABEL)
        raise KeyFileError(
            f"{where} is a private key; verifying takes the public one (cosign.pub)"
            if secret
            else f"{where} holds a {label!r} PEM block, not a PUBLIC KEY"
        )
    try:
        key = serialization.load_der_public_key(body)
    except (ValueError, TypeError):
        raise KeyFileError(f"{where}: the PUBLIC KEY block is not a PKIX public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise KeyFileError(
            f"{where} is not an ECDSA P-256 public key, the one kind pydistroless verifies"
        )
    return PublicKey(key)


def read_key_file(
    path: os.PathLike[str] | str, option: str, *, limit: int = _KEY_FILE_MAX
) -> bytes:
    """A key file's (or another small input's) bytes, bounded; a missing or unreadable one
    is one line."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise KeyFileError(f"{option} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise KeyFileError(f"{option} {path} is larger than {limit} bytes; is it the right file?")
    return data


def _block(data: bytes, where: str) -> tuple[str, bytes]:
    match = _BLOCK.search(data)
    if match is None:
        raise KeyFileError(f"{where} is not a PEM key file (no -----BEGIN ...----- block)")
    try:
        body = base64.b64decode(b"".join(match["body"].split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{where}: its PEM block is not valid base64") from None
    return match["label"].decode(), body


def _decrypt(body: bytes, password: Password, where: str) -> bytes:
    try:
        document = json.loads(body)
        kdf, cipher = document["kdf"], document["cipher"]
        params = kdf["params"]
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        sealed = base64.b64decode(document["ciphertext"], validate=True)
        names = (kdf["name"], cipher["name"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise KeyFileError(f"{where}: the encrypted key is not the JSON cosign writes") from None
    if names != ("scrypt", "nacl/secretbox"):
        raise KeyFileError(f"{where}: encrypted with {names[0]}/{names[1]}, not scrypt/secretbox")
    if (n, r, p) not in SCRYPT_PARAMS:
        raise KeyFileError(f"{where}: scrypt parameters N={n} r={r} p={p} are not cosign's")
    if len(nonce) != _NONCE:
        raise KeyFileError(f"{where}: the secretbox nonce is not {_NONCE} bytes")
    box_key = _scrypt(password(), salt, n, r, p)
    try:
        return nacl.secret.SecretBox(box_key).decrypt(sealed, nonce)
    except nacl.exceptions.CryptoError:
        raise KeyFileError(
            f"{where}: the password does not open this key; give the one it was made with "
            "(COSIGN_PASSWORD or the prompt)"
        ) from None


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pem(label: str, data: bytes) -> bytes:
    text = base64.b64encode(data).decode()
    lines = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n".encode()
