"""The build pipeline, end to end: spec -> lock -> .debs -> tree -> image -> index.

Each stage lives in its own module and knows nothing of the stages after it; this module only
wires them together and owns the two build caches:

- the resolution cache (in :mod:`pydistroless.recipes.plan`), keyed by the signed Release files;
- the image cache here, keyed by everything an image's bytes depend on (the exact ``.deb``
  digests, the spec, the timestamp, this version of pydistroless), so an unchanged rebuild
  skips unpacking and compression.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from email.utils import parsedate_to_datetime
from pathlib import Path

from pydistroless.core.arch import architecture, host_arch
from pydistroless.core.cache import Cache, cache_key, log_cache_problem, sha256_hex
from pydistroless.core.digest import Digest
from pydistroless.core.errors import PydistrolessError
from pydistroless.core.report import log
from pydistroless.debian.deb import DebPackage
from pydistroless.debian.rootfs import unpack
from pydistroless.debian.store import LockedPackage, Store
from pydistroless.fs import generate, layering, slicing
from pydistroless.fs.elf import ElfReader
from pydistroless.fs.tree import Tree
from pydistroless.oci import layer_cache
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.model import Artifact, Image, Layer
from pydistroless.oci.mutate import ImageConfig, new_image, new_index
from pydistroless.python import bytecode, cpython, debian_python, runtime, stdlib_zip
from pydistroless.recipes.assemble import assemble
from pydistroless.recipes.lock import ArchLock, Lock, runtime_of
from pydistroless.recipes.plan import plan
from pydistroless.recipes.spec import (
    DEFAULT_SUITE,
    ImageSpec,
    check_source_date_epoch,
    default_user,
)

IMAGE_NAME = "pydistroless/python"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Built:
    spec: ImageSpec
    lock: Lock
    images: tuple[Image, ...]  # one per architecture, in the spec's order
    tags: tuple[str, ...]
    sboms: tuple[tuple[str, bytes], ...]  # (arch, document) per image

    @property
    def artifact(self) -> Artifact:
        """What is written and pushed: the image itself for one platform, else an index."""
        if len(self.images) == 1:
            return self.images[0]
        return new_index(self.images)

    @property
    def digest(self) -> Digest:
        """What users pull by: the index digest for several platforms, else the manifest's."""
        return self.artifact.digest

    @property
    def archs(self) -> tuple[str, ...]:
        return self.spec.archs

    @property
    def sbom_format(self) -> str:
        return self.spec.sbom_format

    @property
    def ca_certs(self) -> tuple[Path, ...]:
        """Certificates the image trusts, and so does its push."""
        return tuple(self.spec.ca_certs)


@dataclass
class _BuildMemo:
    """What one build learns once and its stages and architectures share: the stdlib
    ``.pyc`` (compiling may start in the background as soon as the interpreter's packages
    are known, :func:`build`; the assembly waits for that work just before it would
    compile) and the facts of the ELF files."""

    pyc: dict[str, bytes] = field(default_factory=dict)
    pending: list[Future[None]] = field(default_factory=list)
    # The ELF files' facts, shared by the plan's pruning and each image's library check.
    elf_reader: ElfReader = field(default_factory=ElfReader)

    def ready(self) -> dict[str, bytes]:
        while self.pending:
            self.pending.pop().result()
        return self.pyc


def build(spec: ImageSpec, ctx: Store, *, lock: Lock | None = None) -> Built:
    started = time.monotonic()
    extra_certs = _extra_certs(spec)
    memo = _BuildMemo()
    cancelled = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="pydistroless-pyc") as background:
        try:
            if lock is None:

                def precompile(arch: str, closure: tuple[LockedPackage, ...]) -> None:
                    python = _python_of(closure)
                    if not spec.pyc or arch != host_arch() or python is None:
                        return
                    # The interpreter's packages are read here, before the rest of the
                    # closure: the compilation needs only them and starts as soon as they are
                    # in, instead of waiting while the other packages' decompression takes
                    # the cores.
                    debs = ctx.debs(debian_python.interpreter_packages(closure, python))
                    memo.pending.append(
                        background.submit(
                            _precompile, spec, memo.pyc, closure, python, debs, cancelled
                        )
                    )

                # Compiling runs in subprocesses while planning and assembly go on in this
                # one; the assembly waits for it just before it would compile.
                lock = plan(spec, ctx, on_resolved=precompile, elf_reader=memo.elf_reader)
            built = _build_images(spec, lock, ctx, extra_certs, memo)
        except BaseException:
            # The build's own error is the last word: work started early for it stops at its
            # next step, says nothing of what it meets on the way out, and is waited for, so
            # none of its lines can come after the error.
            cancelled.set()
            for future in memo.pending:
                future.cancel()
            wait(memo.pending)
            raise
    log(f"built {built.tags[0]} in {time.monotonic() - started:.1f} s")
    return built


