"""Base layers that survive updates: two real builds whose locks differ in one library
package share every layer but that package's and the generated one; a moved Release date
changes only the generated layer; docker and skopeo take both images."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pydistroless.debian.sources import SourceOptions
from pydistroless.debian.store import Store, load_index, load_releases
from pydistroless.oci.archive import read_tar
from pydistroless.oci.model import Image
from tests.fixtures.tools import need_network, pydistroless, run, shared_cache_dir

pytestmark = pytest.mark.network

GROUPS = ("python", "openssl", "base", "data", "generated")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    return result.stdout.strip()


def locked_version(lock: Path, name: str) -> str:
    data = json.loads(lock.read_text())
    return next(p["version"] for p in data["archs"][0]["packages"] if p["name"] == name)


def other_version(name: str, than: str) -> str:
    """Another version of ``name`` that the trixie suites carry (the security archive and
    the point release often hold two)."""
    ctx = Store.create(SourceOptions(cache_dir=shared_cache_dir()))
    index = load_index(ctx.archive, load_releases(ctx.archive, ctx.mirrors, "trixie"), "amd64")
    versions = sorted({c.version for c in index.candidates(name)} - {than})
    if not versions:
        pytest.fail(f"the archive has one {name} only ({than}); this test needs two", pytrace=False)
    return versions[-1]


def layer_digests(image: Image) -> dict[str, str]:
    history = [h for h in image.config_json["history"] if not h.get("empty_layer")]
    names = [h["comment"].split(":")[0].removeprefix("pydistroless ") for h in history]
    return {name: str(layer.digest) for name, layer in zip(names, image.layers, strict=True)}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    need_network()
    out = tmp_path_factory.mktemp("split")
    ok(pydistroless("lock", "--arch", "amd64", "-o", out / "a.lock"))
    current = locked_version(out / "a.lock", "libssl3t64")
    older = other_version("libssl3t64", current)
    ok(
        pydistroless(
            "lock", "--arch", "amd64", "--package", f"libssl3t64={older}", "-o", out / "b.lock"
        )
    )
    tars = {}
    for name, lock, env in (
        ("a", "a.lock", {}),
        ("b", "b.lock", {}),
        ("a-later", "a.lock", {"SOURCE_DATE_EPOCH": "1900000000"}),
    ):
        tars[name] = out / f"{name}.tar"
        tag = f"pydistroless-e2e/split:{name}"
        ok(pydistroless("build", "--lock", out / lock, "-o", tars[name], "--tag", tag, env=env))
    return tars


def test_a_changed_library_changes_its_layer_and_the_generated_one_only(builds) -> None:
    a = layer_digests(read_tar(builds["a"]))
    b = layer_digests(read_tar(builds["b"]))
    assert tuple(a) == GROUPS
    assert tuple(b) == GROUPS
    changed = {name for name in GROUPS if a[name] != b[name]}
    assert changed == {"openssl", "generated"}


def test_a_later_release_date_changes_only_the_generated_layer(builds) -> None:
    a = layer_digests(read_tar(builds["a"]))
    later = layer_digests(read_tar(builds["a-later"]))
    assert {name for name in GROUPS if a[name] != later[name]} == {"generated"}


@pytest.mark.skopeo
def test_skopeo_reads_both(builds, skopeo: str) -> None:
    for name in ("a", "b"):
        inspected = json.loads(run([skopeo, "inspect", f"oci-archive:{builds[name]}"]).stdout)
        assert len(inspected["Layers"]) == len(GROUPS)


@pytest.mark.docker
def test_docker_loads_and_runs_both(builds, docker_engine) -> None:
    for name in ("a", "b"):
        tag = f"pydistroless-e2e/split:{name}"
        try:
            loaded = docker_engine("load", "-i", str(builds[name])).stdout
            assert "Loaded image" in loaded
            out = docker_engine.run(tag, "-c", "import ssl; print(ssl.OPENSSL_VERSION)").stdout
            assert out.startswith("OpenSSL 3.")
        finally:
            docker_engine.remove_images(tag)
