"""Tests for pydistroless.fs.ldcache, against glibc's own ldconfig where the host has one."""

from __future__ import annotations

import os
import platform
import re
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from pydistroless.core.errors import ImageCheckError
from pydistroless.fs import elf, ldcache
from pydistroless.fs.tree import Kind, Tree
from tests.unit.test_elf import (
    ARMEL_FLAGS,
    ARMHF_FLAGS,
    ET_EXEC,
    RISCV_DOUBLE,
    lib,
    make_elf,
)

T = "usr/lib/x86_64-linux-gnu"
LDCONFIG = shutil.which("ldconfig") or next(
    (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None
)
needs_ldconfig = pytest.mark.skipif(
    LDCONFIG is None or platform.machine() != "x86_64",
    reason="compares with glibc's ldconfig, which only an x86_64 glibc host provides",
)
DEBIAN_CONF = {
    "etc/ld.so.conf": "include /etc/ld.so.conf.d/*.conf\n",
    "etc/ld.so.conf.d/libc.conf": "# libc default configuration\n/usr/local/lib\n",
    "etc/ld.so.conf.d/x86_64-linux-gnu.conf": (
        "# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n"
        "/usr/lib/x86_64-linux-gnu\n"
    ),
}


# ---- helpers -------------------------------------------------------------------------------


def merged_usr(conf: dict[str, str] | None = None) -> Tree:
    tree = Tree()
    for link, target in (("lib", "usr/lib"), ("bin", "usr/bin"), ("sbin", "usr/sbin")):
        tree.add_dir(target)
        tree.add_symlink(link, target)
    for path, text in (DEBIAN_CONF if conf is None else conf).items():
        tree.add_file(path, text.encode())
    return tree


def materialize(tree: Tree, root: Path) -> None:
    """Write ``tree`` below ``root`` as the image would unpack."""
    root.mkdir(parents=True, exist_ok=True)
    for entry in tree.entries():
        dest = root / entry.path
        if entry.kind is Kind.DIR:
            dest.mkdir(parents=True, exist_ok=True)
        elif entry.kind is Kind.FILE:
            dest.write_bytes(entry.data)
            dest.chmod(entry.mode)
        elif entry.kind is Kind.SYMLINK:
            dest.symlink_to(entry.target)
        else:
            os.link(root / entry.target, dest)


def mirror(tree: Tree, host_path: str, depth: int = 0) -> None:
    """Copy a host file into ``tree`` with every symlink on its way, as on the host."""
    assert depth < 40, host_path
    parts = [p for p in host_path.split("/") if p]
    current = ""
    for index, part in enumerate(parts):
        current = f"{current}/{part}"
        image = current.lstrip("/")
        info = os.lstat(current)
        if stat.S_ISLNK(info.st_mode):
            target = os.readlink(current)
            if tree.get(image) is None:
                tree.add_symlink(image, target)
                absolute = (
                    target if target.startswith("/") else f"{os.path.dirname(current)}/{target}"
                )
                mirror(tree, os.path.normpath(absolute), depth + 1)
            rest = "/".join(parts[index + 1 :])
            if rest:
                mirror(tree, f"{os.path.realpath(current)}/{rest}", depth + 1)
            return
        if stat.S_ISDIR(info.st_mode):
            if tree.get(image) is None:
                tree.add_dir(image)
        elif stat.S_ISREG(info.st_mode):
            if tree.get(image) is None:
                tree.add_file(image, Path(current).read_bytes(), stat.S_IMODE(info.st_mode))
            return


def run_ldconfig(root: Path, *extra: str) -> bytes:
    """What the real ldconfig writes for the tree unpacked at ``root``."""
    subprocess.run(
        [LDCONFIG, "-r", str(root), "-C", "/etc/ld.so.cache.test", *extra],
        check=True,
        capture_output=True,
    )
    return (root / "etc/ld.so.cache.test").read_bytes()


def host_generator() -> str | None:
    """Debian's ldconfig generator string for the host's libc6, if dpkg knows it."""
    if shutil.which("dpkg-query") is None:
        return None
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "libc6"], capture_output=True, text=True
    )
    return ldcache.debian_ldconfig_generator(result.stdout) if result.returncode == 0 else None


