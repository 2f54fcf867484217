"""Registry credentials: found where docker and podman keep them, stored where they look, and
never shown. Hermetic: every path comes from a temporary HOME through ``environ``, and the
credential helper is a small Python script on a temporary PATH that keeps its secrets in a
JSON file."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from pydistroless.core.errors import ConfigError, OutputError, PydistrolessError, UsageError
from pydistroless.registry import keychain
from pydistroless.registry.keychain import DOCKER_HUB_KEY, Location, Secret

PASSWORD = "s3cr3t-Pa55w0rd-never-shown"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.refresh-token-never-shown"

HELPER = """\
import json, os, sys, time

action = sys.argv[1]
data = sys.stdin.read()
path = os.environ["FAKE_HELPER_STORE"]
with open(os.environ["FAKE_HELPER_LOG"], "a") as log:
    log.write(f"{action} {data if action != 'store' else json.loads(data)['ServerURL']}\\n")
try:
    with open(path) as f:
        db = json.load(f)
except FileNotFoundError:
    db = {}
mode = os.environ.get("FAKE_HELPER_MODE", "")
if mode == "fail":
    # a careless helper: it prints everything it knows back in its error
    known = " ".join(entry["Secret"] for entry in db.values())
    print(f"cannot reach the keyring: {data} {known}")
    sys.exit(1)
if mode == "garbage":
    print('{"Username": "me", "Secret": "' + db[data]["Secret"] + '"')
    sys.exit(0)
if mode == "hang":
    time.sleep(60)
if mode == "flood":
    sys.stdout.write("x" * 100_000)
    sys.exit(0)


def save():
    with open(path, "w") as f:
        json.dump(db, f)


if action == "get":
    if data not in db:
        print("credentials not found in native keychain")
        sys.exit(1)
    json.dump({"ServerURL": data, **db[data]}, sys.stdout)
elif action == "store":
    creds = json.loads(data)
    db[creds["ServerURL"]] = {"Username": creds["Username"], "Secret": creds["Secret"]}
    save()
elif action == "erase":
    if data not in db:
        print("credentials not found in native keychain")
        sys.exit(1)
    del db[data]
    save()
else:
    sys.exit(2)
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "run").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-test"
    helper.write_text(f"#!{sys.executable} -SE\n{HELPER}")
    helper.chmod(0o755)
    monkeypatch.setattr(Path, "home", lambda: home)
    return {
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "PATH": f"{bin_dir}{os.pathsep}{os.defpath}",
        "FAKE_HELPER_STORE": str(tmp_path / "helper.json"),
        "FAKE_HELPER_LOG": str(tmp_path / "helper.log"),
    }


def home(env: dict[str, str]) -> Path:
    return Path(env["HOME"])


def docker_config(env: dict[str, str]) -> Path:
    return Path(env.get("DOCKER_CONFIG") or home(env) / ".docker") / "config.json"


def runtime_auth(env: dict[str, str]) -> Path:
    return Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"


def config_auth(env: dict[str, str]) -> Path:
    return home(env) / ".config" / "containers" / "auth.json"


def auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def write_json(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def helper_db(env: dict[str, str]) -> dict[str, dict[str, str]]:
    path = Path(env["FAKE_HELPER_STORE"])
    return json.loads(path.read_text()) if path.exists() else {}


def seed_helper(env: dict[str, str], key: str, user: str, secret: str) -> None:
    write_json(Path(env["FAKE_HELPER_STORE"]), {key: {"Username": user, "Secret": secret}})


def helper_calls(env: dict[str, str]) -> list[str]:
    path = Path(env["FAKE_HELPER_LOG"])
    return path.read_text().splitlines() if path.exists() else []


def assert_one_line_without_secrets(error: BaseException) -> None:
    message = str(error)
    assert "\n" not in message
    for secret in (PASSWORD, TOKEN, base64.b64encode(f"me:{PASSWORD}".encode()).decode()):
        assert secret not in message
        assert secret not in repr(error)


# -- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_has_docker_s_one_key_under_every_name(host: str) -> None:
    assert keychain.registry_key(host) == DOCKER_HUB_KEY
    assert keychain.registry_key(host.upper()) == DOCKER_HUB_KEY


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("ghcr.io", "ghcr.io"),
        ("GHCR.IO", "ghcr.io"),
        ("localhost:5000", "localhost:5000"),
        ("[::1]:5000", "[::1]:5000"),
        ("10.0.0.1:443", "10.0.0.1:443"),
    ],
)
def test_other_registries_are_keyed_by_host_and_port(host: str, key: str) -> None:
    assert keychain.registry_key(host) == key


