"""Registry credentials, found and kept where docker, podman, skopeo and crane keep them.

A user who ran ``docker login`` or ``podman login`` is logged in for us too, and ``pydistroless
login`` leaves a secret where those tools find it. The files are searched in the order of
containers-auth.json(5), which is also what podman and skopeo do (containers/image,
``pkg/docker/config``):

1. ``$REGISTRY_AUTH_FILE``, when set, and then **nothing else**: an explicit auth file replaces
   the search, as ``--authfile`` does for podman and skopeo;
2. otherwise ``${XDG_RUNTIME_DIR}/containers/auth.json`` (``/run/containers/UID/auth.json``
   without ``XDG_RUNTIME_DIR``), podman's primary file;
3. ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json``;
4. docker's ``${DOCKER_CONFIG:-~/.docker}/config.json``;
5. the legacy ``~/.dockercfg`` (a bare ``auths`` map), read and cleaned but never written.

Within one file, a ``credHelpers`` entry for the host wins, then (in docker's config.json only,
as docker and crane read it; podman ignores the key) ``credsStore``, then the ``auths`` entry.
A helper that answers "credentials not found" hands over to the next place, so an empty
``auths`` marker or a stale helper entry never hides a secret stored further on.

A secret never reaches a message, a repr or a log: :class:`Secret` hides it, helper output is
quoted only after it has been scrubbed of it, and malformed files are described by position,
never by content. Files that hold credentials are replaced atomically through a temporary that
is created mode 0600, so not even an interrupted write leaves a readable copy.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import fcntl
import json
import os
import re
import selectors
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydistroless.core import files
from pydistroless.core.errors import ConfigError, UsageError

# The key docker uses for Docker Hub in config.json and towards credential helpers.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# The name podman gives Docker Hub in its own files and helpers.
_PODMAN_HUB_KEY = "docker.io"
# A helper's answer for a host it holds nothing for (docker-credential-helpers' own words).
NOT_FOUND_MESSAGE = "credentials not found in native keychain"
TOKEN_USERNAME = "<token>"

# Bounds: a config file is a few KiB; a helper answers one small JSON object, promptly.
CONFIG_LIMIT = 4 * 1024 * 1024
HELPER_OUTPUT_LIMIT = 1024 * 1024
HELPER_TIMEOUT = 30.0
_HELPER_STDERR_KEPT = 64 * 1024
# containers/image's primary file when XDG_RUNTIME_DIR is unset.
RUN_AUTH_FILE = "/run/containers/{uid}/auth.json"

_HOST = re.compile(
    r"(?:\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)"
    r"(?::[0-9]{1,5})?"
)
_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
# A word long and mixed enough to be a token or an encoded secret rather than prose.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9+/=_.~-]{16,}")


@dataclass(frozen=True, repr=False)
class Secret:
    """A user name and its password, or an identity token (docker's ``identitytoken``, the
    OAuth2 refresh token some registries hand out instead of keeping a password). Its repr and
    str name the user only, so logging or raising one cannot leak it."""

    username: str
    password: str = field(repr=False)
    identity_token: bool = False

    def __repr__(self) -> str:
        kind = "identity_token" if self.identity_token else "password"
        return f"Secret(username={self.username!r}, {kind}=<hidden>)"

    __str__ = __repr__


@dataclass(frozen=True)
class Location:
    """Where :func:`store` put a secret: the file it wrote, or the credential helper that now
    keeps it together with the file whose ``credHelpers``/``credsStore`` named that helper."""

    path: Path
    helper: str | None = None

    def __str__(self) -> str:
        if self.helper is None:
            return str(self.path)
        return f"the credential helper {self.helper} (configured in {self.path})"


Kind = Literal["containers", "docker", "legacy"]


@dataclass(frozen=True)
class _Source:
    """One file of the search. ``option`` is what the user changes to move it, for messages."""

    path: Path
    kind: Kind
    option: str
    # podman's fallback under /run: a folder other users may not even be allowed to look in
    implicit: bool = False


# -- keys -------------------------------------------------------------------------------------


def registry_key(host: str) -> str:
    """The key docker files ``host``'s credentials under: its historical index URL for Docker
    Hub (under any of its names), ``HOST[:PORT]`` in lower case for every other registry."""
    name = host.strip().lower()
    if not _HOST.fullmatch(name):
        raise UsageError(
            f"{host!r} is not a registry host; give HOST or HOST:PORT, for example ghcr.io or "
            "localhost:5000"
        )
    return DOCKER_HUB_KEY if name in _DOCKER_HUB_HOSTS else name


def _normal(key: str) -> str | None:
    """The host a file's key stands for, or None for a namespaced key (podman's
    ``quay.io/org``), which only an exact repository lookup would use. Docker accepted URLs
    (``https://HOST``, ``http://HOST/v2/``) as keys for years, and still uses one for Hub."""
    name = key.strip().lower()
    for scheme in ("https://", "http://"):
        if name.startswith(scheme):
            name = name[len(scheme) :].split("/", 1)[0]
            break
    else:
        if "/" in name:
            return None
    return "docker.io" if name in _DOCKER_HUB_HOSTS else name


def _matching_keys(mapping: Mapping[str, Any], host: str) -> list[str]:
    """The keys of ``mapping`` that mean ``host``, best first: docker's own key, the host as
    written, then any other spelling of it in file order."""
    key = registry_key(host)
    wanted = _normal(key)
    exact = [k for k in (key, host.strip().lower()) if k in mapping]
    others = [k for k in mapping if k not in exact and _normal(k) == wanted]
    return list(dict.fromkeys(exact)) + others


def _helper_keys(host: str) -> list[str]:
    """What to ask a helper for: docker's key, and for Docker Hub also podman's name for it."""
    key = registry_key(host)
    return [key, _PODMAN_HUB_KEY] if key == DOCKER_HUB_KEY else [key]


# -- where the files are ----------------------------------------------------------------------


def _environment(environ: Mapping[str, str] | None) -> dict[str, str]:
    return dict(os.environ if environ is None else environ)


def _sources(env: Mapping[str, str]) -> list[_Source]:
    """The files to search, in order (see the module docstring for why this order)."""
    explicit = env.get("REGISTRY_AUTH_FILE")
    if explicit:
        return [_Source(Path(explicit), "containers", "REGISTRY_AUTH_FILE")]
    home = Path(env.get("HOME") or Path.home())
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        primary = _Source(Path(runtime, "containers", "auth.json"), "containers", "XDG_RUNTIME_DIR")
    else:
        path = Path(RUN_AUTH_FILE.format(uid=os.getuid()))
        primary = _Source(path, "containers", "XDG_RUNTIME_DIR", implicit=True)
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return [
        primary,
        _Source(config_home / "containers" / "auth.json", "containers", "XDG_CONFIG_HOME"),
        _Source(_docker_config(env, home), "docker", "DOCKER_CONFIG"),
        _Source(home / ".dockercfg", "legacy", "HOME"),
    ]


def _docker_config(env: Mapping[str, str], home: Path) -> Path:
    directory = env.get("DOCKER_CONFIG")
    return Path(directory) / "config.json" if directory else home / ".docker" / "config.json"


# -- reading files ----------------------------------------------------------------------------


def _unreadable(path: Path, why: str) -> ConfigError:
    return ConfigError(f"cannot read registry credentials in {path}: {why}; fix or remove it")


def _read(source: _Source) -> dict[str, Any] | None:
    """The file's JSON object, checked for the types we use; None when it does not exist. An
    empty file counts as ``{}``, as docker reads it."""
    path = source.path
    try:
        # O_NONBLOCK: opening a FIFO must not hang; it is refused below like a directory.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except PermissionError:
        if source.implicit:
            return None
        raise _unreadable(path, os.strerror(errno.EACCES)) from None
    except OSError as e:
        raise _unreadable(path, e.strerror or str(e)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _unreadable(path, f"it is {files.describe_mode(mode)}, not a regular file")
        data = _read_bounded(fd, path)
    finally:
        os.close(fd)
    return _parse(data, source)


def _read_bounded(fd: int, path: Path) -> bytes:
    chunks, size = [], 0
    while True:
        try:
            chunk = os.read(fd, 1024 * 1024)
        except OSError as e:
            raise _unreadable(path, e.strerror or str(e)) from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > CONFIG_LIMIT:
            raise _unreadable(path, f"it is larger than {CONFIG_LIMIT // 1024 // 1024} MiB")
        chunks.append(chunk)


def _parse(data: bytes, source: _Source) -> dict[str, Any]:
    path = source.path
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _unreadable(path, f"it is not UTF-8 (byte {e.start})") from None
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        # e.msg and the position only: the text around the error may be a secret.
        raise _unreadable(
            path, f"it is not JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    except RecursionError:
        raise _unreadable(path, "it nests too deeply to be a credentials file") from None
    if not isinstance(doc, dict):
        raise _unreadable(path, "it is not a JSON object")
    auths = _auths(doc, source)
    where = "the file" if source.kind == "legacy" else '"auths"'
    if not isinstance(auths, dict):
        raise _unreadable(path, f"{where} is not an object")
    for key, entry in auths.items():
        if not isinstance(entry, dict):
            raise _unreadable(path, f"the entry {key!r} of {where} is not an object")
        for name in ("auth", "identitytoken", "username", "password"):
            if not isinstance(entry.get(name) or "", str):
                raise _unreadable(path, f'"{name}" of the entry {key!r} is not a string')
    if source.kind != "legacy":
        helpers = doc.get("credHelpers") or {}
        if not isinstance(helpers, dict) or not all(isinstance(v, str) for v in helpers.values()):
            raise _unreadable(path, '"credHelpers" is not an object of helper names')
        if not isinstance(doc.get("credsStore") or "", str):
            raise _unreadable(path, '"credsStore" is not a helper name')
    return doc


def _auths(doc: dict[str, Any], source: _Source) -> Any:
    """The ``auths`` map (the whole file for ``.dockercfg``); docker reads ``null`` as empty."""
    return doc if source.kind == "legacy" else doc.get("auths") or {}


def _helpers_for(doc: dict[str, Any], source: _Source, host: str) -> list[str]:
    """The helpers this file sends ``host`` to, in the order they are asked."""
    if source.kind == "legacy":
        return []
    helpers = doc.get("credHelpers") or {}
    names = [helpers[key] for key in _matching_keys(helpers, host)[:1]]
    if source.kind == "docker" and doc.get("credsStore"):
        names.append(doc["credsStore"])
    return list(dict.fromkeys(names))


def _decode_entry(entry: Mapping[str, str], key: str, path: Path) -> Secret | None:
    """The secret of one ``auths`` entry, or None for docker's empty ``{}`` marker (written
    beside a helper that keeps the real secret)."""
    username, password = entry.get("username") or "", entry.get("password") or ""
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(entry["auth"], validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise _unreadable(path, f'"auth" of the entry {key!r} is not base64 text') from None
        if ":" not in decoded:
            raise _unreadable(
                path, f'"auth" of the entry {key!r} is not the base64 of USER:PASSWORD'
            )
        username, password = decoded.split(":", 1)
        password = password.strip("\x00")
    token = entry.get("identitytoken") or ""
    if token:
        return Secret(username, token, identity_token=True)
    if username or password:
        return Secret(username, password)
    return None


# -- finding ----------------------------------------------------------------------------------


def find(host: str, environ: Mapping[str, str] | None = None) -> Secret | None:
    """The credentials docker or podman would send to ``host``, or None to go anonymous."""
    env = _environment(environ)
    registry_key(host)  # refuse a malformed host before running any helper
    for source in _sources(env):
        doc = _read(source)
        if doc is None:
            continue
        for helper in _helpers_for(doc, source, host):
            secret = _helper_get(helper, host, source.path, env)
            if secret is not None:
                return secret
        auths = _auths(doc, source)
        for key in _matching_keys(auths, host):
            secret = _decode_entry(auths[key], key, source.path)
            if secret is not None:
                return secret
    return None


# -- storing and erasing ----------------------------------------------------------------------


def store(host: str, secret: Secret, environ: Mapping[str, str] | None = None) -> Location:
    """Keep ``secret`` for ``host`` (``pydistroless login``) where the next :func:`find` and
    the other tools read it first. That is the first file of the search that already speaks
    for ``host`` (a ``credHelpers`` entry, an ``auths`` entry, or docker's ``credsStore``),
    so a stale podman entry cannot shadow a new login; else the file a login writes:
    ``$REGISTRY_AUTH_FILE`` when set, docker's config.json otherwise. A helper keeps it when
    that file names one. Every other key of the file is kept as it was."""
    env = _environment(environ)
    key = registry_key(host)
    writable = [s for s in _sources(env) if s.kind != "legacy"]
    for source in writable:
        doc = _read(source)
        if doc is None:
            continue
        helpers = _helpers_for(doc, source, host)
        if helpers:
            return _helper_store(helpers[0], key, secret, source.path, env)
        if _matching_keys(_auths(doc, source), host):
            return _file_store(source, doc, host, secret)
    # Nothing speaks for the host: the last writable file is the default one (see _sources).
    source = writable[-1]
    return _file_store(source, _read(source) or {}, host, secret)


def _file_store(source: _Source, doc: dict[str, Any], host: str, secret: Secret) -> Location:
    if ":" in secret.username:
        raise UsageError(
            f"the user name {secret.username!r} has a ':', which a registry login cannot hold; "
            "check the user name"
        )
    entry: dict[str, str] = {}
    if secret.identity_token:
        if secret.username:
            entry["auth"] = _encode(f"{secret.username}:")
        entry["identitytoken"] = secret.password
    else:
        entry["auth"] = _encode(f"{secret.username}:{secret.password}")
    auths = doc["auths"] = _auths(doc, source)
    key = registry_key(host)
    for old in _matching_keys(auths, host):
        if old != key:
            del auths[old]
    auths[key] = entry
    _write(source, doc)
    return Location(source.path)


def _encode(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def erase(host: str, environ: Mapping[str, str] | None = None) -> bool:
    """Forget ``host`` everywhere :func:`find` would look (``pydistroless logout``): in every
    helper a file sends it to and every file that has an entry for it. Whether anything went."""
    env = _environment(environ)
    registry_key(host)
    removed = False
    for source in _sources(env):
        doc = _read(source)
        if doc is None:
            continue
        for helper in _helpers_for(doc, source, host):
            removed |= _helper_erase(helper, host, source.path, env)
        auths = _auths(doc, source)
        keys = _matching_keys(auths, host)
        if keys:
            for key in keys:
                del auths[key]
            _write(source, doc)
            removed = True
    return removed


# -- writing files ----------------------------------------------------------------------------


def _write(source: _Source, doc: dict[str, Any]) -> None:
    """Replace the file with ``doc``, atomically, mode 0600, through a symlink if it is one.
    docker creates its directory 0700 and writes tab-indented JSON; so do we."""
    path, option = source.path, source.option
    data = (json.dumps(doc, indent="\t", ensure_ascii=False) + "\n").encode("utf-8")
    if not path.is_symlink():  # a link's target directory is the link owner's business
        with files.reporting(path, option):
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = files.file_target(path, option)
    with files.reporting(target, option), _private_temporary(target) as (fd, temp):
        with contextlib.suppress(FileNotFoundError):
            owner = os.stat(target)
            if os.geteuid() == 0:  # root editing a user's file (sudo -E): it stays theirs
                os.fchown(fd, owner.st_uid, owner.st_gid)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.replace(temp, target)


@contextlib.contextmanager
def _private_temporary(target: Path) -> Iterator[tuple[int, Path]]:
    """:func:`files.temporary`, but created 0600 rather than under the umask: the content is a
    secret from its first byte. Same names and lock, so its stale leftovers are cleared the
    same way."""
    files.remove_stale_temporaries(target)
    temp = files.temp_name(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(temp, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.fchmod(fd, 0o600)  # exactly: a umask such as 0277 must not make it read-only
        yield fd, temp
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    finally:
        os.close(fd)


# -- credential helpers -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    code: int
    stdout: bytes
    stderr: bytes

    @property
    def not_found(self) -> bool:
        said = (self.stdout + self.stderr).decode("utf-8", "replace")
        return self.code != 0 and NOT_FOUND_MESSAGE in said


class _HelperFailure(Exception):
    """Why a helper run failed, already scrubbed of secrets; turned into a ConfigError."""


def _helper_get(name: str, host: str, config: Path, env: Mapping[str, str]) -> Secret | None:
    for server in _helper_keys(host):
        answer = _call(name, "get", server.encode("utf-8"), host, config, env, ())
        if answer.not_found:
            continue
        if answer.code != 0:
            raise _helper_error(name, "get", host, config, _failure(answer, ()))
        try:
            reply = json.loads(answer.stdout.decode("utf-8"))
            username, secret = reply["Username"], reply["Secret"]
            if not isinstance(username, str) or not isinstance(secret, str):
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError):
            # Never quoted: a reply that is nearly right holds the secret.
            why = 'it printed something other than the JSON {"Username", "Secret"} docker expects'
            raise _helper_error(name, "get", host, config, why) from None
        if username == TOKEN_USERNAME:
            return Secret("", secret, identity_token=True)
        if username or secret:
            return Secret(username, secret)
    return None


def _helper_store(
    name: str, key: str, secret: Secret, config: Path, env: Mapping[str, str]
) -> Location:
    username = TOKEN_USERNAME if secret.identity_token else secret.username
    payload = json.dumps({"ServerURL": key, "Username": username, "Secret": secret.password})
    answer = _call(name, "store", payload.encode("utf-8"), key, config, env, (secret.password,))
    if answer.code != 0:
        why = _failure(answer, (secret.password,))
        raise _helper_error(name, "store", key, config, why)
    return Location(config, f"docker-credential-{name}")


def _helper_erase(name: str, host: str, config: Path, env: Mapping[str, str]) -> bool:
    removed = False
    for server in _helper_keys(host):
        answer = _call(name, "erase", server.encode("utf-8"), host, config, env, ())
        if answer.not_found:
            continue
        if answer.code != 0:
            raise _helper_error(name, "erase", host, config, _failure(answer, ()))
        removed = True
    return removed


def _helper_error(name: str, action: str, host: str, config: Path, why: str) -> ConfigError:
    return ConfigError(
        f"the credential helper docker-credential-{name} (named in {config}) could not {action} "
        f"the credentials of {host}: {why}; fix the helper or remove it from {config}"
    )


def _call(
    name: str,
    action: str,
    payload: bytes,
    host: str,
    config: Path,
    env: Mapping[str, str],
    secrets: tuple[str, ...],
) -> _Answer:
    if not _HELPER_NAME.fullmatch(name):
        raise _unreadable(config, f"{name!r} is not the name of a credential helper")
    program = f"docker-credential-{name}"
    executable = shutil.which(program, path=env.get("PATH", os.defpath))
    if executable is None:
        raise ConfigError(
            f"the credential helper {program} named in {config} is not on PATH; install it, "
            f"or remove it from credHelpers/credsStore in {config}"
        )
    try:
        return _run(executable, action, payload, env)
    except _HelperFailure as e:
        raise _helper_error(name, action, host, config, _scrub(str(e), secrets)) from None
    except OSError as e:
        raise _helper_error(name, action, host, config, e.strerror or str(e)) from None


def _run(executable: str, action: str, payload: bytes, env: Mapping[str, str]) -> _Answer:
    """Run a helper with ``payload`` on stdin, bounded in time and in output, and never
    blocking on a helper that neither reads nor answers."""
    proc = subprocess.Popen(
        [executable, action],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        close_fds=True,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    deadline = time.monotonic() + HELPER_TIMEOUT
    out, err = bytearray(), bytearray()
    try:
        with selectors.DefaultSelector() as selector:
            os.set_blocking(proc.stdin.fileno(), False)
            selector.register(proc.stdin, selectors.EVENT_WRITE)
            selector.register(proc.stdout, selectors.EVENT_READ, out)
            selector.register(proc.stderr, selectors.EVENT_READ, err)
            pending = memoryview(payload)
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _HelperFailure(f"it did not finish within {HELPER_TIMEOUT:g} s")
                for key, _ in selector.select(remaining):
                    if key.fileobj is proc.stdin:
                        pending = _feed(proc.stdin.fileno(), pending)
                        if not pending:
                            selector.unregister(proc.stdin)
                            proc.stdin.close()
                        continue
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                    elif key.data is out:
                        out += chunk
                        if len(out) > HELPER_OUTPUT_LIMIT:
                            limit = HELPER_OUTPUT_LIMIT // 1024
                            raise _HelperFailure(f"it printed more than {limit} KiB")
                    else:
                        err += chunk[: max(0, _HELPER_STDERR_KEPT - len(err))]
        code = proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise _HelperFailure(f"it did not exit within {HELPER_TIMEOUT:g} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
    return _Answer(code, bytes(out), bytes(err))


def _feed(fd: int, pending: memoryview) -> memoryview:
    try:
        return pending[os.write(fd, pending) :]
    except BlockingIOError:
        return pending
    except BrokenPipeError:
        return pending[:0]  # it stopped reading; its answer tells the rest


def _failure(answer: _Answer, secrets: tuple[str, ...]) -> str:
    """Why a helper failed, in its own words when they are safe to show: its first line of
    output, scrubbed of the secrets it was given and never a JSON document."""
    for output in (answer.stdout, answer.stderr):
        for line in output.decode("utf-8", "replace").splitlines():
            line = "".join(c if c.isprintable() else " " for c in line).strip()
            if line:
                if "{" in line or "Secret" in line:
                    return f"it exited with status {answer.code}"
                message = _scrub(line, secrets)
                if len(message) > 200:
                    message = message[:200] + "..."
                return f"it exited with status {answer.code}: {message}"
    return f"it exited with status {answer.code}"


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` without any spelling of the secrets a helper could print back, and without
    anything that looks like a token: a helper that fails a ``get`` may print the secret we
    do not know yet."""
    for secret in sorted(secrets, key=len, reverse=True):
        if not secret:
            continue
        for form in {secret, json.dumps(secret)[1:-1], _encode(secret)}:
            text = text.replace(form, "<hidden>")
    return _TOKEN_LIKE.sub(_hide_token, text)


def _hide_token(match: re.Match[str]) -> str:
    word = match.group()
    looks_random = any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
    return "<hidden>" if looks_random else word
