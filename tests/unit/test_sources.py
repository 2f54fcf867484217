"""Where mirrors come from: apt sources (deb822 and one-line), env, config, flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydistroless.debian.sources import (
    AptEntry,
    Mirrors,
    choose_mirrors,
    is_debian_entry,
    mirrors_from_apt,
    parse_deb822_sources,
    parse_one_line_sources,
    read_apt_sources,
)
from pydistroless.errors import ConfigError

MAIN = "http://mirror.example.invalid/debian"
SECURITY = "http://mirror.example.invalid/debian-security"
THIRD_PARTY = "https://apt.vendor.example.invalid/repo"

DEB822 = f"""\
# the main archive
Types: deb deb-src
URIs: {MAIN}/
Suites: trixie trixie-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: {SECURITY}
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://sources-only.example.invalid/debian
Suites: trixie
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example.invalid/debian
Suites: trixie
Components: main

Types: deb
URIs: {THIRD_PARTY}
Suites: stable
Components: main
Signed-By: /usr/share/keyrings/vendor.gpg
"""

KEYRING_OPT = "signed-by=/usr/share/keyrings/debian-archive-keyring.gpg"
ONE_LINE = f"""\
# comment line
deb {MAIN} bookworm main contrib non-free-firmware
deb-src {MAIN} bookworm main
deb [arch=amd64 {KEYRING_OPT}] {SECURITY}/ bookworm-security main  # trailing comment
deb [signed-by=/usr/share/keyrings/vendor.gpg] {THIRD_PARTY} stable main
deb http://other.example.invalid/ubuntu noble main
   # indented comment
