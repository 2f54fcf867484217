"""Wheels for the target Python: located, chosen and downloaded, every one checked.

uv does what needs an index: resolving requirements for another platform and Python
(``uv pip compile --python-platform``), reading its own ``uv.lock`` (``uv export``), and
finding the files of exact pins (``--no-deps``), never building an sdist on this host: an sdist
whose metadata only its build gives has it computed in the builder image, in the sandbox, and
handed to uv (:mod:`pydistroless.python.uv_metadata`). It speaks PEP 751, so each of those
answers is a ``pylock.toml``, read by :func:`dependencies.pylock_pins`, and it uses the user's
own index configuration. The choice of the wheel for the target is ours (:mod:`packaging.tags`
over the base's tags), as is the download: into the content-addressed cache, checked against
the lock's SHA256 when it has one, else the index's. A direct reference's file is the one
installed (or built, an sdist's), never one an index offers under its name and version.

uv never fetches an interpreter (``--no-python-downloads``, on every call): a resolution is
for the image's Python and platform (``--python-version``, ``--python-platform``), whatever
Python this host has, and reading a ``uv.lock`` needs none (:func:`_export`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pydistroless.core.cache import Cache, cache_key, sha256_hex
from pydistroless.core.errors import IntegrityError, ResolveError, UsageError
from pydistroless.core.fetch import Download, Fetcher
from pydistroless.core.net import split_login
from pydistroless.core.report import hide_logins, log
from pydistroless.python import uv_metadata
from pydistroless.python.dependencies import (
    Dependencies,
    Pin,
    WheelFile,
    direct_pin,
    expand_variables,
    pylock_pins,
)
from pydistroless.python.runtime import Target
from pydistroless.python.uv_metadata import SdistNeedsBuild

_UV_TIMEOUT = 600.0
# How many sdists' metadata one resolution may have computed in the builder image.
_MAX_SDIST_METADATA = 64


class SdistMetadata(Protocol):
    """The core metadata (as JSON, PEP 566) of the sdist of (name, version), computed where
    its build may run; what uv needs of an sdist whose metadata is not static. ``file`` is
    the sdist a direct reference names; without it, the index's."""

    def __call__(
        self, name: str, version: str, file: WheelFile | None = None
    ) -> Mapping[str, object]: ...


# Computes the core metadata of a source distribution (its path, named as the index names
# it) for the target, in the base's builder image; its build requirements come from the
# index lines given (the dependency file's).
MetadataFor = Callable[[Path, tuple[str, ...]], Mapping[str, object]]


@dataclass(frozen=True)
class Chosen:
    """The wheel of one pin for the target (or, with ``build``, the source distribution a
    wheel is built from), and where it is once downloaded."""

    pin: Pin
    wheel: WheelFile
    path: Path | None = None
    build: bool = False


def uv_binary() -> str:
    """The uv of the ``uv`` package pydistroless depends on (``$PYDISTROLESS_UV`` first)."""
    override = os.environ.get("PYDISTROLESS_UV")
    if override:
        return override
    try:
        # Imported here: a missing uv is one clear error, when it is first needed.
        from uv import find_uv_bin  # noqa: PLC0415
    except ImportError:
        raise UsageError(
            "uv is not installed: pip install uv (pydistroless depends on it)"
        ) from None
    return find_uv_bin()