def _build_images(
    spec: ImageSpec,
    lock: Lock,
    ctx: Store,
    extra_certs: Sequence[tuple[str, bytes]],
    memo: _BuildMemo,
) -> Built:
    mtime = source_date_epoch(spec, lock)
    # Tags given replace the default ones: loading an image built with --tag must not move
    # the shared pydistroless/python names onto it.
    tags = spec.tags or default_tags(spec, lock)
    images = []
    sboms = []
    for arch in spec.archs:
        arch_lock = lock.for_arch(arch)
        image, document = _build_arch(spec, lock, arch_lock, ctx, extra_certs, mtime, tags[0], memo)
        images.append(image)
        sboms.append((arch, document))
    return Built(spec=spec, lock=lock, images=tuple(images), tags=tags, sboms=tuple(sboms))


def _extra_certs(spec: ImageSpec) -> list[tuple[str, bytes]]:
    """The ``--ca-cert`` certificates, read before anything is downloaded; what a file held
    besides certificates (a private key, say) is named and left out."""
    certs = []
    for path, parsed in zip(spec.ca_certs, generate.read_extra_certs(spec.ca_certs), strict=True):
        if parsed.skipped:
            log(f"--ca-cert {path}: left out {', '.join(parsed.skipped)}: only certificates go in")
        certs.append((parsed.name, parsed.pem))
    return certs


def _python_of(closure: Sequence[LockedPackage]) -> str | None:
    """The ``3.X`` whose interpreter package the closure holds."""
    return next(
        (m.group(1) for p in closure if (m := re.fullmatch(r"python(3\.\d+)-minimal", p.name))),
        None,
    )


def _precompile(
    spec: ImageSpec,
    memo: dict[str, bytes],
    closure: tuple[LockedPackage, ...],
    python: str,
    debs: Sequence[DebPackage],
    cancelled: threading.Event,
) -> None:
    """Byte-compile the stdlib of the resolved Python into ``memo``, from its
    interpreter's packages (``debs``) alone; the assembly then finds every ``.pyc`` made. Any
    failure here only means the assembly compiles them itself (and reports what went wrong);
    once the build has failed (``cancelled``), nothing is reported at all."""
    try:
        interpreter = next(
            p for p in closure if p.name == debian_python.interpreter_package(python)
        )
        tree = unpack(debs)
        slicing.cut(tree, spec.kept)
        if spec.cuts("stdlib-sources"):
            stdlib_zip.add_hook(tree, python)  # so that its .pyc is made with the others
        if cancelled.is_set():
            return
        bytecode.compile_stdlib(
            tree,
            python,
            host_arch(),
            memo=memo,
            compiler_id=interpreter.version,
            cancelled=cancelled,
        )
    except PydistrolessError:
        # The same step in the assembly meets the same problem and reports it, once.
        return
    except Exception as exc:  # an optimisation only: the assembly compiles what is missing
        if not cancelled.is_set():
            log(f"note: compiling the stdlib early did not work ({exc}); it is done later")


def source_date_epoch(spec: ImageSpec, lock: Lock) -> int:
    """Timestamps inside the image: SOURCE_DATE_EPOCH if given, else the newest Release date
    of the archive state the lock was made from (so a lock alone fixes every byte)."""
    if spec.source_date_epoch is not None:
        return spec.source_date_epoch
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        return check_source_date_epoch(env, "SOURCE_DATE_EPOCH")
    dates = [int(parsedate_to_datetime(r.date).timestamp()) for r in lock.releases if r.date]
    return max(dates) if dates else 0