def assert_same_cache(ours: bytes, theirs: bytes, generator: str | None) -> None:
    assert ldcache.parse_ld_so_cache(ours) == ldcache.parse_ld_so_cache(theirs)
    if generator is not None:
        assert ours == theirs


_REQUIRED = {
    0x0000: "",
    0x0300: ",x86-64",
    0x0400: ",64bit",
    0x0500: ",64bit",
    0x0800: ",x32",
    0x0900: ",hard-float",
    0x0A00: ",AArch64",
    0x0B00: ",soft-float",
    0x0F00: ",soft-float",
    0x1000: ",double-float",
}


def ldconfig_p_line(name: str, flags: int, path: str) -> str:
    """How ``ldconfig -p`` prints an entry (glibc's print_entry), hwcap part left out."""
    kind = {1: "ELF", 3: "libc6"}.get(flags & 0xFF, "unknown")
    return f"{name} ({kind}{_REQUIRED[flags & 0xFF00]}) => {path}"


# ---- reading caches ------------------------------------------------------------------------


@pytest.mark.skipif(
    LDCONFIG is None or not os.path.exists("/etc/ld.so.cache"), reason="needs a glibc host"
)
def test_parser_reads_the_host_cache_as_ldconfig_p_does():
    entries = ldcache.parse_ld_so_cache(Path("/etc/ld.so.cache").read_bytes())
    printed = subprocess.run(
        [LDCONFIG, "-p"], check=True, capture_output=True, text=True, env={"LC_ALL": "C"}
    ).stdout.splitlines()
    assert printed[0] == f"{len(entries)} libs found in cache `/etc/ld.so.cache'"
    lines = [re.sub(r", hwcap: [^)]*\)", ")", line.strip()) for line in printed[1:]]
    lines = [line for line in lines if not line.startswith("Cache generated by")]
    assert lines == [ldconfig_p_line(*entry) for entry in entries]


def test_parser_refuses_other_files():
    with pytest.raises(ImageCheckError, match=r"not a glibc ld\.so\.cache"):
        ldcache.parse_ld_so_cache(b"\x7fELF")
    with pytest.raises(ImageCheckError, match="truncated"):
        ldcache.parse_ld_so_cache(b"glibc-ld.so.cache1.1" + b"\xff" * 40)


def test_parser_reads_the_compat_format():
    new = ldcache.generate_ld_so_cache(_crafted_x86_tree(), "amd64")
    nlibs = struct.unpack_from("<I", new, 20)[0]
    # "ldconfig -c compat": an old-format header and table, then the new format, whose
    # string indices are relative to its own start.
    old = b"ld.so-1.7.0\0" + struct.pack("<I", nlibs) + b"\0" * 12 * nlibs
    old += b"\0" * (-len(old) % 8)
    assert ldcache.parse_ld_so_cache(old + new) == ldcache.parse_ld_so_cache(new)


# ---- the same bytes as ldconfig ------------------------------------------------------------


