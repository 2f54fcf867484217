"""Package indexes: the ``Packages`` files of a suite family, merged.

A trixie ``main/binary-amd64/Packages`` has about 70,000 paragraphs and the build needs a
dozen fields of a few dozen of them, so the index is read with one regular expression over the
whole text instead of a general deb822 parser: the format of these fields is fixed (one line
each), and the full control paragraph used for scanner metadata comes from the ``.deb``
itself, not from here.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from debian.debian_support import Version

_FIELDS = re.compile(
    rb"^(Package|Version|Architecture|Depends|Pre-Depends|Provides|Filename|Size|SHA256|"
    rb"Source|Multi-Arch): (.*)$",
    re.M,
)


@dataclass(frozen=True)
class PackageRecord:
    """One binary package as an index describes it."""

    name: str
    version: str
    architecture: str
    filename: str
    size: int
    sha256: str
    suite: str
    base_urls: tuple[str, ...]
    depends: str = ""
    pre_depends: str = ""
    provides: str = ""
    source: str = ""
    multi_arch: str = ""

    @property
    def source_name(self) -> str:
        return self.source.split(" ", 1)[0] if self.source else self.name

    @property
    def source_version(self) -> str:
        """Version of the source package: the one in parentheses after Source, if any."""
        if "(" in self.source:
            return self.source.split("(", 1)[1].rstrip(") ")
        return self.version

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(f"{b}/{self.filename}" for b in self.base_urls)

    @property
    def version_key(self) -> Version:
        return Version(self.version)


def parse_packages(text: bytes, *, suite: str, base_urls: tuple[str, ...]) -> list[PackageRecord]:
    records: list[PackageRecord] = []
    current: dict[bytes, bytes] = {}

    def flush() -> None:
        if b"Package" in current and b"Filename" in current:
            get = current.get
            records.append(
                PackageRecord(
                    name=get(b"Package", b"").decode(),
                    version=get(b"Version", b"").decode(),
                    architecture=get(b"Architecture", b"").decode(),
                    filename=get(b"Filename", b"").decode(),
                    size=int(get(b"Size", b"0")),
                    sha256=get(b"SHA256", b"").decode(),
                    suite=suite,
                    base_urls=base_urls,
                    depends=get(b"Depends", b"").decode(),
                    pre_depends=get(b"Pre-Depends", b"").decode(),
                    provides=get(b"Provides", b"").decode(),
                    source=get(b"Source", b"").decode(),
                    multi_arch=get(b"Multi-Arch", b"").decode(),
                )
            )

    for match in _FIELDS.finditer(text):
        key = match.group(1)
        if key == b"Package":
            flush()
            current = {}
        current[key] = match.group(2).strip()
    flush()
    return records


@dataclass(frozen=True)
class Provider:
    record: PackageRecord
    version: str | None  # the version the provided name gets, if the Provides says one


class PackageIndex:
    """All candidate versions of every package name, and who provides each virtual name."""

    def __init__(self, records: Iterable[PackageRecord]):
        self.by_name: dict[str, list[PackageRecord]] = {}
        self.providers: dict[str, list[Provider]] = {}
        for record in records:
            self.by_name.setdefault(record.name, []).append(record)
        for name, candidates in self.by_name.items():
            # Highest version first; identical versions from several suites: keep one.
            if len(candidates) > 1:
                unique: dict[str, PackageRecord] = {}
                for record in sorted(candidates, key=lambda r: r.version_key, reverse=True):
                    unique.setdefault(record.version, record)
                self.by_name[name] = list(unique.values())
        for candidates in self.by_name.values():
            for record in candidates:
                if not record.provides:
                    continue
                for provided, version in parse_provides(record.provides):
                    self.providers.setdefault(provided, []).append(Provider(record, version))

    def candidates(self, name: str) -> list[PackageRecord]:
        """Every version of ``name``, highest first."""
        return self.by_name.get(name, [])

    def providers_of(self, name: str) -> list[Provider]:
        return self.providers.get(name, [])

    def names(self) -> Iterable[str]:
        return self.by_name.keys()


def _package_lines(text: bytes) -> Iterator[tuple[bytes, int]]:
    """Each ``Package:`` line's name and where its line starts. Found with ``bytes.find``
    rather than a ``^...$`` multi-line regular expression, which tries every position of the
    56 MB index and takes five times as long."""
    find = text.find
    pos = 0 if text.startswith(b"Package: ") else find(b"\nPackage: ") + 1
    if pos == 0 and not text.startswith(b"Package: "):
        return
    while True:
        end = find(b"\n", pos)
        yield text[pos + len(b"Package: ") : end if end >= 0 else len(text)].strip(), pos
        following = find(b"\nPackage: ", pos)
        if following < 0:
            return
        pos = following + 1


@dataclass(frozen=True)
class IndexText:
    """One ``Packages`` file as downloaded: its text and where its packages come from."""

    text: bytes
    suite: str
    base_urls: tuple[str, ...]


class LazyPackageIndex(PackageIndex):
    """A :class:`PackageIndex` over whole ``Packages`` files that reads a paragraph only when
    the resolver asks for it. One regular-expression pass finds where each paragraph starts;
    who provides a virtual name is searched for when the resolver first asks. The resolver
    then reads a few dozen of 70,000 paragraphs.
    """

    def __init__(self, texts: Iterable[IndexText]):
        self._texts = list(texts)
        self._starts: list[list[int]] = []
        self._where: dict[bytes, list[tuple[int, int]]] = {}
        for t, item in enumerate(self._texts):
            starts = []
            where = self._where
            for i, (name, start) in enumerate(_package_lines(item.text)):
                starts.append(start)
                where.setdefault(name, []).append((t, i))
            self._starts.append(starts)
        self._records: dict[tuple[int, int], PackageRecord | None] = {}
        self._candidates: dict[str, list[PackageRecord]] = {}
        self._providers: dict[str, list[Provider]] = {}

    def candidates(self, name: str) -> list[PackageRecord]:
        if name not in self._candidates:
            keys = self._where.get(name.encode(), [])
            records = [r for key in keys if (r := self._record(key))]
            unique: dict[str, PackageRecord] = {}
            for record in sorted(records, key=lambda r: r.version_key, reverse=True):
                unique.setdefault(record.version, record)
            self._candidates[name] = list(unique.values())
        return self._candidates[name]

    def providers_of(self, name: str) -> list[Provider]:
        if name not in self._providers:
            # A Provides line naming it as a whole word (package names contain . + -).
            pattern = re.compile(
                rb"^Provides: (?:.*[ ,])?" + re.escape(name.encode()) + rb"(?![\w.+-])", re.M
            )
            found = []
            for t, item in enumerate(self._texts):
                for match in pattern.finditer(item.text):
                    paragraph = bisect.bisect_right(self._starts[t], match.start()) - 1
                    record = self._record((t, paragraph))
                    if record is None:
                        continue
                    for provided, version in parse_provides(record.provides):
                        if provided == name:
                            found.append(Provider(record, version))
            self._providers[name] = found
        return self._providers[name]

    def names(self) -> Iterable[str]:
        return (name.decode() for name in self._where)

    def _record(self, key: tuple[int, int]) -> PackageRecord | None:
        if key not in self._records:
            t, i = key
            item = self._texts[t]
            starts = self._starts[t]
            end = starts[i + 1] if i + 1 < len(starts) else len(item.text)
            parsed = parse_packages(
                item.text[starts[i] : end], suite=item.suite, base_urls=item.base_urls
            )
            self._records[key] = parsed[0] if parsed else None
        return self._records[key]


def parse_provides(field: str) -> list[tuple[str, str | None]]:
    out = []
    for item in field.split(","):
        item = item.strip()
        if not item:
            continue
        match = re.match(r"^([^\s(:]+)(?::\S+)?\s*(?:\(\s*=\s*([^)\s]+)\s*\))?$", item)
        if match:
            out.append((match.group(1), match.group(2)))
    return out
