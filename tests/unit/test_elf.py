"""Tests for pydistroless.fs.elf: reading ELF files and emulating ld.so's library search."""

from __future__ import annotations

import os
import platform
import struct

import pytest

from pydistroless.core.errors import ImageCheckError, UsageError
from pydistroless.fs import elf
from pydistroless.fs.elf import MissingLibrary
from pydistroless.fs.tree import Entry, Kind, Tree

# ---- a tiny ELF writer ---------------------------------------------------------------------

EM = {
    "EM_386": 3,
    "EM_ARM": 40,
    "EM_X86_64": 62,
    "EM_AARCH64": 183,
    "EM_PPC64": 21,
    "EM_S390": 22,
    "EM_RISCV": 243,
}
ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_GNU_PROPERTY = 1, 2, 3, 0x6474E553
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH = 0, 1, 5, 10, 14, 15
DT_RUNPATH, DT_FLAGS_1 = 29, 0x6FFFFFFB
DF_1_PIE = 0x08000000
ARMHF_FLAGS = 0x05000400  # EABI version 5, hard-float
ARMEL_FLAGS = 0x05000200  # EABI version 5, soft-float
RISCV_DOUBLE = 0x5  # RVC + double-float ABI


def make_elf(
    machine: str = "EM_X86_64",
    *,
    bits: int = 64,
    little: bool = True,
    e_type: int = ET_DYN,
    e_flags: int = 0,
    soname: str | None = None,
    needed: tuple[str, ...] = (),
    runpath: str | None = None,
    rpath: str | None = None,
    interp: str | None = None,
    flags_1: int = 0,
    isa_needed: int | None = None,
    dynamic: bool = True,
) -> bytes:
    """A minimal ELF file (no sections) that pyelftools, ld.so's rules and ldconfig read:
    one PT_LOAD mapping the whole file at address 0, so file offsets are addresses."""
    o = "<" if little else ">"
    word = "Q" if bits == 64 else "I"
    ehsize, phentsize = (64, 56) if bits == 64 else (52, 32)
    strings = bytearray(b"\0")

    def string(s: str) -> int:
        strings.extend(s.encode() + b"\0")
        return len(strings) - len(s) - 1

    tags = [(DT_NEEDED, string(n)) for n in needed]
    if soname is not None:
        tags.append((DT_SONAME, string(soname)))
    if runpath is not None:
        tags.append((DT_RUNPATH, string(runpath)))
    if rpath is not None:
        tags.append((DT_RPATH, string(rpath)))
    if flags_1:
        tags.append((DT_FLAGS_1, flags_1))
    segments = [PT_LOAD] + ([PT_INTERP] if interp else []) + ([PT_DYNAMIC] if dynamic else [])
    segments += [PT_GNU_PROPERTY] if isa_needed is not None else []
    offset = ehsize + phentsize * len(segments)
    interp_bytes = interp.encode() + b"\0" if interp else b""
    interp_at = offset
    offset += len(interp_bytes)
    note = b""
    if isa_needed is not None:
        offset = (offset + 7) // 8 * 8
        prop = struct.pack(o + "III", 0xC0008002, 4, isa_needed) + b"\0" * (4 if bits == 64 else 0)
        note = struct.pack(o + "III", 4, len(prop), 5) + b"GNU\0" + prop
    note_at = offset
    offset += len(note)
    strtab_at = offset
    offset += len(strings)
    offset = (offset + 7) // 8 * 8
    dyn_at = offset
    tags += [(DT_STRTAB, strtab_at), (DT_STRSZ, len(strings)), (DT_NULL, 0)]
    dyn = b"".join(struct.pack(o + ("qQ" if bits == 64 else "iI"), t, v) for t, v in tags)
    total = dyn_at + len(dyn)

    def phdr(p_type: int, off: int, size: int, align: int) -> bytes:
        if bits == 64:
            return struct.pack(o + "IIQQQQQQ", p_type, 4, off, off, off, size, size, align)
        return struct.pack(o + "IIIIIIII", p_type, off, off, off, size, size, 4, align)

    headers = {
        PT_LOAD: phdr(PT_LOAD, 0, total, 0x1000),
        PT_INTERP: phdr(PT_INTERP, interp_at, len(interp_bytes), 1),
        PT_DYNAMIC: phdr(PT_DYNAMIC, dyn_at, len(dyn), 8),
        PT_GNU_PROPERTY: phdr(PT_GNU_PROPERTY, note_at, len(note), bits // 8),
    }
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1 if little else 2, 1]) + b"\0" * 9
    header = ident + struct.pack(
        o + "HHI" + word * 3 + "IHHHHHH",
        e_type,
        EM[machine],
        1,
        0,
        ehsize,
        0,
        e_flags,
        ehsize,
        phentsize,
        len(segments),
        0,
        0,
        0,
    )
    out = bytearray(header + b"".join(headers[s] for s in segments))
    out += interp_bytes
    out += b"\0" * (note_at - len(out)) + note
    out += strings
    out += b"\0" * (dyn_at - len(out)) + dyn
    return bytes(out)


