"""A project's third-party dependencies, from whichever file declares or locks them.

Every input comes down to one of two things:

- **pins**: exact versions, with the hashes the lock allows and, where the lock lists them,
  its wheel files (``pylock.toml``, ``uv.lock``, ``poetry.lock``, ``Pipfile.lock``, and a
  ``requirements.txt`` whose every line is ``==`` with ``--hash``). Nothing is resolved again.
- **a resolution**: requirements to resolve for the target (a ``requirements.txt`` with
  ranges, ``pyproject.toml``'s ``[project]`` dependencies), handed to uv.

Markers are evaluated for the target Python, never for the host.

Where packages come from travels with them: the index lines of a ``requirements.txt``
(``--index-url``, ``--extra-index-url``, ``--find-links``, ``--no-index``), the sources of a
``Pipfile.lock`` or a ``poetry.lock``, for uv to look pins up on. A login in any of their URLs,
or in a lock's file URL, is split off here (:class:`Dependencies` ``logins``): every URL kept
is without one, so none reaches the image's SBOM or lock, or a message.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pydistroless.core.errors import UsageError
from pydistroless.core.net import Login, split_login
from pydistroless.python.project import within

# The files looked for in a project, the most exact first.
LOCK_FILES = ("pylock.toml", "uv.lock", "poetry.lock", "Pipfile.lock")
DECLARATIONS = ("requirements.txt", "pyproject.toml")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# pip's options of a requirements file that say where packages come from
_INDEX_LINE = re.compile(
    r"^(-i|--index-url|--extra-index-url|-f|--find-links)(?:\s*=\s*|\s+)(\S+)$|^--no-index$"
)


@dataclass(frozen=True)
class WheelFile:
    """One wheel a lock or an index offers: where it is and what it must hash to."""

    filename: str
    url: str
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class Pin:
    """An exact version, with the SHA256s the lock allows (empty: the index's are used)."""

    name: str  # canonical (PEP 503)
    version: str
    hashes: frozenset[str] = frozenset()
    wheels: tuple[WheelFile, ...] = ()  # as the lock lists them; empty: ask the index
    sdist: WheelFile | None = None  # the source distribution, when the lock names one

    def line(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Dependencies:
    """What a project depends on, and the file that says so."""

    source: Path
    pins: tuple[Pin, ...] | None = None  # exact: install these and nothing else
    resolve: Path | None = None  # else: a file uv resolves (requirements.txt, pyproject.toml)
    extras: tuple[str, ...] = ()
    # Where the pins are looked up, as requirements-file lines for uv (logins and all).
    indexes: tuple[str, ...] = field(default=(), repr=False)
    # The logins the file's URLs carry, each for its URL's scheme, host and port.
    logins: tuple[Login, ...] = field(default=(), repr=False)


def find(project: Path, explicit: Path | None = None) -> Path | None:
    """The dependency file of ``project``: ``explicit``, else the most exact one there."""
    if explicit is not None:
        if not explicit.is_file():
            raise UsageError(f"--requirements {explicit}: no such file")
        return explicit
    for name in (*LOCK_FILES, *DECLARATIONS):
        path = within(project, name, "the dependency file")
        if path.is_file():
            return path
    return None


def read(path: Path, markers: Mapping[str, str], *, extras: Sequence[str] = ()) -> Dependencies:
    """The dependencies ``path`` gives, for a Python whose PEP 508 environment is
    ``markers``."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    if name == "pylock.toml" or re.fullmatch(r"pylock\.[^.]+\.toml", name):
        data = _toml(path, text)
        pins = pylock_pins(data, markers, where=str(path), base=path.parent)
        return Dependencies(path, pins=pins, logins=pylock_logins(data))
    if name == "poetry.lock":
        data = _toml(path, text)
        lines = _poetry_indexes(data)
        return Dependencies(
            path,
            pins=_poetry(data, markers, str(path)),
            indexes=lines,
            logins=index_logins(lines),
        )
    if name == "Pipfile.lock":
        pins, lines = _pipfile(text, markers, str(path))
        return Dependencies(path, pins=pins, indexes=lines, logins=index_logins(lines))
    if name == "uv.lock":
        # uv reads its own lock: `uv export` turns it into a pylock.toml (see wheels.py).
        return Dependencies(path, resolve=path, extras=tuple(extras))
    if name == "pyproject.toml":
        return Dependencies(path, resolve=path, extras=tuple(extras))
    return _requirements(path, text, markers)


def _toml(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise UsageError(f"{path}: arrays or tables nested too deeply to read") from None


def _applies(marker: str | None, markers: Mapping[str, str], where: str) -> bool:
    if not marker:
        return True
    try:
        return Marker(marker).evaluate(
            {**markers, "extra": "", "extras": frozenset(), "dependency_groups": frozenset()},
            "lock_file",
        )
    except InvalidMarker as exc:
        raise UsageError(f"{where}: marker {marker!r} is not valid ({exc})") from None


def _hash(value: object, where: str) -> str | None:
    """A ``sha256:HEX`` (or a bare 64-hex) as the hex, or None for another algorithm."""
    if not isinstance(value, str):
        raise UsageError(f"{where}: a hash must be a string, not {value!r}")
    algorithm, _, hexdigest = value.partition(":") if ":" in value else ("sha256", "", value)
    if algorithm != "sha256":
        return None
    if not _SHA256.match(hexdigest.lower()):
        raise UsageError(f"{where}: {value!r} is not a SHA256")
    return hexdigest.lower()


# ---- PEP 751 ---------------------------------------------------------------------------------


def pylock_pins(
    data: Mapping[str, Any], markers: Mapping[str, str], *, where: str, base: Path | None = None
) -> tuple[Pin, ...]:
    """The packages of a PEP 751 lock that apply to ``markers``; a wheel's ``path`` is
    relative to ``base``, the lock's folder."""
    version = str(data.get("lock-version", ""))
    if not version.startswith("1."):
        raise UsageError(f"{where}: lock-version {version or '(none)'} is not a PEP 751 lock 1.x")
    pins = []
    for number, package in enumerate(data.get("packages") or [], 1):
        if not isinstance(package, dict):
            raise UsageError(f"{where}: package {number} is not a table")
        name = package.get("name")
        if not isinstance(name, str):
            raise UsageError(f"{where}: package {number} has no name")
        if not _applies(package.get("marker"), markers, f"{where}: {name}"):
            continue
        if "version" not in package:
            source = "directory" if "directory" in package else "vcs" if "vcs" in package else ""
            raise UsageError(
                f"{where}: {name} comes from a {source or 'source'} without a version; "
                "pydistroless installs released wheels (build the project itself with its "
                "[build-system])"
            )
        files = [_pylock_file(w, base, f"{where}: {name}") for w in package.get("wheels") or []]
        wheels = tuple(f for f in files if f is not None)
        sdist = _pylock_file(package["sdist"], base, where) if package.get("sdist") else None
        hashes = frozenset(w.sha256 for w in (*wheels, *([sdist] if sdist else [])))
        pins.append(Pin(canonicalize_name(name), str(package["version"]), hashes, wheels, sdist))
    return tuple(pins)


def _pylock_file(entry: Any, base: Path | None, where: str) -> WheelFile | None:
    """A wheel or sdist table of a PEP 751 lock (``url`` or a ``path`` relative to the lock)."""
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: a file entry is not a table")
    url = entry.get("url")
    if url:
        url = split_login(str(url))[0]  # its login: pylock_logins
    elif entry.get("path") and base is not None:
        url = (base / str(entry["path"])).resolve().as_uri()
    sha = _hash(f"sha256:{(entry.get('hashes') or {}).get('sha256', '')}", where)
    filename = entry.get("name") or str(url).rsplit("/", 1)[-1]
    if not url or not sha:
        return None
    return WheelFile(filename, str(url), sha, entry.get("size"))


def pylock_logins(data: Mapping[str, Any]) -> tuple[Login, ...]:
    """The logins in a PEP 751 lock's URLs: its packages' indexes and files."""
    urls: list[object] = []
    for package in data.get("packages") or []:
        if isinstance(package, dict):
            urls.append(package.get("index"))
            files = [*(package.get("wheels") or []), package.get("sdist"), package.get("archive")]
            urls += [f.get("url") for f in files if isinstance(f, dict)]
    return _logins(u for u in urls if isinstance(u, str))


def index_logins(lines: Iterable[str]) -> tuple[Login, ...]:
    """The logins in the URLs of requirements-file index lines, ``${VAR}`` expanded as pip
    and uv expand them."""
    return _logins(line.split()[-1] for line in lines if line != "--no-index")


def _logins(urls: Iterable[str]) -> tuple[Login, ...]:
    found = (split_login(expand_variables(url))[1] for url in urls)
    return tuple(login for login in found if login is not None)


def expand_variables(text: str) -> str:
    """``${NAME}`` replaced by the environment's ``NAME`` (pip's rule: upper case, digits and
    ``_``), left as it is when unset."""
    return re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: os.environ.get(m.group(1), m.group(0)), text)


# ---- poetry and pipenv -------------------------------------------------------------------------


def _poetry(data: Mapping[str, Any], markers: Mapping[str, str], where: str) -> tuple[Pin, ...]:
    packages = data.get("package")
    if not isinstance(packages, list):
        raise UsageError(f"{where}: no [[package]] tables; is it a poetry.lock?")
    pins = []
    for package in packages:
        name, version = package.get("name"), package.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise UsageError(f"{where}: a [[package]] without name or version")
        groups = package.get("groups") or [package.get("category", "main")]
        if "main" not in groups or package.get("optional"):
            continue
        marker = package.get("markers")
        if isinstance(marker, dict):  # per group, poetry 2: the main group's
            marker = marker.get("main")
        if not _applies(marker, markers, f"{where}: {name}"):
            continue
        hashes = {h for f in package.get("files") or [] if (h := _hash(f.get("hash", ""), where))}
        pins.append(Pin(canonicalize_name(name), version, frozenset(hashes)))
    return tuple(pins)


def _poetry_indexes(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The package indexes (``legacy`` sources) a poetry.lock names besides PyPI."""
    urls: dict[str, None] = {}
    for package in data.get("package") or []:
        source = package.get("source") if isinstance(package, dict) else None
        legacy = isinstance(source, dict) and source.get("type") == "legacy"
        if legacy and isinstance(source.get("url"), str):
            urls[source["url"]] = None
    return tuple(f"--extra-index-url {url}" for url in urls)


def _pipfile(
    text: str, markers: Mapping[str, str], where: str
) -> tuple[tuple[Pin, ...], tuple[str, ...]]:
    """The pins of a Pipfile.lock, and its sources as index lines."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise UsageError(f"{where}: arrays or objects nested too deeply to read") from None
    default = data.get("default") if isinstance(data, dict) else None
    if not isinstance(default, dict):
        raise UsageError(f'{where}: no "default" section; is it a Pipfile.lock?')
    pins = []
    for name, entry in sorted(default.items()):
        version = entry.get("version", "") if isinstance(entry, dict) else ""
        if not version.startswith("=="):
            raise UsageError(
                f"{where}: {name} is not pinned to a released version (==X); pydistroless "
                "installs released wheels"
            )
        if not _applies(entry.get("markers"), markers, f"{where}: {name}"):
            continue
        hashes = {h for value in entry.get("hashes") or [] if (h := _hash(value, where))}
        pins.append(Pin(canonicalize_name(name), version[2:], frozenset(hashes)))
    meta = data.get("_meta")
    sources = meta.get("sources") if isinstance(meta, dict) else None
    urls = [
        _expand_pipenv(s["url"])
        for s in (sources if isinstance(sources, list) else [])
        if isinstance(s, dict) and isinstance(s.get("url"), str)
    ]
    lines = [f"--index-url {url}" for url in urls[:1]]
    lines += [f"--extra-index-url {url}" for url in urls[1:]]
    return tuple(pins), tuple(lines)


def _expand_pipenv(url: str) -> str:
    """pipenv expands ``${NAME}`` and ``$NAME`` in a source's URL."""
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)",
        lambda m: os.environ.get(m.group(1) or m.group(2), m.group(0)),
        url,
    )


