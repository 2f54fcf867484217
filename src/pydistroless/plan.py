"""Plan: from an :class:`ImageSpec` to a :class:`Lock`.

Reads the signed Release files of ``<suite>``, ``<suite>-updates`` and ``<suite>-security``,
merges their package indexes (the highest version of each package wins), picks the Python
and resolves the package closure, per architecture. A resolution is cached under the digests
of the exact Release files it came from, so an unchanged archive is not parsed again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pydistroless import code_digest
from pydistroless.cache import sha256_hex
from pydistroless.context import Context
from pydistroless.debian.archive import Archive, Release
from pydistroless.debian.index import IndexText, LazyPackageIndex, PackageIndex, PackageRecord
from pydistroless.debian.resolve import Requirement, resolve
from pydistroless.debian.sources import Mirrors
from pydistroless.errors import CacheMissError, IntegrityError, NetworkError, UsageError
from pydistroless.fetch import log
from pydistroless.lock import (
    ArchLock,
    Lock,
    LockedPackage,
    PythonSource,
    ReleaseInfo,
    arch_from_json,
    arch_json,
)
from pydistroless.prune import library_use, reachable
from pydistroless.python import runtime
from pydistroless.python import source as upstream
from pydistroless.python.source import Tarball
from pydistroless.spec import ImageSpec

COMPONENT = "main"


def load_releases(archive: Archive, mirrors: Mirrors, suite: str) -> list[Release]:
    """The verified Release files of the suite, its -updates and its -security, fetched at
    the same time (each is a round trip to a mirror)."""
    wanted = [(mirrors.main, suite, True), (mirrors.main, f"{suite}-updates", False)]
    if mirrors.security:
        wanted.append((mirrors.security, f"{suite}-security", False))
    else:
        log(
            "WARNING: no Debian security mirror configured (apt sources, "
            "--security-mirror): the image will lack security updates"
        )
    with ThreadPoolExecutor(len(wanted)) as pool:
        found = list(pool.map(lambda w: archive.release(w[0], w[1], required=w[2]), wanted))
    if mirrors.security and found[-1] is None:
        log(f"WARNING: no {suite}-security suite on {mirrors.security[0]}")
    return [r for r in found if r is not None]


# Told the architecture and the closure as soon as it is resolved, before pruning: lets a
# caller start work that needs only the packages (byte-compiling the stdlib) early.
OnResolved = Callable[[str, tuple[LockedPackage, ...]], None]


def plan(spec: ImageSpec, ctx: Context, *, on_resolved: OnResolved | None = None) -> Lock:
    releases = load_releases(ctx.archive, ctx.mirrors, spec.suite)
    main = releases[0]
    tarballs: dict[str, Tarball] = {}  # looked up once for all architectures
    arch_locks = tuple(
        _plan_arch(spec, arch, releases, ctx, on_resolved, tarballs) for arch in spec.archs
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
    ctx: Context,
    on_resolved: OnResolved | None,
    tarballs: dict[str, Tarball],
) -> ArchLock:
    key = sha256_hex(
        json.dumps(
            {
                "tool": code_digest(),
                "releases": [r.inrelease_sha256 for r in releases],
                "arch": arch,
                "python": spec.python,
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
            },
            sort_keys=True,
        ).encode()
    )
    cached = ctx.cache.get_checked_record(arch_from_json, "resolutions", key)
    if cached is not None and cached.arch == arch:
        if cached.python_source is not None:  # say why, as the first resolution did
            source = cached.python_source
            known = {spec.python or cached.python: Tarball(
                source.version, source.urls, source.sha256, source.size, source.origin
            )}  # fmt: skip
            index = load_index(ctx.archive, releases, arch)
            tarballs.update({**known, **tarballs})
            _python_source(spec, arch, cached.python, index, ctx, tarballs)
        return cached
    index = load_index(ctx.archive, releases, arch)
    python = spec.python_minor or runtime.default_python(index, spec.suite)
    source = _python_source(spec, arch, python, index, ctx, tarballs)
    trees: dict[str, tuple[LockedPackage, ...]] = {}
    if source is None:
        runtime.check_available(index, python, spec.suite)
        roots = [*runtime.root_packages(python, spec.variant)]
    else:
        libraries, trees = _source_libraries(spec, source, arch, ctx)
        roots = [*runtime.source_root_packages(spec.variant)]
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
        use = library_use(debs, arch, protected=[r.name for r in roots], keep=spec.kept)
        keep = reachable([r.name for r in roots], resolution.edges, use)
    packages = tuple(p for p in closure if p.name in keep)
    dropped = [p.name for p in closure if p.name not in keep]
    if dropped:
        log(f"{arch}: left out {len(dropped)} unneeded packages: {' '.join(dropped)}")
    if source is None:
        minimal = next(p for p in packages if p.name == runtime.interpreter_package(python))
        version = minimal.version
    else:
        version = source.version
    arch_lock = ArchLock(
        arch=arch,
        python=python,
        python_package_version=version,
        packages=packages,
        python_source=source,
        **trees,
    )
    ctx.cache.put_checked_record(arch_json(arch_lock), "resolutions", key)
    return arch_lock


def _python_source(
    spec: ImageSpec,
    arch: str,
    python: str,
    index: PackageIndex,
    ctx: Context,
    tarballs: dict[str, Tarball],
) -> PythonSource | None:
    """The upstream CPython to compile, or None to take the suite's own Python: the suite's
    is taken whenever it is the version asked for (and ``--python-from`` allows it)."""
    if spec.python_from == "debian":
        return None
    wanted = spec.python or python
    have = [r.version for r in index.candidates(runtime.interpreter_package(python))]
    suite_version = runtime.upstream_version(have[0]) if have else None
    if spec.python_from == "source":
        why = "--python-from source"
    elif not have:
        why = f"{spec.suite} has no Python {python}"
    elif wanted != python and suite_version != wanted:
        why = f"{spec.suite} has {suite_version}"
    else:
        return None
    if wanted not in tarballs:
        try:
            found = _tarball(spec, wanted, ctx)
        except UsageError as exc:
            if have or spec.python_from == "source":
                raise
            # Asked for a Python the suite lacks: name what it has, and why the other way,
            # compiling it, is closed.
            pythons = ", ".join(runtime.available_pythons(index)) or "none"
            raise UsageError(
                f"suite {spec.suite!r} has no Python {python} (it has: {pythons}); pick one "
                f"of those with --python, or compile upstream's: {exc}"
            ) from None
        tarballs[wanted] = found
    tarball = tarballs[wanted]
    if spec.archs.index(arch) == 0:  # said once for all architectures
        log(f"Python {tarball.version}: compiling upstream CPython from source ({why})")
    return PythonSource(
        version=tarball.version,
        urls=tarball.urls,
        sha256=tarball.sha256,
        size=tarball.size,
        origin=tarball.origin,
        optimize=spec.optimize_python,
    )


def _tarball(spec: ImageSpec, version: str, ctx: Context) -> Tarball:
    """The verified tarball of CPython ``version``: the user's copy, else the Debian
    archive's, else python.org's (a MAJOR.MINOR.PATCH release the archive lacks)."""
    if spec.source_url is not None:
        if spec.source_signature is None:
            assert spec.source_sha256 is not None  # the spec checks one of them is given
            return upstream.given_tarball(version, spec.source_url, spec.source_sha256)
        signed = upstream.signed_tarball(
            version, spec.source_url, spec.source_signature, spec.suite, ctx, origin="--source-url"
        )
        if spec.source_sha256 is not None and signed.sha256 != spec.source_sha256:
            raise IntegrityError(
                f"--source-url {spec.source_url}: its signature verifies, but its SHA256 "
                f"{signed.sha256[:16]}… is not --source-sha256 {spec.source_sha256[:16]}…; "
                "check which release the digest is of"
            )
        return signed
    try:
        return upstream.debian_tarball(version, ctx)
    except UsageError as in_debian:
        if version.count(".") != 2:
            raise
        try:
            return upstream.python_org_tarball(version, spec.suite, ctx)
        except (UsageError, NetworkError, CacheMissError) as on_python_org:
            raise UsageError(f"{in_debian} (python.org: {on_python_org})") from None


def _source_libraries(
    spec: ImageSpec, source: PythonSource, arch: str, ctx: Context
) -> tuple[list[str], dict[str, tuple[LockedPackage, ...]]]:
    """The packages of the libraries the compiled Python loads (compiling it if need be),
    and the packages of the builder trees it was compiled in, for the lock to pin."""
    # Imported here: the builder tree is planned with this module's functions.
    from pydistroless.python import cpython

    installed = cpython.compiled(source, spec.suite, arch, ctx)
    tree = cpython.runtime_tree(installed)
    trees = {"builder": installed.builder.packages}
    if installed.host_builder is not None:
        trees["host_builder"] = installed.host_builder.packages
    return cpython.runtime_libraries(tree, installed.builder, ctx), trees


def locked(record: PackageRecord) -> LockedPackage:
    """The lock's entry of a package the index lists."""
    return LockedPackage(
        name=record.name,
        version=record.version,
        architecture=record.architecture,
        filename=record.filename,
        size=record.size,
        sha256=record.sha256,
        source=record.source_name,
        source_version=record.source_version,
        suite=record.suite,
        url=record.urls[0],
    )


def load_index(archive: Archive, releases: list[Release], arch: str) -> PackageIndex:
    for release in releases:
        if arch not in release.architectures:
            raise UsageError(
                f"architecture {arch!r} is not in {release.suite} (it has: "
                f"{' '.join(a for a in release.architectures if a != 'all')}); pick one of those"
            )
    with ThreadPoolExecutor(len(releases)) as pool:
        texts = list(pool.map(lambda r: archive.packages(r, COMPONENT, arch), releases))
    return LazyPackageIndex(
        IndexText(text, r.suite, r.base_urls) for text, r in zip(texts, releases, strict=True)
    )
