import pytest

from pydistroless.core.errors import UsageError
from pydistroless.fs import slicing
from pydistroless.fs.tree import Tree


def _tree() -> Tree:
    tree = Tree()
    tree.add_file("usr/share/doc/libc6/copyright", b"(c)")
    tree.add_file("usr/share/doc/libc6/changelog.Debian.gz", b"log")
    tree.add_file("usr/share/man/man1/python3.1.gz", b"man")
    tree.add_file("usr/lib/x86_64-linux-gnu/gconv/UTF-7.so", b"\x7fELF")
    tree.add_file("usr/lib/x86_64-linux-gnu/libc.so.6", b"\x7fELF")
    tree.add_file("usr/lib/python3.13/test/support/__init__.py", b"")
    tree.add_file("usr/lib/python3.13/lib-dynload/_testcapi.cpython-313-x86_64-linux-gnu.so", b"x")
    tree.add_file("usr/lib/python3.13/lib-dynload/_ssl.cpython-313-x86_64-linux-gnu.so", b"x")
    tree.add_file("usr/lib/python3.13/turtle.py", b"import tkinter")
    tree.add_file("usr/lib/python3.13/json/__init__.py", b"")
    tree.add_file("usr/sbin/ldconfig", b"\x7fELF", 0o755)
    tree.add_file("usr/bin/getent", b"\x7fELF", 0o755)
    return tree


def test_default_slices_cut_what_they_name_and_nothing_else():
    tree = _tree()
    removed = slicing.cut(tree)
    gone = [
        "usr/share/doc/libc6/changelog.Debian.gz",
        "usr/share/man",
        "usr/lib/x86_64-linux-gnu/gconv",
        "usr/lib/python3.13/test",
        "usr/lib/python3.13/lib-dynload/_testcapi.cpython-313-x86_64-linux-gnu.so",
        "usr/lib/python3.13/turtle.py",
        "usr/bin/getent",
    ]
    for path in gone:
        assert path not in tree, path
    for path in [
        "usr/share/doc/libc6/copyright",
        "usr/lib/x86_64-linux-gnu/libc.so.6",
        "usr/lib/python3.13/lib-dynload/_ssl.cpython-313-x86_64-linux-gnu.so",
        "usr/lib/python3.13/json/__init__.py",
        "usr/sbin/ldconfig",
    ]:
        assert path in tree, path
    assert removed["docs"] == 3
    assert removed["gconv"] == 4


def test_keep_restores_a_slice():
    tree = _tree()
    slicing.cut(tree, keep=["man", "test"])
    assert "usr/share/man/man1/python3.1.gz" in tree
    assert "usr/lib/python3.13/test/support/__init__.py" in tree
    assert "usr/lib/x86_64-linux-gnu/gconv/UTF-7.so" not in tree


def test_unknown_slice_is_a_usage_error_naming_the_known_ones():
    with pytest.raises(UsageError, match="unknown slice nope for --keep; known slices: docs"):
        slicing.cut(_tree(), keep=["nope"])


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("usr/share/doc/**", "usr/share/doc", True),
        ("usr/share/doc/**", "usr/share/doc/a/b", True),
        ("usr/share/doc/**", "usr/share/docs", False),
        ("usr/share/doc/*/copyright", "usr/share/doc/x/copyright", True),
        ("usr/share/doc/*/copyright", "usr/share/doc/x/y/copyright", False),
        ("usr/lib/python3.*/test/**", "usr/lib/python3.13/test/x.py", True),
        ("usr/lib/*/gconv/**", "usr/lib/aarch64-linux-gnu/gconv/x.so", True),
    ],
)
def test_patterns(pattern, path, expected):
    assert slicing.matches(pattern, path) is expected
