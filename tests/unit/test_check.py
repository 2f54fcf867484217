"""``pydistroless check``: what it finds in an image's files, and its command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydistroless.cli.main import main
from pydistroless.fs.tree import Tree
from pydistroless.recipes import check
from tests.unit.test_elf import lib, make_elf, program

LIBDIR = "usr/lib/x86_64-linux-gnu"


def image_tree() -> Tree:
    """A merged-/usr tree with glibc's loader and libc, and a Python."""
    tree = Tree()
    tree.add_dir("usr/lib")
    tree.add_symlink("lib64", "usr/lib64")
    tree.add_dir("usr/lib64")
    tree.add_file("usr/lib64/ld-linux-x86-64.so.2", lib("ld-linux-x86-64.so.2"), mode=0o755)
    tree.add_file(f"{LIBDIR}/libc.so.6", lib("libc.so.6"), mode=0o755)
    tree.add_file("usr/bin/python3.13", program("libc.so.6"), mode=0o755)
    tree.add_symlink("usr/bin/python3", "python3.13")
    return tree


def test_a_complete_image_has_no_problem() -> None:
    tree = image_tree()
    tree.add_file("usr/local/bin/app", b"#!/usr/bin/python3\nprint(1)\n", mode=0o755)
    assert check.problems(tree, "amd64") == []


def test_each_kind_of_problem_is_found_and_named() -> None:
    tree = image_tree()
    site = "usr/local/lib/python3.13/site-packages"
    tree.add_file(f"{site}/np/_core.so", lib(None, "libc.so.6", "libstdc++.so.6"))
    tree.add_file(f"{site}/arm/_x.so", make_elf("EM_AARCH64", needed=("libc.so.6",)))
    # A venv made where Python lives in /usr/local/bin, copied into this image.
    tree.add_file("venv/bin/gunicorn", b"#!/usr/local/bin/python3\nimport x\n", mode=0o755)
    tree.add_file("venv/bin/plain", b"#!python\n", mode=0o755)
    tree.add_file(
        "venv/pyvenv.cfg", b"home = /usr/local/bin\ninclude-system-site-packages = false\n"
    )
    tree.add_file("good/pyvenv.cfg", b"home = /usr/bin\n")
    # Not executable: a #! line in a data file runs nothing.
    tree.add_file("usr/share/doc/example", b"#!/bin/sh\n", mode=0o644)
    assert check.problems(tree, "amd64") == [
        check.Problem(f"{site}/arm/_x.so", check.ARCHITECTURE, "EM_AARCH64 (64-bit)"),
        check.Problem(f"{site}/np/_core.so", check.LIBRARY, "libstdc++.so.6"),
        check.Problem("venv/bin/gunicorn", check.INTERPRETER, "/usr/local/bin/python3"),
        check.Problem("venv/bin/plain", check.INTERPRETER, "python"),
        check.Problem("venv/pyvenv.cfg", check.INTERPRETER, "/usr/local/bin/python3"),
    ]
    text = check.table(check.problems(tree, "amd64"))
    assert f"/{site}/np/_core.so" in text
    assert "needs libstdc++.so.6, which the loader does not find" in text
    assert "runs /usr/local/bin/python3, which is not in the image" in text


def test_the_suite_comes_from_os_release() -> None:
    tree = Tree()
    tree.add_file(
        "usr/lib/os-release",
        b'PRETTY_NAME="Debian GNU/Linux 13"\nID=debian\nVERSION_CODENAME=trixie\n',
    )
    tree.add_symlink("etc/os-release", "../usr/lib/os-release")
    assert check.suite_of(tree) == "trixie"
    other = Tree()
    other.add_file("etc/os-release", b"ID=alpine\nVERSION_ID=3.20\n")
    assert check.suite_of(other) is None
    assert check.suite_of(Tree()) is None


def test_outputs_without_add_missing_are_refused_first(tmp_path: Path, capsys) -> None:
    code = main(["check", str(tmp_path / "absent.tar"), "-o", str(tmp_path / "out.tar")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "add --add-missing" in err[0]
    assert not (tmp_path / "out.tar").exists()


@pytest.mark.parametrize("where", ["absent.tar", "docker-daemon:Bad Name"])
def test_an_image_that_cannot_be_read_is_one_line(tmp_path: Path, capsys, where: str) -> None:
    code = main(["check", str(tmp_path / where) if where.endswith(".tar") else where])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pydistroless: error: ")
