"""Reading .deb files built by the test: every compression, and broken or hostile ones."""

from __future__ import annotations

import io
import random
import tarfile
import time
import tracemalloc

import pytest

from pydistroless.core.errors import PackageFormatError, UnsafePathError
from pydistroless.debian import deb
from pydistroless.debian.deb import install, read_deb
from pydistroless.fs.tree import MAX_DEPTH, Kind, Tree
from tests.fixtures import debs
from tests.fixtures.debs import DebSpec, Member, build_deb, directory, file, hardlink, symlink


def merged_usr_tree() -> Tree:
    tree = Tree()
    for top in ("bin", "lib", "sbin"):
        tree.add_dir(f"usr/{top}")
        tree.add_symlink(top, f"usr/{top}")
    return tree


def deb_with(*members: Member, compression: str = "xz") -> bytes:
    return build_deb(
        DebSpec("evil", members=(directory("./"), *members), data_compression=compression)
    )


# ---- well-formed ----------------------------------------------------------------------------


@pytest.mark.parametrize("compression", debs.COMPRESSIONS)
def test_every_data_compression(compression):
    data = build_deb(
        DebSpec(
            "hello",
            "2.10-3",
            members=(
                directory("./"),
                directory("./usr/"),
                directory("./usr/bin/"),
                file("./usr/bin/hello", b"\x7fELF hello", 0o755),
                symlink("./usr/bin/hi", "hello"),
                hardlink("./usr/bin/hello2", "./usr/bin/hello"),
            ),
            depends="libc6 (>= 2.34)",
            data_compression=compression,
            control_compression="gz" if compression == "none" else compression,
        )
    )
    deb = read_deb(data, name="hello")
    assert deb.name == "hello"
    assert "Package: hello\n" in deb.control
    assert "Version: 2.10-3\n" in deb.control
    assert "Depends: libc6 (>= 2.34)\n" in deb.control
    assert deb.md5sums.endswith("  usr/bin/hello\n")
    by_path = {e.path: e for e in deb.entries}
    assert list(by_path) == ["usr", "usr/bin", "usr/bin/hello", "usr/bin/hi", "usr/bin/hello2"]
    hello = by_path["usr/bin/hello"]
    assert (hello.kind, hello.data, hello.mode, hello.origin) == (
        Kind.FILE,
        b"\x7fELF hello",
        0o755,
        "hello",
    )
    assert by_path["usr/bin/hi"].kind is Kind.SYMLINK
    assert by_path["usr/bin/hi"].target == "hello"
    assert by_path["usr/bin/hello2"].kind is Kind.HARDLINK
    assert by_path["usr/bin/hello2"].target == "usr/bin/hello"


def test_install_places_lib_files_in_usr_lib():
    data = debs.simple_deb(
        "libfoo1",
        files={
            "./lib/x86_64-linux-gnu/libfoo.so.1.0": b"\x7fELF",
            "./usr/share/doc/libfoo1/copyright": "MIT\n",
        },
    )
    deb = read_deb(data, name="libfoo1")
    tree = merged_usr_tree()
    placed = install(tree, deb)
    assert placed["lib/x86_64-linux-gnu/libfoo.so.1.0"] == "usr/lib/x86_64-linux-gnu/libfoo.so.1.0"
    assert placed["usr/share/doc/libfoo1/copyright"] == "usr/share/doc/libfoo1/copyright"
    assert tree.get("lib").kind is Kind.SYMLINK  # the package's ./lib/ dir kept the link
    assert tree.read("usr/lib/x86_64-linux-gnu/libfoo.so.1.0") == b"\x7fELF"


def test_ar_member_order_does_not_matter():
    spec = DebSpec("x", members=(directory("./"), file("./etc/x", "x")))
    parts = [
        ("debian-binary", b"2.0\n"),
        ("data.tar.gz", debs.compress(debs.tar_bytes(spec.members), "gz")),
        (
            "control.tar.xz",
            debs.compress(debs.tar_bytes([file("./control", spec.control())]), "xz"),
        ),
    ]
    deb = read_deb(debs.ar_archive(parts), name="x")
    assert [e.path for e in deb.entries] == ["etc/x"]


# ---- hostile --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../../etc/evil", "./../../etc/evil", "/etc/evil", "usr/../../etc/evil"]
)
def test_names_outside_the_tree_are_refused(name):
    with pytest.raises(UnsafePathError) as info:
        read_deb(deb_with(file(name, "owned")), name="evil")
    assert "evil" in str(info.value)
    assert info.value.exit_code == 7


