"""The app recipe: a Python project on a base image, as layers on top of the base's.

    base image (ours, built or cached; or --base) -> its Python (python/target.py)
      -> the project's dependencies (python/dependencies.py) -> wheels for that Python
      (python/wheels.py) -> installed, one tree per distribution (python/install.py)
      -> the libraries they need checked -> .pyc by the image's interpreter
      -> the project's own files or wheel (python/project.py) -> layers -> image

The base's layers are kept byte for byte. Above them: the third-party distributions (each
large one in a layer of its own, the rest together), then the project, which changes most
often, so a change to the code rewrites and pushes one small layer. The dependency layers
are cached under a key of their own inputs (the wheels' SHA256s, the base's digest and
Python, the Debian packages asked for, the timestamp), so an unchanged lock costs neither an
install nor a compression.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
import re
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydistroless.core.arch import architecture, for_platform
from pydistroless.core.cache import Cache, cache_key
from pydistroless.core.digest import Digest
from pydistroless.core.errors import (
    BuildError,
    ImageCheckError,
    PackageFormatError,
    ResolveError,
    UsageError,
)
from pydistroless.core.fetch import Fetcher
from pydistroless.core.report import log
from pydistroless.core.timestamps import epoch_of
from pydistroless.debian.store import Store
from pydistroless.fs import elf
from pydistroless.fs.disk import write_tree
from pydistroless.fs.tree import Entry, Kind, Tree
from pydistroless.oci import layer_cache
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.model import Artifact, Image, Layer
from pydistroless.oci.mutate import append, new_index, with_config
from pydistroless.oci.reference import check_tags
from pydistroless.oci.unpack import tree_of
from pydistroless.python import bytecode, dependencies, index_logins, install, project, wheels
from pydistroless.python.runtime import Target, from_image
from pydistroless.python.sdist import SdistCompiler
from pydistroless.recipes import app_libraries, sbom

DEFAULT_WORKDIR = project.APP_DIR
# A distribution this large gets a layer of its own: an update of it, or of anything else,
# then leaves the other layers as they are.
BIG_DISTRIBUTION = 20_000_000
_LAYER_RECORDS = "app-layers"


@dataclass(frozen=True)
class AppSpec:
    """What to build: the project, its dependency file, and how the image runs."""

    project: Path
    requirements: Path | None = None  # default: the most exact file in the project
    extras: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None  # default: see default_entrypoint
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()  # KEY=VALUE
    workdir: str = DEFAULT_WORKDIR
    expose: tuple[str, ...] = ()
    main: str | None = None  # a file of the project to run with the interpreter
    packages: tuple[str, ...] = ()  # Debian packages to add by hand (dlopen'ed libraries)
    tags: tuple[str, ...] = ()
    source_date_epoch: int | None = None
    # False: its dependencies alone, its files as they are, never its own wheel (as
    # `poetry install --no-root` or `uv sync --no-install-project`).
    install_project: bool = True


@dataclass(frozen=True)
class Checked:
    """What an app build reads of the project, checked before anything is downloaded."""

    meta: project.Metadata
    source: Path | None  # its dependency file; None: it has no dependencies
    installs: bool  # its own wheel is built and installed (else its files are copied)
    not_installed_because: str = ""  # for a project with a [build-system] that is not installed


@dataclass(frozen=True)
class Base:
    """A base image to build on, its SBOM when known, and for a base the host cannot run,
    a tree of the same Python for the host to byte-compile with."""

    image: Image
    sbom: bytes | None = None
    compiler: Tree | None = None


@dataclass(frozen=True)
class AppBuilt:
    """What an app build made: an image per architecture of the base."""

    images: tuple[Image, ...]
    tags: tuple[str, ...]
    sboms: tuple[tuple[str, bytes], ...]
    archs: tuple[str, ...]
    sbom_format: str
    ca_certs: tuple[Path, ...] = ()
    lock: bytes = b""  # the whole image pinned: base, Debian additions, wheels (JSON)

    @property
    def artifact(self) -> Artifact:
        return self.images[0] if len(self.images) == 1 else new_index(self.images)

    @property
    def digest(self) -> Digest:
        return self.artifact.digest


def build_app(
    spec: AppSpec,
    bases: Sequence[Base],
    ctx: Store,
    *,
    sbom_format: str = "spdx",
    ca_certs: tuple[Path, ...] = (),
    compile_sdist: SdistCompiler | None = None,
) -> AppBuilt:
    """``spec``'s project on each of ``bases`` (an image and its SBOM, if known).
    ``compile_sdist`` builds the wheels of source distributions that compile, for the base's
    Python; without it such a pin is refused."""
    checked = check_app(spec)
    meta = checked.meta
    if checked.not_installed_because:
        log(
            f"the project is not installed ({checked.not_installed_because}): its dependencies "
            f"alone, and its files under {spec.workdir} as they are"
        )
    name = _image_name(spec, meta)
    tags = spec.tags or (f"{name}:latest",)
    images, sboms, archs, pinned = [], [], [], []
    for base in bases:
        image, packages, debian = _build_one(spec, checked, base, ctx, compile_sdist)
        images.append(image)
        archs.append(_arch_of(image))
        pinned.append(_lock_entry(archs[-1], base.image, image, packages, debian))
        major = image.labels.get("dev.pydistroless.debian.version", "").split(".")[0]
        subject = sbom.SbomSubject(tags[0], archs[-1], major, _created(image))
        sboms.append(
            (
                archs[-1],
                sbom.add_packages(
                    base.sbom, packages, fmt=sbom_format, subject=subject, debian=debian
                ),
            )
        )
    return AppBuilt(
        images=tuple(images),
        tags=tuple(tags),
        sboms=tuple(sboms),
        archs=tuple(archs),
        sbom_format=sbom_format,
        ca_certs=ca_certs,
        lock=(json.dumps({"lock-version": 1, "images": pinned}, indent=2) + "\n").encode(),
    )


def check_app(spec: AppSpec) -> Checked:
    """The project's metadata, its dependency file, whether it is installed, its tags and
    what the image runs, each checked: a mistake in any is one line before the base is
    built or a wheel downloaded."""
    meta = project.metadata(spec.project)
    source = dependencies.find(spec.project, spec.requirements)
    check_tags(spec.tags)
    installs, because = _installs(spec, meta)
    checked = Checked(meta, source, installs, because)
    if spec.entrypoint is None:
        _default_program(spec, checked)
    return checked


def _installs(spec: AppSpec, meta: project.Metadata) -> tuple[bool, str]:
    """Whether the project's own wheel is built and installed, and, for a project with a
    [build-system] that is not, why. It is when it has a [build-system], is not said to be
    no package, has a name, and has something to package: settings that say what goes into
    the wheel (or scripts, which only an installed distribution has), or a package or module
    named after it."""
    if not meta.build_system:
        return False, ""
    if not spec.install_project:
        return False, "asked with --no-install-project"
    if meta.not_a_package:
        return False, meta.not_a_package
    if meta.name is None:
        return False, "it has a [build-system] but no name in [project] or [tool.poetry]"
    if not meta.packaging_declared and not project.importable(spec.project, meta.name):
        module = _canonical(meta.name).replace("-", "_")
        return False, (
            f"it has a [build-system] but no package or module {module} (nor a src/ folder) "
            "to put in a wheel"
        )
    return True, ""


def _lock_entry(
    arch: str,
    base: Image,
    image: Image,
    packages: Sequence[sbom.PythonPackage],
    debian: Sequence[sbom.SbomPackage],
) -> dict:
    """Everything one architecture's image is made of, pinned."""
    return {
        "arch": arch,
        "base": str(base.digest),
        "image": str(image.digest),
        "debian": [
            {"name": p.name, "version": p.version, "sha256": p.sha256, "url": p.url}
            for p in sorted(debian, key=lambda p: p.name)
        ],
        "wheels": [
            {
                "name": p.name,
                "version": p.version,
                "file": p.wheel,
                "sha256": p.sha256,
                "url": p.url,
            }
            for p in sorted(packages, key=lambda p: p.name)
        ],
    }


