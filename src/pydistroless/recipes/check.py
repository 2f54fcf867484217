"""Whether an image can run what it holds, for any image, ours or not.

Three things fail only at run time, far from the build that caused them: a shared library
an ELF file needs and the dynamic loader would not find (resolved as ``ld.so`` does: the
file's ``RUNPATH``/``RPATH``, ``ld.so.cache``'s folders, the default ones), an ELF file of
another architecture, and a script whose ``#!`` interpreter is not in the image (a console
script of a venv copied from a builder whose Python lives elsewhere). :func:`problems`
finds each. :func:`add_missing` puts the missing libraries in, from the image's own Debian
suite, with the machinery of ``app``: one new layer on top, ``status.d``, the SBOM and
``ld.so.cache`` updated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydistroless.core.arch import architecture
from pydistroless.core.digest import Digest
from pydistroless.core.errors import ImageCheckError
from pydistroless.core.timestamps import epoch_of
from pydistroless.debian.store import Store
from pydistroless.fs import elf, ldcache
from pydistroless.fs.tree import Kind, Tree
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.model import Artifact, Image
from pydistroless.oci.mutate import append
from pydistroless.recipes import app_libraries, sbom

LIBRARY = "library"
ARCHITECTURE = "architecture"
INTERPRETER = "interpreter"


@dataclass(frozen=True)
class Problem:
    """``path`` cannot run or be loaded in the image, because of ``detail``."""

    path: str
    kind: str  # LIBRARY, ARCHITECTURE or INTERPRETER
    detail: str  # the soname, the file's machine, the missing interpreter


def problems(
    tree: Tree, arch: str, elves: Mapping[str, elf.ElfInfo] | None = None
) -> list[Problem]:
    """Everything :mod:`this module <pydistroless.recipes.check>` looks for, by path;
    ``elves`` is the tree's ELF scan when the caller has made it."""
    elves = elves if elves is not None else elf.scan(tree)
    dirs = ldcache.cache_directories(tree, arch)
    found = [
        Problem(m.path, LIBRARY, m.soname)
        for m in elf.missing_libraries(tree, arch, extra_dirs=dirs, elves=elves)
    ]
    loader = architecture(arch)
    found += [
        Problem(path, ARCHITECTURE, f"{info.machine} ({info.elf_class}-bit)")
        for path, info in elves.items()
        if (info.has_dynamic or info.is_executable) and not loader.accepts(info)
    ]
    found += _missing_interpreters(tree)
    return sorted(found, key=lambda p: (p.path, p.kind, p.detail))


