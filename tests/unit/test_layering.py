"""The image tree cut into layers by package: the layers give back the tree, each layer is
whole on its own, and a layer whose packages did not change keeps its bytes."""

from __future__ import annotations

import contextlib
import io
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydistroless.core.errors import UnsafePathError
from pydistroless.debian.deb import DebPackage, read_deb
from pydistroless.fs import layering
from pydistroless.fs.layering import GROUPS, LayerPart, PackageFacts, split
from pydistroless.fs.tree import Entry, Kind, Tree
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.unpack import apply_layer
from tests.fixtures import debs
from tests.fixtures.debs import DebSpec

PY = "3.13"
EPOCH = 1_750_000_000
DAY = 86_400

# name -> (source, build date): a trixie-like image, plus busybox for the debug variant.
PACKAGES = {
    "base-files": ("base-files", EPOCH - 40 * DAY),
    "libc6": ("glibc", EPOCH - 30 * DAY),
    "libc-bin": ("glibc", EPOCH - 30 * DAY),
    "libgcc-s1": ("gcc-14", EPOCH - 300 * DAY),
    "zlib1g": ("zlib", EPOCH - 20 * DAY),
    "libssl3t64": ("openssl", EPOCH - 10 * DAY),
    "openssl-provider-legacy": ("openssl", EPOCH - 10 * DAY),
    "python3.13-minimal": ("python3.13", EPOCH - 50 * DAY),
    "libpython3.13-minimal": ("python3.13", EPOCH - 50 * DAY),
    "libpython3.13-stdlib": ("python3.13", EPOCH - 50 * DAY),
    "tzdata": ("tzdata", EPOCH - 5 * DAY),
    "ca-certificates": ("ca-certificates", EPOCH - 200 * DAY),
    "busybox-static": ("busybox", EPOCH - 100 * DAY),
}
TRIPLET = "usr/lib/x86_64-linux-gnu"


def facts(packages=PACKAGES, **changed: int) -> dict[str, PackageFacts]:
    """The facts of ``packages``; ``changed`` gives some of them another build date."""
    return {
        name: PackageFacts(name, source, changed.get(name.replace("-", "_"), mtime))
        for name, (source, mtime) in packages.items()
    }


def by_name(tree: Tree, packages=None, epoch: int = EPOCH) -> dict[str, LayerPart]:
    parts = split(tree, packages=facts() if packages is None else packages, python=PY, epoch=epoch)
    return {p.name: p for p in parts}


def pkg(tree: Tree, origin: str, path: str, data: bytes = b"", **kw) -> Entry:
    return tree.add(Entry(path, Kind.FILE, kw.pop("mode", 0o644), data=data, origin=origin, **kw))


