"""Signed attestations against the real cosign 2.5 and a real registry: what ``build --push
--sign-key`` attaches (the SBOM and SLSA provenance v1 in DSSE envelopes, at
``sha256-<hex>.att`` and as Sigstore bundle referrers) passes ``cosign verify-attestation``;
what ``cosign attest`` made passes ``pydistroless verify --attestation``; a tampered payload,
another key, an attestation of another image each fail in one line. The provenance lists
every ``.deb`` and ``InRelease`` of the build with the SHA256 of those very files.

One base image (this machine's architecture, from the warm test cache) is built and pushed
for the module; the other images are small ones made here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import urllib3

from tests.fixtures.cosign import cosign, cosign_binary, cosign_ok, key_pair
from tests.fixtures.images import native_platform, small_image
from tests.fixtures.registry import RunningRegistry, start_registry
from tests.fixtures.repo import fake_python_repo, repo_args
from tests.fixtures.tools import (
    assert_clean_failure,
    describe,
    need_network,
    pydistroless,
    shared_cache_dir,
)

EXAMPLES = Path(__file__).parents[2] / "examples"

pytestmark = pytest.mark.network

PASSWORD = "attest-password"
EXIT_SIGNATURE = 4
EXIT_USAGE = 2
EXIT_OUTPUT = 9
SPDX = "https://spdx.dev/Document"
SLSA = "https://slsa.dev/provenance/v1"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


ARCHS = ("amd64", "arm64")


@dataclass(frozen=True)
class Pushed:
    registry: RunningRegistry
    repo: str  # 127.0.0.1:PORT/base/python
    digest: str  # the index's, sha256:...
    platforms: dict[str, str]  # arch -> its image's digest
    key: Path
    pub: Path
    tar: Path
    statements: Path  # the .intoto.jsonl beside the tar


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, describe(result)
    return result.stdout.strip()


def signing_env() -> dict[str, str]:
    return {"COSIGN_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    """A base image of two platforms, built with its statements beside it and pushed with
    a signing key: the index and each platform's image attested."""
    need_network()
    folder = tmp_path_factory.mktemp("attestations")
    registry = start_registry(folder / "registry")
    try:
        key, pub = key_pair(folder / "keys", PASSWORD)
        repo = f"{registry.host}/base/python"
        tar = folder / "python.tar"
        report = folder / "pushed.json"
        digest = ok(
            pydistroless(
                "build", "--arch", ",".join(ARCHS), "-o", tar, "--push", f"{repo}:1",
                "--push-report", report, "--sign-key", key, env=signing_env(),
            )
        )  # fmt: skip
        tags = json.loads(report.read_text())
        platforms = {arch: tags[f"{repo}:1-{arch}"] for arch in ARCHS}
        statements = folder / "python.intoto.jsonl"
        yield Pushed(registry, repo, digest, platforms, key, pub, tar, statements)
    finally:
        registry.close()


def verify_attestation(pub: Path, kind: str, ref: str) -> subprocess.CompletedProcess[str]:
    return cosign(
        "verify-attestation",
        "--key",
        pub,
        "--type",
        kind,
        "--insecure-ignore-tlog=true",
        "--allow-insecure-registry",
        ref,
    )


# A trusted root with nothing in it: the key alone vouches (no CA, no transparency log, no
# timestamp authority). Without one, cosign's --new-bundle-format fetches the public TUF root.
EMPTY_TRUSTED_ROOT = {
    "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "tlogs": [],
    "certificateAuthorities": [],
    "ctlogs": [],
    "timestampAuthorities": [],
}


def verify_bundle(pub: Path, kind: str, ref: str, folder: Path) -> list[dict]:
    """``cosign verify-attestation --new-bundle-format``: the Sigstore bundle referrers alone
    (no .att tag), as cosign 3 reads them."""
    root = folder / "trusted_root.json"
    root.write_text(json.dumps(EMPTY_TRUSTED_ROOT))
    result = cosign(
        "verify-attestation",
        "--new-bundle-format",
        "--trusted-root",
        root,
        "--key",
        pub,
        "--type",
        kind,
        "--insecure-ignore-tlog=true",
        "--allow-insecure-registry",
        ref,
    )
    assert result.returncode == 0, describe(result)
    return statements_of(result.stdout)


