import hashlib

from pydistroless.debian.deb import DebPackage, install
from pydistroless.debian.rootfs import LibraryUse, reachable
from pydistroless.debian.status import STATUS_DIR, add_status_d, present_md5sums
from pydistroless.fs.tree import Entry, Kind, Tree
from pydistroless.python import bytecode


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _package() -> DebPackage:
    files = {"lib/x86_64-linux-gnu/libz.so.1": b"zlib", "usr/share/doc/z/changelog": b"log"}
    entries = tuple(
        Entry(path, Kind.FILE, 0o644, data=data, origin="zlib1g") for path, data in files.items()
    )
    md5sums = "".join(f"{_md5(d)}  {p}\n" for p, d in files.items())
    return DebPackage("zlib1g", "Package: zlib1g\nVersion: 1:1.3\nSource: zlib", md5sums, entries)


def test_status_d_lists_only_files_really_present_with_that_content():
    tree = Tree()
    tree.add_dir("usr/lib")
    tree.add_symlink("lib", "usr/lib")
    package = _package()
    install(tree, package)
    assert "usr/lib/x86_64-linux-gnu/libz.so.1" in tree
    tree.remove("usr/share/doc/z/changelog")
    assert present_md5sums(tree, package) == f"{_md5(b'zlib')}  lib/x86_64-linux-gnu/libz.so.1\n"
    # A file replaced after unpacking is no longer the package's.
    tree.add_file("usr/lib/x86_64-linux-gnu/libz.so.1", b"changed")
    assert present_md5sums(tree, package) == ""
    add_status_d(tree, [package])
    assert tree.read(f"{STATUS_DIR}/zlib1g") == b"Package: zlib1g\nVersion: 1:1.3\nSource: zlib\n"
    assert tree.read(f"{STATUS_DIR}/zlib1g.md5sums") == b""


def test_reachable_drops_what_only_an_unneeded_library_pulled_in():
    depends = {
        "python": ["libpython", "libnsl"],
        "libpython": ["libc"],
        "libnsl": ["libtirpc"],
        "libtirpc": ["libtirpc-common", "libc"],
    }
    use = LibraryUse(
        libraries=frozenset({"libc", "libnsl", "libtirpc", "libpython"}),
        needed=frozenset({"libc", "libpython"}),
    )
    assert reachable(["python"], depends, use) == {"python", "libpython", "libc"}


def test_image_magic_is_read_from_importlib():
    tree = Tree()
    tree.add_file(
        "usr/lib/python3.13/importlib/_bootstrap_external.py",
        b"MAGIC_NUMBER = (3571).to_bytes(2, 'little') + b'\\r\\n'\n",
    )
    assert bytecode.image_magic(tree, "3.13") == 3571