def _crafted_x86_tree() -> Tree:
    """Libraries made up for the cases ldconfig treats specially."""
    tree = merged_usr()
    tree.add_file(f"{T}/libfoo.so.1.2.3", lib("libfoo.so.1", "libc.so.6"))
    tree.add_symlink(f"{T}/libfoo.so.1", "libfoo.so.1.2.3")
    tree.add_symlink(f"{T}/libfoo.so", "libfoo.so.1")  # the link for ld(1): its own entry
    tree.add_file(f"{T}/libnosoname.so.4", lib(None))  # keyed by its file name
    tree.add_file(f"{T}/libbar.so.2.0", lib("libbar.so.2"))  # no SONAME link: ldconfig's job
    tree.add_symlink(f"{T}/libweird.so.7", "libbar.so.2.0")  # neither SONAME nor ld(1) link
    tree.add_symlink(f"{T}/libdangling.so.1", "libgone.so.1")
    tree.add_file(f"{T}/libc.so", b"/* GNU ld script */\nGROUP ( libc.so.6 )\n")
    tree.add_file(f"{T}/libexe.so", make_elf(e_type=ET_EXEC, soname="libexe.so"))
    tree.add_file(f"{T}/libnodyn.so.1", make_elf(dynamic=False))
    tree.add_file(f"{T}/libarm.so.1", lib("libarm.so.1", machine="EM_AARCH64"))  # refused
    tree.add_file(f"{T}/libx32.so.1", lib("libx32.so.1", bits=32))  # EM_X86_64, 32-bit
    tree.add_file(f"{T}/notalib.so.1", lib("notalib.so.1"))  # not named like a library
    # (glibc before 2.37 flags a library that needs no libc.so.6 as plain "ELF")
    i386 = lib("libi.so.1", "libc.so.6", machine="EM_386", bits=32)
    tree.add_file("usr/lib/i386-linux-gnu/libi.so.1", i386)
    tree.add_file("etc/ld.so.conf.d/i386.conf", b"/usr/lib/i386-linux-gnu/\n")
    tree.add_file("usr/local/lib/libv.so.10", lib("libv.so.10"))
    tree.add_file("usr/local/lib/libv.so.9", lib("libv.so.9"))
    tree.add_file("usr/local/lib/libv.so.09a", lib("libv.so.09a"))
    tree.add_file("usr/local/lib/libdup.so.1", lib("libdup.so.1"))
    tree.add_file(f"{T}/libdup.so.1", lib("libdup.so.1"))  # same SONAME in two dirs
    tree.add_file(f"{T}/ld-linux-x86-64.so.2", lib("ld-linux-x86-64.so.2"))
    tree.add_file(f"{T}/libc.so.6", lib("libc.so.6", "ld-linux-x86-64.so.2"))
    v3 = f"{T}/glibc-hwcaps/x86-64-v3"
    tree.add_file(f"{v3}/libfoo.so.1.2.3", lib("libfoo.so.1", "libc.so.6", isa_needed=0b101))
    tree.add_symlink(f"{v3}/libfoo.so.1", "libfoo.so.1.2.3")
    tree.add_dir(f"{T}/glibc-hwcaps/x86-64-v2")  # empty, still named in the string table
    tree.add_file(f"{T}/glibc-hwcaps/README", b"regular files are ignored here\n")
    return tree


@needs_ldconfig
def test_crafted_libraries_give_ldconfigs_bytes(tmp_path):
    tree = _crafted_x86_tree()
    generator = host_generator()
    ours = ldcache.generate_ld_so_cache(tree, "amd64", generator=generator or "x")
    materialize(tree, tmp_path)
    theirs = run_ldconfig(tmp_path, "-X")
    assert_same_cache(ours, theirs, generator)
    names = [(name, flags) for name, flags, _ in ldcache.parse_ld_so_cache(ours)]
    assert ("libi.so.1", ldcache.FLAG_ELF_LIBC6) in names
    assert ("libx32.so.1", ldcache.FLAG_ELF_LIBC6 | ldcache.FLAG_X8664_LIBX32) in names
    assert not {"libarm.so.1", "libexe.so", "libnodyn.so.1", "notalib.so.1"} & {n for n, _ in names}


@needs_ldconfig
@pytest.mark.skipif(
    not os.path.exists(f"/{T}/libz.so.1"), reason="needs Debian's amd64 libc6 and zlib1g"
)
def test_real_host_libraries_give_ldconfigs_bytes(tmp_path):
    tree = merged_usr()
    tree.add_dir("usr/lib64")
    tree.add_symlink("lib64", "usr/lib64")
    for name in ("libz.so.1", "libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"):
        mirror(tree, f"/{T}/{name}")
    tree.add_symlink(f"{T}/libz.so", "libz.so.1")
    tree.add_symlink("usr/lib64/ld-linux-x86-64.so.2", f"/{T}/ld-linux-x86-64.so.2")
    generator = host_generator()
    ours = ldcache.generate_ld_so_cache(tree, "amd64", generator=generator or "x")
    materialize(tree, tmp_path)
    assert_same_cache(ours, run_ldconfig(tmp_path, "-X"), generator)
    assert [name for name, _, _ in ldcache.parse_ld_so_cache(ours)] == [
        "libz.so.1",
        "libz.so",
        "libm.so.6",
        "libc.so.6",
        "ld-linux-x86-64.so.2",
    ]