def statements_of(cosign_stdout: str) -> list[dict]:
    """The in-toto statements of cosign's output: one DSSE envelope (JSON) a line (with
    --new-bundle-format, one bundle's envelope a line)."""
    found = []
    for line in cosign_stdout.splitlines():
        if line.strip():
            envelope = json.loads(line)
            envelope = envelope.get("dsseEnvelope", envelope)
            assert envelope["payloadType"] == "application/vnd.in-toto+json"
            found.append(json.loads(base64.b64decode(envelope["payload"])))
    return found


def cosign_statements(pub: Path, kind: str, ref: str) -> list[dict]:
    result = verify_attestation(pub, kind, ref)
    assert result.returncode == 0, describe(result)
    return statements_of(result.stdout)


def our_predicates(pub: Path, kind: str, ref: str) -> list[object]:
    printed = ok(pydistroless("verify", ref, "--key", pub, "--attestation", kind))
    return [json.loads(line) for line in printed.splitlines()]


def fetch(url: str) -> bytes:
    response = urllib3.PoolManager().request("GET", url, timeout=60, retries=3)
    assert response.status == 200, f"GET {url}: HTTP {response.status}"
    return response.data


def subject(name: str, digest: str) -> list[dict]:
    return [{"name": name, "digest": {"sha256": digest.removeprefix("sha256:")}}]


def test_cosign_verifies_the_sbom_and_the_provenance_of_the_index_and_each_image(
    pushed: Pushed,
) -> None:
    beside = {
        arch: json.loads(pushed.tar.with_name(f"python.{arch}.spdx.json").read_text())
        for arch in ARCHS
    }
    # the index: one SBOM per platform, one provenance
    sboms = cosign_statements(pushed.pub, "spdxjson", f"{pushed.repo}:1")
    assert sorted((s["predicate"] for s in sboms), key=json.dumps) == sorted(
        beside.values(), key=json.dumps
    )
    [provenance] = cosign_statements(pushed.pub, "slsaprovenance1", f"{pushed.repo}:1")
    for statement, kind in [*((s, SPDX) for s in sboms), (provenance, SLSA)]:
        assert statement["_type"] == "https://in-toto.io/Statement/v1"
        assert statement["predicateType"] == kind
        assert statement["subject"] == subject(pushed.repo, pushed.digest)
    # each platform's image: its own SBOM (the one the build wrote beside it) and provenance
    for arch in ARCHS:
        ref = f"{pushed.repo}:1-{arch}"
        [sbom] = cosign_statements(pushed.pub, "spdxjson", ref)
        assert sbom["subject"] == subject(pushed.repo, pushed.platforms[arch])
        assert sbom["predicate"] == beside[arch]
        [own] = cosign_statements(pushed.pub, "slsaprovenance1", ref)
        assert own["subject"] == subject(pushed.repo, pushed.platforms[arch])
        lock = own["predicate"]["buildDefinition"]["externalParameters"]["lock"]["content"]
        assert [a["arch"] for a in lock["archs"]] == list(ARCHS)  # the lock it was built from


def test_cosign_verifies_the_bundle_referrers_alone(pushed: Pushed, tmp_path: Path) -> None:
    """The same statements in Sigstore bundles that refer to each image, where cosign 3 (and
    2.5 with --new-bundle-format) reads them, not at the .att tag."""
    for ref, digest in (
        (f"{pushed.repo}:1", pushed.digest),
        (f"{pushed.repo}:1-amd64", pushed.platforms["amd64"]),
    ):
        [provenance] = verify_bundle(pushed.pub, "slsaprovenance1", ref, tmp_path)
        assert provenance["subject"] == subject(pushed.repo, digest)
        via_tag = cosign_statements(pushed.pub, "slsaprovenance1", ref)
        assert [provenance] == via_tag
        sboms = verify_bundle(pushed.pub, "spdxjson", ref, tmp_path)
        assert {s["predicateType"] for s in sboms} == {SPDX}