def default_tags(spec: ImageSpec, lock: Lock) -> tuple[str, ...]:
    """``3.13-debian13``, ``3.13.5-debian13`` (with ``-debug`` and ``-root`` or ``-uidN``
    suffixes as they apply), and for the default Python of the default suite the short
    aliases Google's images use: ``nonroot``, ``debug-nonroot``, ``root``, ``debug-root``."""
    python = lock.archs[0].python
    full = debian_python.upstream_version(lock.archs[0].python_package_version)
    source = lock.archs[0].python_source
    if source is not None:
        # Beside, not over, the tags of Debian's Python (which may be the same release); a
        # free-threaded build says so as its interpreter does: 3.13t, 3.13.15t.
        python += "-upstream"
        full += f"{source.abiflags}-upstream"
    debug = "" if spec.variant == "standard" else spec.variant
    account = spec.account if spec.account in ("root", "nonroot") else f"uid{spec.account}"
    # The variant's own user goes unsaid: ...-debian13 runs as nonroot, ...-builder as root.
    who = "" if spec.account == default_user(spec.variant) else account
    suffix = "".join(f"-{part}" for part in (f"debian{lock.debian_major}", debug, who) if part)
    tags = [f"{IMAGE_NAME}:{python}{suffix}", f"{IMAGE_NAME}:{full}{suffix}"]
    if spec.python is None and spec.suite == DEFAULT_SUITE and source is None:
        alias = "-".join(part for part in (debug, account) if part)
        tags.append(f"{IMAGE_NAME}:{alias}")
    return tuple(tags)


def _build_arch(
    spec: ImageSpec,
    lock: Lock,
    arch_lock: ArchLock,
    ctx: Store,
    extra_certs: Sequence[tuple[str, bytes]],
    mtime: int,
    image_name: str,
    memo: _BuildMemo,
) -> tuple[Image, bytes]:
    config = image_config(spec, lock, arch_lock, mtime)
    key = cache_key(
        {
            "packages": [p.sha256 for p in arch_lock.packages],
            "spec": _spec_key(spec),
            "certs": [sha256_hex(d) for _, d in extra_certs],
            "mtime": mtime,
            "name": image_name,
            "python_source": asdict(arch_lock.python_source) if arch_lock.python_source else None,
        }
    )
    cached = _cached_image(ctx.cache, key)
    if cached is not None:
        layers, document = cached
    else:
        debs = ctx.debs(arch_lock.packages)
        python_tree = None
        if arch_lock.python_source is not None:
            installed = cpython.compiled(
                arch_lock.python_source, lock.suite, arch_lock.arch, ctx,
                builder=arch_lock.builder, host_builder=arch_lock.host_builder,
            )  # fmt: skip
            python_tree = cpython.runtime_tree(installed, for_builds=spec.variant == "builder")
        assembly = assemble(
            spec,
            lock,
            arch_lock,
            debs,
            extra_certs,
            image_name=image_name,
            created=mtime,
            host_tree=host_python(spec, lock, arch_lock, ctx) if spec.pyc else None,
            pyc_ready=memo.ready,
            elf_reader=memo.elf_reader,
            python_tree=python_tree,
        )
        facts = {
            p.name: layering.PackageFacts(p.name, p.source, deb.mtime)
            for p, deb in zip(arch_lock.packages, debs, strict=True)
        }
        parts = layering.split(assembly.tree, packages=facts, python=arch_lock.python, epoch=mtime)
        layers = tuple(
            layer_from_tree(part.tree, mtime=part.mtime, comment=part.comment) for part in parts
        )
        document = assembly.sbom
        _store_image(ctx.cache, key, layers, document)
    image = new_image(architecture(arch_lock.arch).platform, config, layers)
    return image, document


def host_python(spec: ImageSpec, lock: Lock, arch_lock: ArchLock, ctx: Store) -> Tree | None:
    """For an image the host cannot run: the same Python for the host's architecture (Debian's,
    or the same upstream release compiled), to byte-compile the image's standard library with
    (bytecode does not depend on the CPU)."""
    host = host_arch()
    if arch_lock.arch == host:
        return None
    if arch_lock.python_source is not None:
        return cpython.host_compiler(
            arch_lock.python_source, lock.suite, ctx, builder=arch_lock.host_builder
        )
    try:
        if any(a.arch == host for a in lock.archs):
            host_lock = lock.for_arch(host)
        else:
            host_lock = plan(replace(spec, archs=(host,), packages=(), exclude=()), ctx).archs[0]
    except PydistrolessError as exc:
        log(f"note: no {host} Python to byte-compile the {arch_lock.arch} image with: {exc}")
        return None
    if host_lock.python_package_version != arch_lock.python_package_version:
        log(
            f"note: {host} has Python {host_lock.python_package_version}, not "
            f"{arch_lock.python_package_version}; it cannot compile the {arch_lock.arch} stdlib"
        )
        return None
    return unpack(
        ctx.debs(debian_python.interpreter_packages(host_lock.packages, arch_lock.python))
    )