@needs_ldconfig
def test_empty_tree_gives_ldconfigs_bytes(tmp_path):
    tree = Tree()
    tree.add_dir("etc")
    generator = host_generator()
    ours = ldcache.generate_ld_so_cache(tree, "amd64", generator=generator or "x")
    materialize(tree, tmp_path)
    assert_same_cache(ours, run_ldconfig(tmp_path, "-X"), generator)
    assert ldcache.parse_ld_so_cache(ours) == []


@needs_ldconfig
@pytest.mark.skipif(not os.path.exists("/etc/ld.so.conf"), reason="needs a configured host")
def test_the_hosts_own_libraries_give_ldconfigs_bytes(tmp_path):
    """The whole host, as far as ldconfig looks at it (about 500 libraries on Debian)."""
    listing = subprocess.run(
        [LDCONFIG, "-v", "-N", "-X"], capture_output=True, text=True, check=True
    ).stdout
    scanned = [m[1] for m in re.finditer(r"^(/\S*):", listing, re.MULTILINE)]
    tree = Tree()
    configuration = ["/etc/ld.so.conf", *map(str, Path("/etc/ld.so.conf.d").glob("*"))]
    for path in configuration:
        mirror(tree, path)
    for directory in scanned:
        if "/glibc-hwcaps/" in directory:
            continue
        mirror(tree, directory)
        for name in sorted(os.listdir(directory)):
            if ldcache._is_dso_name(name) or name == "glibc-hwcaps":
                mirror(tree, f"{directory}/{name}")
    for directory in scanned:
        if "/glibc-hwcaps/" in directory:
            for name in sorted(os.listdir(directory)):
                mirror(tree, f"{directory}/{name}")
    generator = host_generator()
    ours = ldcache.generate_ld_so_cache(tree, "amd64", generator=generator or "x")
    subprocess.run(
        [LDCONFIG, "-X", "-C", str(tmp_path / "host.cache")], check=True, capture_output=True
    )
    assert_same_cache(ours, (tmp_path / "host.cache").read_bytes(), generator)


# ---- rules that need no ldconfig -----------------------------------------------------------


def test_flags_follow_each_architectures_ldconfig():
    def flags(arch: str, **kw) -> int | None:
        return ldcache.cache_flags(elf.read_elf("x", lib("libq.so.1", **kw)), arch)

    assert flags("amd64") == 0x0303
    assert flags("amd64", bits=32) == 0x0803
    assert flags("amd64", machine="EM_386", bits=32) == 0x0003
    assert flags("i386", machine="EM_386", bits=32) == 0x0003
    assert flags("amd64", machine="EM_AARCH64") is None
    assert flags("arm64", machine="EM_AARCH64") == 0x0A03
    assert flags("arm64", machine="EM_X86_64") == 0x0A03  # aarch64's ldconfig checks no machine
    assert flags("armhf", machine="EM_ARM", bits=32, e_flags=ARMHF_FLAGS) == 0x0903
    assert flags("armel", machine="EM_ARM", bits=32, e_flags=ARMEL_FLAGS) == 0x0B03
    assert flags("armhf", machine="EM_ARM", bits=32) == 0x0003
    assert flags("ppc64el", machine="EM_PPC64", e_flags=2) == 0x0503
    assert flags("s390x", machine="EM_S390", little=False) == 0x0403
    assert flags("riscv64", machine="EM_RISCV", e_flags=RISCV_DOUBLE) == 0x1003
    assert flags("riscv64", machine="EM_RISCV", e_flags=0) == 0x0F03
    assert flags("riscv64", machine="EM_RISCV", e_flags=0x2) is None  # single-float
    assert flags("riscv64", machine="EM_RISCV", e_flags=0x14) is None  # unknown flag bit
    executable = elf.read_elf("x", make_elf(e_type=ET_EXEC, soname="libq.so.1"))
    assert ldcache.cache_flags(executable, "amd64") is None