@pytest.mark.parametrize("host", ["", "ghcr.io/org", "https://ghcr.io", "a b", "host:port", "@x"])
def test_a_malformed_host_is_a_usage_error(host: str) -> None:
    with pytest.raises(UsageError, match="is not a registry host; give HOST or HOST:PORT"):
        keychain.registry_key(host)


# -- finding ----------------------------------------------------------------------------------


def test_nothing_configured_is_anonymous(env: dict[str, str]) -> None:
    assert keychain.find("ghcr.io", env) is None


@pytest.mark.parametrize("where", ["runtime", "config", "xdg-config", "docker", "docker-config"])
def test_each_file_of_the_search_is_read(env: dict[str, str], where: str) -> None:
    if where == "xdg-config":
        env["XDG_CONFIG_HOME"] = str(home(env) / "elsewhere")
        path = home(env) / "elsewhere" / "containers" / "auth.json"
    elif where == "docker-config":
        env["DOCKER_CONFIG"] = str(home(env) / "dc")
        path = docker_config(env)
    else:
        path = {"runtime": runtime_auth, "config": config_auth, "docker": docker_config}[where](env)
    write_json(path, {"auths": {"ghcr.io": auth("me", PASSWORD)}})
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)
    assert keychain.find("quay.io", env) is None


def test_the_legacy_dockercfg_is_read_last(env: dict[str, str]) -> None:
    write_json(home(env) / ".dockercfg", {"https://ghcr.io": auth("old", "legacy")})
    assert keychain.find("ghcr.io", env) == Secret("old", "legacy")
    write_json(docker_config(env), {"auths": {"ghcr.io": auth("me", PASSWORD)}})
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)


def test_the_search_order_is_podman_s(env: dict[str, str]) -> None:
    files = [runtime_auth(env), config_auth(env), docker_config(env)]
    for n, path in enumerate(files):
        write_json(path, {"auths": {"ghcr.io": auth(f"user{n}", f"pw{n}")}})
    for n, path in enumerate(files):
        assert keychain.find("ghcr.io", env) == Secret(f"user{n}", f"pw{n}")
        path.unlink()
    assert keychain.find("ghcr.io", env) is None


def test_registry_auth_file_replaces_the_search(env: dict[str, str], tmp_path: Path) -> None:
    write_json(runtime_auth(env), {"auths": {"ghcr.io": auth("podman", "pw")}})
    write_json(docker_config(env), {"auths": {"quay.io": auth("docker", "pw")}})
    env["REGISTRY_AUTH_FILE"] = str(write_json(tmp_path / "ci.json", {"auths": {}}))
    assert keychain.find("ghcr.io", env) is None
    assert keychain.find("quay.io", env) is None
    write_json(tmp_path / "ci.json", {"auths": {"ghcr.io": auth("ci", PASSWORD)}})
    assert keychain.find("ghcr.io", env) == Secret("ci", PASSWORD)
    del env["REGISTRY_AUTH_FILE"]
    assert keychain.find("ghcr.io", env) == Secret("podman", "pw")


def test_without_xdg_runtime_dir_podman_s_run_folder_is_read(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keychain, "RUN_AUTH_FILE", str(tmp_path / "r" / "{uid}" / "auth.json"))
    del env["XDG_RUNTIME_DIR"]
    assert keychain.find("ghcr.io", env) is None
    write_json(
        tmp_path / "r" / str(os.getuid()) / "auth.json", {"auths": {"ghcr.io": auth("a", "b")}}
    )
    assert keychain.find("ghcr.io", env) == Secret("a", "b")


@pytest.mark.parametrize(
    "key",
    [
        DOCKER_HUB_KEY,
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "https://index.docker.io/v1",
    ],
)
@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_entries_match_under_every_spelling(
    env: dict[str, str], key: str, host: str
) -> None:
    write_json(docker_config(env), {"auths": {key: auth("me", PASSWORD)}})
    assert keychain.find(host, env) == Secret("me", PASSWORD)