def _build_one(
    spec: AppSpec,
    checked: Checked,
    given: Base,
    ctx: Store,
    compile_sdist: SdistCompiler | None,
) -> tuple[Image, list[sbom.PythonPackage], tuple[sbom.SbomPackage, ...]]:
    """The app on one base image, the Python distributions it holds and the Debian
    packages added for them."""
    meta, source = checked.meta, checked.source
    base = given.image
    files = _BaseFiles(base, ctx.cache)
    target, executables = files.facts()
    log(f"app on {target.describe()}")
    mtime = spec.source_date_epoch if spec.source_date_epoch is not None else _created(base)
    dep_layers: tuple[Layer, ...] = ()
    scripts: tuple[str, ...] = ()
    debian: tuple[sbom.SbomPackage, ...] = ()
    packages: list[sbom.PythonPackage] = []
    deps = None if source is None else dependencies.read(source, target.markers, extras=spec.extras)
    indexes = () if deps is None else deps.indexes
    project_tree = _project_tree(spec, checked, target, compile_sdist, indexes)
    own = _Own(meta.name or spec.project.name, project_tree)
    if deps is not None or spec.packages or own.elves:
        chosen: list[wheels.Chosen] = []
        fetcher = ctx.fetcher
        if deps is not None:
            # The indexes' logins, for their hosts only; the mirrors' stay with the mirrors.
            fetcher = ctx.fetcher.with_credentials(index_logins.credentials(deps, spec.project))
            metadata = (
                None
                if compile_sdist is None
                else wheels.sdist_metadata_by(
                    lambda sdist, indexes: compile_sdist.metadata(sdist, target, indexes),
                    fetcher,
                    target,
                    indexes=deps.indexes,
                )
            )
            pins = wheels.pins_for(deps, target, ctx.cache, sdist_metadata=metadata)
            if meta.name:  # the project itself is installed from its own files
                pins = tuple(p for p in pins if p.name != _canonical(meta.name))
            chosen = wheels.choose(
                pins, target, source=str(source), cache=ctx.cache, indexes=deps.indexes
            )
        found = _dependency_layers(
            chosen,
            own,
            target,
            given,
            files,
            mtime,
            spec.packages,
            ctx,
            compile_sdist,
            fetcher,
            indexes,
        )
        dep_layers, scripts, debian = found.layers, found.scripts, found.debian
        packages = [
            sbom.PythonPackage(
                c.pin.name,
                c.pin.version,
                c.wheel.sha256,
                c.wheel.filename,
                c.wheel.url,
                direct=bool(c.pin.direct),
            )
            for c in chosen
        ]
    _compile([project_tree], target, files, given.compiler)
    project_layer = layer_from_tree(
        project_tree, mtime=mtime, comment=f"the project {meta.name or spec.project.name}"
    )
    image = append(base, [*dep_layers, project_layer], created=mtime)
    entrypoint = spec.entrypoint or default_entrypoint(spec, checked, target)
    check_entrypoint(project_tree, entrypoint, spec.workdir, scripts=(*scripts, *executables))
    env = dict(item.split("=", 1) for item in spec.env)
    env.setdefault("PYTHONUNBUFFERED", "1")  # logs reach `docker logs` as they are written
    image = with_config(
        image,
        entrypoint=entrypoint,
        cmd=spec.cmd,
        env=env,
        working_dir=spec.workdir,
        exposed_ports=spec.expose or None,
        labels={"org.opencontainers.image.title": meta.name or spec.project.name},
    )
    return image, packages, debian


