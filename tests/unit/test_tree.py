"""Path safety and placement rules of the in-memory image tree."""

from __future__ import annotations

import time

import pytest

from pydistroless.core.errors import PackageFormatError, UnsafePathError
from pydistroless.fs.tree import (
    MAX_DEPTH,
    MAX_LINK_BYTES,
    MAX_PATH_BYTES,
    Entry,
    Kind,
    Tree,
    canonical,
    link_destination,
)


def merged_usr() -> Tree:
    tree = Tree()
    for top in ("bin", "lib", "sbin"):
        tree.add_dir(f"usr/{top}")
        tree.add_symlink(top, f"usr/{top}")
    return tree


# ---- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("./usr/bin/", "usr/bin"),
        ("usr//bin/./python3", "usr/bin/python3"),
        ("./", ""),
        (".", ""),
        ("usr/lib/..data", "usr/lib/..data"),  # a name that merely starts with dots is fine
    ],
)
def test_canonical_names(name, expected):
    assert canonical(name) == expected


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "//etc/passwd", "../etc/evil", "./../../etc/evil", "usr/../../x", "usr/lib/.."],
)
def test_absolute_and_dotdot_names_are_refused(name):
    with pytest.raises(UnsafePathError) as info:
        canonical(name, context="package evil")
    assert "package evil" in str(info.value)
    assert isinstance(info.value, PackageFormatError)
    assert info.value.exit_code == 7


def test_tree_add_refuses_unsafe_names():
    tree = Tree()
    for name in ("/etc/evil", "../../etc/evil", "usr/../../etc/evil"):
        with pytest.raises(UnsafePathError):
            tree.add_file(name, b"x")
    assert len(tree) == 0


@pytest.mark.parametrize(
    ("link", "target", "expected"),
    [
        ("usr/bin/python3", "python3.13", "usr/bin/python3.13"),
        ("lib", "usr/lib", "usr/lib"),
        (
            "usr/lib/ssl/cert.pem",
            "/etc/ssl/certs/ca-certificates.crt",
            "etc/ssl/certs/ca-certificates.crt",
        ),
        ("usr/lib/x", "../../etc/hosts", "etc/hosts"),
        ("usr/lib/x", "../../../etc/hosts", None),
        ("x", "..", None),
        ("root-link", "/", ""),
    ],
)
def test_link_destination(link, target, expected):
    assert link_destination(link, target) == expected


# ---- links ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["../../../etc/passwd", "../../..", "a/../../../.."])
def test_symlink_escaping_the_tree_is_refused(target):
    tree = Tree()
    with pytest.raises(UnsafePathError, match="leads outside the image"):
        tree.add_symlink("usr/lib/evil", target)
    assert tree.get("usr/lib/evil") is None


def test_empty_symlink_is_refused():
    with pytest.raises(UnsafePathError):
        Tree().add_symlink("usr/lib/empty", "")


def test_absolute_symlink_stays_inside_the_image():
    tree = Tree()
    tree.add_file("etc/ssl/certs/ca-certificates.crt", b"PEM")
    tree.add_symlink("usr/lib/ssl/cert.pem", "/etc/ssl/certs/ca-certificates.crt")
    assert tree.get("usr/lib/ssl/cert.pem").target == "/etc/ssl/certs/ca-certificates.crt"
    assert tree.read("usr/lib/ssl/cert.pem") == b"PEM"


def test_hardlink_to_a_missing_file_is_refused():
    tree = Tree()
    with pytest.raises(UnsafePathError, match="does not name a regular file"):
        tree.add(Entry("usr/bin/evil", Kind.HARDLINK, 0o755, target="usr/bin/missing"))


def test_hardlink_to_a_directory_is_refused():
    tree = Tree()
    tree.add_dir("usr/bin")
    with pytest.raises(UnsafePathError):
        tree.add(Entry("usr/bin/evil", Kind.HARDLINK, 0o755, target="usr/bin"))


def test_hardlink_outside_the_tree_is_refused():
    tree = Tree()
    with pytest.raises(UnsafePathError):
        tree.add(Entry("usr/bin/evil", Kind.HARDLINK, 0o755, target="../../etc/shadow"))