@pytest.mark.parametrize("key", ["https://ghcr.io", "http://ghcr.io/v2/", "GHCR.io", "ghcr.io"])
def test_url_forms_of_a_host_match(env: dict[str, str], key: str) -> None:
    write_json(docker_config(env), {"auths": {key: auth("me", PASSWORD)}})
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)
    assert keychain.find("ghcr.io:5000", env) is None


def test_docker_s_own_key_wins_over_other_spellings(env: dict[str, str]) -> None:
    entries = {"docker.io": auth("podman", "pw"), DOCKER_HUB_KEY: auth("docker", "pw")}
    write_json(docker_config(env), {"auths": entries})
    assert keychain.find("docker.io", env) == Secret("docker", "pw")


def test_a_namespaced_entry_is_not_a_login_for_the_whole_host(env: dict[str, str]) -> None:
    write_json(runtime_auth(env), {"auths": {"ghcr.io/org": auth("me", PASSWORD)}})
    assert keychain.find("ghcr.io", env) is None


def test_an_empty_marker_hands_over_to_the_next_file(env: dict[str, str]) -> None:
    write_json(runtime_auth(env), {"auths": {"ghcr.io": {}, "quay.io": {"auth": ""}}})
    write_json(docker_config(env), {"auths": {"ghcr.io": auth("me", PASSWORD)}})
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)
    assert keychain.find("quay.io", env) is None


def test_identity_tokens_are_marked(env: dict[str, str]) -> None:
    entry = {**auth("me", ""), "identitytoken": TOKEN}
    write_json(
        docker_config(env), {"auths": {"myacr.azurecr.io": entry, "x.io": {"identitytoken": TOKEN}}}
    )
    assert keychain.find("myacr.azurecr.io", env) == Secret("me", TOKEN, identity_token=True)
    assert keychain.find("x.io", env) == Secret("", TOKEN, identity_token=True)


def test_plain_username_and_password_fields_are_read(env: dict[str, str]) -> None:
    entry = {"username": "me", "password": PASSWORD, "email": "me@example.com"}
    write_json(docker_config(env), {"auths": {"ghcr.io": entry}})
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)


def test_an_empty_file_is_an_empty_config(env: dict[str, str]) -> None:
    docker_config(env).parent.mkdir()
    docker_config(env).write_text("\n")
    assert keychain.find("ghcr.io", env) is None


# -- credential helpers -----------------------------------------------------------------------


def test_cred_helpers_are_asked_for_their_host(env: dict[str, str]) -> None:
    seed_helper(env, "ghcr.io", "me", PASSWORD)
    write_json(
        docker_config(env),
        {"credHelpers": {"ghcr.io": "test"}, "auths": {"ghcr.io": auth("stale", "stale")}},
    )
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)
    assert helper_calls(env) == ["get ghcr.io"]


def test_a_helper_that_knows_nothing_hands_over(env: dict[str, str]) -> None:
    write_json(runtime_auth(env), {"credHelpers": {"ghcr.io": "test"}})
    write_json(docker_config(env), {"auths": {"ghcr.io": auth("me", PASSWORD)}})
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)
    write_json(runtime_auth(env), {"credHelpers": {"quay.io": "test"}})
    assert keychain.find("quay.io", env) is None


def test_docker_s_creds_store_serves_every_host(env: dict[str, str]) -> None:
    seed_helper(env, "ghcr.io", "me", PASSWORD)
    write_json(docker_config(env), {"credsStore": "test", "auths": {"ghcr.io": {}}})
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)
    assert keychain.find("quay.io", env) is None
    assert helper_calls(env) == ["get ghcr.io", "get quay.io"]


def test_cred_helpers_beat_the_creds_store_which_beats_auths(
    env: dict[str, str], tmp_path: Path
) -> None:
    other = Path(env["PATH"].split(os.pathsep)[0]) / "docker-credential-other"
    other.write_text(
        f"#!{sys.executable} -SE\nimport json\nprint(json.dumps("
        '{"Username": "store", "Secret": "from-store"}))\n'
    )
    other.chmod(0o755)
    seed_helper(env, "ghcr.io", "me", PASSWORD)
    config = {
        "credsStore": "other",
        "credHelpers": {"ghcr.io": "test"},
        "auths": {"ghcr.io": auth("file", "pw"), "quay.io": auth("file", "pw")},
    }
    write_json(docker_config(env), config)
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)
    assert keychain.find("quay.io", env) == Secret("store", "from-store")


