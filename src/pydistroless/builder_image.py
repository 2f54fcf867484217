"""Wheels compiled from source distributions in the builder image of an app's base.

When a pinned distribution has no wheel for the base and its sdist compiles (a wheel for the
host's Python, not the image's), it is built again in the builder variant of the same base:
the same suite, the same Python, its headers and gcc, unpacked into the cache once and run
as a chroot (or a user namespace), as CPython's own build is. pip builds it there with the
image's interpreter, against the libraries the image will load.

The builder image has setuptools and wheel, which most sdists build with. One that declares
other build requirements (Cython, a build backend such as hatchling or scikit-build-core)
gets them as wheels for the image's Python, resolved and downloaded on the host like an app's
dependencies (the chroot has no index to ask), and pip installs them from that folder into
the build's own isolated environment.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pydistroless import sandbox
from pydistroless.builder import make_devices, write_tree
from pydistroless.context import Context
from pydistroless.errors import ResolveError, UsageError
from pydistroless.fetch import Fetcher, log
from pydistroless.oci.unpack import tree_of
from pydistroless.python import wheels
from pydistroless.python.cpython import runnable
from pydistroless.python.dependencies import Dependencies
from pydistroless.python.target import Target
from pydistroless.spec import ImageSpec, host_arch


def builder_root(target: Target, ctx: Context) -> Path:
    """The builder image of ``target``'s base, unpacked in the cache (once per its digest)."""
    from pydistroless.build import build  # build.py imports app.py, which imports this

    arch = target.arch.debian
    if not runnable(arch):
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
        python=target.version if from_source else target.python,
        python_from="source" if from_source else "debian",
        optimize_python=False,  # the ABI is the same; only the build is quicker
        archs=(arch,),
        variant="builder",
        user="root",
    )
    log(f"building the builder image of {target.describe()} to compile source distributions")
    image = build(spec, ctx).images[0]
    home = ctx.cache.root / "builders"
    root = home / f"image-{str(image.digest).removeprefix('sha256:')[:32]}-{arch}"
    if not (root / ".ready").is_file():
        tree = tree_of(image)
        tree.add_dir("build", 0o755)
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".builder-", dir=home))
        try:
            write_tree(tree, staging)
            (staging / "tmp").chmod(0o1777)
            make_devices(staging)
            (staging / ".ready").write_text("ok\n")
            try:
                os.rename(staging, root)
            except OSError:
                if not (root / ".ready").is_file():  # another build won the race
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return root


# What the builder image's Python has installed for builds without isolation.
IMAGE_BUILD_TOOLS = frozenset({"setuptools", "wheel"})
# A pyproject.toml is a few kB; anything far larger is not one.
MAX_PYPROJECT = 1024 * 1024


def build_wheel(sdist: Path, root: Path, target: Target, into: Path, fetcher: Fetcher) -> Path:
    """The wheel of ``sdist`` (named as the index names it) compiled in ``root`` by the
    image's own interpreter, copied into ``into``."""
    work = Path(tempfile.mkdtemp(prefix="sdist-", dir=root / "build"))
    try:
        shutil.copyfile(sdist, work / sdist.name)
        inside = "/" + str(work.relative_to(root))
        log_path = work / "build.log"
        requires = build_requirements(sdist)
        if {canonicalize_name(Requirement(r).name) for r in requires} <= IMAGE_BUILD_TOOLS:
            isolation = ["--no-build-isolation"]
        else:
            _fetch_requirements(requires, sdist.name, target, fetcher, work / "requires")
            isolation = ["--find-links", f"{inside}/requires"]
        argv = [
            target.interpreter, "-m", "pip", "wheel", "--no-deps", *isolation,
            "--no-index", "--no-cache-dir", "--disable-pip-version-check",
            "--wheel-dir", f"{inside}/out",
            f"{inside}/{sdist.name}",
        ]  # fmt: skip
        code = sandbox.run(root, argv, cwd=inside, log=log_path)
        built = sorted((work / "out").glob("*.whl"))
        if code != 0 or not built:
            last = sandbox.show_failure(log_path)
            raise ResolveError(
                f"compiling {sdist.name} in the builder image failed (exit {code}): "
                f"{last}; its build needs more than its declared build requirements and the "
                "image's -dev packages, so build its wheel yourself (--variant builder) and "
                "lock that"
            )
        wheel = into / built[0].name
        shutil.copyfile(built[0], wheel)
        return wheel
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_requirements(sdist: Path) -> list[str]:
    """The ``[build-system] requires`` of an sdist's ``pyproject.toml``, or setuptools' for
    an sdist without one (PEP 517's default)."""
    data = _pyproject(sdist)
    if data is None:
        return ["setuptools>=40.8.0"]
    system = data.get("build-system", {})
    requires = system.get("requires") if isinstance(system, dict) else None
    if requires is None:
        return ["setuptools>=40.8.0"]
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ResolveError(f"{sdist.name}: its pyproject.toml's build-system.requires is no list")
    for requirement in requires:
        try:
            Requirement(requirement)
        except InvalidRequirement as exc:
            raise ResolveError(f"{sdist.name}: build requirement {requirement!r}: {exc}") from None
    return requires


def _pyproject(sdist: Path) -> dict | None:
    """The top folder's ``pyproject.toml`` of a ``.tar.gz`` or ``.zip`` sdist, parsed."""
    try:
        if zipfile.is_zipfile(sdist):
            with zipfile.ZipFile(sdist) as archive:
                infos = [i for i in archive.infolist() if _top_level(i.filename)]
                if not infos or infos[0].file_size > MAX_PYPROJECT:
                    return None
                raw = archive.read(infos[0])
        else:
            with tarfile.open(sdist, "r:*") as archive:
                member = next((m for m in archive if _top_level(m.name) and m.isfile()), None)
                if member is None or member.size > MAX_PYPROJECT:
                    return None
                stream = archive.extractfile(member)
                raw = stream.read() if stream is not None else b""
        return tomllib.load(io.BytesIO(raw))
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise ResolveError(f"{sdist.name} cannot be read as a source distribution: {exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ResolveError(f"{sdist.name}: its pyproject.toml is not valid TOML: {exc}") from None


def _top_level(name: str) -> bool:
    parts = name.strip("/").split("/")
    return len(parts) == 2 and parts[1] == "pyproject.toml"


def _fetch_requirements(
    requires: list[str], what: str, target: Target, fetcher: Fetcher, into: Path
) -> None:
    """Wheels of ``requires`` and what they need, for ``target``'s Python, into ``into``."""
    into.mkdir()
    listed = into / "build-requirements.txt"
    listed.write_text("".join(f"{r}\n" for r in requires))
    log(f"{what}: build requirements {', '.join(requires)}, as wheels for {target.describe()}")
    deps = Dependencies(source=listed, resolve=listed)
    pins = wheels.pins_for(deps, target)
    chosen = wheels.choose(pins, target, source=f"the build requirements of {what}")
    sdists = [c.pin.line() for c in chosen if c.build]
    if sdists:
        raise ResolveError(
            f"{what} builds with {', '.join(sdists)}, which has no wheel for "
            f"{target.describe()}; build its wheel yourself (--variant builder) and lock that"
        )
    for c in wheels.download(chosen, fetcher, target):
        assert c.path is not None
        shutil.copyfile(c.path, into / c.wheel.filename)
    listed.unlink()