# ---- third-party distributions ---------------------------------------------------------------


@dataclass(frozen=True)
class _Own:
    """The project's own files, installed or copied: the shared libraries its ELF files
    (its C extensions, built with its wheel, or shipped in its folder) load must be in the
    image as much as a dependency's."""

    name: str
    tree: Tree

    @functools.cached_property
    def elves(self) -> dict[str, str]:
        """Its ELF files: image path -> the SHA256 of its bytes."""
        return {
            e.path: hashlib.sha256(e.data).hexdigest()
            for e in self.tree.files()
            if e.data[:4] == elf.ELF_MAGIC
        }


def _dependency_layers(
    chosen: Sequence[wheels.Chosen],
    own: _Own,
    target: Target,
    given: Base,
    files: _BaseFiles,
    mtime: int,
    by_hand: Sequence[str],
    ctx: Store,
    compile_sdist: SdistCompiler | None,
    fetcher: Fetcher,
    indexes: Sequence[str],
) -> _Dependencies:
    """The layers of the distributions, the scripts they install and the Debian packages
    added for them and for the project's own ELF files (``own``, which go into the project's
    layer, not these), from the cache when the same wheels and ELF files went into the same
    base before.
    ``fetcher`` downloads the wheels, with the logins of their indexes (``indexes``, the
    dependency file's index lines, serve the builds of source distributions)."""
    key = cache_key(
        {
            "wheels": sorted(c.wheel.sha256 for c in chosen),
            "target": [
                target.interpreter,
                target.abi,
                target.site_packages,
                target.arch.debian,
            ],
            "mtime": mtime,
            # Libraries may be added from the base's suite: a new base is a new answer.
            "base": str(given.image.digest),
            "packages": sorted(by_hand),
            **({"own": own.elves} if own.elves else {}),
        }
    )
    found = layer_cache.cached(ctx.cache, _LAYER_RECORDS, key, _record_of)
    if found is not None:
        log(f"{len(chosen)} distribution(s): layers from the cache")
        cached = _Dependencies(found[0], *found[1])
        for line in cached.report:
            log(line)
        return cached
    compiler = given.compiler
    compile_for = (
        None
        if compile_sdist is None
        else lambda sdist, into, indexes: compile_sdist(sdist, into, target, indexes)
    )
    downloaded = wheels.download(chosen, fetcher, target, compile_for, indexes=indexes)
    installed = install.install_all(
        [
            (c.path, c.wheel.filename, c.pin.name, c.pin.version)
            for c in downloaded
            if c.path is not None
        ],
        target,
    )
    merged = _merged(files.tree(), [*(i.tree for i in installed), own.tree])
    owners = {p: i.name for i in installed for p in _elf_paths(i.tree)}
    owners.update(dict.fromkeys(own.elves, own.name))
    added = _system_libraries(merged, owners, target, by_hand, ctx)
    _compile([i.tree for i in installed], target, files, compiler)
    groups = _group(installed)
    if added is not None:
        names = " ".join(added.packages) or "libraries of the base's packages"
        groups.insert(0, (added.tree, _comment(f"Debian: {names}")))
    layers = tuple(layer_from_tree(tree, mtime=mtime, comment=comment) for tree, comment in groups)
    scripts = tuple(sorted(s for i in installed for s in i.scripts))
    debian = added.sbom if added is not None else ()
    report = added.report if added is not None else ()
    layer_cache.keep(
        ctx.cache,
        _LAYER_RECORDS,
        key,
        layers,
        scripts=list(scripts),
        debian=[dataclasses.asdict(p) for p in debian],
        report=list(report),
    )
    total = sum(i.size for i in installed)
    log(f"{len(installed)} distribution(s), {total / 1e6:.1f} MB, in {len(layers)} layer(s)")
    return _Dependencies(layers, scripts, debian, report)


