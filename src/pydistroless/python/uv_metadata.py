"""An sdist's metadata handed to uv, so that uv never builds one on this host.

uv reads an sdist's metadata itself when it is static (``PKG-INFO`` 2.2 or later without
``Requires-Dist`` marked dynamic, or a static ``[project]`` table); otherwise it would run the
sdist's build backend (PEP 517's ``prepare_metadata_for_build_wheel``: ``setup.py``) on the
host. ``uv pip compile --no-build`` forbids that, but it also turns every sdist away, the
static ones too (and silently prefers older versions that have wheels), so a resolution runs
with ``--require-build-hashes`` instead: a build needs its build requirements installed
first, and uv refuses to install any without a hash, which no one gives it. uv then stops
with ``Failed to download and build `NAME==VERSION``` (:func:`needs_build` reads it), the
sdist's metadata is computed where package code may run (the builder image, in the sandbox),
and the resolution runs again with it as uv's ``dependency-metadata``
(:func:`config_file`). A second lock (:func:`no_python`) stops what that lets through.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import tomllib
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidSdistFilename, canonicalize_name, parse_sdist_filename
from packaging.version import InvalidVersion, Version

from pydistroless.core.errors import ResolveError
from pydistroless.core.net import split_login

# uv's words when it would have to build an sdist (to read its metadata) and the build
# cannot start: with --require-build-hashes, "Hash-checking is required, but no trusted hash
# was provided for: `setuptools`" follows as its cause.
_NEEDS_BUILD = re.compile(r"Failed to (?:download and )?build `([A-Za-z0-9._-]+)==([^`\s]+)`")
# ... and for an sdist a requirement names by URL or path (a direct reference).
_NEEDS_BUILD_OF = re.compile(
    r"Failed to (?:download and )?build `([A-Za-z0-9._-]+)\s+@\s+([^`\s]+)`"
)

# Settings of a pyproject.toml's [tool.uv] that a uv.toml may not hold (project settings).
_PROJECT_ONLY = frozenset(
    {
        "managed", "package", "dev-dependencies", "default-groups", "dependency-groups",
        "sources", "workspace", "conflicts", "build-backend", "environments",
        "required-environments",
    }
)  # fmt: skip


class SdistNeedsBuild(ResolveError):
    """uv needs the metadata of ``name==version``'s sdist, which only its build gives (the
    file at ``url``, for a direct reference; else an index's)."""

    def __init__(self, what: str, name: str, version: str, url: str = "") -> None:
        self.name = name
        self.version = version
        self.url = url
        fix = (
            "pin every requirement (==VERSION --hash lines, the reference's file too) so "
            "nothing is resolved, or reference its wheel"
            if url
            else "pin it (a lock, or ==VERSION --hash lines), or pin a version that publishes "
            "wheels"
        )
        super().__init__(
            f"{what}: {f'{name} @ {split_login(url)[0]}' if url else f'{name}=={version}'} is a "
            "source distribution whose metadata only its own build gives, which never runs on "
            f"this host, and nothing here may run it in the builder image; {fix}"
        )


def no_python(folder: Path) -> dict[str, str]:
    """uv's environment for a second lock, in ``folder``: every Python process uv starts
    stops before it runs anything of a package. uv asks an interpreter about itself in
    isolated mode (``-I``, which ignores ``PYTHONPATH``); a build's Python (the one that would
    import a backend) imports the ``sitecustomize`` found first on ``PYTHONPATH`` when it
    starts, and this one exits. It stops what ``--require-build-hashes`` lets through: an
    sdist whose backend lies in its own tree (``backend-path``) and needs nothing installed."""
    (folder / "sitecustomize.py").write_text(_NO_PYTHON, encoding="utf-8")
    return {"PYTHONPATH": str(folder)}


_NO_PYTHON = """\
import os
import sys

sys.stderr.write("pydistroless: no package code runs on this host\\n")
sys.stderr.flush()
os._exit(97)
"""


def build_refused(stderr: str) -> bool:
    """Whether uv stopped because a build it wanted could not install its requirements
    unhashed (for what :func:`needs_build` does not name: the project itself, a URL)."""
    return "Hash-checking is required, but no trusted hash was provided" in stderr


def needs_build(stderr: str) -> tuple[str, str] | None:
    """The sdist (name, version) uv stopped at because it would have had to build it."""
    found = _NEEDS_BUILD.search(stderr)
    return (canonicalize_name(found[1]), found[2]) if found else None


