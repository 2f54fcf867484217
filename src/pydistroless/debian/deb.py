"""Reading ``.deb`` files without dpkg.

A ``.deb`` is an ``ar`` archive (read with python-debian's ``ArFile``) holding
``debian-binary``, ``control.tar.*`` and ``data.tar.*``, each tar compressed with xz, zstd,
gzip, bzip2 or nothing. The data tar's members become tree entries; the tree refuses absolute
names, ``..`` and links out of the image, so a hostile package cannot write outside it.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from dataclasses import dataclass

import zstandard
from debian.arfile import ArError, ArFile

from pydistroless.errors import PackageFormatError, UnsafePathError
from pydistroless.fs.tree import Entry, Kind, Tree, canonical


@dataclass(frozen=True)
class DebPackage:
    """The parts of one ``.deb`` the build uses."""

    name: str
    control: str  # the control paragraph, verbatim
    md5sums: str  # "<md5>  <path>" lines as shipped (paths without a leading slash)
    entries: tuple[Entry, ...]  # data.tar members in archive order, names canonical


def read_deb(data: bytes, *, name: str) -> DebPackage:
    label = f"package {name}"
    try:
        archive = ArFile(fileobj=io.BytesIO(data))
        members = {m.name: m for m in archive.getmembers()}
    except (ArError, OSError, ValueError, IndexError) as exc:
        raise PackageFormatError(f"{label}: not a valid .deb ({exc}); the file is damaged") from exc
    if "debian-binary" not in members:
        raise PackageFormatError(f"{label}: not a .deb (no debian-binary member)")
    control_tar = _open_tar(members, "control.tar", label)
    data_tar = _open_tar(members, "data.tar", label)
    control_files = _read_control(control_tar, label)
    if "control" not in control_files:
        raise PackageFormatError(f"{label}: control.tar has no control file")
    entries = tuple(_entries(data_tar, label, name))
    return DebPackage(
        name=name,
        control=control_files["control"].decode("utf-8", errors="replace"),
        md5sums=control_files.get("md5sums", b"").decode("utf-8", errors="replace"),
        entries=entries,
    )


def install(tree: Tree, package: DebPackage) -> dict[str, str]:
    """Add a package's entries to ``tree``. Returns, for each path as the package names it,
    the path where it landed (they differ where a directory is a symlink, as on merged-/usr).
    """
    placed: dict[str, str] = {}
    context = f"package {package.name}"
    for entry in package.entries:
        stored = tree.add(entry, context=context)
        placed[entry.path] = stored.path
    return placed


def _open_tar(members: dict, stem: str, label: str) -> tarfile.TarFile:
    for name, member in members.items():
        if name == stem or name.startswith(stem + "."):
            raw = member.read()
            suffix = name[len(stem) :]
            try:
                plain = _decompress(raw, suffix)
            except (
                lzma.LZMAError,
                zstandard.ZstdError,
                zlib.error,
                OSError,
                EOFError,
                ValueError,
            ) as exc:
                raise PackageFormatError(
                    f"{label}: {name} is truncated or corrupt ({exc}); the .deb is damaged"
                ) from exc
            try:
                return _Tar(plain, f"{label}: {name}")
            except tarfile.TarError as exc:
                raise PackageFormatError(f"{label}: {name} is not a tar ({exc})") from exc
    raise PackageFormatError(f"{label}: no {stem}.* member; the .deb is damaged")


class _Tar(tarfile.TarFile):
    """A tar that must end with its end-of-archive marker: tarfile stops quietly at a
    truncated header or at the end of the data, which would make a cut package look whole."""

    def __init__(self, plain: bytes, label: str):
        super().__init__(fileobj=io.BytesIO(plain), mode="r")
        self._plain = plain
        self._label = label

    def __iter__(self):
        yield from super().__iter__()
        end = self.offset
        if self._plain[end : end + 2 * tarfile.BLOCKSIZE] != bytes(2 * tarfile.BLOCKSIZE):
            raise PackageFormatError(
                f"{self._label} is truncated (no end-of-archive marker); the .deb is damaged"
            )


def _decompress(raw: bytes, suffix: str) -> bytes:
    if suffix == ".xz":
        return lzma.decompress(raw)
    if suffix == ".zst":
        # Debian's zstd frames may lack a content size: decompress as a stream, and insist
        # that the frame ends, since a truncated one just stops giving data.
        stream = zstandard.ZstdDecompressor().decompressobj()
        plain = stream.decompress(raw)
        if not stream.eof:
            raise EOFError("zstd frame ends early")
        return plain
    if suffix == ".gz":
        return gzip.decompress(raw)
    if suffix == ".bz2":
        return bz2.decompress(raw)
    if suffix == "":
        return raw
    raise OSError(f"unknown compression {suffix!r}")


def _read_control(tar: tarfile.TarFile, label: str) -> dict[str, bytes]:
    files = {}
    try:
        for member in tar:
            if member.isfile():
                handle = tar.extractfile(member)
                if handle is not None:
                    files[member.name.removeprefix("./")] = handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PackageFormatError(f"{label}: control.tar is truncated ({exc})") from exc
    return files


def _entries(tar: tarfile.TarFile, label: str, origin: str):
    try:
        for member in tar:
            path = canonical(member.name, context=label)
            if not path:
                continue
            common = {"mode": member.mode, "uid": member.uid, "gid": member.gid, "origin": origin}
            if member.isdir():
                yield Entry(path, Kind.DIR, **common)
            elif member.isreg():
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
                if len(data) != member.size:
                    raise PackageFormatError(f"{label}: {path} is truncated")
                yield Entry(path, Kind.FILE, data=data, **common)
            elif member.issym():
                yield Entry(path, Kind.SYMLINK, target=member.linkname, **common)
            elif member.islnk():
                target = canonical(member.linkname, context=label)
                yield Entry(path, Kind.HARDLINK, target=target, **common)
            else:
                raise UnsafePathError(
                    f"{label}: {path} is a device or fifo; packages for images may not ship one"
                )
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError) as exc:
        raise PackageFormatError(f"{label}: data.tar is truncated or corrupt ({exc})") from exc
