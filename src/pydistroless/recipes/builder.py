"""The builder variant, and the builder image as the place where an app's sdists compile.

The builder variant is the base recipe's image (compilers, headers, busybox as ``/bin/sh``)
with pip, setuptools, wheel, uv, poetry and pipenv installed on it by the app recipe, as the
dependencies of an empty project: the versions the lock pins, as wheels for the image's own
Python.

When a pinned distribution of an app has no wheel for its base and its sdist compiles, it is
built again in the builder variant of the same base (the same suite, the same Python, its
headers and gcc), unpacked into the cache once and run in the sandbox, as CPython's own build
is (:class:`BuilderImageCompiler`, which the app recipe is handed as its
:class:`~pydistroless.python.sdist.SdistCompiler`). An sdist that declares build requirements
beyond setuptools (Cython, a build backend) gets them as wheels for the image's Python,
resolved and downloaded on the host like an app's dependencies: the build has no index. The
Debian packages it compiles against (libpq's headers and ``pg_config`` for psycopg2) come from
Debian's own source package of it (:mod:`pydistroless.python.build_packages`) and
``--build-package``, unpacked over the builder image for that build (one image serves every
set of build packages). Each sdist is compiled once:
its wheel is kept in the cache under the sdist's SHA256, the base's Python and architecture
and the build packages' versions, and the metadata that uv needs of an sdist that only its
build gives (never computed on the host) is read from that wheel
(:meth:`BuilderImageCompiler.metadata`).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydistroless.core.arch import architecture, host_arch
from pydistroless.core.cache import cache_key, finished_folder
from pydistroless.core.errors import ResolveError, UsageError
from pydistroless.core.fetch import Fetcher
from pydistroless.core.net import Credentials, split_login
from pydistroless.core.report import log
from pydistroless.debian.archive import Release
from pydistroless.debian.resolve import Requirement, resolve
from pydistroless.debian.rootfs import unpack
from pydistroless.debian.store import LockedPackage, Store, load_index, load_releases, locked
from pydistroless.fs import slicing
from pydistroless.fs.disk import make_devices, write_tree
from pydistroless.fs.ldcache import generate_ld_so_cache
from pydistroless.fs.tree import Kind, Tree
from pydistroless.oci.unpack import tree_of
from pydistroless.python import build_packages, cpython, runtime, sdist, tools, wheels
from pydistroless.python.dependencies import Dependencies, expand_variables
from pydistroless.python.runtime import Target
from pydistroless.recipes import app_libraries, base
from pydistroless.recipes.app import AppSpec, Base, build_app
from pydistroless.recipes.base import Built
from pydistroless.recipes.lock import Lock, runtime_of
from pydistroless.recipes.spec import ImageSpec


def with_python_tools(built: Built, ctx: Store) -> Built:
    """The builder variant: its base with pip, uv, poetry and pipenv installed as an app's
    dependencies are (the wheels for the image's own Python that the lock pins, in layers of
    their own), so that a multi-stage Dockerfile can build its dependencies in it."""
    spec = built.spec
    with tempfile.TemporaryDirectory(prefix="pydistroless-builder-") as tmp:
        project = Path(tmp) / "python-builder"
        project.mkdir()
        requirements = Path(tmp) / "requirements.txt"
        pinned = [
            (runtime_of(arch_lock, built.lock.codename), arch_lock.python_tools)
            for arch_lock in (built.lock.for_arch(a) for a in spec.archs)
        ]
        requirements.write_text(tools.requirements(pinned))
        interpreter = built.images[0].labels[runtime.LABEL_INTERPRETER]
        with_tools = build_app(
            AppSpec(
                project=project,
                requirements=requirements,
                entrypoint=(interpreter,),
                # "/", which the tools' layer then leaves alone: a working directory there
                # would be added owned by root, over the user's own home.
                workdir="/",
                tags=built.tags,
            ),
            [
                Base(image, document)
                for image, (_, document) in zip(built.images, built.sboms, strict=True)
            ],
            ctx,
            sbom_format=spec.sbom_format,
        )
    return replace(built, images=with_tools.images, sboms=with_tools.sboms)


def build_image(spec: ImageSpec, ctx: Store, *, lock: Lock | None = None) -> Built:
    """An image of any variant: the base recipe's, and for the builder variant its Python
    tools installed on top (:func:`with_python_tools`)."""
    built = base.build(spec, ctx, lock=lock)
    return with_python_tools(built, ctx) if spec.variant == "builder" else built


@dataclass
class BuilderImageCompiler:
    """Compiles an app's sdists in the builder image of its base, made the first time an
    sdist needs it (most apps never do), once per base Python and set of build packages.
    Each sdist is compiled once: its wheel is kept in the cache under what it is built from
    (:meth:`_wheel`), and its metadata is read from that wheel. ``build_packages`` are Debian
    packages every build gets, beside those found from Debian's own build of the sdist
    (:mod:`pydistroless.python.build_packages`)."""

    ctx: Store
    build_packages: tuple[str, ...] = ()
    _roots: dict[str, Path] = field(default_factory=dict)
    _packages: dict[tuple[str, str, str], build_packages.BuildPackages] = field(
        default_factory=dict
    )

    def __call__(
        self, sdist_path: Path, into: Path, target: Target, indexes: tuple[str, ...] = ()
    ) -> Path:
        where, name, kept = self._wheel(sdist_path, target, indexes)
        if where is not target and target.wheel_rank(name) is None:
            arch = target.arch.debian
            raise UsageError(
                f"a source distribution must be compiled for {target.describe()} "
                f"({sdist_path.name} builds {name}), and this {host_arch()} host cannot "
                f"run {arch} code (no qemu-user registered with binfmt_misc's F flag); install "
                f"qemu-user-static and binfmt-support, or build its wheel on an {arch} machine "
                "and lock that"
            )
        wheel = into / name
        shutil.copyfile(kept, wheel)
        return wheel

    def metadata(
        self, sdist_path: Path, target: Target, indexes: tuple[str, ...] = ()
    ) -> Mapping[str, object]:
        """The sdist's metadata, from the wheel its build makes in the builder image (for an
        architecture this host cannot run, this host's: a ``setup.py`` that asks the
        platform answers for this host's)."""
        _, name, kept = self._wheel(sdist_path, target, indexes)
        with tempfile.TemporaryDirectory(prefix="pydistroless-wheel-") as tmp:
            named = Path(tmp) / name  # the cache names blobs by digest; a wheel by its name
            named.symlink_to(kept)
            return sdist.wheel_metadata(named)

    def _wheel(
        self, sdist_path: Path, target: Target, indexes: tuple[str, ...]
    ) -> tuple[Target, str, Path]:
        """Where the sdist is built (:meth:`_where`), its wheel's name and the wheel in the
        cache: built now unless a build of the same sdist for the same Python (version and
        ABI), architecture and build packages (names and versions) was kept before. Nothing
        else of the app (its entrypoint, tags, environment) is a part of that key."""
        where = self._where(target)
        if where.suite is None:
            raise ResolveError(
                f"a source distribution must be compiled for {target.describe()}, and the base "
                "names no Debian suite to make its builder image from; use a pydistroless base"
            )
        asked = (sdist_path.name, where.suite, where.arch.debian)
        if asked not in self._packages:  # once per sdist: its metadata, then its build
            self._packages[asked] = build_packages.for_sdist(*asked, self.ctx, self.build_packages)
        packages = self._packages[asked]
        cache = self.ctx.cache
        key = cache_key(
            {
                "format": _WHEEL_FORMAT,
                "sdist": _sha256_of(sdist_path),
                "python": [where.interpreter, where.version, where.abi],
                "arch": where.arch.debian,
                "build-packages": list(packages.closure),
            },
            tool=False,
        )
        known = cache.get_checked_record(_wheel_record, _WHEELS, key)
        kept = cache.checked_blob_path(known[1]) if known is not None else None
        if known is not None and kept is not None:
            log(f"{sdist_path.name}: its wheel {known[0]} from the cache, not compiled again")
            return where, known[0], kept
        root = self._root(where, packages.names)
        logs = cache.root / "sdists" / "logs"
        with tempfile.TemporaryDirectory(prefix="pydistroless-sdist-") as tmp:
            log(f"compiling {sdist_path.name} in the builder image")
            wheel = sdist.build_wheel(
                sdist_path, root, where, Path(tmp), self._requirements(indexes), logs
            )
            digest = cache.put_blob(wheel.read_bytes())
        cache.put_checked_record({"file": wheel.name, "sha256": digest}, _WHEELS, key)
        return where, wheel.name, cache.blob_path(digest)

    def _where(self, target: Target) -> Target:
        # Code of an architecture this host cannot run cannot compile; a pure-Python wheel,
        # which fits any, is built in the builder image of this host's architecture.
        if cpython.runnable(target.arch.debian):
            return target
        return replace(target, arch=architecture(host_arch()))

    def _root(self, where: Target, packages: tuple[str, ...]) -> Path:
        key = f"{where.interpreter} {where.version} {where.arch.debian} {where.suite} {packages}"
        if key not in self._roots:
            self._roots[key] = builder_root(where, self.ctx, packages)
        return self._roots[key]

    def _requirements(self, indexes: tuple[str, ...]) -> sdist.FetchRequirements:
        fetcher = self.ctx.fetcher

        def requirements(requires: list[str], what: str, target: Target, folder: Path) -> None:
            _fetch_requirements(requires, what, target, folder, fetcher, indexes)

        return requirements


