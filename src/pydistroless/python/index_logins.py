"""The logins of the package indexes a build downloads from, each sent to its own host only.

uv sends an index its login when it resolves and looks pins up; pydistroless downloads the
wheels itself, so it gathers the same logins, from where uv and pip keep them, first match
winning:

1. the dependency file's own URLs (``--index-url https://USER:TOKEN@host/simple``, a lock's
   file URLs), split off as it was read (:mod:`.dependencies`);
2. uv's settings: ``UV_INDEX_URL``, ``UV_DEFAULT_INDEX``, ``UV_EXTRA_INDEX_URL``,
   ``UV_INDEX``, ``UV_FIND_LINKS``, and the ``index-url``, ``extra-index-url``,
   ``find-links`` and ``[[index]]`` entries (top level or ``[pip]``) of ``UV_CONFIG_FILE`` or
   else the project's ``uv.toml`` (or its ``pyproject.toml``'s ``[tool.uv]``), the user's
   and the system's ``uv.toml``; a named index's ``UV_INDEX_<NAME>_USERNAME`` and
   ``_PASSWORD``;
3. pip's: ``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL``, ``PIP_FIND_LINKS``, and the same keys
   of ``[global]`` and ``[install]`` in ``PIP_CONFIG_FILE`` or pip's own ``pip.conf`` files;
4. ``~/.netrc`` (or ``$NETRC``): a ``machine``'s login for that host (its ``default`` never:
   it would go to every host).

A login from a URL is for that URL's scheme, host and port, on any path (an index serves its
files from other paths of its host); the fetcher sends it to no other host. A settings file
that cannot be read gives none (as apt's are skipped): the index's 401 then says what is
missing.
"""

from __future__ import annotations

import configparser
import netrc
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydistroless.core.errors import UsageError
from pydistroless.core.net import Credentials, Login, split_login
from pydistroless.python.dependencies import Dependencies
from pydistroless.python.project import within

_URL_KEYS = ("index-url", "extra-index-url", "find-links")


