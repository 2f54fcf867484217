"""Wheels installed for the image's interpreter, into file trees of their own.

pypa/installer does the installing, so its semantics are the standard's: ``RECORD``,
``.dist-info`` with ``INSTALLER``, the data, headers and scripts schemes, console scripts as
launchers whose shebang is the image's interpreter (so ``gunicorn`` is an entrypoint with no
shell). It writes into a staging folder laid out like the image's root; the folder is then read
into one :class:`Tree` per distribution, owned by root, so that a large distribution can get a
layer of its own.
"""

from __future__ import annotations

import csv
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.sources import WheelFile
from packaging.utils import canonicalize_name

from pydistroless.core.errors import PackageFormatError
from pydistroless.fs.tree import Tree
from pydistroless.python.runtime import Target

INSTALLER_NAME = b"pydistroless\n"
SCRIPTS_DIR = "/usr/local/bin"
DATA_DIR = "/usr/local"
_GIB = 1 << 30
_MIB = 1 << 20


@dataclass(frozen=True)
class WheelLimits:
    """How large a wheel may be once unpacked, checked against its zip directory before a
    byte is extracted (zipfile never inflates an entry past the size the directory gives,
    and a CRC check then fails).

    The largest real wheels (CUDA builds of torch) hold files of about 1 GiB and a few GiB in
    all; a file past ``file`` or a wheel past ``total`` is refused, and so is a file over
    ``ratio_from`` bytes that inflates more than ``ratio`` times (deflate's ceiling is about
    1000; real libraries and data shrink by 2 to 10)."""

    file: int = 2 * _GIB
    total: int = 8 * _GIB
    ratio: int = 200
    ratio_from: int = 64 * _MIB
    metadata: int = 32 * _MIB  # RECORD and METADATA, read whole


DEFAULT_LIMITS = WheelLimits()


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
    path: Path,
    name: str,
    version: str,
    target: Target,
    *,
    filename: str | None = None,
    limits: WheelLimits = DEFAULT_LIMITS,
) -> InstalledDistribution:
    """Install the wheel at ``path`` (distribution ``name`` ``version``, file name
    ``filename`` when the path is not named after the wheel, as a cache blob is) for
    ``target``, once :func:`check_wheel` has found it to be what it claims."""
    check_wheel(path, name, label=filename or path.name, limits=limits)
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


def check_wheel(path: Path, name: str, *, label: str, limits: WheelLimits = DEFAULT_LIMITS) -> None:
    """Refuse the wheel at ``path`` unless its zip directory stays within ``limits``, agrees
    with its ``RECORD`` on every file's size, and its ``METADATA`` names ``name`` (the
    package it was downloaded for), before anything is extracted."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = [i for i in archive.infolist() if not i.is_dir()]
            _check_sizes(entries, label, limits)
            dist_info = _dist_info(entries, label)
            record = _read_member(archive, f"{dist_info}/RECORD", label, limits)
            _check_record(entries, record, dist_info, label)
            metadata = _read_member(archive, f"{dist_info}/METADATA", label, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise PackageFormatError(f"wheel {label} is not a zip archive ({exc})") from None
    found = HeaderParser().parsestr(metadata).get("Name")
    if not isinstance(found, str) or canonicalize_name(found) != canonicalize_name(name):
        raise PackageFormatError(
            f"wheel {label}: its METADATA names {str(found)[:80]!r}, not {name}, the package "
            "it was downloaded for; the index or the lock serves another package's file"
        )


def _check_sizes(entries: Sequence[zipfile.ZipInfo], label: str, limits: WheelLimits) -> None:
    total = 0
    for entry in entries:
        size = entry.file_size
        if size > limits.file:
            raise PackageFormatError(
                f"wheel {label}: {entry.filename[:200]} unpacks to {size} bytes, more than "
                f"the {_amount(limits.file)} a file of a wheel may have; refused"
            )
        if size > limits.ratio_from and size > limits.ratio * max(entry.compress_size, 1):
            raise PackageFormatError(
                f"wheel {label}: {entry.filename[:200]} inflates from {entry.compress_size} "
                f"to {size} bytes, more than {limits.ratio} times; a zip bomb, refused"
            )
        total += size
    if total > limits.total:
        raise PackageFormatError(
            f"wheel {label} unpacks to {total} bytes, more than the {_amount(limits.total)} a "
            "wheel may have; refused"
        )


def _amount(size: int) -> str:
    return f"{size >> 30} GiB" if size >= _GIB else f"{size >> 20} MiB"


def _dist_info(entries: Sequence[zipfile.ZipInfo], label: str) -> str:
    found = {e.filename.split("/", 1)[0] for e in entries if "/" in e.filename}
    dist_infos = sorted(d for d in found if d.endswith(".dist-info"))
    if len(dist_infos) != 1:
        raise PackageFormatError(
            f"wheel {label} has {len(dist_infos)} .dist-info folders, not one; the wheel is broken"
        )
    return dist_infos[0]


def _read_member(archive: zipfile.ZipFile, member: str, label: str, limits: WheelLimits) -> str:
    try:
        entry = archive.getinfo(member)
    except KeyError:
        raise PackageFormatError(f"wheel {label} has no {member}; the wheel is broken") from None
    if entry.file_size > limits.metadata:
        raise PackageFormatError(
            f"wheel {label}: {member} is {entry.file_size} bytes, more than the "
            f"{_amount(limits.metadata)} allowed; refused"
        )
    try:
        return archive.read(entry).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PackageFormatError(f"wheel {label}: {member} is not UTF-8 ({exc})") from None


def _check_record(
    entries: Sequence[zipfile.ZipInfo], record: str, dist_info: str, label: str
) -> None:
    """Every file the ``RECORD`` gives a size has that size in the zip directory."""
    sizes = {e.filename: e.file_size for e in entries}
    try:
        rows = list(csv.reader(record.splitlines()))
    except csv.Error as exc:
        raise PackageFormatError(f"wheel {label}: {dist_info}/RECORD is not CSV ({exc})") from None
    for row in rows:
        if len(row) < 3 or not row[2] or row[0] not in sizes:
            continue
        try:
            said = int(row[2])
        except ValueError:
            raise PackageFormatError(
                f"wheel {label}: {dist_info}/RECORD gives {row[0][:200]} the size "
                f"{row[2][:40]!r}, not a number; the wheel is broken"
            ) from None
        if said != sizes[row[0]]:
            raise PackageFormatError(
                f"wheel {label}: {row[0][:200]} unpacks to {sizes[row[0]]} bytes, but its "
                f"RECORD says {said}; the wheel is broken or tampered with"
            )


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