def test_hardlink_shares_content_and_survives_removal_of_its_target():
    tree = Tree()
    tree.add_file("usr/bin/python3.13", b"ELF", 0o755)
    tree.add(Entry("usr/bin/python3.13-copy", Kind.HARDLINK, 0o755, target="usr/bin/python3.13"))
    assert tree.read("usr/bin/python3.13-copy") == b"ELF"
    # A hard link to a hard link names the file itself.
    tree.add(Entry("usr/bin/third", Kind.HARDLINK, 0o755, target="usr/bin/python3.13-copy"))
    assert tree.get("usr/bin/third").target == "usr/bin/python3.13"
    tree.remove("usr/bin/python3.13")
    heir = tree.get("usr/bin/python3.13-copy")
    assert heir.kind is Kind.FILE and heir.data == b"ELF"
    assert tree.get("usr/bin/third").target == "usr/bin/python3.13-copy"
    assert tree.read("usr/bin/third") == b"ELF"


# ---- placement ------------------------------------------------------------------------------


def test_files_under_lib_land_in_usr_lib_through_the_link():
    tree = merged_usr()
    stored = tree.add_file("lib/x86_64-linux-gnu/libc.so.6", b"libc")
    assert stored.path == "usr/lib/x86_64-linux-gnu/libc.so.6"
    assert tree.get("lib").kind is Kind.SYMLINK
    assert tree.get("lib/x86_64-linux-gnu/libc.so.6") is None
    assert tree.read("lib/x86_64-linux-gnu/libc.so.6") == b"libc"


def test_directory_over_a_symlink_keeps_the_link():
    tree = merged_usr()
    stored = tree.add(Entry("lib", Kind.DIR, 0o755))
    assert stored.kind is Kind.SYMLINK
    assert tree.get("lib").kind is Kind.SYMLINK and tree.get("lib").target == "usr/lib"
    tree.add(Entry("lib/x86_64-linux-gnu", Kind.DIR, 0o755))
    assert tree.get("usr/lib/x86_64-linux-gnu").kind is Kind.DIR
    assert tree.get("lib").kind is Kind.SYMLINK


def test_directory_over_a_link_to_a_file_replaces_it():
    tree = Tree()
    tree.add_file("etc/real", b"x")
    tree.add_symlink("etc/thing", "real")
    stored = tree.add(Entry("etc/thing", Kind.DIR, 0o755))
    assert stored.kind is Kind.DIR


def test_placement_through_an_absolute_link():
    tree = Tree()
    tree.add_dir("usr/share/zoneinfo")
    tree.add_symlink("usr/lib/zoneinfo", "/usr/share/zoneinfo")
    stored = tree.add_file("usr/lib/zoneinfo/UTC", b"TZif")
    assert stored.path == "usr/share/zoneinfo/UTC"


def test_existing_directory_keeps_content_and_takes_new_metadata():
    tree = Tree()
    tree.add_file("usr/share/doc/a", b"a")
    tree.add(Entry("usr/share/doc", Kind.DIR, 0o40700, uid=5))
    assert tree.get("usr/share/doc").mode == 0o700
    assert tree.get("usr/share/doc").uid == 5
    assert tree.read("usr/share/doc/a") == b"a"


def test_a_later_file_replaces_an_earlier_one():
    tree = Tree()
    tree.add_file("etc/motd", b"one")
    tree.add_file("etc/motd", b"two")
    assert tree.read("etc/motd") == b"two"


def test_file_over_a_non_empty_directory_is_refused():
    tree = Tree()
    tree.add_file("usr/lib/foo/bar", b"x")
    with pytest.raises(UnsafePathError, match="non-empty directory"):
        tree.add_file("usr/lib/foo", b"y")


def test_parent_that_is_a_file_is_refused():
    tree = Tree()
    tree.add_file("etc/hosts", b"x")
    with pytest.raises(UnsafePathError, match="not a directory"):
        tree.add_file("etc/hosts/evil", b"y")


