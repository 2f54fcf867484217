"""The project itself: its files as the image holds them, and what its metadata says.

Files are copied as ``docker build`` would send them: ``.dockerignore`` is honoured as docker
reads it, else the project's ``.gitignore`` files as git reads them (:mod:`.ignore`);
version-control folders, bytecode caches and virtual environments never go in. They are
owned by root and read-only for everyone else, so the runtime user can read the code but not
change it. No index login goes in with them (:func:`without_index_logins`).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydistroless.core.errors import UsageError
from pydistroless.fs.tree import Tree
from pydistroless.python.ignore import DockerIgnore, GitIgnore

APP_DIR = "/app"
_ALWAYS_LEFT_OUT = "\n".join((".git/", ".hg/", ".svn/", "__pycache__/", "*.pyc", ".venv/", "venv/"))
_MAX_PROJECT_BYTES = 2 << 30
# A pip option line that names an index or a page of links, up to its URL's login.
_INDEX_OPTION = re.compile(
    rb"^([ \t]*(?:-i|--index-url|--extra-index-url|-f|--find-links)(?:[ \t]*=[ \t]*|[ \t]+)"
    rb"[A-Za-z][A-Za-z0-9+.-]*://)[^/\s?#]*@",
    re.MULTILINE,
)
# Files that name indexes or lock files by URL; every http(s) URL's login goes from them.
_DEPENDENCY_FILE = re.compile(
    r"(?:^|/)(?:(?:requirements|constraints)[^/]*|[^/]*-requirements|requirements/[^/]+)"
    r"\.(?:txt|in)$"
    r"|(?:^|/)(?:pylock(?:\.[^/]+)?\.toml|Pipfile|Pipfile\.lock|poetry\.lock|uv\.lock|uv\.toml"
    r"|pyproject\.toml|pip\.conf|pip\.ini)$"
)
_HTTP_LOGIN = re.compile(rb"((?:git\+)?https?://)[^/\s?#\"'<>]*@", re.IGNORECASE)


@dataclass(frozen=True)
class Metadata:
    """What ``pyproject.toml`` says of the project (all empty without one)."""

    name: str | None = None  # [project] name, else [tool.poetry] name
    scripts: tuple[tuple[str, str], ...] = ()  # (name, "module:attr")
    build_system: bool = False  # has a [build-system]: a wheel can be asked of it
    # The setting by which the project says it is no package, as written ("[tool.poetry]
    # package-mode = false"), or None.
    not_a_package: str | None = None
    # Something that only an installed distribution gives, or that tells the backend what
    # goes into the wheel: [project.scripts], [tool.poetry] packages, [tool.setuptools]
    # packages, a setup.py ... (see PACKAGING_KEYS).
    packaging_declared: bool = False
    app: dict[str, Any] | None = None  # [tool.pydistroless.app]


def metadata(project: Path) -> Metadata:
    """``[project]``, ``[build-system]`` and ``[tool.pydistroless.app]`` of the project, each
    of the form it must have; the app table's paths are of the project."""
    path = within(project, "pyproject.toml", "the project's file")
    if not path.is_file():
        return Metadata()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read as TOML ({exc})") from None
    except RecursionError:
        raise UsageError(
            f"{path}: arrays or tables nested too deeply to read; flatten them"
        ) from None
    table = _table(data, "project", path)
    scripts = _table(table, "scripts", path, "project.scripts")
    if not all(isinstance(v, str) for v in scripts.values()):
        raise UsageError(
            f'{path}: [project.scripts] values must be strings such as "package.module:main"'
        )
    tools = _table(data, "tool", path)
    tool = _table(tools, "pydistroless", path, "tool.pydistroless")
    app = tool.get("app")
    if app is not None:
        if not isinstance(app, dict):
            raise UsageError(f"{path}: [tool.pydistroless.app] must be a table")
        _check_app(app, path, project)
    poetry = _table(tools, "poetry", path, "tool.poetry")
    name = next((n for n in (table.get("name"), poetry.get("name")) if isinstance(n, str)), None)
    return Metadata(
        name=name,
        scripts=tuple(sorted(scripts.items())),
        build_system="build-system" in data,
        not_a_package=_not_a_package(tools),
        packaging_declared=bool(scripts) or _declares_packaging(data, project),
        app=app,
    )


def _not_a_package(tools: dict[str, Any]) -> str | None:
    """The setting of poetry's or uv's by which a project says it is an application whose
    own wheel is never built (``poetry install`` and ``uv sync`` then install only its
    dependencies), as written."""
    poetry, uv = tools.get("poetry"), tools.get("uv")
    if isinstance(poetry, dict) and poetry.get("package-mode") is False:
        return "[tool.poetry] package-mode = false"
    if isinstance(uv, dict) and uv.get("package") is False:
        return "[tool.uv] package = false"
    return None


