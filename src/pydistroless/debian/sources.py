"""Which Debian mirrors to use.

pydistroless never names a mirror itself. In order of precedence the mirrors come from:
``--mirror`` / ``--security-mirror`` flags, the ``PYDISTROLESS_MIRROR`` /
``PYDISTROLESS_SECURITY_MIRROR`` environment variables (space-separated URLs), the
``[mirrors]`` table of the config file, and finally the Debian entries of the machine's apt
sources (deb822 ``*.sources`` files and one-line ``sources.list`` files). An apt entry whose
suites end in ``-security`` names the security archive; the others the main archive.

A mirror URL may carry a login (``http://USER:PASS@HOST/debian``); apt's ``auth.conf`` files
may give more. Logins are split off here, where mirrors are chosen, so no URL anywhere else in
the program (messages, the lock, the SBOM, the image) can hold one: they travel in
:class:`Credentials`, which only the downloader reads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from pydistroless.core.errors import ConfigError
from pydistroless.core.net import Credentials, Login
from pydistroless.core.report import redact

APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class AptEntry:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str = ""


@dataclass(frozen=True)
class SourceOptions:
    """Where packages come from and how they are checked."""

    mirrors: tuple[str, ...] = ()
    security_mirrors: tuple[str, ...] = ()
    keyrings: tuple[Path, ...] = ()
    insecure: bool = False
    offline: bool = False
    cache_dir: Path | None = None
    accept_expired: bool = False  # take a signed Release past its Valid-Until


@dataclass(frozen=True)
class Mirrors:
    """Base URLs (no trailing slash, no login) of the main and the security archive, in order
    of preference, and the logins that go with them."""

    main: tuple[str, ...]
    security: tuple[str, ...]
    credentials: Credentials = field(default_factory=Credentials, repr=False, compare=False)


def split_login(url: str) -> tuple[str, Login | None]:
    """The URL without its ``USER:PASS@`` part, and that part as a login for the URLs below
    it (None when the URL has none)."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None
    clean = urlunsplit(parts._replace(netloc=hostport))
    user, _, password = userinfo.partition(":")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(
            f"mirror {redact(url)!r} has a bad port; pass a URL such as http://HOST/debian"
        ) from exc
    login = Login(
        schemes=(parts.scheme,),
        host=parts.hostname or "",
        port=port,
        path=parts.path.rstrip("/") + "/",
        user=unquote(user),
        password=unquote(password),
    )
    return clean, login


def parse_auth_conf(text: str) -> list[Login]:
    """The entries of an apt ``auth.conf`` (apt_auth.conf(5)): netrc-like tokens ``machine
    [PROTOCOL://]HOST[:PORT][/PATH] login USER password PASS``; unknown tokens are ignored.
    An entry without a protocol applies to https only, as in apt, so that a login meant for
    an encrypted connection is never sent in clear."""
    tokens = [t for line in text.splitlines() for t in line.split("#", 1)[0].split()]
    entries: list[dict[str, str]] = []
    for key, value in zip(tokens, [*tokens[1:], ""], strict=True):
        if key == "machine":
            entries.append({"machine": value})
        elif key in ("login", "password") and entries:
            entries[-1][key] = value
    logins = []
    for entry in entries:
        login = _auth_conf_login(entry)
        if login is not None:
            logins.append(login)
    return logins


def _auth_conf_login(entry: dict[str, str]) -> Login | None:
    machine = entry["machine"]
    if not machine or "login" not in entry:
        return None
    scheme, sep, rest = machine.partition("://")
    schemes = (scheme,) if sep else ("https",)
    hostport, slash, path = (rest if sep else machine).partition("/")
    host, colon, port = hostport.partition(":")
    if colon and not port.isdigit():
        return None
    return Login(
        schemes=schemes,
        host=host.lower(),
        port=int(port) if colon else None,
        path="/" + path if slash else "/",
        user=entry["login"],
        password=entry.get("password", ""),
    )


