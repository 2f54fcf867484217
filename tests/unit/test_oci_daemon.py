"""daemon.py against stand-in engines: small shell scripts on PATH that answer like docker
and podman do and log how they were called."""

from __future__ import annotations

import grp
import os
from pathlib import Path

import pytest

from pydistroless.core.errors import OutputError, UsageError
from pydistroless.oci.daemon import detect_engine, load, summarise

IMAGE_HEX = "ab" * 32

# $1 is the subcommand. Behaviour comes from environment variables the test sets. Only shell
# builtins: PATH holds nothing but the stand-ins.
FAKE_ENGINE = """#!/bin/sh
echo "${0##*/} $*" >> "$ENGINE_LOG"
case "$1" in
  info)
    [ -n "$INFO_FAILS" ] && { echo "Cannot connect to the Docker daemon" >&2; exit 1; }
    [ -n "$INFO_DENIED" ] && { echo "permission denied while trying to connect to the Docker \
daemon socket at unix://$INFO_DENIED: Get \"http://x/v1.50/info\": dial unix $INFO_DENIED: \
connect: permission denied" >&2; exit 1; }
    echo 20.10.24 ;;
  load)
    [ -n "$LOAD_FAILS" ] && { printf 'Error: payload\\nError: %s\\n' "$LOAD_FAILS" >&2; exit 125; }
    echo "$LOAD_OUTPUT" ;;
  tag)
    echo "$3" >> "$TAGGED" ;;
  image)
    [ -f "$TAGGED" ] && while read -r t; do
      [ "$t" = "$5" ] && { echo "$INSPECT_ID"; exit 0; }
    done < "$TAGGED"
    echo "Error: no such image" >&2; exit 1 ;;
esac
"""


@pytest.fixture
def engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("ENGINE_LOG", str(tmp_path / "log"))
    monkeypatch.setenv("TAGGED", str(tmp_path / "tagged"))
    monkeypatch.setenv("INSPECT_ID", f"sha256:{IMAGE_HEX}")
    for name in ("INFO_FAILS", "INFO_DENIED", "LOAD_FAILS"):
        monkeypatch.delenv(name, raising=False)
    return bin_dir


def install(bin_dir: Path, name: str) -> None:
    script = bin_dir / name
    script.write_text(FAKE_ENGINE)
    script.chmod(0o755)


def calls(bin_dir: Path) -> list[str]:
    log = bin_dir.parent / "log"
    return log.read_text().splitlines() if log.exists() else []


def test_docker_first_when_its_daemon_answers(engines: Path) -> None:
    install(engines, "docker")
    install(engines, "podman")
    assert detect_engine(None) == "docker"


def test_podman_when_docker_is_down(engines: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(engines, "docker")
    install(engines, "podman")
    monkeypatch.setenv("INFO_FAILS", "1")
    assert detect_engine(None) == "podman"
    with pytest.raises(OutputError, match="cannot use docker: the docker daemon is not reachable"):
        detect_engine("docker")


def test_a_socket_closed_to_this_user_is_not_a_daemon_to_start(
    engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon runs, its socket is not this user's: the fix is a group or sudo, and the
    line names the socket, not "start it"."""
    install(engines, "docker")
    socket = engines.parent / "docker.sock"
    socket.write_bytes(b"")  # stands for the socket: its group is what the advice names
    monkeypatch.setenv("INFO_DENIED", str(socket))
    group = grp.getgrgid(socket.stat().st_gid).gr_name
    with pytest.raises(OutputError) as caught:
        detect_engine("docker")
    assert str(caught.value) == (
        f"cannot use docker: this user (uid {os.getuid()}) may not use the docker daemon's "
        f"socket {socket} (permission denied); add the user to the group {group} (usermod "
        f"-aG {group} USER, then log in again) or run pydistroless with sudo, or use podman"
    )
    with pytest.raises(OutputError, match=r"podman is not installed; add the user to the group"):
        detect_engine(None)


def test_no_engine_at_all(engines: Path) -> None:
    with pytest.raises(OutputError) as caught:
        detect_engine(None)
    message = str(caught.value)
    assert "docker is not installed" in message
    assert "podman is not installed" in message
    assert "\n" not in message
    with pytest.raises(OutputError, match="cannot use podman: it is not installed"):
        detect_engine("podman")
    with pytest.raises(UsageError, match="unknown engine 'rkt'"):
        detect_engine("rkt")


def test_preferred_engine_is_honoured(engines: Path) -> None:
    install(engines, "docker")
    install(engines, "podman")
    assert detect_engine("podman") == "podman"
    assert detect_engine("docker") == "docker"


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_load_tags_what_the_engine_reported(
    engines: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    install(engines, engine)
    monkeypatch.setenv("LOAD_OUTPUT", "Loaded image: docker.io/library/app:1")
    assert load(Path("/x/image.tar"), tag="app:1", engine=engine) == f"sha256:{IMAGE_HEX}"
    assert calls(engines) == [
        f"{engine} load -i /x/image.tar",
        f"{engine} tag docker.io/library/app:1 app:1",
        f"{engine} image inspect --format {{{{.Id}}}} app:1",
    ]


def test_load_of_an_untagged_image_by_id(engines: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(engines, "docker")
    monkeypatch.setenv("LOAD_OUTPUT", f"Loaded image ID: sha256:{IMAGE_HEX}")
    assert load(Path("i.tar"), tag="app:2", engine="docker") == f"sha256:{IMAGE_HEX}"
    assert f"docker tag sha256:{IMAGE_HEX} app:2" in calls(engines)


def test_podman_ids_get_their_algorithm(engines: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(engines, "podman")
    monkeypatch.setenv("LOAD_OUTPUT", "Loaded image(s): localhost/app:1,localhost/app:2")
    monkeypatch.setenv("INSPECT_ID", IMAGE_HEX)
    assert load(Path("i.tar"), tag="app:1", engine="podman") == f"sha256:{IMAGE_HEX}"
    assert "podman tag localhost/app:1 app:1" in calls(engines)


def test_load_failure_is_one_line(engines: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(engines, "podman")
    monkeypatch.setenv("LOAD_FAILS", "open i.tar: no such file or directory")
    with pytest.raises(OutputError) as caught:
        load(Path("i.tar"), tag="app:1", engine="podman")
    assert str(caught.value) == (
        "cannot load i.tar into podman: payload; open i.tar: no such file or directory"
    )


def test_load_that_names_nothing(engines: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(engines, "docker")
    monkeypatch.setenv("LOAD_OUTPUT", "something unexpected")
    with pytest.raises(OutputError, match="no image is tagged app:1; its output was: something"):
        load(Path("i.tar"), tag="app:1", engine="docker")


def test_load_with_a_missing_engine(engines: Path) -> None:
    with pytest.raises(OutputError, match="docker cannot be run"):
        load(Path("i.tar"), tag="app:1", engine="docker")
    with pytest.raises(UsageError):
        load(Path("i.tar"), tag="app:1", engine="lxc")


def test_summarise_keeps_the_end_on_one_line() -> None:
    text = "noise\nError response from daemon: first\n\n  Error: second  \n"
    assert summarise(text) == "first; second"
    assert summarise("") == ""
    long = summarise("x" * 1000)
    assert len(long) == 300 and long.endswith("…")