# Settings that tell a build backend what goes into the wheel (dotted paths in pyproject.toml).
PACKAGING_KEYS = (
    "tool.poetry.packages",
    "tool.poetry.scripts",
    "tool.setuptools.packages",
    "tool.setuptools.py-modules",
    "tool.setuptools.package-dir",
    "tool.hatch.build.packages",
    "tool.hatch.build.include",
    "tool.hatch.build.only-include",
    "tool.hatch.build.sources",
    "tool.hatch.build.force-include",
    "tool.hatch.build.targets.wheel.packages",
    "tool.hatch.build.targets.wheel.include",
    "tool.hatch.build.targets.wheel.only-include",
    "tool.hatch.build.targets.wheel.sources",
    "tool.hatch.build.targets.wheel.force-include",
    "tool.flit.module.name",
    "tool.pdm.build.includes",
    "tool.pdm.build.package-dir",
    "tool.maturin",
    "tool.scikit-build",
    "tool.meson-python",
    "project.gui-scripts",
    "project.entry-points",
)
# setuptools reads these beside pyproject.toml.
_SETUPTOOLS_FILES = ("setup.py", "setup.cfg")


def _declares_packaging(data: dict[str, Any], project: Path) -> bool:
    """Whether the project's configuration says what its wheel holds (any of
    PACKAGING_KEYS, or setuptools' own files)."""
    for key in PACKAGING_KEYS:
        value: Any = data
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return True
    return any(within(project, n, "the project's file").is_file() for n in _SETUPTOOLS_FILES)


def importable(project: Path, name: str) -> bool:
    """Whether the project holds what a build backend packages by default for ``name``: a
    package or module named after it (``-`` and ``.`` as ``_``, any case) at its top, or a
    ``src/`` folder (the layout only packages have)."""
    wanted = re.sub(r"[-_.]+", "_", name).lower()
    root = project.resolve()
    if (root / "src").is_dir():
        return True
    try:
        names = {p.name.lower() for p in root.iterdir() if p.is_dir() or p.suffix == ".py"}
    except OSError:
        return False
    return wanted in names or f"{wanted}.py" in names


def _table(data: dict[str, Any], key: str, path: Path, name: str = "") -> dict[str, Any]:
    """``data[key]``: a table, or empty when it is missing."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{path}: [{name or key}] must be a table")
    return value


# [tool.pydistroless.app]: each key, the kind of value it takes, and an example of one.
_APP_KEYS = {
    "requirements": ("path", '"requirements/prod.txt"'),
    "extras": ("strings", '["postgres"]'),
    "entrypoint": ("strings", '["gunicorn", "app:app"]'),
    "cmd": ("strings", '["--workers", "2"]'),
    "env": ("env", '{ PORT = "8000" }'),
    "workdir": ("string", '"/app"'),
    "expose": ("ports", '[8000, "9000/udp"]'),
    "main": ("path", '"main.py"'),
    "base": ("string", '"./python.tar"'),
    "tags": ("strings", '["myapp:1.0"]'),
    "packages": ("strings", '["libpq5"]'),
    "build-packages": ("strings", '["libpq-dev"]'),
    "no-install-project": ("bool", "true"),
}
_KINDS = {
    "string": "a string",
    "path": "a path of the project, relative to it",
    "strings": "an array of strings",
    "env": "a table of names and strings (or numbers)",
    "ports": "an array of ports (numbers or strings)",
    "bool": "true or false",
}


def _check_app(table: dict[str, Any], path: Path, project: Path) -> None:
    """Every key of ``[tool.pydistroless.app]`` known and of its kind; its paths inside the
    project (refused before anything reads them)."""
    for key, value in table.items():
        if key not in _APP_KEYS:
            raise UsageError(
                f"{path}: [tool.pydistroless.app] has no key {key!r}; known: "
                f"{', '.join(sorted(_APP_KEYS))}"
            )
        kind, example = _APP_KEYS[key]
        if not _is_kind(value, kind):
            raise UsageError(
                f"{path}: [tool.pydistroless.app] {key} must be {_KINDS[kind]}, such as "
                f"{key} = {example}"
            )
        if kind == "path":
            within(project, value, f"{path}: [tool.pydistroless.app] {key}")


def _is_kind(value: object, kind: str) -> bool:
    if kind in ("string", "path"):
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "strings":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "ports":
        return isinstance(value, list) and all(
            isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) for v in value
        )
    return isinstance(value, dict) and not any(isinstance(v, (dict, list)) for v in value.values())


def ignore_rules(project: Path) -> DockerIgnore | GitIgnore:
    """The project's own exclusions: its ``.dockerignore``, else its ``.gitignore`` files."""
    root = project.resolve()
    docker = _text_of(root, ".dockerignore")
    if docker is not None:
        return DockerIgnore(docker, where=str(project / ".dockerignore"))
    return GitIgnore(lambda folder: _text_of(root, f"{folder}/.gitignore".lstrip("/")))


