"""In-toto statements about a build: its SBOM, and SLSA provenance v1 of what it was made from.

Pure functions from a build's result (:class:`~pydistroless.recipes.base.Built`,
:class:`~pydistroless.recipes.app.AppBuilt`) to statements, one per image pushed: each
platform's image and, for several platforms, the index. The predicates are named as cosign
names them (``--type spdxjson``, ``cyclonedx``, ``slsaprovenance1``), so ``cosign
verify-attestation`` reads ours and we read its.

The provenance lists every input by digest (``resolvedDependencies``): the signed InRelease
files the lock was resolved from, each ``.deb``, the CPython tarball and the packages of the
trees it is compiled in, the wheels and sdists of an app and its base image. Its
``externalParameters`` are the lock itself (content and digest), the version of pydistroless
and the options that change bytes, so the image can be rebuilt and compared. It carries no
invocation id and no start or finish time: a statement is a function of the build's inputs
alone, and two builds of one lock make the same one.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import zstandard

from pydistroless import __version__
from pydistroless.core.digest import Digest
from pydistroless.core.errors import ImageFormatError, UsageError
from pydistroless.core.timestamps import epoch_of
from pydistroless.debian.store import LockedPackage
from pydistroless.fs.tree import Kind, Tree
from pydistroless.oci.model import Artifact, Image, Index, canonical_json
from pydistroless.oci.unpack import Budget, apply_layer
from pydistroless.recipes import lock as lockfile
from pydistroless.recipes.app import AppBuilt, AppSpec
from pydistroless.recipes.base import Built
from pydistroless.recipes.sbom import SBOM_DIR

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SPDX = "https://spdx.dev/Document"
CYCLONEDX = "https://cyclonedx.org/bom"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
# The build types and the builder are the project's own: the labels' namespace
# (dev.pydistroless.*) read as a domain.
BUILD_TYPE_BASE = "https://pydistroless.dev/buildtypes/base/v1"
BUILD_TYPE_APP = "https://pydistroless.dev/buildtypes/app/v1"
BUILDER_ID = "https://pydistroless.dev/builder/cli"

# cosign's --type names (its PredicateTypeMap, cmd/cosign/cli/options/predicate.go, 2.5): the
# same words are accepted by `pydistroless verify --attestation`.
COSIGN_TYPES = {
    "spdx": SPDX,
    "spdxjson": SPDX,
    "cyclonedx": CYCLONEDX,
    "slsaprovenance1": SLSA_PROVENANCE,
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "link": "https://in-toto.io/Link/v1",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "openvex": "https://openvex.dev/ns",
    "custom": "https://cosign.sigstore.dev/attestation/v1",
}
SBOM_PREDICATES = {"spdx": SPDX, "cyclonedx": CYCLONEDX}


@dataclass(frozen=True)
class Attestation:
    """One statement to sign and attach: about ``subject``, of ``predicate_type``."""

    subject: Digest
    predicate_type: str
    statement: bytes  # the in-toto statement, canonical JSON


def predicate_type(name: str) -> str:
    """A cosign ``--type`` word or a predicate URI -> the predicate type URI."""
    if name in COSIGN_TYPES:
        return COSIGN_TYPES[name]
    if re.fullmatch(r"[a-z][a-z0-9+.-]*://\S+", name):
        return name
    raise UsageError(
        f"--attestation {name!r} is neither a predicate URI nor one of cosign's types "
        f"({', '.join(sorted(COSIGN_TYPES))})"
    )


def statement(name: str, digest: Digest, predicate_type: str, predicate: Any) -> Attestation:
    """The in-toto v1 statement that ``predicate`` holds of the image ``name@digest``."""
    body = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {digest.algorithm: digest.hex}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return Attestation(digest, predicate_type, canonical_json(body))


def sbom_statement(name: str, digest: Digest, document: bytes, fmt: str) -> Attestation:
    """The SBOM (SPDX or CycloneDX JSON, as the build made it) as a predicate."""
    try:
        predicate = json.loads(document)
    except ValueError as exc:
        raise UsageError(f"the SBOM of {name}@{digest} is not JSON ({exc})") from None
    return statement(name, digest, SBOM_PREDICATES[fmt], predicate)


def sbom_format_of(document: bytes, where: str = "the SBOM") -> str:
    """``spdx`` or ``cyclonedx``: which of our formats ``document`` is."""
    try:
        data = json.loads(document)
    except ValueError:
        data = None
    if isinstance(data, dict) and "spdxVersion" in data:
        return "spdx"
    if isinstance(data, dict) and data.get("bomFormat") == "CycloneDX":
        return "cyclonedx"
    raise UsageError(
        f"{where} is neither SPDX nor CycloneDX JSON, so it cannot be attested; give "
        "--attestations FILE (the .intoto.jsonl written beside the image) instead"
    )


# ---- the base recipe -----------------------------------------------------------------------


def base_attestations(
    built: Built, name: str, *, ca_certs: Sequence[tuple[str, bytes]] = ()
) -> tuple[Attestation, ...]:
    """The SBOM and the provenance of each image of ``built`` (pushed as ``name``), and of
    its index when there are several. ``ca_certs`` are the ``--ca-cert`` files the build
    read (name, content), inputs too."""
    per_arch = {arch: base_dependencies(built, (arch,)) for arch in built.archs}
    certs = [_file(f"--ca-cert {path}", data) for path, data in ca_certs]
    result = []
    for (arch, document), image in zip(built.sboms, built.images, strict=True):
        result.append(sbom_statement(name, image.digest, document, built.sbom_format))
        predicate = _base_predicate(built, image, [*per_arch[arch], *certs])
        result.append(statement(name, image.digest, SLSA_PROVENANCE, predicate))
    if len(built.images) > 1:
        index = built.artifact.digest
        for _, document in built.sboms:
            result.append(sbom_statement(name, index, document, built.sbom_format))
        every = _unique(d for arch in built.archs for d in per_arch[arch])
        predicate = _base_predicate(built, built.images[0], [*every, *certs])
        result.append(statement(name, index, SLSA_PROVENANCE, predicate))
    return tuple(result)


def base_dependencies(built: Built, archs: Sequence[str]) -> list[dict[str, Any]]:
    """Every input of the images of ``archs``: the InRelease files, the ``.deb`` files, the
    CPython tarball and the packages of its builder trees, the builder variant's tools."""
    lock = built.lock
    found = [_inrelease(lock, release) for release in lock.releases]
    for arch in archs:
        arch_lock = lock.for_arch(arch)
        found += [_deb(p) for p in arch_lock.packages]
        if arch_lock.python_source is not None:
            source = arch_lock.python_source
            found.append(
                _descriptor(
                    f"Python-{source.version}.tar.xz",
                    source.sha256,
                    uri=source.published_url,
                    annotations={"role": "cpython-source"},
                )
            )
        found += [_deb(p, role="cpython-builder") for p in arch_lock.builder]
        found += [_deb(p, role="cpython-host-builder") for p in arch_lock.host_builder]
        found += [d for line in arch_lock.python_tools for d in _tool(line)]
    return _unique(found)


