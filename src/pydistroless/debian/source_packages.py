"""Debian's source packages, as the signed ``Sources`` index of a suite describes them.

A source package says what it is built from (its files and their SHA256s) and what its build
needs (``Build-Depends``). The index is checked against the signed Release like a
``Packages`` index (:meth:`~pydistroless.debian.archive.Archive.sources`); it has some 40,000
paragraphs, of which a lookup wants one or two, so paragraphs are found with a byte search on
the field asked for and only those are parsed.

What a build needs is read for a plain compile of the upstream code: the ``-dev`` packages
and a few tools a ``setup.py`` or a configure script calls (:data:`BUILD_TOOLS`); Debian's
packaging (debhelper, ``dh-*``), its Python modules (an sdist's build gets those as wheels),
documentation and test tools are left out, as is everything for another architecture or
only for the ``nocheck``/``nodoc`` build profiles' opposite.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from debian.deb822 import PkgRelation, Sources
from debian.debian_support import version_compare

from pydistroless.core.errors import PydistrolessError, ResolveError
from pydistroless.debian.archive import Release
from pydistroless.debian.store import Store

# Tools a build calls that are not -dev packages: pkg-config (its two names), code generators,
# assemblers, other compilers and build systems.
BUILD_TOOLS = frozenset(
    {
        "pkgconf",
        "pkg-config",
        "swig",
        "swig4.0",
        "bison",
        "flex",
        "nasm",
        "yasm",
        "gfortran",
        "cmake",
        "ninja-build",
        "autoconf",
        "automake",
        "libtool",
        "gettext",
        "perl",
    }
)
# -dev packages of Debian's own Python and its packaging: the builder has the base's Python
# and its headers, and an sdist's Python build requirements come as wheels.
_NOT_FOR_A_PLAIN_BUILD = re.compile(r"^(python|libpython|pypy|cython|dh-|debhelper|dpkg-dev$)")
SOURCES = "main/source/Sources"
# The build profiles of a build that runs no tests and makes no documentation.
PROFILES = frozenset({"nocheck", "nodoc"})


@dataclass(frozen=True)
class SourcePackage:
    """One source package of a suite's ``Sources`` index."""

    name: str
    version: str
    suite: str
    binaries: tuple[str, ...]
    build_depends: str  # Build-Depends and Build-Depends-Arch, as one relation field

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.suite})"


def suite_sources(
    ctx: Store, suites: Sequence[str], failures: list[str], *, listed: bool = True
) -> Iterator[tuple[str, Release, bytes]]:
    """The ``main`` ``Sources`` index of each of ``suites`` the mirror serves, in order,
    checked against its signed Release; why a suite could not be read (an expired Release,
    say) is appended to ``failures``. A Release that lists no ``Sources`` is an error unless
    ``listed`` is false (a mirror of binary packages only): then it is one more failure."""
    for suite in suites:
        try:
            release = ctx.archive.release(ctx.mirrors.main, suite, required=False)
        except PydistrolessError as exc:
            failures.append(str(exc))
            continue
        if release is None:
            continue
        if not listed and not any(n.startswith(SOURCES) for n in release.files):
            failures.append(f"{suite}: its Release lists no {SOURCES} index")
            continue
        yield suite, release, ctx.archive.sources(release, "main")


def paragraphs(text: bytes, field: str, word: str) -> Iterator[Sources]:
    """The paragraphs of a ``Sources`` index whose ``field`` names ``word`` (as a whole
    package name, in a comma-separated list or alone), parsed."""
    pattern = re.compile(
        rb"^" + re.escape(field.encode()) + rb": (?:.*[ ,])?" + re.escape(word.encode())
        + rb"(?![\w.+-])",
        re.M,
    )  # fmt: skip
    for match in pattern.finditer(text):
        before = text.rfind(b"\n\n", 0, match.start())
        start = before + 2 if before >= 0 else 0
        end = text.find(b"\n\n", match.end())
        yield Sources(text[start : end if end >= 0 else len(text)].decode("utf-8", "replace"))


