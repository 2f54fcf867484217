"""Direct references end to end: `pydistroless app` on projects that name a wheel file, with
a package index beside them that offers another file of the same name and version; and uv
reading a uv.lock for a newer Python than this host's, fetching no interpreter.

The index and the interpreter "mirror" are servers of the test on loopback addresses, which
record every request; the images run in docker without network.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.e2e.test_app_examples import loaded, ok
from tests.fixtures.index_server import Index, serve
from tests.fixtures.tools import need_network, pydistroless
from tests.unit.test_direct_references import uv_project
from tests.unit.test_recipes import make_wheel, sha256_of

pytestmark = pytest.mark.network

# A folder name no URL may carry as it is: a space, a plus and a percent sign.
AWKWARD = "my wheels+1%2"
MAIN = "from pdl_direct.origin import ORIGIN\nprint(ORIGIN)\n"


def origin_wheel(folder: Path, origin: str) -> Path:
    """pdl_direct 1.0, whose module says where it came from."""
    extra = {"pdl_direct/origin.py": f"ORIGIN = {origin!r}\n".encode()}
    return make_wheel(folder, "pdl_direct", "1.0", extra=extra)


def host_with_python_311_only(tmp_path: Path, mirror: Index) -> dict[str, str]:
    """The environment of a host whose only Python is its 3.11 (no version manager's shims
    on PATH, no managed Pythons), with uv's interpreter downloads sent to ``mirror``."""
    assert sys.version_info[:2] == (3, 11) or shutil.which("python3.11", path="/usr/bin")
    (tmp_path / "no-pythons").mkdir()
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "UV_PYTHON_INSTALL_DIR": str(tmp_path / "no-pythons"),
        "UV_PYTHON_INSTALL_MIRROR": f"{mirror.url}/python",
        "UV_PYTHON_DOWNLOADS": "automatic",  # what a user may have set: it is overruled
    }


def test_a_referenced_wheel_is_installed_and_never_the_indexs_file(
    tmp_path: Path, docker_engine
) -> None:
    need_network()
    local = origin_wheel(tmp_path / AWKWARD, "local")
    impostor = origin_wheel(tmp_path / "index-files", "index")
    other = make_wheel(tmp_path / "index-files", "pdl_other", "2.0")
    assert sha256_of(local) != sha256_of(impostor)
    project = tmp_path / "svc"
    project.mkdir()
    (project / "main.py").write_text(MAIN)
    index, mirror = Index(), Index()
    with serve(index), serve(mirror):
        index.add("pdl-direct", impostor.name, impostor.read_bytes())
        index.add("pdl-other", other.name, other.read_bytes())
        # Resolved by uv (pdl-other is a range), the reference a percent-encoded file URL.
        (project / "requirements.txt").write_text(
            f"--index-url {index.url}/simple\npdl-direct @ {local.as_uri()}\npdl-other>=1\n"
        )
        env = host_with_python_311_only(tmp_path, mirror)
        result = pydistroless(
            "app", project, "-o", tmp_path / "svc.tar", "--tag", "pdl-svc:1", env=env
        )
    digest = ok(result)
    assert digest.startswith("sha256:")
    assert not [path for path, _ in index.requests if path.startswith("/files/pdl_direct")]
    assert mirror.requests == []
    with loaded(docker_engine, tmp_path / "svc.tar", "pdl-svc:1"):
        assert docker_engine.run("pdl-svc:1").stdout.strip() == "local"


def test_a_uv_lock_for_python_313_with_a_path_source_builds_on_a_311_host(
    tmp_path: Path, docker_engine
) -> None:
    need_network()
    local = origin_wheel(tmp_path / AWKWARD, "local")
    project = uv_project(tmp_path / "svc", local).parent
    (project / "main.py").write_text(MAIN)
    mirror = Index()
    with serve(mirror):
        env = host_with_python_311_only(tmp_path, mirror)
        result = pydistroless(
            "app", project, "-o", tmp_path / "svc.tar", "--tag", "pdl-uv:1", env=env
        )
    ok(result)
    assert mirror.requests == []
    with loaded(docker_engine, tmp_path / "svc.tar", "pdl-uv:1"):
        assert docker_engine.run("pdl-uv:1").stdout.strip() == "local"