@dataclass(frozen=True)
class _Dependencies:
    layers: tuple[Layer, ...]
    scripts: tuple[str, ...]  # the console scripts they install (image paths)
    debian: tuple[sbom.SbomPackage, ...]  # the Debian packages added for them
    report: tuple[str, ...] = ()  # what was added, and for whom


def _record_of(
    rest: dict,
) -> tuple[tuple[str, ...], tuple[sbom.SbomPackage, ...], tuple[str, ...]]:
    """The rest of an app layer record, its form checked."""
    scripts, debian, report = rest.get("scripts"), rest.get("debian"), rest.get("report")
    if set(rest) != {"scripts", "debian", "report"} or not isinstance(scripts, list):
        raise ValueError("not an app layer record")
    if not all(isinstance(s, str) and s.startswith("/") for s in scripts):
        raise ValueError("not a script path")
    if not isinstance(debian, list):
        raise ValueError("not a list of packages")
    if not isinstance(report, list) or not all(isinstance(line, str) for line in report):
        raise ValueError("not a report")
    try:
        packages = tuple(
            sbom.SbomPackage(**{**p, "licenses": tuple(p["licenses"])}) for p in debian
        )
    except (TypeError, KeyError) as exc:
        raise ValueError("not a package") from exc
    return tuple(scripts), packages, tuple(report)


def _group(installed: Sequence[install.InstalledDistribution]) -> list[tuple[Tree, str]]:
    """Large distributions alone, the others in one layer, in name order."""
    big = [i for i in installed if i.size > BIG_DISTRIBUTION]
    small = [i for i in installed if i.size <= BIG_DISTRIBUTION]
    groups: list[tuple[Tree, str]] = []
    if small:
        names = " ".join(f"{i.name}=={i.version}" for i in small)
        groups.append((_merged(Tree(), [i.tree for i in small]), _comment(names)))
    for item in big:
        groups.append((item.tree, f"{item.name}=={item.version}"))
    return groups


