"""The lock: exactly which packages an image is made of.

A lock pins, per architecture, every package by name, version, pool path and SHA256, and
records the signed Release files it was resolved from. Building from a lock needs no index and
no resolution, and gives the same bytes on any machine. The file is JSON, one package per
line, sorted, so that a diff between two locks reads like a changelog.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydistroless.core.arch import architecture
from pydistroless.core.errors import UsageError
from pydistroless.debian.store import LockedPackage
from pydistroless.python import debian_python, runtime
from pydistroless.python.source import PythonSource

LOCK_VERSION = 1


@dataclass(frozen=True)
class ReleaseInfo:
    suite: str
    date: str
    version: str
    inrelease_sha256: str


@dataclass(frozen=True)
class ArchLock:
    arch: str
    python: str  # "3.13", or "3.13t" for a free-threaded build: python3.13t, lib/python3.13t
    # The Debian version of python3.X-minimal, or the upstream version built from source.
    python_package_version: str
    packages: tuple[LockedPackage, ...]
    python_source: PythonSource | None = None
    # For a Python built from source: the packages of the builder tree it is compiled in, and
    # for a cross build those of the host's tree, where the Python that runs the build's
    # steps is compiled. Pinned, so that a build from the lock compiles in the same trees.
    builder: tuple[LockedPackage, ...] = ()
    host_builder: tuple[LockedPackage, ...] = ()
    # The builder variant's Python tools (pip, uv, poetry, ...) and what they need, for this
    # architecture's Python: hash-pinned requirement lines, "pip==25.3 --hash=sha256:...".
    python_tools: tuple[str, ...] = ()

    def package(self, name: str) -> LockedPackage | None:
        return next((p for p in self.packages if p.name == name), None)

    @property
    def minor(self) -> str:
        """``3.13`` (of ``3.13t`` too)."""
        return self.python.removesuffix("t")

    @property
    def free_threaded(self) -> bool:
        return self.python.endswith("t")

    @property
    def prefix(self) -> str:
        """Where the Python is installed: Debian's in ``usr``, one built here in ``usr/local``."""
        return "usr/local" if self.python_source else "usr"


@dataclass(frozen=True)
class Lock:
    suite: str
    codename: str
    debian_version: str  # "13.8", from the Release file
    releases: tuple[ReleaseInfo, ...]
    archs: tuple[ArchLock, ...]

    def for_arch(self, arch: str) -> ArchLock:
        for item in self.archs:
            if item.arch == arch:
                return item
        have = ", ".join(a.arch for a in self.archs)
        raise UsageError(f"the lock has no architecture {arch!r} (it has: {have}); re-run lock")

    @property
    def debian_major(self) -> str:
        return self.debian_version.split(".")[0]


def dumps(lock: Lock) -> str:
    """Diff-friendly JSON: each package on one line."""
    lines = [
        "{",
        f'  "lock-version": {LOCK_VERSION},',
        f'  "suite": {json.dumps(lock.suite)},',
        f'  "codename": {json.dumps(lock.codename)},',
        f'  "debian-version": {json.dumps(lock.debian_version)},',
        '  "releases": [',
    ]
    lines += _items([json.dumps(asdict(r), sort_keys=True) for r in lock.releases], "    ")
    lines += ["  ],", '  "archs": [']
    arch_blocks = []
    for arch in lock.archs:
        block = [
            "    {",
            f'      "arch": {json.dumps(arch.arch)},',
            f'      "python": {json.dumps(arch.python)},',
            f'      "python-package-version": {json.dumps(arch.python_package_version)},',
        ]
        if arch.python_source is not None:
            source = json.dumps(_source_json(arch.python_source), sort_keys=True)
            block.append(f'      "python-source": {source},')
        block += [
            '      "packages": [',
        ]
        block += _items([json.dumps(asdict(p), sort_keys=True) for p in arch.packages], "        ")
        for key, listed in (("builder", arch.builder), ("host-builder", arch.host_builder)):
            if listed:
                block += ["      ],", f'      "{key}": [']
                block += _items([json.dumps(asdict(p), sort_keys=True) for p in listed], "        ")
        if arch.python_tools:
            block += ["      ],", '      "python-tools": [']
            block += _items([json.dumps(line) for line in arch.python_tools], "        ")
        block += ["      ]", "    }"]
        arch_blocks.append(block)
    for i, block in enumerate(arch_blocks):
        if i < len(arch_blocks) - 1:
            block[-1] += ","
        lines += block
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def loads(text: str, *, source: str = "lock") -> Lock:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"{source} is not a pydistroless lock (not JSON: {exc}); re-create it with "
            "`pydistroless lock`"
        ) from exc
    return from_json(data, source=source)