@pytest.mark.parametrize("target", ["../../../../etc/shadow", "../../.."])
def test_symlink_escaping_the_tree_is_refused_on_install(target):
    deb = read_deb(deb_with(symlink("./usr/lib/evil", target)), name="evil")
    tree = merged_usr_tree()
    with pytest.raises(UnsafePathError, match="leads outside the image"):
        install(tree, deb)
    assert tree.get("usr/lib/evil") is None


def test_file_written_through_an_absolute_symlink_stays_in_the_image():
    # /usr/lib/evil -> /etc is inside the image; writing through it must land in the image's
    # etc/, never the host's.
    deb = read_deb(
        deb_with(symlink("./usr/lib/evil", "/etc"), file("./usr/lib/evil/owned", "x")),
        name="evil",
    )
    tree = merged_usr_tree()
    placed = install(tree, deb)
    assert placed["usr/lib/evil/owned"] == "etc/owned"
    assert tree.read("etc/owned") == b"x"


def test_hardlink_to_a_missing_file_is_refused_on_install():
    deb = read_deb(deb_with(hardlink("./usr/bin/evil", "./usr/bin/missing")), name="evil")
    with pytest.raises(UnsafePathError, match="does not name a regular file"):
        install(Tree(), deb)


def test_hardlink_with_dotdot_is_refused():
    with pytest.raises(UnsafePathError):
        read_deb(deb_with(hardlink("./usr/bin/evil", "../../etc/shadow")), name="evil")


@pytest.mark.parametrize("kind", ["fifo", "chardev"])
def test_devices_and_fifos_are_refused(kind):
    with pytest.raises(UnsafePathError, match="device or fifo"):
        read_deb(deb_with(Member("./dev/evil", kind)), name="evil")


# ---- broken ---------------------------------------------------------------------------------


def good_deb(compression: str = "xz") -> bytes:
    return debs.simple_deb(
        "victim",
        files={"./usr/share/victim/data": bytes(range(256)) * 64},
        data_compression=compression,
    )


@pytest.mark.parametrize("compression", debs.COMPRESSIONS)
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_deb(compression, keep):
    data = good_deb(compression)
    with pytest.raises(PackageFormatError):
        read_deb(data[: int(len(data) * keep)], name="victim")


def many_files() -> dict[str, bytes]:
    rnd = random.Random(7)  # incompressible, so a cut compressed stream is a cut tar
    return {f"./usr/share/many/f{i:03}": rnd.randbytes(1000) for i in range(200)}


