"""uv never runs an sdist's build on the host to read its metadata: a resolution that needs
the metadata of an sdist that only its build gives stops, and goes on with the metadata the
builder image (here a fake) computed. Local files only: a folder of distributions served to
uv with --find-links, no index."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from pydistroless.core.arch import architecture
from pydistroless.core.cache import Cache
from pydistroless.core.errors import ResolveError
from pydistroless.core.fetch import Fetcher
from pydistroless.python import dependencies, sdist, uv_metadata, wheels
from pydistroless.python.runtime import Target
from pydistroless.python.uv_metadata import SdistNeedsBuild

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# The host's own Python version: uv needs an interpreter of it to start, and finds this one.
TARGET = Target(
    python=PYTHON,
    version=f"{PYTHON}.{sys.version_info.micro}",
    abi=f"cp{sys.version_info.major}{sys.version_info.minor}",
    interpreter=f"/usr/bin/python{PYTHON}",
    site_packages=f"/usr/local/lib/python{PYTHON}/dist-packages",
    glibc=(2, 36),
    arch=architecture("amd64"),
    suite="bookworm",
)

# A PEP 517 backend (a wheel in the folder, as setuptools would be) that runs the sdist's
# setup.py for its metadata, as setuptools does.
BACKEND = """\
import pathlib

def _setup():
    exec(compile(pathlib.Path("setup.py").read_text(), "setup.py", "exec"), {})

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(directory, config_settings=None):
    _setup()
    info = pathlib.Path(directory) / "dyn-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\\nName: dyn\\nVersion: 1.0\\nRequires-Dist: stat\\n"
    )
    return info.name

def build_wheel(directory, config_settings=None, metadata_directory=None):
    _setup()
    raise RuntimeError("no wheel here")
"""


def _tar(path: Path, members: Mapping[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _backend_wheel(folder: Path) -> Path:
    path = folder / "fakebackend-1.0-py3-none-any.whl"
    dist = "fakebackend-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fakebackend.py", BACKEND)
        archive.writestr(
            f"{dist}/METADATA", "Metadata-Version: 2.1\nName: fakebackend\nVersion: 1.0\n"
        )
        archive.writestr(
            f"{dist}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{dist}/RECORD", "")
    return path


def _setup_py(marker: Path, name: str, version: str) -> str:
    return (
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        f"from setuptools import setup\nsetup(name={name!r}, version={version!r})\n"
    )


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """(requirements.txt naming dyn, the folder served, the marker any setup.py run writes):
    ``dyn`` 1.0 is an sdist with dynamic metadata (Metadata-Version 2.1) that needs ``stat``,
    ``stat`` 2.0 an sdist whose metadata is static (2.2, nothing dynamic)."""
    marker = tmp_path / "setup-py-ran-on-the-host"
    links = tmp_path / "links"
    links.mkdir()
    _backend_wheel(links)
    _tar(
        links / "dyn-1.0.tar.gz",
        {
            "dyn-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: dyn\nVersion: 1.0\n",
            "dyn-1.0/pyproject.toml": (
                '[build-system]\nrequires = ["fakebackend"]\nbuild-backend = "fakebackend"\n'
            ),
            "dyn-1.0/setup.py": _setup_py(marker, "dyn", "1.0"),
        },
    )
    _tar(
        links / "stat-2.0.tar.gz",
        {
            "stat-2.0/PKG-INFO": "Metadata-Version: 2.2\nName: stat\nVersion: 2.0\n",
            "stat-2.0/pyproject.toml": (
                '[build-system]\nrequires = ["fakebackend"]\nbuild-backend = "fakebackend"\n'
            ),
            "stat-2.0/setup.py": _setup_py(marker, "stat", "2.0"),
        },
    )
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"--no-index\n--find-links {links}\ndyn\n")
    # uv's own state and settings: none of the machine's (a cache of earlier metadata would
    # hide a build), and no interpreter downloads.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    for name in ("UV_CONFIG_FILE", "UV_NO_CONFIG", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    return requirements, links, marker


def test_without_the_guard_uv_runs_the_sdists_setup_py_on_the_host(index):
    """The fixture is what the guard is for: plain ``uv pip compile`` builds ``dyn`` here."""
    requirements, _, marker = index
    done = subprocess.run(
        [
            wheels.uv_binary(),
            "pip",
            "compile",
            str(requirements),
            "--quiet",
            "--python-platform",
            TARGET.uv_platform,
            "--python-version",
            TARGET.version,
        ],
        capture_output=True,
        text=True,
    )
    assert marker.exists(), done.stderr


class FakeMetadata:
    """The builder image's metadata of an sdist: recorded, and answered as pip reports it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes, tuple[str, ...]]] = []

    def __call__(self, sdist: Path, indexes: tuple[str, ...]) -> Mapping[str, object]:
        self.calls.append((sdist.name, sdist.read_bytes(), indexes))
        return {
            "metadata_version": "2.1",
            "name": "dyn",
            "version": "1.0",
            "requires_dist": ["stat"],
        }