def _base_predicate(built: Built, image: Image, dependencies: list[dict[str, Any]]) -> dict:
    text = lockfile.dumps(built.lock)
    spec = built.spec
    options = {
        "image-name": built.tags[0],
        "variant": spec.variant,
        "user": str(spec.uid),
        "keep": sorted(spec.kept),
        "pyc": spec.pyc,
        "sbom-format": spec.sbom_format,
        "source-date-epoch": epoch_of(image.config_json.get("created")),
    }
    return _slsa(
        BUILD_TYPE_BASE,
        {
            "lock": {
                "digest": {"sha256": Digest.of(text.encode()).hex},
                "content": json.loads(text),
            },
            "pydistroless": __version__,
            "options": options,
        },
        dependencies,
    )


# ---- the app recipe ------------------------------------------------------------------------


def app_attestations(
    built: AppBuilt,
    spec: AppSpec,
    name: str,
    *,
    base: Built | None = None,
    base_location: str | None = None,
) -> tuple[Attestation, ...]:
    """The SBOM and the provenance of each image of an app build (pushed as ``name``), and of
    its index. ``base`` is the base image's own build when it was built here (its inputs are
    then the app's too); else the base is known by its digest and ``base_location``, the
    registry reference it was read from."""
    app_lock = json.loads(built.lock)
    entries = {entry["arch"]: entry for entry in app_lock["images"]}
    result = []
    per_arch = {}
    for arch in built.archs:
        found = _app_dependencies(entries[arch], base_location)
        if base is not None and arch in base.archs:
            found += base_dependencies(base, (arch,))
        per_arch[arch] = _unique(found)
    for (arch, document), image in zip(built.sboms, built.images, strict=True):
        result.append(sbom_statement(name, image.digest, document, built.sbom_format))
        predicate = _app_predicate(built, spec, image, per_arch[arch], base)
        result.append(statement(name, image.digest, SLSA_PROVENANCE, predicate))
    if len(built.images) > 1:
        index = built.artifact.digest
        for _, document in built.sboms:
            result.append(sbom_statement(name, index, document, built.sbom_format))
        every = _unique(d for arch in built.archs for d in per_arch[arch])
        predicate = _app_predicate(built, spec, built.images[0], every, base)
        result.append(statement(name, index, SLSA_PROVENANCE, predicate))
    return tuple(result)


