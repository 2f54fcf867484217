"""`pydistroless outdated` against the real archive: a lock pinned to an older package, and
an image just built, read from a tar and from a registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.registry import start_registry
from tests.fixtures.tools import assert_clean_failure, need_network, pydistroless

pytestmark = pytest.mark.network

OLDER = "libzstd1=1.5.7+dfsg-1"  # trixie's point release; -security has a newer one


def test_a_lock_behind_the_security_archive_exits_1(tmp_path: Path) -> None:
    need_network()
    lock = tmp_path / "old.lock"
    made = pydistroless("lock", "--package", OLDER, "-o", lock)
    assert made.returncode == 0, made.stderr
    result = pydistroless("outdated", lock, "--json")
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["suite"] == "trixie"
    rows = {r["package"]: r for r in body["behind"]}
    assert rows["libzstd1"]["installed"] == "1.5.7+dfsg-1"
    assert rows["libzstd1"]["suite"] == "trixie-security" and rows["libzstd1"]["security"]
    table = pydistroless("outdated", lock)
    assert table.returncode == 1
    assert "libzstd1" in table.stdout and "(security)" in table.stdout


def test_a_fresh_image_is_up_to_date_from_a_tar_and_a_registry(tmp_path: Path) -> None:
    need_network()
    tar = tmp_path / "python.tar"
    built = pydistroless("build", "-o", tar)
    assert built.returncode == 0, built.stderr
    result = pydistroless("outdated", tar, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"behind": [], "suite": "trixie"}
    registry = start_registry(tmp_path / "registry")
    try:
        ref = f"{registry.host}/base/python:1"
        assert pydistroless("push", tar, ref).returncode == 0
        remote = pydistroless("outdated", ref)
        assert remote.returncode == 0, remote.stderr
        assert "every package is up to date with trixie" in remote.stderr
    finally:
        registry.close()


def test_not_an_image_or_lock(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\n")
    assert_clean_failure(pydistroless("outdated", junk), 2, "notes.txt")