# The builder's tools each read their CA bundle from a variable of their own (uv and
# OpenSSL SSL_CERT_FILE, pip PIP_CERT, requests and so poetry REQUESTS_CA_BUNDLE): all are
# pointed at the image's bundle, which holds any --ca-cert given.
BUILDER_CA_ENV = (
    f"PIP_CERT=/{generate.CA_BUNDLE}",
    f"REQUESTS_CA_BUNDLE=/{generate.CA_BUNDLE}",
)


def image_config(spec: ImageSpec, lock: Lock, arch_lock: ArchLock, mtime: int) -> ImageConfig:
    python = arch_lock.python
    path = DEFAULT_PATH + (":/busybox" if spec.variant in ("debug", "builder") else "")
    full = debian_python.upstream_version(arch_lock.python_package_version)
    source = arch_lock.python_source
    if source is None:
        made = f"{debian_python.interpreter_package(python)} {arch_lock.python_package_version}"
        origin = {"dev.pydistroless.python.debian-version": arch_lock.python_package_version}
    else:
        made = "compiled from the upstream source"
        origin = {"dev.pydistroless.python.source-sha256": source.sha256}
        if source.published_url:
            origin["dev.pydistroless.python.source"] = source.published_url
    labels = {
        "org.opencontainers.image.title": f"Python {python} on Debian {lock.debian_major}",
        "org.opencontainers.image.version": full,
        "org.opencontainers.image.description": (
            f"Distroless Python {full} ({made}) on Debian {lock.debian_version} "
            f"({lock.codename}), built by pydistroless"
        ),
        **origin,
        "dev.pydistroless.debian.version": lock.debian_version,
        "dev.pydistroless.variant": spec.variant,
        **runtime.labels(runtime_of(arch_lock, lock.codename)),
    }
    return ImageConfig(
        entrypoint=(debian_python.interpreter_path(python, arch_lock.prefix),),
        env=(
            f"PATH={path}",
            f"SSL_CERT_FILE=/{generate.CA_BUNDLE}",
            "LANG=C.UTF-8",
            *(BUILDER_CA_ENV if spec.variant == "builder" else ()),
        ),
        user=str(spec.uid),
        # A build stage starts at / as python:X-slim does; a runtime image in its user's home.
        working_dir="/"
        if spec.variant == "builder" or not spec.uid
        else generate.home_of(spec.uid),
        labels=tuple(sorted(labels.items())),
        created=mtime,
    )


def _spec_key(spec: ImageSpec) -> dict:
    data = asdict(spec)
    data.pop("tags", None)
    data["ca_certs"] = None  # their content is part of the key, not their paths
    return json.loads(json.dumps(data, default=str))


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _sbom_digest(rest: dict) -> str:
    """The rest of an image record: the SHA256 of its SBOM blob, its form checked."""
    sbom = rest.get("sbom")
    if (
        set(rest) != {"sbom"}
        or not isinstance(sbom, str)
        or not re.fullmatch(r"[0-9a-f]{64}", sbom)
    ):
        raise ValueError("not an SBOM digest")
    return sbom


def _cached_image(cache: Cache, key: str) -> tuple[tuple[Layer, ...], bytes] | None:
    """Layers and SBOM of an identical earlier build, every blob re-verified (a damaged one
    makes it a miss, so the image is built again)."""
    found = layer_cache.cached(cache, "images", key, _sbom_digest)
    if found is None:
        return None
    layers, sbom = found
    document = cache.get_blob(sbom)
    return None if document is None else (layers, document)


def _store_image(cache: Cache, key: str, layers: Sequence[Layer], document: bytes) -> None:
    """Keep a finished image for the next identical build (best effort)."""
    try:
        sbom = cache.put_blob(document)
    except OSError as exc:
        log_cache_problem(cache.root, exc)
        return
    layer_cache.keep(cache, "images", key, layers, sbom=sbom)