def _app_dependencies(entry: Mapping[str, Any], base_location: str | None) -> list[dict]:
    base = Digest.parse(entry["base"])
    found = [
        _descriptor(
            "base image",
            base.hex,
            # where it was read from: a registry reference (a local file's path says nothing
            # to whoever reads the statement)
            annotations={"role": "base-image"}
            | ({"reference": base_location} if base_location else {}),
        )
    ]
    for wheel in entry["wheels"]:
        role = "wheel" if wheel["file"].endswith(".whl") else "sdist"
        found.append(
            _descriptor(wheel["file"], wheel["sha256"], uri=wheel["url"] or None,
                        annotations={"role": role})
        )  # fmt: skip
    for package in entry["debian"]:
        found.append(
            _descriptor(
                f"{package['name']}_{package['version']}.deb",
                package["sha256"],
                uri=package["url"] or None,
                annotations={"role": "deb"},
            )
        )
    return found


def _app_predicate(
    built: AppBuilt, spec: AppSpec, image: Image, dependencies: list[dict], base: Built | None
) -> dict:
    options: dict[str, Any] = {
        "image-name": built.tags[0],
        "sbom-format": built.sbom_format,
        "source-date-epoch": epoch_of(image.config_json.get("created")),
        "extras": list(spec.extras),
        "packages": list(spec.packages),
        "workdir": spec.workdir,
        "install-project": spec.install_project,
    }
    for key, value in (("entrypoint", spec.entrypoint), ("cmd", spec.cmd)):
        if value is not None:
            options[key] = list(value)
    if spec.env:
        options["env"] = list(spec.env)
    if spec.expose:
        options["expose"] = list(spec.expose)
    if spec.main:
        options["main"] = spec.main
    parameters: dict[str, Any] = {
        "lock": {
            "digest": {"sha256": Digest.of(built.lock).hex},
            "content": json.loads(built.lock),
        },
        "pydistroless": __version__,
        "options": options,
    }
    if base is not None:
        # The base's own parameters, its timestamp read from its own image.
        made = _base_predicate(base, base.images[0], [])
        parameters["base"] = made["buildDefinition"]["externalParameters"]
    return _slsa(BUILD_TYPE_APP, parameters, dependencies)


# ---- pieces ----------------------------------------------------------------------------------


def _slsa(build_type: str, parameters: dict, dependencies: list[dict]) -> dict:
    return {
        "buildDefinition": {
            "buildType": build_type,
            "externalParameters": parameters,
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": builder_versions()},
            # No invocationId, startedOn or finishedOn: the statement is the same for every
            # build of the same inputs, as the image is.
            "metadata": {},
        },
    }