def read_auth_conf(apt_dir: Path = APT_DIR) -> list[Login]:
    """The logins of ``auth.conf.d/*.conf`` (in name order) and ``auth.conf``. A file this
    user cannot read is skipped, as apt's sources are: the mirror's 401 then says what is
    wrong."""
    part = apt_dir / "auth.conf.d"
    files = sorted(p for p in part.iterdir() if p.suffix == ".conf") if part.is_dir() else []
    files.append(apt_dir / "auth.conf")
    logins: list[Login] = []
    for path in files:
        try:
            logins += parse_auth_conf(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return logins


def parse_deb822_sources(text: str) -> list[AptEntry]:
    # Imported here: the registry commands load this module (for redaction) but never read
    # apt sources, and python-debian is a tenth of their start-up.
    from debian.deb822 import Deb822  # noqa: PLC0415

    entries = []
    for para in Deb822.iter_paragraphs(text.splitlines(keepends=True)):
        if "URIs" not in para:
            continue
        if para.get("Enabled", "yes").strip().lower() == "no":
            continue
        if "deb" not in para.get("Types", "").split():
            continue
        for uri in para["URIs"].split():
            entries.append(
                AptEntry(
                    uri=uri.rstrip("/"),
                    suites=tuple(para.get("Suites", "").split()),
                    components=tuple(para.get("Components", "").split()),
                    signed_by=para.get("Signed-By", "").strip(),
                )
            )
    return entries


_ONE_LINE = re.compile(
    r"^deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)(?P<comps>.*)$"
)


def parse_one_line_sources(text: str) -> list[AptEntry]:
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        match = _ONE_LINE.match(line)
        if not match:
            continue
        opts = dict(o.split("=", 1) for o in (match["opts"] or "").split() if "=" in o)
        entries.append(
            AptEntry(
                uri=match["uri"].rstrip("/"),
                suites=(match["suite"],),
                components=tuple(match["comps"].split()),
                signed_by=opts.get("signed-by", ""),
            )
        )
    return entries


def read_apt_sources(apt_dir: Path = APT_DIR) -> list[AptEntry]:
    files: list[Path] = []
    if (apt_dir / "sources.list").is_file():
        files.append(apt_dir / "sources.list")
    part = apt_dir / "sources.list.d"
    if part.is_dir():
        files += sorted(p for p in part.iterdir() if p.suffix in (".list", ".sources"))
    entries: list[AptEntry] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        entries += (
            parse_deb822_sources(text)
            if path.suffix == ".sources"
            else (parse_one_line_sources(text))
        )
    return entries


def is_debian_entry(entry: AptEntry) -> bool:
    """Debian's own archives, told apart from third-party repositories by their keyring or,
    failing that, by the usual ``/debian`` and ``/debian-security`` paths."""
    if "debian-archive-keyring" in entry.signed_by:
        return True
    if entry.signed_by:
        return False
    return bool(re.search(r"/debian(-security)?$", entry.uri))


def mirrors_from_apt(entries: Iterable[AptEntry]) -> Mirrors:
    main: list[str] = []
    security: list[str] = []
    for entry in entries:
        if not is_debian_entry(entry) or not entry.uri.startswith(("http://", "https://")):
            continue
        target = security if any(s.endswith("-security") for s in entry.suites) else main
        if entry.uri not in target:
            target.append(entry.uri)
    return Mirrors(tuple(main), tuple(security))


def choose_mirrors(
    *,
    flags_main: Sequence[str] = (),
    flags_security: Sequence[str] = (),
    config_main: Sequence[str] = (),
    config_security: Sequence[str] = (),
    environ: dict[str, str] | None = None,
    apt_dir: Path = APT_DIR,
) -> Mirrors:
    env = os.environ if environ is None else environ
    apt: Mirrors | None = None

    def from_apt() -> Mirrors:
        nonlocal apt
        if apt is None:
            apt = mirrors_from_apt(read_apt_sources(apt_dir))
        return apt

    def pick(flags: Sequence[str], var: str, config: Sequence[str], kind: str) -> tuple[str, ...]:
        for source in (flags, env.get(var, "").split(), config):
            if source:
                return tuple(_checked_url(u, kind) for u in source)
        return getattr(from_apt(), kind)

    main, main_logins = _split_logins(pick(flags_main, "PYDISTROLESS_MIRROR", config_main, "main"))
    security, security_logins = _split_logins(
        pick(flags_security, "PYDISTROLESS_SECURITY_MIRROR", config_security, "security")
    )
    if not main:
        raise ConfigError(
            "no Debian mirror: the apt sources name none; pass --mirror URL "
            "(or set PYDISTROLESS_MIRROR)"
        )
    logins = (*main_logins, *security_logins, *read_auth_conf(apt_dir))
    return Mirrors(main, security, Credentials(logins))


def _split_logins(urls: Sequence[str]) -> tuple[tuple[str, ...], list[Login]]:
    clean: list[str] = []
    logins: list[Login] = []
    for url in urls:
        bare, login = split_login(url)
        if bare not in clean:
            clean.append(bare)
        if login is not None:
            logins.append(login)
    return tuple(clean), logins


def _checked_url(url: str, kind: str) -> str:
    if not re.match(r"^(https?|file)://", url):
        raise ConfigError(
            f"{kind} mirror {redact(url)!r} is not an http(s):// or file:// URL; pass a URL "
            "such as http://HOST/debian"
        )
    return url.rstrip("/")
