"""The Debian packages an sdist compiles against, found from Debian's own build of it.

psycopg2 needs ``pg_config`` and libpq's headers, python-ldap OpenLDAP's and Cyrus SASL's:
nothing in the sdist says so in a form a tool can read, but Debian packages most such
modules, and its source package's ``Build-Depends`` list exactly those headers. So the
source package of the base's suite that builds ``python3-<name>`` (or is called ``<name>`` or
``python-<name>``) is looked up in the signed ``Sources`` index, and its ``-dev`` packages and
build tools (:func:`~pydistroless.debian.source_packages.build_packages`) go into the builder
for that sdist's build, with those the user names (``--build-package``). Their closure,
resolved like any of the builder's packages, is part of the key the wheel is kept under.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.utils import InvalidSdistFilename, canonicalize_name, parse_sdist_filename

from pydistroless.core.cache import cache_key
from pydistroless.core.errors import ResolveError, UsageError
from pydistroless.core.report import log
from pydistroless.debian import source_packages
from pydistroless.debian.index import PackageIndex
from pydistroless.debian.resolve import Requirement, resolve
from pydistroless.debian.store import Store, load_index, load_releases

# Distributions whose Debian binary package is not python3-<name> (a project renamed after
# Debian packaged it, or packaged under its import name). Only well-known ones: a miss costs
# a --build-package, a wrong entry a needless package.
RENAMED = {
    "mysqlclient": "python3-mysqldb",
    "pillow": "python3-pil",
    "pyyaml": "python3-yaml",
    "pygobject": "python3-gi",
    "pynacl": "python3-nacl",
}
# Debian's Build-Depends leave out what every Debian system has (Essential packages): a
# build script may run perl (libpq-dev's pg_config is a perl script).
ESSENTIAL_FOR_BUILDS = ("perl-base",)
_RECORDS = "build-packages"


@dataclass(frozen=True)
class BuildPackages:
    """The Debian packages an sdist's build gets beyond the builder's own."""

    names: tuple[str, ...]  # what is asked for: found from Debian, and given by hand
    closure: tuple[str, ...]  # NAME=VERSION of everything they pull in, sorted
    source: str = ""  # the Debian source package they were found from, if any

    def describe(self) -> str:
        return " ".join(self.names) or "none"


def project_of(sdist_name: str) -> str:
    """The normalized project name of an sdist's file name (``python-ldap-3.4.4.tar.gz``)."""
    try:
        name, _ = parse_sdist_filename(sdist_name)
        return str(name)
    except InvalidSdistFilename:
        stem = re.sub(r"\.(tar\.\w+|tgz|zip)$", "", sdist_name)
        return canonicalize_name(stem.rsplit("-", 1)[0])


def debian_names(project: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The Debian binary packages that would be ``project``'s module, and the source package
    names it could have, best first."""
    name = canonicalize_name(project)
    bare = name.removeprefix("python-").removeprefix("py-")
    binaries = [f"python3-{name}", f"python3-{bare}"]
    if name in RENAMED:
        binaries.insert(0, RENAMED[name])
    sources = [name, f"python-{bare}", bare]
    return tuple(dict.fromkeys(binaries)), tuple(dict.fromkeys(sources))


def for_sdist(
    sdist_name: str, suite: str, arch: str, ctx: Store, by_hand: Sequence[str] = ()
) -> BuildPackages:
    """The build packages of the sdist ``sdist_name`` for ``arch`` in ``suite``: found from
    Debian's source package of it, plus ``by_hand``; kept in the cache per signed Release."""
    releases = load_releases(ctx.archive, ctx.mirrors, suite)
    project = project_of(sdist_name)
    key = cache_key(
        {
            "releases": [r.inrelease_sha256 for r in releases],
            "project": project,
            "arch": arch,
            "by-hand": sorted(by_hand),
        },
        tool=False,
    )
    known = ctx.cache.get_checked_record(_record_of, _RECORDS, key)
    if known is None:
        index = load_index(ctx.archive, releases, arch)
        for name in by_hand:
            if not _exists(index, name):
                raise UsageError(
                    f"--build-package {name}: {suite} has no package of that name for {arch}; "
                    "check the name (apt-cache search on a Debian machine finds -dev packages)"
                )
        found, source = _from_debian(project, [r.suite for r in releases], arch, index, ctx)
        names = tuple(dict.fromkeys((*found, *by_hand)))
        closure: tuple[str, ...] = ()
        if names:
            resolution = resolve(
                index, [Requirement(n) for n in names], suites=[r.suite for r in releases]
            )
            closure = tuple(sorted(f"{p.name}={p.version}" for p in resolution.packages))
        known = BuildPackages(names, closure, source)
        ctx.cache.put_checked_record(
            {"names": list(names), "closure": list(closure), "source": source}, _RECORDS, key
        )
    if known.source:
        log(f"{sdist_name}: build packages from Debian's {known.source}: {known.describe()}")
    elif known.names:
        log(f"{sdist_name}: build packages {known.describe()}")
    return known


def _from_debian(
    project: str, suites: Sequence[str], arch: str, index: PackageIndex, ctx: Store
) -> tuple[tuple[str, ...], str]:
    """The build packages of Debian's source package of ``project`` and its description;
    none (said once) when Debian has none or its Sources cannot be read."""
    binaries, names = debian_names(project)
    try:
        source = source_packages.find_source(ctx, suites, binaries=binaries, names=names)
    except ResolveError as exc:
        log(f"note: {project}: no build packages from Debian ({exc})")
        return (), ""
    if source is None:
        log(
            f"note: no Debian source package builds {binaries[0]}; {project} compiles with the "
            "builder's own packages (add what it needs with --build-package)"
        )
        return (), ""
    found = source_packages.build_packages(source, arch, lambda name: _exists(index, name))
    if not found:
        return (), str(source)
    return (*found, *ESSENTIAL_FOR_BUILDS), str(source)


def _exists(index: PackageIndex, name: str) -> bool:
    return bool(index.candidates(name) or index.providers_of(name))


def _record_of(body: object) -> BuildPackages:
    if not isinstance(body, dict) or set(body) != {"names", "closure", "source"}:
        raise ValueError("not a build packages record")
    names, closure, source = body["names"], body["closure"], body["source"]
    if not (
        isinstance(names, list)
        and isinstance(closure, list)
        and isinstance(source, str)
        and all(isinstance(n, str) for n in [*names, *closure])
    ):
        raise ValueError("not a build packages record")
    return BuildPackages(tuple(names), tuple(closure), source)
