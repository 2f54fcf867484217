"""The project itself: its files as the image holds them, and what its metadata says.

Files are copied as ``docker build`` would send them: ``.dockerignore`` is honoured, else
``.gitignore``; version-control folders, bytecode caches and virtual environments never go
in. They are owned by root and read-only for everyone else, so the runtime user can read the
code but not change it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec

from pydistroless.core.errors import UsageError
from pydistroless.fs.tree import Tree

APP_DIR = "/app"
_ALWAYS_LEFT_OUT = (".git/", ".hg/", ".svn/", "__pycache__/", "*.pyc", ".venv/", "venv/")
_MAX_PROJECT_BYTES = 2 << 30


@dataclass(frozen=True)
class Metadata:
    """What ``pyproject.toml`` says of the project (all empty without one)."""

    name: str | None = None
    scripts: tuple[tuple[str, str], ...] = ()  # (name, "module:attr")
    is_package: bool = False  # has a [build-system]: built into a wheel and installed
    app: dict[str, Any] | None = None  # [tool.pydistroless.app]


def metadata(project: Path) -> Metadata:
    """``[project]``, ``[build-system]`` and ``[tool.pydistroless.app]`` of the project."""
    path = project / "pyproject.toml"
    if not path.is_file():
        return Metadata()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read as TOML ({exc})") from None
    table = data.get("project") or {}
    scripts = table.get("scripts") or {}
    app = ((data.get("tool") or {}).get("pydistroless") or {}).get("app")
    if app is not None and not isinstance(app, dict):
        raise UsageError(f"{path}: [tool.pydistroless.app] must be a table")
    return Metadata(
        name=table.get("name") if isinstance(table.get("name"), str) else None,
        scripts=tuple(sorted((str(k), str(v)) for k, v in scripts.items())),
        is_package="build-system" in data,
        app=app,
    )


def ignore_rules(project: Path) -> pathspec.PathSpec:
    """The project's own exclusions (``.dockerignore``, else ``.gitignore``) plus ours."""
    lines = list(_ALWAYS_LEFT_OUT)
    for name in (".dockerignore", ".gitignore"):
        path = project / name
        if path.is_file():
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
            break
    return pathspec.GitIgnoreSpec.from_lines(lines)


def files(project: Path, *, into: str = APP_DIR) -> Tree:
    """The project's files under ``into``, ignore rules applied. Symlinks that stay inside
    the project are kept as links; one that leads out of it is refused."""
    rules = ignore_rules(project)
    root = project.resolve()
    tree = Tree()
    base = into.strip("/")
    tree.add_dir(base)
    total = 0
    for folder, dirs, names in os.walk(root):
        relative = os.path.relpath(folder, root)
        rel = "" if relative == "." else relative + "/"
        dirs[:] = sorted(d for d in dirs if not rules.match_file(f"{rel}{d}/"))
        for d in dirs:
            if os.path.islink(os.path.join(folder, d)):
                _add_link(tree, root, Path(folder) / d, f"{base}/{rel}{d}")
            else:
                tree.add_dir(f"{base}/{rel}{d}")
        for name in sorted(names):
            if rules.match_file(f"{rel}{name}"):
                continue
            full = Path(folder) / name
            target = f"{base}/{rel}{name}"
            if full.is_symlink():
                _add_link(tree, root, full, target)
                continue
            if not full.is_file():
                continue  # sockets, FIFOs: nothing an image can hold
            data = full.read_bytes()
            total += len(data)
            if total > _MAX_PROJECT_BYTES:
                raise UsageError(
                    f"{project}: more than {_MAX_PROJECT_BYTES >> 30} GiB of files to copy; "
                    "leave build outputs and data out with a .dockerignore"
                )
            tree.add_file(target, data, 0o755 if os.access(full, os.X_OK) else 0o644)
    return tree


def _add_link(tree: Tree, root: Path, link: Path, image_path: str) -> None:
    target = os.readlink(link)
    resolved = (link.parent / target).resolve()
    if not resolved.is_relative_to(root) or os.path.isabs(target):
        raise UsageError(
            f"{link}: a symlink to {target}, outside the project; copy the file in instead, "
            "or list the link in .dockerignore"
        )
    tree.add_symlink(image_path, target)