def test_missing_parents_are_created_as_plain_directories():
    tree = Tree()
    tree.add_file("usr/share/doc/x/copyright", b"c", 0o644)
    for parent in ("usr", "usr/share", "usr/share/doc", "usr/share/doc/x"):
        entry = tree.get(parent)
        assert entry.kind is Kind.DIR and entry.mode == 0o755 and entry.uid == 0


def test_mode_keeps_permission_bits_only():
    tree = Tree()
    stored = tree.add(Entry("tmp", Kind.DIR, 0o41777))
    assert stored.mode == 0o1777


def test_root_directory_is_never_stored():
    tree = Tree()
    tree.add(Entry("./", Kind.DIR, 0o755))
    assert len(tree) == 0


# ---- reading --------------------------------------------------------------------------------


def test_resolve_follows_links_like_the_kernel():
    tree = merged_usr()
    tree.add_file("usr/bin/python3.13", b"ELF", 0o755)
    tree.add_symlink("usr/bin/python3", "python3.13")
    assert tree.resolve("bin/python3") == "usr/bin/python3.13"
    assert tree.resolve("bin/python3", follow_last=False) == "usr/bin/python3"
    assert tree.resolve("bin/../lib/x") == "usr/lib/x"


def test_resolve_gives_none_for_loops_and_escapes():
    tree = Tree()
    tree.add_symlink("a", "b")
    tree.add_symlink("b", "a")
    assert tree.resolve("a") is None
    assert tree.resolve("../etc") is None
    tree.add_file("etc/hosts", b"x")
    assert tree.resolve("etc/hosts/x") is None  # through a regular file


def test_read_of_missing_or_non_files():
    tree = Tree()
    tree.add_dir("etc")
    assert tree.read("etc") is None
    assert tree.read("nope") is None


def test_entries_are_sorted_and_children_listed():
    tree = Tree()
    for path in ("usr/bin/z", "etc/a", "usr/bin/a"):
        tree.add_file(path, b"")
    paths = [e.path for e in tree.entries()]
    assert paths == sorted(paths)
    assert tree.children("usr/bin") == ["usr/bin/a", "usr/bin/z"]
    assert tree.children("") == ["etc", "usr"]
    assert [e.path for e in tree.files()] == ["etc/a", "usr/bin/a", "usr/bin/z"]


def test_remove_takes_a_whole_directory():
    tree = Tree()
    tree.add_file("usr/share/doc/a/copyright", b"")
    tree.add_file("usr/share/doc/b/copyright", b"")
    tree.add_file("usr/share/docs-not-below", b"")
    assert tree.remove("usr/share/doc") == 5
    assert "usr/share/docs-not-below" in tree


# ---- bounds and cost ------------------------------------------------------------------------


class CountingScans(dict):
    """The tree's entry table, counting how often something walks all of it."""

    scans = 0

    def __iter__(self):
        self.scans += 1
        return super().__iter__()

    def items(self):
        self.scans += 1
        return super().items()

    def keys(self):
        self.scans += 1
        return super().keys()

    def values(self):
        self.scans += 1
        return super().values()


def counted(tree: Tree) -> CountingScans:
    tree._entries = CountingScans(tree._entries)
    return tree._entries


def test_a_path_twenty_thousand_directories_deep_is_refused():
    tree = Tree()
    with pytest.raises(UnsafePathError, match=f"20001 directories deep, more than the {MAX_DEPTH}"):
        tree.add_file("d/" * 20_000 + "f", b"x")
    assert len(tree) == 0
    tree.add_file("d/" * (MAX_DEPTH - 1) + "f", b"x")  # the limit itself is fine
    assert len(tree) == MAX_DEPTH


def test_a_path_longer_than_path_max_is_refused():
    tree = Tree()
    with pytest.raises(UnsafePathError, match="bytes long") as info:
        tree.add_file("usr/" + "x" * MAX_PATH_BYTES, b"x")
    assert len(str(info.value)) < 300  # the name is shortened in the message
    tree.add_file("usr/" + "x" * (MAX_PATH_BYTES - 4), b"x")


