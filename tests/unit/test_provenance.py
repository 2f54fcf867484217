"""The in-toto statements of a build: SBOM and SLSA provenance v1, exactly as made."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import zlib
from dataclasses import replace

import pytest
import zstandard

from pydistroless import __version__
from pydistroless.core.arch import Platform
from pydistroless.core.digest import Digest
from pydistroless.core.errors import UsageError
from pydistroless.debian.store import LockedPackage
from pydistroless.fs.tree import Tree
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.model import canonical_json
from pydistroless.oci.mutate import ImageConfig, append, new_image, new_index
from pydistroless.python.source import PythonSource
from pydistroless.recipes import lock as lockfile
from pydistroless.recipes import provenance
from pydistroless.recipes.app import AppBuilt, AppSpec
from pydistroless.recipes.base import Built
from pydistroless.recipes.lock import ArchLock, Lock, ReleaseInfo
from pydistroless.recipes.spec import ImageSpec

MIRROR = "http://mirror.example.invalid/debian"
SECURITY = "http://security.example.invalid/debian-security"
CREATED = 1763200800  # 2025-11-15T10:00:00Z
BASE_CREATED = 1763100000


def package(name: str, arch: str, suite: str = "trixie", base: str = MIRROR) -> LockedPackage:
    filename = f"pool/main/{name[0]}/{name}/{name}_1.0_{arch}.deb"
    return LockedPackage(
        name=name,
        version="1.0",
        architecture=arch,
        filename=filename,
        size=100,
        sha256=hashlib.sha256(f"{name} {arch}".encode()).hexdigest(),
        source=name,
        source_version="1.0",
        suite=suite,
        url=f"{base}/{filename}",
    )


def image(arch: str, text: str, created: int = CREATED):
    tree = Tree()
    tree.add_file("etc/what", text.encode())
    config = ImageConfig(entrypoint=("/usr/bin/python3.13",), created=created)
    return new_image(Platform(arch), config, (layer_from_tree(tree, mtime=created),))


def built(archs=("amd64", "arm64"), *, source: PythonSource | None = None) -> Built:
    def arch_lock(arch: str) -> ArchLock:
        return ArchLock(
            arch=arch,
            python="3.13",
            python_package_version=source.version if source else "1.0",
            packages=(
                package("python3.13-minimal", arch),
                package("tzdata", "all"),
                package("libc6", arch, "trixie-security", SECURITY),
            ),
            python_source=source,
            builder=(package("gcc", arch),) if source else (),
        )

    lock = Lock(
        suite="trixie",
        codename="trixie",
        debian_version="13.2",
        releases=(
            ReleaseInfo("trixie", "Sat, 15 Nov 2025 10:00:00 UTC", "13.2", "11" * 32),
            ReleaseInfo("trixie-updates", "Sat, 15 Nov 2025 10:00:00 UTC", "13", "22" * 32),
            ReleaseInfo("trixie-security", "Sat, 15 Nov 2025 10:00:00 UTC", "13", "33" * 32),
        ),
        archs=tuple(arch_lock(a) for a in archs),
    )
    images = tuple(image(a, a) for a in archs)
    sboms = tuple((a, json.dumps({"spdxVersion": "SPDX-2.3", "name": a}).encode()) for a in archs)
    return Built(
        spec=ImageSpec(archs=archs),
        lock=lock,
        images=images,
        tags=("pydistroless/python:3.13-debian13",),
        sboms=sboms,
    )


def statements(attestations):
    return [(a.subject, a.predicate_type, json.loads(a.statement)) for a in attestations]


def deb(p: LockedPackage, role: str = "deb") -> dict:
    return {
        "name": p.filename.rsplit("/", 1)[-1],
        "uri": p.url,
        "digest": {"sha256": p.sha256},
        "annotations": {"role": role},
    }


def inrelease(suite: str, hexdigest: str, base: str | None) -> dict:
    found = {
        "name": f"{suite} InRelease",
        "digest": {"sha256": hexdigest},
        "annotations": {"role": "inrelease", "date": "Sat, 15 Nov 2025 10:00:00 UTC"},
    }
    if base:
        found["uri"] = f"{base}/dists/{suite}/InRelease"
    return found


def test_a_base_build_has_sbom_and_provenance_for_each_image_and_the_index():
    result = built()
    name = "registry.example.invalid/team/python"
    made = statements(provenance.base_attestations(result, name))
    amd64, arm64 = result.images
    index = new_index(result.images).digest
    assert [(s, t) for s, t, _ in made] == [
        (amd64.digest, provenance.SPDX),
        (amd64.digest, provenance.SLSA_PROVENANCE),
        (arm64.digest, provenance.SPDX),
        (arm64.digest, provenance.SLSA_PROVENANCE),
        (index, provenance.SPDX),
        (index, provenance.SPDX),
        (index, provenance.SLSA_PROVENANCE),
    ]
    for subject, kind, body in made:
        assert body["_type"] == "https://in-toto.io/Statement/v1"
        assert body["subject"] == [{"name": name, "digest": {"sha256": subject.hex}}]
        assert body["predicateType"] == kind
    # the SBOM is the predicate, as the build made it
    assert made[0][2]["predicate"] == {"spdxVersion": "SPDX-2.3", "name": "amd64"}
    assert [m[2]["predicate"]["name"] for m in made[4:6]] == ["amd64", "arm64"]


def test_the_provenance_of_one_platform_lists_its_inputs_by_digest():
    result = built()
    made = statements(provenance.base_attestations(result, "r.example.invalid/python"))
    predicate = made[1][2]["predicate"]
    amd64 = result.lock.archs[0]
    assert predicate["buildDefinition"]["buildType"] == provenance.BUILD_TYPE_BASE
    assert predicate["buildDefinition"]["resolvedDependencies"] == [
        inrelease("trixie", "11" * 32, MIRROR),
        inrelease("trixie-updates", "22" * 32, MIRROR),  # the main archive's mirror
        inrelease("trixie-security", "33" * 32, SECURITY),
        *(deb(p) for p in amd64.packages),
    ]
    text = lockfile.dumps(result.lock)
    assert predicate["buildDefinition"]["externalParameters"] == {
        "lock": {
            "digest": {"sha256": hashlib.sha256(text.encode()).hexdigest()},
            "content": json.loads(text),
        },
        "pydistroless": __version__,
        "options": {
            "image-name": "pydistroless/python:3.13-debian13",
            "variant": "standard",
            "user": "65532",
            "keep": [],
            "pyc": True,
            "sbom-format": "spdx",
            "source-date-epoch": CREATED,
        },
    }
    # the lock in the provenance builds the same image: it reads back as the lock
    content = predicate["buildDefinition"]["externalParameters"]["lock"]["content"]
    assert lockfile.from_json(content) == result.lock
    assert predicate["runDetails"] == {
        "builder": {
            "id": "https://pydistroless.dev/builder/cli",
            "version": {
                "pydistroless": __version__,
                "python": platform.python_version(),
                "zlib": zlib.ZLIB_RUNTIME_VERSION,
                "zstd": ".".join(map(str, zstandard.ZSTD_VERSION)),
                "installer": importlib.metadata.version("installer"),
            },
        },
        "metadata": {},
    }


def test_the_index_lists_every_platform_and_an_arch_all_package_once():
    result = built()
    made = statements(provenance.base_attestations(result, "r.example.invalid/python"))
    listed = made[-1][2]["predicate"]["buildDefinition"]["resolvedDependencies"]
    amd64, arm64 = result.lock.archs
    tzdata = deb(package("tzdata", "all"))
    assert listed[3:] == [
        *(deb(p) for p in amd64.packages),
        deb(arm64.packages[0]),
        deb(arm64.packages[2]),
    ]
    assert listed.count(tzdata) == 1


SOURCE = PythonSource(
    version="3.13.9",
    urls=(f"{MIRROR}/pool/main/p/python3.13/python3.13_3.13.9.orig.tar.xz",),
    sha256="44" * 32,
    size=1000,
    origin="sid Sources",
    optimize=False,
)


def test_a_compiled_python_lists_its_tarball_and_builder_tree():
    source = SOURCE
    result = built(("amd64",), source=source)
    made = statements(provenance.base_attestations(result, "r.example.invalid/python"))
    assert len(made) == 2  # one image, no index
    listed = made[1][2]["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert listed[-2:] == [
        {
            "name": "Python-3.13.9.tar.xz",
            "uri": source.urls[0],
            "digest": {"sha256": "44" * 32},
            "annotations": {"role": "cpython-source"},
        },
        deb(package("gcc", "amd64"), "cpython-builder"),
    ]


def test_the_same_build_makes_the_same_statements():
    one = provenance.base_attestations(built(), "r.example.invalid/python")
    two = provenance.base_attestations(built(), "r.example.invalid/python")
    assert one == two
    assert all(a.statement == canonical_json(json.loads(a.statement)) for a in one)


def test_ca_certs_are_inputs():
    made = provenance.base_attestations(
        built(("amd64",)), "r.example.invalid/python", ca_certs=[("corp.pem", b"PEM")]
    )
    listed = json.loads(made[1].statement)["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert listed[-1] == {
        "name": "--ca-cert corp.pem",
        "digest": {"sha256": hashlib.sha256(b"PEM").hexdigest()},
        "annotations": {"role": "file"},
    }


def test_an_app_lists_its_base_wheels_sdists_and_debian_additions(tmp_path):
    base = built(("amd64",))
    base = replace(base, images=(image("amd64", "base", created=BASE_CREATED),))
    app_image = image("amd64", "app")
    wheel = {
        "name": "six",
        "version": "1.17.0",
        "file": "six-1.17.0-py2.py3-none-any.whl",
        "sha256": "55" * 32,
        "url": "https://files.example.invalid/six-1.17.0-py2.py3-none-any.whl",
    }
    sdist = {**wheel, "name": "x", "file": "x-1.0.tar.gz", "sha256": "66" * 32, "url": ""}
    added = {"name": "libpq5", "version": "17.6-0", "sha256": "77" * 32, "url": f"{MIRROR}/x.deb"}
    app_lock = {
        "lock-version": 1,
        "images": [
            {
                "arch": "amd64",
                "base": str(base.images[0].digest),
                "image": str(app_image.digest),
                "debian": [added],
                "wheels": [wheel, sdist],
            }
        ],
    }
    app = AppBuilt(
        images=(app_image,),
        tags=("hello:latest",),
        sboms=(("amd64", b'{"bomFormat": "CycloneDX"}'),),
        archs=("amd64",),
        sbom_format="cyclonedx",
        lock=json.dumps(app_lock).encode(),
    )
    spec = AppSpec(project=tmp_path, entrypoint=("python", "app.py"), env=("A=1",))
    made = statements(provenance.app_attestations(app, spec, "r.example.invalid/hello", base=base))
    assert [(s, t) for s, t, _ in made] == [
        (app_image.digest, provenance.CYCLONEDX),
        (app_image.digest, provenance.SLSA_PROVENANCE),
    ]
    definition = made[1][2]["predicate"]["buildDefinition"]
    assert definition["buildType"] == provenance.BUILD_TYPE_APP
    assert definition["resolvedDependencies"][:4] == [
        {
            "name": "base image",
            "digest": {"sha256": base.images[0].digest.hex},
            "annotations": {"role": "base-image"},
        },
        {
            "name": wheel["file"],
            "digest": {"sha256": "55" * 32},
            "uri": wheel["url"],
            "annotations": {"role": "wheel"},
        },
        {"name": "x-1.0.tar.gz", "digest": {"sha256": "66" * 32}, "annotations": {"role": "sdist"}},
        {
            "name": "libpq5_17.6-0.deb",
            "digest": {"sha256": "77" * 32},
            "uri": f"{MIRROR}/x.deb",
            "annotations": {"role": "deb"},
        },
    ]
    # the base built here: its inputs are the app's too
    base_inputs = provenance.base_dependencies(base, ("amd64",))
    assert definition["resolvedDependencies"][4:] == base_inputs
    parameters = definition["externalParameters"]
    assert parameters["lock"]["content"] == app_lock
    assert parameters["lock"]["digest"] == {"sha256": Digest.of(app.lock).hex}
    assert parameters["options"]["entrypoint"] == ["python", "app.py"]
    assert parameters["options"]["env"] == ["A=1"]
    assert parameters["base"]["lock"]["content"] == json.loads(lockfile.dumps(base.lock))
    assert parameters["base"]["options"]["source-date-epoch"] == BASE_CREATED


def test_an_app_on_a_given_base_names_where_it_came_from(tmp_path):
    app_image = image("amd64", "app")
    base_digest = Digest.of(b"base")
    app = AppBuilt(
        images=(app_image,),
        tags=("hello:latest",),
        sboms=(("amd64", b'{"spdxVersion": "SPDX-2.3"}'),),
        archs=("amd64",),
        sbom_format="spdx",
        lock=json.dumps(
            {
                "lock-version": 1,
                "images": [
                    {
                        "arch": "amd64",
                        "base": str(base_digest),
                        "image": "",
                        "debian": [],
                        "wheels": [],
                    }
                ],
            }
        ).encode(),
    )
    made = provenance.app_attestations(
        app, AppSpec(project=tmp_path), "h", base_location="r.example.invalid/python:3.13"
    )
    definition = json.loads(made[1].statement)["predicate"]["buildDefinition"]
    assert definition["resolvedDependencies"] == [
        {
            "name": "base image",
            "digest": {"sha256": base_digest.hex},
            "annotations": {"role": "base-image", "reference": "r.example.invalid/python:3.13"},
        }
    ]
    assert "base" not in definition["externalParameters"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("spdxjson", "https://spdx.dev/Document"),
        ("spdx", "https://spdx.dev/Document"),
        ("cyclonedx", "https://cyclonedx.org/bom"),
        ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
        ("https://example.invalid/mine/v1", "https://example.invalid/mine/v1"),
    ],
)
def test_cosign_type_names(given, expected):
    assert provenance.predicate_type(given) == expected


def test_an_unknown_type_is_one_line():
    with pytest.raises(UsageError, match="neither a predicate URI nor one of cosign's types"):
        provenance.predicate_type("sbom")


def test_the_format_of_an_sbom():
    assert provenance.sbom_format_of(b'{"spdxVersion": "SPDX-2.3"}') == "spdx"
    assert provenance.sbom_format_of(b'{"bomFormat": "CycloneDX"}') == "cyclonedx"
    with pytest.raises(UsageError, match="neither SPDX nor CycloneDX"):
        provenance.sbom_format_of(b"[]")


def sbom_image(arch: str, document: bytes | None):
    tree = Tree()
    tree.add_file("etc/what", arch.encode())
    if document is not None:
        tree.add_file("usr/share/sbom/pydistroless.spdx.json", document)
    config = ImageConfig(entrypoint=("/usr/bin/python3.13",), created=CREATED)
    return new_image(Platform(arch), config, (layer_from_tree(tree, mtime=CREATED),))


def test_an_sbom_below_the_top_layer_is_not_the_image_s():
    below = sbom_image("amd64", b'{"spdxVersion": "SPDX-2.3", "name": "the base"}')
    tree = Tree()
    tree.add_file("app/main.py", b"print(1)\n")
    app = append(below, [layer_from_tree(tree, mtime=CREATED)])
    assert provenance.image_sbom_attestations(app, "r.example.invalid/app") == ()


def test_an_image_built_earlier_is_attested_by_the_sbom_inside_it():
    amd64 = sbom_image("amd64", b'{"spdxVersion": "SPDX-2.3", "name": "amd64"}')
    arm64 = sbom_image("arm64", None)  # a platform without one has none
    index = new_index((amd64, arm64))
    made = provenance.image_sbom_attestations(index, "r.example.invalid/python")
    assert [(a.subject, a.predicate_type) for a in made] == [
        (amd64.digest, provenance.SPDX),
        (index.digest, provenance.SPDX),
    ]
    assert json.loads(made[0].statement)["predicate"]["name"] == "amd64"
    assert provenance.image_sbom_attestations(arm64, "r") == ()


def test_the_statements_file_reads_back_and_is_checked_against_the_image():
    result = built()
    made = provenance.base_attestations(result, "pydistroless/python")
    where = "python.intoto.jsonl"
    again = provenance.read_statements(provenance.statements_file(made), where)
    assert again == made
    assert provenance.for_artifact(again, result.artifact, where) == made
    # one platform of the build: its own statements
    arm64 = result.images[1]
    assert provenance.for_artifact(again, arm64, where) == tuple(
        a for a in made if a.subject == arm64.digest
    )
    other = image("amd64", "another image")  # ... of another image: refused, naming it
    with pytest.raises(UsageError, match=f"statements about {result.images[0].digest}"):
        provenance.for_artifact(again, other, where)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "holds no statement"),
        (b"not json\n", "line 1: not an in-toto v1 statement"),
        (b'{"_type": "https://in-toto.io/Statement/v1"}\n', "line 1: not an in-toto"),
        (
            b'{"_type": "https://in-toto.io/Statement/v1", "predicateType": "x", '
            b'"predicate": {}, "subject": [{"digest": {"sha256": "ab"}}]}',
            "line 1: not an in-toto v1 statement about a sha256 digest",
        ),
    ],
)
def test_a_broken_statements_file_is_one_line(data, message):
    with pytest.raises(UsageError, match=message):
        provenance.read_statements(data, "x.intoto.jsonl")


def test_a_statement_is_renamed_for_where_it_is_pushed():
    [sbom, *_] = provenance.base_attestations(built(("amd64",)), "pydistroless/python")
    moved = provenance.renamed(sbom, "r.example.invalid/team/python")
    body = json.loads(moved.statement)
    assert body["subject"] == [
        {"name": "r.example.invalid/team/python", "digest": {"sha256": sbom.subject.hex}}
    ]
    assert (moved.subject, moved.predicate_type) == (sbom.subject, sbom.predicate_type)


def test_the_statements_go_beside_the_tar_and_the_layout(tmp_path):
    from pydistroless.transfer.outputs import OutputOptions, plan_outputs

    options = OutputOptions(output=tmp_path / "python.tar", oci_layout=tmp_path / "oci")
    planned = plan_outputs("python", ["amd64"], "spdx", options, output_dir=None, several=False)
    assert planned.statements == (tmp_path / "python.intoto.jsonl", tmp_path / "oci.intoto.jsonl")


def test_an_sbom_in_the_image_that_is_not_one_is_one_line():
    broken = sbom_image("amd64", b"not json")
    with pytest.raises(UsageError, match=f"the SBOM in {broken.digest}'s usr/share/sbom is nei"):
        provenance.image_sbom_attestations(broken, "r.example.invalid/python")


# ---- a real build, of a small signed archive on disk --------------------------------------------


def test_a_real_build_lists_the_files_it_was_made_of(tmp_path, monkeypatch):
    """A base build from a signed repository on disk: the provenance lists its InRelease and
    every .deb of its pool, each with the SHA256 of the file itself."""
    from pydistroless.debian.sources import SourceOptions
    from pydistroless.debian.store import Store
    from pydistroless.recipes import base
    from tests.fixtures.repo import fake_python_repo

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    repo = fake_python_repo(tmp_path / "repo")
    options = SourceOptions(
        mirrors=(repo.url,),
        security_mirrors=(repo.url,),
        keyrings=(repo.keyring,),
        cache_dir=tmp_path / "cache",
    )
    result = base.build(ImageSpec(suite=repo.suite, python="3.99"), Store.create(options))
    [sbom, made] = provenance.base_attestations(result, "pydistroless/python")
    assert json.loads(sbom.statement)["predicate"] == json.loads(result.sboms[0][1])
    definition = json.loads(made.statement)["predicate"]["buildDefinition"]
    debs = sorted((repo.root / "pool").rglob("*.deb"))
    assert debs
    assert definition["resolvedDependencies"] == [
        {
            "name": f"{repo.suite} InRelease",
            "uri": f"{repo.url}/dists/{repo.suite}/InRelease",
            "digest": {"sha256": hashlib.sha256(repo.inrelease()).hexdigest()},
            "annotations": {"role": "inrelease", "date": "Sat, 10 Jan 2026 10:00:00 UTC"},
        },
        *(
            {
                "name": path.name,
                "uri": f"{repo.url}/{path.relative_to(repo.root)}",
                "digest": {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
                "annotations": {"role": "deb"},
            }
            for path in sorted(debs, key=lambda p: p.name.split("_")[0])
        ),
    ]
    assert made.subject == result.images[0].digest
    # the lock in it builds the same image again
    lock = lockfile.from_json(definition["externalParameters"]["lock"]["content"])
    again = base.build(ImageSpec(suite=repo.suite, python="3.99"), Store.create(options), lock=lock)
    assert again.digest == result.digest


def test_the_statements_are_what_the_in_toto_attestation_framework_reads():
    """Parsed strictly (an unknown field is an error) by the framework's own bindings:
    Statement v1, validated, and SLSA provenance v1 (its protocol buffer)."""
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
    from in_toto_attestation.v1.statement import Statement

    result = built(source=SOURCE)
    made = provenance.base_attestations(result, "r.example.invalid/python", ca_certs=[("c", b"")])
    for attestation in made:
        body = json.loads(attestation.statement)
        parsed = json_format.ParseDict(body, statement_pb2.Statement())
        Statement.copy_from_pb(parsed).validate()
        if attestation.predicate_type != provenance.SLSA_PROVENANCE:
            continue
        predicate = json_format.ParseDict(body["predicate"], provenance_pb2.Provenance())
        assert predicate.build_definition.build_type == provenance.BUILD_TYPE_BASE
        assert predicate.run_details.builder.id == provenance.BUILDER_ID
        dependencies = predicate.build_definition.resolved_dependencies
        assert len(dependencies) == len(
            body["predicate"]["buildDefinition"]["resolvedDependencies"]
        )
        for descriptor in dependencies:
            ResourceDescriptor.copy_from_pb(descriptor).validate()
            assert len(descriptor.digest["sha256"]) == 64