def test_creds_store_is_docker_s_key_only(env: dict[str, str]) -> None:
    seed_helper(env, "ghcr.io", "me", PASSWORD)
    write_json(runtime_auth(env), {"credsStore": "test"})
    assert keychain.find("ghcr.io", env) is None
    assert helper_calls(env) == []


def test_a_helper_s_token_user_is_an_identity_token(env: dict[str, str]) -> None:
    seed_helper(env, "myacr.azurecr.io", "<token>", TOKEN)
    write_json(docker_config(env), {"credsStore": "test"})
    assert keychain.find("myacr.azurecr.io", env) == Secret("", TOKEN, identity_token=True)


def test_docker_hub_is_asked_for_under_docker_s_key_then_podman_s(env: dict[str, str]) -> None:
    seed_helper(env, "docker.io", "me", PASSWORD)
    write_json(docker_config(env), {"credHelpers": {"docker.io": "test"}})
    assert keychain.find("registry-1.docker.io", env) == Secret("me", PASSWORD)
    assert helper_calls(env) == [f"get {DOCKER_HUB_KEY}", "get docker.io"]


def test_a_missing_helper_names_itself_and_the_file(env: dict[str, str]) -> None:
    config = write_json(docker_config(env), {"credsStore": "desktop"})
    with pytest.raises(ConfigError) as e:
        keychain.find("ghcr.io", env)
    assert str(e.value) == (
        f"the credential helper docker-credential-desktop named in {config} is not on PATH; "
        f"install it, or remove it from credHelpers/credsStore in {config}"
    )


def test_a_helper_name_cannot_be_a_path(env: dict[str, str]) -> None:
    write_json(docker_config(env), {"credHelpers": {"ghcr.io": "../../../bin/sh"}})
    with pytest.raises(ConfigError, match="is not the name of a credential helper; fix or remove"):
        keychain.find("ghcr.io", env)


def test_a_failing_helper_never_shows_the_secret_it_prints(env: dict[str, str]) -> None:
    seed_helper(env, "ghcr.io", "me", PASSWORD)
    config = write_json(docker_config(env), {"credsStore": "test"})
    env["FAKE_HELPER_MODE"] = "fail"
    with pytest.raises(ConfigError) as e:
        keychain.find("ghcr.io", env)
    message = str(e.value)
    assert message.startswith(
        f"the credential helper docker-credential-test (named in {config}) could not get the "
        "credentials of ghcr.io: it exited with status 1: cannot reach the keyring: ghcr.io"
    )
    assert message.endswith(f"; fix the helper or remove it from {config}")
    assert_one_line_without_secrets(e.value)

    with pytest.raises(ConfigError, match=r"could not store the credentials of ghcr\.io") as e:
        keychain.store("ghcr.io", Secret("me", "short-pw"), env)
    assert "short-pw" not in str(e.value)
    assert_one_line_without_secrets(e.value)

    with pytest.raises(ConfigError, match=r"could not erase the credentials of ghcr\.io") as e:
        keychain.erase("ghcr.io", env)
    assert_one_line_without_secrets(e.value)


def test_a_helper_reply_that_is_nearly_json_is_not_quoted(env: dict[str, str]) -> None:
    seed_helper(env, "ghcr.io", "me", PASSWORD)
    write_json(docker_config(env), {"credsStore": "test"})
    env["FAKE_HELPER_MODE"] = "garbage"
    with pytest.raises(ConfigError, match="printed something other than the JSON") as e:
        keychain.find("ghcr.io", env)
    assert_one_line_without_secrets(e.value)


def test_a_hanging_helper_is_stopped(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keychain, "HELPER_TIMEOUT", 0.3)
    write_json(docker_config(env), {"credsStore": "test"})
    env["FAKE_HELPER_MODE"] = "hang"
    with pytest.raises(ConfigError, match=r"did not finish within 0.3 s; fix the helper"):
        keychain.find("ghcr.io", env)


def test_a_helper_s_output_is_bounded(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keychain, "HELPER_OUTPUT_LIMIT", 10 * 1024)
    write_json(docker_config(env), {"credsStore": "test"})
    env["FAKE_HELPER_MODE"] = "flood"
    with pytest.raises(ConfigError, match="it printed more than 10 KiB"):
        keychain.find("ghcr.io", env)


