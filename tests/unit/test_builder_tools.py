"""The builder variant's Python tools as the lock pins them."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pydistroless.core.errors import UsageError
from pydistroless.python import tools
from pydistroless.python.dependencies import read
from pydistroless.recipes import lock as lockfile
from tests.unit.test_cpython_build import source_lock
from tests.unit.test_lock import package

PIP = "pip==25.3 --hash=sha256:" + "a" * 64
UV = "uv==0.9.9 --hash=sha256:" + "b" * 64


def _arch(arch: str, lines: tuple[str, ...]):
    base = source_lock().archs[0]
    libc = package("libc6", "2.41-12")
    return replace(base, arch=arch, packages=(*base.packages, libc), python_tools=lines)


def _pinned(arch_lock):
    return lockfile.runtime_of(arch_lock, "trixie"), arch_lock.python_tools


def test_the_lock_keeps_the_tools_one_line_each():
    lock = replace(source_lock(), archs=(_arch("amd64", (PIP, UV)),))
    text = lockfile.dumps(lock)
    assert f"        {json.dumps(PIP)}," in text.splitlines()
    assert lockfile.loads(text) == lock


@pytest.mark.parametrize("line", ["pip>=25", "pip==25.3", "pip==25.3 --hash=md5:abc", 7])
def test_a_tool_line_that_is_not_hash_pinned_is_refused(line):
    data = json.loads(lockfile.dumps(source_lock()))
    data["archs"][0]["python-tools"] = [line]
    with pytest.raises(UsageError, match="is not a pinned requirement"):
        lockfile.loads(json.dumps(data), source="my.lock")


def test_each_architecture_reads_its_own_pins(tmp_path):
    amd64 = _arch("amd64", (PIP, UV))
    arm64 = _arch("arm64", ("pip==25.3 --hash=sha256:" + "c" * 64,))
    path = tmp_path / "requirements.txt"
    path.write_text(tools.requirements([_pinned(amd64), _pinned(arm64)]))
    for arch_lock, expected in ((amd64, {"pip": "a", "uv": "b"}), (arm64, {"pip": "c"})):
        markers = lockfile.runtime_of(arch_lock, "trixie").markers
        deps = read(path, markers)
        assert deps.pins is not None, "hash-pinned lines are exact: nothing is resolved"
        assert {p.name: next(iter(p.hashes))[0] for p in deps.pins} == expected


def test_a_lock_without_tools_has_them_resolved():
    text = tools.requirements([_pinned(_arch("amd64", ()))])
    assert text.split() == ["pip", "setuptools", "wheel", "uv", "poetry", "pipenv"]
