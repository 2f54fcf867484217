"""Wheels installed for the image's interpreter, into file trees of their own.

pypa/installer does the installing, so its semantics are the standard's: ``RECORD``,
``.dist-info`` with ``INSTALLER``, the data, headers and scripts schemes, console scripts as
launchers whose shebang is the image's interpreter (so ``gunicorn`` is an entrypoint with no
shell). It writes into a staging folder laid out like the image's root; the folder is then read
into one :class:`Tree` per distribution, owned by root, so that a large distribution can get a
layer of its own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.sources import WheelFile

from pydistroless.core.errors import PackageFormatError
from pydistroless.fs.tree import Tree
from pydistroless.python.runtime import Target

INSTALLER_NAME = b"pydistroless\n"
SCRIPTS_DIR = "/usr/local/bin"
DATA_DIR = "/usr/local"


@dataclass(frozen=True)
class InstalledDistribution:
    """One distribution's files, as the image will hold them."""

    name: str
    version: str
    tree: Tree
    size: int  # bytes of its regular files

    @property
    def scripts(self) -> list[str]:
        """Its console and GUI scripts (image paths)."""
        prefix = SCRIPTS_DIR.lstrip("/") + "/"
        return ["/" + e.path for e in self.tree.files() if e.path.startswith(prefix)]


def schemes(target: Target, distribution: str) -> dict[str, str]:
    """Where each scheme of a wheel goes in the image (sysconfig's posix_prefix, under
    /usr/local as a Debian Python expects of what it did not install itself)."""
    return {
        "purelib": target.site_packages,
        "platlib": target.site_packages,
        "scripts": SCRIPTS_DIR,
        "data": DATA_DIR,
        "headers": f"{DATA_DIR}/include/python{target.python}/{distribution}",
    }


def install_wheel(
    path: Path, name: str, version: str, target: Target, *, filename: str | None = None
) -> InstalledDistribution:
    """Install the wheel at ``path`` (distribution ``name`` ``version``, file name
    ``filename`` when the path is not named after the wheel, as a cache blob is) for
    ``target``."""
    with tempfile.TemporaryDirectory(prefix="pydistroless-wheel-") as staging:
        if filename is not None and path.name != filename:
            # The installer reads the wheel's name and tags from its file name.
            named = Path(staging) / "wheel" / filename
            named.parent.mkdir()
            named.symlink_to(path)
            path = named
            staging = os.path.join(staging, "root")
        destination = SchemeDictionaryDestination(
            schemes(target, name),
            interpreter=target.interpreter,
            script_kind="posix",
            destdir=staging,
        )
        try:
            with WheelFile.open(path) as source:
                install(source, destination, {"INSTALLER": INSTALLER_NAME})
        except (InstallerError, ValueError, OSError, KeyError) as exc:
            raise PackageFormatError(
                f"wheel {path.name} cannot be installed ({exc}); the wheel is broken"
            ) from None
        tree, size = _read_staging(Path(staging))
    return InstalledDistribution(name, version, tree, size)


def install_all(
    wheels: Sequence[tuple[Path, str, str, str]], target: Target
) -> list[InstalledDistribution]:
    """Each of ``(path, file name, name, version)`` installed on its own."""
    return [
        install_wheel(path, name, version, target, filename=filename)
        for path, filename, name, version in wheels
    ]


def _read_staging(root: Path) -> tuple[Tree, int]:
    """The staging folder as a tree: owned by root, modes kept to 0755/0644, nothing but
    directories and regular files (a wheel holds nothing else)."""
    tree = Tree()
    size = 0
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        relative = os.path.relpath(folder, root)
        for name in sorted(names):
            path = os.path.normpath(os.path.join(relative, name))
            full = os.path.join(folder, name)
            if os.path.islink(full):
                raise PackageFormatError(f"a wheel installed a symlink {path}; refused")
            mode = 0o755 if os.stat(full).st_mode & 0o111 else 0o644
            data = Path(full).read_bytes()
            size += len(data)
            tree.add_file(path, data, mode)
    return tree, size