# -- malformed files --------------------------------------------------------------------------


SECRET_AUTH = auth("me", PASSWORD)["auth"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (f'{{"auths": {{"ghcr.io": {{"auth": "{SECRET_AUTH}"', "it is not JSON (Expecting"),
        (b'{"auths": {"ghcr.io": {"auth": "\xff\xfe"}}}', "it is not UTF-8 (byte 32)"),
        (f'["{SECRET_AUTH}"]', "it is not a JSON object"),
        ('{"auths": ["ghcr.io"]}', '"auths" is not an object'),
        ('{"auths": {"ghcr.io": "x"}}', "the entry 'ghcr.io' of \"auths\" is not an object"),
        ('{"auths": {"ghcr.io": {"auth": 12}}}', "\"auth\" of the entry 'ghcr.io' is not a string"),
        ('{"credHelpers": ["test"]}', '"credHelpers" is not an object of helper names'),
        ('{"credHelpers": {"ghcr.io": 1}}', '"credHelpers" is not an object of helper names'),
        ('{"credsStore": true}', '"credsStore" is not a helper name'),
        ("[" * 100_000, "it nests too deeply to be a credentials file"),
    ],
)
def test_a_malformed_file_is_one_line_naming_it(
    env: dict[str, str], content: str | bytes, why: str
) -> None:
    path = docker_config(env)
    path.parent.mkdir()
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    for action in (
        lambda: keychain.find("ghcr.io", env),
        lambda: keychain.store("ghcr.io", Secret("me", PASSWORD), env),
        lambda: keychain.erase("ghcr.io", env),
    ):
        with pytest.raises(ConfigError) as e:
            action()
        message = str(e.value)
        assert message.startswith(f"cannot read registry credentials in {path}: {why}")
        assert message.endswith("; fix or remove it")
        assert_one_line_without_secrets(e.value)
    assert path.read_bytes() == content


@pytest.mark.parametrize(
    ("auth_value", "why"),
    [
        ("not base64!", "is not base64 text"),
        (base64.b64encode(PASSWORD.encode()).decode(), "is not the base64 of USER:PASSWORD"),
        (base64.b64encode(b"me:\xff").decode(), "is not base64 text"),
    ],
)
def test_a_broken_entry_is_refused_and_a_login_repairs_it(
    env: dict[str, str], auth_value: str, why: str
) -> None:
    path = write_json(docker_config(env), {"auths": {"ghcr.io": {"auth": auth_value}}})
    with pytest.raises(ConfigError) as e:
        keychain.find("ghcr.io", env)
    assert str(e.value) == (
        f"cannot read registry credentials in {path}: \"auth\" of the entry 'ghcr.io' {why}; "
        "fix or remove it"
    )
    assert_one_line_without_secrets(e.value)
    keychain.store("ghcr.io", Secret("me", PASSWORD), env)
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)


def test_a_huge_file_is_not_read(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keychain, "CONFIG_LIMIT", 1024 * 1024)
    write_json(docker_config(env), {"auths": {}, "pad": "x" * (1024 * 1024)})
    with pytest.raises(ConfigError, match="it is larger than 1 MiB; fix or remove it"):
        keychain.find("ghcr.io", env)


@pytest.mark.parametrize("kind", ["directory", "FIFO"])
def test_a_config_that_is_not_a_file_is_refused(env: dict[str, str], kind: str) -> None:
    path = docker_config(env)
    path.parent.mkdir()
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    for action in (
        lambda: keychain.find("ghcr.io", env),
        lambda: keychain.store("ghcr.io", Secret("me", PASSWORD), env),
    ):
        with pytest.raises(ConfigError, match=f"{path}: it is a {kind}, not a regular file; fix"):
            action()
    assert path.is_dir() if kind == "directory" else stat.S_ISFIFO(path.lstat().st_mode)


# -- storing and erasing ----------------------------------------------------------------------


def test_login_writes_docker_s_config_private(env: dict[str, str]) -> None:
    old = os.umask(0o022)
    try:
        assert keychain.store("ghcr.io", Secret("me", PASSWORD), env) == Location(
            docker_config(env)
        )
    finally:
        os.umask(old)
    path = docker_config(env)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"auths": {"ghcr.io": auth("me", PASSWORD)}}
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)
    assert os.listdir(path.parent) == ["config.json"]