def _comment(text: str) -> str:
    return text if len(text) < 190 else text[:180].rsplit(" ", 1)[0] + " ..."


def _elf_paths(tree: Tree) -> list[str]:
    # Judged by content, not by name: a data file called "x.so.parquet" is no library, and an
    # executable in bin/ needs its libraries as much as an extension module does.
    return [e.path for e in tree.files() if e.data[:4] == elf.ELF_MAGIC]


def _system_libraries(
    merged: Tree,
    owner_of: Mapping[str, str],
    target: Target,
    by_hand: Sequence[str],
    ctx: Store,
) -> app_libraries.Added | None:
    """Every shared library the ELF files of ``owner_of`` (path -> the distribution, or the
    project, it is part of) need must be in the image: in a wheel (auditwheel's ``.libs``),
    in the base, or added from Debian here, with the packages asked for ``by_hand``
    (libraries loaded with ``dlopen``, which no ELF header names), and what those need in
    turn."""
    arch, suite = target.arch.debian, target.suite
    added = app_libraries.complete(merged, owner_of, arch, suite, ctx, by_hand=by_hand)
    for line in added.report if added else ():
        log(line)
    return added


# ---- the project ---------------------------------------------------------------------------


def _project_tree(
    spec: AppSpec,
    checked: Checked,
    target: Target,
    compile_sdist: SdistCompiler | None,
    indexes: tuple[str, ...],
) -> Tree:
    """The project's files under the working directory, or, for a project that is installed
    (see :func:`_installs`), its wheel installed like the others. The wheel is built as an
    sdist's is, in the sandboxed builder image: its build backend comes from the index, and
    runs nowhere else."""
    if not checked.installs:
        return project.files(spec.project, into=spec.workdir)
    if compile_sdist is None:
        raise UsageError(
            f"{spec.project} is a package (it has a [build-system]), whose wheel is built in "
            "the base's builder image, and this build has none; give --no-install-project "
            "to copy its files as they are"
        )
    name = re.sub(r"[^A-Za-z0-9.]+", "_", checked.meta.name or spec.project.resolve().name)
    top = f"{name}-0"
    with tempfile.TemporaryDirectory(prefix="pydistroless-project-") as tmp:
        # The project as an sdist: the files that go into an image, ignore rules applied.
        unpacked = Path(tmp) / "unpacked"
        unpacked.mkdir()
        write_tree(project.files(spec.project, into=top), unpacked)
        archive = Path(tmp) / f"{top}.tar.gz"
        _write_sdist(unpacked / top, archive)
        out = Path(tmp) / "out"
        out.mkdir()
        try:
            wheel = compile_sdist(archive, out, target, indexes)
            wheel_name, version = wheel.name.split("-")[:2]
            tree = install.install_wheel(wheel, wheel_name, version, target).tree
        except (ResolveError, PackageFormatError) as exc:
            # The messages of a dependency's build blame the dependency; this is the
            # project's own, which may be an application that was never meant to be built.
            raise BuildError(
                f"building the project's own wheel ({checked.meta.name}) failed: {exc}; if "
                "it is an application, not a package, give --no-install-project (or "
                "no-install-project = true in [tool.pydistroless.app]) to install its "
                "dependencies alone and copy its files as they are"
            ) from None
    tree.add_dir(spec.workdir.strip("/"))
    return tree


# The date of every file of the project's sdist: the earliest a wheel (a zip) can hold.
_SDIST_MTIME = 315532800


