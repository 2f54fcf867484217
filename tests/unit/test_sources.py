"""Where mirrors come from: apt sources (deb822 and one-line), env, config, flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydistroless.core.errors import ConfigError
from pydistroless.core.net import Credentials, Login
from pydistroless.core.report import redact
from pydistroless.debian.sources import (
    AptEntry,
    Mirrors,
    choose_mirrors,
    is_debian_entry,
    mirrors_from_apt,
    parse_auth_conf,
    parse_deb822_sources,
    parse_one_line_sources,
    read_apt_sources,
    split_login,
)

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


# ---- logins -----------------------------------------------------------------------------------


def test_a_login_is_split_off_the_mirror_url():
    clean, login = split_login("http://alice:s%40cr3t@Mirror.example.invalid:8080/debian/")
    assert clean == "http://Mirror.example.invalid:8080/debian/"
    assert login == Login(("http",), "mirror.example.invalid", 8080, "/debian/", "alice", "s@cr3t")
    assert "s@cr3t" not in repr(login)
    assert split_login(MAIN) == (MAIN, None)


def test_a_login_applies_to_the_urls_under_its_mirror_only():
    _, login = split_login("http://alice:pw@mirror.example.invalid/debian")
    assert login is not None
    credentials = Credentials((login,))
    assert credentials.basic_auth(f"{MAIN}/dists/trixie/InRelease") == "alice:pw"
    assert credentials.basic_auth("http://mirror.example.invalid/debian-security/x") is None
    assert credentials.basic_auth("https://mirror.example.invalid/debian/x") is None
    assert credentials.basic_auth("http://other.example.invalid/debian/x") is None
    assert "pw" not in repr(credentials)


def test_choose_mirrors_keeps_logins_out_of_every_url(tmp_path):
    mirrors = choose_mirrors(
        flags_main=["http://alice:s3cr3t@mirror.example.invalid/debian/"],
        environ={"PYDISTROLESS_SECURITY_MIRROR": "https://bob:hunter2@sec.example.invalid/ds"},
        apt_dir=tmp_path,
    )
    assert mirrors == Mirrors((MAIN,), ("https://sec.example.invalid/ds",))
    assert "s3cr3t" not in repr(mirrors) and "hunter2" not in repr(mirrors)
    assert mirrors.credentials.basic_auth(f"{MAIN}/pool/x.deb") == "alice:s3cr3t"
    assert mirrors.credentials.basic_auth("https://sec.example.invalid/ds/dists/x") == "bob:hunter2"


def test_apt_sources_with_a_login_are_split_too(tmp_path):
    apt = tmp_path / "apt"
    apt.mkdir()
    (apt / "sources.list").write_text(
        "deb http://alice:pw@mirror.example.invalid/debian trixie main\n"
    )
    mirrors = choose_mirrors(environ={}, apt_dir=apt)
    assert mirrors.main == (MAIN,)
    assert mirrors.credentials.basic_auth(f"{MAIN}/dists/trixie/InRelease") == "alice:pw"


def test_a_bad_mirror_url_is_reported_without_its_login(tmp_path):
    for url in ("ftp://alice:s3cr3t@mirror.example.invalid/debian", "alice:s3cr3t@mirror/debian"):
        with pytest.raises(ConfigError) as info:
            choose_mirrors(flags_main=[url], environ={}, apt_dir=tmp_path)
        assert "s3cr3t" not in str(info.value) and "***@" in str(info.value)


def test_redact():
    assert redact("cannot download http://a:b@h.example.invalid/x: HTTP 401") == (
        "cannot download http://***@h.example.invalid/x: HTTP 401"
    )
    assert redact(f"{MAIN}/pool/a@b.deb") == f"{MAIN}/pool/a@b.deb"  # not a login


AUTH_CONF = """\
# logins of the company mirrors
machine mirror.example.invalid login apt password debian
machine http://plain.example.invalid:8080/debian
  login bob
  password hunter2   # the test one
machine secure.example.invalid/deb/ login carol password pw unknown-token x
machine nologin.example.invalid password pw
"""


def test_auth_conf_entries():
    logins = parse_auth_conf(AUTH_CONF)
    assert logins == [
        Login(("https",), "mirror.example.invalid", None, "/", "apt", "debian"),
        Login(("http",), "plain.example.invalid", 8080, "/debian", "bob", "hunter2"),
        Login(("https",), "secure.example.invalid", None, "/deb/", "carol", "pw"),
    ]
    credentials = Credentials(tuple(logins))
    # No protocol: https only, as in apt, so a login never travels in clear by accident.
    assert credentials.basic_auth("https://mirror.example.invalid/debian/x") == "apt:debian"
    assert credentials.basic_auth("https://mirror.example.invalid:8443/debian/x") == "apt:debian"
    assert credentials.basic_auth("http://mirror.example.invalid/debian/x") is None
    assert credentials.basic_auth("http://plain.example.invalid:8080/debian/x") == "bob:hunter2"
    assert credentials.basic_auth("http://plain.example.invalid/debian/x") is None
    assert credentials.basic_auth("https://secure.example.invalid/deb/x") == "carol:pw"
    assert credentials.basic_auth("https://secure.example.invalid/debian/x") is None


def test_auth_conf_files_are_read_from_the_apt_folder(tmp_path):
    apt = _apt_dir(tmp_path)
    (apt / "auth.conf.d").mkdir()
    (apt / "auth.conf.d" / "10-mirror.conf").write_text(
        # With the trailing slash: a plain prefix /debian would also match /debian-security.
        "machine http://mirror.example.invalid/debian/ login first password one\n"
    )
    (apt / "auth.conf.d" / "ignored.txt").write_text(
        "machine http://mirror.example.invalid login no password no\n"
    )
    (apt / "auth.conf").write_text("machine http://mirror.example.invalid login last password 2\n")
    mirrors = choose_mirrors(environ={}, apt_dir=apt)
    assert mirrors.credentials.basic_auth(f"{MAIN}/dists/x") == "first:one"
    assert mirrors.credentials.basic_auth(f"{SECURITY}/dists/x") == "last:2"
    # A login in the URL itself comes first.
    flagged = choose_mirrors(
        flags_main=["http://own:pw@mirror.example.invalid/debian"], environ={}, apt_dir=apt
    )
    assert flagged.credentials.basic_auth(f"{MAIN}/dists/x") == "own:pw"
