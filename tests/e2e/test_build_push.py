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
