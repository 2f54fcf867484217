"""The Debian packages an sdist compiles against: Debian's source package of it found in the
signed Sources index, its Build-Depends read for a plain compile, the user's added; and the
line a failed build is reported with. A signed local repository, no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydistroless.core import sandbox
from pydistroless.core.arch import host_arch
from pydistroless.core.errors import ResolveError, UsageError
from pydistroless.debian import source_packages
from pydistroless.debian.source_packages import SourcePackage
from pydistroless.debian.sources import SourceOptions
from pydistroless.debian.store import Store
from pydistroless.python import build_packages
from tests.fixtures.debs import simple_deb
from tests.fixtures.repo import Repo, RepoPackage, build_repo

ARCH = host_arch()
OTHER = "arm64" if ARCH != "arm64" else "amd64"

SOURCES = f"""\
Package: django-python3-ldap
Binary: python3-django-python3-ldap
Version: 0.15.8-1
Build-Depends: debhelper-compat (= 13), libdecoy-dev
Directory: pool/main/d/django-python3-ldap

Package: psycopg2
Binary: python3-psycopg2, python-psycopg2-doc
Version: 2.9.10-1
Build-Depends: debhelper-compat (= 13), dh-python, libpq-dev, postgresql,
 python3-all-dev:any, python3-setuptools, python3-sphinx, libcheck-dev <!nocheck>,
 libnotours-dev [{OTHER}], libours-dev [{ARCH}], pkgconf <nocheck>
Build-Depends-Indep: libdoc-dev
Directory: pool/main/p/psycopg2

Package: psycopg2
Binary: python3-psycopg2
Version: 2.8.0-1
Build-Depends: libold-dev
Directory: pool/main/p/psycopg2

Package: python-ldap
Binary: python-ldap-doc, python3-ldap, python3-pyldap
Version: 3.4.4-1+deb13u1
Build-Depends: debhelper-compat (= 13), libldap2-dev, libsasl2-dev, python3-all-dbg
Directory: pool/main/p/python-ldap

Package: python-mysqldb
Binary: python3-mysqldb
Version: 1.4.6-2
Build-Depends: libmysqlclient-dev | default-libmysqlclient-dev, zlib1g-dev
Directory: pool/main/p/python-mysqldb

