"""Dependency resolution on small, hand-written package indexes."""

from __future__ import annotations

import pytest

from pydistroless.core.errors import ResolveError
from pydistroless.debian.index import PackageIndex, PackageRecord, parse_packages, parse_provides
from pydistroless.debian.resolve import (
    SCRIPT_ONLY,
    Requirement,
    parse_relations,
    resolve,
)


def rec(name: str, version: str = "1.0", suite: str = "trixie", **fields: str) -> PackageRecord:
    return PackageRecord(
        name=name,
        version=version,
        architecture="amd64",
        filename=f"pool/main/{name[0]}/{name}/{name}_{version}_amd64.deb",
        size=100,
        sha256=f"{hash((name, version, suite)) & 0xFFFFFFFF:064x}",
        suite=suite,
        base_urls=("http://mirror.example.invalid/debian",),
        **fields,
    )


def names(index: PackageIndex, *roots: str, **kw) -> list[str]:
    return resolve(index, [Requirement.parse(r) for r in roots], **kw).names()


# ---- version relations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relation", "wanted", "version", "accepted"),
    [
        (">=", "1.0", "1.0", True),
        (">=", "1.0", "1.0~rc1", False),  # ~ sorts before everything, even the empty string
        ("<<", "1.0", "1.0~rc1", True),
        ("<<", "1.0", "1.0+deb12u1", False),
        (">>", "1.0", "1.0+b1", True),
        (">=", "1:0.5", "2.0", False),  # an epoch beats any upstream version
        ("<<", "1:0.5", "9.9", True),
        ("=", "2.36-9+deb12u4", "2.36-9+deb12u4", True),
        ("=", "2.36-9+deb12u4", "2.36-9+deb12u10", False),
        ("<=", "2.36-9+deb12u9", "2.36-9+deb12u10", False),  # numeric, not string, order
        (">=", "3.13.5-2", "3.13.5-10", True),
        (">=", "1.0", "0:1.0", True),  # epoch 0 is the same as none
    ],
)
def test_requirement_uses_debian_version_order(relation, wanted, version, accepted):
    assert Requirement("x", relation, wanted).accepts(version) is accepted


def test_unversioned_requirement_accepts_anything():
    assert Requirement("x").accepts("0~~")


def test_requirement_parse_from_the_command_line():
    assert Requirement.parse("libpq5") == Requirement("libpq5")
    pinned = Requirement.parse("libpq5=15.8-0+deb12u1")
    assert pinned == Requirement("libpq5", "=", "15.8-0+deb12u1")
    with pytest.raises(ResolveError, match="empty package name"):
        Requirement.parse("=1.0")


def test_parse_relations_keeps_alternatives_and_versions():
    groups = parse_relations("libc6 (>= 2.36), libssl3t64 | libssl3 (>= 3.0.0), debconf-2.0")
    assert groups == [
        [Requirement("libc6", ">=", "2.36")],
        [Requirement("libssl3t64"), Requirement("libssl3", ">=", "3.0.0")],
        [Requirement("debconf-2.0")],
    ]
    assert parse_relations("  ") == []


# ---- resolution -----------------------------------------------------------------------------


def test_closure_follows_depends_and_pre_depends():
    index = PackageIndex(
        [
            rec("app", depends="libfoo (>= 1.0)", pre_depends="libpre"),
            rec("libfoo", depends="libc6"),
            rec("libpre"),
            rec("libc6"),
            rec("unrelated"),
        ]
    )
    resolution = resolve(index, [Requirement("app")])
    assert resolution.names() == ["app", "libc6", "libfoo", "libpre"]
    assert resolution.why["libc6"] == ("app", "libfoo")
    assert resolution.why["app"] == ()


def test_first_satisfiable_alternative_wins():
    index = PackageIndex(
        [rec("app", depends="missing | second | third"), rec("second"), rec("third")]
    )
    assert names(index, "app") == ["app", "second"]


def test_an_alternative_already_chosen_wins():
    index = PackageIndex([rec("app", depends="first | second"), rec("first"), rec("second")])
    assert names(index, "second", "app") == ["app", "second"]


def test_an_alternative_with_a_wrong_version_is_passed_over():
    index = PackageIndex(
        [rec("app", depends="first (>= 2) | second"), rec("first", "1.0"), rec("second")]
    )
    assert names(index, "app") == ["app", "second"]


def test_virtual_package_through_provides():
    index = PackageIndex(
        [
            rec("app", depends="mail-transport-agent"),
            rec("zmailer", provides="mail-transport-agent"),
            rec("amailer", provides="mail-transport-agent"),
        ]
    )
    # Providers are ranked by name when none is chosen yet: the result must not depend on
    # the order of the index.
    assert names(index, "app") == ["amailer", "app"]
    # ... and a provider that is already chosen is used rather than a second one.
    assert names(index, "zmailer", "app") == ["app", "zmailer"]