def image_tree(*, debug: bool = False, tz: bytes = b"TZif2 UTC") -> Tree:
    """A small image laid out as assemble() lays one out: packages in name order, then the
    files pydistroless generates (origin "")."""
    tree = Tree()
    for top in ("bin", "lib", "lib64", "sbin"):  # merged-/usr, before any package
        tree.add_dir(f"usr/{top}")
        tree.add_symlink(top, f"usr/{top}")
    tree.add(Entry("etc", Kind.DIR, 0o755, origin="base-files"))
    pkg(tree, "base-files", "etc/debian_version", b"13.1\n")
    # not root's 0755, so that a copy in another layer (status.d's) shows its metadata
    tree.add(Entry("var/lib/dpkg", Kind.DIR, 0o711, uid=3, gid=4, origin="base-files"))
    tree.add(Entry("usr/share/doc/base-files", Kind.DIR, 0o755, origin="base-files"))
    pkg(tree, "base-files", "usr/share/doc/base-files/copyright", b"GPL\n")
    if debug:
        pkg(tree, "busybox-static", "usr/bin/busybox", b"\x7fELF [\x00[[\x00ls\x00", mode=0o755)
    pkg(tree, "ca-certificates", "usr/share/ca-certificates/mozilla/A.crt", b"-----A-----\n")
    tree.add(Entry("etc/ssl/certs", Kind.DIR, 0o755, origin="ca-certificates"))
    pkg(tree, "libc-bin", "usr/sbin/ldconfig", b"\x7fELF ldconfig", mode=0o755)
    pkg(tree, "libc6", "usr/lib64/ld-linux-x86-64.so.2", b"\x7fELF ld.so", mode=0o755)
    pkg(tree, "libc6", f"{TRIPLET}/libc.so.6", b"\x7fELF libc")
    # a hard link inside one package, and one a later package makes to an earlier file
    tree.add(
        Entry(
            f"{TRIPLET}/libc.so",
            Kind.HARDLINK,
            0o644,
            target=f"{TRIPLET}/libc.so.6",
            origin="libc6",
        )
    )
    tree.add(
        Entry(
            "usr/share/zlib/libc-copy",
            Kind.HARDLINK,
            0o644,
            target=f"{TRIPLET}/libc.so.6",
            origin="zlib1g",
        )
    )
    pkg(tree, "libgcc-s1", f"{TRIPLET}/libgcc_s.so.1", b"\x7fELF gcc")
    pkg(tree, "libpython3.13-minimal", "usr/lib/python3.13/os.py", b"# os\n")
    pkg(tree, "libpython3.13-stdlib", "usr/lib/python3.13/json/__init__.py", b"# json\n")
    pkg(tree, "libpython3.13-stdlib", "usr/lib/python3.13/json/decoder.py", b"# decoder\n")
    tree.add(
        Entry(
            "usr/lib/python3.13/sitecustomize.py",
            Kind.SYMLINK,
            0o777,
            target="/etc/python3.13/sitecustomize.py",
            origin="libpython3.13-stdlib",
        )
    )
    pkg(tree, "libssl3t64", f"{TRIPLET}/libcrypto.so.3", b"\x7fELF crypto")
    pkg(tree, "libssl3t64", f"{TRIPLET}/libssl.so.3", b"\x7fELF ssl")
    tree.add(Entry(f"{TRIPLET}/ossl-modules", Kind.DIR, 0o755, origin="openssl-provider-legacy"))
    pkg(tree, "openssl-provider-legacy", f"{TRIPLET}/ossl-modules/legacy.so", b"\x7fELF legacy")
    pkg(tree, "python3.13-minimal", "usr/bin/python3.13", b"\x7fELF python", mode=0o755)
    tree.add(Entry("usr/share/zoneinfo", Kind.DIR, 0o750, uid=7, gid=8, origin="tzdata"))
    pkg(tree, "tzdata", "usr/share/zoneinfo/Etc/UTC", tz)
    tree.add(
        Entry("usr/share/zoneinfo/UTC", Kind.SYMLINK, 0o777, target="Etc/UTC", origin="tzdata")
    )
    pkg(tree, "zlib1g", f"{TRIPLET}/libz.so.1", b"\x7fELF zlib")
    # generated, as assemble() does it
    tree.add_symlink("usr/bin/python3", "python3.13")
    tree.add_symlink("usr/bin/python", "python3.13")
    tree.add_file("etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\n")
    tree.add_dir("home/nonroot", 0o700, 65532, 65532)
    tree.add_dir("tmp", 0o1777)
    tree.add_file("etc/ssl/certs/ca-certificates.crt", b"-----A-----\n")
    tree.add_dir("usr/lib/ssl")
    tree.add_symlink("usr/lib/ssl/cert.pem", "/etc/ssl/certs/ca-certificates.crt")
    tree.add_file("usr/lib/os-release", b"ID=debian\n")
    tree.add_symlink("etc/localtime", "/usr/share/zoneinfo/Etc/UTC")
    if debug:
        tree.add_dir("busybox")
        tree.add_symlink("busybox/ls", "/usr/bin/busybox")
    tree.add_file("etc/ld.so.cache", b"glibc-ld.so.cache1.1")
    tree.add_file("usr/lib/python3.13/_pydistroless_sources.py", b"# hook\n")
    tree.add_file("usr/lib/python3.13/__pycache__/os.cpython-313.pyc", b"pyc os")
    tree.add_file("usr/lib/python3.13/json/decoder.pyc", b"pyc decoder")  # sourceless
    tree.add_file("usr/lib/python3.13/stdlib-sources.zip", b"PK zip")
    tree.add_file("usr/lib/python3/dist-packages/pydistroless-stdlib-sources.pth", b"import x\n")
    tree.add_file("usr/share/sbom/pydistroless.spdx.json", b"{}")
    tree.add_file("var/lib/dpkg/status.d/libc6", b"Package: libc6\n")
    return tree