"""


def test_deb822_keeps_enabled_binary_entries_only():
    entries = parse_deb822_sources(DEB822)
    assert [e.uri for e in entries] == [MAIN, SECURITY, THIRD_PARTY]
    main = entries[0]
    assert main.suites == ("trixie", "trixie-updates")
    assert main.components == ("main", "contrib")
    assert main.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert entries[2].signed_by == "/usr/share/keyrings/vendor.gpg"


def test_deb822_several_uris_give_several_entries():
    text = f"Types: deb\nURIs: {MAIN} http://second.example.invalid/debian\nSuites: trixie\n"
    entries = parse_deb822_sources(text)
    assert [e.uri for e in entries] == [MAIN, "http://second.example.invalid/debian"]
    assert all(e.suites == ("trixie",) for e in entries)


def test_one_line_sources():
    entries = parse_one_line_sources(ONE_LINE)
    assert [e.uri for e in entries] == [
        MAIN,
        SECURITY,
        THIRD_PARTY,
        "http://other.example.invalid/ubuntu",
    ]
    assert entries[0] == AptEntry(MAIN, ("bookworm",), ("main", "contrib", "non-free-firmware"))
    assert entries[1].suites == ("bookworm-security",)
    assert entries[1].components == ("main",)  # the trailing comment is not a component
    assert entries[1].signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert entries[2].signed_by == "/usr/share/keyrings/vendor.gpg"


def test_debian_entries_told_apart_from_third_party():
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert is_debian_entry(AptEntry("http://any.example.invalid/x", ("trixie",), (), keyring))
    assert is_debian_entry(AptEntry(MAIN, ("trixie",), ()))
    assert is_debian_entry(AptEntry(SECURITY, ("trixie-security",), ()))
    assert not is_debian_entry(AptEntry(MAIN, ("trixie",), (), "/usr/share/keyrings/other.gpg"))
    assert not is_debian_entry(AptEntry(THIRD_PARTY, ("stable",), ()))
    assert not is_debian_entry(AptEntry("http://other.example.invalid/ubuntu", ("noble",), ()))


def test_security_entries_are_split_off_and_duplicates_dropped():
    entries = parse_deb822_sources(DEB822) + parse_one_line_sources(ONE_LINE)
    mirrors = mirrors_from_apt(entries)
    assert mirrors == Mirrors(main=(MAIN,), security=(SECURITY,))


def test_non_http_entries_are_ignored():
    entries = [
        AptEntry("cdrom:[Debian 12]/debian", ("bookworm",), ("main",)),
        AptEntry("file:///srv/debian", ("bookworm",), ("main",)),
        AptEntry(MAIN, ("bookworm",), ("main",)),
    ]
    assert mirrors_from_apt(entries).main == (MAIN,)


def _apt_dir(tmp_path: Path) -> Path:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list").write_text(f"deb {MAIN} bookworm main\n")
    (apt / "sources.list.d" / "debian.sources").write_text(
        f"Types: deb\nURIs: {SECURITY}\nSuites: bookworm-security\nComponents: main\n"
    )
    (apt / "sources.list.d" / "vendor.list").write_text(
        f"deb [signed-by=/usr/share/keyrings/vendor.gpg] {THIRD_PARTY} stable main\n"
    )
    # Not a sources file: apt ignores these names, and so must we.
    (apt / "sources.list.d" / "old.list.disabled").write_text(
        "deb http://disabled.example.invalid/debian bookworm main\n"
    )
    return apt


def test_read_apt_sources_reads_both_formats_and_only_their_files(tmp_path):
    entries = read_apt_sources(_apt_dir(tmp_path))
    assert [e.uri for e in entries] == [MAIN, SECURITY, THIRD_PARTY]


def test_read_apt_sources_of_a_missing_directory_is_empty(tmp_path):
    assert read_apt_sources(tmp_path / "nothing") == []


def test_apt_sources_are_the_last_resort(tmp_path):
    mirrors = choose_mirrors(environ={}, apt_dir=_apt_dir(tmp_path))
    assert mirrors == Mirrors((MAIN,), (SECURITY,))


def test_precedence_flags_over_env_over_config_over_apt(tmp_path):
    apt = _apt_dir(tmp_path)
    env = {
        "PYDISTROLESS_MIRROR": "http://env1.example.invalid/debian http://env2.example.invalid/d/",
        "PYDISTROLESS_SECURITY_MIRROR": "http://env.example.invalid/debian-security",
    }
    config = {
        "config_main": ["http://config.example.invalid/debian"],
        "config_security": ["http://config.example.invalid/debian-security"],
    }
    flags = {
        "flags_main": ["http://flag.example.invalid/debian/"],
        "flags_security": ["file:///srv/debian-security"],
    }
    assert choose_mirrors(**flags, **config, environ=env, apt_dir=apt) == Mirrors(
        ("http://flag.example.invalid/debian",), ("file:///srv/debian-security",)
    )
    assert choose_mirrors(**config, environ=env, apt_dir=apt) == Mirrors(
        ("http://env1.example.invalid/debian", "http://env2.example.invalid/d"),
        ("http://env.example.invalid/debian-security",),
    )
    assert choose_mirrors(**config, environ={}, apt_dir=apt) == Mirrors(
        ("http://config.example.invalid/debian",),
        ("http://config.example.invalid/debian-security",),
    )


def test_main_and_security_are_chosen_independently(tmp_path):
    mirrors = choose_mirrors(
        flags_main=["http://flag.example.invalid/debian"], environ={}, apt_dir=_apt_dir(tmp_path)
    )
    assert mirrors == Mirrors(("http://flag.example.invalid/debian",), (SECURITY,))


def test_no_mirror_at_all_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="--mirror"):
        choose_mirrors(environ={}, apt_dir=tmp_path / "empty")


def test_only_a_security_mirror_is_not_enough(tmp_path):
    apt = tmp_path / "apt"
    apt.mkdir()
    (apt / "sources.list").write_text(f"deb {SECURITY} bookworm-security main\n")
    with pytest.raises(ConfigError, match="no Debian mirror"):
        choose_mirrors(environ={}, apt_dir=apt)


@pytest.mark.parametrize("url", ["ftp://mirror.example.invalid/debian", "mirror/debian", ""])
def test_a_mirror_must_be_an_http_or_file_url(tmp_path, url):
    with pytest.raises(ConfigError, match="not an http"):
        choose_mirrors(flags_main=[url or " "], environ={}, apt_dir=tmp_path)