def test_an_sdist_with_dynamic_metadata_is_resolved_with_the_builder_images_metadata(
    index, tmp_path: Path
):
    requirements, links, marker = index
    deps = dependencies.read(requirements, TARGET.markers)
    fake = FakeMetadata()
    fetcher = Fetcher(Cache(tmp_path / "cache"), progress=False)
    metadata = wheels.sdist_metadata_by(fake, fetcher, TARGET, indexes=deps.indexes)

    pins = wheels.pins_for(deps, TARGET, sdist_metadata=metadata)

    assert not marker.exists()
    assert sorted((p.name, p.version) for p in pins) == [("dyn", "1.0"), ("stat", "2.0")]
    # Asked for dyn alone (stat's metadata is static), with its bytes as the folder has them,
    # downloaded and checked against the hash uv listed; the index lines go along.
    ((name, data, indexes),) = fake.calls
    assert (name, data) == ("dyn-1.0.tar.gz", (links / "dyn-1.0.tar.gz").read_bytes())
    assert indexes == deps.indexes
    assert {p.name: p.sdist.filename for p in pins if p.sdist} == {
        "dyn": "dyn-1.0.tar.gz",
        "stat": "stat-2.0.tar.gz",
    }


def test_without_a_compiler_it_is_refused_in_one_line(index):
    requirements, _, marker = index
    deps = dependencies.read(requirements, TARGET.markers)
    with pytest.raises(SdistNeedsBuild) as caught:
        wheels.pins_for(deps, TARGET)
    assert not marker.exists()
    message = str(caught.value)
    assert "\n" not in message
    assert "dyn==1.0 is a source distribution whose metadata only its own build gives" in message
    assert "pin it" in message
    assert isinstance(caught.value, ResolveError)


def test_a_static_sdist_resolves_as_before_without_any_metadata_asked(index):
    requirements, links, marker = index
    requirements.write_text(f"--no-index\n--find-links {links}\nstat\n")
    deps = dependencies.read(requirements, TARGET.markers)

    def never(name: str, version: str) -> Mapping[str, object]:
        raise AssertionError(f"{name} {version}")

    pins = wheels.pins_for(deps, TARGET, sdist_metadata=never)
    assert [(p.name, p.version) for p in pins] == [("stat", "2.0")]
    assert not marker.exists()


def test_metadata_that_names_another_package_is_refused():
    with pytest.raises(ResolveError, match="names another package"):
        uv_metadata.entry({"name": "other", "version": "1.0"}, "dyn", "1.0")
    with pytest.raises(ResolveError, match="Requires-Dist 'stat >>> 1'"):
        uv_metadata.entry(
            {"name": "dyn", "version": "1.0", "requires_dist": ["stat >>> 1"]}, "dyn", "1.0"
        )
    assert uv_metadata.entry(
        {"name": "Dyn", "version": "1.0.0", "requires_dist": ["stat"], "requires_python": ">=3.9"},
        "dyn",
        "1.0",
    ) == {"name": "dyn", "version": "1.0", "requires-dist": ["stat"], "requires-python": ">=3.9"}


