"""Files that a Debian system gets from its installer and maintainer scripts, made explicitly.

Maintainer scripts never run in an image pydistroless builds; what they would have left
behind that a Python program needs is produced here from plain data: the merged-/usr links,
the accounts, the home and temporary directories, and the CA bundle.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydistroless.core.errors import UsageError
from pydistroless.fs.tree import Entry, Kind, Tree

# Top-level directories that merged-/usr turns into links into /usr.
MERGED_USR_DIRS = ("bin", "lib", "lib32", "lib64", "libx32", "sbin")

CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
EXTRA_CA_DIR = "usr/local/share/ca-certificates"


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str


# As in Google's distroless images, so that images are interchangeable with theirs.
ACCOUNTS = (
    Account("root", 0, 0, "/root"),
    Account("nobody", 65534, 65534, "/nonexistent"),
    Account("nonroot", 65532, 65532, "/home/nonroot"),
)
GROUPS = (("root", 0), ("tty", 5), ("staff", 50), ("nonroot", 65532), ("nobody", 65534))


def add_merged_usr_links(tree: Tree, package_entries: Iterable[Entry]) -> None:
    """Create ``/bin -> usr/bin`` and friends for each such directory the packages use, before
    unpacking, so that files shipped under ``/lib`` land in ``/usr/lib`` (bookworm packages
    still ship some) and the layout is the same on every suite."""
    used = {e.path.split("/", 1)[0] for e in package_entries}
    for top in MERGED_USR_DIRS:
        if top in used or top in ("bin", "lib", "sbin"):
            tree.add_dir(f"usr/{top}")
            tree.add_symlink(top, f"usr/{top}")


def add_accounts(tree: Tree, uid: int) -> None:
    """``/etc/passwd``, ``/etc/group``, and the home directories, with no shell for anyone.

    A UID that is not one of the standard accounts gets a passwd entry of its own, so that
    ``getpass.getuser()`` and ``pwd.getpwuid()`` work for it too."""
    accounts = list(ACCOUNTS)
    if all(a.uid != uid for a in accounts):
        accounts.append(Account(f"user{uid}", uid, uid, f"/home/user{uid}"))
    passwd = "".join(
        f"{a.name}:x:{a.uid}:{a.gid}:{a.name}:{a.home}:/sbin/nologin\n" for a in accounts
    )
    groups = list(GROUPS)
    if all(g != uid for _, g in groups):
        groups.append((f"user{uid}", uid))
    group = "".join(f"{name}:x:{gid}:\n" for name, gid in sorted(groups, key=lambda g: g[1]))
    tree.add_file("etc/passwd", passwd.encode())
    tree.add_file("etc/group", group.encode())
    tree.add_dir("root", 0o700)
    tree.add_dir("home", 0o755)
    for account in accounts:
        if account.home.startswith("/home/"):
            tree.add_dir(account.home[1:], 0o700, account.uid, account.gid)
    tree.add_dir("tmp", 0o1777)


def home_of(uid: int) -> str:
    for account in ACCOUNTS:
        if account.uid == uid:
            return account.home if account.uid != 65534 else "/"
    return f"/home/user{uid}"


# A bundle of every root CA a browser trusts is about 220 KB; nothing given to --ca-cert
# needs more, and a bound keeps `--ca-cert /dev/zero` from eating the memory.
MAX_CA_FILE = 4 << 20

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class CaFile:
    """The certificates of one ``--ca-cert`` file, re-encoded, and what was left out."""

    name: str
    pem: bytes  # only well-formed X.509 certificates, each in canonical PEM
    count: int
    skipped: tuple[str, ...]  # what each left-out block was ("PRIVATE KEY", ...)


def parse_ca_file(name: str, data: bytes) -> CaFile:
    """Keep the well-formed X.509 certificates of a PEM file and nothing else: no private
    key, no text around the blocks, no block whose content is not a certificate."""
    kept: list[bytes] = []
    skipped: list[str] = []
    for match in _PEM_BLOCK.finditer(data):
        label = match.group(1).decode()
        if label not in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
            skipped.append(label)
            continue
        der = _certificate_der(match.group(2))
        if der is None:
            skipped.append(f"{label} that is not a valid X.509 certificate")
            continue
        kept.append(ssl.DER_cert_to_PEM_cert(der).encode())
    return CaFile(name, b"".join(kept), len(kept), tuple(skipped))


def _certificate_der(body: bytes) -> bytes | None:
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    # OpenSSL, through the ssl module, is the judge of what a certificate is: the same code
    # that will read the bundle in the image.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=der)
    except (ssl.SSLError, ValueError):
        return None
    return der


def read_extra_certs(paths: Sequence[Path]) -> list[CaFile]:
    """Read ``--ca-cert`` files: their certificates only, each file at most
    :data:`MAX_CA_FILE` bytes; a file with no certificate at all is an error."""
    certs = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_CA_FILE + 1)
        except OSError as exc:
            raise UsageError(f"cannot read --ca-cert {path}: {exc.strerror}") from exc
        if len(data) > MAX_CA_FILE:
            raise UsageError(
                f"--ca-cert {path} is larger than {MAX_CA_FILE >> 20} MiB; "
                "pass a PEM file of CA certificates"
            )
        parsed = parse_ca_file(path.stem, data)
        if not parsed.count:
            raise UsageError(
                f"--ca-cert {path} holds no PEM certificate (-----BEGIN CERTIFICATE----- "
                "with a valid X.509 certificate inside)"
            )
        certs.append(parsed)
    return certs


def add_ca_bundle(tree: Tree, extra: Sequence[tuple[str, bytes]] = ()) -> int:
    """Write what ``update-ca-certificates`` would: every certificate under
    ``/usr/share/ca-certificates`` (all enabled, as Debian's default configuration has them),
    then the extra ones, concatenated in a stable order. Returns how many went in."""
    parts: list[bytes] = []
    for entry in tree.files():
        if entry.path.startswith("usr/share/ca-certificates/") and entry.path.endswith(".crt"):
            parts.append(entry.data if entry.data.endswith(b"\n") else entry.data + b"\n")
    for name, data in extra:
        tree.add_file(f"{EXTRA_CA_DIR}/{name}.crt", data)
        parts.append(data)
    if not parts:
        return 0
    tree.add_file(CA_BUNDLE, b"".join(parts))
    # OpenSSL's compiled-in defaults on Debian point into /usr/lib/ssl: keep them working
    # for programs that clear SSL_CERT_FILE.
    if tree.get("usr/lib/ssl") is None or tree.get("usr/lib/ssl").kind is Kind.DIR:
        tree.add_dir("usr/lib/ssl")
        if tree.get("usr/lib/ssl/cert.pem") is None:
            tree.add_symlink("usr/lib/ssl/cert.pem", f"/{CA_BUNDLE}")
        if tree.get("usr/lib/ssl/certs") is None:
            tree.add_symlink("usr/lib/ssl/certs", "/etc/ssl/certs")
    return len(parts)


# Name resolution from files first: there is no nscd, no LDAP, no systemd in an image.
NSSWITCH = """\
passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
ethers:         files
rpc:            files
"""


@dataclass(frozen=True)
class OsInfo:
    """What scanners read to know the distribution: ID, VERSION_ID, VERSION (codename)."""

    debian_major: str  # "13"
    debian_version: str  # "13.8"
    codename: str  # "trixie"
    image_name: str  # "Python 3.13"


def os_release(info: OsInfo) -> str:
    return (
        f'PRETTY_NAME="pydistroless {info.image_name} (Debian GNU/Linux {info.debian_major})"\n'
        'NAME="Debian GNU/Linux"\n'
        "ID=debian\n"
        f'VERSION_ID="{info.debian_major}"\n'
        f'VERSION="{info.debian_major} ({info.codename})"\n'
        f"VERSION_CODENAME={info.codename}\n"
        "VARIANT=pydistroless\n"
        "VARIANT_ID=pydistroless\n"
    )


def add_system_files(tree: Tree, info: OsInfo) -> None:
    """os-release, debian_version, localtime (UTC) and nsswitch.conf."""
    tree.add_file("usr/lib/os-release", os_release(info).encode())
    tree.add_symlink("etc/os-release", "../usr/lib/os-release")
    if tree.get("etc/debian_version") is None:
        tree.add_file("etc/debian_version", f"{info.debian_version}\n".encode())
    if tree.resolve("usr/share/zoneinfo/Etc/UTC") in tree:
        tree.add_symlink("etc/localtime", "/usr/share/zoneinfo/Etc/UTC")
        tree.add_file("etc/timezone", b"Etc/UTC\n")
    tree.add_file("etc/nsswitch.conf", NSSWITCH.encode())


BUSYBOX_DIR = "busybox"


def busybox_applets(binary: bytes) -> list[str]:
    """The applet names compiled into a busybox binary, read from its sorted name table
    (``[``, ``[[``, ``acpid``, ...) instead of running it: the binary may be for another
    architecture than the host's."""
    start = binary.find(b"[\x00[[\x00")
    if start < 0:
        return []
    names: list[str] = []
    pos = start
    while True:
        end = binary.find(b"\x00", pos)
        if end < 0:
            break
        name = binary[pos:end]
        if not name or not all(32 < c < 127 for c in name) or (names and name.decode() < names[-1]):
            break
        names.append(name.decode())
        pos = end + 1
    return names


def add_busybox_links(tree: Tree) -> int:
    """``/busybox/<applet>`` links to Debian's static busybox (left where its package put it,
    so the package metadata stays true). Returns the number of applets."""
    real = tree.resolve("usr/bin/busybox")
    binary = tree.read("usr/bin/busybox") if real else None
    if binary is None:
        raise UsageError("the debug variant needs busybox-static, which is not in the image")
    applets = busybox_applets(binary)
    tree.add_dir(BUSYBOX_DIR)
    tree.add_symlink(f"{BUSYBOX_DIR}/busybox", "/usr/bin/busybox")
    for applet in applets:
        if applet != "busybox":
            tree.add_symlink(f"{BUSYBOX_DIR}/{applet}", "/usr/bin/busybox")
    return len(applets)