def test_truncated_zstd_stream_does_not_give_a_partial_package():
    """A zstd stream cut short must be an error, not a package with half its files."""
    data = debs.simple_deb("many", files=many_files(), data_compression="zst")
    with pytest.raises(PackageFormatError):
        read_deb(data[: len(data) // 2], name="many")


def test_deb_cut_between_two_tar_members_does_not_give_a_partial_package():
    """A download that stops exactly between two members of an uncompressed data.tar."""
    files = many_files()
    data = debs.simple_deb("many", files=files, data_compression="none")
    data_start = data.index(b"data.tar        ") + 60
    with tarfile.open(fileobj=io.BytesIO(data[data_start:])) as tar:
        tenth = [m for m in tar.getmembers() if m.isfile()][9]
    boundary = tenth.offset_data + (tenth.size + 511) // 512 * 512
    with pytest.raises(PackageFormatError):
        read_deb(data[: data_start + boundary], name="many")


@pytest.mark.parametrize("cut", [100, 512 + 300, 1024 + 512 + 17])
def test_tar_truncated_inside_an_intact_compression(cut):
    """The compressed stream is complete, but the tar in it stops early."""
    big = file("./usr/share/x/big", b"y" * 4000)
    tar = debs.tar_bytes([directory("./"), directory("./usr/"), big])
    control = debs.compress(debs.tar_bytes([file("./control", "Package: x\n")]), "xz")
    parts = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", control),
        ("data.tar.xz", debs.compress(tar[:cut], "xz")),
    ]
    with pytest.raises(PackageFormatError):
        read_deb(debs.ar_archive(parts), name="x")


@pytest.mark.parametrize("compression", ["xz", "gz", "zst", "bz2"])
def test_corrupt_compressed_stream(compression):
    """One flipped byte anywhere in the compressed data.tar (past the format's header) is a
    PackageFormatError, whatever the decompressor raises underneath."""
    base = good_deb(compression)
    start = base.rindex(b"data.tar.") + 60
    outcomes = {}
    for offset in range(start + 16, len(base) - 2, 7):
        data = bytearray(base)
        data[offset] ^= 0xFF
        try:
            read_deb(bytes(data), name="victim")
            outcomes[offset - start] = "accepted"
        except PackageFormatError:
            continue
        except Exception as exc:
            outcomes[offset - start] = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    assert outcomes == {}


@pytest.mark.parametrize(
    "data",
    [b"", b"not a deb at all", b"!<arch>\n", b"!<arch>\ngarbage" + b"x" * 100],
    ids=["empty", "text", "empty-ar", "garbage-ar"],
)
def test_not_a_deb(data):
    with pytest.raises(PackageFormatError):
        read_deb(data, name="junk")


def test_missing_members():
    control = debs.compress(debs.tar_bytes([file("./control", "Package: x\n")]), "xz")
    data = debs.compress(debs.tar_bytes([file("./etc/x", "x")]), "xz")
    with pytest.raises(PackageFormatError, match="debian-binary"):
        read_deb(debs.ar_archive([("control.tar.xz", control), ("data.tar.xz", data)]), name="x")
    with pytest.raises(PackageFormatError, match=r"no data\.tar"):
        read_deb(
            debs.ar_archive([("debian-binary", b"2.0\n"), ("control.tar.xz", control)]), name="x"
        )
    with pytest.raises(PackageFormatError, match=r"no control\.tar"):
        read_deb(debs.ar_archive([("debian-binary", b"2.0\n"), ("data.tar.xz", data)]), name="x")
    no_control_file = debs.compress(debs.tar_bytes([file("./md5sums", "")]), "xz")
    with pytest.raises(PackageFormatError, match="no control file"):
        read_deb(
            debs.ar_archive(
                [
                    ("debian-binary", b"2.0\n"),
                    ("control.tar.xz", no_control_file),
                    ("data.tar.xz", data),
                ]
            ),
            name="x",
        )


def test_unknown_compression():
    control = debs.compress(debs.tar_bytes([file("./control", "Package: x\n")]), "xz")
    parts = [("debian-binary", b"2.0\n"), ("control.tar.xz", control), ("data.tar.lz4", b"??")]
    with pytest.raises(PackageFormatError):
        read_deb(debs.ar_archive(parts), name="x")


def test_data_that_is_not_a_tar():
    control = debs.compress(debs.tar_bytes([file("./control", "Package: x\n")]), "xz")
    parts = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", control),
        ("data.tar.xz", debs.compress(b"plain text, not a tar archive\n" * 40, "xz")),
    ]
    with pytest.raises(PackageFormatError):
        read_deb(debs.ar_archive(parts), name="x")


# ---- bombs ----------------------------------------------------------------------------------

MIB = 1 << 20


def bomb(files: int, size: int, compression: str = "xz", installed_kib: str = "1") -> bytes:
    spec = DebSpec(
        "bomb", extra_control={"Installed-Size": installed_kib}, data_compression=compression
    )
    return debs.deb_of_tars(spec, debs.zeros_tar(files, size))


@pytest.mark.parametrize("compression", debs.COMPRESSIONS)
def test_data_that_unpacks_far_beyond_the_installed_size_is_refused(compression):
    """40 MiB of zeros in files of 1 MiB, from a package that says it installs 1 KiB."""
    data = bomb(40, MIB, compression)
    if compression != "none":
        assert len(data) < 200_000
    with pytest.raises(PackageFormatError) as info:
        read_deb(data, name="bomb")
    message = str(info.value)
    assert "package bomb" in message and "Installed-Size is 1 KiB" in message
    assert f"{deb.DATA_TAR_ALLOWANCE + 2 * 1024:,} bytes" in message
    assert "hostile or damaged" in message


def test_a_member_larger_than_the_limit_is_refused_before_it_is_read():
    header = tarfile.TarInfo("./usr/share/bomb/huge")
    header.size = 2 << 30  # the header alone: the stream has none of its content
    data = debs.deb_of_tars(DebSpec("bomb"), [header.tobuf(tarfile.GNU_FORMAT)])
    with pytest.raises(PackageFormatError, match="hostile or damaged"):
        read_deb(data, name="bomb")


