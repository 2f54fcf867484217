from pathlib import Path

import pytest

from pydistroless.core.errors import ConfigError, UsageError
from pydistroless.recipes import config
from pydistroless.recipes.spec import ImageSpec, check_source_date_epoch


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
        ("[matrix]\nsuite = []", "matrix.suite is an empty list, which would build no image"),
        ("source-date-epoch = -1", "source-date-epoch=-1 is not a whole number of seconds"),
        ("source-date-epoch = 99999999999999", "from 0 to 8589934591"),
        ('packages = ["libpq5=>>1"]', "is not NAME or NAME=VERSION"),
        ("archs = []", "no architecture given"),
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


def test_config_that_is_not_utf8(tmp_path: Path):
    path = tmp_path / "pydistroless.toml"
    path.write_bytes(b'suite = "trixie"\n# caf\xe9\n')
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        config.load(path)
    pyproject = tmp_path / "pyproject.toml"
    path.unlink()
    pyproject.write_bytes(b"[tool.pydistroless]\n# \xff\n")
    assert config.discover(tmp_path) is None


@pytest.mark.parametrize(
    ("request_", "ok"),
    [
        ("libpq5", True),
        ("libpq5=17.2-1", True),
        ("tzdata=1:2025b-4+deb13u1", True),
        ("libpq5=>>1", False),
        ("x=", False),
        ("libpq5=", False),
        ("=1.0", False),
        ("Lib", False),
    ],
)
def test_package_requests_are_checked_when_the_spec_is_made(request_, ok):
    if ok:
        ImageSpec(packages=(request_,))
    else:
        with pytest.raises(UsageError, match="is not NAME or NAME=VERSION"):
            ImageSpec(packages=(request_,))


@pytest.mark.parametrize("value", ["-1", "1e9", "8589934592", "", "12a"])
def test_source_date_epoch_out_of_range(value):
    with pytest.raises(UsageError, match="is not a whole number of seconds from 0 to"):
        check_source_date_epoch(value, "SOURCE_DATE_EPOCH")
    assert check_source_date_epoch("0", "X") == 0
    assert check_source_date_epoch(str(8**11 - 1), "X") == 8**11 - 1
