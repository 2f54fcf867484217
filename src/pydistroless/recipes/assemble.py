"""Assemble: from a locked package set and its ``.deb`` files to the image's file tree.

Packages are unpacked in name order into an in-memory :class:`Tree` (never onto the host),
then, in this order: the files maintainer scripts would have made are generated, the slices
nobody needs are cut, ``ld.so.cache`` is written for what is left, every ELF object's shared
libraries are checked to be present, the standard library is byte-compiled, and the scanner
metadata is written last so that it describes exactly the files that remain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydistroless.core.report import log
from pydistroless.debian.deb import DebPackage
from pydistroless.debian.rootfs import unpack, unused_libraries
from pydistroless.debian.status import add_status_d
from pydistroless.fs import generate, slicing
from pydistroless.fs.elf import ElfReader, check_libraries, scan
from pydistroless.fs.ldcache import cache_directories, generate_ld_so_cache
from pydistroless.fs.tree import Kind, Tree
from pydistroless.python import bytecode, debian_python, stdlib_zip
from pydistroless.recipes.lock import ArchLock, Lock
from pydistroless.recipes.sbom import (
    SBOM_DIR,
    SbomPackage,
    SbomSubject,
    UpstreamPython,
    add_cpython,
    file_name,
    licenses_from_copyright,
    render,
)
from pydistroless.recipes.spec import ImageSpec


@dataclass(frozen=True)
class Assembly:
    tree: Tree
    sbom: bytes  # the SBOM document that is also inside the tree


def assemble(
    spec: ImageSpec,
    lock: Lock,
    arch_lock: ArchLock,
    debs: Sequence[DebPackage],
    extra_certs: Sequence[tuple[str, bytes]] = (),
    *,
    image_name: str,
    created: int,
    host_tree: Tree | None = None,
    pyc_ready: Callable[[], dict[str, bytes]] | None = None,
    python_tree: Tree | None = None,
    elf_reader: ElfReader | None = None,
) -> Assembly:
    """``python_tree`` is a Python compiled from source (:mod:`pydistroless.python.cpython`),
    for a lock without Debian's."""
    arch = arch_lock.arch
    ordered = tuple(sorted(debs, key=lambda d: d.name))
    tree = unpack(ordered)

    if python_tree is None:
        debian_python.add_python_links(tree, arch_lock.python)
    else:
        for entry in python_tree.entries():
            if entry.kind is not Kind.DIR or entry.path not in tree:
                tree.add(entry)
    generate.add_accounts(tree, spec.uid)
    generate.add_ca_bundle(tree, extra_certs)
    generate.add_system_files(
        tree,
        generate.OsInfo(
            debian_major=lock.debian_major,
            debian_version=lock.debian_version,
            codename=lock.codename,
            image_name=f"Python {arch_lock.python}",
        ),
    )
    if spec.variant in ("debug", "builder"):
        generate.add_busybox_links(tree)
    if spec.variant == "builder" and tree.get("usr/bin/sh") is None:
        # `RUN` in a Dockerfile runs /bin/sh: busybox's, as no Debian shell is installed.
        tree.add_symlink("usr/bin/sh", "busybox")
    if spec.variant == "builder":
        # A build stage's Python is there to be installed into, as python:X-slim's is: no
        # PEP 668 marker asking for --break-system-packages.
        tree.remove_entries(
            [e.path for e in tree.entries() if e.path.endswith("/EXTERNALLY-MANAGED")]
        )

    slicing.cut(tree, spec.kept)
    elves = scan(tree, elf_reader)
    if spec.cuts("unused-libs"):
        unused = unused_libraries(tree, arch, elves=elves, asked=spec.whole_packages)
        tree.remove_entries(unused)
        elves = {p: info for p, info in elves.items() if p in tree}
    tree.add_file("etc/ld.so.cache", generate_ld_so_cache(tree, arch, elves=elves))
    check_libraries(tree, arch, extra_dirs=cache_directories(tree, arch), elves=elves)
    debian_python.check_entrypoint(tree, arch_lock.python)
    report = bytecode.CompileReport(0, 0, "")
    sourceless = spec.pyc and spec.cuts("stdlib-sources")
    if sourceless:
        stdlib_zip.add_hook(tree, arch_lock.python)
    if spec.pyc:
        report = bytecode.compile_stdlib(
            tree,
            arch_lock.python,
            arch,
            host_tree=host_tree,
            memo=pyc_ready() if pyc_ready else None,
            compiler_id=arch_lock.python_package_version,
        )
    if report.compiled:
        log(f"{arch}: {report.compiled} .pyc, compiled by {report.compiler}")
    # Without .pyc the stdlib stays as Debian ships it: there is nothing to run in place of
    # the sources.
    if sourceless and report.compiled:
        stdlib_zip.zip_stdlib(tree, arch_lock.python)
    elif sourceless:
        stdlib_zip.remove_hook(tree, arch_lock.python)
    document = render(
        spec.sbom_format,
        SbomSubject(image_name, arch, lock.debian_major, created),
        sbom_packages(arch_lock, ordered),
    )
    source = arch_lock.python_source
    if source is not None:
        upstream = UpstreamPython(source.version, source.published_url, source.sha256)
        document = add_cpython(document, upstream, fmt=spec.sbom_format)
    tree.add_file(f"{SBOM_DIR}/{file_name(spec.sbom_format)}", document)
    add_status_d(tree, ordered)
    return Assembly(tree=tree, sbom=document)


def sbom_packages(arch_lock: ArchLock, debs: Sequence[DebPackage]) -> list[SbomPackage]:
    copyright_of = {
        deb.name: next(
            (e.data for e in deb.entries if e.path == f"usr/share/doc/{deb.name}/copyright"),
            b"",
        )
        for deb in debs
    }
    return [
        SbomPackage(
            name=p.name,
            version=p.version,
            architecture=p.architecture,
            source=p.source,
            source_version=p.source_version,
            url=p.url,
            sha256=p.sha256,
            licenses=licenses_from_copyright(
                copyright_of.get(p.name, b"").decode("utf-8", errors="replace")
            ),
        )
        for p in arch_lock.packages
    ]