def read(path: Path) -> Lock:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read lock {path}: {exc.strerror}; check the --lock path") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not a pydistroless lock (not UTF-8 text at byte {exc.start}); "
            "re-create it with `pydistroless lock`"
        ) from exc
    return loads(text, source=str(path))


# ---- validation -------------------------------------------------------------------------
#
# A lock is often edited by hand or by a merge, and everything in it ends up in a URL, a
# file name or an image: every field is checked for its type and form before anything is
# built, and the lock must still describe a working image (the interpreter is there).

_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_VERSION = re.compile(r"(?:[0-9]+:)?[0-9A-Za-z][0-9A-Za-z.+~-]*")
_ARCH = re.compile(r"[a-z0-9]+")
_PYTHON = re.compile(r"3\.[0-9]{1,2}t?")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class _Invalid(ValueError):
    """One field of the lock is wrong; the message says which and how."""


def from_json(data: Any, *, source: str = "lock") -> Lock:
    """A :class:`Lock` from parsed JSON, every field checked."""
    try:
        top = _object(data, "the lock")
        if top.get("lock-version") != LOCK_VERSION:
            raise UsageError(
                f"{source}: lock version {top.get('lock-version')!r} is not {LOCK_VERSION}; "
                "re-create it with `pydistroless lock`"
            )
        archs = tuple(
            arch_from_json(a, where=f"archs[{i}]")
            for i, a in enumerate(_list(top, "archs", "the lock", nonempty=True))
        )
        names = [a.arch for a in archs]
        if len(set(names)) != len(names):
            raise _Invalid(f"archs lists an architecture twice ({', '.join(names)})")
        return Lock(
            suite=_matching(top, "suite", "the lock", re.compile(r"[a-z0-9][a-z0-9.+-]*")),
            codename=_string(top, "codename", "the lock"),
            debian_version=_string(top, "debian-version", "the lock"),
            releases=tuple(
                _release(r, f"releases[{i}]")
                for i, r in enumerate(_list(top, "releases", "the lock"))
            ),
            archs=archs,
        )
    except _Invalid as exc:
        raise UsageError(
            f"{source} is not a valid pydistroless lock: {exc}; fix it or re-create it with "
            "`pydistroless lock`"
        ) from exc