def _missing_interpreters(tree: Tree) -> list[Problem]:
    """Executable scripts whose ``#!`` names a program the image does not have, and venvs
    whose ``pyvenv.cfg`` ``home`` (the folder of the Python they were made with) has none:
    a venv copied from a builder whose Python lives elsewhere would run nothing, or another
    interpreter found on the way."""
    found = []
    for entry in tree.files():
        if entry.path.endswith("pyvenv.cfg"):
            home = _venv_home(entry.data or b"")
            if home is not None and not _runnable(tree, f"{home}/python3"):
                found.append(Problem(entry.path, INTERPRETER, f"{home}/python3"))
            continue
        if not entry.mode & 0o111 or not (entry.data or b"").startswith(b"#!"):
            continue
        line = entry.data[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        program = line.split()[0] if line.split() else ""
        if not program.startswith("/"):
            found.append(Problem(entry.path, INTERPRETER, program or "(none)"))
            continue
        if not _runnable(tree, program):
            found.append(Problem(entry.path, INTERPRETER, program))
    return found


def _runnable(tree: Tree, program: str) -> bool:
    real = tree.resolve(program.lstrip("/"))
    target = tree.get(real) if real is not None else None
    if target is not None and target.kind is Kind.HARDLINK:
        target = tree.get(target.target)  # one file under two names: the one with the data
    return target is not None and target.kind is Kind.FILE and bool(target.mode & 0o111)


def _venv_home(config: bytes) -> str | None:
    for line in config.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "home" and value.strip().startswith("/"):
            return value.strip().rstrip("/")
    return None


def table(found: Sequence[Problem]) -> str:
    """The problems as a table for a terminal: file, what is wrong."""
    what = {
        LIBRARY: "needs {}, which the loader does not find",
        ARCHITECTURE: "is built for {}, not this image's architecture",
        INTERPRETER: "runs {}, which is not in the image",
    }
    width = min(max((len(p.path) for p in found), default=0), 72)
    return "\n".join(f"/{p.path:<{width - 1}}  {what[p.kind].format(p.detail)}" for p in found)


def suite_of(tree: Tree) -> str | None:
    """The Debian suite an image comes from: its ``os-release`` ``VERSION_CODENAME``."""
    for path in ("etc/os-release", "usr/lib/os-release"):
        real = tree.resolve(path)
        entry = tree.get(real) if real is not None else None
        if entry is None or entry.kind is not Kind.FILE:
            continue
        text = (entry.data or b"").decode("utf-8", "replace")
        if not re.search(r"^ID=\"?debian\"?$", text, re.MULTILINE):
            return None
        match = re.search(r"^VERSION_CODENAME=\"?([a-z0-9-]+)\"?$", text, re.MULTILINE)
        return match.group(1) if match else None
    return None


@dataclass(frozen=True)
class Repaired:
    """An image with the libraries it lacked added, as the outputs take a build."""

    image: Image
    tags: tuple[str, ...]
    sboms: tuple[tuple[str, bytes], ...]
    archs: tuple[str, ...]
    sbom_format: str
    report: tuple[str, ...]
    ca_certs: tuple[Path, ...] = ()

    @property
    def images(self) -> tuple[Image, ...]:
        return (self.image,)

    @property
    def artifact(self) -> Artifact:
        return self.image

    @property
    def digest(self) -> Digest:
        return self.image.digest


def add_missing(
    image: Image, tree: Tree, arch: str, ctx: Store, *, tags: tuple[str, ...], sbom_format: str
) -> Repaired:
    """``image`` (whose files are ``tree``) with every library its ELF files lack, from the
    Debian suite its ``os-release`` names, in one new layer. Stops on what no library can
    mend: another architecture's files, a missing interpreter, a soname no package ships."""
    elves = elf.scan(tree)  # once, for the check and the closure both
    found = problems(tree, arch, elves)
    other = [p for p in found if p.kind != LIBRARY]
    if other:
        raise ImageCheckError(
            f"/{other[0].path}: {other[0].kind} problem ({other[0].detail}), which no library "
            "from Debian mends; fix the image's build"
        )
    suite = suite_of(tree)
    if suite is None and found:
        raise ImageCheckError(
            "the image names no Debian suite (no VERSION_CODENAME in a Debian os-release), so "
            "its missing libraries cannot be taken from one; add them in its own build"
        )
    needing = {p.path: f"/{p.path}" for p in found}
    added = app_libraries.complete(tree, needing, arch, suite, ctx, elves=elves)
    if added is None:
        return Repaired(image, tags, (), (arch,), sbom_format, ())
    path, document = _sbom(tree, added, sbom_format, tags[0], arch)
    added.tree.add_file(path, document)
    created = epoch_of(image.config_json.get("created"))
    layer = layer_from_tree(
        added.tree,
        mtime=created,
        comment=f"Debian: {' '.join(added.packages) or 'libraries put back'}",
    )
    repaired = append(image, [layer], created=created)
    return Repaired(repaired, tags, ((arch, document),), (arch,), sbom_format, added.report)


def _sbom(
    tree: Tree, added: app_libraries.Added, fmt: str, name: str, arch: str
) -> tuple[str, bytes]:
    """The image's own SBOM (in ``usr/share/sbom``) with the packages added, or a new one
    of them when it has none: its path in the image and its bytes."""
    path = f"{sbom.SBOM_DIR}/{sbom.file_name(fmt)}"
    existing = tree.read(path) if tree.get(path) is not None else None
    subject = sbom.SbomSubject(name, arch, _debian_major(tree), 0)
    document = sbom.add_packages(existing, [], fmt=fmt, subject=subject, debian=added.sbom)
    tree.add_file(path, document)
    return path, document


def _debian_major(tree: Tree) -> str:
    entry = tree.get("etc/debian_version")
    text = (entry.data or b"").decode() if entry is not None else ""
    return text.strip().split(".")[0] or "unknown"