# ---- applying layers ------------------------------------------------------------------------


def overlay(trees: list[Tree]) -> dict[str, Entry]:
    """What an engine makes of the layers, bottom first: a later entry replaces an earlier one
    at its path (a non-directory over a directory takes what was below with it), and
    directories merge."""
    result: dict[str, Entry] = {}
    for tree in trees:
        for entry in tree.entries():
            old = result.get(entry.path)
            if old is not None and old.kind is Kind.DIR and entry.kind is not Kind.DIR:
                for path in [p for p in result if p.startswith(entry.path + "/")]:
                    del result[path]
            result[entry.path] = entry
    return result


def as_dict(tree: Tree) -> dict[str, Entry]:
    return {e.path: e for e in tree.entries()}


def check_parts(tree: Tree, parts: tuple[LayerPart, ...]) -> None:
    """The layers give back ``tree`` exactly, and each is a sound layer of its own."""
    assert overlay([p.tree for p in parts]) == as_dict(tree)
    assert [p.name for p in parts] == [g for g in GROUPS if g in {p.name for p in parts}]
    owners: dict[str, str] = {}
    for part in parts:
        for entry in part.tree.entries():
            full = tree.get(entry.path)
            assert entry == full  # same kind, mode, owner, data, target (and origin)
            if entry.kind is Kind.HARDLINK:
                assert part.tree.get(entry.target) == tree.get(entry.target)
            # an entry is a part's own unless it is only there as the parent of another
            if not (entry.kind is Kind.DIR and part.tree.children(entry.path)):
                assert owners.setdefault(entry.path, part.name) == part.name
        assert len(part.comment) < 200
        assert part.comment.startswith(f"pydistroless {part.name}: ")
    # every entry that is not a directory is in exactly one layer
    assert {p for p in as_dict(tree) if tree.get(p).kind is not Kind.DIR} <= set(owners)


def test_the_layers_give_back_the_tree():
    tree = image_tree()
    parts = split(tree, packages=facts(), python=PY, epoch=EPOCH)
    check_parts(tree, parts)
    assert [p.name for p in parts] == ["python", "openssl", "base", "data", "generated"]


def test_the_layers_give_back_the_tree_through_real_tars():
    tree = image_tree(debug=True)
    parts = split(tree, packages=facts(), python=PY, epoch=EPOCH)
    unpacked = Tree()
    for number, part in enumerate(parts):
        layer = layer_from_tree(part.tree, mtime=part.mtime, compression="none")
        apply_layer(unpacked, layer, budget=[1 << 30], what=f"layer {number}")
    assert link_view(unpacked) == link_view(tree)


def link_view(tree: Tree) -> dict[str, tuple]:
    """Each path's kind, metadata and content, with hard links shown as the set of paths
    that share one file (which of them a tar holds the data under is the writer's choice)."""
    groups: dict[str, set[str]] = {}
    for e in tree.entries():
        if e.kind in (Kind.FILE, Kind.HARDLINK):
            groups.setdefault(e.target if e.kind is Kind.HARDLINK else e.path, set()).add(e.path)
    shared = {p: frozenset(g) for g in groups.values() for p in g}
    view = {}
    for e in tree.entries():
        if e.kind in (Kind.FILE, Kind.HARDLINK):
            real = tree.get(e.target) if e.kind is Kind.HARDLINK else e
            view[e.path] = ("file", real.mode, real.uid, real.gid, real.data, shared[e.path])
        else:
            view[e.path] = (e.kind.value, e.mode, e.uid, e.gid, e.target)
    return view


