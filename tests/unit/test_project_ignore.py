"""The project's files that reach the image: ``.dockerignore`` as docker reads it, else the
``.gitignore`` files as git reads them (the expectations were checked against ``git ls-files
--others --exclude-standard`` and ``docker build``)."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from pydistroless.core.errors import UsageError
from pydistroless.python import ignore, project

NAMES = ("a.secret", "b.secret", "c.secret", "d.secret", "debug.log", "keep.log", "main.py")


def _project(root: Path) -> Path:
    for folder in ("", "sub", "sub/deep"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in NAMES:
            (root / folder / name).write_text("x")
    for folder in ("secrets", "build"):
        (root / folder).mkdir()
    for name in ("secrets/key", "secrets/public.txt", "build/out.bin", "build/keep.txt"):
        (root / name).write_text("x")
    return root


def _copied(root: Path) -> list[str]:
    return sorted(e.path.removeprefix("app/") for e in project.files(root).files())


def test_dockerignore_is_read_as_docker_reads_it(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / ".dockerignore").write_text(
        "# a comment\n"
        "./a.secret\n"  # cleaned: a.secret, from the root
        "/b.secret\n"  # the leading / dropped
        "**/c.secret\n"  # at any depth
        "sub/d.secret\n"
        "*.log\n"  # the root's only: docker anchors every pattern
        "!keep.log\n"
        "secrets/\n"
        "!secrets/public.txt\n"  # taken back from below a left-out folder
        "build\n"
        "!build/keep.txt\n"
    )
    (root / "sub" / ".dockerignore").write_text("main.py\n")  # docker reads no nested file
    assert _copied(root) == [
        ".dockerignore",
        "build/keep.txt",
        "d.secret",
        "keep.log",
        "main.py",
        "secrets/public.txt",
        "sub/.dockerignore",
        "sub/a.secret",
        "sub/b.secret",
        "sub/debug.log",
        "sub/deep/a.secret",
        "sub/deep/b.secret",
        "sub/deep/d.secret",
        "sub/deep/debug.log",
        "sub/deep/keep.log",
        "sub/deep/main.py",
        "sub/keep.log",
        "sub/main.py",
    ]


def test_gitignore_files_are_read_as_git_reads_them(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / ".gitignore").write_text(
        "./a.secret\n"  # git does not clean it: it matches nothing
        "/b.secret\n"  # anchored to the root
        "**/c.secret\n"
        "*.log\n"  # at any depth: no slash
        "!keep.log\n"
        "secrets/\n"
        "!secrets/public.txt\n"  # git never looks into a left-out folder
        "build/**\n"
        "!build/keep.txt\n"  # the folder itself is in: this one comes back
    )
    # A nested file, for its own folder and below; its patterns win over the root's.
    (root / "sub" / ".gitignore").write_text("d.secret\n!c.secret\n")
    assert _copied(root) == [
        ".gitignore",
        "a.secret",
        "build/keep.txt",
        "d.secret",
        "keep.log",
        "main.py",
        "sub/.gitignore",
        "sub/a.secret",
        "sub/b.secret",
        "sub/c.secret",
        "sub/deep/a.secret",
        "sub/deep/b.secret",
        "sub/deep/c.secret",
        "sub/deep/keep.log",
        "sub/deep/main.py",
        "sub/keep.log",
        "sub/main.py",
    ]


def test_dockerignore_wins_over_gitignore_and_ours_cannot_be_taken_back(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    (tmp_path / ".gitignore").write_text("main.py\n")
    (tmp_path / ".dockerignore").write_text("!.venv\n!**/*.pyc\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "x").write_text("")
    (tmp_path / "m.pyc").write_text("")
    assert _copied(tmp_path) == [".dockerignore", ".gitignore", "main.py"]


def test_an_ignore_file_that_leads_out_of_the_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "rules").write_text("*\n")
    (tmp_path / "p" / ".dockerignore").symlink_to(tmp_path / "rules")
    with pytest.raises(UsageError, match="leads out of the project"):
        project.files(tmp_path / "p")


@pytest.mark.parametrize(
    ("pattern", "path", "excluded"),
    [
        ("a/*/c", "a/b/c", True),
        ("a/*/c", "a/b/x/c", False),
        ("a/**/c", "a/c", True),
        ("a/**/c", "a/b/x/c", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[a-c].txt", "b.txt", True),
        ("[^a].txt", "a.txt", False),
        ("\\*.txt", "*.txt", True),
        ("\\*.txt", "x.txt", False),
        ("a/../b", "b", True),
        ("dir", "dir/any/file", True),
    ],
)
def test_docker_patterns(pattern: str, path: str, excluded: bool) -> None:
    assert ignore.DockerIgnore(pattern).excluded(path, is_dir=False) is excluded


def test_a_broken_docker_pattern_is_one_line_naming_it() -> None:
    with pytest.raises(UsageError, match=r"x/\.dockerignore:2: '\[a' is not a valid pattern"):
        ignore.DockerIgnore("ok\n[a\n", where="x/.dockerignore")


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "excluded"),
    [
        ("doc/", "doc", False, False),  # a trailing / is for folders
        ("doc/", "x/doc", True, True),
        ("/doc", "x/doc", False, False),
        ("a/b", "x/a/b", False, False),  # a slash in the middle anchors
        ("**/a/b", "x/a/b", False, True),
        ("a/**", "a", True, False),
        ("a/**", "a/x/y", False, True),
        ("a**b", "axxb", False, True),  # not between slashes: a plain *
        ("a**b", "ax/xb", False, False),
        ("[!a].py", "b.py", False, True),
        ("[[:digit:]].py", "1.py", False, True),
        ("\\#x", "#x", False, True),
        ("\\!x", "!x", False, True),
        ("x\\ ", "x ", False, True),
        ("[a", "[a", False, False),  # never closed: matches nothing
    ],
)
def test_git_patterns(pattern: str, path: str, is_dir: bool, excluded: bool) -> None:
    rules = ignore.GitIgnore(lambda folder: pattern if not folder else None)
    assert rules.excluded(path, is_dir=is_dir) is excluded


GIT_PATTERNS = (
    "*.log", "!keep.log", "/b.secret", "**/c.secret", "sub/", "deep/*.py", "!main.py",
    "secrets/", "!secrets/public.txt", "build/**", "!build/keep.txt", "a.*", "*.s?cret",
    "[bc].secret", "**/deep/**", "sub/**/d.secret", "\\!odd", "trailing.log   ",
)  # fmt: skip


@pytest.mark.parametrize("seed", range(20))
def test_gitignore_agrees_with_git_itself(tmp_path: Path, seed: int) -> None:
    """Random rules at the root and in a subfolder: the files we copy are those git
    lists as not ignored (``git ls-files --others --exclude-standard``)."""
    git = shutil.which("git")
    if git is None:
        pytest.fail("git is not installed", pytrace=False)
    pick = random.Random(seed)
    root = _project(tmp_path / "project")
    (root / ".gitignore").write_text("\n".join(pick.sample(GIT_PATTERNS, 5)) + "\n")
    (root / "sub" / ".gitignore").write_text("\n".join(pick.sample(GIT_PATTERNS, 3)) + "\n")
    run = {"cwd": root, "check": True, "capture_output": True, "text": True}
    subprocess.run([git, "init", "-q"], **run)
    listed = subprocess.run([git, "ls-files", "--others", "--exclude-standard"], **run)
    shutil.rmtree(root / ".git")
    assert _copied(root) == sorted(listed.stdout.split()), (
        (root / ".gitignore").read_text(),
        (root / "sub" / ".gitignore").read_text(),
    )
