"""How the command ends: the exit code of its error, with ``--debug`` too, and Ctrl-C while
it is still loading as one line."""

from __future__ import annotations

import importlib.abc
import sys

import pytest

from pydistroless import cli
from pydistroless.cli.main import main


def test_debug_shows_the_traceback_and_keeps_the_exit_code(capsys):
    assert main(["build", "--package", "Not A Package"]) == 2
    plain = capsys.readouterr().err
    assert plain.startswith("pydistroless: error: ") and "Traceback" not in plain
    assert main(["--debug", "build", "--package", "Not A Package"]) == 2
    debug = capsys.readouterr().err
    assert "Traceback (most recent call last)" in debug
    assert debug.rstrip().splitlines()[-1] == plain.rstrip()


class _Interrupting(importlib.abc.MetaPathFinder):
    """Ctrl-C pressed while the command line's module is being imported."""

    def find_spec(self, name, path, target=None):
        if name == "pydistroless.cli.main":
            raise KeyboardInterrupt
        return None


def test_ctrl_c_while_loading_is_one_line_and_130(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "pydistroless.cli.main")
    monkeypatch.setattr(sys, "meta_path", [_Interrupting(), *sys.meta_path])
    with pytest.raises(SystemExit) as ended:
        cli.run()
    assert ended.value.code == 130
    assert capsys.readouterr().err == "pydistroless: interrupted\n"