# How a kept wheel is made from its sdist: bump it when the build changes, and every sdist
# is compiled again.
_WHEEL_FORMAT = 1
_WHEELS = "sdist-wheels"


def _sha256_of(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _wheel_record(body: object) -> tuple[str, str]:
    if not (
        isinstance(body, dict)
        and set(body) == {"file", "sha256"}
        and isinstance(body["file"], str)
        and re.fullmatch(r"[^/\\]+\.whl", body["file"])
        and isinstance(body["sha256"], str)
        and re.fullmatch(r"[0-9a-f]{64}", body["sha256"])
    ):
        raise ValueError("not a record of a built wheel")
    return body["file"], body["sha256"]


def builder_root(target: Target, ctx: Store, packages: tuple[str, ...] = ()) -> Path:
    """The builder image of ``target``'s base, unpacked in the cache (once per its digest),
    with the Debian ``packages`` (and what they need that it lacks) unpacked over it: one
    builder image serves every set of build packages."""
    arch = target.arch.debian
    if not cpython.runnable(arch):
        raise UsageError(
            f"a source distribution must be compiled for {target.describe()}, and this "
            f"{host_arch()} host cannot run {arch} code (no qemu-user registered with "
            "binfmt_misc's F flag); install qemu-user-static and binfmt-support, or build "
            f"its wheel on an {arch} machine and lock that"
        )
    if target.suite is None:
        raise ResolveError(
            f"a source distribution must be compiled for {target.describe()}, and the base "
            "names no Debian suite to make its builder image from; use a pydistroless base"
        )
    from_source = target.interpreter.startswith("/usr/local/")
    spec = ImageSpec(
        suite=target.suite,
        # A free-threaded base's builder is free-threaded too: its sdists build cp3XYt wheels.
        python=target.version + ("t" if target.free_threaded else "")
        if from_source
        else target.python,
        python_from="source" if from_source else "debian",
        optimize_python=False,  # the ABI is the same; only the build is quicker
        archs=(arch,),
        variant="builder",
        user="root",
    )
    log(f"building the builder image of {target.describe()} to compile source distributions")
    image = build_image(spec, ctx).images[0]
    # Named by what decides the packages' closure: their names and the signed indexes.
    releases = load_releases(ctx.archive, ctx.mirrors, target.suite) if packages else []
    suffix = (
        "-"
        + cache_key(
            {"packages": sorted(packages), "releases": [r.inrelease_sha256 for r in releases]},
            tool=False,
        )[:16]
        if packages
        else ""
    )
    root = ctx.cache.root / "builders" / f"image-{image.digest.hex[:32]}{suffix}-{arch}"

    def fill(staging: Path) -> None:
        tree = tree_of(image)
        if packages:
            added = _build_packages(tree, spec, packages, releases, ctx)
            log(f"adding {' '.join(packages)} to the builder image ({len(added)} packages)")
            extra = unpack(ctx.debs(added))
            slicing.cut(extra, spec.kept)
            for entry in extra.entries():
                if entry.kind is not Kind.DIR or entry.path not in tree:
                    tree.add(entry)
            tree.add_file("etc/ld.so.cache", generate_ld_so_cache(tree, arch))
        tree.add_dir("build", 0o755)
        write_tree(tree, staging)
        (staging / "tmp").chmod(0o1777)
        make_devices(staging)

    finished_folder(root, fill)
    return root


def _build_packages(
    tree: Tree,
    spec: ImageSpec,
    packages: tuple[str, ...],
    releases: list[Release],
    ctx: Store,
) -> list[LockedPackage]:
    """``packages`` and what they depend on that the builder image (``tree``) has not."""
    index = load_index(ctx.archive, releases, spec.archs[0])
    # Resolved whole, not with the image's packages excluded: a dependency on a virtual
    # package (libsasl2-dev's libc-dev) is only met by its provider when that is resolved.
    resolution = resolve(
        index, [Requirement.parse(p) for p in packages], suites=[r.suite for r in releases]
    )
    have = app_libraries.base_packages(tree)
    return [locked(r) for r in resolution.packages if have.get(r.name) != r.version]


def _fetch_requirements(
    requires: list[str],
    what: str,
    target: Target,
    into: Path,
    fetcher: Fetcher,
    indexes: tuple[str, ...] = (),
) -> None:
    """Wheels of ``requires`` and what they need, for ``target``'s Python, into ``into``,
    looked up on ``indexes`` too (the dependency file's index lines), with their logins."""
    into.mkdir()
    log(f"{what}: build requirements {', '.join(requires)}, as wheels for {target.describe()}")
    # Outside the build's workspace: index lines may carry a login.
    with tempfile.TemporaryDirectory(prefix="pydistroless-build-requirements-") as tmp:
        listed = Path(tmp) / "build-requirements.txt"
        listed.write_text("".join(f"{line}\n" for line in (*indexes, *requires)))
        deps = Dependencies(source=listed, resolve=listed, indexes=indexes)
        pins = wheels.pins_for(deps, target)
    chosen = wheels.choose(pins, target, source=f"the build requirements of {what}")
    sdists = [c.pin.line() for c in chosen if c.build]
    if sdists:
        raise ResolveError(
            f"{what} builds with {', '.join(sdists)}, which has no wheel for "
            f"{target.describe()}; build its wheel yourself (--variant builder) and lock that"
        )
    logins = tuple(
        login
        for line in indexes
        for word in line.split()
        if (login := split_login(expand_variables(word))[1]) is not None
    )
    if logins:
        fetcher = fetcher.with_credentials(Credentials(logins))
    for c in wheels.download(chosen, fetcher, target, indexes=indexes):
        assert c.path is not None
        shutil.copyfile(c.path, into / c.wheel.filename)
