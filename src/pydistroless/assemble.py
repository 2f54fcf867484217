"""Assemble: from a locked package set and its ``.deb`` files to the image's file tree.

Packages are unpacked in name order into an in-memory :class:`Tree` (never onto the host),
then the files their maintainer scripts would have made are generated. The result is a pure
function of the lock, the ``.deb`` bytes and the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydistroless.debian.deb import DebPackage, install
from pydistroless.fs import generate
from pydistroless.fs.tree import Tree
from pydistroless.lock import ArchLock
from pydistroless.python import runtime
from pydistroless.spec import ImageSpec


@dataclass(frozen=True)
class InstalledPackage:
    """A package as it ended up in the image: where each of its files landed."""

    deb: DebPackage
    placed: dict[str, str]  # path as the package names it -> path in the image


@dataclass(frozen=True)
class Assembly:
    tree: Tree
    installed: tuple[InstalledPackage, ...]


def assemble(
    spec: ImageSpec,
    arch_lock: ArchLock,
    debs: Sequence[DebPackage],
    extra_certs: Sequence[tuple[str, bytes]] = (),
) -> Assembly:
    tree = Tree()
    generate.add_merged_usr_links(tree, (e for d in debs for e in d.entries))
    installed = tuple(
        InstalledPackage(deb, install(tree, deb)) for deb in sorted(debs, key=lambda d: d.name)
    )
    runtime.add_python_links(tree, arch_lock.python)
    generate.add_accounts(tree, spec.uid)
    generate.add_ca_bundle(tree, extra_certs)
    return Assembly(tree=tree, installed=installed)