# ---- requirements.txt --------------------------------------------------------------------------


def _requirements(path: Path, text: str, markers: Mapping[str, str]) -> Dependencies:
    """Exact pins when every requirement is ``==`` with ``--hash`` (pip's hash-checking mode,
    which forces a complete set); anything else is resolved by uv, with the file as it is."""
    pins: list[Pin] = []
    indexes: list[str] = []
    exact = True
    for number, line in _logical_lines(text):
        hashes = re.findall(r"--hash[= ](\S+)", line)
        requirement = re.sub(r"\s--hash[= ]\S+", "", f" {line}").strip()
        if requirement.startswith("-"):
            exact = False  # -r, -c, --index-url, -e: uv reads them
            found = _INDEX_LINE.match(requirement)
            if found:
                indexes.append(" ".join(g for g in found.groups() if g) or "--no-index")
            continue
        try:
            parsed = Requirement(requirement)
        except InvalidRequirement as exc:
            raise UsageError(
                f"{path}:{number}: {requirement!r} is not a requirement ({exc})"
            ) from None
        if parsed.marker is not None and not parsed.marker.evaluate(dict(markers)):
            continue
        specs = list(parsed.specifier)
        pinned = (
            len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version
        )
        if not (pinned and hashes) or parsed.url:
            exact = False
            continue
        sha = frozenset(h for value in hashes if (h := _hash(value, f"{path}:{number}")))
        pins.append(Pin(canonicalize_name(parsed.name), specs[0].version, sha))
    if exact and pins:
        return Dependencies(path, pins=tuple(pins))
    return Dependencies(path, resolve=path, indexes=tuple(indexes), logins=index_logins(indexes))


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with ``\\`` continuations joined and comments removed, with their numbers."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            out.append((start, line))
    if pending.strip():
        out.append((start, pending.strip()))
    return out