def _write_sdist(folder: Path, archive: Path) -> None:
    """``folder`` as a ``.tar.gz`` whose bytes are those of its files and their modes alone
    (no dates, owners or gzip timestamp): an unchanged project is the same sdist, whose wheel
    the compiler keeps instead of building it again."""

    def same(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = _SDIST_MTIME, 0, 0, "", ""
        return info

    with (
        archive.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.add(folder, arcname=folder.name, filter=same)


def default_entrypoint(spec: AppSpec, checked: Checked, target: Target) -> tuple[str, ...]:
    """What the image runs when nothing says (see :func:`_default_program`)."""
    kind, name = _default_program(spec, checked)
    if kind == "script":
        return (f"{install.SCRIPTS_DIR}/{name}",)
    if kind == "module":
        return (target.interpreter, "-m", name)
    return (
        target.interpreter,
        name if name.startswith("/") else f"{spec.workdir.rstrip('/')}/{name}",
    )


def _default_program(spec: AppSpec, checked: Checked) -> tuple[str, str]:
    """What the image runs when nothing says, decided from the project alone (so before any
    download): for an installed project its only script (``("script", NAME)``), else its
    package with ``python -m`` (``("module", NAME)``); else the file ``main`` names, or the
    one of ``main.py`` and ``app.py`` there is (``("file", PATH)``)."""
    meta = checked.meta
    main = spec.main or (meta.app or {}).get("main")
    if checked.installs and main is not None:
        # Its files are not copied, only what its wheel installs: the file may not be there.
        raise UsageError(
            f"--main {main} (or main in [tool.pydistroless.app]) names a file of the project's "
            f"folder, but {meta.name or spec.project.name} is a package, installed from its "
            "wheel; give --no-install-project to copy its files as they are, or --entrypoint "
            "for what its wheel installs"
        )
    if checked.installs and len(meta.scripts) == 1:
        return "script", meta.scripts[0][0]
    if checked.installs and meta.name:
        return "module", _canonical(meta.name).replace("-", "_")
    if main is not None:
        if not main.startswith("/") and not (spec.project / main).is_file():
            raise UsageError(
                f"the file to run, {main}, is not in {spec.project}; check --main (or main "
                "in [tool.pydistroless.app]): a file of the project, relative to its folder"
            )
        return "file", main
    candidates = [n for n in ("main.py", "app.py") if (spec.project / n).is_file()]
    if len(candidates) > 1:
        raise UsageError(
            f"{spec.project} has both main.py and app.py, and nothing says which the image "
            "runs; give --main main.py (or --main app.py, or main = ... in "
            "[tool.pydistroless.app]), or --entrypoint"
        )
    if not candidates:
        raise UsageError(
            f"{spec.project}: no entrypoint to choose (no [project.scripts], no main.py or "
            "app.py); give --entrypoint, or --main FILE"
        )
    return "file", candidates[0]


def check_entrypoint(
    tree: Tree, entrypoint: Sequence[str], workdir: str, *, scripts: Sequence[str] = ()
) -> None:
    """The program the image starts must be an executable file of the image (``tree``, or
    one of the distributions' ``scripts``); a script the interpreter is given must be there
    too."""
    program = entrypoint[0]
    candidates = (
        [program]
        if program.startswith("/")
        else [f"{d}/{program}" for d in ("/usr/local/bin", "/usr/bin", "/bin")]
    )
    for candidate in candidates:
        if candidate in scripts:
            break
        real = tree.resolve(candidate.lstrip("/"))
        entry = tree.get(real) if real else None
        if entry is not None and entry.kind is Kind.HARDLINK:
            entry = tree.get(entry.target)
        if entry is not None and entry.kind is Kind.FILE and entry.is_executable:
            break
    else:
        raise ImageCheckError(
            f"the entrypoint {program} is not an executable file in the image; check "
            "--entrypoint, or the dependency that should install it"
        )
    if re.search(r"/python3(\.\d+)?$", program) and len(entrypoint) > 1:
        script = entrypoint[1]
        if not script.startswith("-"):
            path = script if script.startswith("/") else f"{workdir.rstrip('/')}/{script}"
            if tree.get(path.lstrip("/")) is None:
                raise ImageCheckError(
                    f"the entrypoint runs {path}, which is not in the image; check --main "
                    "or --entrypoint, and the project's .dockerignore"
                )


# ---- helpers ---------------------------------------------------------------------------------


def _compile(
    parts: Sequence[Tree], target: Target, files: _BaseFiles, compiler: Tree | None = None
) -> None:
    """Byte-compile the ``.py`` files of ``parts`` in one run of the image's interpreter (for
    a base the host cannot run, ``compiler``, the same Python for the host), putting each
    ``.pyc`` beside its source. The interpreter is unpacked once per base and kept."""
    sources = {e.path: part for part in parts for e in part.files() if e.path.endswith(".py")}
    if not sources:
        return
    tree = Tree()
    for part in parts:
        for path in (p for p, owner in sources.items() if owner is part):
            tree.add_file(path, part.read(path) or b"")
    kept = files.cache.root / "compilers" / f"{files.image.digest.hex}-{target.arch.debian}"
    kept.parent.mkdir(parents=True, exist_ok=True)
    report = bytecode.compile_stdlib(
        tree,
        target.python,
        target.arch.debian,
        sources=list(sources),
        host_tree=compiler,
        compiler_dir=kept,
        interpreter_tree=files.tree,
    )
    for source, part in sources.items():
        pyc = bytecode.pyc_path(source, target.python)
        data = tree.read(pyc)
        if data is not None:
            part.add_file(pyc, data, 0o644)
    if report.failed:
        log(f"note: {report.failed} file(s) did not compile (syntax errors); they run uncompiled")


class _BaseFiles:
    """The base image's file tree, unpacked only when a step needs it (a warm build does
    not), and the facts an app build needs from it, kept per base digest."""

    def __init__(self, image: Image, cache: Cache):
        self.image = image
        self.cache = cache
        self._tree: Tree | None = None

    def tree(self) -> Tree:
        if self._tree is None:
            self._tree = tree_of(self.image)
        return self._tree

    def facts(self) -> tuple[Target, tuple[str, ...]]:
        """The base's Python (checked against its files) and its executables on PATH."""
        key = self.image.digest.hex
        known = self.cache.get_checked_record(_facts_of, "app-bases", key)
        if known is not None:
            return known
        tree = self.tree()
        target = from_image(self.image, tree, where=_describe(self.image))
        on_path = ("usr/local/bin/", "usr/bin/", "bin/")
        executables = tuple(
            sorted(
                "/" + e.path
                for e in tree.entries()
                if e.path.startswith(on_path) and (real := tree.resolve(e.path)) is not None
                and (found := _file_of(tree, real)) is not None and found.is_executable
            )
        )  # fmt: skip
        body = {"target": _target_json(target), "executables": list(executables)}
        self.cache.put_checked_record(body, "app-bases", key)
        return target, executables


def _file_of(tree: Tree, path: str) -> Entry | None:
    """The entry at ``path``, or for a hard link the file whose content it shares (a
    free-threaded CPython's python3.13t is one, to python3.13)."""
    entry = tree.get(path)
    return tree.get(entry.target) if entry is not None and entry.kind is Kind.HARDLINK else entry


def _target_json(target: Target) -> dict:
    return {
        "python": target.python,
        "version": target.version,
        "abi": target.abi,
        "interpreter": target.interpreter,
        "site_packages": target.site_packages,
        "glibc": list(target.glibc),
        "arch": target.arch.debian,
        "suite": target.suite,
    }


def _facts_of(body: object) -> tuple[Target, tuple[str, ...]]:
    if not isinstance(body, dict) or set(body) != {"target", "executables"}:
        raise ValueError("not a base record")
    data, executables = body["target"], body["executables"]
    if not isinstance(data, dict) or not isinstance(executables, list):
        raise ValueError("not a base record")
    try:
        target = Target(
            python=str(data["python"]),
            version=str(data["version"]),
            abi=str(data["abi"]),
            interpreter=str(data["interpreter"]),
            site_packages=str(data["site_packages"]),
            glibc=(int(data["glibc"][0]), int(data["glibc"][1])),
            arch=architecture(str(data["arch"])),
            suite=data["suite"] if isinstance(data["suite"], str) else None,
        )
    except (KeyError, TypeError, ValueError, IndexError, UsageError) as exc:
        raise ValueError("not a base record") from exc
    return target, tuple(str(e) for e in executables)


def _merged(base: Tree, parts: Sequence[Tree]) -> Tree:
    """A new tree: ``base`` with every entry of ``parts`` over it."""
    tree = Tree()
    for entry in base.entries():
        tree.add(entry)
    for part in parts:
        for entry in part.entries():
            if entry.kind is Kind.DIR and entry.path in tree:
                continue
            tree.add(entry)
    return tree


def _created(image: Image) -> int:
    return epoch_of(image.config_json.get("created"))


def _arch_of(image: Image) -> str:
    found = for_platform(image.platform) if image.platform else None
    return found.debian if found else "unknown"


def _describe(image: Image) -> str:
    return f"the base image {image.digest}"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _image_name(spec: AppSpec, meta: project.Metadata) -> str:
    raw = meta.name or spec.project.resolve().name
    name = re.sub(r"[^a-z0-9._-]+", "-", raw.lower()).strip("-._")
    return name or "app"
