"""Property-based tests of the .deb reader and the tree: whatever a package holds, reading it
gives a package or a PackageFormatError, and the tree it goes into stays sound."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pydistroless.core.errors import PackageFormatError, UnsafePathError
from pydistroless.debian.deb import DebPackage, install, read_deb
from pydistroless.fs.tree import Entry, Kind, Tree, canonical, link_destination
from tests.fixtures import debs
from tests.fixtures.debs import DebSpec, Member

# Deterministic, so that CI runs the same examples every time; about 15 s in all on two cores.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Few distinct names, so that members collide: a file where a directory was, a link over it.
safe = st.lists(st.sampled_from(["usr", "lib", "a", "b", "bin", ".", "", "x" * 120]), max_size=6)
relative = st.lists(st.sampled_from(["usr", "lib", "a", "b", ".", ".."]), max_size=6)
hostile = st.one_of(
    relative.map("/".join),
    relative.map(lambda parts: "/" + "/".join(parts)),
    st.just("d/" * 70 + "f"),  # deeper than the tree allows
    st.just("./usr/" + "y" * 4100),  # longer than PATH_MAX
    st.text(alphabet="ab./", max_size=12),
)
# Mostly names a package may use, so that most packages are read and go into the tree.
name = st.integers(0, 24).flatmap(
    lambda n: hostile if n == 0 else safe.map(lambda parts: "./" + "/".join(parts))
)
link_target = st.one_of(name, st.just("../../../../etc/shadow"), st.just("/"), st.just(""))


@st.composite
def member(draw) -> Member:
    kind = draw(st.sampled_from(["file", "dir", "symlink", "hardlink"]))
    path = draw(name)
    if kind == "file":
        return debs.file(path, draw(st.binary(max_size=64)), draw(st.integers(0, 0o7777)))
    if kind == "dir":
        return debs.directory(path)
    if kind == "symlink":
        return debs.symlink(path, draw(link_target))
    return debs.hardlink(path, draw(name))


@st.composite
def deb_bytes(draw) -> bytes:
    compression = draw(st.sampled_from(debs.COMPRESSIONS))
    spec = DebSpec(
        "fuzz",
        members=(debs.directory("./"), *draw(st.lists(member(), max_size=10))),
        data_compression=compression,
        control_compression=draw(st.sampled_from(debs.COMPRESSIONS)),
    )
    data = bytearray(debs.build_deb(spec))
    damage = draw(st.sampled_from(["none", "none", "none", "truncate", "flip"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip":
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= draw(st.integers(1, 255))
    return bytes(data)


def read_or_refuse(data: bytes) -> DebPackage | None:
    """read_deb's one contract with hostile bytes: a package, or a PackageFormatError."""
    try:
        return read_deb(data, name="fuzz")
    except PackageFormatError:
        return None


def merged_usr() -> Tree:
    tree = Tree()
    for top in ("bin", "lib"):
        tree.add_dir(f"usr/{top}")
        tree.add_symlink(top, f"usr/{top}")
    return tree


def assert_sound(tree: Tree) -> None:
    for entry in tree.entries():
        path = entry.path
        assert path and canonical(path) == path, path
        parent = path.rpartition("/")[0]
        if parent:
            above = tree.get(parent)
            assert above is not None and above.kind is Kind.DIR, (path, above)
        assert path in tree.children(parent)
        if entry.kind is Kind.SYMLINK:
            assert link_destination(path, entry.target) is not None, (path, entry.target)
        if entry.kind is Kind.HARDLINK:
            shared = tree.get(entry.target)
            assert shared is not None and shared.kind is Kind.FILE, (path, entry.target)


def assert_removed(tree: Tree, path: str) -> None:
    tree.remove(path)
    assert path not in tree
    assert not any(e.path.startswith(f"{path}/") for e in tree.entries())
    assert_sound(tree)


@settings(FUZZ, max_examples=400)
@given(deb_bytes(), name)
def test_any_deb_reads_or_is_refused_and_installs_soundly(data, doomed):
    package = read_or_refuse(data)
    event("read" if package else "refused")
    if package is None:
        return
    tree = merged_usr()
    with contextlib.suppress(UnsafePathError):  # what went in before must still be sound
        install(tree, package)
    assert_sound(tree)
    paths = [e.path for e in tree.entries()]
    assert_removed(tree, paths[len(paths) // 2])
    with contextlib.suppress(UnsafePathError):
        assert_removed(tree, canonical(doomed))


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_read_or_are_refused(data):
    read_or_refuse(data)


@FUZZ
@given(st.binary(max_size=600), st.sampled_from(debs.COMPRESSIONS))
def test_random_members_read_or_are_refused(noise, compression):
    """Garbage where the compressed tars are, each inside a sound ar container."""
    control = debs.compress(
        debs.tar_bytes([debs.file("./control", DebSpec("fuzz").control())]), "gz"
    )
    for parts in (
        [("control.tar.gz", control), (f"data.tar{debs.suffix(compression)}", noise)],
        [(f"control.tar{debs.suffix(compression)}", noise), ("data.tar.gz", control)],
    ):
        read_or_refuse(debs.ar_archive([("debian-binary", b"2.0\n"), *parts]))


operation = st.tuples(
    st.sampled_from(["file", "dir", "symlink", "hardlink", "remove", "remove_entries"]),
    name,
    link_target,
)


@FUZZ
@given(st.lists(operation, max_size=30))
def test_any_sequence_of_tree_operations_keeps_the_tree_sound(operations):
    tree = merged_usr()
    for op, path, target in operations:
        try:
            if op == "remove":
                assert_removed(tree, canonical(path))
                continue
            if op == "remove_entries":
                tree.remove_entries([canonical(path), canonical(target)])
            elif op == "file":
                tree.add_file(path, target.encode())
            elif op == "dir":
                tree.add_dir(path)
            elif op == "symlink":
                tree.add_symlink(path, target)
            else:
                tree.add(Entry(path, Kind.HARDLINK, 0o644, target=target))
        except UnsafePathError:
            pass
        assert_sound(tree)