def test_versioned_dependency_needs_a_versioned_provides():
    index = PackageIndex(
        [
            rec("app", depends="libfoo-abi (>= 2)"),
            rec("libfoo2", provides="libfoo-abi (= 2.1)"),
            rec("libfoo-unversioned", provides="libfoo-abi"),
        ]
    )
    assert names(index, "app") == ["app", "libfoo2"]
    too_new = PackageIndex(
        [rec("app", depends="libfoo-abi (>= 3)"), rec("libfoo2", provides="libfoo-abi (= 2.1)")]
    )
    with pytest.raises(ResolveError, match="libfoo-abi"):
        names(too_new, "app")


def test_provider_used_when_the_real_package_is_too_old():
    # The time_t transition: libssl3 stays at 3.0 while libssl3t64 provides libssl3 (= 3.5).
    index = PackageIndex(
        [
            rec("app", depends="libssl3 (>= 3.5)"),
            rec("libssl3", "3.0.17-1"),
            rec("libssl3t64", "3.5.1-1", provides="libssl3 (= 3.5.1-1)"),
        ]
    )
    assert names(index, "app") == ["app", "libssl3t64"]


def test_architecture_qualifiers_are_ignored():
    index = PackageIndex(
        [
            rec("app", depends="python3:any (>= 3.11), libfoo:amd64"),
            rec("python3", "3.13.5-1"),
            rec("libfoo"),
        ]
    )
    assert names(index, "app") == ["app", "libfoo", "python3"]


def test_real_package_preferred_over_providers():
    index = PackageIndex(
        [rec("app", depends="awk-ish"), rec("awk-ish"), rec("other", provides="awk-ish")]
    )
    assert names(index, "app") == ["app", "awk-ish"]


def test_highest_version_across_suites_wins():
    index = PackageIndex(
        [
            rec("libssl3", "3.0.15-1~deb12u1", suite="bookworm"),
            rec("libssl3", "3.0.17-1~deb12u2", suite="bookworm-security"),
            rec("libssl3", "3.0.16-1~deb12u1", suite="bookworm-updates"),
        ]
    )
    [chosen] = resolve(index, [Requirement("libssl3")]).packages
    assert (chosen.version, chosen.suite) == ("3.0.17-1~deb12u2", "bookworm-security")


def test_epoch_makes_a_version_the_highest():
    index = PackageIndex([rec("tzdata", "2025b-1"), rec("tzdata", "1:2020a-1", suite="other")])
    [chosen] = resolve(index, [Requirement("tzdata")]).packages
    assert chosen.version == "1:2020a-1"


def test_highest_version_that_meets_the_relation():
    index = PackageIndex(
        [
            rec("app", depends="libfoo (<< 2.0)"),
            rec("libfoo", "2.0"),
            rec("libfoo", "1.5"),
            rec("libfoo", "1.2"),
        ]
    )
    chosen = {p.name: p.version for p in resolve(index, [Requirement("app")]).packages}
    assert chosen["libfoo"] == "1.5"


def test_pinned_version_on_the_command_line():
    index = PackageIndex([rec("libfoo", "2.0"), rec("libfoo", "1.5")])
    [chosen] = resolve(index, [Requirement.parse("libfoo=1.5")]).packages
    assert chosen.version == "1.5"


def test_identical_versions_from_several_suites_are_one_candidate():
    index = PackageIndex([rec("a", "1.0", suite="s"), rec("a", "1.0", suite="s-updates")])
    assert [r.version for r in index.candidates("a")] == ["1.0"]


def test_exclusions_leave_a_package_out_whatever_needs_it():
    index = PackageIndex(
        [
            rec("app", depends="libfoo, tzdata"),
            rec("libfoo", depends="libbar"),
            rec("libbar"),
            rec("tzdata"),
        ]
    )
    assert names(index, "app", exclude=["libfoo", "tzdata"]) == ["app"]


def test_requested_and_excluded_is_an_error():
    index = PackageIndex([rec("app")])
    with pytest.raises(ResolveError, match="both requested and excluded"):
        names(index, "app", exclude=["app"])


def test_script_only_packages_are_skipped():
    assert {"debconf", "perl-base", "dpkg"} <= SCRIPT_ONLY
    index = PackageIndex(
        [
            rec("ca-certificates", depends="openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0"),
            rec("openssl", depends="libssl3"),
            rec("debconf", pre_depends="perl-base"),
            rec("perl-base"),
            rec("libssl3"),
        ]
    )
    assert names(index, "ca-certificates") == ["ca-certificates"]