def test_libcmp_orders_numbers_by_value():
    assert ldcache.libcmp("libfoo.so.10", "libfoo.so.9") > 0
    assert ldcache.libcmp("libfoo.so.9", "libfoo.so.10") < 0
    assert ldcache.libcmp("libfoo.so.1", "libfoo.so.01") == 0
    assert ldcache.libcmp("libfoo.so.1", "libfoo.so.a") > 0  # a digit beats any other byte
    assert ldcache.libcmp("libfoo.so", "libfoo.so.1") < 0
    assert ldcache.libcmp("libb", "liba") > 0
    # Bytes above 0x7f are negative where char is signed (x86) and positive elsewhere.
    assert ldcache.libcmp(b"lib\xe9", b"libz", signed_char=True) < 0
    assert ldcache.libcmp(b"lib\xe9", b"libz", signed_char=False) > 0


def test_temporary_files_are_skipped():
    # Skipped since glibc 2.39 (Debian 13); the 2.36 of Debian 12 would still list them.
    tree = merged_usr()
    for name in (
        "libold.so.1.dpkg-new",
        "libold.so.1.dpkg-tmp",
        "libr.so.1;5f2a",
        "libp.so.1",
        "libp.so.1.#prelink#.Ab12Cd",
        "libq.so.#prelink#",
    ):
        tree.add_file(f"{T}/{name}", lib(name.split(".so")[0] + ".so.1"))
    cache = ldcache.parse_ld_so_cache(ldcache.generate_ld_so_cache(tree, "amd64"))
    assert [path for _, _, path in cache] == ["/lib/x86_64-linux-gnu/libp.so.1"]


def test_entries_sorted_as_ld_so_searches_them():
    tree = merged_usr()
    for name in ("libv.so.9", "libv.so.10", "liba.so.1", "libv.so.1"):
        tree.add_file(f"{T}/{name}", lib(name))
    cache = ldcache.parse_ld_so_cache(ldcache.generate_ld_so_cache(tree, "amd64"))
    assert [name for name, _, _ in cache] == [
        "libv.so.10",
        "libv.so.9",
        "libv.so.1",
        "liba.so.1",
    ]


def test_string_table_stores_each_tail_once():
    offsets, table = ldcache._string_table({b"libz.so.1", b"/lib/x/libz.so.1", b"libc.so.6"})
    assert table == b"libc.so.6\0/lib/x/libz.so.1\0"
    assert offsets[b"libz.so.1"] == offsets[b"/lib/x/libz.so.1"] + len(b"/lib/x/")


def test_configuration_is_read_like_ldconfig():
    tree = merged_usr(
        {
            "etc/ld.so.conf": "include ld.so.conf.d/*.conf\t/etc/extra.conf\n/opt/first//  \n",
            "etc/ld.so.conf.d/b.conf": "   /opt/b # trailing comment\nhwcap 0 nosegneg\n",
            "etc/ld.so.conf.d/a.conf": "/opt/a\n/lib/x86_64-linux-gnu\n",
            "etc/ld.so.conf.d/.hidden.conf": "/opt/hidden\n",
            "etc/ld.so.conf.d/c.txt": "/opt/c\n",
            "etc/extra.conf": "/opt/extra\n/opt/missing\n",
        }
    )
    for directory in ("opt/a", "opt/b", "opt/c", "opt/hidden", "opt/extra", "opt/first"):
        tree.add_dir(directory)
    tree.add_dir(T)
    assert ldcache.cache_directories(tree, "amd64") == [
        "/opt/a",
        "/lib/x86_64-linux-gnu",
        "/opt/b",
        "/opt/extra",
        "/opt/first",
        "/lib",
    ]


def test_without_ld_so_conf_debians_default_applies():
    tree = merged_usr(
        {"etc/ld.so.conf.d/x86_64-linux-gnu.conf": "/usr/local/lib/x86_64-linux-gnu\n"}
    )
    tree.add_dir("usr/local/lib/x86_64-linux-gnu")
    tree.add_dir(T)
    assert ldcache.cache_directories(tree, "amd64") == [
        "/usr/local/lib/x86_64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/lib",
    ]


def test_include_loops_are_refused():
    tree = merged_usr({"etc/ld.so.conf": "include /etc/ld.so.conf\n"})
    with pytest.raises(ImageCheckError, match="include loop"):
        ldcache.generate_ld_so_cache(tree, "amd64")


