"""Compiling a source distribution into a wheel for an image's Python.

An sdist that compiles must be built by the image's own interpreter, against the libraries the
image will load: in a root that has them (the builder image of the same base), never with the
host's Python. :class:`SdistCompiler` is what an app build is given to do that; the builder
recipe supplies the root. The build itself is pip's, inside the sandbox: ``pip wheel`` with
no index, its build requirements from a folder of wheels fetched beforehand. So is the
metadata of an sdist that only its build gives (``pip install --dry-run --report``, which runs
the backend's ``prepare_metadata_for_build_wheel``), which uv needs to resolve.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pydistroless.core import sandbox
from pydistroless.core.errors import ResolveError
from pydistroless.python.runtime import Target


class SdistCompiler(Protocol):
    """Compiles ``sdist`` (named as the index names it) for ``target`` and gives the path of
    its wheel, written into ``into``; its build requirements are looked up on ``indexes``
    (requirements-file lines, the dependency file's own) besides the default index."""

    def __call__(
        self, sdist: Path, into: Path, target: Target, indexes: tuple[str, ...] = ()
    ) -> Path: ...

    def metadata(
        self, sdist: Path, target: Target, indexes: tuple[str, ...] = ()
    ) -> Mapping[str, object]:
        """The core metadata of ``sdist`` (named as the index names it) for ``target``, as
        JSON (PEP 566: ``name``, ``version``, ``requires_dist``, ...), computed by its own
        build backend where it may run; its build requirements as for a build."""
        ...


# Puts the wheels of build requirements (for the target's Python) into a new folder:
# (requirements, what needs them, target, folder).
FetchRequirements = Callable[[list[str], str, Target, Path], None]


# What the builder image's Python has installed for builds without isolation.
IMAGE_BUILD_TOOLS = frozenset({"setuptools", "wheel"})
# A pyproject.toml is a few kB; anything far larger is not one.
MAX_PYPROJECT = 1024 * 1024
# pip's report of one sdist's metadata: a few kB, rarely a few hundred.
MAX_REPORT = 16 * 1024 * 1024


def build_wheel(
    sdist: Path, root: Path, target: Target, into: Path, requirements: FetchRequirements
) -> Path:
    """The wheel of ``sdist`` (named as the index names it) compiled in ``root`` by the
    image's own interpreter, copied into ``into``. Build requirements beyond the image's own
    setuptools and wheel are put, as wheels, into a folder by ``requirements``: the build has
    no index to ask."""

    def pip(inside: str) -> tuple[list[str], list[str]]:
        return ["wheel", "--no-deps"], ["--wheel-dir", f"{inside}/out"]

    def result(work: Path) -> tuple[str, bytes] | None:
        built = sorted(p.name for p in (work / "out").glob("*.whl"))
        data = sandbox.read_result(work, f"out/{built[0]}") if built else None
        return (built[0], data) if data is not None else None

    name, data = _in_sandbox(sdist, root, target, requirements, pip, result, "compiling")
    wheel = into / name
    wheel.write_bytes(data)
    return wheel


def prepare_metadata(
    sdist: Path, root: Path, target: Target, requirements: FetchRequirements
) -> dict[str, object]:
    """The core metadata of ``sdist`` (named as the index names it) as JSON (PEP 566), as
    its build backend gives it in ``root`` to the image's own interpreter (pip's
    ``install --dry-run --report``, which calls ``prepare_metadata_for_build_wheel`` or, for a
    backend without it, builds the wheel). Build requirements as for :func:`build_wheel`."""

    def pip(inside: str) -> tuple[list[str], list[str]]:
        return ["install", "--dry-run", "--ignore-installed", "--no-deps"], [
            "--break-system-packages", "--quiet", "--report", f"{inside}/report.json",
        ]  # fmt: skip

    def result(work: Path) -> tuple[str, bytes] | None:
        data = sandbox.read_result(work, "report.json")
        return ("report.json", data) if data is not None else None

    _, data = _in_sandbox(sdist, root, target, requirements, pip, result, "reading the metadata of")
    try:
        if len(data) > MAX_REPORT:
            raise ValueError("too large")
        report = json.loads(data)
        metadata = report["install"][0]["metadata"]
        if not isinstance(metadata, dict):
            raise TypeError("no table")
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ResolveError(
            f"{sdist.name}: pip's report of its metadata is unreadable ({exc})"
        ) from None
    return metadata


def _in_sandbox(
    sdist: Path,
    root: Path,
    target: Target,
    requirements: FetchRequirements,
    pip: Callable[[str], tuple[list[str], list[str]]],
    result: Callable[[Path], tuple[str, bytes] | None],
    doing: str,
) -> tuple[str, bytes]:
    """A pip command (``pip``, given the workspace's path inside, gives its command and its
    options) run on ``sdist`` by the image's interpreter in ``root``, in the sandbox, and what
    ``result`` reads back from the workspace: its file's name and bytes."""
    workspace = sandbox.workspace(root)
    work = Path(tempfile.mkdtemp(prefix="sdist-", dir=workspace))
    # The log stays outside what the build can write, so that it cannot be swapped for a
    # link to a host file that the error would then show.
    with tempfile.TemporaryDirectory(prefix="pydistroless-sdist-log-") as logs:
        log_path = Path(logs) / f"{sdist.name}.log"
        try:
            shutil.copyfile(sdist, work / sdist.name)
            inside = f"{sandbox.BUILD_DIR}/{work.name}"
            requires = build_requirements(sdist)
            if {canonicalize_name(Requirement(r).name) for r in requires} <= IMAGE_BUILD_TOOLS:
                isolation = ["--no-build-isolation"]
            else:
                requirements(requires, sdist.name, target, work / "requires")
                isolation = ["--find-links", f"{inside}/requires"]
            verb, options = pip(inside)
            argv = [
                target.interpreter, "-m", "pip", *verb, *isolation,
                "--no-index", "--no-cache-dir", "--disable-pip-version-check",
                *options, f"{inside}/{sdist.name}",
            ]  # fmt: skip
            code = sandbox.run(
                root,
                argv,
                cwd=inside,
                log=log_path,
                binds=[sandbox.Bind(workspace, sandbox.BUILD_DIR, writable=True)],
            )
            found = result(work) if code == 0 else None
            if found is None:
                last = sandbox.show_failure(log_path)
                raise ResolveError(
                    f"{doing} {sdist.name} in the builder image failed (exit {code}): "
                    f"{last}; its build needs more than its declared build requirements and "
                    "the image's -dev packages, so build its wheel yourself (--variant "
                    "builder) and lock that"
                )
            return found
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
