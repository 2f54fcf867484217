"""Dependency resolution: from a few root packages to the full set to install.

The closure of ``Pre-Depends`` and ``Depends`` is taken breadth-first, so the chain reported
for any package (and for a failure) is a shortest one. For each dependency, an alternative
that is already chosen wins; otherwise the first alternative that can be satisfied, by a real
package (highest version across suite, -updates and -security that meets the version
relation) or by a provider of a virtual package. Version order is python-debian's
implementation of Debian's rules; relation fields are parsed by python-debian too.

Maintainer scripts never run in an image pydistroless builds, so the packages that exist only
to run them are left out (:data:`SCRIPT_ONLY`), unless asked for by name. ``--exclude`` leaves
out any package, whatever depends on it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from debian.deb822 import PkgRelation
from debian.debian_support import version_compare

from pydistroless.core.errors import ResolveError
from pydistroless.debian.index import PackageIndex, PackageRecord

# Packages that packages depend on only for their maintainer scripts (debconf prompts, awk in
# base-files' postinst, openssl for update-ca-certificates, perl for ucf, ...). Their effects
# are produced explicitly by pydistroless (the CA bundle, /etc/localtime, accounts).
SCRIPT_ONLY = frozenset(
    {
        "adduser",
        "awk",
        "cdebconf",
        "debconf",
        "debconf-2.0",
        "debianutils",
        "dpkg",
        "gawk",
        "init-system-helpers",
        "install-info",
        "libc-bin",
        "lsb-base",
        "mawk",
        "openssl",
        "original-awk",
        "passwd",
        "perl-base",
        "sensible-utils",
        "sysvinit-utils",
        "ucf",
        "usr-is-merged",
        "usrmerge",
    }
)


@dataclass(frozen=True)
class Requirement:
    name: str
    relation: str | None = None  # one of << <= = >= >>
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.name} ({self.relation} {self.version})" if self.relation else self.name

    @classmethod
    def parse(cls, text: str) -> Requirement:
        """``NAME`` or ``NAME=VERSION`` as given to ``--package``."""
        name, sep, version = text.partition("=")
        name = name.strip()
        if not name:
            raise ResolveError(f"empty package name in {text!r}; use NAME or NAME=VERSION")
        return cls(name, "=", version.strip()) if sep else cls(name)

    def accepts(self, version: str) -> bool:
        if self.relation is None or self.version is None:
            return True
        cmp = version_compare(version, self.version)
        return {
            "<<": cmp < 0,
            "<=": cmp <= 0,
            "=": cmp == 0,
            ">=": cmp >= 0,
            ">>": cmp > 0,
        }[self.relation]


@dataclass(frozen=True)
class Resolution:
    packages: tuple[PackageRecord, ...]  # sorted by name
    why: dict[str, tuple[str, ...]]  # package -> the chain of packages that pulled it in
    edges: dict[str, tuple[str, ...]]  # package -> the chosen packages it depends on

    def names(self) -> list[str]:
        return [p.name for p in self.packages]


def parse_relations(field: str) -> list[list[Requirement]]:
    groups: list[list[Requirement]] = []
    if not field.strip():
        return groups
    for group in PkgRelation.parse_relations(field):
        alternatives = []
        for alt in group:
            version = alt.get("version")
            alternatives.append(
                Requirement(alt["name"], version[0], version[1])
                if version
                else Requirement(alt["name"])
            )
        if alternatives:
            groups.append(alternatives)
    return groups


def resolve(
    index: PackageIndex,
    roots: Sequence[Requirement],
    *,
    exclude: Iterable[str] = (),
    suites: Sequence[str] = (),
) -> Resolution:
    excluded = set(exclude)
    explicit = {r.name for r in roots}
    skipped = (SCRIPT_ONLY - explicit) | excluded
    chosen: dict[str, PackageRecord] = {}
    why: dict[str, tuple[str, ...]] = {}
    queue: deque[PackageRecord] = deque()
    where = ", ".join(suites) if suites else "the archive"

    def choose(req: Requirement, chain: tuple[str, ...]) -> PackageRecord | None:
        existing = chosen.get(req.name)
        if existing is not None:
            return existing if req.accepts(existing.version) else None
        for record in index.candidates(req.name):
            if req.accepts(record.version):
                return record
        for provider in sorted(index.providers_of(req.name), key=_provider_rank(chosen)):
            if provider.record.name in skipped:
                continue
            if req.relation is None or (
                provider.version is not None and req.accepts(provider.version)
            ):
                return chosen.get(provider.record.name, provider.record)
        return None

    def add(record: PackageRecord, chain: tuple[str, ...]) -> None:
        if record.name in chosen:
            return
        chosen[record.name] = record
        why[record.name] = chain
        queue.append(record)

    for root in roots:
        if root.name in excluded:
            raise ResolveError(f"{root.name} is both requested and excluded; drop one of them")
        record = choose(root, ())
        if record is None:
            raise ResolveError(_missing(index, root, (), where))
        add(record, ())

    edges: dict[str, tuple[str, ...]] = {}
    while queue:
        record = queue.popleft()
        chain = (*why[record.name], record.name)
        targets: list[str] = []
        for group in parse_relations(record.pre_depends) + parse_relations(record.depends):
            present = next(
                (a for a in group if a.name in chosen and a.accepts(chosen[a.name].version)),
                None,
            )
            if present is not None:
                targets.append(present.name)
                continue
            if any(alt.name in skipped for alt in group):
                continue
            for alt in group:
                found = choose(alt, chain)
                if found is not None:
                    add(found, chain)
                    targets.append(found.name)
                    break
            else:
                raise ResolveError(_missing(index, group[0], chain, where, group))
        edges[record.name] = tuple(dict.fromkeys(targets))

    packages = tuple(sorted(chosen.values(), key=lambda r: r.name))
    return Resolution(packages=packages, why=why, edges=edges)


def _provider_rank(chosen: dict[str, PackageRecord]):
    def rank(provider) -> tuple[int, str]:
        return (0 if provider.record.name in chosen else 1, provider.record.name)

    return rank


def _missing(
    index: PackageIndex,
    req: Requirement,
    chain: tuple[str, ...],
    where: str,
    group: Sequence[Requirement] = (),
) -> str:
    wanted = " | ".join(str(a) for a in group) if group else str(req)
    path = " -> ".join([*chain, wanted])
    available = index.candidates(req.name)
    if available:
        versions = ", ".join(r.version for r in available[:3])
        detail = f"only {req.name} {versions} exists"
    else:
        detail = f"no package {req.name!r} exists"
    return (
        f"cannot install {path}: {detail} in {where}; check the name and version "
        "(or leave it out with --exclude)"
    )
