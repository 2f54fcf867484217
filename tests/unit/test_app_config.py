"""``[tool.pydistroless.app]`` and the project's own files as careless or hostile input: paths
that lead out of the project, values of the wrong kind, names that are not UTF-8. Each is one
line naming the key or file and the fix, before anything is read or built."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pydistroless.cli.app import _config_base
from pydistroless.cli.main import main
from pydistroless.core.errors import UsageError
from pydistroless.python import dependencies, project

SECRET = "root:SECRET-HASH:19000:0:99999:7:::"


def _app(tmp_path: Path, table: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``pydistroless app`` on a project whose pyproject.toml holds ``table``, offline with an
    empty cache: nothing it may do reaches the network."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "shadow").write_text(SECRET + "\n")
    proj = tmp_path / "proj"
    proj.mkdir(exist_ok=True)
    (proj / "pyproject.toml").write_text(f"[project]\nname = 'p'\n{table}")
    (proj / "main.py").write_text("")
    code = main(
        ["app", str(proj), "--offline", "--cache-dir", str(tmp_path / "cache"), "-o", "x.tar"]
    )
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    "value",
    ["{outside}/shadow", "../outside/shadow", "link", "sub/../../outside/shadow"],
)
@pytest.mark.parametrize("key", ["requirements", "main"])
def test_a_config_path_out_of_the_project_is_refused_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: str
) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "link").symlink_to(tmp_path / "outside" / "shadow")
    value = value.format(outside=tmp_path / "outside")
    code, err = _app(tmp_path, f"[tool.pydistroless.app]\n{key} = '{value}'\n", capsys)
    assert code == 2
    assert err.count("\n") == 1, err
    assert f"[tool.pydistroless.app] {key} '{value}' leads out of the project" in err
    assert "SECRET" not in err


@pytest.mark.parametrize("value", ["{outside}/base.tar", "../outside/base.tar", "oci:../x"])
def test_a_config_base_out_of_the_project_is_refused(tmp_path: Path, value: str) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "base.tar").write_bytes(b"")
    with pytest.raises(UsageError, match=r"base .* leads out of the project"):
        _config_base(tmp_path / "proj", value.format(outside=tmp_path / "outside"))


def test_a_config_base_in_the_project_or_a_registry_is_taken(tmp_path: Path) -> None:
    where = _config_base(tmp_path, "./python.tar")
    assert (where.kind, where.path) == ("tar", tmp_path / "python.tar")
    assert _config_base(tmp_path, "registry.example.com/team/python:3.13").kind == "registry"


def test_a_dependency_file_that_leads_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "shadow").write_text(SECRET)
    (tmp_path / "proj" / "requirements.txt").symlink_to(tmp_path / "shadow")
    with pytest.raises(UsageError, match=r"requirements\.txt' leads out of the project"):
        dependencies.find(tmp_path / "proj")


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ("entrypoint = [1, 2]", "entrypoint must be an array of strings"),
        ("entrypoint = 'gunicorn app:app'", "entrypoint must be an array of strings"),
        ("cmd = [['x']]", "cmd must be an array of strings"),
        ("extras = [true]", "extras must be an array of strings"),
        ("tags = {a = 1}", "tags must be an array of strings"),
        ("packages = 'libpq5'", "packages must be an array of strings"),
        ("expose = [8000, [1]]", "expose must be an array of ports"),
        ("expose = [true]", "expose must be an array of ports"),
        ("env = {A = {B = 'x'}}", "env must be a table of names and strings"),
        ("env = ['A=1']", "env must be a table of names and strings"),
        ("workdir = 1", "workdir must be a string"),
        ("main = ['main.py']", "main must be a path of the project"),
        ("requirements = 1", "requirements must be a path of the project"),
        ("base = {}", "base must be a string"),
        ("colour = 'red'", "has no key 'colour'"),
        ("env = " + "{a = " * 2000 + "1" + "}" * 2000, "nested too deeply"),
        ("cmd = " + "[" * 2000 + "]" * 2000, "nested too deeply"),
    ],
)
def test_config_values_of_the_wrong_kind_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, needle: str
) -> None:
    code, err = _app(tmp_path, f"[tool.pydistroless.app]\n{table}\n", capsys)
    assert code == 2
    assert err.count("\n") == 1, err
    assert needle in err
    assert "pyproject.toml" in err


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("project = 'x'", r"\[project\] must be a table"),
        ("[project]\nscripts = 'x'", r"\[project.scripts\] must be a table"),
        ("[project.scripts]\nx = 1", r"\[project.scripts\] values must be strings"),
        ("tool = 1", r"\[tool\] must be a table"),
        ("[tool]\npydistroless = 1", r"\[tool.pydistroless\] must be a table"),
        ("[tool.pydistroless]\napp = 1", r"\[tool.pydistroless.app\] must be a table"),
    ],
)
def test_pyproject_tables_of_the_wrong_kind(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text + "\n")
    with pytest.raises(UsageError, match=needle):
        project.metadata(tmp_path)


def test_good_config_reads_as_before(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'p'\n[project.scripts]\np = 'p:main'\n"
        "[tool.pydistroless.app]\nrequirements = 'req/prod.txt'\nmain = 'src/main.py'\n"
        "env = {PORT = 8000, DEBUG = 'no'}\nexpose = [8000, '9000/udp']\n"
        "entrypoint = ['gunicorn', 'app:app']\n"
    )
    meta = project.metadata(tmp_path)
    assert meta.scripts == (("p", "p:main"),)
    assert meta.app is not None and meta.app["env"] == {"PORT": 8000, "DEBUG": "no"}


def test_a_file_name_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    bad = os.fsdecode(b"caf\xe9.py")
    (tmp_path / bad).write_text("")
    with pytest.raises(UsageError, match=r"the name b'caf\\xe9.py' is not UTF-8; rename it"):
        project.files(tmp_path)
    (tmp_path / ".dockerignore").write_text("caf*.py\n")  # left out: no matter
    assert [e.path for e in project.files(tmp_path).files()] == [
        "app/.dockerignore",
        "app/main.py",
    ]
    (tmp_path / "link").symlink_to(os.fsdecode(b"\xff"))
    with pytest.raises(UsageError, match="the symlink's target b'\\\\xff' is not UTF-8"):
        project.files(tmp_path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pylock.toml", "x = " + "[" * 2000 + "]" * 2000),
        ("Pipfile.lock", "[" * 100_000 + "]" * 100_000),
    ],
)
def test_a_dependency_file_nested_too_deeply_is_one_line(tmp_path: Path, name: str, text: str):
    (tmp_path / name).write_text(text)
    with pytest.raises(UsageError, match="nested too deeply"):
        dependencies.read(tmp_path / name, {})


def test_a_build_config_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    from pydistroless.core.errors import ConfigError
    from pydistroless.recipes import config

    (tmp_path / "pydistroless.toml").write_text("x = " + "[" * 2000 + "]" * 2000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        config.load(tmp_path / "pydistroless.toml")
    (tmp_path / "pyproject.toml").write_text("tool = 1\n")
    with pytest.raises(ConfigError, match=r"no \[tool.pydistroless\] table"):
        config.load(tmp_path / "pyproject.toml")
