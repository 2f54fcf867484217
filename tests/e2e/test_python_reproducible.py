"""A CPython compiled from source is reproducible: one lock, two empty build caches in two
host folders, two compiles, one image digest.

The two caches share the shared test cache's downloads (its ``blobs``, by a link) and a copy
of the builder tree the lock pins (hard links, made once in the shared cache): those are
Debian's packages, checked by their digests, not the compile. Everything else (the compiled
CPython, the builder's workspace, the image and layer records) starts empty in each, and the
workspace of each lies in another host folder. Unoptimized, to keep it affordable; the
optimized build is not reproducible to the byte (its PGO profile comes from a run that is
timed and threaded), which docs/architecture.md explains.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pydistroless.debian import buildroot
from pydistroless.debian.sources import SourceOptions
from pydistroless.debian.store import Store
from pydistroless.recipes import lock as locks
from tests.fixtures.tools import describe, need_network, pydistroless, shared_cache_dir

pytestmark = [pytest.mark.network]

VERSION = "3.13.15"
QUICK = ("--no-python-optimizations", "--accept-expired-release")


def _fresh_cache(where: Path, shared: Path, builder: Path) -> Path:
    """An empty cache with the shared downloads and a hard-linked copy of the builder tree."""
    where.mkdir()
    (where / "blobs").symlink_to(shared / "blobs", target_is_directory=True)
    (where / "builders").mkdir()
    subprocess.run(["cp", "-al", str(builder), str(where / "builders")], check=True)
    return where


def _files(root: Path) -> dict[str, str]:
    """Each file of an install tree, by path, as its SHA256 (a link as its target). The
    ``__pycache__`` folders are left out: the image never takes them (its ``.pyc`` are
    compiled by pydistroless), and ``make install`` compiles them in parallel worker
    processes, whose marshal output depends on what each worker compiled before."""
    found = {}
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            path = Path(directory) / name
            relative = str(path.relative_to(root))
            if path.is_symlink():
                found[relative] = "-> " + os.readlink(path)
            else:
                found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_two_compiles_of_one_lock_in_two_empty_caches_give_one_image_digest(tmp_path: Path):
    need_network()
    shared = shared_cache_dir()
    made = pydistroless("lock", "--python", VERSION, *QUICK, "-o", tmp_path / "python.lock")
    assert made.returncode == 0, describe(made)
    arch = locks.read(tmp_path / "python.lock").archs[0]
    ctx = Store.create(SourceOptions(cache_dir=shared, accept_expired=True))
    tree = buildroot.builder_tree("trixie", arch.arch, ctx, packages=arch.builder)

    digests, installs = [], []
    for name in ("first", "second-build"):
        cache = _fresh_cache(tmp_path / name, shared, tree.root)
        try:
            result = pydistroless(
                "build", "--lock", tmp_path / "python.lock", "--accept-expired-release",
                "--output", tmp_path / f"{name}.tar", cache_dir=cache,
            )  # fmt: skip
            assert result.returncode == 0, describe(result)
            assert f"compiling CPython {VERSION}" in result.stderr  # compiled, not cached
            digests.append(result.stdout.strip().splitlines()[-1])
            installs.append(_files(next((cache / "pythons").glob(f"*-{arch.arch}/install"))))
        finally:
            shutil.rmtree(cache / "builders", ignore_errors=True)
    differing = sorted(
        path
        for path in installs[0].keys() | installs[1].keys()
        if installs[0].get(path) != installs[1].get(path)
    )
    assert not differing, f"the two compiles differ in {len(differing)} files: {differing[:20]}"
    assert digests[0] == digests[1], "the same installs made two images"