def pins_for(
    deps: Dependencies,
    target: Target,
    cache: Cache | None = None,
    *,
    sdist_metadata: SdistMetadata | None = None,
) -> tuple[Pin, ...]:
    """Exact pins for ``target``: the lock's own, or what uv resolves. What uv reads from a
    ``uv.lock`` is kept in ``cache``, keyed by the lock and its project's ``pyproject.toml``
    (a resolution is not: the index moves). uv builds nothing: the metadata of an sdist that
    only its build gives comes from ``sdist_metadata`` (without it, such an sdist is
    refused)."""
    if deps.pins is not None:
        return deps.pins
    assert deps.resolve is not None
    if deps.resolve.name == "uv.lock":
        key = cache_key(
            {
                "uv.lock": sha256_hex(deps.resolve.read_bytes()),
                "pyproject.toml": sha256_hex(
                    _read_or_empty(deps.resolve.parent / "pyproject.toml")
                ),
                "extras": sorted(deps.extras),
            },
            tool=False,
        )
        known = cache.get_checked_record(_pylock_record, "uv-exports", key) if cache else None
        # The lock's paths are relative to its project, as uv's answer keeps them.
        folder = deps.resolve.parent
        if known is not None:
            return pylock_pins(
                _toml(known, "uv"), target.markers, where=str(deps.resolve), base=folder
            )
        text = _export(deps.resolve, deps.extras)
        lock = _toml(text, f"reading {deps.resolve} with uv")
        if cache is not None:
            cache.put_checked_record({"pylock": text}, "uv-exports", key)
        return pylock_pins(lock, target.markers, where=str(deps.resolve), base=folder)
    command = [
        "pip", "compile", deps.resolve.name, "--format", "pylock.toml", "--no-header",
        "--require-build-hashes", *_platform_args(target), *[f"--extra={e}" for e in deps.extras],
    ]  # fmt: skip
    what = f"resolving {deps.resolve} for {target.describe()} with uv"
    # Run in the file's folder, whose relative paths (`x @ ./wheels/x.whl`) start there.
    folder = deps.resolve.parent
    lock = _resolve(command, what, sdist_metadata, cwd=folder)
    return pylock_pins(lock, target.markers, where=str(deps.resolve), base=folder)


# uv's words when it finds no Python that fits a project's requires-python (none installed,
# or one on PATH it cannot even ask, such as a version manager's shim of another version).
_NO_INTERPRETER = (
    "No interpreter found",
    "Failed to inspect Python interpreter",
    "which is incompatible with the project's Python requirement",
)


def _export(lock: Path, extras: Sequence[str]) -> str:
    """``lock`` (a ``uv.lock``) as a PEP 751 lock, by ``uv export --locked``, which refuses a
    lock that no longer matches its ``pyproject.toml``. That check needs a Python of the
    lock's ``requires-python`` on this host, which the image's Python need not be: without
    one, ``--frozen`` exports the lock as it stands (nothing is resolved, so nothing needs an
    interpreter), after :func:`_lock_drift` compared the project's dependencies with the
    ones the lock was made for."""
    command = [
        "export", "--no-build", "--no-dev", "--no-emit-project", "--no-emit-workspace",
        "--no-header", "--format", "pylock.toml", "--directory", str(lock.parent),
        *[f"--extra={e}" for e in extras],
    ]  # fmt: skip
    what = f"reading {lock} with uv"
    try:
        return _uv_text([*command, "--locked"], what)
    except ResolveError as exc:
        if not any(words in str(exc) for words in _NO_INTERPRETER):
            raise
    drift = _lock_drift(lock)
    if drift:
        raise ResolveError(
            f"{what}: the lockfile needs to be updated ({drift} in pyproject.toml); run uv lock"
        )
    log(f"no Python of {lock.name}'s requires-python here: uv reads it as it stands (--frozen)")
    return _uv_text([*command, "--frozen"], what)


