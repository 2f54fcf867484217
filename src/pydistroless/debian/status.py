"""Scanner metadata: ``/var/lib/dpkg/status.d``, as Google's distroless images lay it out.

Trivy, Syft/Grype and Clair find a distroless image's packages in
``/var/lib/dpkg/status.d/<package>`` (the package's own control paragraph, so that
``Package``, ``Version`` and ``Source`` are exact) and ``<package>.md5sums`` beside it. A
scanner reads every paragraph of that file as a package: the control text is untrusted, so only
its first paragraph is written, rebuilt field by field so that no value can start another. The
md5sums must list only files that really are in the image with that content: after slicing
and generation a package's file list is shorter than the one it shipped, and a scanner must
see neither phantom files nor files it cannot attribute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from pydistroless.debian.deb import DebPackage, control_paragraph
from pydistroless.fs.tree import Kind, Tree

STATUS_DIR = "var/lib/dpkg/status.d"


@dataclass(frozen=True)
class StatusFiles:
    control: bytes
    md5sums: bytes


def present_md5sums(tree: Tree, package: DebPackage) -> str:
    """The package's md5sums lines whose file is in the image with exactly that content.

    Paths are kept as the package names them (``lib/...`` on bookworm): they resolve in the
    image through the merged-/usr links, as they do on a Debian system."""
    lines = []
    for line in package.md5sums.splitlines():
        digest, _, path = line.partition("  ")
        path = path.strip()
        if not digest or not path:
            continue
        real = tree.resolve(path)
        entry = tree.get(real) if real else None
        if entry is None:
            continue
        if entry.kind is Kind.HARDLINK:
            entry = tree.get(entry.target)
        if entry is None or entry.kind is not Kind.FILE:
            continue
        if hashlib.md5(entry.data, usedforsecurity=False).hexdigest() == digest:
            lines.append(f"{digest}  {path}\n")
    return "".join(lines)


def status_files(tree: Tree, package: DebPackage) -> StatusFiles:
    control = control_paragraph(package.control, name=package.name)
    return StatusFiles(control.encode(), present_md5sums(tree, package).encode())


def add_status_d(tree: Tree, packages: Iterable[DebPackage]) -> None:
    """Write ``status.d`` for ``packages``; call it last, after slicing and generation."""
    computed = [(p.name, status_files(tree, p)) for p in packages]
    for name, files in computed:
        tree.add_file(f"{STATUS_DIR}/{name}", files.control)
        tree.add_file(f"{STATUS_DIR}/{name}.md5sums", files.md5sums)