def credentials(
    deps: Dependencies,
    project: Path,
    *,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Credentials:
    """Every login for the indexes of ``deps``, in the order uv would find them."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home()) if home is None else home
    logins = [
        *deps.logins,
        *_from_urls(_uv_env_urls(env)),
        *_uv_config_logins(project, env, home),
        *_from_urls(_pip_env_urls(env)),
        *_from_urls(_pip_config_urls(env, home)),
        *_netrc_logins(env, home),
    ]
    return Credentials(tuple(logins))


def _from_urls(urls: Iterable[str]) -> list[Login]:
    found = (split_login(url.strip())[1] for url in urls)
    return [login for login in found if login is not None]


# ---- uv --------------------------------------------------------------------------------------


def _uv_env_urls(env: Mapping[str, str]) -> list[str]:
    urls = []
    for name in ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX"):
        # UV_INDEX holds "NAME=URL" or "URL" words
        urls += [w.split("=", 1)[-1] for w in env.get(name, "").split()]
    urls += re.split(r"[\s,]+", env.get("UV_FIND_LINKS", ""))
    return [u for u in urls if u]


def _uv_config_logins(project: Path, env: Mapping[str, str], home: Path) -> list[Login]:
    logins: list[Login] = []
    for table in _uv_tables(project, env, home):
        for scope in (table, table.get("pip")):
            if not isinstance(scope, dict):
                continue
            logins += _from_urls(_setting_urls(scope))
            for index in scope.get("index") or []:
                if isinstance(index, dict) and isinstance(index.get("url"), str):
                    logins += _named_index_logins(index, env)
    return logins


def _named_index_logins(index: dict[str, Any], env: Mapping[str, str]) -> list[Login]:
    """An ``[[index]]``'s login: in its URL, or in ``UV_INDEX_<NAME>_USERNAME`` and
    ``UV_INDEX_<NAME>_PASSWORD`` (the name upper-cased, other than letters and digits
    ``_``)."""
    url = index["url"]
    name = index.get("name")
    if isinstance(name, str):
        key = re.sub(r"[^A-Z0-9]", "_", name.upper())
        user = env.get(f"UV_INDEX_{key}_USERNAME")
        password = env.get(f"UV_INDEX_{key}_PASSWORD")
        clean, _ = split_login(url)
        parts = urlsplit(clean)
        if (user or password) and parts.hostname:
            try:
                port = parts.port
            except ValueError:
                return []
            login = Login((parts.scheme,), parts.hostname, port, "/", user or "", password or "")
            return [login, *_from_urls([url])]
    return _from_urls([url])


def _uv_tables(project: Path, env: Mapping[str, str], home: Path) -> list[dict[str, Any]]:
    """uv's settings, the nearest first: ``UV_CONFIG_FILE`` alone, else the project's, the
    user's and the system's; none with ``UV_NO_CONFIG``."""
    if env.get("UV_NO_CONFIG"):
        return []
    if env.get("UV_CONFIG_FILE"):
        return [_toml(Path(env["UV_CONFIG_FILE"]))]
    tables = []
    own = _of_project(project, "uv.toml")
    if own is not None and own.is_file():
        tables.append(_toml(own))
    else:
        pyproject = _of_project(project, "pyproject.toml")
        tool = _toml(pyproject).get("tool") if pyproject is not None else None
        uv = tool.get("uv") if isinstance(tool, dict) else None
        if isinstance(uv, dict):
            tables.append(uv)
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    tables.append(_toml(config_home / "uv" / "uv.toml"))
    dirs = [Path(d) for d in env.get("XDG_CONFIG_DIRS", "").split(":") if d]
    system = [d / "uv" / "uv.toml" for d in dirs] + [Path("/etc/uv/uv.toml")]
    tables += [_toml(next((p for p in system if p.is_file()), system[-1]))]
    return tables


def _of_project(project: Path, name: str) -> Path | None:
    """The project's own file ``name``; None for one that leads out of the project, which is
    not the project's to configure."""
    try:
        return within(project, name, name)
    except UsageError:
        return None


def _toml(path: Path) -> dict[str, Any]:
    """A TOML file's table; empty when there is none, or none that can be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return {}


def _setting_urls(table: Mapping[str, Any]) -> list[str]:
    urls: list[str] = []
    for key in _URL_KEYS:
        value = table.get(key)
        values = value if isinstance(value, list) else [value]
        urls += [v for v in values if isinstance(v, str)]
    return urls


# ---- pip -------------------------------------------------------------------------------------


def _pip_env_urls(env: Mapping[str, str]) -> list[str]:
    names = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")
    return [url for name in names for url in env.get(name, "").split()]


def _pip_config_urls(env: Mapping[str, str], home: Path) -> list[str]:
    """The URLs of pip's settings files: ``PIP_CONFIG_FILE`` (``os.devnull``: none), else
    the site's, the user's and the virtual environment's."""
    given = env.get("PIP_CONFIG_FILE")
    if given:
        paths = [] if given == os.devnull else [Path(given)]
    else:
        config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        dirs = [Path(d) for d in env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":") if d]
        paths = [d / "pip" / "pip.conf" for d in dirs] + [Path("/etc/pip.conf")]
        paths += [home / ".pip" / "pip.conf", config_home / "pip" / "pip.conf"]
        if env.get("VIRTUAL_ENV"):
            paths.append(Path(env["VIRTUAL_ENV"]) / "pip.conf")
    urls: list[str] = []
    for path in paths:
        parser = configparser.RawConfigParser()
        try:
            parser.read_string(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, configparser.Error):
            continue
        for section in ("global", "install"):
            for key in _URL_KEYS:
                urls += parser.get(section, key, fallback="").split()
    return urls


# ---- netrc -----------------------------------------------------------------------------------


def _netrc_logins(env: Mapping[str, str], home: Path) -> list[Login]:
    path = Path(env["NETRC"]) if env.get("NETRC") else home / ".netrc"
    try:
        hosts = netrc.netrc(str(path)).hosts
    except (OSError, netrc.NetrcParseError, UnicodeDecodeError):
        return []
    return [
        Login(("https", "http"), host.lower(), None, "/", user or "", password or "")
        for host, (user, _, password) in hosts.items()
        if host != "default"
    ]