def test_the_temporary_is_never_readable_by_others(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_json(docker_config(env), {"auths": {}})
    path.chmod(0o644)
    seen = []
    replace = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        seen.append((Path(src).name, stat.S_IMODE(os.stat(src).st_mode), Path(src).read_text()))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old = os.umask(0)  # even a umask that hides nothing
    try:
        keychain.store("ghcr.io", Secret("me", PASSWORD), env)
    finally:
        os.umask(old)
    [(name, mode, content)] = seen
    assert name.startswith(".config.json.") and mode == 0o600
    assert SECRET_AUTH in content
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_store_and_erase_keep_every_other_key(env: dict[str, str]) -> None:
    original = {
        "auths": {"quay.io": auth("q", "q"), "ghcr.io": auth("old", "old")},
        "credHelpers": {"gcr.io": "gcloud"},
        "psFormat": "table {{.ID}}",
        "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
        "experimental": "enabled",
        "plugins": {"x": {"nested": [1, 2.5, None, True, "ü"]}},
    }
    path = write_json(docker_config(env), original)
    keychain.store("ghcr.io", Secret("me", PASSWORD), env)
    stored = json.loads(path.read_text())
    assert stored == {
        **original,
        "auths": {"quay.io": auth("q", "q"), "ghcr.io": auth("me", PASSWORD)},
    }
    assert list(stored) == list(original)
    assert keychain.erase("ghcr.io", env) is True
    assert json.loads(path.read_text()) == {**original, "auths": {"quay.io": auth("q", "q")}}
    assert keychain.find("ghcr.io", env) is None
    assert keychain.erase("ghcr.io", env) is False


def test_store_replaces_other_spellings_of_the_host(env: dict[str, str]) -> None:
    entries = {
        "docker.io": auth("a", "a"),
        "https://index.docker.io/v1": auth("b", "b"),
        "docker.io/myorg": auth("org", "org"),
        "quay.io": auth("q", "q"),
    }
    path = write_json(docker_config(env), {"auths": entries})
    keychain.store("docker.io", Secret("me", PASSWORD), env)
    assert json.loads(path.read_text())["auths"] == {
        DOCKER_HUB_KEY: auth("me", PASSWORD),
        "docker.io/myorg": auth("org", "org"),
        "quay.io": auth("q", "q"),
    }
    assert keychain.find("index.docker.io", env) == Secret("me", PASSWORD)


def test_store_goes_to_the_registry_auth_file(env: dict[str, str], tmp_path: Path) -> None:
    env["REGISTRY_AUTH_FILE"] = str(tmp_path / "ci" / "auth.json")
    write_json(docker_config(env), {"credsStore": "test"})
    location = keychain.store("ghcr.io", Secret("me", PASSWORD), env)
    assert location == Location(tmp_path / "ci" / "auth.json")
    assert stat.S_IMODE((tmp_path / "ci" / "auth.json").stat().st_mode) == 0o600
    assert json.loads(docker_config(env).read_text()) == {"credsStore": "test"}
    assert helper_calls(env) == []
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)


def test_store_updates_the_file_that_would_be_read_first(env: dict[str, str]) -> None:
    write_json(config_auth(env), {"auths": {"ghcr.io": auth("podman", "stale")}})
    write_json(docker_config(env), {"auths": {}})
    assert keychain.store("ghcr.io", Secret("me", PASSWORD), env) == Location(config_auth(env))
    assert json.loads(docker_config(env).read_text()) == {"auths": {}}
    assert keychain.find("ghcr.io", env) == Secret("me", PASSWORD)


def test_store_in_the_creds_store(env: dict[str, str]) -> None:
    path = write_json(docker_config(env), {"credsStore": "test", "auths": {}})
    location = keychain.store("docker.io", Secret("me", PASSWORD), env)
    assert location == Location(path, "docker-credential-test")
    assert str(location) == f"the credential helper docker-credential-test (configured in {path})"
    assert helper_db(env) == {DOCKER_HUB_KEY: {"Username": "me", "Secret": PASSWORD}}
    assert json.loads(path.read_text()) == {"credsStore": "test", "auths": {}}
    assert keychain.find("docker.io", env) == Secret("me", PASSWORD)
    assert keychain.erase("docker.io", env) is True
    assert helper_db(env) == {}
    assert keychain.find("docker.io", env) is None
    assert keychain.erase("docker.io", env) is False


