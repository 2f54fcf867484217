from pathlib import Path

import pytest

from pydistroless import config
from pydistroless.errors import ConfigError
from pydistroless.spec import ImageSpec


def test_matrix_multiplies_into_images(tmp_path):
    path = tmp_path / "pydistroless.toml"
    path.write_text(
        'archs = ["amd64", "arm64"]\noutput-dir = "dist"\n'
        '[mirrors]\nmain = ["http://mirror.invalid/debian"]\n'
        '[matrix]\nsuite = ["trixie", "bookworm"]\nvariant = ["standard", "debug"]\n'
        'user = ["nonroot", "root"]\n'
    )
    loaded = config.load(path)
    assert len(loaded.images) == 8
    assert {(i.suite, i.variant, i.user) for i in loaded.images} == {
        (s, v, u)
        for s in ("trixie", "bookworm")
        for v in ("standard", "debug")
        for u in ("nonroot", "root")
    }
    assert all(i.archs == ("amd64", "arm64") for i in loaded.images)
    assert loaded.output_dir == tmp_path / "dist"
    assert loaded.mirrors == ("http://mirror.invalid/debian",)


def test_pyproject_table_and_discovery(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.pydistroless]\npython = "3.13"\nkeep = ["docs"]\n'
    )
    found = config.discover(tmp_path)
    assert found == tmp_path / "pyproject.toml"
    (image,) = config.load(found).images
    assert image.python == "3.13"
    assert image.keep == ("docs",)


def test_no_config_found(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert config.discover(tmp_path) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('suit = "trixie"', "unknown key"),
        ("archs = 3", "archs must be a list of strings"),
        ('[matrix]\ncolour = ["red"]', r"\[matrix\] takes lists"),
        ('variant = "fancy"', "--variant 'fancy' is unknown"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "pydistroless.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load(path)


def test_base_spec_is_the_default(tmp_path: Path):
    path = tmp_path / "pydistroless.toml"
    path.write_text("")
    assert config.load(path, ImageSpec(user="root")).images == (ImageSpec(user="root"),)