Package: uwsgi
Binary: uwsgi-core, uwsgi-plugin-python3
Version: 2.0.28-9
Build-Depends: libpcre2-dev
Directory: pool/main/u/uwsgi
"""

# The binary packages of the repository: the -dev packages above that exist, with a
# dependency each, and perl-base (Essential: a Build-Depends never names it).
PACKAGES = {
    "libpq-dev": "libpq5",
    "libpq5": "",
    "libours-dev": "",
    "libldap2-dev": "libldap2",
    "libldap2": "",
    "libsasl2-dev": "",
    "default-libmysqlclient-dev": "",
    "zlib1g-dev": "",
    "libpcre2-dev": "",
    "libdecoy-dev": "",
    "perl-base": "",
    "pkgconf": "",
    "libfoo-dev": "",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    packages = [
        RepoPackage(name, "1.0-1", simple_deb(name, "1.0-1", architecture=ARCH), depends=dep)
        for name, dep in PACKAGES.items()
    ]
    root = tmp_path_factory.mktemp("sources-archive") / "repo"
    return build_repo(root, packages, arch=ARCH, sources=SOURCES)


@pytest.fixture
def store(repo: Repo, tmp_path: Path) -> Store:
    options = SourceOptions(
        mirrors=(repo.url,),
        security_mirrors=(repo.url,),
        keyrings=(repo.keyring,),
        cache_dir=tmp_path / "cache",
    )
    return Store.create(options, progress=False)


def test_the_source_package_is_the_one_whose_binaries_hold_the_module(store: Store):
    found = source_packages.find_source(store, ["pdltest"], binaries=["python3-ldap"])
    assert found is not None
    assert (found.name, found.version, found.suite) == ("python-ldap", "3.4.4-1+deb13u1", "pdltest")
    assert found.binaries == ("python-ldap-doc", "python3-ldap", "python3-pyldap")
    # A package whose name only contains the word does not count.
    decoy = source_packages.find_source(store, ["pdltest"], binaries=["python3-django"])
    assert decoy is None


def test_of_two_versions_the_highest_wins(store: Store):
    found = source_packages.find_source(store, ["pdltest"], binaries=["python3-psycopg2"])
    assert found is not None and found.version == "2.9.10-1"
    assert "libpq-dev" in found.build_depends and "libdoc-dev" not in found.build_depends


def test_a_source_is_found_by_its_own_name_when_no_binary_matches(store: Store):
    found = source_packages.find_source(
        store, ["pdltest"], binaries=["python3-uwsgi"], names=["uwsgi"]
    )
    assert found is not None and found.binaries == ("uwsgi-core", "uwsgi-plugin-python3")


def test_build_depends_are_read_for_a_plain_compile():
    source = SourcePackage(
        "psycopg2",
        "2.9.10-1",
        "trixie",
        ("python3-psycopg2",),
        "debhelper-compat (= 13), dh-python, dh-sequence-python3, libpq-dev, postgresql, "
        "python3-all-dev:any, libpython3-all-dev, cython3-dev, python3-sphinx, sphinx-common, "
        f"libcheck-dev <!nocheck>, libdocs-dev <!nodoc>, pkgconf <nocheck>, "
        f"libnotours-dev [{OTHER}], libours-dev [{ARCH}], libnotus-dev [!{ARCH}], "
        "liblinux-dev [linux-any], libx-dev | liby-dev, libmissing-dev | libfallback-dev, "
        "swig, libpq-dev",
    )
    absent = {"libmissing-dev"}
    got = source_packages.build_packages(source, ARCH, lambda name: name not in absent)
    # Debian's packaging, its Python, docs, test tools and other architectures' are left out.
    assert got == (
        "libpq-dev",
        "pkgconf",
        "libours-dev",
        "liblinux-dev",
        "libx-dev",
        "libfallback-dev",
        "swig",
    )


def test_an_sdist_gets_the_dev_packages_of_debians_build_and_perl(store: Store):
    found = build_packages.for_sdist("psycopg2-2.9.10.tar.gz", "pdltest", ARCH, store)
    assert found.names == ("libpq-dev", "libours-dev", "pkgconf", "perl-base")
    assert found.source == "psycopg2 2.9.10-1 (pdltest)"
    # The closure (what the wheel is kept under) has every package with its version.
    assert found.closure == tuple(
        f"{n}=1.0-1" for n in sorted(["libpq-dev", "libpq5", "libours-dev", "pkgconf", "perl-base"])
    )


def test_irregular_names_are_found(store: Store):
    ldap = build_packages.for_sdist("python-ldap-3.4.4.tar.gz", "pdltest", ARCH, store)
    assert ldap.names == ("libldap2-dev", "libsasl2-dev", "perl-base")
    mysql = build_packages.for_sdist("mysqlclient-2.2.7.tar.gz", "pdltest", ARCH, store)
    assert mysql.names == ("default-libmysqlclient-dev", "zlib1g-dev", "perl-base")


def test_packages_by_hand_come_beside_debians_and_alone_when_debian_has_none(
    store: Store, capsys: pytest.CaptureFixture[str]
):
    both = build_packages.for_sdist(
        "psycopg2-2.9.10.tar.gz", "pdltest", ARCH, store, ["libfoo-dev"]
    )
    assert both.names[-1] == "libfoo-dev" and "libpq-dev" in both.names
    alone = build_packages.for_sdist("tinyext-1.0.tar.gz", "pdltest", ARCH, store, ["libfoo-dev"])
    assert (alone.names, alone.closure, alone.source) == (
        ("libfoo-dev",),
        ("libfoo-dev=1.0-1",),
        "",
    )
    none = build_packages.for_sdist("tinyext-1.0.tar.gz", "pdltest", ARCH, store)
    assert none.names == () and none.closure == ()
    assert "note: no Debian source package builds python3-tinyext" in capsys.readouterr().err


def test_a_build_package_that_does_not_exist_is_one_line(store: Store):
    with pytest.raises(UsageError, match=r"^--build-package libnope-dev: pdltest has no package"):
        build_packages.for_sdist("tinyext-1.0.tar.gz", "pdltest", ARCH, store, ["libnope-dev"])


def test_the_answer_is_kept_per_signed_release(store: Store, monkeypatch: pytest.MonkeyPatch):
    first = build_packages.for_sdist("psycopg2-2.9.10.tar.gz", "pdltest", ARCH, store)

    def no_lookup(*args: object, **kw: object) -> None:
        raise AssertionError("looked up again")

    monkeypatch.setattr(source_packages, "find_source", no_lookup)
    assert build_packages.for_sdist("psycopg2-2.9.10.tar.gz", "pdltest", ARCH, store) == first


def test_a_mirror_without_sources_costs_a_note_not_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    bare = build_repo(
        tmp_path / "bare",
        [RepoPackage("libfoo-dev", "1.0-1", simple_deb("libfoo-dev", architecture=ARCH))],
        arch=ARCH,
    )
    options = SourceOptions(
        mirrors=(bare.url,), keyrings=(bare.keyring,), cache_dir=tmp_path / "cache"
    )
    found = build_packages.for_sdist(
        "psycopg2-2.9.10.tar.gz", "pdltest", ARCH, Store.create(options, progress=False)
    )
    assert found.names == ()
    assert "lists no main/source/Sources index" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sdist", "project"),
    [
        ("psycopg2-2.9.10.tar.gz", "psycopg2"),
        ("python-ldap-3.4.4.tar.gz", "python-ldap"),
        ("mysqlclient-2.2.7.zip", "mysqlclient"),
        ("Foo_Bar-1.0.tar.bz2", "foo-bar"),
    ],
)
def test_the_project_of_an_sdist_is_its_normalized_name(sdist: str, project: str):
    assert build_packages.project_of(sdist) == project


PSYCOPG2_LOG = """\
Processing /build/sdist-x/psycopg2-2.9.10.tar.gz
  Preparing metadata (pyproject.toml): started
  error: subprocess-exited-with-error

  × python setup.py egg_info did not run successfully.
  │ exit code: 1
  ╰─> [23 lines of output]
      running egg_info
      writing psycopg2.egg-info/PKG-INFO

      Error: pg_config executable not found.

      pg_config is required to build psycopg2 from source.  Please add the directory
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
error: metadata-generation-failed