def lib(soname: str | None, *needed: str, **kw) -> bytes:
    return make_elf(soname=soname, needed=needed, **kw)


def program(*needed: str, interp: str = "/lib64/ld-linux-x86-64.so.2", **kw) -> bytes:
    return make_elf(e_type=ET_DYN, needed=needed, interp=interp, flags_1=DF_1_PIE, **kw)


T = "usr/lib/x86_64-linux-gnu"


def merged_usr_image() -> Tree:
    """A merged-/usr amd64 tree holding a loader, libc and a program needing libc."""
    tree = Tree()
    for link, target in (("lib", "usr/lib"), ("bin", "usr/bin"), ("lib64", "usr/lib64")):
        tree.add_dir(target)
        tree.add_symlink(link, target)
    tree.add_file(f"{T}/ld-linux-x86-64.so.2", lib("ld-linux-x86-64.so.2"), 0o755)
    tree.add_symlink("usr/lib64/ld-linux-x86-64.so.2", f"/{T}/ld-linux-x86-64.so.2")
    tree.add_file(f"{T}/libc.so.6", lib("libc.so.6", "ld-linux-x86-64.so.2"))
    tree.add_file("usr/bin/python3.13", program("libc.so.6", "libm.so.6"), 0o755)
    tree.add_symlink("usr/bin/python3", "python3.13")
    tree.add_file(f"{T}/libm.so.6", lib("libm.so.6", "libc.so.6"))
    return tree


# ---- reading -------------------------------------------------------------------------------


def test_non_elf_and_broken_elf_read_as_none():
    assert elf.read_elf("usr/bin/script", b"#!/usr/bin/python3\n") is None
    assert elf.read_elf("empty", b"") is None
    assert elf.read_elf("usr/lib/libbroken.so.1", b"\x7fELF\x02\x01\x01" + b"\xff" * 20) is None
    truncated = lib("libz.so.1")[:100]
    assert elf.read_elf("usr/lib/libz.so.1", truncated) is None


def test_shared_object_facts():
    data = lib("libfoo.so.1", "libc.so.6", "libbar.so.2", runpath="$ORIGIN/../lib::/opt/x")
    info = elf.read_elf("usr/lib/libfoo.so.1", data)
    assert info == elf.ElfInfo(
        path="usr/lib/libfoo.so.1",
        machine="EM_X86_64",
        elf_class=64,
        little_endian=True,
        elf_type="ET_DYN",
        flags=0,
        soname="libfoo.so.1",
        needed=("libc.so.6", "libbar.so.2"),
        runpath=("$ORIGIN/../lib", "/opt/x"),
        runpath_tag="DT_RUNPATH",
        interpreter=None,
        has_dynamic=True,
        is_shared_object=True,
        is_executable=False,
        isa_level=0,
    )


def test_runpath_hides_rpath_and_rpath_alone_is_kept():
    both = elf.read_elf("x", lib("libx.so", runpath="/run", rpath="/r1:/r2"))
    assert (both.runpath, both.runpath_tag) == (("/run",), "DT_RUNPATH")
    only_rpath = elf.read_elf("x", lib("libx.so", rpath="/r1:/r2"))
    assert (only_rpath.runpath, only_rpath.runpath_tag) == (("/r1", "/r2"), "DT_RPATH")
    neither = elf.read_elf("x", lib("libx.so"))
    assert (neither.runpath, neither.runpath_tag) == ((), None)