def test_the_provenance_lists_each_deb_and_inrelease_with_the_files_digests(
    pushed: Pushed,
) -> None:
    [statement] = cosign_statements(pushed.pub, "slsaprovenance1", f"{pushed.repo}:1")
    definition = statement["predicate"]["buildDefinition"]
    assert definition["buildType"] == "https://pydistroless.dev/buildtypes/base/v1"
    lock = definition["externalParameters"]["lock"]["content"]
    listed = {d["uri"]: d for d in definition["resolvedDependencies"] if "uri" in d}
    debs = {p["url"]: p for arch in lock["archs"] for p in arch["packages"]}
    assert {a["arch"] for a in lock["archs"]} == set(ARCHS) and len(debs) > 20
    for url, package in debs.items():
        entry = listed[url]
        assert entry["annotations"]["role"] == "deb"
        assert entry["digest"]["sha256"] == package["sha256"]
        # the file at that URL is the one the build unpacked: its digest is the listed one
        assert hashlib.sha256(fetch(url)).hexdigest() == entry["digest"]["sha256"], url
    assert len([d for d in listed.values() if d["annotations"]["role"] == "deb"]) == len(debs)
    inreleases = [
        d for d in definition["resolvedDependencies"] if d["annotations"]["role"] == "inrelease"
    ]
    assert [d["name"] for d in inreleases] == [f"{r['suite']} InRelease" for r in lock["releases"]]
    assert [d["digest"]["sha256"] for d in inreleases] == [
        r["inrelease_sha256"] for r in lock["releases"]
    ]
    assert inreleases[0]["name"] == "trixie InRelease" and "uri" in inreleases[0]
    for inrelease in (d for d in inreleases if "uri" in d):
        # the signed InRelease of the build, fetched again: the same file, unless the archive
        # published a newer one in the minutes since (its Date then says so)
        data = fetch(inrelease["uri"])
        if hashlib.sha256(data).hexdigest() != inrelease["digest"]["sha256"]:
            published = re.search(rb"^Date: (.+)$", data, re.MULTILINE)
            assert published, inrelease["uri"]
            listed = parsedate_to_datetime(inrelease["annotations"]["date"])
            assert parsedate_to_datetime(published[1].decode()) > listed, inrelease
    # the same provenance, unsigned, beside the image
    written = [json.loads(line) for line in pushed.statements.read_text().splitlines()]
    about_index = [
        s["predicate"]
        for s in written
        if s["predicateType"] == SLSA and s["subject"][0]["digest"]["sha256"] in pushed.digest
    ]
    assert about_index == [statement["predicate"]]


def test_the_lock_in_the_provenance_rebuilds_the_image_byte_for_byte(
    pushed: Pushed, tmp_path: Path
) -> None:
    [statement] = cosign_statements(pushed.pub, "slsaprovenance1", f"{pushed.repo}:1")
    parameters = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert parameters["options"]["variant"] == "standard"
    lock = tmp_path / "python.lock"
    lock.write_text(json.dumps(parameters["lock"]["content"]))
    again = ok(pydistroless("build", "--lock", lock, "-o", tmp_path / "again.tar"))
    assert again == pushed.digest


def test_our_verify_prints_the_verified_predicates(pushed: Pushed) -> None:
    for ref in (f"{pushed.repo}:1", f"{pushed.repo}:1-arm64"):
        for kind in ("slsaprovenance1", SLSA, "spdxjson"):
            via_cosign = [s["predicate"] for s in cosign_statements(pushed.pub, kind, ref)]
            assert sorted(our_predicates(pushed.pub, kind, ref), key=json.dumps) == sorted(
                via_cosign, key=json.dumps
            )


