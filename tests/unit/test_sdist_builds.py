"""What a source distribution needs to build in the builder image: its declared build
requirements, read from small self-made sdists."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from pydistroless.core.errors import ResolveError
from pydistroless.python.sdist import build_requirements
from tests.fixtures.archives import write_tar

CYTHON = b'[build-system]\nrequires = ["setuptools>=40.8.0", "wheel", "Cython"]\n'


def test_the_build_system_requirements_are_read_from_the_top_folder(tmp_path: Path):
    sdist = write_tar(
        tmp_path / "datrie-0.8.3.tar.gz",
        {
            "datrie-0.8.3/pyproject.toml": CYTHON,
            "datrie-0.8.3/libdatrie/pyproject.toml": b'[build-system]\nrequires = ["x"]\n',
        },
    )
    assert build_requirements(sdist) == ["setuptools>=40.8.0", "wheel", "Cython"]


def test_a_zip_sdist_is_read_too(tmp_path: Path):
    path = tmp_path / "pkg-1.0.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pkg-1.0/pyproject.toml", '[build-system]\nrequires = ["hatchling"]\n')
    assert build_requirements(path) == ["hatchling"]


@pytest.mark.parametrize(
    "members",
    [{"old-1.0/setup.py": b"from setuptools import setup\n"}, {"old-1.0/pyproject.toml": b""}],
    ids=["no pyproject.toml", "no build-system table"],
)
def test_without_a_build_system_it_is_setuptools(tmp_path: Path, members):
    assert build_requirements(write_tar(tmp_path / "old-1.0.tar.gz", members)) == [
        "setuptools>=40.8.0"
    ]


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        (b"[build-system\n", "not valid TOML"),
        (b'[build-system]\nrequires = "Cython"\n', "is no list"),
        (b'[build-system]\nrequires = ["Cython >>> 3"]\n', "build requirement 'Cython >>> 3'"),
    ],
)
def test_a_broken_pyproject_is_one_clear_error(tmp_path: Path, pyproject: bytes, message: str):
    sdist = write_tar(tmp_path / "bad-1.0.tar.gz", {"bad-1.0/pyproject.toml": pyproject})
    with pytest.raises(ResolveError, match=message):
        build_requirements(sdist)


def test_a_file_that_is_no_archive_is_refused(tmp_path: Path):
    path = tmp_path / "fake-1.0.tar.gz"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(ResolveError, match="cannot be read as a source distribution"):
        build_requirements(path)
