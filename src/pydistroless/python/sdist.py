"""Compiling a source distribution into a wheel for an image's Python.

An sdist that compiles must be built by the image's own interpreter, against the libraries the
image will load: in a root that has them (the builder image of the same base), never with the
host's Python. :class:`SdistCompiler` is what an app build is given to do that; the builder
recipe supplies the root. The build itself is pip's, inside the sandbox: ``pip wheel`` with
no index, its build requirements from a folder of wheels fetched beforehand. The metadata of
an sdist that only its build gives, which uv needs to resolve, is read from the wheel that
build makes (:func:`wheel_metadata`): an sdist is compiled once, not once for its metadata
and again for its wheel. A failed build's whole log is kept, and its one line says where.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import os
import re
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
        build backend where it may run (the wheel's, which is kept for the build that
        follows); its build requirements as for a build."""
        ...


# Puts the wheels of build requirements (for the target's Python) into a new folder:
# (requirements, what needs them, target, folder).
FetchRequirements = Callable[[list[str], str, Target, Path], None]


# What the builder image's Python has installed for builds without isolation.
IMAGE_BUILD_TOOLS = frozenset({"setuptools", "wheel"})
# A pyproject.toml is a few kB; anything far larger is not one.
MAX_PYPROJECT = 1024 * 1024
# A wheel's METADATA: a few kB, a long description makes it a few hundred.
MAX_METADATA = 16 * 1024 * 1024
# The core metadata fields that may occur more than once: lists in JSON (PEP 566).
_MULTIPLE_USE = frozenset(
    {
        "classifier", "dynamic", "license_file", "obsoletes_dist", "platform",
        "project_url", "provides_dist", "provides_extra", "requires_dist",
        "requires_external", "supported_platform",
    }
)  # fmt: skip


def build_wheel(
    sdist: Path,
    root: Path,
    target: Target,
    into: Path,
    requirements: FetchRequirements,
    logs: Path,
) -> Path:
    """The wheel of ``sdist`` (named as the index names it) compiled in ``root`` by the
    image's own interpreter, copied into ``into``. Build requirements beyond the image's own
    setuptools and wheel are put, as wheels, into a folder by ``requirements``: the build has
    no index to ask. A failed build's whole log is kept in ``logs``, and its line names it."""
    workspace = sandbox.workspace(root)
    work = Path(tempfile.mkdtemp(prefix="sdist-", dir=workspace))
    # The log stays outside what the build can write, so that it cannot be swapped for a
    # link to a host file that the error would then show.
    logs.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{sdist.name}-", suffix=".log", dir=logs)
    os.close(fd)
    log_path = Path(name)
    try:
        shutil.copyfile(sdist, work / sdist.name)
        inside = f"{sandbox.BUILD_DIR}/{work.name}"
        requires = build_requirements(sdist)
        if {canonicalize_name(Requirement(r).name) for r in requires} <= IMAGE_BUILD_TOOLS:
            isolation = ["--no-build-isolation"]
        else:
            requirements(requires, sdist.name, target, work / "requires")
            isolation = ["--find-links", f"{inside}/requires"]
        argv = [
            target.interpreter, "-m", "pip", "wheel", "--no-deps", *isolation,
            "--no-index", "--no-cache-dir", "--disable-pip-version-check",
            "--wheel-dir", f"{inside}/out", f"{inside}/{sdist.name}",
        ]  # fmt: skip
        code = sandbox.run(
            root,
            argv,
            cwd=inside,
            log=log_path,
            binds=[sandbox.Bind(workspace, sandbox.BUILD_DIR, writable=True)],
        )
        built = sorted(p.name for p in (work / "out").glob("*.whl")) if code == 0 else []
        data = sandbox.read_result(work, f"out/{built[0]}") if built else None
        if data is None:
            cause = sandbox.show_failure(log_path)
            fix = (
                "add the Debian packages its build needs with --build-package NAME, or build "
                "its wheel yourself (--variant builder) and lock that"
            )
            if target.free_threaded:
                # Many C extensions do not build, or not yet, without the GIL.
                fix = (
                    f"the base is free-threaded: pin a version that publishes {target.abi} "
                    f"wheels, or drop free-threading (a base of Python {target.minor}, without "
                    f"the t); or {fix}"
                )
            raise ResolveError(
                f"compiling {sdist.name} in the builder image failed (exit {code}): {cause} "
                f"(whole log: {log_path}); {fix}"
            )
        log_path.unlink()
        wheel = into / built[0]
        wheel.write_bytes(data)
        return wheel
    finally:
        shutil.rmtree(work, ignore_errors=True)


def wheel_metadata(wheel: Path) -> dict[str, object]:
    """The core metadata of a built wheel as JSON (PEP 566: ``name``, ``version``,
    ``requires_dist``, ...), from its ``.dist-info/METADATA``."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            infos = [
                i
                for i in archive.infolist()
                if re.fullmatch(r"[^/]+\.dist-info/METADATA", i.filename)
            ]
            if len(infos) != 1 or infos[0].file_size > MAX_METADATA:
                raise ValueError("no single METADATA file of a sane size")
            raw = archive.read(infos[0])
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise ResolveError(f"{wheel.name}: its metadata is unreadable ({exc})") from None
    message = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    metadata: dict[str, object] = {}
    for key, value in message.items():
        field = key.lower().replace("-", "_")
        if field in _MULTIPLE_USE:
            listed = metadata.setdefault(field, [])
            assert isinstance(listed, list)
            listed.append(str(value))
        else:
            metadata[field] = str(value)
    return metadata


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
