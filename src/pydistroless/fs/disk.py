"""A tree written to disk: the builder trees and image roots that builds run in."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydistroless.fs.tree import Kind, Tree


def write_tree(tree: Tree, root: Path) -> None:
    """Write ``tree`` under ``root`` (a fresh directory of ours): links as links, hard links
    as hard links, modes as given; every path is the tree's own, checked when it was added."""
    for entry in sorted(tree.entries(), key=lambda e: e.path):
        target = root / entry.path
        if entry.kind is Kind.DIR:
            target.mkdir(exist_ok=True)
        elif entry.kind is Kind.SYMLINK:
            target.symlink_to(entry.target)
        elif entry.kind is Kind.HARDLINK:
            continue
        else:
            target.write_bytes(entry.data)
    for entry in tree.entries():
        target = root / entry.path
        if entry.kind is Kind.HARDLINK:
            os.link(root / entry.target, target)
        elif entry.kind is not Kind.SYMLINK:
            target.chmod(entry.mode)


# The nodes a compiler and a configure script open; mknod needs root, which a chroot needs too.
DEVICES = {"null": (1, 3), "zero": (1, 5), "random": (1, 8), "urandom": (1, 9)}


def make_devices(root: Path) -> None:
    dev = root / "dev"
    dev.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        return
    for name, (major, minor) in DEVICES.items():
        os.mknod(dev / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        (dev / name).chmod(0o666)
