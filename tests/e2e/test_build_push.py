"""build --push with a real base build: every tag pushed, a per-architecture tag beside the
index, the report of tags and digests, and the SBOM attached as an artifact that refers to
the image, fetched back with `pydistroless sbom`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.registry import start_registry
from tests.fixtures.tools import need_network, pydistroless, run

pytestmark = pytest.mark.network


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    return result.stdout.strip()


@pytest.mark.skopeo
def test_build_push_tags_report_and_sbom(tmp_path: Path) -> None:
    need_network()
    registry = start_registry(tmp_path / "registry")
    try:
        repo = f"{registry.host}/base/python"
        report = tmp_path / "pushed.json"
        digest = ok(
            pydistroless(
                "build",
                "--arch",
                "amd64,arm64",
                "-o",
                tmp_path / "python.tar",
                "--push",
                repo,
                "--push-report",
                report,
            )
        )
        pushed = json.loads(report.read_text())
        index_tags = [t for t in pushed if not t.endswith(("-amd64", "-arm64"))]
        assert f"{repo}:3.13-debian13" in index_tags
        assert f"{repo}:nonroot" in index_tags
        assert all(pushed[t] == digest for t in index_tags)
        for tag in index_tags:
            for arch in ("amd64", "arm64"):
                assert f"{tag}-{arch}" in pushed
        raw = run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{repo}:nonroot"])
        assert [m["platform"]["architecture"] for m in json.loads(raw.stdout)["manifests"]] == [
            "amd64",
            "arm64",
        ]

        # pushing the same tar again sends nothing
        again = pydistroless("push", tmp_path / "python.tar", f"{repo}:3.13-debian13")
        assert ok(again) == digest
        assert "0 blob(s) uploaded" in again.stderr

        fetched = pydistroless("sbom", f"{repo}:nonroot", "--platform", "linux/arm64")
        written = (tmp_path / "python.arm64.spdx.json").read_text()
        assert ok(fetched) == written.strip()
        assert json.loads(fetched.stdout)["spdxVersion"].startswith("SPDX-")
    finally:
        registry.close()


@pytest.mark.skopeo
def test_publish_a_config_matrix_then_again_and_from_the_tars(tmp_path: Path) -> None:
    """One command builds and pushes every image of the config's matrix with all its tags;
    publishing again sends no blob, and a tar built then is pushed later with its digest."""
    need_network()
    (tmp_path / "pydistroless.toml").write_text(
        'archs = ["amd64", "arm64"]\noutput-dir = "dist"\n\n'
        '[matrix]\nvariant = ["standard", "debug"]\n'
    )
    registry = start_registry(tmp_path / "registry")
    try:
        repo = f"{registry.host}/base/python"

        def publish(report: Path) -> subprocess.CompletedProcess[str]:
            result = pydistroless("build", "--push", repo, "--push-report", report, cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            return result

        first = publish(tmp_path / "first.json")
        pushed = json.loads((tmp_path / "first.json").read_text())
        standard = [f"{repo}:{t}" for t in ("3.13-debian13", "3.13.5-debian13", "nonroot")]
        debug = [f"{repo}:{t}" for t in ("3.13-debian13-debug", "3.13.5-debian13-debug")]
        debug.append(f"{repo}:debug-nonroot")
        for tag in standard + debug:
            for arch in ("amd64", "arm64"):
                assert f"{tag}-{arch}" in pushed
        assert len(pushed) == 3 * len(standard + debug)
        assert len({pushed[t] for t in standard}) == len({pushed[t] for t in debug}) == 1
        assert pushed[standard[0]] != pushed[debug[0]]
        for name, digest in pushed.items():  # the table on stderr says the same
            assert any(line.split() == [name, digest] for line in first.stderr.splitlines())

        # every tag an index of both platforms; each per-architecture tag its image
        for tag in (standard[0], debug[0]):
            raw = run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{tag}"])
            manifests = json.loads(raw.stdout)["manifests"]
            by_arch = {m["platform"]["architecture"]: m["digest"] for m in manifests}
            assert by_arch == {"amd64": pushed[f"{tag}-amd64"], "arm64": pushed[f"{tag}-arm64"]}

        # publishing again: the same digests, and not one blob sent
        again = publish(tmp_path / "again.json")
        assert json.loads((tmp_path / "again.json").read_text()) == pushed
        sent = [line for line in again.stderr.splitlines() if line.startswith("pushed ")]
        assert sent and all("0 blob(s) uploaded" in line for line in sent), again.stderr

        # the artefact built then, pushed later elsewhere: the digest it was published with
        later = pydistroless(
            "push", tmp_path / "dist" / "python-3.13-debian13-debug.tar", f"{registry.host}/later:1"
        )
        assert later.returncode == 0, later.stderr
        assert later.stdout.strip() == pushed[debug[0]]
    finally:
        registry.close()
