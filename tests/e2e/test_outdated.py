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
    # sid's Release is past its Valid-Until on this machine's mirror: without the flag the
    # upstream Python is not checked, and says why
    assert body["python"] is None
    assert "--accept-expired-release" in result.stderr
    table = pydistroless("outdated", lock, "--accept-expired-release")
    assert table.returncode == 1
    assert "libzstd1" in table.stdout and "(security)" in table.stdout
    assert "python 3.13: 3.13.5 here, 3.13." in table.stdout
    assert "WARNING: --accept-expired-release" in table.stderr


def test_the_newest_upstream_python_comes_from_sid_sources(tmp_path: Path) -> None:
    need_network()
    lock = tmp_path / "python.lock"
    assert pydistroless("lock", "-o", lock).returncode == 0
    result = pydistroless("outdated", lock, "--json", "--accept-expired-release")
    python = json.loads(result.stdout)["python"]
    assert python["minor"] == "3.13" and python["installed"] == "3.13.5"
    newest = tuple(int(x) for x in python["newest"].split("."))
    assert newest[:2] == (3, 13) and newest > (3, 13, 5) and python["behind"]


def test_a_fresh_image_is_up_to_date_from_a_tar_and_a_registry(tmp_path: Path) -> None:
    need_network()
    tar = tmp_path / "python.tar"
    built = pydistroless("build", "-o", tar)
    assert built.returncode == 0, built.stderr
    result = pydistroless("outdated", tar, "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert (found["behind"], found["suite"]) == ([], "trixie")
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