def test_where_things_go():
    tree = image_tree(debug=True)
    groups = layering.assign(tree, packages=facts(), python=PY)
    expected = {
        "bin": "base",  # merged-/usr, generated before any package
        "usr/lib64": "base",
        "etc/debian_version": "base",
        f"{TRIPLET}/libc.so.6": "base",
        f"{TRIPLET}/libcrypto.so.3": "openssl",
        f"{TRIPLET}/ossl-modules/legacy.so": "openssl",
        "usr/bin/python3.13": "python",
        "usr/bin/python3": "python",
        "usr/bin/python": "python",
        "usr/lib/python3.13/sitecustomize.py": "python",
        "usr/lib/python3.13/__pycache__": "python",
        "usr/lib/python3.13/__pycache__/os.cpython-313.pyc": "python",
        "usr/lib/python3.13/json/decoder.pyc": "python",
        "usr/lib/python3.13/stdlib-sources.zip": "python",
        "usr/lib/python3.13/_pydistroless_sources.py": "python",
        "usr/lib/python3/dist-packages/pydistroless-stdlib-sources.pth": "python",
        "usr/share/zoneinfo/UTC": "data",
        "etc/localtime": "data",
        "etc/ssl/certs/ca-certificates.crt": "data",
        "usr/lib/ssl/cert.pem": "data",
        "usr/bin/busybox": "debug",
        "busybox/ls": "debug",
        "etc/passwd": "generated",
        "etc/ld.so.cache": "generated",
        "home/nonroot": "generated",
        "tmp": "generated",
        "usr/lib/os-release": "generated",  # base-files' own, replaced
        "usr/share/sbom/pydistroless.spdx.json": "generated",
        "var/lib/dpkg/status.d/libc6": "generated",
    }
    assert {path: groups[path] for path in expected} == expected


def test_a_hard_link_goes_with_its_file():
    tree = image_tree()
    groups = layering.assign(tree, packages=facts(), python=PY)
    # zlib1g's link to libc6's file goes where the file is, and so does libc6's own
    assert groups["usr/share/zlib/libc-copy"] == groups[f"{TRIPLET}/libc.so.6"] == "base"
    tree.add(
        Entry(
            "usr/share/tz-link",
            Kind.HARDLINK,
            0o644,
            target=f"{TRIPLET}/libssl.so.3",
            origin="tzdata",
        )
    )
    parts = by_name(tree)
    assert parts["openssl"].tree.get("usr/share/tz-link").kind is Kind.HARDLINK
    assert "usr/share/tz-link" not in parts["data"].tree
    check_parts(tree, tuple(parts.values()))


def test_a_hard_link_that_inherited_its_file_leads_its_group():
    tree = image_tree()
    tree.add(
        Entry(
            "usr/share/tz-link",
            Kind.HARDLINK,
            0o644,
            target=f"{TRIPLET}/libssl.so.3",
            origin="tzdata",
        )
    )
    tree.remove(f"{TRIPLET}/libssl.so.3")  # the link keeps the content: it is the file now
    assert tree.get("usr/share/tz-link").kind is Kind.FILE
    parts = by_name(tree)
    assert parts["data"].tree.get("usr/share/tz-link").data == b"\x7fELF ssl"
    check_parts(tree, tuple(parts.values()))


def test_ancestor_directories_keep_their_metadata():
    tree = image_tree()
    parts = by_name(tree)
    dpkg = tree.get("var/lib/dpkg")
    assert (dpkg.mode, dpkg.uid, dpkg.gid, dpkg.origin) == (0o711, 3, 4, "base-files")
    assert parts["base"].tree.get("var/lib/dpkg") == dpkg  # its own
    assert parts["generated"].tree.get("var/lib/dpkg") == dpkg  # above status.d
    assert parts["generated"].tree.get("var") == tree.get("var")
    # every layer has the directories above what it holds, and nothing else
    python = parts["python"].tree
    assert python.get("usr/lib").kind is Kind.DIR
    assert "usr/share" not in python
    assert "bin" not in python  # a link, never the parent of anything


