"""Images built the Dockerfile way: a manylinux wheel copied into a base by ``docker build``.
It needs libstdc++ and glibc's libpthread stub, which the standard base leaves out: ``check``
finds them (exit 8), ``--add-missing`` adds them from Debian in one layer, and the image then
runs, as 65532 on a read-only root. The cc variant, made for such copies, runs it as it is."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.e2e.test_app_examples import ok
from tests.fixtures.tools import need_network, pydistroless

pytestmark = [pytest.mark.network, pytest.mark.docker]

BASE = "e2e-check-base:1"
BROKEN = "e2e-check-numpy:1"
FIXED = "e2e-check-numpy:fixed"
CC = "e2e-check-cc:1"
COPIED = "e2e-check-cc-numpy:1"
SITE = "/usr/local/lib/python3.13/dist-packages"


def numpy_site(into: Path) -> Path:
    """numpy's manylinux wheel for CPython 3.13, unpacked as pip would leave it in a
    site-packages folder (downloaded with the machine's own pip settings)."""
    wheels = into / "wheels"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "numpy==2.5.5", "--no-deps",
         "--only-binary=:all:", "--python-version", "3.13",
         "--platform", "manylinux_2_28_x86_64", "-d", str(wheels)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    site = into / "context" / "site"
    with zipfile.ZipFile(next(wheels.glob("numpy-*.whl"))) as wheel:
        wheel.extractall(site)
    return site.parent


def test_check_finds_what_a_copied_wheel_lacks_and_add_missing_mends_it(
    tmp_path: Path, docker_engine
) -> None:
    need_network()
    context = numpy_site(tmp_path)
    (context / "Dockerfile").write_text(f"FROM {BASE}\nCOPY site {SITE}/\n")
    ok(pydistroless("build", "-o", tmp_path / "base.tar", "--tag", BASE, "--load"))
    try:
        docker_engine("build", "-q", "--network", "none", "-t", BROKEN, str(context))
        failed = docker_engine("run", "--rm", "--read-only", "--user", "65532", BROKEN, "-c",
                               "import numpy", check=False)  # fmt: skip
        assert failed.returncode != 0 and "libstdc++.so.6" in failed.stderr

        found = pydistroless("check", f"docker-daemon:{BROKEN}")
        assert found.returncode == 8, found.stderr
        rows = found.stdout.strip().splitlines()
        assert any(r.startswith(f"{SITE}/numpy/_core/_multiarray_umath") and
                   r.endswith("needs libstdc++.so.6, which the loader does not find")
                   for r in rows), rows  # fmt: skip
        assert any("needs libpthread.so.0" in r for r in rows), rows
        assert found.stderr.strip().splitlines()[-1] == (
            f"pydistroless: error: docker-daemon:{BROKEN}: {len(rows)} problem(s), listed "
            "above; --add-missing adds the libraries from Debian"
        )

        fixed = pydistroless("check", f"docker-daemon:{BROKEN}", "--add-missing",
                             "-o", tmp_path / "fixed.tar", "--tag", FIXED, "--load")  # fmt: skip
        ok(fixed)
        assert "added libstdc++6 for" in fixed.stderr
        assert "put back libpthread.so.0 of the base's libc6 for" in fixed.stderr
        document = json.loads((tmp_path / "fixed.amd64.spdx.json").read_text())
        names = {p["name"] for p in document["packages"]}
        assert {"libstdc++6", "libc6", "python3.13-minimal"} <= names
        ok(pydistroless("check", tmp_path / "fixed.tar"))
        out = docker_engine(
            "run", "--rm", "--read-only", "--user", "65532", "--network", "none", FIXED, "-c",
            "import numpy; print(int((numpy.arange(10) ** 2).sum()))",
        ).stdout.strip()  # fmt: skip
        assert out == "285"
        # One layer on top of what docker built, and the SBOM in the image lists the new
        # package too.
        inside = docker_engine(
            "run", "--rm", "--network", "none", FIXED, "-c",
            "import json; d = json.load(open('/usr/share/sbom/pydistroless.spdx.json'));"
            "print(sorted(p['name'] for p in d['packages'] if p['name'].startswith('libstdc')))",
        ).stdout.strip()  # fmt: skip
        assert inside == "['libstdc++6']"
    finally:
        docker_engine.remove_images(BROKEN, FIXED, BASE)


def test_the_cc_variant_runs_a_copied_wheel_as_it_is(tmp_path: Path, docker_engine) -> None:
    need_network()
    context = numpy_site(tmp_path)
    (context / "Dockerfile").write_text(f"FROM {CC}\nCOPY site {SITE}/\n")
    ok(pydistroless("build", "--variant", "cc", "-o", tmp_path / "cc.tar", "--tag", CC, "--load"))
    try:
        docker_engine("build", "-q", "--network", "none", "-t", COPIED, str(context))
        ok(pydistroless("check", f"docker-daemon:{COPIED}"))
        out = docker_engine(
            "run", "--rm", "--read-only", "--user", "65532", "--network", "none", COPIED, "-c",
            "import numpy; print(int((numpy.arange(10) ** 2).sum()))",
        ).stdout.strip()  # fmt: skip
        assert out == "285"
    finally:
        docker_engine.remove_images(COPIED, CC)