def test_script_only_package_asked_for_by_name_is_installed():
    index = PackageIndex([rec("debconf", pre_depends="perl-base"), rec("perl-base")])
    # Asked for by name it comes in; what it depends on is still only for scripts.
    assert names(index, "debconf") == ["debconf"]
    assert names(index, "debconf", "perl-base") == ["debconf", "perl-base"]


def test_cycles_terminate():
    index = PackageIndex(
        [rec("a", depends="b"), rec("b", depends="c"), rec("c", depends="a (>= 1.0)")]
    )
    assert names(index, "a") == ["a", "b", "c"]


def test_self_dependency():
    index = PackageIndex([rec("a", depends="a")])
    assert names(index, "a") == ["a"]


def test_unsatisfiable_dependency_shows_the_chain():
    index = PackageIndex(
        [
            rec("python3.13-minimal", depends="libpython3.13-minimal (= 3.13.5-2)"),
            rec("libpython3.13-minimal", "3.13.5-2", depends="libssl3t64 (>= 3.5)"),
            rec("libssl3t64", "3.0.17-1"),
        ]
    )
    with pytest.raises(ResolveError) as info:
        names(index, "python3.13-minimal", suites=["trixie", "trixie-security"])
    message = str(info.value)
    assert "python3.13-minimal -> libpython3.13-minimal -> libssl3t64 (>= 3.5)" in message, message
    assert "only libssl3t64 3.0.17-1 exists" in message
    assert "trixie, trixie-security" in message
    assert info.value.exit_code == 6


def test_unsatisfiable_alternatives_are_all_named():
    index = PackageIndex([rec("app", depends="nope1 | nope2 (>= 1)")])
    with pytest.raises(ResolveError, match=r"app -> nope1 \| nope2 \(>= 1\)"):
        names(index, "app")


def test_unknown_root_package():
    index = PackageIndex([rec("app")])
    with pytest.raises(ResolveError, match="no package 'no-such-package-xyz' exists"):
        names(index, "no-such-package-xyz")


def test_version_of_a_root_that_does_not_exist():
    index = PackageIndex([rec("app", "1.0")])
    with pytest.raises(ResolveError, match=r"only app 1\.0 exists"):
        names(index, "app=2.0")


# ---- the index ------------------------------------------------------------------------------

PACKAGES = b"""\
Package: libpython3.13-minimal
Source: python3.13 (3.13.5-2)
Version: 3.13.5-2+b1
Installed-Size: 5000
Maintainer: Matthias Klose <doko@example.invalid>
Architecture: amd64
Multi-Arch: same
Depends: libc6 (>= 2.14), libssl3t64 (>= 3.0.0)
Pre-Depends: dpkg (>= 1.17.14)
Description: Minimal subset of the Python language
 continuation line: Package: not-a-field
Filename: pool/main/p/python3.13/libpython3.13-minimal_3.13.5-2+b1_amd64.deb
Size: 876543
SHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

Package: mawk
Version: 1.3.4.20250131-1
Architecture: amd64
Essential: yes
Provides: awk
Filename: pool/main/m/mawk/mawk_1.3.4.20250131-1_amd64.deb
Size: 1234
SHA256: fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210

Package: no-filename-so-not-installable
Version: 1
"""


def test_parse_packages():
    records = parse_packages(PACKAGES, suite="trixie", base_urls=("http://m.example.invalid/d",))
    assert [r.name for r in records] == ["libpython3.13-minimal", "mawk"]
    lib, mawk = records
    assert lib.version == "3.13.5-2+b1"
    assert lib.source_name == "python3.13"
    assert lib.source_version == "3.13.5-2"
    assert lib.depends == "libc6 (>= 2.14), libssl3t64 (>= 3.0.0)"
    assert lib.pre_depends == "dpkg (>= 1.17.14)"
    assert lib.multi_arch == "same"
    assert lib.size == 876543
    assert lib.urls == (
        "http://m.example.invalid/d/pool/main/p/python3.13/"
        "libpython3.13-minimal_3.13.5-2+b1_amd64.deb",
    )
    assert mawk.source_name == "mawk" and mawk.source_version == mawk.version
    assert mawk.provides == "awk"
    assert all(r.suite == "trixie" for r in records)


def test_parse_provides():
    assert parse_provides("awk, python3-foo (= 1.2), libx:any, ") == [
        ("awk", None),
        ("python3-foo", "1.2"),
        ("libx", None),
    ]