def test_executables_and_shared_objects_are_told_apart():
    exe = elf.read_elf("a", make_elf(e_type=ET_EXEC, interp="/lib/ld-linux.so.2"))
    pie = elf.read_elf("b", program("libc.so.6"))
    old_pie = elf.read_elf("c", make_elf(interp="/lib64/ld-linux-x86-64.so.2"))
    libc_like = elf.read_elf("d", lib("libc.so.6", interp="/lib64/ld-linux-x86-64.so.2"))
    static = elf.read_elf("e", make_elf(e_type=ET_EXEC, dynamic=False))
    assert (exe.is_executable, exe.is_shared_object, exe.interpreter) == (
        True,
        False,
        "/lib/ld-linux.so.2",
    )
    assert (pie.is_executable, pie.is_shared_object) == (True, False)
    assert (old_pie.is_executable, old_pie.is_shared_object) == (True, False)
    assert (libc_like.is_executable, libc_like.is_shared_object) == (False, True)
    assert (static.has_dynamic, static.needed, static.interpreter) == (False, (), None)


@pytest.mark.parametrize(
    ("machine", "bits", "little", "flags"),
    [
        ("EM_AARCH64", 64, True, 0),
        ("EM_ARM", 32, True, ARMHF_FLAGS),
        ("EM_386", 32, True, 0),
        ("EM_S390", 64, False, 0),
        ("EM_PPC64", 64, True, 2),
        ("EM_RISCV", 64, True, RISCV_DOUBLE),
    ],
)
def test_other_architectures(machine, bits, little, flags):
    info = elf.read_elf(
        "x", lib("libq.so.3", "libc.so.6", machine=machine, bits=bits, little=little, e_flags=flags)
    )
    assert (info.machine, info.elf_class, info.little_endian, info.flags) == (
        machine,
        bits,
        little,
        flags,
    )
    assert (info.soname, info.needed) == ("libq.so.3", ("libc.so.6",))


def test_x86_isa_level_is_the_highest_needed_bit():
    # GNU_PROPERTY_X86_ISA_1_NEEDED bits: baseline 1, v2 2, v3 4, v4 8.
    assert elf.read_elf("x", lib("libv3.so", isa_needed=0b0101)).isa_level == 2
    assert elf.read_elf("x", lib("libv4.so", isa_needed=0b1000)).isa_level == 3
    assert elf.read_elf("x", lib("libbase.so", isa_needed=0)).isa_level == 0


@pytest.mark.skipif(
    platform.machine() != "x86_64" or not os.path.exists("/usr/lib/x86_64-linux-gnu/libc.so.6"),
    reason="needs a Debian amd64 host",
)
def test_real_libc_and_loader():
    with open("/usr/lib/x86_64-linux-gnu/libc.so.6", "rb") as f:
        info = elf.read_elf("usr/lib/x86_64-linux-gnu/libc.so.6", f.read())
    assert info.soname == "libc.so.6"
    assert "ld-linux-x86-64.so.2" in info.needed
    assert info.is_shared_object and info.machine == "EM_X86_64"


def test_scan_finds_elf_files_and_their_hard_links():
    tree = Tree()
    tree.add_file("usr/lib/libz.so.1", lib("libz.so.1"))
    tree.add_file("usr/bin/tool", b"#!/bin/sh\n", 0o755)
    tree.add(Entry("usr/lib/libz-copy.so.1", Kind.HARDLINK, 0o644, target="usr/lib/libz.so.1"))
    tree.add_symlink("usr/lib/libz.so", "libz.so.1")
    found = elf.scan(tree)
    assert sorted(found) == ["usr/lib/libz-copy.so.1", "usr/lib/libz.so.1"]
    assert found["usr/lib/libz-copy.so.1"].path == "usr/lib/libz-copy.so.1"
    assert found["usr/lib/libz-copy.so.1"].soname == "libz.so.1"


# ---- architectures -------------------------------------------------------------------------


def test_multiarch_triplets_and_default_dirs():
    assert elf.multiarch_triplet("amd64") == "x86_64-linux-gnu"
    assert elf.multiarch_triplet("arm64") == "aarch64-linux-gnu"
    assert elf.multiarch_triplet("armhf") == "arm-linux-gnueabihf"
    assert elf.multiarch_triplet("armel") == "arm-linux-gnueabi"
    assert elf.multiarch_triplet("i386") == "i386-linux-gnu"
    assert elf.multiarch_triplet("ppc64el") == "powerpc64le-linux-gnu"
    assert elf.multiarch_triplet("s390x") == "s390x-linux-gnu"
    assert elf.multiarch_triplet("riscv64") == "riscv64-linux-gnu"
    assert elf.default_search_dirs("arm64") == (
        "lib/aarch64-linux-gnu",
        "usr/lib/aarch64-linux-gnu",
        "lib",
        "usr/lib",
    )
    with pytest.raises(UsageError, match="unknown Debian architecture 'sparc'"):
        elf.multiarch_triplet("sparc")