def _text_of(root: Path, name: str) -> str | None:
    """A file of the project as text, None when there is none."""
    path = within(root, name, "the ignore file")
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8", errors="replace")


def within(project: Path, name: str, what: str) -> Path:
    """``project / name``, for a path the project names relative to itself; refused in one
    line, before anything reads it, when it leads out of the project: absolute, up with
    ``..``, or through a symlink."""
    root = project.resolve()
    try:
        real = (root / name).resolve()
    except (OSError, ValueError) as exc:
        raise UsageError(f"{what} {name!r} cannot be a path of {project} ({exc})") from None
    if os.path.isabs(name) or not real.is_relative_to(root):
        raise UsageError(
            f"{what} {name!r} leads out of the project {project}; name a file of the "
            "project, relative to its folder"
        )
    return project / name


def files(project: Path, *, into: str = APP_DIR) -> Tree:
    """The project's files under ``into``, ignore rules applied. Symlinks that stay inside
    the project are kept as links; one that leads out of it is refused."""
    root = project.resolve()
    rules = ignore_rules(project)
    ours = GitIgnore(lambda folder: _ALWAYS_LEFT_OUT if not folder else None)
    tree = Tree()
    base = into.strip("/")
    tree.add_dir(base)
    total = 0
    for folder, dirs, names in os.walk(root):
        relative = os.path.relpath(folder, root)
        rel = "" if relative == "." else relative + "/"
        entered = []
        for d in sorted(dirs):
            path = f"{rel}{d}"
            link = os.path.islink(os.path.join(folder, d))
            if ours.excluded(path, is_dir=not link):
                continue
            if rules.excluded(path, is_dir=not link):
                if not link and rules.looks_into(path):
                    entered.append(d)  # a "!pattern" may take a file below it back
                continue
            _check_name(project, path)
            if link:
                _add_link(tree, root, Path(folder) / d, f"{base}/{path}")
            else:
                tree.add_dir(f"{base}/{path}")
                entered.append(d)
        dirs[:] = entered
        for name in sorted(names):
            path = f"{rel}{name}"
            if ours.excluded(path, is_dir=False) or rules.excluded(path, is_dir=False):
                continue
            _check_name(project, path)
            full = Path(folder) / name
            target = f"{base}/{path}"
            if full.is_symlink():
                _add_link(tree, root, full, target)
                continue
            if not full.is_file():
                continue  # sockets, FIFOs: nothing an image can hold
            data = without_index_logins(path, full.read_bytes())
            total += len(data)
            if total > _MAX_PROJECT_BYTES:
                raise UsageError(
                    f"{project}: more than {_MAX_PROJECT_BYTES >> 30} GiB of files to copy; "
                    "leave build outputs and data out with a .dockerignore"
                )
            tree.add_file(target, data, 0o755 if os.access(full, os.X_OK) else 0o644)
    return tree


def without_index_logins(path: str, data: bytes) -> bytes:
    """A project file as the image gets it: no index login in any pip option line
    (``--index-url https://USER:TOKEN@host/simple``, ``--extra-index-url``, ``-i``,
    ``--find-links``, ``-f``), and in a dependency file or pip's or uv's settings (by its
    name) no login in any http(s) URL. Binary files (a NUL in their first 8 KiB, git's test)
    and files with no URL in them are left as they are, unread."""
    if b"://" not in data or b"\0" in data[:8192]:
        return data
    data = _INDEX_OPTION.sub(rb"\1", data)
    if _DEPENDENCY_FILE.search(path):
        data = _HTTP_LOGIN.sub(rb"\1", data)
    return data


def _check_name(where: Path, name: str, what: str = "the name") -> None:
    """An image holds UTF-8 names only (its layers' tar headers, its tools' listings)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"{where}: {what} {os.fsencode(name)!r} is not UTF-8; rename it, or leave it out "
            "with .dockerignore"
        ) from None


def _add_link(tree: Tree, root: Path, link: Path, image_path: str) -> None:
    target = os.readlink(link)
    _check_name(link, target, "the symlink's target")
    resolved = (link.parent / target).resolve()
    if not resolved.is_relative_to(root) or os.path.isabs(target):
        raise UsageError(
            f"{link}: a symlink to {target}, outside the project; copy the file in instead, "
            "or list the link in .dockerignore"
        )
    tree.add_symlink(image_path, target)