@pytest.mark.parametrize(
    ("name", "source", "group"),
    [
        ("libc6", "glibc", "base"),
        ("libc-bin", "glibc", "base"),
        ("base-files", "base-files", "base"),
        ("netbase", "netbase", "base"),
        ("media-types", "media-types", "base"),
        ("libsqlite3-0", "sqlite3", "base"),
        ("libssl3", "openssl", "openssl"),
        ("libssl3t64", "openssl", "openssl"),
        ("libssl3t64", "", "openssl"),
        ("openssl-provider-legacy", "openssl", "openssl"),
        ("python3.13-minimal", "python3.13", "python"),
        ("python3.13", "python3.13", "python"),
        ("libpython3.13-minimal", "", "python"),
        ("libpython3.13-stdlib", "python3.13", "python"),
        ("python3-minimal", "python3-defaults", "python"),
        ("python3.12-minimal", "python3.12", "base"),  # not this image's interpreter
        ("tzdata", "tzdata", "data"),
        ("tzdata-legacy", "tzdata", "data"),
        ("ca-certificates", "ca-certificates", "data"),
        ("busybox-static", "busybox", "debug"),
        ("libpq5", "postgresql-17", "base"),
    ],
)
def test_package_groups(name, source, group):
    assert layering.package_group(name, source, PY) == group


def test_empty_groups_are_dropped():
    tree = image_tree()
    names = [p.name for p in split(tree, packages=facts(), python=PY, epoch=EPOCH)]
    assert "debug" not in names
    debug = [
        p.name for p in split(image_tree(debug=True), packages=facts(), python=PY, epoch=EPOCH)
    ]
    assert debug == ["python", "openssl", "base", "data", "debug", "generated"]
    only_generated = Tree()
    only_generated.add_file("etc/passwd", b"root:x:0:0::/:\n")
    (part,) = split(only_generated, packages={}, python=PY, epoch=EPOCH)
    assert (part.name, part.mtime) == ("generated", EPOCH)


def test_the_debug_image_shares_every_other_layer():
    standard = split(image_tree(), packages=facts(), python=PY, epoch=EPOCH)
    debug = split(image_tree(debug=True), packages=facts(), python=PY, epoch=EPOCH)
    shared = {p.name: digest(p) for p in standard if p.name != "generated"}
    assert {p.name: digest(p) for p in debug if p.name in shared} == shared


# ---- timestamps ------------------------------------------------------------------------------


def test_each_layer_is_dated_by_its_own_packages():
    parts = by_name(image_tree(debug=True))
    assert parts["python"].mtime == EPOCH - 50 * DAY
    assert parts["openssl"].mtime == EPOCH - 10 * DAY
    assert parts["base"].mtime == EPOCH - 20 * DAY  # zlib1g, the newest of base
    assert parts["data"].mtime == EPOCH - 5 * DAY
    assert parts["debug"].mtime == EPOCH - 100 * DAY
    assert parts["generated"].mtime == EPOCH - 5 * DAY  # the newest of the others


def test_a_package_newer_than_the_epoch_is_clamped():
    packages = facts(tzdata=EPOCH + DAY, libc6=0)  # 0: not known, another one decides
    parts = by_name(image_tree(), packages)
    assert parts["data"].mtime == EPOCH
    assert parts["base"].mtime == EPOCH - 20 * DAY
    assert parts["generated"].mtime == EPOCH


def test_a_group_of_unknown_dates_takes_the_epoch():
    unknown = {name: PackageFacts(name, source, 0) for name, (source, _) in PACKAGES.items()}
    parts = split(image_tree(), packages=unknown, python=PY, epoch=EPOCH)
    assert {p.mtime for p in parts} == {EPOCH}
    assert layering.content_time([], EPOCH) == EPOCH


def digest(part: LayerPart) -> str:
    return str(layer_from_tree(part.tree, mtime=part.mtime, comment=part.comment).digest)


