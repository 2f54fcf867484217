"""Projects as users bring them, read and checked before anything is downloaded: which are
installed as their own wheel and which are applications whose files are copied, what the
image runs, and the inputs refused in one line (a device as the dependency file, a tag or a
UID that is not ASCII)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pydistroless.core.errors import UsageError
from pydistroless.oci.reference import check_tags
from pydistroless.python import project
from pydistroless.recipes.app import AppSpec, check_app
from pydistroless.recipes.spec import ImageSpec, user_id

BUILD_SYSTEM = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
POETRY_INIT = (  # what `poetry init` writes, with the setting of an application
    '[project]\nname = "flaskapp"\nversion = "0.1.0"\ndependencies = ["flask"]\n\n'
    '[build-system]\nrequires = ["poetry-core>=2.0.0,<3.0.0"]\n'
    'build-backend = "poetry.core.masonry.api"\n\n[tool.poetry]\npackage-mode = false\n'
)


def make(tmp_path: Path, pyproject: str | None, *files: str) -> Path:
    """A project folder holding ``pyproject`` and each of ``files`` (``dir/`` for a
    folder)."""
    folder = tmp_path / "proj"
    folder.mkdir()
    if pyproject is not None:
        (folder / "pyproject.toml").write_text(pyproject)
    for name in files:
        path = folder / name
        if name.endswith("/"):
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("print('hi')\n")
    return folder


# ---- installed, or its files copied --------------------------------------------------------


@pytest.mark.parametrize(
    ("pyproject", "files", "because"),
    [
        (POETRY_INIT, ["app.py", "flaskapp/__init__.py"], "[tool.poetry] package-mode = false"),
        (
            f'[project]\nname = "web"\n\n{BUILD_SYSTEM}\n[tool.uv]\npackage = false\n',
            ["main.py", "web/__init__.py"],
            "[tool.uv] package = false",
        ),
        (f'[project]\nname = "hatch-app"\n\n{BUILD_SYSTEM}', ["main.py"], "no package or module"),
        (f"{BUILD_SYSTEM}", ["main.py"], "no name in [project] or [tool.poetry]"),
        (
            f'[project]\nname = "svc"\n\n{BUILD_SYSTEM}\n[tool.pydistroless.app]\n'
            "no-install-project = true\n",
            ["main.py", "svc/__init__.py"],
            "",  # the CLI turns the key into AppSpec.install_project (tests/e2e)
        ),
    ],
    ids=["poetry-package-mode", "uv-package-false", "no-package-folder", "no-name", "config"],
)
def test_an_application_with_a_build_system_is_not_installed(
    tmp_path: Path, pyproject: str, files: list[str], because: str
) -> None:
    folder = make(tmp_path, pyproject, *files)
    install = "no-install-project" not in pyproject
    checked = check_app(AppSpec(project=folder, install_project=install))
    assert not checked.installs
    assert because in checked.not_installed_because
    assert checked.source is None or checked.source.name == "pyproject.toml"


@pytest.mark.parametrize(
    ("pyproject", "files"),
    [
        (f'[project]\nname = "My.Pkg"\n\n{BUILD_SYSTEM}', ["my_pkg/__init__.py"]),
        (f'[project]\nname = "tool"\n\n{BUILD_SYSTEM}', ["tool.py"]),
        (f'[project]\nname = "lib"\n\n{BUILD_SYSTEM}', ["src/other/__init__.py"]),
        (f'[project]\nname = "s"\n[project.scripts]\ns = "x:main"\n\n{BUILD_SYSTEM}', ["x.py"]),
        (
            f'[project]\nname = "p"\n\n{BUILD_SYSTEM}\n[tool.setuptools]\npackages = ["a"]\n',
            ["a/__init__.py"],
        ),
        (f'[project]\nname = "legacy"\n\n{BUILD_SYSTEM}', ["setup.py", "app/__init__.py"]),
        ('[tool.poetry]\nname = "old-style"\n\n' + BUILD_SYSTEM, ["old_style/__init__.py"]),
    ],
    ids=["package", "module", "src", "scripts", "setuptools", "setup.py", "poetry-1-name"],
)
def test_a_package_is_installed(tmp_path: Path, pyproject: str, files: list[str]) -> None:
    checked = check_app(AppSpec(project=make(tmp_path, pyproject, *files), entrypoint=("x",)))
    assert checked.installs
    assert checked.not_installed_because == ""


def test_the_flag_wins_over_a_package(tmp_path: Path) -> None:
    folder = make(tmp_path, f'[project]\nname = "pkg"\n\n{BUILD_SYSTEM}', "pkg/__init__.py")
    checked = check_app(AppSpec(project=folder, install_project=False, main="pkg/__init__.py"))
    assert not checked.installs
    assert checked.not_installed_because == "asked with --no-install-project"


def test_the_config_key_is_checked_and_read(tmp_path: Path) -> None:
    folder = make(tmp_path, "[tool.pydistroless.app]\nno-install-project = true\n")
    assert project.metadata(folder).app == {"no-install-project": True}
    (folder / "pyproject.toml").write_text('[tool.pydistroless.app]\nno-install-project = "yes"\n')
    with pytest.raises(UsageError, match="no-install-project must be true or false"):
        project.metadata(folder)


# ---- what the image runs, decided before any download --------------------------------------


def test_a_project_of_one_script_needs_no_dependency_file(tmp_path: Path) -> None:
    checked = check_app(AppSpec(project=make(tmp_path, None, "main.py")))
    assert (checked.source, checked.installs) == (None, False)


def test_main_py_and_app_py_ask_which_one(tmp_path: Path) -> None:
    folder = make(tmp_path, None, "main.py", "app.py")
    with pytest.raises(UsageError) as caught:
        check_app(AppSpec(project=folder))
    message = str(caught.value)
    assert "has both main.py and app.py" in message
    assert "--main main.py" in message and "--entrypoint" in message
    assert check_app(AppSpec(project=folder, main="app.py")).source is None
    assert check_app(AppSpec(project=folder, entrypoint=("python3",))).source is None


def test_a_main_that_is_not_there_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"the file to run, gone\.py, is not in"):
        check_app(AppSpec(project=make(tmp_path, None, "main.py"), main="gone.py"))


def test_nothing_to_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no entrypoint to choose"):
        check_app(AppSpec(project=make(tmp_path, None, "serve.py")))


# ---- inputs refused in one line --------------------------------------------------------------


def test_a_device_as_the_dependency_file_is_refused(tmp_path: Path) -> None:
    folder = make(tmp_path, None, "main.py")
    with pytest.raises(UsageError) as caught:
        check_app(AppSpec(project=folder, requirements=Path(os.devnull)))
    assert str(caught.value) == (
        f"--requirements {os.devnull} is a character device, not a dependency file; leave "
        "--requirements out for a project with no dependencies, or give an empty "
        "requirements.txt"
    )
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    with pytest.raises(UsageError, match="is a FIFO, not a dependency file"):
        check_app(AppSpec(project=folder, requirements=fifo))
    empty = tmp_path / "requirements.txt"
    empty.write_text("")
    assert check_app(AppSpec(project=folder, requirements=empty)).source == empty


@pytest.mark.parametrize("tag", ["ok:é", "app:1.0+local", "app:ü"])
def test_a_tag_that_is_not_ascii_is_refused(tmp_path: Path, tag: str) -> None:
    with pytest.raises(UsageError, match="a tag is up to 128 ASCII letters"):
        check_tags([tag])
    with pytest.raises(UsageError, match="a tag is up to 128 ASCII letters"):
        check_app(AppSpec(project=make(tmp_path, None, "main.py"), tags=(tag,)))
    with pytest.raises(UsageError, match="a tag is up to 128 ASCII letters"):
        ImageSpec(tags=(tag,))


def test_an_invalid_name_is_refused_before_the_build(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="'BAD' is not a valid image name"):
        check_app(AppSpec(project=make(tmp_path, None, "main.py"), tags=("BAD",)))


@pytest.mark.parametrize("user", ["６５５３２", "٦٥٥٣٢", "６５５32", "１"])
def test_a_uid_of_digits_that_are_not_ascii_is_refused(user: str) -> None:
    assert user.isdigit()  # what str.isdigit and int() accept
    with pytest.raises(UsageError, match=r"is not root, nonroot or a numeric UID \(ASCII"):
        user_id(user)
    with pytest.raises(UsageError, match="ASCII digits 0-9"):
        ImageSpec(user=user)
    assert user_id("65532") == 65532