def test_float_abi_decides_on_arm_and_riscv():
    hard = elf.read_elf("x", lib("libh.so", machine="EM_ARM", bits=32, e_flags=ARMHF_FLAGS))
    soft = elf.read_elf("x", lib("libs.so", machine="EM_ARM", bits=32, e_flags=ARMEL_FLAGS))
    assert elf.architecture("armhf").accepts(hard) and not elf.architecture("armhf").accepts(soft)
    assert elf.architecture("armel").accepts(soft) and not elf.architecture("armel").accepts(hard)
    rv_soft = elf.read_elf("x", lib("libr.so", machine="EM_RISCV", e_flags=1))
    assert not elf.architecture("riscv64").accepts(rv_soft)
    s390 = elf.read_elf("x", lib("libs.so", machine="EM_S390", little=False))
    assert elf.architecture("s390x").accepts(s390)
    assert not elf.architecture("amd64").accepts(s390)


# ---- the search ----------------------------------------------------------------------------


def test_complete_image_has_nothing_missing():
    tree = merged_usr_image()
    assert elf.missing_libraries(tree, "amd64") == []
    elf.check_libraries(tree, "amd64")
    assert elf.needed_closure(tree, "amd64", ["usr/bin/python3"]) == {
        "ld-linux-x86-64.so.2": f"{T}/ld-linux-x86-64.so.2",
        "libc.so.6": f"{T}/libc.so.6",
        "libm.so.6": f"{T}/libm.so.6",
    }


def test_missing_library_is_named_with_its_user():
    tree = merged_usr_image()
    ssl = "usr/lib/python3.13/lib-dynload/_ssl.cpython-313-x86_64-linux-gnu.so"
    tree.add_file(ssl, lib(None, "libssl.so.3", "libcrypto.so.3", "libc.so.6"))
    tree.add_file(f"{T}/libcrypto.so.3", lib("libcrypto.so.3", "libc.so.6"))
    assert elf.missing_libraries(tree, "amd64") == [MissingLibrary(ssl, "libssl.so.3")]
    with pytest.raises(ImageCheckError) as raised:
        elf.check_libraries(tree, "amd64")
    assert str(raised.value) == (
        f"{ssl} needs libssl.so.3, which is not in the image; "
        "add the package that provides it with --package"
    )


def test_many_missing_libraries_are_summarised():
    tree = merged_usr_image()
    for i in range(4):
        tree.add_file(f"usr/lib/python3/plugins/p{i}.so", lib(None, "libx.so.1", f"liby{i}.so"))
    message = _check_message(tree)
    assert message == (
        "5 needed libraries are not in the image: "
        "libx.so.1 (needed by usr/lib/python3/plugins/p0.so, usr/lib/python3/plugins/p1.so "
        "and 2 more); liby0.so (needed by usr/lib/python3/plugins/p0.so); "
        "liby1.so (needed by usr/lib/python3/plugins/p1.so) and 2 more; "
        "add the packages that provide them with --package"
    )
    tree = merged_usr_image()
    tree.add_file("usr/lib/a.so", lib(None, "libx.so.1"))
    tree.add_file("usr/lib/b.so", lib(None, "libx.so.1"))
    assert _check_message(tree) == (
        "libx.so.1 is needed by usr/lib/a.so, usr/lib/b.so but is not in the image; "
        "add the package that provides it with --package"
    )


def _check_message(tree: Tree) -> str:
    with pytest.raises(ImageCheckError) as raised:
        elf.check_libraries(tree, "amd64")
    return str(raised.value)


def test_library_of_another_architecture_is_skipped_like_ld_so_does():
    tree = merged_usr_image()
    tree.add_file("usr/bin/tool", program("libfoo.so.1"), 0o755)
    tree.add_file(f"{T}/libfoo.so.1", lib("libfoo.so.1", machine="EM_AARCH64"))
    [item] = elf.missing_libraries(tree, "amd64")
    assert item == MissingLibrary("usr/bin/tool", "libfoo.so.1", (f"{T}/libfoo.so.1",))
    assert "is not a shared library the amd64 (EM_X86_64, 64-bit) loader can use" in (
        _check_message(tree)
    )
    # A usable copy later on the search path is what the loader takes.
    tree.add_file("usr/lib/libfoo.so.1", lib("libfoo.so.1"))
    assert elf.missing_libraries(tree, "amd64") == []
    assert elf.needed_closure(tree, "amd64", ["usr/bin/tool"])["libfoo.so.1"] == (
        "usr/lib/libfoo.so.1"
    )