def test_unchanged_packages_keep_their_layers_when_the_archive_moves_on():
    before = split(image_tree(), packages=facts(), python=PY, epoch=EPOCH)
    # a week later tzdata has a new version, and the Release files are newer
    later = split(
        image_tree(tz=b"TZif2 UTC 2025b"),
        packages=facts(tzdata=EPOCH + 6 * DAY),
        python=PY,
        epoch=EPOCH + 7 * DAY,
    )
    old, new = ({p.name: digest(p) for p in parts} for parts in (before, later))
    assert [n for n in old if old[n] == new[n]] == ["python", "openssl", "base"]
    assert old["data"] != new["data"]
    # the same packages under a newer archive: every layer is the same
    again = split(image_tree(), packages=facts(), python=PY, epoch=EPOCH + 7 * DAY)
    assert {p.name: digest(p) for p in again} == old


# ---- comments -------------------------------------------------------------------------------


def test_comments_name_the_packages_and_stay_short():
    parts = by_name(image_tree())
    assert parts["openssl"].comment == (
        "pydistroless openssl: libssl3t64 openssl-provider-legacy (2 packages)"
    )
    many = [f"libsomething-really-long-name{i}" for i in range(40)]
    text = layering.comment("base", many)
    assert len(text) < 200
    assert text.endswith(" ... (40 packages)")
    assert text.startswith("pydistroless base: libsomething-really-long-name0 ")
    assert layering.comment("tzdata-only", ["tzdata"]).endswith("tzdata (1 package)")


# ---- fuzzed trees ---------------------------------------------------------------------------

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
_NAMES = ["usr", "lib", "python3.13", "busybox", "etc", "a", "b"]
_ORIGINS = ["", "", "libc6", "libssl3t64", "tzdata", "python3.13-minimal", "busybox-static", "x"]


@st.composite
def fuzzed_tree(draw) -> Tree:
    tree = Tree()
    for _ in range(draw(st.integers(1, 30))):
        path = "/".join(draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=5)))
        kind = draw(st.sampled_from(list(Kind)))
        files = [e.path for e in tree.files()]
        target = ""
        if kind is Kind.SYMLINK:
            target = draw(st.sampled_from(["a", "../b", "/usr/lib", "python3.13"]))
        elif kind is Kind.HARDLINK:
            if not files:
                continue
            target = draw(st.sampled_from(files))
        entry = Entry(
            path,
            kind,
            draw(st.sampled_from([0o755, 0o644, 0o1777, 0o700])),
            uid=draw(st.sampled_from([0, 7, 65532])),
            data=draw(st.binary(max_size=8)) if kind is Kind.FILE else b"",
            target=target,
            origin=draw(st.sampled_from(_ORIGINS)),
        )
        with contextlib.suppress(UnsafePathError):  # a file over a full directory, say
            tree.add(entry)
    if draw(st.booleans()) and (victims := [e.path for e in tree.files()]):
        tree.remove(draw(st.sampled_from(victims)))  # its hard links inherit its content
    return tree


@FUZZ
@given(fuzzed_tree(), st.integers(0, 2 * EPOCH))
def test_fuzzed_trees_come_back_whole(tree, epoch):
    parts = split(tree, packages=facts(), python=PY, epoch=epoch)
    check_parts(tree, parts)
    assert all(0 <= p.mtime <= epoch for p in parts)


# ---- the build date of a package -------------------------------------------------------------


def tar_of(members: list[tuple[str, int]]) -> bytes:
    """A data.tar of empty files (directories for names ending in /), each with its mtime."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mtime in members:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            info.type = tarfile.DIRTYPE if name.endswith("/") else tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(b""))
    return out.getvalue()


def test_a_deb_knows_its_build_date():
    data = tar_of([("./", 1_600_000_000), ("./usr/", 1_700_000_000), ("./usr/a", 1_650_000_000.75)])
    deb = read_deb(debs.deb_of_tars(DebSpec("dated"), [data]), name="dated")
    assert deb.mtime == 1_700_000_000
    assert read_deb(debs.simple_deb("plain"), name="plain").mtime == 1_700_000_000
    assert DebPackage("x", "Package: x\n", "", ()).mtime == 0
