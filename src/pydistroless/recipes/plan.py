"""Plan: from an :class:`ImageSpec` to a :class:`Lock`.

Reads the signed Release files of ``<suite>``, ``<suite>-updates`` and ``<suite>-security``,
merges their package indexes (the highest version of each package wins), picks the Python
and resolves the package closure, per architecture. A resolution is cached under the digests
of the exact Release files it came from, so an unchanged archive is not parsed again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pydistroless.core.cache import cache_key
from pydistroless.core.report import log
from pydistroless.debian.archive import Release
from pydistroless.debian.resolve import Requirement, resolve
from pydistroless.debian.rootfs import library_use, reachable
from pydistroless.debian.store import LockedPackage, Store, load_index, load_releases, locked
from pydistroless.fs.elf import ElfReader
from pydistroless.python import debian_python, tools
from pydistroless.python.source import Tarball
from pydistroless.recipes import origin
from pydistroless.recipes.lock import (
    ArchLock,
    Lock,
    ReleaseInfo,
    arch_from_json,
    arch_json,
    runtime_of,
)
from pydistroless.recipes.spec import ImageSpec

# Told the architecture and the closure as soon as it is resolved, before pruning: lets a
# caller start work that needs only the packages (byte-compiling the stdlib) early.
OnResolved = Callable[[str, tuple[LockedPackage, ...]], None]


def plan(
    spec: ImageSpec,
    ctx: Store,
    *,
    on_resolved: OnResolved | None = None,
    elf_reader: ElfReader | None = None,
) -> Lock:
    releases = load_releases(ctx.archive, ctx.mirrors, spec.suite)
    main = releases[0]
    tarballs: dict[str, Tarball] = {}  # looked up once for all architectures
    arch_locks = tuple(
        _plan_arch(spec, arch, releases, ctx, on_resolved, tarballs, elf_reader)
        for arch in spec.archs
    )
    return Lock(
        suite=spec.suite,
        codename=main.codename or spec.suite,
        debian_version=main.version,
        releases=tuple(
            ReleaseInfo(r.suite, r.date, r.version, r.inrelease_sha256) for r in releases
        ),
        archs=arch_locks,
    )


def _plan_arch(
    spec: ImageSpec,
    arch: str,
    releases: list[Release],
    ctx: Store,
    on_resolved: OnResolved | None,
    tarballs: dict[str, Tarball],
    elf_reader: ElfReader | None,
) -> ArchLock:
    key = cache_key(
        {
            "releases": [r.inrelease_sha256 for r in releases],
            "arch": arch,
            "python": spec.python_label,
            "packages": sorted(spec.packages),
            "exclude": sorted(spec.exclude),
            "variant": spec.variant,
            "keep": list(spec.kept),
            "python-from": [
                spec.python_from,
                spec.source_url,
                spec.source_sha256,
                spec.source_signature,
                spec.optimize_python,
            ],
        }
    )
    cached = ctx.cache.get_checked_record(arch_from_json, "resolutions", key)
    if cached is not None and cached.arch == arch:
        if cached.python_source is not None:  # say why, as the first resolution did
            known = {spec.python or cached.minor: Tarball.of(cached.python_source)}
            index = load_index(ctx.archive, releases, arch)
            tarballs.update({**known, **tarballs})
            origin.upstream_python(spec, arch, cached.minor, index, ctx, tarballs)
        return cached
    index = load_index(ctx.archive, releases, arch)
    python = spec.python_minor or debian_python.default_python(index, spec.suite)
    source = origin.upstream_python(spec, arch, python, index, ctx, tarballs)
    trees: dict[str, tuple[LockedPackage, ...]] = {}
    if source is None:
        debian_python.check_available(index, python, spec.suite)
        roots = [*debian_python.root_packages(python, spec.variant)]
    else:
        libraries, trees = origin.compiled_libraries(spec, source, arch, ctx)
        roots = [*debian_python.source_root_packages(spec.variant)]
        roots += [Requirement(n) for n in libraries]
    roots += [Requirement.parse(p) for p in spec.packages]
    resolution = resolve(index, roots, exclude=spec.exclude, suites=[r.suite for r in releases])
    closure = tuple(locked(r) for r in resolution.packages)
    # The Depends closure is a superset: keep the library packages the ELF files load.
    if on_resolved is not None:
        on_resolved(arch, closure)
    debs = ctx.debs(closure)
    if spec.variant == "builder":
        # A compiler is a set of programs that run one another and dlopen plugins (cc1,
        # as, ld, liblto_plugin): the ELF headers do not show what it needs, Depends do.
        keep = {p.name for p in closure}
    else:
        use = library_use(
            debs, arch, protected=[r.name for r in roots], keep=spec.kept, reader=elf_reader
        )
        keep = reachable([r.name for r in roots], resolution.edges, use)
    packages = tuple(p for p in closure if p.name in keep)
    dropped = [p.name for p in closure if p.name not in keep]
    if dropped:
        log(f"{arch}: left out {len(dropped)} unneeded packages: {' '.join(dropped)}")
    if source is None:
        minimal = next(p for p in packages if p.name == debian_python.interpreter_package(python))
        version = minimal.version
    else:
        version = source.version
    arch_lock = ArchLock(
        arch=arch,
        # The interpreter's name: python3.13t for a free-threaded build.
        python=python + (source.abiflags if source else ""),
        python_package_version=version,
        packages=packages,
        python_source=source,
        **trees,
    )
    if spec.variant == "builder":
        pinned = tools.pin(runtime_of(arch_lock, spec.suite), ctx.cache)
        arch_lock = replace(arch_lock, python_tools=pinned)
    ctx.cache.put_checked_record(arch_json(arch_lock), "resolutions", key)
    return arch_lock