def builder_versions() -> dict[str, str]:
    """What, besides the inputs, decides the bytes: pydistroless, and the libraries it
    writes them with (zlib deflates the layers, zstd compresses zstd layers, pypa/installer
    writes an app's RECORD files), and the Python that runs it."""
    return {
        "pydistroless": __version__,
        "python": platform.python_version(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "zstd": ".".join(map(str, zstandard.ZSTD_VERSION)),
        "installer": importlib.metadata.version("installer"),
    }


def _descriptor(
    name: str, sha256: str, *, uri: str | None = None, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "digest": {"sha256": sha256}}
    if uri:
        found["uri"] = uri
    if annotations:
        found["annotations"] = dict(annotations)
    return found


def _deb(package: LockedPackage, *, role: str = "deb") -> dict[str, Any]:
    return _descriptor(
        package.filename.rsplit("/", 1)[-1], package.sha256, uri=package.url,
        annotations={"role": role},
    )  # fmt: skip


def _inrelease(lock: lockfile.Lock, release: lockfile.ReleaseInfo) -> dict[str, Any]:
    """The signed InRelease a lock was resolved from. Its URL is the mirror's: found from a
    package of that suite (the lock keeps the packages' URLs, not the mirrors'), else, for a
    suite of the main archive (``-updates``), from a package of the suite itself."""
    bases = {}
    for arch in lock.archs:
        for package in (*arch.packages, *arch.builder, *arch.host_builder):
            if package.url.endswith("/" + package.filename):
                bases.setdefault(package.suite, package.url[: -len(package.filename) - 1])
    base = bases.get(release.suite)
    if base is None and not release.suite.endswith("-security"):
        base = bases.get(lock.suite)
    return _descriptor(
        f"{release.suite} InRelease",
        release.inrelease_sha256,
        uri=f"{base}/dists/{release.suite}/InRelease" if base else None,
        annotations={"role": "inrelease", "date": release.date},
    )


def _tool(line: str) -> list[dict[str, Any]]:
    """The builder variant's tool pins: each file the lock allows for the pin (one of them
    is the one installed)."""
    pin = line.split(" ", 1)[0]
    hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
    return [_descriptor(pin, h, annotations={"role": "python-tool"}) for h in hashes]


def _file(name: str, data: bytes) -> dict[str, Any]:
    return _descriptor(name, Digest.of(data).hex, annotations={"role": "file"})


def _unique(found: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each descriptor once (an ``arch: all`` package serves every architecture)."""
    seen: set[bytes] = set()
    result = []
    for item in found:
        key = canonical_json(item)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result


# ---- what is known of an image built earlier -------------------------------------------------


def image_sbom_attestations(artifact: Artifact, name: str) -> tuple[Attestation, ...]:
    """The SBOM attestation of each image of ``artifact`` (and, for an index, one per
    platform about the index) from the SBOM inside it (``usr/share/sbom``), when its top
    layer holds it: a document written with everything below it (a base's generated layer,
    or ``check --add-missing``'s). The base's SBOM below an app's layers does not describe
    the app, and an image without one has none."""
    images = list(artifact.images()) if isinstance(artifact, Index) else [artifact]
    found = []
    for image in images:
        document = top_layer_sbom(image)
        if document is None:
            continue
        fmt = sbom_format_of(document, f"the SBOM in {image.digest}'s {SBOM_DIR}")
        found.append(sbom_statement(name, image.digest, document, fmt))
        if isinstance(artifact, Index):
            found.append(sbom_statement(name, artifact.digest, document, fmt))
    # the images' own first, then those about the index
    return tuple(sorted(found, key=lambda a: a.subject == artifact.digest))


def top_layer_sbom(image: Image) -> bytes | None:
    """The SBOM document in ``image``'s top layer, if it has one."""
    if not image.layers:
        return None
    tree = Tree()
    top = image.layers[-1]
    try:
        apply_layer(tree, top, budget=Budget(), what=f"the top layer ({top.digest})")
    except ImageFormatError:
        return None  # a layer that needs those below it (a hard link into them) has none
    for entry in tree.entries():
        if (
            entry.path.startswith(SBOM_DIR + "/")
            and entry.kind is Kind.FILE
            and entry.path.endswith((".spdx.json", ".cdx.json"))
        ):
            return tree.read(entry.path)
    return None


def statements_file(attestations: Iterable[Attestation]) -> bytes:
    """The statements of a build, unsigned, one per line (JSON Lines), as written beside
    its image and read back by ``push``/``copy --attestations``."""
    return b"".join(a.statement + b"\n" for a in attestations)


def read_statements(data: bytes, where: str) -> tuple[Attestation, ...]:
    """The statements of a file :func:`statements_file` wrote, each checked for its form."""
    found = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
            subjects = body["subject"]
            kind = body["predicateType"]
            if (
                body["_type"] != STATEMENT_TYPE
                or not isinstance(kind, str)
                or "predicate" not in body
            ):
                raise ValueError
            digests = {Digest(s["digest"]["sha256"]) for s in subjects}
        except (ValueError, KeyError, TypeError, UsageError):
            raise UsageError(
                f"{where}, line {number}: not an in-toto v1 statement about a sha256 digest; "
                "give the .intoto.jsonl file the build wrote beside the image"
            ) from None
        if len(digests) != 1:
            raise UsageError(f"{where}, line {number}: a statement about {len(digests)} digests")
        found.append(Attestation(digests.pop(), kind, canonical_json(body)))
    if not found:
        raise UsageError(f"{where} holds no statement; give the .intoto.jsonl the build wrote")
    return tuple(found)


def for_artifact(
    attestations: Sequence[Attestation], artifact: Artifact, where: str
) -> tuple[Attestation, ...]:
    """Those of ``attestations`` about ``artifact`` or its images (a file of a whole build
    serves the copy of one of its platforms); none at all is refused: the file was made for
    another image."""
    digests = {artifact.digest}
    if isinstance(artifact, Index):
        digests |= {image.digest for image in artifact.images()}
    about = tuple(a for a in attestations if a.subject in digests)
    if not about:
        raise UsageError(
            f"{where} has statements about {attestations[0].subject}, which is not the image "
            f"pushed ({artifact.digest}) nor one of its platforms; give the file written "
            "beside this image"
        )
    return about


def renamed(attestation: Attestation, name: str) -> Attestation:
    """The same statement with its subject named ``name`` (where it is pushed)."""
    body = json.loads(attestation.statement)
    for subject in body["subject"]:
        subject["name"] = name
    return Attestation(attestation.subject, attestation.predicate_type, canonical_json(body))