def test_placement_through_a_link_may_not_exceed_the_limits():
    tree = Tree()
    deep = "/".join(["d"] * (MAX_DEPTH - 2))
    tree.add_dir(deep)
    tree.add_symlink("short", deep)
    with pytest.raises(UnsafePathError, match="directories deep"):
        tree.add_file("short/a/b/c", b"x")


def test_a_symlink_target_longer_than_linux_allows_is_refused():
    with pytest.raises(UnsafePathError, match="target of"):
        Tree().add_symlink("usr/lib/x", "a/" * (MAX_LINK_BYTES // 2 + 1))


def test_resolve_of_an_absurd_path_gives_none():
    tree = Tree()
    tree.add_symlink("a", ".")
    assert tree.resolve("a/" * 100_000 + "x") is None
    assert tree.resolve("x/" * 100_000) is None


def test_twenty_thousand_directories_replaced_by_files_never_scan_the_tree():
    tree = Tree()
    for i in range(20_000):
        tree.add_dir(f"usr/share/d{i}")
    table = counted(tree)
    for i in range(20_000):
        tree.add_file(f"usr/share/d{i}", b"x")
    assert table.scans == 0
    assert tree.get("usr/share/d19999").kind is Kind.FILE
    assert len(tree.children("usr/share")) == 20_000


def test_removing_a_subtree_of_a_large_tree_touches_only_the_subtree():
    tree = Tree()
    for i in range(20_000):
        tree.add_file(f"usr/lib/big/f{i}", b"")
    tree.add_file("usr/share/doc/a/copyright", b"")
    tree.add_file("usr/share/doc/a/changelog", b"")
    tree.add_file("usr/share/docs", b"")
    table = counted(tree)
    assert tree.remove("usr/share/doc") == 4
    tree.remove_entries(["usr/lib/big/f7", "usr/lib/big/f8"])
    assert table.scans == 0
    assert "usr/share/docs" in tree and "usr/share/doc/a" not in tree
    assert tree.children("usr/share") == ["usr/share/docs"]
    assert len(tree) == 5 + 20_000 - 2  # usr, usr/lib, usr/lib/big, usr/share, docs


def test_removing_many_hard_links_and_their_file_is_linear():
    tree = Tree()
    tree.add_file("f/a", b"data")
    links = [f"f/l{i:05}" for i in range(20_000)]
    for link in links:
        tree.add(Entry(link, Kind.HARDLINK, 0o644, target="f/a"))
    tree.add(Entry("g/keep", Kind.HARDLINK, 0o644, target="f/a"))
    started = time.monotonic()
    tree.remove_entries(["f/a", *links])  # each heir in turn would be quadratic
    assert time.monotonic() - started < 30  # a hang guard
    assert tree.get("g/keep").kind is Kind.FILE and tree.read("g/keep") == b"data"
    assert tree.children("f") == []


def test_remove_entries_takes_a_directory_with_what_is_below_it():
    tree = Tree()
    tree.add_file("usr/share/doc/a/copyright", b"")
    tree.remove_entries(["usr/share/doc"])
    assert [e.path for e in tree.entries()] == ["usr", "usr/share"]


def test_a_replaced_file_leaves_its_hard_links_their_content():
    tree = Tree()
    tree.add_file("usr/bin/a", b"old")
    tree.add(Entry("usr/bin/b", Kind.HARDLINK, 0o755, target="usr/bin/a"))
    tree.add_file("usr/bin/a", b"new")
    assert tree.read("usr/bin/a") == b"new"
    assert tree.read("usr/bin/b") == b"old"
    tree.add_symlink("usr/bin/a", "b")
    assert tree.read("usr/bin/a") == b"old"


def test_a_hard_link_to_itself_is_refused():
    tree = Tree()
    tree.add_file("usr/bin/a", b"x")
    with pytest.raises(UnsafePathError, match="does not name a regular file"):
        tree.add(Entry("usr/bin/a", Kind.HARDLINK, 0o755, target="usr/bin/a"))
    assert tree.read("usr/bin/a") == b"x"