def needs_build_of(stderr: str) -> tuple[str, str, str] | None:
    """The (name, version, URL) of the sdist a direct reference names that uv stopped at,
    because it would have had to build it (its version from its file name; None when the
    file is not named as an sdist is, such as a source tree)."""
    found = _NEEDS_BUILD_OF.search(stderr)
    if not found:
        return None
    filename = urllib.parse.unquote(urllib.parse.urlsplit(found[2]).path.rsplit("/", 1)[-1])
    try:
        name, version = parse_sdist_filename(filename)
    except (InvalidSdistFilename, InvalidVersion):
        return None
    if name != canonicalize_name(found[1]):
        return None
    return name, str(version), found[2]


def entry(metadata: Mapping[str, object], name: str, version: str) -> dict[str, object]:
    """A ``dependency-metadata`` entry for uv from an sdist's core metadata as JSON (PEP 566
    keys: ``name``, ``version``, ``requires_dist``, ``requires_python``), checked to be the
    one asked for and well formed: it comes from the package's own code."""
    what = f"the metadata {name}=={version}'s build gave"
    got_name, got_version = metadata.get("name"), metadata.get("version")
    if not isinstance(got_name, str) or canonicalize_name(got_name) != canonicalize_name(name):
        raise ResolveError(f"{what} names another package ({got_name!r})")
    try:
        if not isinstance(got_version, str) or Version(got_version) != Version(version):
            raise ResolveError(f"{what} has another version ({got_version!r})")
    except InvalidVersion:
        raise ResolveError(f"{what} has an invalid version ({got_version!r})") from None
    requires = metadata.get("requires_dist") or []
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ResolveError(f"{what}: its Requires-Dist is not a list of requirements")
    for requirement in requires:
        try:
            Requirement(requirement)
        except InvalidRequirement as exc:
            raise ResolveError(f"{what}: Requires-Dist {requirement!r}: {exc}") from None
    made: dict[str, object] = {
        "name": canonicalize_name(name),
        "version": version,
        "requires-dist": list(requires),
    }
    python = metadata.get("requires_python")
    if python:
        try:
            SpecifierSet(str(python))
        except InvalidSpecifier as exc:
            raise ResolveError(f"{what}: Requires-Python {python!r}: {exc}") from None
        made["requires-python"] = str(python)
    return made


def config_file(entries: Sequence[Mapping[str, object]], path: Path) -> Path:
    """A uv.toml at ``path``: the settings uv would have found itself (``--config-file``
    replaces them) with ``entries`` added to its ``dependency-metadata``."""
    settings = _discovered()
    settings["dependency-metadata"] = [*entries, *settings.get("dependency-metadata", [])]
    path.write_text(
        "".join(f"{_key(k)} = {_value(v)}\n" for k, v in settings.items()), encoding="utf-8"
    )
    return path


def _discovered() -> dict:
    """uv's own configuration as it discovers it: ``$UV_CONFIG_FILE`` alone, else the
    project's (the nearest ``uv.toml``, or ``pyproject.toml`` with a ``[tool.uv]`` table,
    from the working folder up) over the user's over the system's."""
    if os.environ.get("UV_NO_CONFIG", "").lower() in ("1", "true", "yes", "on"):
        return {}
    given = os.environ.get("UV_CONFIG_FILE")
    if given:
        return _read(Path(given)) or {}
    layers = [_project()]
    home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    layers.append(_read(Path(home) / "uv" / "uv.toml"))
    system_dirs = [*os.environ.get("XDG_CONFIG_DIRS", "").split(":"), "/etc"]
    layers.append(
        next((s for d in system_dirs if d and (s := _read(Path(d) / "uv" / "uv.toml"))), None)
    )
    merged: dict = {}
    for layer in reversed([layer for layer in layers if layer]):
        merged = _merge(layer, merged)
    return merged


def _project() -> dict | None:
    here = Path.cwd()
    for folder in (here, *here.parents):
        found = _read(folder / "uv.toml")
        if found is not None:
            return found
        pyproject = _read(folder / "pyproject.toml")
        tool = pyproject.get("tool", {}) if pyproject else {}
        if isinstance(tool, dict) and isinstance(tool.get("uv"), dict):
            return {k: v for k, v in tool["uv"].items() if k not in _PROJECT_ONLY}
    return None


def _read(path: Path) -> dict | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    except tomllib.TOMLDecodeError as exc:
        raise ResolveError(f"uv's configuration {path} is not valid TOML: {exc}") from None


def _merge(high: dict, low: dict) -> dict:
    """uv's way: the higher layer's values win, tables merge, arrays join (higher first)."""
    merged = dict(low)
    for key, value in high.items():
        below = low.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = _merge(value, below)
        elif isinstance(value, list) and isinstance(below, list):
            merged[key] = [*value, *below]
        else:
            merged[key] = value
    return merged


def _key(key: str) -> str:
    return json.dumps(key)


def _value(value: object) -> str:
    """A TOML value (JSON's string escapes are TOML's basic string escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise ResolveError(f"uv's configuration holds a value pydistroless cannot copy: {value!r}")