def test_store_in_the_host_s_cred_helper(env: dict[str, str]) -> None:
    path = write_json(runtime_auth(env), {"credHelpers": {"ghcr.io": "test"}})
    location = keychain.store("ghcr.io", Secret("", TOKEN, identity_token=True), env)
    assert location == Location(path, "docker-credential-test")
    assert helper_db(env) == {"ghcr.io": {"Username": "<token>", "Secret": TOKEN}}
    assert keychain.find("ghcr.io", env) == Secret("", TOKEN, identity_token=True)


def test_an_identity_token_is_stored_as_docker_does(env: dict[str, str]) -> None:
    keychain.store("myacr.azurecr.io", Secret("me", TOKEN, identity_token=True), env)
    entry = json.loads(docker_config(env).read_text())["auths"]["myacr.azurecr.io"]
    assert entry == {**auth("me", ""), "identitytoken": TOKEN}
    assert keychain.find("myacr.azurecr.io", env) == Secret("me", TOKEN, identity_token=True)


def test_erase_removes_the_host_from_every_file(env: dict[str, str]) -> None:
    write_json(runtime_auth(env), {"auths": {"ghcr.io": auth("a", "a"), "quay.io": auth("q", "q")}})
    write_json(docker_config(env), {"auths": {"https://ghcr.io": auth("b", "b")}})
    write_json(home(env) / ".dockercfg", {"ghcr.io": auth("c", "c")})
    assert keychain.erase("ghcr.io", env) is True
    assert keychain.find("ghcr.io", env) is None
    assert json.loads(runtime_auth(env).read_text()) == {"auths": {"quay.io": auth("q", "q")}}
    assert json.loads((home(env) / ".dockercfg").read_text()) == {}


def test_a_symlinked_config_is_written_through(env: dict[str, str]) -> None:
    real = write_json(home(env) / "dotfiles" / "docker.json", {"auths": {}, "psFormat": "x"})
    link = docker_config(env)
    link.parent.mkdir()
    link.symlink_to("../dotfiles/docker.json")
    assert keychain.store("ghcr.io", Secret("me", PASSWORD), env) == Location(link)
    assert link.is_symlink() and os.readlink(link) == "../dotfiles/docker.json"
    assert json.loads(real.read_text())["psFormat"] == "x"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert keychain.erase("ghcr.io", env) is True
    assert link.is_symlink()
    assert json.loads(real.read_text()) == {"auths": {}, "psFormat": "x"}
    assert sorted(os.listdir(real.parent)) == ["docker.json"]


def test_a_dangling_symlink_is_not_followed_into_new_folders(env: dict[str, str]) -> None:
    link = docker_config(env)
    link.parent.mkdir()
    link.symlink_to(home(env) / "nowhere" / "config.json")
    with pytest.raises(OutputError, match="does not exist; remove the link or choose another"):
        keychain.store("ghcr.io", Secret("me", PASSWORD), env)
    assert not (home(env) / "nowhere").exists()


def test_a_user_name_with_a_colon_cannot_be_stored_in_a_file(env: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="has a ':'"):
        keychain.store("ghcr.io", Secret("me:you", PASSWORD), env)
    assert not docker_config(env).exists()


# -- never shown ------------------------------------------------------------------------------


def test_a_secret_never_shows_its_password() -> None:
    for secret in (Secret("me", PASSWORD), Secret("me", TOKEN, identity_token=True)):
        for text in (repr(secret), str(secret), f"{secret}", repr([secret]), repr({"s": secret})):
            assert PASSWORD not in text and TOKEN not in text
            assert "me" in text
    assert repr(Secret("me", PASSWORD)) == "Secret(username='me', password=<hidden>)"


def test_every_failure_is_a_pydistroless_error(env: dict[str, str]) -> None:
    write_json(docker_config(env), {"credsStore": "missing"})
    for action in (
        lambda: keychain.find("ghcr.io", env),
        lambda: keychain.store("ghcr.io", Secret("me", PASSWORD), env),
        lambda: keychain.erase("ghcr.io", env),
    ):
        with pytest.raises(PydistrolessError) as e:
            action()
        assert_one_line_without_secrets(e.value)