def arch_from_json(data: Any, *, where: str = "arch") -> ArchLock:
    item = _object(data, where)
    python = _matching(item, "python", where, _PYTHON)
    packages = tuple(
        _package(p, f"{where}.packages[{i}]")
        for i, p in enumerate(_list(item, "packages", where, nonempty=True))
    )
    seen: set[str] = set()
    for package in packages:
        if package.name in seen:
            raise _Invalid(f"{where} lists package {package.name} twice")
        seen.add(package.name)
    source = item.get("python-source")
    trees = {
        key: tuple(
            _package(p, f"{where}.{key}[{i}]") for i, p in enumerate(_list(item, key, where))
        )
        if key in item
        else ()
        for key in ("builder", "host-builder")
    }
    arch_lock = ArchLock(
        arch=_matching(item, "arch", where, _ARCH),
        python=python,
        python_package_version=_matching(item, "python-package-version", where, _VERSION),
        packages=packages,
        python_source=None if source is None else _python_source(source, f"{where}.python-source"),
        builder=trees["builder"],
        host_builder=trees["host-builder"],
        python_tools=tuple(
            _tool_line(line, f"{where}.python-tools[{i}]")
            for i, line in enumerate(_list(item, "python-tools", where))
        )
        if "python-tools" in item
        else (),
    )
    if (arch_lock.builder or arch_lock.host_builder) and arch_lock.python_source is None:
        raise _Invalid(f"{where} has builder packages but no python-source to compile")
    interpreter = f"python{python}-minimal"
    found = arch_lock.package(interpreter)
    if arch_lock.python_source is not None:
        if arch_lock.python_source.version != arch_lock.python_package_version:
            raise _Invalid(
                f"{where}: python-package-version {arch_lock.python_package_version} is not the "
                f"version of its python-source ({arch_lock.python_source.version})"
            )
        if not arch_lock.python_source.version.startswith(arch_lock.minor + "."):
            raise _Invalid(
                f"{where}: python-source {arch_lock.python_source.version} is not {python}"
            )
        if arch_lock.python_source.free_threaded != arch_lock.free_threaded:
            built = "free-threaded" if arch_lock.python_source.free_threaded else "with the GIL"
            raise _Invalid(f"{where}: python {python} is not its python-source's build ({built})")
    elif arch_lock.free_threaded:
        raise _Invalid(f"{where}: python {python} is free-threaded, which only a python-source is")
    elif found is None:
        raise _Invalid(
            f"{where} ({arch_lock.arch}) has no {interpreter}, so the image would have no "
            "interpreter"
        )
    elif found.version != arch_lock.python_package_version:
        raise _Invalid(
            f"{where}: python-package-version {arch_lock.python_package_version} is not the "
            f"version of {interpreter} ({found.version})"
        )
    for package in packages:
        if package.architecture not in (arch_lock.arch, "all"):
            raise _Invalid(
                f"{where}: package {package.name} is for {package.architecture}, "
                f"not {arch_lock.arch}"
            )
    return arch_lock


def arch_json(arch: ArchLock) -> dict[str, Any]:
    """The JSON form of one architecture, as :func:`arch_from_json` reads it."""
    data: dict[str, Any] = {
        "arch": arch.arch,
        "python": arch.python,
        "python-package-version": arch.python_package_version,
        "packages": [asdict(p) for p in arch.packages],
    }
    if arch.python_source is not None:
        data["python-source"] = _source_json(arch.python_source)
    for key, listed in (("builder", arch.builder), ("host-builder", arch.host_builder)):
        if listed:
            data[key] = [asdict(p) for p in listed]
    if arch.python_tools:
        data["python-tools"] = list(arch.python_tools)
    return data


_TOOL_LINE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+( --hash=sha256:[0-9a-f]{64})+"
)


