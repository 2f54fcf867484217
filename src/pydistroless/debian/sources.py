"""Which Debian mirrors to use.

pydistroless never names a mirror itself. In order of precedence the mirrors come from:
``--mirror`` / ``--security-mirror`` flags, the ``PYDISTROLESS_MIRROR`` /
``PYDISTROLESS_SECURITY_MIRROR`` environment variables (space-separated URLs), the
``[mirrors]`` table of the config file, and finally the Debian entries of the machine's apt
sources (deb822 ``*.sources`` files and one-line ``sources.list`` files). An apt entry whose
suites end in ``-security`` names the security archive; the others the main archive.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Deb822

from pydistroless.errors import ConfigError

APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class AptEntry:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str = ""


@dataclass(frozen=True)
class Mirrors:
    """Base URLs (no trailing slash) of the main and the security archive, in order of
    preference."""

    main: tuple[str, ...]
    security: tuple[str, ...]


def parse_deb822_sources(text: str) -> list[AptEntry]:
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

    main = pick(flags_main, "PYDISTROLESS_MIRROR", config_main, "main")
    security = pick(flags_security, "PYDISTROLESS_SECURITY_MIRROR", config_security, "security")
    if not main:
        raise ConfigError(
            "no Debian mirror: the apt sources name none; pass --mirror URL "
            "(or set PYDISTROLESS_MIRROR)"
        )
    return Mirrors(main, security)


def _checked_url(url: str, kind: str) -> str:
    if not re.match(r"^(https?|file)://", url):
        raise ConfigError(
            f"{kind} mirror {url!r} is not an http(s):// or file:// URL; pass a URL such as "
            "http://HOST/debian"
        )
    return url.rstrip("/")