def test_files_for_other_machines_are_not_checked():
    tree = merged_usr_image()
    arm = "usr/share/doc/fixtures/arm.bin"
    tree.add_file(arm, program("libc.so.6", "libnothere.so", machine="EM_AARCH64"))
    assert elf.missing_libraries(tree, "amd64") == []
    assert elf.needed_closure(tree, "amd64", [arm]) == {}
    with pytest.raises(ImageCheckError, match="EM_AARCH64 64-bit file, which the amd64 "):
        elf.missing_libraries(tree, "amd64", only=[arm])


def test_missing_interpreter_is_reported():
    tree = merged_usr_image()
    tree.remove("lib64")
    assert elf.missing_libraries(tree, "amd64") == [
        MissingLibrary("usr/bin/python3.13", "/lib64/ld-linux-x86-64.so.2")
    ]


def test_static_programs_need_nothing():
    tree = Tree()
    tree.add_file("usr/bin/static", make_elf(e_type=ET_EXEC, dynamic=False), 0o755)
    assert elf.missing_libraries(tree, "amd64") == []


def test_wheel_libraries_found_through_runpath_origin():
    tree = merged_usr_image()
    site = "usr/lib/python3/dist-packages"
    ext = f"{site}/numpy/_core/_multiarray_umath.cpython-313-x86_64-linux-gnu.so"
    tree.add_file(
        ext,
        lib(
            None,
            "libscipy_openblas-1a2b.so",
            "libgfortran-3c4d.so.5",
            "libc.so.6",
            runpath="$ORIGIN/../../numpy.libs",
        ),
    )
    libs = f"{site}/numpy.libs"
    # The vendored BLAS has no RUNPATH: its Fortran runtime is found because the extension
    # module loaded it first, which is how auditwheel-repaired wheels work.
    tree.add_file(
        f"{libs}/libscipy_openblas-1a2b.so",
        lib("libscipy_openblas-1a2b.so", "libgfortran-3c4d.so.5", "libm.so.6"),
    )
    tree.add_file(f"{libs}/libgfortran-3c4d.so.5", lib("libgfortran-3c4d.so.5", "libc.so.6"))
    assert elf.missing_libraries(tree, "amd64", only=[ext]) == []
    assert elf.missing_libraries(tree, "amd64") == []
    assert elf.needed_closure(tree, "amd64", [ext]) == {
        "libscipy_openblas-1a2b.so": f"{libs}/libscipy_openblas-1a2b.so",
        "libgfortran-3c4d.so.5": f"{libs}/libgfortran-3c4d.so.5",
        "libc.so.6": f"{T}/libc.so.6",
        "libm.so.6": f"{T}/libm.so.6",
        "ld-linux-x86-64.so.2": f"{T}/ld-linux-x86-64.so.2",
    }
    # Without the extension module loading it first, nothing tells ld.so where it is.
    tree.add_file(ext, lib(None, "libscipy_openblas-1a2b.so", runpath="${ORIGIN}/../../numpy.libs"))
    assert elf.missing_libraries(tree, "amd64", only=[ext]) == [
        MissingLibrary(f"{libs}/libscipy_openblas-1a2b.so", "libgfortran-3c4d.so.5")
    ]


def test_origin_is_where_the_object_was_found_not_where_links_lead():
    tree = merged_usr_image()
    tree.add_file(
        "opt/app/real/libplugin.so", lib("libplugin.so", "libhelper.so", runpath="$ORIGIN/helpers")
    )
    tree.add_symlink(f"{T}/libplugin.so", "/opt/app/real/libplugin.so")
    tree.add_file(f"{T}/helpers/libhelper.so", lib("libhelper.so"))
    tree.add_file("usr/bin/app", program("libplugin.so"), 0o755)
    assert elf.missing_libraries(tree, "amd64", only=["usr/bin/app"]) == []
    assert elf.needed_closure(tree, "amd64", ["usr/bin/app"])["libhelper.so"] == (
        f"{T}/helpers/libhelper.so"
    )