def test_an_app_is_attested_with_its_wheels_and_its_base(pushed: Pushed, tmp_path: Path) -> None:
    ref = f"{pushed.registry.host}/apps/flask:1"
    digest = ok(
        pydistroless(
            "app", EXAMPLES / "flask-gunicorn", "-o", tmp_path / "app.tar", "--write-lock",
            tmp_path / "app.lock", "--push", ref, "--sign-key", pushed.key, env=signing_env(),
        )
    )  # fmt: skip
    [sbom] = cosign_statements(pushed.pub, "spdxjson", ref)
    assert sbom["subject"] == subject(ref.rsplit(":", 1)[0], digest)
    assert any(p["name"] == "flask" for p in sbom["predicate"]["packages"])
    [statement] = cosign_statements(pushed.pub, "slsaprovenance1", ref)
    definition = statement["predicate"]["buildDefinition"]
    assert definition["buildType"] == "https://pydistroless.dev/buildtypes/app/v1"
    app_lock = json.loads((tmp_path / "app.lock").read_text())
    assert definition["externalParameters"]["lock"]["content"] == app_lock
    [image] = app_lock["images"]
    listed = definition["resolvedDependencies"]
    by_role: dict[str, list[dict]] = {}
    for entry in listed:
        by_role.setdefault(entry["annotations"]["role"], []).append(entry)
    assert by_role["base-image"] == [
        {
            "name": "base image",
            "digest": {"sha256": image["base"].removeprefix("sha256:")},
            "annotations": {"role": "base-image"},
        }
    ]
    assert {(w["name"], w["digest"]["sha256"]) for w in by_role["wheel"]} == {
        (w["file"], w["sha256"]) for w in image["wheels"]
    }
    # the base was built in the same run: its .debs and InRelease files are the app's inputs
    base = definition["externalParameters"]["base"]["lock"]["content"]
    [base_arch] = base["archs"]
    assert {d["digest"]["sha256"] for d in by_role["deb"]} >= {
        p["sha256"] for p in base_arch["packages"]
    }
    assert len(by_role["inrelease"]) == len(base["releases"])

    # on a base read from a registry: that base, by digest and reference, and nothing of its
    ref = f"{pushed.registry.host}/apps/flask-on-given:1"
    given = f"{pushed.repo}:1"
    ok(
        pydistroless(
            "app", EXAMPLES / "flask-gunicorn", "-o", tmp_path / "given.tar", "--base", given,
            "--push", ref, "--sign-key", pushed.key, env=signing_env(),
        )
    )  # fmt: skip
    [statement] = cosign_statements(pushed.pub, "slsaprovenance1", ref)
    definition = statement["predicate"]["buildDefinition"]
    assert "base" not in definition["externalParameters"]
    [base_image] = [
        d for d in definition["resolvedDependencies"] if d["annotations"]["role"] == "base-image"
    ]
    native = pushed.platforms[native_platform().architecture]
    assert base_image == {
        "name": "base image",
        "digest": {"sha256": native.removeprefix("sha256:")},
        "annotations": {"role": "base-image", "reference": given},
    }


def test_we_verify_what_cosign_attest_made(pushed: Pushed, tmp_path: Path) -> None:
    ref = f"{pushed.repo}-cosign:1"
    digest = ok(pydistroless("push", small_image(tmp_path, "cosign-attested"), ref))
    predicate = {"spdxVersion": "SPDX-2.3", "name": "made by hand", "packages": []}
    (tmp_path / "sbom.json").write_text(json.dumps(predicate))
    cosign_ok(
        "attest",
        "--key",
        pushed.key,
        "--type",
        "spdxjson",
        "--predicate",
        tmp_path / "sbom.json",
        "--tlog-upload=false",
        "--allow-insecure-registry",
        f"{pushed.repo}-cosign@{digest}",
        password=PASSWORD,
    )
    printed = ok(pydistroless("verify", ref, "--key", pushed.pub, "--attestation", "spdxjson"))
    assert json.loads(printed) == predicate
    # ... and not as a provenance, which cosign did not make
    missing = pydistroless("verify", ref, "--key", pushed.pub, "--attestation", "slsaprovenance1")
    assert_clean_failure(missing, EXIT_SIGNATURE, "no https://slsa.dev/provenance/v1 attestation")


# ---- failures ---------------------------------------------------------------------------------