def test_arm64_cache():
    tree = merged_usr(
        {"etc/ld.so.conf.d/aarch64-linux-gnu.conf": "/usr/local/lib/aarch64-linux-gnu\n"}
    )
    triplet = "aarch64-linux-gnu"
    for name in ("libc.so.6", "ld-linux-aarch64.so.1", "libz.so.1"):
        tree.add_file(f"usr/lib/{triplet}/{name}", lib(name, machine="EM_AARCH64"))
    tree.add_file(f"usr/local/lib/{triplet}/libz.so.1", lib("libz.so.1", machine="EM_AARCH64"))
    data = ldcache.generate_ld_so_cache(tree, "arm64")
    assert ldcache.parse_ld_so_cache(data) == [
        ("libz.so.1", 0x0A03, f"/usr/local/lib/{triplet}/libz.so.1"),
        ("libz.so.1", 0x0A03, f"/lib/{triplet}/libz.so.1"),
        ("libc.so.6", 0x0A03, f"/lib/{triplet}/libc.so.6"),
        ("ld-linux-aarch64.so.1", 0x0A03, f"/lib/{triplet}/ld-linux-aarch64.so.1"),
    ]
    assert data[28] == 2  # little-endian flag
    assert data == ldcache.generate_ld_so_cache(tree, "arm64")  # deterministic


@needs_ldconfig
def test_host_ldconfig_prints_an_arm64_cache(tmp_path):
    # ldconfig -p reads a cache of any architecture with its own byte order.
    tree = merged_usr({})
    tree.add_file("usr/lib/aarch64-linux-gnu/libc.so.6", lib("libc.so.6", machine="EM_AARCH64"))
    armhf = lib("libm.so.6", machine="EM_ARM", bits=32, e_flags=ARMHF_FLAGS)
    tree.add_file("usr/lib/aarch64-linux-gnu/libm.so.6", armhf)
    (tmp_path / "ld.so.cache").write_bytes(ldcache.generate_ld_so_cache(tree, "arm64"))
    printed = subprocess.run(
        [LDCONFIG, "-p", "-C", str(tmp_path / "ld.so.cache")],
        check=True,
        capture_output=True,
        text=True,
        env={"LC_ALL": "C"},
    ).stdout.splitlines()
    assert [line.strip() for line in printed[1:]] == [
        "libm.so.6 (libc6,hard-float) => /lib/aarch64-linux-gnu/libm.so.6",
        "libc.so.6 (libc6,AArch64) => /lib/aarch64-linux-gnu/libc.so.6",
        f"Cache generated by: {ldcache.DEFAULT_GENERATOR}",
    ]


def test_s390x_cache_is_big_endian():
    tree = merged_usr({})
    tree.add_file(
        "usr/lib/s390x-linux-gnu/libc.so.6", lib("libc.so.6", machine="EM_S390", little=False)
    )
    data = ldcache.generate_ld_so_cache(tree, "s390x")
    assert data[28] == 3
    assert struct.unpack_from(">I", data, 20)[0] == 1
    assert ldcache.parse_ld_so_cache(data) == [
        ("libc.so.6", 0x0403, "/lib/s390x-linux-gnu/libc.so.6")
    ]


def test_generator_string_of_debian():
    assert ldcache.debian_ldconfig_generator("2.41-12") == (
        "ldconfig (Debian GLIBC 2.41-12) stable release version 2.41"
    )
    data = ldcache.generate_ld_so_cache(merged_usr(), "amd64")
    assert data.endswith(ldcache.DEFAULT_GENERATOR.encode())


def test_cache_directories_feed_the_library_check():
    tree = merged_usr()
    tree.add_file("usr/local/lib/libextra.so.1", lib("libextra.so.1"))
    tree.add_file(
        "usr/bin/tool", make_elf(needed=("libextra.so.1",), interp=None, e_type=ET_EXEC), 0o755
    )
    assert elf.missing_libraries(tree, "amd64") != []
    dirs = ldcache.cache_directories(tree, "amd64")
    assert elf.missing_libraries(tree, "amd64", extra_dirs=dirs) == []