def _tool_line(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _TOOL_LINE.fullmatch(value):
        raise _Invalid(f"{where} is not a pinned requirement: NAME==VERSION --hash=sha256:HEX")
    return value


def _source_json(source: PythonSource) -> dict[str, Any]:
    data = asdict(source)
    data["urls"] = list(source.urls)
    if not source.free_threaded:  # said only when so: a lock with the GIL reads as before
        del data["free_threaded"]
    return data


_UPSTREAM = re.compile(r"3\.[0-9]{1,2}\.[0-9]{1,3}")


def _python_source(data: Any, where: str) -> PythonSource:
    item = _object(data, where)
    _no_extra(item, {f.name for f in fields(PythonSource)}, where)
    urls = tuple(_list(item, "urls", where, nonempty=True))
    for url in urls:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https", "file"):
            raise _Invalid(f"{where}.urls holds {str(url)[:80]!r}, not an http(s) or file URL")
        if "@" in urlsplit(url).netloc:
            raise _Invalid(f"{where}.urls must be URLs without credentials")
    size = item.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise _Invalid(f"{where}.size must be a positive number of bytes")
    if not isinstance(item.get("optimize"), bool):
        raise _Invalid(f"{where}.optimize must be true or false")
    if not isinstance(item.get("free_threaded", False), bool):
        raise _Invalid(f"{where}.free_threaded must be true or false")
    return PythonSource(
        version=_matching(item, "version", where, _UPSTREAM),
        urls=urls,
        sha256=_matching(item, "sha256", where, re.compile(r"[0-9a-f]{64}")),
        size=size,
        origin=_string(item, "origin", where),
        optimize=item["optimize"],
        free_threaded=item.get("free_threaded", False),
    )


def _release(data: Any, where: str) -> ReleaseInfo:
    item = _object(data, where)
    date = _string(item, "date", where)
    if date:
        try:
            parsedate_to_datetime(date)
        except (TypeError, ValueError) as exc:
            raise _Invalid(f"{where}.date {date!r} is not an RFC 2822 date") from exc
    digest = _string(item, "inrelease_sha256", where)
    if digest and not _SHA256.fullmatch(digest):
        raise _Invalid(f"{where}.inrelease_sha256 is not a SHA256 in hex")
    _no_extra(item, {"suite", "date", "version", "inrelease_sha256"}, where)
    return ReleaseInfo(
        suite=_string(item, "suite", where),
        date=date,
        version=_string(item, "version", where),
        inrelease_sha256=digest,
    )


def _package(data: Any, where: str) -> LockedPackage:
    item = _object(data, where)
    _no_extra(item, {f.name for f in fields(LockedPackage)}, where)
    name = _matching(item, "name", where, _NAME)
    where = f"{where} ({name})"
    filename = _string(item, "filename", where)
    parts = filename.split("/")
    if filename.startswith("/") or ".." in parts or not filename.endswith(".deb"):
        raise _Invalid(f"{where}.filename {filename!r} is not a pool path to a .deb")
    url = _string(item, "url", where)
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https", "file") or "@" in parsed.netloc:
        raise _Invalid(f"{where}.url must be an http(s) or file URL without credentials in it")
    size = item.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise _Invalid(f"{where}.size must be a whole number of bytes, not {size!r}")
    return LockedPackage(
        name=name,
        version=_matching(item, "version", where, _VERSION),
        architecture=_matching(item, "architecture", where, _ARCH),
        filename=filename,
        size=size,
        sha256=_matching(item, "sha256", where, _SHA256),
        source=_matching(item, "source", where, _NAME),
        source_version=_matching(item, "source_version", where, _VERSION),
        suite=_matching(item, "suite", where, re.compile(r"[a-z0-9][a-z0-9.+-]*")),
        url=url,
    )


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"{where} must be a JSON object, not {_kind(value)}")
    return value


def _list(item: dict[str, Any], key: str, where: str, *, nonempty: bool = False) -> list[Any]:
    value = item.get(key)
    if not isinstance(value, list):
        raise _Invalid(f"{where} needs a list {key!r}, not {_kind(value)}")
    if nonempty and not value:
        raise _Invalid(f"{where}: {key!r} is empty")
    return value


def _string(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise _Invalid(f"{where} needs a string {key!r}, not {_kind(value)}")
    return value


def _matching(item: dict[str, Any], key: str, where: str, pattern: re.Pattern[str]) -> str:
    value = _string(item, key, where)
    if not pattern.fullmatch(value):
        raise _Invalid(f"{where}: {value[:80]!r} is not a valid {key}")
    return value


def _no_extra(item: dict[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(item) - known)
    if extra:
        raise _Invalid(f"{where} has unknown field(s) {', '.join(extra)}")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _items(rendered: list[str], indent: str) -> list[str]:
    return [f"{indent}{r}{',' if i < len(rendered) - 1 else ''}" for i, r in enumerate(rendered)]


def runtime_of(arch_lock: ArchLock, suite: str) -> runtime.Target:
    """The Python of the image of ``arch_lock``, as its labels describe it to app builds."""
    python = arch_lock.python
    libc = arch_lock.package("libc6")
    return runtime.Target(
        python=python,
        version=debian_python.upstream_version(arch_lock.python_package_version),
        abi="cp" + python.replace(".", ""),  # cp313, or cp313t when free-threaded
        interpreter=debian_python.interpreter_path(python, arch_lock.prefix),
        site_packages=(
            runtime.debian_site_packages(python)
            if arch_lock.python_source is None
            else f"/{arch_lock.prefix}/lib/python{python}/site-packages"
        ),
        glibc=runtime.glibc_of(libc.version) if libc else (0, 0),
        arch=architecture(arch_lock.arch),
        suite=suite,
    )
