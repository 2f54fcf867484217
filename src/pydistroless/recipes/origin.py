"""Where an image's Python comes from: the suite's own packages, or upstream CPython compiled
from a verified tarball, and why.

The planner asks :func:`upstream_python` for each architecture; a Python to compile is then
compiled (or taken from the cache) by :func:`compiled_libraries`, which names the Debian
packages of the libraries it loads and the builder trees it was compiled in.
"""

from __future__ import annotations

from pydistroless.core.errors import CacheMissError, IntegrityError, NetworkError, UsageError
from pydistroless.core.report import log
from pydistroless.debian.index import PackageIndex
from pydistroless.debian.store import LockedPackage, Store
from pydistroless.python import cpython, debian_python
from pydistroless.python import source as upstream
from pydistroless.python.source import PythonSource, Tarball
from pydistroless.recipes.spec import FREE_THREADED_SINCE, ImageSpec


def upstream_python(
    spec: ImageSpec,
    arch: str,
    python: str,
    index: PackageIndex,
    ctx: Store,
    tarballs: dict[str, Tarball],
) -> PythonSource | None:
    """The upstream CPython to compile, or None to take the suite's own Python: the suite's
    is taken whenever it is the version asked for (and ``--python-from`` allows it)."""
    if spec.python_from == "debian":
        return None
    wanted = spec.python or python
    have = [r.version for r in index.candidates(debian_python.interpreter_package(python))]
    suite_version = debian_python.upstream_version(have[0]) if have else None
    if spec.free_threading and tuple(map(int, python.split("."))) < FREE_THREADED_SINCE:
        raise UsageError(
            f"free-threading needs CPython 3.13 or later, and {spec.suite}'s Python is "
            f"{python}; name one with --python 3.13t (or later), or drop free-threading"
        )
    if spec.python_from == "source":
        why = "--python-from source"
    elif spec.free_threading:
        why = "Debian's Python has no free-threaded build"
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
            pythons = ", ".join(debian_python.available_pythons(index)) or "none"
            raise UsageError(
                f"suite {spec.suite!r} has no Python {python} (it has: {pythons}); pick one "
                f"of those with --python, or compile upstream's: {exc}"
            ) from None
        tarballs[wanted] = found
    tarball = tarballs[wanted]
    if spec.archs.index(arch) == 0:  # said once for all architectures
        flag = "t" if spec.free_threading else ""
        log(f"Python {tarball.version}{flag}: compiling upstream CPython from source ({why})")
    return tarball.locked(optimize=spec.optimize_python, free_threaded=spec.free_threading)


def _tarball(spec: ImageSpec, version: str, ctx: Store) -> Tarball:
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


def compiled_libraries(
    spec: ImageSpec, source: PythonSource, arch: str, ctx: Store
) -> tuple[list[str], dict[str, tuple[LockedPackage, ...]]]:
    """The packages of the libraries the compiled Python loads (compiling it if need be),
    and the packages of the builder trees it was compiled in, for the lock to pin."""
    installed = cpython.compiled(source, spec.suite, arch, ctx)
    tree = cpython.runtime_tree(installed)
    trees = {"builder": installed.builder.packages}
    if installed.host_builder is not None:
        trees["host_builder"] = installed.host_builder.packages
    return cpython.runtime_libraries(tree, installed.builder, ctx), trees