def test_the_config_file_keeps_the_users_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``--config-file`` replaces the settings uv would find; they are copied into it."""
    for name in ("UV_CONFIG_FILE", "UV_NO_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    user = tmp_path / "config" / "uv"
    user.mkdir(parents=True)
    (user / "uv.toml").write_text(
        'index-url = "https://user.example/simple"\n[pip]\nextra-index-url = ["https://u.example"]\n'
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.uv]\nindex-url = "https://project.example/simple"\ndev-dependencies = ["x"]\n'
        '[tool.uv.pip]\nextra-index-url = ["https://p.example"]\n'
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(project)
    entry = {"name": "dyn", "version": "1.0", "requires-dist": ['stat; python_version >= "3"']}
    written = tomllib.loads(uv_metadata.config_file([entry], tmp_path / "uv.toml").read_text())
    assert written == {
        "index-url": "https://project.example/simple",
        "pip": {"extra-index-url": ["https://p.example", "https://u.example"]},
        "dependency-metadata": [entry],
    }


def test_uvs_words_for_a_build_it_would_need_are_read():
    said = (
        "error: Failed to download and build `Dyn_Pkg==1.0.post1`\n"
        "  cause: Failed to resolve requirements from `setup.py` build\n"
        "  cause: Hash-checking is required, but no trusted hash was provided for: `setuptools`\n"
    )
    assert uv_metadata.needs_build(said) == ("dyn-pkg", "1.0.post1")
    assert uv_metadata.needs_build("error: No solution found when resolving dependencies") is None


def test_the_metadata_of_an_sdist_is_read_from_the_wheel_its_build_made(tmp_path: Path):
    """:func:`sdist.wheel_metadata`: the wheel's METADATA as PEP 566 JSON, what uv is given
    for an sdist (which is then compiled once, not once more for its metadata)."""
    wheel = tmp_path / "dyn-1.0-cp313-cp313-linux_x86_64.whl"
    text = (
        "Metadata-Version: 2.1\nName: dyn\nVersion: 1.0\nRequires-Python: >=3.9\n"
        'Requires-Dist: idna>=3\nRequires-Dist: pysocks; extra == "socks"\n'
        "Provides-Extra: socks\n\nA long description.\nRequires-Dist: not-a-header\n"
    )
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("dyn/__init__.py", "")
        archive.writestr("dyn-1.0.dist-info/METADATA", text)
    got = sdist.wheel_metadata(wheel)
    assert got == {
        "metadata_version": "2.1",
        "name": "dyn",
        "version": "1.0",
        "requires_python": ">=3.9",
        "requires_dist": ["idna>=3", 'pysocks; extra == "socks"'],
        "provides_extra": ["socks"],
    }
    assert uv_metadata.entry(got, "dyn", "1.0")["requires-dist"] == got["requires_dist"]


def test_a_wheel_without_its_metadata_is_one_line(tmp_path: Path):
    wheel = tmp_path / "dyn-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("dyn/__init__.py", "")
    with pytest.raises(ResolveError, match=r"^dyn-1.0-py3-none-any.whl: its metadata is unr"):
        sdist.wheel_metadata(wheel)


def test_a_project_whose_dependencies_are_dynamic_is_refused_not_built(
    index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``uv pip compile pyproject.toml`` of a project with ``dynamic = ["dependencies"]``
    would run its build backend on the host; it is one line instead."""
    _, links, marker = index
    project = tmp_path / "project"
    project.mkdir()
    (project / "setup.py").write_text(_setup_py(marker, "project", "0.1"))
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["fakebackend"]\nbuild-backend = "fakebackend"\n'
        '[project]\nname = "project"\nversion = "0.1"\ndynamic = ["dependencies"]\n'
    )
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(links))
    deps = dependencies.Dependencies(
        source=project / "pyproject.toml", resolve=project / "pyproject.toml"
    )
    with pytest.raises(ResolveError, match="uv would have to run a build backend on this host"):
        wheels.pins_for(deps, TARGET, sdist_metadata=FakeMetadata())
    assert not marker.exists()


def test_an_in_tree_backend_without_build_requirements_does_not_run_on_the_host(
    index, tmp_path: Path
):
    """``--require-build-hashes`` stops a build that has requirements to install; one whose
    backend is in the sdist's own tree (``backend-path``) and needs none is stopped by the
    second lock, the ``sitecustomize`` that ends a build's Python as it starts."""
    requirements, links, marker = index
    _tar(
        links / "intree-1.0.tar.gz",
        {
            "intree-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: intree\nVersion: 1.0\n",
            "intree-1.0/pyproject.toml": (
                '[build-system]\nrequires = []\nbuild-backend = "fakebackend"\n'
                'backend-path = ["."]\n'
            ),
            "intree-1.0/fakebackend.py": BACKEND.replace("dyn-1.0", "intree-1.0").replace(
                "Name: dyn", "Name: intree"
            ),
            "intree-1.0/setup.py": _setup_py(marker, "intree", "1.0"),
        },
    )
    requirements.write_text(f"--no-index\n--find-links {links}\nintree\n")
    deps = dependencies.read(requirements, TARGET.markers)
    with pytest.raises(SdistNeedsBuild, match=r"intree==1\.0 is a source distribution"):
        wheels.pins_for(deps, TARGET)
    assert not marker.exists()
