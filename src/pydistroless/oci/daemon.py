"""Handing a written image tar to a local container engine (docker or podman).

The build itself never needs an engine; this is only the optional last step of putting the
result where ``docker run`` / ``podman run`` find it.
"""

from __future__ import annotations

import grp
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from pydistroless.core.errors import OutputError, UsageError

ENGINES = ("docker", "podman")

# `docker info` hangs for a long time on some broken setups; a healthy daemon answers at once.
_PROBE_TIMEOUT = 20
_MAX_MESSAGE = 300
# The docker CLI's words when the daemon's socket is there but not open to this user:
# "permission denied while trying to connect to the Docker daemon socket at
# unix:///var/run/docker.sock: ..." (older and newer clients word the middle differently).
_DENIED = re.compile(r"permission denied\b.*?\bunix://(/[^\s:\"']+)", re.IGNORECASE | re.DOTALL)
_START_DOCKER = "start it"


def detect_engine(preferred: str | None = None) -> str:
    """The engine to load into: ``preferred`` if given and usable, else docker if its
    daemon answers, else podman if installed (it needs no daemon)."""
    if preferred is not None:
        if preferred not in ENGINES:
            raise UsageError(f"unknown engine {preferred!r}; choose docker or podman")
        if preferred == "docker":
            problem = _docker_problem()
            if problem:
                why, fix = problem
                raise OutputError(f"cannot use docker: {why}; {fix}, or use podman")
        elif shutil.which("podman") is None:
            raise OutputError("cannot use podman: it is not installed; install it or use docker")
        return preferred
    docker_problem = _docker_problem()
    if docker_problem is None:
        return "docker"
    if shutil.which("podman") is not None:
        return "podman"
    why, fix = docker_problem
    fix = "start docker" if fix == _START_DOCKER else fix
    raise OutputError(
        f"no container engine to load the image into: {why}, and podman is not "
        f"installed; {fix}, install podman, or write a tar with --output"
    )


def _docker_problem() -> tuple[str, str] | None:
    """None when ``docker info`` works, else why not and what to do (one line each)."""
    if shutil.which("docker") is None:
        return "docker is not installed", "install it"
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"docker info did not answer within {_PROBE_TIMEOUT} s", _START_DOCKER
    except OSError as e:
        return f"docker cannot be run ({e.strerror})", "check its installation"
    if result.returncode != 0 or not result.stdout.strip():
        denied = _DENIED.search(result.stderr)
        if denied:
            return _denied(denied.group(1))
        why = summarise(result.stderr) or "docker info failed"
        return f"the docker daemon is not reachable ({why})", _START_DOCKER
    return None


def _denied(socket: str) -> tuple[str, str]:
    """Why and what to do when the daemon runs but its socket is closed to this user: it is
    not in the socket's group (a running daemon would not be helped by starting it)."""
    try:
        group = grp.getgrgid(os.stat(socket).st_gid).gr_name
    except (OSError, KeyError):
        group = "docker"
    return (
        f"this user (uid {os.getuid()}) may not use the docker daemon's socket {socket} "
        "(permission denied)",
        f"add the user to the group {group} (usermod -aG {group} USER, then log in again) "
        "or run pydistroless with sudo",
    )


def load(tar_path: Path, *, tag: str, engine: str, also: Sequence[str] = ()) -> str:
    """Load the image tar into ``engine`` and make sure ``tag`` (and each of ``also``)
    names it.

    Returns the engine's image ID as ``sha256:<hex>`` (for an image written by
    :func:`~pydistroless.oci.archive.write_tar` this is the config digest of the image in
    its ``manifest.json``, on docker and podman alike).
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose docker or podman")
    output = _run(engine, ["load", "-i", str(tar_path)], f"cannot load {tar_path} into {engine}")
    # Tag what the load reported rather than trust the name the engine chose: podman names
    # an image from an OCI archive after its ref.name annotation, and an old image could
    # still hold the tag.
    loaded = _loaded_image(output)
    if loaded is not None:
        _run(engine, ["tag", loaded, tag], f"cannot tag the loaded image as {tag} in {engine}")
    image_id = _inspect_id(engine, tag)
    for other in also:
        _run(engine, ["tag", tag, other], f"cannot tag the loaded image as {other} in {engine}")
    if image_id is None:
        raise OutputError(
            f"{engine} loaded {tar_path} but no image is tagged {tag}; "
            f"its output was: {summarise(output) or 'empty'}"
        )
    return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"


def save(reference: str, into: Path, *, engine: str) -> Path:
    """``engine``'s image ``reference`` written to the tar ``into`` (``docker save``)."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose docker or podman")
    if _inspect_id(engine, reference) is None:
        raise UsageError(
            f"{engine} has no image {reference}; pull or build it first (`{engine} images` "
            "lists what it has)"
        )
    _run(engine, ["save", "-o", str(into), reference], f"cannot save {reference} from {engine}")
    return into


def _run(engine: str, args: Sequence[str], what: str) -> str:
    try:
        result = subprocess.run(
            [engine, *args], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
    except OSError as e:
        raise OutputError(f"{what}: {engine} cannot be run ({e.strerror})") from e
    if result.returncode != 0:
        reason = summarise(result.stderr) or summarise(result.stdout) or f"exit {result.returncode}"
        raise OutputError(f"{what}: {reason}")
    return result.stdout


def _inspect_id(engine: str, reference: str) -> str | None:
    try:
        result = subprocess.run(
            [engine, "image", "inspect", "--format", "{{.Id}}", reference],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except OSError:
        return None
    lines = result.stdout.split()
    return lines[0] if result.returncode == 0 and lines else None


# "Loaded image: x:y" (docker), "Loaded image ID: sha256:..." (docker, untagged),
# "Loaded image(s): a,b" (podman 3), "Loaded image: a" (podman 4)
_LOADED = re.compile(r"^Loaded image(?: ID|\(s\))?: *(\S+)", re.MULTILINE)


def _loaded_image(output: str) -> str | None:
    found = _LOADED.findall(output)
    return found[-1].split(",")[0] if found else None


def summarise(text: str) -> str:
    """An engine's error output on one line: its last meaningful lines, cut to length."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [_strip_prefix(line) for line in lines]
    line = "; ".join(lines[-2:])
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


def _strip_prefix(line: str) -> str:
    for prefix in ("Error response from daemon: ", "Error: "):
        line = line.removeprefix(prefix)
    return line