def test_a_gigabyte_bomb_is_refused_in_bounded_memory():
    """1 GiB of zeros (in 1 MiB files, so no header gives it away) in a 33 KB zstd .deb: the
    stream stops at the limit, and the memory used stays near the limit."""
    data = bomb(1024, MIB, "zst")
    assert len(data) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(PackageFormatError, match="Installed-Size is 1 KiB"):
            read_deb(data, name="bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * deb.DATA_TAR_ALLOWANCE, f"peak {peak:,} bytes"


def test_installed_size_scales_the_limit():
    read_deb(bomb(40, MIB, "zst", installed_kib=str(40 * 1024)), name="bomb")


def test_a_package_without_installed_size_gets_the_fixed_limit(monkeypatch):
    small = bomb(2, MIB, "zst", installed_kib="")
    assert "Installed-Size" not in read_deb(small, name="bomb").control
    monkeypatch.setattr(deb, "DATA_TAR_UNSIZED", MIB)
    with pytest.raises(PackageFormatError, match="does not state its Installed-Size"):
        read_deb(small, name="bomb")


@pytest.mark.parametrize("value", ["lots", "-1", "1.5", "1e9", "\u0661"])
def test_installed_size_that_is_not_a_number_is_refused(value):
    with pytest.raises(PackageFormatError, match="not a number of KiB"):
        read_deb(bomb(1, 10, installed_kib=value), name="bomb")


def test_control_tar_has_a_fixed_limit():
    spec = DebSpec("bomb")
    control = [
        debs.tar_bytes([file("./control", spec.control())])[: -2 * tarfile.BLOCKSIZE],
        *debs.zeros_tar(12, MIB, prefix="./postinst"),
    ]
    data = debs.deb_of_tars(spec, [debs.tar_bytes([directory("./")])], control_tar=control)
    with pytest.raises(PackageFormatError, match=r"control\.tar\.xz unpacks to more than"):
        read_deb(data, name="bomb")


def test_sparse_members_are_refused():
    header = tarfile.TarInfo("./usr/share/sparse")
    header.type = tarfile.GNUTYPE_SPARSE
    header.sparse = [(0, 0)]
    header.size = 1 << 40
    raw = header.tobuf(tarfile.GNU_FORMAT) + bytes(2 * tarfile.BLOCKSIZE)
    with pytest.raises(PackageFormatError, match="sparse"):
        read_deb(debs.deb_of_tars(DebSpec("evil"), [raw]), name="evil")


# ---- names ----------------------------------------------------------------------------------


def test_a_name_twenty_thousand_directories_deep_is_refused_at_once():
    name = "./" + "d/" * 20_000 + "f"
    started = time.monotonic()
    with pytest.raises(UnsafePathError) as info:
        read_deb(deb_with(file(name, "x")), name="evil")
    assert time.monotonic() - started < 30  # a hang guard: it used to take minutes and GBs
    message = str(info.value)
    assert "20001 directories deep" in message and f"the {MAX_DEPTH} allowed" in message
    assert len(message) < 300


@pytest.mark.parametrize("owner", [-1, 2**32])
def test_owners_linux_cannot_represent_are_refused(owner):
    member = Member("./etc/x", data=b"x", uid=owner)
    with pytest.raises(PackageFormatError, match="owner"):
        read_deb(deb_with(member), name="evil")


# ---- the control paragraph ------------------------------------------------------------------


def control_deb(control: str) -> bytes:
    spec = DebSpec("evil")
    control_tar = debs.tar_bytes([directory("./"), file("./control", control)])
    return debs.deb_of_tars(spec, [debs.tar_bytes([directory("./")])], control_tar=[control_tar])


def test_only_the_first_control_paragraph_is_kept():
    deb_ = read_deb(
        control_deb("Package: evil\nVersion: 1\n\nPackage: openssl\nVersion: 0.9.8a\n"),
        name="evil",
    )
    assert deb_.control == "Package: evil\nVersion: 1\n"


@pytest.mark.parametrize(
    "control",
    ["Version: 1\n", "\n", "", "Package:\nVersion: 1\n"],
    ids=["no-package", "blank", "empty", "empty-package"],
)
def test_a_control_without_package_is_refused(control):
    with pytest.raises(PackageFormatError, match="no Package field"):
        read_deb(control_deb(control), name="evil")


def test_a_control_naming_another_package_is_refused():
    with pytest.raises(PackageFormatError, match="names package 'openssl'"):
        read_deb(control_deb("Package: openssl\nVersion: 0.9.8a\n"), name="evil")