def test_lib_token_expands_to_the_multiarch_dir_and_platform_is_unknowable():
    tree = merged_usr_image()
    tree.add_file(f"opt/lib/{elf.multiarch_triplet('amd64')}/libq.so", lib("libq.so"))
    tree.add_file("opt/x86_64/libp.so", lib("libp.so"))
    tree.add_file("usr/bin/q", program("libq.so", runpath="/opt/$LIB"), 0o755)
    tree.add_file("usr/bin/p", program("libp.so", runpath="/opt/$PLATFORM"), 0o755)
    assert elf.missing_libraries(tree, "amd64") == [MissingLibrary("usr/bin/p", "libp.so")]


def test_rpath_of_the_program_serves_its_libraries_but_runpath_does_not():
    tree = merged_usr_image()
    tree.add_file("opt/app/lib/liba.so", lib("liba.so", "libb.so"))
    tree.add_file("opt/app/lib/libb.so", lib("libb.so"))
    tree.add_file("opt/app/bin/app", program("liba.so", rpath="$ORIGIN/../lib"), 0o755)
    assert elf.missing_libraries(tree, "amd64", only=["opt/app/bin/app"]) == []
    tree.add_file("opt/app/bin/app", program("liba.so", runpath="$ORIGIN/../lib"), 0o755)
    assert elf.missing_libraries(tree, "amd64", only=["opt/app/bin/app"]) == [
        MissingLibrary("opt/app/lib/liba.so", "libb.so")
    ]


def test_extra_dirs_stand_for_the_ld_so_cache():
    tree = merged_usr_image()
    tree.add_file("usr/local/lib/libextra.so.1", lib("libextra.so.1", "libc.so.6"))
    tree.add_file("usr/bin/x", program("libextra.so.1"), 0o755)
    assert elf.missing_libraries(tree, "amd64") == [MissingLibrary("usr/bin/x", "libextra.so.1")]
    assert elf.missing_libraries(tree, "amd64", extra_dirs=["/usr/local/lib"]) == []


def test_roots_may_be_links_but_must_be_elf():
    tree = merged_usr_image()
    tree.add_file("usr/bin/script", b"#!/usr/bin/python3\n", 0o755)
    assert elf.missing_libraries(tree, "amd64", only=["/usr/bin/python3"]) == []
    with pytest.raises(ImageCheckError, match="usr/bin/script: it is not ELF"):
        elf.missing_libraries(tree, "amd64", only=["usr/bin/script"])
    with pytest.raises(ImageCheckError, match="usr/bin/nothere: it is not in the image"):
        elf.missing_libraries(tree, "amd64", only=["usr/bin/nothere"])


def test_needed_names_with_a_slash_are_paths():
    tree = merged_usr_image()
    tree.add_file("opt/x/libabs.so", lib("libabs.so"))
    tree.add_file("usr/bin/abs", program("/opt/x/libabs.so", "/opt/x/libgone.so"), 0o755)
    assert elf.missing_libraries(tree, "amd64") == [
        MissingLibrary("usr/bin/abs", "/opt/x/libgone.so")
    ]


def test_arm64_image():
    tree = Tree()
    triplet = "aarch64-linux-gnu"
    tree.add_dir("usr/lib")
    tree.add_symlink("lib", "usr/lib")
    loader = "/lib/ld-linux-aarch64.so.1"
    tree.add_file(
        f"usr/lib/{triplet}/ld-linux-aarch64.so.1",
        lib("ld-linux-aarch64.so.1", machine="EM_AARCH64"),
    )
    tree.add_symlink("usr/lib/ld-linux-aarch64.so.1", f"{triplet}/ld-linux-aarch64.so.1")
    tree.add_file(
        f"usr/lib/{triplet}/libc.so.6",
        lib("libc.so.6", "ld-linux-aarch64.so.1", machine="EM_AARCH64"),
    )
    tree.add_file(
        "usr/bin/python3.13", program("libc.so.6", interp=loader, machine="EM_AARCH64"), 0o755
    )
    assert elf.missing_libraries(tree, "arm64") == []
    # The same tree seen as amd64 has no program to check: every file is for another machine.
    assert elf.missing_libraries(tree, "amd64") == []
    assert elf.needed_closure(tree, "arm64", ["usr/bin/python3.13"]) == {
        "ld-linux-aarch64.so.1": f"usr/lib/{triplet}/ld-linux-aarch64.so.1",
        "libc.so.6": f"usr/lib/{triplet}/libc.so.6",
    }
