"""A project's third-party dependencies, from whichever file declares or locks them.

Every input comes down to one of two things:

- **pins**: exact versions, with the hashes the lock allows and, where the lock lists them,
  its wheel files (``pylock.toml``, ``uv.lock``, ``poetry.lock``, ``Pipfile.lock``, and a
  ``requirements.txt`` whose every line is ``==`` with ``--hash``). Nothing is resolved again.
- **a resolution**: requirements to resolve for the target (a ``requirements.txt`` with
  ranges, ``pyproject.toml``'s ``[project]`` dependencies), handed to uv.

Markers are evaluated for the target Python, never for the host.

A **direct reference** (``name @ URL`` or a local file in a requirements file, a PEP 751
``archive`` or file ``path``, what ``uv export`` makes of a uv.lock ``path``/``url`` source,
a Pipfile.lock ``file``/``path``, a poetry.lock ``file``/``url`` source) is that file and no
other: its pin carries it with the SHA256 the lock gives (a local file without one is read
here and its digest recorded), and is never looked up by name on an index, where another file
of the same name and version may wait (dependency confusion). A ``file:`` URL is
percent-decoded, a relative path is relative to the dependency file's folder.

Where packages come from travels with them: the index lines of a ``requirements.txt``
(``--index-url``, ``--extra-index-url``, ``--find-links``, ``--no-index``), the sources of a
``Pipfile.lock`` or a ``poetry.lock``, for uv to look pins up on. A login in any of their URLs,
or in a lock's file URL, is split off here (:class:`Dependencies` ``logins``): every URL kept
is without one, so none reaches the image's SBOM or lock, or a message.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tomllib
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pydistroless.core.errors import IntegrityError, UsageError
from pydistroless.core.files import describe_mode
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
    # A direct reference, as the file gives it (its URL without a login, or its path): the
    # pin is its file (``wheels`` or ``sdist``; none: a directory or VCS, which is refused)
    # and is never looked up on an index. Empty: an index's release.
    direct: str = ""

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
        try:
            mode = explicit.stat().st_mode
        except OSError:
            raise UsageError(f"--requirements {explicit}: no such file") from None
        if not stat.S_ISREG(mode):
            # A device or a FIFO is no dependency file: /dev/null reads as empty, /dev/zero
            # never ends. A project with no dependencies needs no file at all.
            raise UsageError(
                f"--requirements {explicit} is {describe_mode(mode)}, not a dependency file; "
                "leave --requirements out for a project with no dependencies, or give an "
                "empty requirements.txt"
            )
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
            pins=_poetry(data, markers, str(path), path.parent),
            indexes=lines,
            logins=(*index_logins(lines), *_logins(_poetry_urls(data))),
        )
    if name == "Pipfile.lock":
        pins, lines, urls = _pipfile(text, markers, str(path), path.parent)
        logins = (*index_logins(lines), *_logins(urls))
        return Dependencies(path, pins=pins, indexes=lines, logins=logins)
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
        if "version" not in package and not package.get("archive"):
            source = "directory" if "directory" in package else "vcs" if "vcs" in package else ""
            raise UsageError(
                f"{where}: {name} comes from a {source or 'source'} without a version; "
                "pydistroless installs released wheels (build the project itself with its "
                "[build-system])"
            )
        pins.append(_pylock_package(package, name, base, f"{where}: {name}"))
    return tuple(pins)


def _pylock_package(package: Mapping[str, Any], name: str, base: Path | None, where: str) -> Pin:
    """One package of a PEP 751 lock: its files, or the one file of its ``archive``; a
    ``directory`` or ``vcs`` one is a pin without files, which is refused if it is used."""
    version = str(package["version"]) if "version" in package else None
    for kind in ("directory", "vcs"):
        if package.get(kind):
            table = package[kind]
            said = table.get("url") or table.get("path") if isinstance(table, dict) else None
            reference = split_login(str(said))[0] if said else "?"
            return Pin(canonicalize_name(name), version or "", direct=f"a {kind} ({reference})")
    archive = package.get("archive")
    if archive:
        if not isinstance(archive, dict):
            raise UsageError(f"{where}: its archive is not a table")
        if archive.get("subdirectory"):
            raise UsageError(
                f"{where}: its archive names a subdirectory, a source tree; reference a wheel "
                "or a source distribution file"
            )
        sha256 = (archive.get("hashes") or {}).get("sha256")
        given = _hash(f"sha256:{sha256}", where) if sha256 else None
        if archive.get("url"):
            reference, is_path = str(archive["url"]), False
        elif archive.get("path"):
            reference, is_path = str(archive["path"]), True
        else:
            raise UsageError(f"{where}: its archive has neither url nor path")
        return direct_pin(
            name,
            version,
            reference,
            base=_base_of(base, where) if is_path else (base or Path.cwd()),
            hashes=[given] if given else [],
            where=where,
            is_path=is_path,
        )
    listed = [*(package.get("wheels") or []), *([package["sdist"]] if package.get("sdist") else [])]
    files = [_pylock_file(w, base, where) for w in package.get("wheels") or []]
    wheels = tuple(f for f in files if f is not None)
    sdist = _pylock_file(package["sdist"], base, where) if package.get("sdist") else None
    if listed and not wheels and sdist is None:
        # Asking the index instead would install a file the lock never vouched for.
        raise UsageError(f"{where}: the lock lists files without URL or path; re-create the lock")
    hashes = frozenset(w.sha256 for w in (*wheels, *([sdist] if sdist else [])))
    return Pin(canonicalize_name(name), version or "", hashes, wheels, sdist)


def _base_of(base: Path | None, where: str) -> Path:
    if base is None:
        raise UsageError(f"{where}: a relative path with no folder to start from")
    return base


def _pylock_file(entry: Any, base: Path | None, where: str) -> WheelFile | None:
    """A wheel or sdist table of a PEP 751 lock (``url`` or a ``path`` relative to the lock)."""
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: a file entry is not a table")
    url = entry.get("url")
    if url:
        url = split_login(str(url))[0]  # its login: pylock_logins
    elif entry.get("path"):
        # A path, not a URL: nothing in it is percent-encoded (the URI made of it is).
        url = (_base_of(base, where) / str(entry["path"])).resolve().as_uri()
    sha = _hash(f"sha256:{(entry.get('hashes') or {}).get('sha256', '')}", where)
    filename = entry.get("name") or urllib.parse.unquote(str(url).rsplit("/", 1)[-1])
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


# ---- direct references -----------------------------------------------------------------------

# What a direct reference may name: a wheel, or a source distribution (PEP 625's .tar.gz, and
# the .zip of older ones).
_ARCHIVES = (".whl", ".tar.gz", ".zip")
# A URL's scheme: two letters or more, so never a drive letter.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def direct_pin(
    name: str,
    version: str | None,
    reference: str,
    *,
    base: Path,
    hashes: Iterable[str] = (),
    where: str,
    is_path: bool = False,
) -> Pin:
    """The pin of ``name`` that is the file ``reference`` names: a URL (``file:``
    percent-decoded; a ``#sha256=`` fragment is a hash), or with ``is_path`` (or without a
    scheme) a path, relative to ``base``. ``hashes`` (hex) are the SHA256s the dependency file
    allows; a local file without any is read and its digest recorded, a remote one must have
    one. A directory or a VCS URL gives a pin without files (refused where it is used)."""
    allowed = set(hashes)
    if not is_path and _URL.match(reference) and not reference.startswith("file:"):
        url = split_login(reference)[0]  # its login: the readers collect it for its host
        url, _, fragment = url.partition("#")
        allowed |= {h for h in [_fragment_hash(f"#{fragment}")] if h}
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("http", "https"):
            return Pin(canonicalize_name(name), version or "", direct=f"a {scheme} URL ({url})")
        filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        version = _checked_version(name, version, filename, url, where)
        if not allowed:
            raise UsageError(
                f"{where}: {name} @ {url} has no SHA256 to check it by; add one "
                "(#sha256=HEX or --hash=sha256:HEX), or re-create the lock"
            )
        if len(allowed) > 1:
            raise UsageError(
                f"{where}: {name} @ {url} is allowed {len(allowed)} SHA256s, but is one file; "
                "keep its own"
            )
        file = WheelFile(filename, url, allowed.pop())
        return _file_pin(name, version, file, url)
    if is_path or not _URL.match(reference):
        path = base / reference
    else:
        allowed |= {h for h in [_fragment_hash(reference)] if h}
        path = _file_url_path(reference.partition("#")[0], base, where)
    if path.is_dir():
        return Pin(canonicalize_name(name), version or "", direct=f"a directory ({path})")
    version = _checked_version(name, version, path.name, str(path), where)
    try:
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        size = path.stat().st_size
    except OSError as exc:
        raise UsageError(
            f"{where}: {name} @ {reference}: cannot read {path} ({exc.strerror}); fix the path "
            f"(a relative one starts at {base.absolute()})"
        ) from None
    if allowed and digest not in allowed:
        raise IntegrityError(
            f"{where}: {path} has SHA256 {digest[:16]}..., which the lock does not allow; the "
            "file changed since it was locked: put the locked file back, or re-create the lock"
        )
    file = WheelFile(path.name, path.resolve().as_uri(), digest, size)
    return _file_pin(name, version, file, str(path))


def _file_pin(name: str, version: str, file: WheelFile, reference: str) -> Pin:
    wheel = file.filename.endswith(".whl")
    return Pin(
        canonicalize_name(name),
        version,
        frozenset({file.sha256}),
        (file,) if wheel else (),
        None if wheel else file,
        direct=reference,
    )


def _file_url_path(url: str, base: Path, where: str) -> Path:
    """The local file of a ``file:`` URL, percent-decoded (``file:`` with a relative path,
    as pip allows, from ``base``)."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"{where}: {url} names a file of another host; copy it here")
    path = Path(urllib.parse.unquote(parts.path))
    return path if path.is_absolute() else base / path