class Registry:
    """The registry's HTTP API, to tamper with what is stored as an attacker with push rights
    would."""

    def __init__(self, registry: RunningRegistry, repository: str):
        self.base = f"{registry.url()}/v2/{repository}"
        self.http = urllib3.PoolManager()

    def manifest(self, reference: str) -> dict:
        response = self.http.request(
            "GET",
            f"{self.base}/manifests/{reference}",
            headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
        )
        assert response.status == 200, response.data
        return json.loads(response.data)

    def blob(self, digest: str) -> bytes:
        response = self.http.request("GET", f"{self.base}/blobs/{digest}")
        assert response.status == 200, response.data
        return response.data

    def put_blob(self, data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        started = self.http.request("POST", f"{self.base}/blobs/uploads/")
        assert started.status == 202, started.data
        location = started.headers["Location"]
        if location.startswith("/"):
            location = self.base.split("/v2/")[0] + location
        joiner = "&" if "?" in location else "?"
        done = self.http.request(
            "PUT",
            f"{location}{joiner}digest={digest}",
            body=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status == 201, done.data
        return {"digest": digest, "size": len(data)}

    def put_manifest(self, reference: str, document: dict, media_type: str) -> None:
        response = self.http.request(
            "PUT",
            f"{self.base}/manifests/{reference}",
            body=json.dumps(document).encode(),
            headers={"Content-Type": media_type},
        )
        assert response.status == 201, response.data

    def forget_referrers(self, digest: str) -> None:
        """Empty the referrers fallback index (this registry has no referrers API), so that
        only the ``.att`` tag is left to verify."""
        empty = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        self.put_manifest(digest.replace(":", "-"), empty, OCI_INDEX)


def att_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".att"


def test_a_tampered_attestation_fails_in_one_line(pushed: Pushed, tmp_path: Path) -> None:
    ref = f"{pushed.repo}-tampered:1"
    digest = ok(
        pydistroless(
            "push", pushed.tar, ref, "--sign-key", pushed.key, "--attestations",
            pushed.statements, env=signing_env(),
        )
    )  # fmt: skip
    assert digest == pushed.digest
    store = Registry(pushed.registry, "base/python-tampered")
    store.forget_referrers(digest)
    manifest = store.manifest(att_tag(digest))
    for layer in manifest["layers"]:
        envelope = json.loads(store.blob(layer["digest"]))
        statement = json.loads(base64.b64decode(envelope["payload"]))
        statement["predicate"]["tampered"] = True  # the signature stays the same
        envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        layer.update(store.put_blob(json.dumps(envelope).encode()))
    store.put_manifest(att_tag(digest), manifest, OCI_MANIFEST)
    for kind in ("slsaprovenance1", "spdxjson"):
        result = pydistroless("verify", ref, "--key", pushed.pub, "--attestation", kind)
        assert_clean_failure(result, EXIT_SIGNATURE, "no signature in it verifies with the key")
        assert verify_attestation(pushed.pub, kind, ref).returncode != 0  # cosign agrees


def test_another_key_fails_in_one_line(pushed: Pushed, tmp_path: Path) -> None:
    _, other = key_pair(tmp_path / "other", "other-password")
    result = pydistroless("verify", f"{pushed.repo}:1", "--key", other, "--attestation", "spdxjson")
    assert_clean_failure(result, EXIT_SIGNATURE, "with the key")
    assert verify_attestation(other, "spdxjson", f"{pushed.repo}:1").returncode != 0


def test_an_attestation_of_another_image_fails_in_one_line(pushed: Pushed, tmp_path: Path) -> None:
    ref = f"{pushed.repo}:other"
    other = ok(pydistroless("push", small_image(tmp_path, "other"), ref))
    store = Registry(pushed.registry, "base/python")
    # the base image's signed .att, put where the other image's would be
    store.put_manifest(att_tag(other), store.manifest(att_tag(pushed.digest)), OCI_MANIFEST)
    result = pydistroless("verify", ref, "--key", pushed.pub, "--attestation", "slsaprovenance1")
    line = assert_clean_failure(result, EXIT_SIGNATURE, "another image")
    assert pushed.digest in line
    assert verify_attestation(pushed.pub, "slsaprovenance1", ref).returncode != 0


# ---- push and copy of an image built earlier -------------------------------------------------


def test_push_of_a_tar_attests_its_sbom_and_with_the_file_its_provenance(
    pushed: Pushed, tmp_path: Path
) -> None:
    bare = f"{pushed.repo}-bare:1"
    ok(pydistroless("push", pushed.tar, bare, "--sign-key", pushed.key, env=signing_env()))
    # the SBOM inside the image, attested
    assert verify_attestation(pushed.pub, "spdxjson", bare).returncode == 0
    inside = our_predicates(pushed.pub, "spdxjson", bare)
    assert len(inside) == len(ARCHS)  # one per platform, about the index
    assert all(document["spdxVersion"] == "SPDX-2.3" for document in inside)
    # no provenance without the build's statements
    missing = pydistroless("verify", bare, "--key", pushed.pub, "--attestation", "slsaprovenance1")
    assert_clean_failure(missing, EXIT_SIGNATURE, "no https://slsa.dev/provenance/v1")

    # copy from the registry with the build's statements: the provenance follows
    copied = f"{pushed.repo}-copied:1"
    ok(
        pydistroless(
            "copy", f"docker://{pushed.repo}:1", f"docker://{copied}", "--sign-key", pushed.key,
            "--attestations", pushed.statements, env=signing_env(),
        )
    )  # fmt: skip
    assert verify_attestation(pushed.pub, "slsaprovenance1", copied).returncode == 0

    # the statements of another image are refused before anything is pushed
    elsewhere = tmp_path / "other.intoto.jsonl"
    statement = json.loads(pushed.statements.read_text().splitlines()[0])
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    elsewhere.write_text(json.dumps(statement) + "\n")
    refused = pydistroless(
        "push", pushed.tar, f"{pushed.repo}-refused:1", "--sign-key", pushed.key,
        "--attestations", elsewhere, env=signing_env(),
    )  # fmt: skip
    assert_clean_failure(refused, EXIT_USAGE, "sha256:" + "0" * 64, "not the image pushed")
    assert not [r for r in pushed.registry.requests() if r.repo == "base/python-refused"]


# ---- the README, as printed -------------------------------------------------------------------

README = Path(__file__).parents[2] / "README.md"
SUBSECTION = "### Attestations: the SBOM, and where every byte came from\n"


def readme_blocks() -> list[str]:
    """The shell blocks of the README's subsection on attestations, in order."""
    text = README.read_text().split(SUBSECTION, 1)[1]
    text = re.split(r"\n##+ ", text, maxsplit=1)[0]
    return re.findall(r"```shell\n(.*?)```", text, re.DOTALL)


def run_block(block: str, host: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """``block`` run by bash in ``folder`` as printed, but for this machine's registry (plain
    HTTP, so cosign gets --allow-insecure-registry after its other arguments)."""
    script = "set -euo pipefail\n"
    script += 'cosign() { "$COSIGN" "$@" --allow-insecure-registry; }\n'
    script += block.replace("registry.example.com", host)
    env = {
        **os.environ,
        "COSIGN": str(cosign_binary()),
        "COSIGN_PASSWORD": PASSWORD,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYDISTROLESS_CACHE_DIR": str(shared_cache_dir()),
    }
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run(
        ["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=1800
    )


def test_the_readme_subsection_as_printed(pushed: Pushed, tmp_path: Path) -> None:
    """Its blocks run as printed in a folder with the key pair: build and push with the
    statements, verify with cosign and with pydistroless, rebuild from the provenance's lock
    to the digest the registry has."""
    shutil.copy(pushed.key, tmp_path / "cosign.key")
    shutil.copy(pushed.pub, tmp_path / "cosign.pub")
    publish, check, rebuild = readme_blocks()
    host = pushed.registry.host
    digest = ok(run_block(publish, host, tmp_path)).splitlines()[-1]
    assert digest.startswith("sha256:")
    assert (tmp_path / "python.intoto.jsonl").is_file()
    checked = run_block(check, host, tmp_path)
    [statement] = statements_of(ok(checked))  # cosign's, on stdout
    assert statement["predicateType"] == SLSA
    assert statement["subject"] == subject(f"{host}/team/python", digest)
    sbom = json.loads((tmp_path / "sbom.spdx.json").read_text())
    assert sbom == json.loads(next(tmp_path.glob("python.*.spdx.json")).read_text())
    assert ok(run_block(rebuild, host, tmp_path)) == digest
    lock = json.loads((tmp_path / "python.lock").read_text())
    assert lock["lock-version"] == 1


def test_an_unknown_attestation_type_is_one_line(pushed: Pushed) -> None:
    result = pydistroless(
        "verify", f"{pushed.repo}:1", "--key", pushed.pub, "--attestation", "sbom"
    )
    assert_clean_failure(result, EXIT_USAGE, "'sbom' is neither a predicate URI nor", "spdxjson")


def test_a_statements_path_not_ours_to_replace_stops_the_build_before_it_starts(
    tmp_path: Path,
) -> None:
    """The .intoto.jsonl beside the tar is checked with the tar and the SBOMs: a FIFO there
    is one line before anything is downloaded, and nothing is written."""
    repo = fake_python_repo(tmp_path / "repo")
    out = tmp_path / "out"
    out.mkdir()
    fifo = out / "img.intoto.jsonl"
    os.mkfifo(fifo)
    result = pydistroless(
        "build", *repo_args(repo), "-o", out / "img.tar", cache_dir=tmp_path / "cache"
    )
    assert_clean_failure(result, EXIT_OUTPUT, str(fifo), "FIFO")
    assert sorted(p.name for p in out.iterdir()) == ["img.intoto.jsonl"]
    assert not (tmp_path / "cache" / "blobs").exists()  # nothing downloaded
