"""The README's "Keep your Dockerfile" section, run as printed: its commands and its
Dockerfile, read from the README itself. Two things differ from a user's machine, both of
this one: the builder gets the CA this machine's HTTPS goes through (``--ca-cert``), and
``docker build`` uses the host's network (the engine here has no bridge)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.e2e.test_original_dockerfiles import LOCAL_CAS
from tests.fixtures.tools import describe, need_network, pydistroless

pytestmark = [pytest.mark.network, pytest.mark.docker]

README = Path(__file__).parents[2] / "README.md"
APP = "import sys, six\nprint('six', six.__version__, 'in', sys.prefix)\n"


def section_blocks() -> list[tuple[str, str]]:
    """The fenced blocks of the section: (language, text)."""
    text = README.read_text()
    section = text.split("## Keep your Dockerfile\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL)


def commands(block: str) -> list[list[str]]:
    return [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.strip()]


def test_keep_your_dockerfile_as_printed(tmp_path: Path, docker_engine) -> None:
    need_network()
    (setup, build), (_, dockerfile), (_, use) = section_blocks()
    assert setup == "sh" and "--variant builder" in build
    cas = [a for c in sorted(LOCAL_CAS.glob("*.crt")) for a in ("--ca-cert", str(c))]
    tags: list[str] = []
    loaded: list[str] = []
    for command in commands(build):
        assert command[:2] == ["pydistroless", "build"], command
        extra = cas if "builder" in command else []
        done = pydistroless(*command[1:], *extra, cwd=tmp_path)
        assert done.returncode == 0, describe(done)
        tags += re.findall(r"^built (\S+)", done.stderr, re.M)
        loaded += re.findall(r"^loaded into docker as (.+)$", done.stderr, re.M)
    assert tags == [
        "pydistroless/python:3.13-debian13-builder",
        "pydistroless/python:3.13-debian13-cc",
    ]
    project = tmp_path / "myapp"
    project.mkdir()
    (project / "Dockerfile").write_text(dockerfile)
    (project / "requirements.txt").write_text("six==1.17.0\n")
    (project / "app.py").write_text(APP)
    try:
        for command in commands(use):
            if command[:2] == ["docker", "build"]:
                docker_engine(*command[1:-1], "--network", "host", str(project), timeout=900)
            elif command[:2] == ["docker", "run"]:
                out = docker_engine(*command[1:]).stdout
                assert out == "six 1.17.0 in /venv\n", out
            else:
                done = pydistroless(*command[1:], cwd=project)
                assert done.returncode == 0, describe(done)
    finally:
        docker_engine.remove_images("myapp", *(t for line in loaded for t in line.split(", ")))
