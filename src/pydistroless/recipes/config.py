"""The declarative config: ``pydistroless.toml``, or ``[tool.pydistroless]`` in
``pyproject.toml``.

One table of defaults for every image, and an optional ``matrix`` table whose lists multiply
into one image per combination (suites x Pythons x variants x users x free-threading; the
architectures of ``archs`` go into each image as one multi-platform index)::

    suite = "trixie"
    archs = ["amd64", "arm64"]
    output-dir = "dist"

    [mirrors]
    main = ["http://HOST/debian"]
    security = ["http://HOST/debian-security"]

    [matrix]
    suite = ["trixie", "bookworm"]
    variant = ["standard", "debug"]
    user = ["nonroot", "root"]
    free-threading = [false, true]   # CPython with and without the GIL (3.13 and 3.13t)

Unknown keys are errors, so a typo never silently builds something else.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydistroless.core.errors import ConfigError, PydistrolessError
from pydistroless.recipes.spec import ImageSpec

FILE_NAME = "pydistroless.toml"

# Config keys (TOML spelling) and the ImageSpec fields they set.
_SCALARS = {
    "suite": "suite",
    "python": "python",
    "variant": "variant",
    "user": "user",
    "python-from": "python_from",
    "source-url": "source_url",
    "source-sha256": "source_sha256",
    "source-signature": "source_signature",
}
_LISTS = {
    "archs": "archs",
    "packages": "packages",
    "exclude": "exclude",
    "keep": "keep",
    "tags": "tags",
}
_OTHER = {
    "ca-certs",
    "sbom-format",
    "output-dir",
    "mirrors",
    "matrix",
    "source-date-epoch",
    "python-optimizations",
    "free-threading",
    "sign-key",
}
_MATRIX_KEYS = {"suite", "python", "variant", "user", "python-from", "free-threading"}
# Matrix axes of true and false, and the ImageSpec fields they set.
_BOOLEAN_AXES = {"free-threading": "free_threading"}


@dataclass(frozen=True)
class Config:
    path: Path
    images: tuple[ImageSpec, ...]
    output_dir: Path | None
    mirrors: tuple[str, ...]
    security_mirrors: tuple[str, ...]
    sign_key: Path | None = None  # signs what `build --push` pushes, relative to the file


def discover(directory: Path) -> Path | None:
    """``pydistroless.toml`` in ``directory``, else its ``pyproject.toml`` if that has a
    ``[tool.pydistroless]`` table."""
    own = directory / FILE_NAME
    if own.is_file():
        return own
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
            return None
        if isinstance(data.get("tool"), dict) and "pydistroless" in data["tool"]:
            return pyproject
    return None


def load(path: Path, base: ImageSpec | None = None) -> Config:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}); TOML files must be UTF-8"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"{path}: arrays or tables nested too deeply to read") from None
    if path.name == "pyproject.toml":
        tool = data.get("tool")
        data = tool.get("pydistroless") if isinstance(tool, dict) else None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} has no [tool.pydistroless] table")
    return parse(data, path=path, base=base or ImageSpec())


def parse(data: dict[str, Any], *, path: Path, base: ImageSpec) -> Config:
    unknown = set(data) - set(_SCALARS) - set(_LISTS) - _OTHER
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}; known: "
            f"{', '.join(sorted([*_SCALARS, *_LISTS, *_OTHER]))}"
        )
    changes: dict[str, Any] = {}
    for key, field_name in _SCALARS.items():
        if key in data:
            changes[field_name] = _string(data[key], key, path)
    for key, field_name in _LISTS.items():
        if key in data:
            changes[field_name] = _strings(data[key], key, path)
    for field_name in ("source_url", "source_signature"):
        # A local file is named from the config file's folder, as ca-certs are.
        location = changes.get(field_name)
        if location is not None and "://" not in location:
            changes[field_name] = str(path.parent / location)
    if "ca-certs" in data:
        changes["ca_certs"] = tuple(
            (path.parent / p) for p in _strings(data["ca-certs"], "ca-certs", path)
        )
    if "sbom-format" in data:
        changes["sbom_format"] = _string(data["sbom-format"], "sbom-format", path)
    if "source-date-epoch" in data:
        if not isinstance(data["source-date-epoch"], int):
            raise ConfigError(f"{path}: source-date-epoch must be a whole number of seconds")
        changes["source_date_epoch"] = data["source-date-epoch"]
    if "python-optimizations" in data:
        if not isinstance(data["python-optimizations"], bool):
            raise ConfigError(f"{path}: python-optimizations must be true or false")
        changes["optimize_python"] = data["python-optimizations"]
    if "free-threading" in data:
        if not isinstance(data["free-threading"], bool):
            raise ConfigError(
                f"{path}: free-threading must be true or false (true: CPython without the GIL, "
                "as --python 3.13t)"
            )
        changes["free_threading"] = data["free-threading"]
    matrix = data.get("matrix", {})
    if not isinstance(matrix, dict) or set(matrix) - _MATRIX_KEYS:
        raise ConfigError(
            f"{path}: [matrix] takes lists for {', '.join(sorted(_MATRIX_KEYS))} only"
        )
    axes: dict[str, tuple[Any, ...]] = {
        key: _booleans(values, f"matrix.{key}", path)
        if key in _BOOLEAN_AXES
        else _strings(values, f"matrix.{key}", path)
        for key, values in matrix.items()
    }
    for key, values in axes.items():
        if not values:
            raise ConfigError(
                f"{path}: matrix.{key} is an empty list, which would build no image; "
                "give at least one value or remove the key"
            )
    images = []
    try:
        defaults = replace(base, **changes)
        for combination in itertools.product(*axes.values()):
            values = dict(zip(axes, combination, strict=True))
            if "python-from" in values:
                values["python_from"] = values.pop("python-from")
            for key, field_name in _BOOLEAN_AXES.items():
                if key in values:
                    values[field_name] = values.pop(key)
            if values.get("python") == "default":
                values["python"] = None
            images.append(replace(defaults, **values))
    except PydistrolessError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    mirrors = data.get("mirrors", {})
    if not isinstance(mirrors, dict) or set(mirrors) - {"main", "security"}:
        raise ConfigError(f"{path}: [mirrors] takes the lists main and security only")
    output_dir = data.get("output-dir")
    sign_key = data.get("sign-key")
    return Config(
        path=path,
        images=tuple(images),
        output_dir=path.parent / _string(output_dir, "output-dir", path) if output_dir else None,
        mirrors=_strings(mirrors.get("main", []), "mirrors.main", path),
        security_mirrors=_strings(mirrors.get("security", []), "mirrors.security", path),
        sign_key=path.parent / _string(sign_key, "sign-key", path) if sign_key else None,
    )


def _string(value: Any, key: str, path: Path) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be a string, not {value!r}")
    return value


def _booleans(value: Any, key: str, path: Path) -> tuple[bool, ...]:
    if isinstance(value, bool):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, bool) for v in value):
        raise ConfigError(f"{path}: {key} must be a list of true and false, not {value!r}")
    return tuple(value)


def _strings(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {key} must be a list of strings, not {value!r}")
    return tuple(value)