def _checked_version(
    name: str, version: str | None, filename: str, reference: str, where: str
) -> str:
    """The version of the file ``filename``, which must be ``name``'s (and ``version``, when
    the dependency file gives one)."""
    found, found_version = _file_name_and_version(filename, where)
    if found is None or found_version is None:
        raise UsageError(
            f"{where}: {name} @ {reference} is neither a wheel nor a source distribution "
            "(.whl, .tar.gz, .zip); reference such a file"
        )
    if canonicalize_name(found) != canonicalize_name(name):
        raise UsageError(f"{where}: {name} @ {reference} is a file of {found}, not of {name}")
    if version is not None and Version(version) != Version(found_version):
        raise UsageError(
            f"{where}: {name} @ {reference} is version {found_version}, and the lock says "
            f"{version}; re-create the lock"
        )
    return version if version is not None else found_version


def _file_name_and_version(filename: str, where: str) -> tuple[str | None, str | None]:
    """The project name and version a wheel's or an sdist's file name gives (None, None for
    another file)."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return str(name), str(version)
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return str(name), str(version)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise UsageError(f"{where}: {filename} is not a valid file name ({exc})") from None
    return None, None


def _fragment_hash(url: str) -> str | None:
    """The SHA256 of a URL's ``#sha256=HEX`` fragment (pip's), if it has one."""
    found = re.search(r"#(?:.*&)?sha256=([0-9A-Fa-f]{64})(?:&|$)", url)
    return found[1].lower() if found else None


def _is_local(reference: str) -> bool:
    return not _URL.match(reference) or reference.startswith("file:")


# ---- poetry and pipenv -------------------------------------------------------------------------


def _poetry(
    data: Mapping[str, Any], markers: Mapping[str, str], where: str, base: Path
) -> tuple[Pin, ...]:
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
        source = package.get("source") if isinstance(package.get("source"), dict) else {}
        kind = source.get("type")
        if kind in ("file", "url"):  # a file's path (from the lock's folder), or its URL
            reference = str(source.get("url") or "")
            pins.append(
                direct_pin(
                    name,
                    version,
                    reference,
                    base=base,
                    hashes=hashes,
                    where=f"{where}: {name}",
                    is_path=kind == "file",
                )
            )
        elif kind not in (None, "legacy", "pypi"):  # a directory, git, ...: no file to check
            said = split_login(str(source.get("url") or "?"))[0]
            pins.append(Pin(canonicalize_name(name), version, direct=f"a {kind} ({said})"))
        else:
            pins.append(Pin(canonicalize_name(name), version, frozenset(hashes)))
    return tuple(pins)


def _poetry_urls(data: Mapping[str, Any]) -> list[str]:
    """The URLs of a poetry.lock's ``url`` sources, which may carry a login."""
    sources = [p.get("source") for p in data.get("package") or [] if isinstance(p, dict)]
    return [
        s["url"]
        for s in sources
        if isinstance(s, dict) and s.get("type") == "url" and isinstance(s.get("url"), str)
    ]


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
    text: str, markers: Mapping[str, str], where: str, base: Path
) -> tuple[tuple[Pin, ...], tuple[str, ...], tuple[str, ...]]:
    """The pins of a Pipfile.lock, its sources as index lines, and the URLs of its files
    (which may carry a login). A ``file`` (a URL) or ``path`` (from the lock's folder) entry
    is a direct reference."""
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
    urls: list[str] = []
    for name, entry in sorted(default.items()):
        version = entry.get("version", "") if isinstance(entry, dict) else ""
        reference = entry.get("file") or entry.get("path") if isinstance(entry, dict) else None
        if isinstance(reference, str) and not entry.get("editable"):
            if not _applies(entry.get("markers"), markers, f"{where}: {name}"):
                continue
            hashes = {h for value in entry.get("hashes") or [] if (h := _hash(value, where))}
            pins.append(
                direct_pin(
                    name,
                    version[2:] if version.startswith("==") else None,
                    reference,
                    base=base,
                    hashes=hashes,
                    where=f"{where}: {name}",
                    is_path=not entry.get("file"),
                )
            )
            urls += [reference] if entry.get("file") else []
            continue
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
    indexes = [
        _expand_pipenv(s["url"])
        for s in (sources if isinstance(sources, list) else [])
        if isinstance(s, dict) and isinstance(s.get("url"), str)
    ]
    lines = [f"--index-url {url}" for url in indexes[:1]]
    lines += [f"--extra-index-url {url}" for url in indexes[1:]]
    return tuple(pins), tuple(lines), tuple(urls)


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
    urls: list[str] = []
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
        parsed = _requirement(requirement, f"{path}:{number}")
        if parsed.marker is not None and not parsed.marker.evaluate(dict(markers)):
            continue
        sha = frozenset(h for value in hashes if (h := _hash(value, f"{path}:{number}")))
        if parsed.url:
            urls.append(parsed.url)
            # pip's hash-checking mode takes a direct reference with its hash; a local file
            # is its own evidence (read, its digest recorded). Else uv resolves, and hashes.
            if sha or _fragment_hash(parsed.url) or _is_local(parsed.url):
                pins.append(
                    direct_pin(
                        parsed.name,
                        None,
                        parsed.url,
                        base=path.parent,
                        hashes=sha,
                        where=f"{path}:{number}",
                    )
                )
            else:
                exact = False
            continue
        specs = list(parsed.specifier)
        pinned = (
            len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version
        )
        if not (pinned and hashes):
            exact = False
            continue
        pins.append(Pin(canonicalize_name(parsed.name), specs[0].version, sha))
    logins = (*index_logins(indexes), *_logins(urls))
    if exact and pins:
        return Dependencies(path, pins=tuple(pins), logins=logins)
    return Dependencies(path, resolve=path, indexes=tuple(indexes), logins=logins)


def _requirement(text: str, where: str) -> Requirement:
    """A PEP 508 requirement, or pip's bare path of a wheel or sdist (``./dist/x-1.whl``)
    as the direct reference ``x @ file:...`` it is."""
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        problem = exc
    if not re.search(r"\s", text) and text.endswith(_ARCHIVES):
        name = _file_name_and_version(text.rsplit("/", 1)[-1], where)[0]
        if name is not None:
            return Requirement(f"{name} @ {text}")
    raise UsageError(f"{where}: {text!r} is not a requirement ({problem})") from None


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