def _lock_drift(lock: Path) -> str:
    """What the project's ``[project]`` dependencies (and optional ones) name that its
    ``uv.lock`` was not made for, or the other way round ("" when they agree, or when there
    is nothing to compare: a workspace without a project, dynamic dependencies)."""
    try:
        project = tomllib.loads((lock.parent / "pyproject.toml").read_text(encoding="utf-8"))
        locked = tomllib.loads(lock.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ""  # uv reads them next, and says what is wrong
    table = project.get("project")
    if not isinstance(table, dict) or "dependencies" in table.get("dynamic", []):
        return ""
    declared = [*table.get("dependencies", [])]
    for group in (table.get("optional-dependencies") or {}).values():
        declared += group
    root = next(
        (
            p
            for p in locked.get("package", [])
            if isinstance(p, dict)
            and isinstance(p.get("source"), dict)
            and p["source"].get("editable", p["source"].get("virtual")) == "."
        ),
        None,
    )
    metadata = root.get("metadata") if root else None
    if not isinstance(metadata, dict):
        return ""
    try:
        wanted = {canonicalize_name(Requirement(r).name) for r in declared}
    except (InvalidRequirement, TypeError):
        return ""
    made_for = {
        canonicalize_name(r["name"])
        for r in metadata.get("requires-dist", [])
        if isinstance(r, dict) and isinstance(r.get("name"), str)
    }
    added, removed = sorted(wanted - made_for), sorted(made_for - wanted)
    return ", ".join([*(f"{n} added" for n in added), *(f"{n} removed" for n in removed)])


def _resolve(
    command: list[str], what: str, sdist_metadata: SdistMetadata | None, *, cwd: Path
) -> dict:
    """uv's resolution, again with the metadata of each sdist uv stopped at (uv builds none:
    ``--require-build-hashes`` stops a build before its backend runs), as uv's
    ``dependency-metadata`` in a config file of our own (mode 0700: it may copy logins)."""
    entries: list[dict[str, object]] = []
    given: set[tuple[str, str]] = set()
    with tempfile.TemporaryDirectory(prefix="pydistroless-resolve-") as tmp:
        while True:
            args = command
            if entries:
                config = uv_metadata.config_file(entries, Path(tmp) / "uv.toml")
                args = [*command, "--config-file", str(config)]
            try:
                return _toml(_uv_text(args, what, cwd=cwd), what)
            except SdistNeedsBuild as needed:
                asked = (needed.name, needed.version)
                if sdist_metadata is None:
                    raise
                if asked in given or len(given) >= _MAX_SDIST_METADATA:
                    raise ResolveError(
                        f"{what}: uv still wants to build {needed.name}=={needed.version} "
                        f"after {len(given)} source distribution(s)' metadata were given to it; "
                        "pin it (a lock, or ==VERSION --hash lines)"
                    ) from None
                given.add(asked)
                if needed.url:  # a direct reference: its own file, hash-checked, never the index's
                    file = _referenced_sdist(needed, what, cwd)
                    metadata = sdist_metadata(needed.name, needed.version, file)
                else:
                    metadata = sdist_metadata(needed.name, needed.version)
                entries.append(uv_metadata.entry(metadata, needed.name, needed.version))


def _referenced_sdist(needed: SdistNeedsBuild, what: str, folder: Path) -> WheelFile:
    """The sdist file a direct reference uv stopped at names (a relative path from
    ``folder``, where uv ran); a remote one needs its hash in the requirement."""
    pin = direct_pin(needed.name, needed.version, needed.url, base=folder, where=what)
    if pin.sdist is None:
        raise ResolveError(f"{what}: {needed.name} @ {pin.direct} is no source distribution")
    return pin.sdist


def sdist_metadata_by(
    metadata_for: MetadataFor,
    fetcher: Fetcher,
    target: Target,
    *,
    indexes: Sequence[str] = (),
) -> SdistMetadata:
    """What :func:`pins_for` asks for an sdist's metadata: the sdist located on ``indexes``
    (the dependency file's index lines; none: uv's own), downloaded by ``fetcher`` and checked
    against the index's SHA256, its metadata computed by ``metadata_for`` (in the builder
    image, in the sandbox)."""

    def metadata(name: str, version: str, file: WheelFile | None = None) -> Mapping[str, object]:
        pin = Pin(name, version)
        sdist = file
        if sdist is None:
            found = _locate([pin], target, fetcher.cache, indexes)
            sdist = next((p.sdist for p in found if p.name == name and p.sdist is not None), None)
        if sdist is None:
            raise ResolveError(
                f"uv needs the metadata of {pin.line()}'s source distribution, and the index "
                "lists none; pin it (a lock, or ==VERSION --hash lines)"
            )
        (path,) = fetcher.fetch_paths(
            [Download((sdist.url,), sdist.sha256, sdist.size, sdist.filename)],
            what="source distributions",
        )
        log(f"reading the metadata of {sdist.filename} in the builder image")
        with tempfile.TemporaryDirectory(prefix="pydistroless-sdist-") as tmp:
            named = Path(tmp) / sdist.filename
            named.symlink_to(path)
            return metadata_for(named, tuple(indexes))

    return metadata


def choose(
    pins: Sequence[Pin],
    target: Target,
    *,
    source: str,
    cache: Cache | None = None,
    indexes: Sequence[str] = (),
) -> list[Chosen]:
    """The best wheel of each pin for ``target``. Pins whose lock lists no files (poetry,
    pipenv, hashed requirements) are located by uv, without resolving, on the ``indexes``
    the dependency file names (requirements-file lines; none: uv's own); the answer is kept
    in ``cache``, as the files of an exact version with known hashes do not change. A pin
    the lock gives a source distribution and no wheel has none to find, and a direct
    reference is its own file, never looked for on an index."""
    unlisted = [p for p in pins if not p.wheels and p.sdist is None and not p.direct]
    located = {p.name: p for p in _locate(unlisted, target, cache, indexes)} if unlisted else {}
    chosen, missing = [], []
    for pin in pins:
        if pin.direct:
            chosen.append(_direct(pin, target, source))
            continue
        offered = pin.wheels or located.get(pin.name, pin).wheels
        if pin.hashes:
            allowed = tuple(w for w in offered if w.sha256 in pin.hashes)
            if offered and not allowed and not pin.wheels:
                raise IntegrityError(
                    f"{source} allows {pin.line()} only with hashes that none of the index's "
                    f"files of it has ({', '.join(w.filename for w in offered[:2])} differ); the "
                    "lock is wrong or the index serves other files: re-create the lock"
                )
            offered = allowed
        fitting = [
            (rank, w) for w in offered if (rank := target.wheel_rank(w.filename)) is not None
        ]
        if not fitting:
            sdist = pin.sdist or located.get(pin.name, pin).sdist
            if sdist is not None and (not pin.hashes or sdist.sha256 in pin.hashes):
                chosen.append(Chosen(pin, sdist, build=True))
            else:
                missing.append(pin)
            continue
        chosen.append(Chosen(pin, min(fitting, key=lambda item: (item[0], item[1].filename))[1]))
    if missing:
        names = ", ".join(p.line() for p in missing[:8])
        fix = "pin versions that publish such wheels, or leave these packages out"
        if target.free_threaded:
            fix = (
                f"pin versions that publish {target.abi} wheels, or drop free-threading (a "
                f"base of Python {target.minor}, without the t)"
            )
        raise ResolveError(
            f"no wheel for {target.describe()} of {names} in {source} or on the index, and no "
            f"source distribution to build one from; {fix}"
        )
    return chosen


def _direct(pin: Pin, target: Target, source: str) -> Chosen:
    """A direct reference's own file: its wheel if that fits ``target``, or its sdist, to
    build; anything else stops the build (an index's file of that name is no stand-in)."""
    if pin.sdist is not None:
        return Chosen(pin, pin.sdist, build=True)
    if not pin.wheels:
        raise ResolveError(
            f"{source}: {pin.name} comes from {pin.direct}, which is not a wheel or a source "
            "distribution file; build its wheel and reference that file"
        )
    wheel = pin.wheels[0]
    if target.wheel_rank(wheel.filename) is None:
        raise ResolveError(
            f"{source}: {pin.name} is the file {pin.direct}, a wheel that does not fit "
            f"{target.describe()}; reference a wheel for it, or its sdist"
        )
    return Chosen(pin, wheel)


# Compiles a source distribution (its path, named as the index names it) for the target, in
# the base's builder image, and gives the wheel's path in the folder it is given; its build
# requirements come from the index lines given (the dependency file's).
CompileFor = Callable[[Path, Path, tuple[str, ...]], Path]


def download(
    chosen: Sequence[Chosen],
    fetcher: Fetcher,
    target: Target,
    compile_for: CompileFor | None = None,
    *,
    indexes: Sequence[str] = (),
) -> list[Chosen]:
    """Each wheel in the cache, checked against its SHA256 (a source distribution too, and
    the wheel built from it, its build requirements from ``indexes``, the dependency file's
    index lines); the same list with the wheels' paths."""
    items = [
        Download((c.wheel.url,), c.wheel.sha256, c.wheel.size, c.wheel.filename) for c in chosen
    ]
    paths = fetcher.fetch_paths(items, what="wheels")
    done = []
    for c, path in zip(chosen, paths, strict=True):
        if c.build:
            wheel, path = _build_wheel(c, path, target, fetcher.cache, compile_for, indexes)
            done.append(Chosen(c.pin, wheel, path))
        else:
            done.append(Chosen(c.pin, c.wheel, path))
    return done


def _build_wheel(
    chosen: Chosen,
    sdist: Path,
    target: Target,
    cache: Cache,
    compile_for: CompileFor | None,
    indexes: Sequence[str] = (),
) -> tuple[WheelFile, Path]:
    """The wheel of a source distribution, built by ``compile_for`` in the base's builder
    image, in the sandbox: an sdist's build runs its own code (``setup.py``, a build backend),
    which never runs on this host."""
    pin = chosen.pin
    if compile_for is None:
        raise ResolveError(
            f"{pin.line()} publishes no wheel for {target.describe()}, only a source "
            "distribution, and nothing here may build it; build its wheel yourself "
            "(--variant builder) and lock that"
        )
    with tempfile.TemporaryDirectory(prefix="pydistroless-sdist-") as tmp:
        named = Path(tmp) / chosen.wheel.filename
        named.symlink_to(sdist)
        built = compile_for(named, Path(tmp), tuple(indexes))
        if target.wheel_rank(built.name) is None:
            raise ResolveError(
                f"{pin.line()} has no wheel for {target.describe()}, and its source builds "
                f"{built.name}, which does not fit it; build its wheel with Python "
                f"{target.python} on {target.arch.debian} and lock that, or pin a version "
                "that publishes one"
            )
        data = built.read_bytes()
        name = built.name
    digest = cache.put_blob(data)
    log(f"built {name} from {chosen.wheel.filename}")
    return WheelFile(name, chosen.wheel.url, digest, len(data)), cache.blob_path(digest)


def _locate(
    pins: Sequence[Pin], target: Target, cache: Cache | None, indexes: Sequence[str]
) -> tuple[Pin, ...]:
    """The index's wheels of exact versions for ``target``: uv with ``--no-deps``, so
    nothing is resolved, only looked up."""
    asked: dict[str, object] = {
        "pins": [[p.line(), sorted(p.hashes)] for p in pins],
        "platform": "universal" if target.free_threaded else target.uv_platform,
        "python": target.version,
    }
    if indexes:  # where they are looked up, without the logins
        asked["indexes"] = [" ".join(split_login(w)[0] for w in i.split()) for i in indexes]
    key = cache_key(asked, tool=False)
    known = cache.get_checked_record(_pylock_record, "wheel-locations", key) if cache else None
    if known is not None:
        text = known
    else:  # (two arguments without indexes: tests stand in for _lookup with that shape)
        text = _lookup(pins, target, indexes) if indexes else _lookup(pins, target)
    if cache is not None and known is None:
        cache.put_checked_record({"pylock": text}, "wheel-locations", key)
    return pylock_pins(_toml(text, "uv"), target.markers, where="the index")


def _pylock_record(body: object) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("pylock"), str):
        raise ValueError("not a pylock record")
    return body["pylock"]


