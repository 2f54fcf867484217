"""Reading ``.deb`` files without dpkg.

A ``.deb`` is an ``ar`` archive (read with python-debian's ``ArFile``) holding
``debian-binary``, ``control.tar.*`` and ``data.tar.*``, each tar compressed with xz, zstd,
gzip, bzip2 or nothing. The data tar's members become tree entries; the tree refuses absolute
names, ``..`` and links out of the image, so a hostile package cannot write outside it.

Both tars are decompressed as streams that stop at a limit: the control tar's is fixed, the
data tar's follows the ``Installed-Size`` the control file declares. A few hundred kilobytes of
xz can expand to gigabytes, and a package must not make the build hold them.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import zstandard
from debian.arfile import ArError, ArFile
from debian.deb822 import Deb822

from pydistroless.core.errors import PackageFormatError, UnsafePathError
from pydistroless.fs.tree import Entry, Kind, Tree, canonical

_MIB = 1 << 20
# control, md5sums and maintainer scripts; the longest md5sums in Debian are a few MiB.
CONTROL_TAR_LIMIT = 8 * _MIB
# dpkg counts Installed-Size in KiB of file content; the tar adds a 512-byte header per
# member (more for long names) and empty files count for nothing, hence the factor and the
# allowance. The ceiling holds whatever a package claims.
DATA_TAR_FACTOR = 2
DATA_TAR_ALLOWANCE = 16 * _MIB
DATA_TAR_CEILING = 4096 * _MIB
DATA_TAR_UNSIZED = 256 * _MIB  # a package that does not say its size (Debian's always do)

# Decompression and tar failures, whichever library reports them: all mean a damaged member.
_DAMAGED = (
    tarfile.TarError,
    EOFError,
    OSError,
    lzma.LZMAError,
    zstandard.ZstdError,
    zlib.error,
    ValueError,
)
# Line breaks to Python's str.splitlines (which deb822 uses) but not to dpkg or to scanners:
# they would make two fields of what a scanner reads as one.
_FOREIGN_BREAKS = re.compile("[\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_FIELD_NAME = re.compile(r"(?![#-])[!-9;-~]+")  # Debian policy 5.1
_KIB = re.compile(r"[0-9]{1,15}")
_MAX_ID = 2**32 - 1  # uid_t and gid_t are 32 bits


@dataclass(frozen=True)
class DebPackage:
    """The parts of one ``.deb`` the build uses."""

    name: str
    control: str  # the package's own control paragraph, one paragraph, newline-terminated
    md5sums: str  # "<md5>  <path>" lines as shipped (paths without a leading slash)
    entries: tuple[Entry, ...]  # data.tar members in archive order, names canonical
    # The newest member mtime of data.tar: the package's build date (Debian clamps every
    # member to its changelog's), which dates its layer better than the archive's Release.
    mtime: int = 0


def read_deb(data: bytes, *, name: str) -> DebPackage:
    label = f"package {name}"
    try:
        archive = ArFile(fileobj=io.BytesIO(data))
        members = {m.name: m for m in archive.getmembers()}
    except (ArError, OSError, ValueError, IndexError) as exc:
        raise PackageFormatError(f"{label}: not a valid .deb ({exc}); the file is damaged") from exc
    if "debian-binary" not in members:
        raise PackageFormatError(f"{label}: not a .deb (no debian-binary member)")
    control_name, control_raw = _member(members, "control.tar", label)
    data_name, data_raw = _member(members, "data.tar", label)
    control_limit = _Limit(
        CONTROL_TAR_LIMIT, f"{label}: {control_name}", "control files are a few KiB"
    )
    control_files = _read_control(_open_tar(control_raw, control_name, control_limit), label)
    if "control" not in control_files:
        raise PackageFormatError(f"{label}: control.tar has no control file")
    fields = _control_fields(control_files["control"].decode("utf-8", errors="replace"), name)
    data_limit = _data_limit(fields.get("Installed-Size"), f"{label}: {data_name}")
    data_tar = _open_tar(data_raw, data_name, data_limit)
    entries = tuple(_entries(data_tar, data_limit, name))
    # tarfile keeps every header it has read; a pax mtime may be fractional.
    mtime = max([0, *(int(m.mtime) for m in data_tar.getmembers())])
    return DebPackage(
        name=name,
        control=_paragraph_text(fields),
        md5sums=control_files.get("md5sums", b"").decode("utf-8", errors="replace"),
        entries=entries,
        mtime=mtime,
    )


def control_paragraph(text: str, *, name: str) -> str:
    """The first paragraph of a control file, rewritten so that whoever reads it (a scanner
    in ``status.d``) sees exactly that paragraph: no blank line, no line that is not a field
    or its continuation, nothing of further paragraphs. Its ``Package`` must be ``name``."""
    return _paragraph_text(_control_fields(text, name))


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


# ---- the control paragraph ------------------------------------------------------------------


def _control_fields(text: str, name: str) -> Deb822:
    label = f"package {name}"
    if _FOREIGN_BREAKS.search(text):
        raise PackageFormatError(
            f"{label}: the control file has line breaks other than newlines; the package is "
            "malformed or hostile"
        )
    fields = Deb822(text.split("\n"))  # the first paragraph only
    package = fields.get("Package")
    if not package:
        raise PackageFormatError(
            f"{label}: the control file's first paragraph has no Package field; the package "
            "is malformed"
        )
    if package != name:
        raise PackageFormatError(
            f"{label}: the control file names package {package[:80]!r}; the package is "
            "mislabelled or hostile"
        )
    bad = next((k for k in fields if not _FIELD_NAME.fullmatch(k)), None)
    if bad is not None:
        raise PackageFormatError(
            f"{label}: the control file has a field named {bad[:80]!r}; the package is "
            "malformed or hostile"
        )
    return fields


def _paragraph_text(fields: Mapping[str, str]) -> str:
    lines = []
    for key, value in fields.items():
        first, *rest = value.split("\n")
        first = first.strip()
        lines.append(f"{key}: {first}" if first else f"{key}:")
        for line in rest:
            if not line.strip():
                line = " ."  # Debian's empty continuation line; a blank one ends a paragraph
            elif line[0] not in " \t":
                line = " " + line
            lines.append(line)
    return "".join(f"{line}\n" for line in lines)


def _data_limit(installed_size: str | None, what: str) -> _Limit:
    if installed_size is None:
        return _Limit(DATA_TAR_UNSIZED, what, "the package does not state its Installed-Size")
    kib = installed_size.strip()
    if not _KIB.fullmatch(kib):
        raise PackageFormatError(
            f"{what}: Installed-Size {kib[:40]!r} is not a number of KiB; the package is malformed"
        )
    limit = min(DATA_TAR_CEILING, DATA_TAR_FACTOR * int(kib) * 1024 + DATA_TAR_ALLOWANCE)
    return _Limit(limit, what, f"its Installed-Size is {int(kib)} KiB")


# ---- bounded decompression ------------------------------------------------------------------


@dataclass(frozen=True)
class _Limit:
    """How many bytes a tar may unpack to, and what to say when it unpacks to more."""

    size: int
    what: str  # "package NAME: data.tar.xz"
    why: str  # what the limit follows from

    def exceeded(self) -> PackageFormatError:
        return PackageFormatError(
            f"{self.what} unpacks to more than {self.size:,} bytes, but {self.why}; the "
            "package is hostile or damaged"
        )


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Bounded:
    """Reads ``source`` and fails as soon as it has given more than the limit: the limit is
    what stops a small member from making the build hold gigabytes."""

    def __init__(self, source: _Readable, limit: _Limit):
        self._source = source
        self._limit = limit
        self._count = 0

    def read(self, size: int = -1) -> bytes:
        allowed = self._limit.size - self._count + 1
        data = self._source.read(allowed if size < 0 else min(size, allowed))
        self._count += len(data)
        if self._count > self._limit.size:
            raise self._limit.exceeded()
        return data


class _ZstdFrames:
    """zstd frames decompressed a small piece at a time. zstandard's own stream reader stops
    quietly where a frame is cut, which would make a truncated package look whole; and its
    decompression object gives all a call's input yields, so the input goes in small pieces.
    """

    # One 4-byte RLE block yields 128 KiB: 256 bytes of input yield 8 MiB at most.
    _PIECE = 256

    def __init__(self, raw: bytes):
        self._raw = raw
        self._at = 0
        self._frame = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""  # input read past the end of the previous frame
        self._out = b""
        self._out_at = 0

    def read(self, size: int = -1) -> bytes:
        while self._out_at >= len(self._out):
            if not self._decompress_more():
                return b""
        end = len(self._out) if size < 0 else self._out_at + size
        data = self._out[self._out_at : end]
        self._out_at += len(data)
        return data

    def _decompress_more(self) -> bool:
        if self._frame.eof:
            self._pending = self._frame.unused_data
            if not self._pending and self._at >= len(self._raw):
                return False
            self._frame = zstandard.ZstdDecompressor().decompressobj()  # another frame
        if self._pending:
            piece, self._pending = self._pending, b""
        elif self._at < len(self._raw):
            piece = self._raw[self._at : self._at + self._PIECE]
            self._at += len(piece)
        else:
            raise EOFError("zstd frame ends early")
        self._out = self._frame.decompress(piece)
        self._out_at = 0
        return True


_DECOMPRESSORS: dict[str, Callable[[BinaryIO], _Readable]] = {
    ".xz": lzma.LZMAFile,
    ".gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    ".bz2": bz2.BZ2File,
    ".zst": lambda raw: _ZstdFrames(raw.read()),
    "": lambda raw: raw,
}


def _member(members: dict, stem: str, label: str) -> tuple[str, bytes]:
    for name, member in members.items():
        if name == stem or name.startswith(stem + "."):
            return name, member.read()
    raise PackageFormatError(f"{label}: no {stem}.* member; the .deb is damaged")


def _open_tar(raw: bytes, name: str, limit: _Limit) -> _Tar:
    suffix = name[name.index(".tar") + len(".tar") :]
    decompressor = _DECOMPRESSORS.get(suffix)
    if decompressor is None:
        raise PackageFormatError(
            f"{limit.what}: unknown compression {suffix!r}; the .deb is damaged"
        )
    stream = _Bounded(decompressor(io.BytesIO(raw)), limit)
    try:
        tar = _Tar.open(fileobj=stream, mode="r|", tarinfo=_Header)
    except tarfile.ReadError as exc:
        raise PackageFormatError(f"{limit.what} is not a tar ({exc})") from exc
    except _DAMAGED as exc:
        raise PackageFormatError(
            f"{limit.what} is truncated or corrupt ({exc}); the .deb is damaged"
        ) from exc
    tar.what, tar.source = limit.what, stream
    return tar


class _Tar(tarfile.TarFile):
    """A tar read as a stream, which must end with its end-of-archive marker: tarfile stops
    quietly at a truncated header or at the end of the data, which would make a cut package
    look whole."""

    what = ""
    source: _Readable = io.BytesIO()
    ended = False  # set by _Header on reading the marker

    def whole(self) -> Iterator[tarfile.TarInfo]:
        yield from self
        if not self.ended:
            raise PackageFormatError(
                f"{self.what} is truncated (no end-of-archive marker); the .deb is damaged"
            )
        # The compressed stream ends with its checksum: read on to it, or a corrupt stream
        # that still makes a tar would pass.
        while self.source.read(_MIB):
            pass


class _Header(tarfile.TarInfo):
    @classmethod
    def fromtarfile(cls, tar):
        try:
            return super().fromtarfile(tar)
        except tarfile.EOFHeaderError:
            # A zero block, where tarfile stops; the end-of-archive marker is two of them.
            if tar.fileobj.read(tarfile.BLOCKSIZE) == bytes(tarfile.BLOCKSIZE):
                tar.ended = True
            raise


# ---- members --------------------------------------------------------------------------------


def _read_control(tar: _Tar, label: str) -> dict[str, bytes]:
    files = {}
    try:
        for member in tar.whole():
            name = member.name.removeprefix("./")
            if member.isfile() and name in ("control", "md5sums"):
                handle = tar.extractfile(member)
                if handle is not None:
                    files[name] = handle.read()
    except _DAMAGED as exc:
        raise PackageFormatError(f"{label}: control.tar is truncated or corrupt ({exc})") from exc
    return files


def _entries(tar: _Tar, limit: _Limit, origin: str) -> Iterator[Entry]:
    label = f"package {origin}"
    try:
        for member in tar.whole():
            path = canonical(member.name, context=label)
            if not path:
                continue
            if not (0 <= member.uid <= _MAX_ID and 0 <= member.gid <= _MAX_ID):
                raise PackageFormatError(
                    f"{label}: {path} has owner {member.uid}:{member.gid}, which Linux cannot "
                    "represent; the package is malformed or hostile"
                )
            common = {
                "mode": member.mode & 0o7777,
                "uid": member.uid,
                "gid": member.gid,
                "origin": origin,
            }
            if member.isdir():
                yield Entry(path, Kind.DIR, **common)
            elif member.issparse():
                # Its holes would be made of nothing in the stream: no limit would hold them.
                raise PackageFormatError(
                    f"{label}: {path} is a sparse file, which dpkg does not unpack; the "
                    "package is malformed or hostile"
                )
            elif member.isreg():
                yield Entry(path, Kind.FILE, data=_content(tar, member, path, limit), **common)
            elif member.issym():
                yield Entry(path, Kind.SYMLINK, target=member.linkname, **common)
            elif member.islnk():
                target = canonical(member.linkname, context=label)
                yield Entry(path, Kind.HARDLINK, target=target, **common)
            else:
                raise UnsafePathError(
                    f"{label}: {path} is a device or fifo; packages for images may not ship one"
                )
    except _DAMAGED as exc:
        raise PackageFormatError(f"{label}: data.tar is truncated or corrupt ({exc})") from exc


def _content(tar: _Tar, member: tarfile.TarInfo, path: str, limit: _Limit) -> bytes:
    if member.size > limit.size:
        raise limit.exceeded()  # before reading a byte of it
    handle = tar.extractfile(member)
    data = handle.read() if handle is not None else b""
    if len(data) != member.size:
        raise PackageFormatError(f"{limit.what}: {path} is truncated")
    return data
