"""Index logins: sent to their index's host for every download and lookup, and nowhere else:
not to another host, not into the image's files, its lock, its SBOM or a line of output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pydistroless.core.cache import Cache
from pydistroless.core.errors import ResolveError, UsageError
from pydistroless.core.fetch import Fetcher
from pydistroless.core.report import hide_logins, log
from pydistroless.debian.store import Store
from pydistroless.python import dependencies, index_logins, project, wheels
from pydistroless.python.dependencies import Dependencies, Pin, WheelFile
from pydistroless.recipes.app import AppSpec, Base, build_app
from tests.fixtures.index_server import Index, serve
from tests.unit.test_recipes import (  # noqa: F401 (fixtures)
    SITE,
    builder_repo,
    builder_store,
    files_of,
    libc_base,
    make_wheel,
    sha256_of,
)
from tests.unit.test_wheel_install import TARGET

USER, TOKEN = "ci-bot", "s3cret-T0KEN"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting of this machine's uv, pip or .netrc in play; uv's cache of its own."""
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(("UV_", "PIP_")) or name in ("NETRC", "SOURCE_DATE_EPOCH"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    return home


def test_a_private_index_with_a_login_serves_every_download_and_the_login_stays_home(
    libc_base: Base,  # noqa: F811
    builder_store: Store,  # noqa: F811
    tmp_path: Path,
    clean_environment: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """uv resolves on the index with its login; the wheels are downloaded with it, from the
    index's host; a file the index links on another host gets no login; the image's copy
    of requirements.txt, its lock and its SBOM name the index without it."""
    wheels_dir = tmp_path / "built"
    tiny = make_wheel(wheels_dir, "pdl_tiny", "1.0")
    elsewhere = make_wheel(wheels_dir, "pdl_elsewhere", "2.0")
    private = Index(login=(USER, TOKEN))
    other = Index(host="127.0.0.2")
    with serve(private), serve(other):
        private.add("pdl-tiny", tiny.name, tiny.read_bytes())
        private.add("pdl-elsewhere", elsewhere.name, elsewhere.read_bytes(), on=other)
        proj = tmp_path / "svc"
        proj.mkdir()
        (proj / "main.py").write_text("import pdl_tiny\n")
        index_url = f"http://{USER}:{TOKEN}@127.0.0.1:{private.port}/simple"
        (proj / "requirements.txt").write_text(
            f"--index-url {index_url}\npdl-tiny\npdl-elsewhere\n"
        )
        app = build_app(AppSpec(project=proj), [libc_base], builder_store)

    (image,) = app.images
    deps, own = image.layers[len(libc_base.image.layers) :]
    installed = files_of(deps)
    assert f"{SITE}/pdl_tiny/__init__.py" in {e.path for e in installed.entries()}
    assert f"{SITE}/pdl_elsewhere/__init__.py" in {e.path for e in installed.entries()}
    # The index's host had the login on every request (uv's and the wheel's download) ...
    assert any(path.startswith("/files/pdl_tiny") for path, _ in private.requests)
    assert {auth for _, auth in private.requests} == {"Basic Y2ktYm90OnMzY3JldC1UMEtFTg=="}
    # ... the other host never: not from uv, not from the download.
    assert any(path.startswith("/files/pdl_elsewhere") for path, _ in other.requests)
    assert {auth for _, auth in other.requests} == {None}
    # No copy of the login anywhere the build writes.
    copied = files_of(own).read("app/requirements.txt") or b""
    assert copied.startswith(f"--index-url http://127.0.0.1:{private.port}/simple\n".encode())
    lock = json.loads(app.lock)
    urls = {w["name"]: w["url"] for w in lock["images"][0]["wheels"]}
    assert urls["pdl-tiny"] == f"http://127.0.0.1:{private.port}/files/{tiny.name}"
    assert TOKEN not in app.lock.decode()
    assert all(TOKEN not in document.decode() for _, document in app.sboms)
    assert TOKEN not in "".join(capsys.readouterr())


def test_a_login_in_a_lock_url_is_sent_and_written_nowhere(
    libc_base: Base,  # noqa: F811
    builder_store: Store,  # noqa: F811
    tmp_path: Path,
    clean_environment: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wheel = make_wheel(tmp_path / "built", "pdl_locked", "3.0")
    private = Index(login=(USER, TOKEN))
    with serve(private):
        private.add("pdl-locked", wheel.name, wheel.read_bytes())
        proj = tmp_path / "locked"
        proj.mkdir()
        (proj / "main.py").write_text("")
        url = f"http://{USER}:{TOKEN}@127.0.0.1:{private.port}/files/{wheel.name}"
        (proj / "pylock.toml").write_text(
            'lock-version = "1.0"\ncreated-by = "test"\n[[packages]]\nname = "pdl-locked"\n'
            f'version = "3.0"\nwheels = [{{url = "{url}", '
            f'hashes = {{sha256 = "{sha256_of(wheel)}"}}}}]\n'
        )
        app = build_app(AppSpec(project=proj), [libc_base], builder_store)
    assert [auth for _, auth in private.requests] == ["Basic Y2ktYm90OnMzY3JldC1UMEtFTg=="]
    (pinned,) = json.loads(app.lock)["images"][0]["wheels"]
    assert pinned["url"] == f"http://127.0.0.1:{private.port}/files/{wheel.name}"
    assert TOKEN not in app.lock.decode()
    assert all(TOKEN not in document.decode() for _, document in app.sboms)
    own = files_of(app.images[0].layers[-1])
    assert TOKEN.encode() not in (own.read("app/pylock.toml") or b"")
    assert TOKEN not in "".join(capsys.readouterr())


def test_pins_the_lock_gives_only_an_sdist_are_not_looked_up_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uv's answer for a package with only a source distribution on the private index: its
    sdist, which the pin keeps; nothing is asked of any index again (it used to be, of
    PyPI alone)."""

    def no_lookup(*args: object) -> str:
        raise AssertionError("looked up again")

    monkeypatch.setattr(wheels, "_uv_text", no_lookup)
    sdist = WheelFile("pdl_src-1.0.tar.gz", "http://127.0.0.1:9/files/pdl_src-1.0.tar.gz", "a" * 64)
    pin = Pin("pdl-src", "1.0", frozenset({"a" * 64}), (), sdist)
    (chosen,) = wheels.choose([pin], TARGET, source="requirements.txt")
    assert chosen.build and chosen.wheel == sdist


def test_pins_without_files_are_looked_up_on_the_files_own_indexes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A Pipfile.lock's sources (a poetry.lock's, a requirements file's index lines) go with
    the pins uv looks up, logins and all, in a file of a folder only this user reads."""
    asked: list[str] = []

    def lookup(args: list[str], what: str) -> str:
        listing = Path(args[2])
        assert listing.parent.stat().st_mode & 0o077 == 0
        asked.append(listing.read_text())
        return 'lock-version = "1.0"\n'

    monkeypatch.setattr(wheels, "_uv_text", lookup)
    monkeypatch.setenv("PDL_TOKEN", TOKEN)
    lock = {
        "_meta": {
            "sources": [
                {"name": "corp", "url": "https://ci-bot:${PDL_TOKEN}@pypi.corp.example/simple"},
                {"name": "pypi", "url": "https://public-index.example/simple"},
            ]
        },
        "default": {"attrs": {"version": "==25.1.0", "hashes": ["sha256:" + "b" * 64]}},
    }
    (tmp_path / "Pipfile.lock").write_text(json.dumps(lock))
    deps = dependencies.read(tmp_path / "Pipfile.lock", TARGET.markers)
    with pytest.raises(Exception, match="no wheel"):
        wheels.choose(deps.pins or (), TARGET, source="Pipfile.lock", indexes=deps.indexes)
    assert asked == [
        f"--index-url https://ci-bot:{TOKEN}@pypi.corp.example/simple\n"
        "--extra-index-url https://public-index.example/simple\nattrs==25.1.0\n"
    ]
    (login,) = deps.logins
    assert (login.host, login.user, login.password) == ("pypi.corp.example", "ci-bot", TOKEN)


def test_an_sdist_builds_with_the_files_indexes_never_on_the_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An sdist is never built on this host (uv is not asked to build it): the compiler,
    the builder image's in the sandbox, gets it with the dependency file's index lines, for
    its build requirements."""

    def uv(args: list[str], what: str, *, env: dict[str, str] | None = None) -> str:
        raise AssertionError(f"uv {args} ran on the host")

    monkeypatch.setattr(wheels, "_uv_text", uv)
    sdist = tmp_path / "pdl_src-1.0.tar.gz"
    sdist.write_bytes(b"not built")
    sha = sha256_of(sdist)
    pin = Pin("pdl-src", "1.0", frozenset({sha}), (), WheelFile(sdist.name, sdist.as_uri(), sha))
    lines = (
        f"--index-url https://{USER}:${{PDL_TOKEN}}@pypi.corp.example/simple",
        "--extra-index-url https://public-index.example/simple",
    )
    given: list[tuple[str, tuple[str, ...]]] = []

    def compile_for(named: Path, into: Path, indexes: tuple[str, ...]) -> Path:
        given.append((named.name, indexes))
        raise ResolveError("no builder image here")

    fetcher = Fetcher(Cache(tmp_path / "cache"), progress=False)
    with pytest.raises(ResolveError, match="no builder image here"):
        wheels.download(
            [wheels.Chosen(pin, pin.sdist, build=True)], fetcher, TARGET, compile_for, indexes=lines
        )
    assert given == [(sdist.name, lines)]
    with pytest.raises(ResolveError, match=r"publishes no wheel .* only a source distribution"):
        wheels.download([wheels.Chosen(pin, pin.sdist, build=True)], fetcher, TARGET)


def test_a_lock_url_with_a_login_is_split_off_for_its_host(tmp_path: Path) -> None:
    (tmp_path / "pylock.toml").write_text(
        'lock-version = "1.0"\n[[packages]]\nname = "x"\nversion = "1"\n'
        f'wheels = [{{url = "https://u:{TOKEN}@files.corp.example/x/x-1-py3-none-any.whl", '
        f'hashes = {{sha256 = "{"c" * 64}"}}}}]\n'
    )
    deps = dependencies.read(tmp_path / "pylock.toml", {})
    (pin,) = deps.pins or ()
    assert pin.wheels[0].url == "https://files.corp.example/x/x-1-py3-none-any.whl"
    creds = index_logins.credentials(deps, tmp_path, environ={"UV_NO_CONFIG": "1"}, home=tmp_path)
    assert creds.basic_auth("https://files.corp.example/y/z.whl") == f"u:{TOKEN}"
    assert creds.basic_auth("http://files.corp.example/y/z.whl") is None  # not in clear
    assert creds.basic_auth("https://public-index.example/simple/x/") is None


def test_index_logins_come_from_uv_pip_and_netrc_each_for_its_host(tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text(
        'extra-index-url = ["https://a:1@uv-extra.example/simple"]\n'
        '[[index]]\nname = "corp-idx"\nurl = "https://uv-named.example/simple"\n'
        '[pip]\nfind-links = ["https://b:2@uv-links.example/"]\n'
    )
    (tmp_path / "pip.conf").write_text(
        "[global]\nindex-url = https://c:3@pip-index.example/simple\n"
        "[install]\nextra-index-url =\n    https://d:4@pip-extra.example/simple\n"
    )
    (tmp_path / "netrc").write_text(
        "machine netrc.example login e password 5\ndefault login f password 6\n"
    )
    environ = {
        "UV_CONFIG_FILE": str(tmp_path / "uv.toml"),
        "UV_INDEX_CORP_IDX_USERNAME": "g",
        "UV_INDEX_CORP_IDX_PASSWORD": "7",
        "UV_EXTRA_INDEX_URL": "https://h:8@uv-env.example/simple https://plain.example/",
        "UV_INDEX": "other=https://i:9@uv-index-env.example/simple",
        "PIP_CONFIG_FILE": str(tmp_path / "pip.conf"),
        "PIP_INDEX_URL": "https://j:10@pip-env.example/simple",
        "NETRC": str(tmp_path / "netrc"),
    }
    deps = Dependencies(tmp_path / "requirements.txt", resolve=tmp_path / "requirements.txt")
    creds = index_logins.credentials(deps, tmp_path, environ=environ, home=tmp_path)
    assert {
        host: creds.basic_auth(f"https://{host}/files/x.whl")
        for host in (
            "uv-extra.example",
            "uv-named.example",
            "uv-links.example",
            "pip-index.example",
            "pip-extra.example",
            "netrc.example",
            "uv-env.example",
            "uv-index-env.example",
            "pip-env.example",
            "plain.example",
            "public-index.example",
        )
    } == {
        "uv-extra.example": "a:1",
        "uv-named.example": "g:7",
        "uv-links.example": "b:2",
        "pip-index.example": "c:3",
        "pip-extra.example": "d:4",
        "netrc.example": "e:5",
        "uv-env.example": "h:8",
        "uv-index-env.example": "i:9",
        "pip-env.example": "j:10",
        "plain.example": None,
        "public-index.example": None,  # netrc's "default" goes nowhere
    }


def test_project_settings_give_logins_unless_they_lead_out(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pyproject.toml").write_text(
        '[tool.uv]\nindex-url = "https://k:11@uv-project.example/simple"\n'
    )
    environ = {"PIP_CONFIG_FILE": os.devnull, "NETRC": os.devnull}
    deps = Dependencies(tmp_path / "p" / "r.txt", resolve=tmp_path / "p" / "r.txt")
    creds = index_logins.credentials(deps, tmp_path / "p", environ=environ, home=tmp_path)
    assert creds.basic_auth("https://uv-project.example/x.whl") == "k:11"
    (tmp_path / "shared.toml").write_text('index-url = "https://l:12@shared.example/simple"\n')
    (tmp_path / "p" / "uv.toml").symlink_to(tmp_path / "shared.toml")
    creds = index_logins.credentials(deps, tmp_path / "p", environ=environ, home=tmp_path)
    assert creds.basic_auth("https://shared.example/x.whl") is None  # not the project's
    assert creds.basic_auth("https://uv-project.example/x.whl") == "k:11"


def test_a_download_sends_the_login_to_its_host_only(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "w", "pdl_one", "1.0")
    private = Index(login=(USER, TOKEN))
    other = Index(host="127.0.0.2")
    with serve(private), serve(other):
        private.add("pdl-one", wheel.name, wheel.read_bytes())
        other.add("pdl-one", "copy.whl", wheel.read_bytes())
        (tmp_path / "netrc").write_text(f"machine 127.0.0.1 login {USER} password {TOKEN}\n")
        deps = Dependencies(tmp_path / "r.txt", resolve=tmp_path / "r.txt")
        environ = {"NETRC": str(tmp_path / "netrc"), "UV_NO_CONFIG": "1"}
        creds = index_logins.credentials(deps, tmp_path, environ=environ, home=tmp_path)
        sha = sha256_of(wheel)
        for n, url in enumerate(
            (f"{private.url}/files/{wheel.name}", f"{other.url}/files/copy.whl")
        ):
            cache = Cache(tmp_path / f"cache-{n}")
            fetcher = Fetcher(cache, progress=False).with_credentials(creds)
            pin = Pin("pdl-one", "1.0", frozenset({sha}), (WheelFile(wheel.name, url, sha),))
            (got,) = wheels.download([wheels.Chosen(pin, pin.wheels[0])], fetcher, TARGET)
            assert got.path is not None and got.path.read_bytes() == wheel.read_bytes()
    assert [auth for _, auth in private.requests] == ["Basic Y2ktYm90OnMzY3JldC1UMEtFTg=="]
    assert [auth for _, auth in other.requests] == [None]


def test_the_image_gets_no_index_login_of_the_projects_files(tmp_path: Path) -> None:
    files = {
        "requirements.txt": f"-i https://{USER}:{TOKEN}@pypi.corp.example/simple\nflask\n",
        "requirements/prod.in": f"--extra-index-url=https://{TOKEN}@x.example/simple\n"
        f"pkg @ https://u:{TOKEN}@files.example/pkg-1.whl\n",
        "constraints.txt": f"--find-links https://u:{TOKEN}@links.example/\n",
        "pyproject.toml": f'[tool.uv]\nindex-url = "https://u:{TOKEN}@uv.example/simple"\n',
        "Pipfile": f'[[source]]\nurl = "https://u:{TOKEN}@pipenv.example/simple"\n',
        "notes.txt": f"   --index-url https://u:{TOKEN}@anywhere.example/simple\n",
        "settings.py": 'DATABASE = "postgres://app:pw@db/app"\nSITE = "https://u:p@h/"\n',
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    tree = project.files(tmp_path)
    copied = {e.path.removeprefix("app/"): e.data.decode() for e in tree.files()}
    assert TOKEN not in "".join(copied.values())
    assert copied["requirements.txt"] == "-i https://pypi.corp.example/simple\nflask\n"
    assert copied["requirements/prod.in"] == (
        "--extra-index-url=https://x.example/simple\npkg @ https://files.example/pkg-1.whl\n"
    )
    assert copied["notes.txt"] == "   --index-url https://anywhere.example/simple\n"
    assert copied["settings.py"] == files["settings.py"]  # the app's own URLs are its own


def test_report_and_error_lines_hide_logins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert hide_logins(f"GET https://{USER}:{TOKEN}@h.example/simple failed") == (
        "GET https://***@h.example/simple failed"
    )
    assert hide_logins("pushed app@sha256:abc, mail me@example.com") == (
        "pushed app@sha256:abc, mail me@example.com"
    )
    log(f"uv said: 401 for git+https://{TOKEN}@github.com/org/repo")
    assert capsys.readouterr().err == "uv said: 401 for git+https://***@github.com/org/repo\n"

    import pydistroless.cli.app as cli_app
    from pydistroless.cli.main import main

    def fails(project: Path) -> dict:
        raise UsageError(f"requirements.txt:1: 'https://u:{TOKEN}@h/x' is not a requirement")

    monkeypatch.setattr(cli_app, "_app_config", fails)
    assert main(["app", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert TOKEN not in err and "https://***@h/x" in err