def _lookup(pins: Sequence[Pin], target: Target, indexes: Sequence[str] = ()) -> str:
    # A folder of our own (mode 0700): the index lines may carry a login.
    with tempfile.TemporaryDirectory(prefix="pydistroless-pins-") as tmp:
        listing = Path(tmp) / "requirements.txt"
        lines = [*indexes, *(p.line() for p in pins)]
        listing.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        lock = _uv_text(
            [
                "pip",
                "compile",
                str(listing),
                "--no-deps",
                "--require-build-hashes",
                "--format",
                "pylock.toml",
                "--no-header",
                *_platform_args(target),
            ],
            f"looking up {len(pins)} pinned package(s) for {target.describe()} with uv",
        )
    return lock


def _read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _platform_args(target: Target) -> list[str]:
    """What ``uv pip compile`` resolves for (the image's Python and platform), and the
    interpreter it runs with: the one running pydistroless, named, so that uv does not
    search this host for a Python of the image's version (a version manager's shims on PATH
    cost seconds per call) and settle for another one anyway; it builds nothing with it."""
    own = ["--python", sys.executable] if sys.executable else []
    if target.free_threaded:
        # uv has no way to say "cp313t" (--python-version takes no t, and its platform
        # answers hold cp313 wheels alone): it resolves for every platform, which lists
        # every file, and the target's own tags choose among them.
        return [*own, "--universal", "--python-version", target.version]
    return [*own, "--python-platform", target.uv_platform, "--python-version", target.version]