def find_source(
    ctx: Store, suites: Sequence[str], *, binaries: Sequence[str], names: Sequence[str] = ()
) -> SourcePackage | None:
    """The source package (its highest version across ``suites``) that builds one of
    ``binaries``, else the one called one of ``names``: the first in each list wins."""
    failures: list[str] = []
    texts = [(suite, text) for suite, _, text in suite_sources(ctx, suites, failures, listed=False)]
    if not texts:
        why = failures[0] if failures else "the mirror serves none of them"
        raise ResolveError(f"cannot read the Sources index of {', '.join(suites)}: {why}")
    for field, words, fits in (
        ("Binary", binaries, _builds),
        ("Package", names, lambda paragraph, word: paragraph.get("Package") == word),
    ):
        for word in words:
            found = [
                _package(paragraph, suite)
                for suite, text in texts
                for paragraph in paragraphs(text, field, word)
                if fits(paragraph, word)
            ]
            if found:
                return max(found, key=_VersionOrder)
    return None


def build_packages(
    source: SourcePackage, arch: str, exists: Callable[[str], bool]
) -> tuple[str, ...]:
    """What of ``source``'s ``Build-Depends`` a plain compile of its upstream code on
    ``arch`` needs (see the module's docstring): of each alternative group, the first such
    package that ``exists``; nothing of a group that offers none."""
    chosen: list[str] = []
    for group in PkgRelation.parse_relations(source.build_depends):
        for alternative in group:
            name = alternative["name"]
            if not _applies(alternative, arch) or not needed_for_build(name):
                continue
            if exists(name):
                if name not in chosen:
                    chosen.append(name)
                break
    return tuple(chosen)


def needed_for_build(name: str) -> bool:
    """Whether a build dependency called ``name`` serves a plain compile."""
    if _NOT_FOR_A_PLAIN_BUILD.match(name):
        return False
    return name.endswith("-dev") or name in BUILD_TOOLS


def _applies(relation: dict, arch: str) -> bool:
    """Whether a relation holds for ``arch`` and the :data:`PROFILES` build."""
    arches = relation.get("arch")
    if arches:
        positive = [a for a in arches if a.enabled]
        if any(not a.enabled and _matches(a.arch, arch) for a in arches):
            return False
        if positive and not any(_matches(a.arch, arch) for a in positive):
            return False
    restrictions = relation.get("restrictions")
    if not restrictions:
        return True
    # A list of terms that must all hold, any one list of which is enough.
    return any(
        all((term.profile in PROFILES) == term.enabled for term in terms) for terms in restrictions
    )


def _matches(wildcard: str, arch: str) -> bool:
    """Whether a Debian architecture (``amd64``) is one an architecture restriction names
    (``amd64``, ``any``, ``linux-any``, ``any-amd64``)."""
    return wildcard in (arch, "any", "linux-any", f"any-{arch}", f"linux-{arch}")


def _builds(paragraph: Sources, binary: str) -> bool:
    return binary in (b.strip() for b in paragraph.get("Binary", "").split(","))


def _package(paragraph: Sources, suite: str) -> SourcePackage:
    depends = ", ".join(
        value
        for key in ("Build-Depends", "Build-Depends-Arch")
        if (value := " ".join(paragraph.get(key, "").split()))
    )
    return SourcePackage(
        name=paragraph.get("Package", ""),
        version=paragraph.get("Version", ""),
        suite=suite,
        binaries=tuple(b.strip() for b in paragraph.get("Binary", "").split(",") if b.strip()),
        build_depends=depends,
    )


class _VersionOrder:
    """Orders source packages by their Debian version."""

    def __init__(self, package: SourcePackage):
        self.version = package.version

    def __lt__(self, other: _VersionOrder) -> bool:
        return version_compare(self.version, other.version) < 0
