"""Wheels compiled from source distributions in the builder image of an app's base.

When a pinned distribution has no wheel for the base and its sdist compiles (a wheel for the
host's Python, not the image's), it is built again in the builder variant of the same base:
the same suite, the same Python, its headers and gcc, unpacked into the cache once and run
as a chroot (or a user namespace), as CPython's own build is. pip builds it there with the
image's interpreter, against the libraries the image will load.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from pydistroless import sandbox
from pydistroless.builder import make_devices, write_tree
from pydistroless.context import Context
from pydistroless.errors import ResolveError
from pydistroless.fetch import log
from pydistroless.oci.unpack import tree_of
from pydistroless.python.cpython import check_runnable
from pydistroless.python.target import Target
from pydistroless.spec import ImageSpec


def builder_root(target: Target, ctx: Context) -> Path:
    """The builder image of ``target``'s base, unpacked in the cache (once per its digest)."""
    from pydistroless.build import build  # build.py imports app.py, which imports this

    arch = target.arch.debian
    check_runnable(arch)
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


def build_wheel(sdist: Path, root: Path, target: Target, into: Path) -> Path:
    """The wheel of ``sdist`` (named as the index names it) compiled in ``root`` by the
    image's own interpreter, copied into ``into``."""
    work = Path(tempfile.mkdtemp(prefix="sdist-", dir=root / "build"))
    try:
        shutil.copyfile(sdist, work / sdist.name)
        inside = "/" + str(work.relative_to(root))
        log_path = work / "build.log"
        argv = [
            target.interpreter, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
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
                f"{last}; its build needs more than setuptools and the image's -dev "
                "packages, so build its wheel yourself (--variant builder) and lock that"
            )
        wheel = into / built[0].name
        shutil.copyfile(built[0], wheel)
        return wheel
    finally:
        shutil.rmtree(work, ignore_errors=True)