× Encountered error while generating package metadata.
╰─> See above for output.
"""


@pytest.mark.parametrize(
    ("log", "cause"),
    [
        (PSYCOPG2_LOG, "Error: pg_config executable not found."),
        (
            "  gcc -c Modules/LDAPObject.c\n"
            "  Modules/common.h:15:10: fatal error: lber.h: No such file or directory\n"
            "  error: command '/usr/bin/gcc' failed with exit code 1\n"
            "ERROR: Failed building wheel for python-ldap\n",
            "Modules/common.h:15:10: fatal error: lber.h: No such file or directory",
        ),
        (
            "  running build_ext\n  error: command 'gcc' failed: No such file or directory\n"
            "  error: subprocess-exited-with-error\n",
            "error: command 'gcc' failed: No such file or directory",
        ),
        (
            '  Traceback (most recent call last):\n    File "setup.py", line 1\n'
            "  ModuleNotFoundError: No module named 'numpy'\n  [end of output]\n",
            "ModuleNotFoundError: No module named 'numpy'",
        ),
        (
            "  /usr/bin/ld: cannot find -lpq: No such file\n",
            "/usr/bin/ld: cannot find -lpq: No such file",
        ),
        ("error: subprocess-exited-with-error\nERROR: Failed building wheel for x\n", None),
    ],
)
def test_the_first_real_error_is_the_line_not_pips_summary(log: str, cause: str | None):
    assert sandbox.first_error(log.splitlines()) == cause


def test_the_line_shown_for_a_failure_is_the_first_error(tmp_path: Path):
    log = tmp_path / "build.log"
    log.write_text(PSYCOPG2_LOG)
    assert sandbox.show_failure(log) == "Error: pg_config executable not found."
    log.write_text("configure: checking\nsomething went wrong somewhere\n\n")
    assert sandbox.show_failure(log) == "something went wrong somewhere"


def test_an_unreadable_sources_index_everywhere_is_one_line(tmp_path: Path):
    bare = build_repo(tmp_path / "bare", [], arch=ARCH)
    options = SourceOptions(mirrors=(bare.url,), keyrings=(bare.keyring,), cache_dir=tmp_path)
    with pytest.raises(ResolveError, match=r"^cannot read the Sources index of pdltest: "):
        source_packages.find_source(
            Store.create(options, progress=False), ["pdltest"], binaries=["python3-x"]
        )