def index_environment(lines: Sequence[str]) -> dict[str, str]:
    """Requirements-file index lines as uv's environment (never its command line, which
    every user of the machine may read), for a uv command that reads no such file."""
    env: dict[str, str] = {}
    extra: list[str] = []
    links: list[str] = []
    for line in lines:
        option, _, url = line.partition(" ")
        url = expand_variables(url)
        if option in ("-i", "--index-url"):
            env["UV_INDEX_URL"] = url
        elif option == "--extra-index-url":
            extra.append(url)
        elif option in ("-f", "--find-links"):
            links.append(url)
        elif option == "--no-index":
            env["UV_NO_INDEX"] = "1"
    if extra:
        env["UV_EXTRA_INDEX_URL"] = " ".join(extra)
    if links:
        env["UV_FIND_LINKS"] = ",".join(links)
    return env


# uv fetches no interpreter, whatever its settings say: what it resolves for is the image's
# Python (--python-version), and a download would cost seconds, or fail, on every call.
_NO_PYTHON_DOWNLOADS = ("--no-python-downloads",)


def _uv_text(
    args: Sequence[str],
    what: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    command = [uv_binary(), *args, *_NO_PYTHON_DOWNLOADS, "--quiet", "--color", "never"]
    log(f"{what} ...")
    try:
        with tempfile.TemporaryDirectory(prefix="pydistroless-uv-") as tmp:
            environ = {
                **os.environ,
                **(env or {}),
                **uv_metadata.no_python(Path(tmp)),
                "UV_PYTHON_DOWNLOADS": "never",
                # uv wraps its messages at $COLUMNS (set under a test runner, a CI log, a
                # narrow terminal), and the ones read here (which sdist it stopped at) name
                # long paths: one line each.
                "COLUMNS": "100000",
            }
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=_UV_TIMEOUT, env=environ, cwd=cwd
            )
    except subprocess.TimeoutExpired:
        raise ResolveError(f"{what}: uv gave no answer in {_UV_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise UsageError(f"{what}: cannot run uv ({exc.strerror}); pip install uv") from None
    if done.returncode != 0:
        needed = uv_metadata.needs_build(done.stderr)
        if needed is not None:
            raise SdistNeedsBuild(what, *needed)
        referenced = uv_metadata.needs_build_of(done.stderr)
        if referenced is not None:
            raise SdistNeedsBuild(what, *referenced)
        if uv_metadata.build_refused(done.stderr):
            raise ResolveError(
                f"{what}: uv would have to run a build backend on this host to read some "
                "metadata (the project's own, when its dependencies are dynamic, or a "
                "distribution named by URL), and nothing builds on this host; list the "
                "dependencies statically, or pin them in a lock"
            )
        said = " ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
        said = hide_logins(said)
        raise ResolveError(f"{what} failed: {said[:600] or f'exit {done.returncode}'}")
    return done.stdout


def _toml(text: str, what: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise IntegrityError(f"{what}: uv's answer is not a pylock.toml ({exc})") from None
