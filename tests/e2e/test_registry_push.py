"""push, pull, copy and login against a real registry (Debian's docker-registry), checked with
skopeo, docker and podman: the digests are the same everywhere.

The images are small (a static busybox, and a second platform of files only), so the tests
measure the protocol, not the build; ``test_build_push.py`` pushes a real base build.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import urllib3

from pydistroless.core.arch import Platform
from pydistroless.fs.tree import Tree
from pydistroless.oci.archive import read_tar, write_tar
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.model import Image, Index
from pydistroless.oci.mutate import append, new_index
from tests.fixtures.images import GREETING, make_image, native_platform, runnable_tree
from tests.fixtures.registry import RunningRegistry, machine_address, start_registry
from tests.fixtures.tools import assert_clean_failure, pydistroless, run

FAST = {"PYDISTROLESS_DEADLINE_SCALE": "0.05"}


@dataclass(frozen=True)
class Images:
    single: Image
    multi: Index
    single_tar: Path
    multi_tar: Path
    big_tar: Path  # a 24 MiB layer on top of single: chunked uploads, time to kill the registry


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, static_busybox: bytes) -> Images:
    native = native_platform()
    other = (
        Platform("amd64") if native.architecture == "arm64" else Platform("arm64", "linux", "v8")
    )
    files_only = Tree()
    files_only.add_file("etc/greeting", f"{other}\n".encode())
    single = make_image(runnable_tree(static_busybox), native)
    multi = new_index((single, make_image(files_only, other)))
    big_tree = Tree()
    big_tree.add_file("var/big", os.urandom(24 << 20))
    big = append(single, [layer_from_tree(big_tree, mtime=0, compression="none")])
    out = tmp_path_factory.mktemp("registry-images")
    write_tar(out / "single.tar", single, tags=["e2e/single:1"])
    write_tar(out / "multi.tar", multi, tags=["e2e/multi:1"])
    write_tar(out / "big.tar", big, tags=["e2e/big:1"])
    return Images(single, multi, out / "single.tar", out / "multi.tar", out / "big.tar")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    running = start_registry(tmp_path / "registry")
    yield running
    running.close()


def push(source: Path | str, ref: str, *extra: str, env: dict[str, str] | None = None):
    return pydistroless("push", source, ref, *extra, env={**FAST, **(env or {})}, timeout=300)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    return result.stdout.strip()


def skopeo_digest(ref: str, *flags: str) -> str:
    raw = run(["skopeo", "inspect", "--raw", *flags, f"docker://{ref}"]).stdout
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def uploads(registry: RunningRegistry) -> list:
    return [r for r in registry.requests() if r.is_blob_upload and not r.is_mount]


# ---- a two-platform index, everywhere --------------------------------------------------


@pytest.mark.skopeo
def test_an_index_pushed_and_pulled_keeps_its_digest_everywhere(
    images: Images, registry: RunningRegistry, tmp_path: Path
) -> None:
    ref = f"{registry.host}/e2e/multi:1"
    assert ok(push(images.multi_tar, ref)) == str(images.multi.digest)
    assert skopeo_digest(ref, "--tls-verify=false") == str(images.multi.digest)

    # our pull, to a layout and to a tar: the same index, the same blobs
    layout = tmp_path / "pulled"
    pulled = ok(pydistroless("pull", ref, "--oci-layout", layout, env=FAST))
    assert pulled == str(images.multi.digest)
    again = ok(pydistroless("pull", ref, "--output", tmp_path / "pulled.tar", env=FAST))
    assert again == pulled
    assert read_tar(tmp_path / "pulled.tar").digest == images.multi.digest
    for blob in (images.single.layers[0].digest, images.single.config_descriptor.digest):
        assert (layout / blob.path).is_file()

    # skopeo's copy of every platform: the same digest
    run(
        [
            "skopeo",
            "copy",
            "--all",
            "--src-tls-verify=false",
            f"docker://{ref}",
            f"oci:{tmp_path / 'sk'}:x",
        ]
    )
    index = json.loads((tmp_path / "sk" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == str(images.multi.digest)

    # one platform
    native = native_platform()
    one = ok(
        pydistroless(
            "pull", ref, "--output", tmp_path / "one.tar", "--platform", str(native), env=FAST
        )
    )
    assert one == str(images.single.digest)


@pytest.mark.docker
def test_copy_from_a_registry_into_docker(
    images: Images, registry: RunningRegistry, docker_engine
) -> None:
    """`copy REF docker-daemon:NAME:TAG` loads the image (the host's platform of an index)
    into docker under that name, with its config and layers as pushed."""
    ref = f"{registry.host}/e2e/multi:copy"
    ok(push(images.multi_tar, ref))
    name = "e2e-copied:1"
    try:
        copied = pydistroless("copy", ref, f"docker-daemon:{name}", env=FAST)
        assert copied.returncode == 0, copied.stderr
        config_id = docker_engine("image", "inspect", "--format", "{{.Id}}", name).stdout.strip()
        assert config_id == str(images.single.config_descriptor.digest)
        assert docker_engine.run(name).stdout == GREETING
    finally:
        docker_engine.remove_images(name)


@pytest.mark.docker
def test_docker_pulls_and_runs_what_was_pushed(
    images: Images, registry: RunningRegistry, docker_engine
) -> None:
    ref = f"{registry.host}/e2e/multi:docker"
    ok(push(images.multi_tar, ref))
    try:
        docker_engine("pull", ref)
        digests = docker_engine("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
        assert f"{registry.host}/e2e/multi@{images.multi.digest}" in json.loads(digests)
        out = docker_engine.run(ref).stdout
        assert out == GREETING
    finally:
        docker_engine.remove_images(ref)


@pytest.mark.docker
def test_docker_pulls_from_a_login_registry_once_it_trusts_the_ca(
    images: Images, tmp_path: Path, docker_engine
) -> None:
    """Basic auth behind TLS from a throwaway CA, on an address docker does not treat as
    insecure (it treats every loopback one so): docker refuses the registry until the CA is
    in its certs.d, then pulls what pydistroless pushed, with the login pydistroless stored."""
    registry = start_registry(
        tmp_path / "registry", htpasswd=("alice", PASSWORD), address=machine_address()
    )
    trust = Path("/etc/docker/certs.d") / registry.host
    ref = f"{registry.host}/private/multi:1"
    env = login_home(tmp_path)
    docker = ("--config", env["DOCKER_CONFIG"])
    ca = ("--ca-cert", str(registry.ca))
    try:
        login = cli(
            "login",
            registry.host,
            "-u",
            "alice",
            "--password-stdin",
            *ca,
            env=env,
            stdin=f"{PASSWORD}\n",
        )
        assert login.returncode == 0, login.stderr
        pushed = cli("push", images.multi_tar, ref, *ca, env=env)
        assert pushed.stdout.strip() == str(images.multi.digest), pushed.stderr

        untrusted = docker_engine(*docker, "pull", ref, check=False)
        assert untrusted.returncode != 0
        assert "certificate" in untrusted.stderr, untrusted.stderr

        trust.mkdir(parents=True)
        (trust / "ca.crt").write_bytes(registry.ca.read_bytes())
        docker_engine(*docker, "pull", ref)
        digests = docker_engine("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
        assert f"{registry.host}/private/multi@{images.multi.digest}" in json.loads(digests)
        assert docker_engine.run(ref).stdout == GREETING
        no_secret_in([login, pushed, untrusted], PASSWORD)
    finally:
        docker_engine.remove_images(ref)
        shutil.rmtree(trust, ignore_errors=True)
        registry.close()


@pytest.mark.podman
def test_podman_pulls_what_was_pushed(images: Images, registry: RunningRegistry, podman) -> None:
    ref = f"{registry.host}/e2e/multi:podman"
    ok(push(images.multi_tar, ref))
    try:
        podman("pull", "--tls-verify=false", ref)
        digest = podman("image", "inspect", "--format", "{{.Digest}}", ref).stdout.strip()
        assert digest == str(images.multi.digest)
    finally:
        podman.remove_images(ref)


# ---- what is sent ------------------------------------------------------------------------


def test_a_second_push_sends_no_blob_and_another_repository_mounts(
    images: Images, registry: RunningRegistry
) -> None:
    ref = f"{registry.host}/e2e/twice:1"
    first = push(images.multi_tar, ref)
    ok(first)
    sent_first = len(uploads(registry))
    assert sent_first > 0
    second = push(images.multi_tar, ref)
    assert ok(second) == str(images.multi.digest)
    assert "0 blob(s) uploaded" in second.stderr, second.stderr
    assert len(uploads(registry)) == sent_first

    copied = pydistroless("copy", ref, f"{registry.host}/e2e/other:1", env=FAST)
    assert ok(copied) == str(images.multi.digest)
    assert len(uploads(registry)) == sent_first, "the copy uploaded blobs instead of mounting"
    assert any(r.is_mount and r.status == 201 for r in registry.requests())
    assert skopeo_digest(f"{registry.host}/e2e/other:1", "--tls-verify=false") == str(
        images.multi.digest
    )


def test_a_push_survives_the_registry_dying_and_no_tag_names_a_partial_image(
    images: Images, registry: RunningRegistry
) -> None:
    ref = f"{registry.host}/e2e/big:1"
    big = read_tar(images.big_tar)
    blobs = [big.config_descriptor.digest, *(layer.digest for layer in big.layers)]
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pydistroless.cli.main", "push", str(images.big_tar), ref],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    http = urllib3.PoolManager(retries=False, timeout=2)
    partial: list[str] = []
    done = threading.Event()

    def watch() -> None:
        # Whenever the tag answers, every blob of the image must be there already.
        while not done.is_set():
            try:
                tag = http.request("HEAD", registry.url("/v2/e2e/big/manifests/1"))
                if tag.status == 200:
                    for digest in blobs:
                        found = http.request("HEAD", registry.url(f"/v2/e2e/big/blobs/{digest}"))
                        if found.status != 200:
                            partial.append(f"{digest}: {found.status}")
            except urllib3.exceptions.HTTPError:
                pass  # the registry is down: nothing to see
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            r.method in ("PATCH", "PUT") for r in uploads(registry)
        ):
            time.sleep(0.01)
        assert process.poll() is None, "the push ended before the registry could be killed"
        registry.stop()
        time.sleep(1.5)
        registry.start()
        out, err = process.communicate(timeout=240)
    finally:
        done.set()
        if process.poll() is None:
            process.kill()
        watcher.join(5)
    assert process.returncode == 0, err
    assert out.strip() == str(big.digest)
    assert skopeo_digest(ref, "--tls-verify=false") == str(big.digest)
    assert partial == []


# ---- logins ------------------------------------------------------------------------------

PASSWORD = "s3cr3t-Pa55-word"


def cli(*args: str | Path, env: dict[str, str], stdin: str | None = None):
    full = {
        k: v for k, v in os.environ.items() if k not in ("SOURCE_DATE_EPOCH", "REGISTRY_AUTH_FILE")
    }
    full.update(FAST)
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pydistroless.cli.main", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
    )


def login_home(tmp_path: Path) -> dict[str, str]:
    """A user whose docker and podman logins live under tmp_path only."""
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    return {
        "HOME": str(home),
        "DOCKER_CONFIG": str(home / ".docker"),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "XDG_CONFIG_HOME": str(home / ".config"),
    }


def no_secret_in(results: list[subprocess.CompletedProcess[str]], *secrets_: str) -> None:
    import base64

    needles = [*secrets_]
    needles += [
        base64.b64encode(f"{u}:{s}".encode()).decode()
        for u in ("alice", "tester")
        for s in secrets_
    ]
    for result in results:
        for needle in needles:
            assert needle not in result.stdout + result.stderr, describe_result(result)


def describe_result(result: subprocess.CompletedProcess[str]) -> str:
    return f"{' '.join(map(str, result.args))} -> {result.returncode}\n{result.stderr}"


def test_basic_auth_over_tls_login_push_pull_and_every_refusal(
    images: Images, tmp_path: Path
) -> None:
    registry = start_registry(tmp_path / "registry", htpasswd=("alice", PASSWORD))
    try:
        env = login_home(tmp_path)
        ref = f"{registry.host}/private/app:1"
        ca = ("--ca-cert", str(registry.ca))
        results = []

        untrusted = cli("push", images.single_tar, ref, env=env)
        results.append(untrusted)
        assert_clean_failure(untrusted, 13, registry.host, "--ca-cert")

        anonymous = cli("push", images.single_tar, ref, *ca, env=env)
        results.append(anonymous)
        assert_clean_failure(anonymous, 11, "pydistroless login")

        wrong = cli(
            "login", registry.host, "-u", "alice", "--password-stdin", *ca, env=env, stdin="nope\n"
        )
        results.append(wrong)
        assert_clean_failure(wrong, 11, "alice")
        assert not (tmp_path / "home" / ".docker" / "config.json").exists()

        debug = cli(
            "--debug",
            "login",
            registry.host,
            "-u",
            "alice",
            "--password-stdin",
            *ca,
            env=env,
            stdin=f"{PASSWORD}x\n",
        )
        results.append(debug)
        assert debug.returncode != 0

        good = cli(
            "login",
            registry.host,
            "-u",
            "alice",
            "--password-stdin",
            *ca,
            env=env,
            stdin=f"{PASSWORD}\n",
        )
        results.append(good)
        assert good.returncode == 0, good.stderr
        config = tmp_path / "home" / ".docker" / "config.json"
        assert oct(config.stat().st_mode & 0o777) == "0o600"

        pushed = cli("push", images.single_tar, ref, *ca, env=env)
        results.append(pushed)
        assert pushed.stdout.strip() == str(images.single.digest), pushed.stderr
        pulled = cli("pull", ref, "--output", tmp_path / "back.tar", *ca, env=env)
        results.append(pulled)
        assert pulled.stdout.strip() == str(images.single.digest), pulled.stderr

        # skopeo reads the same login and sees the same image
        inspected = run(
            ["skopeo", "inspect", "--raw", "--cert-dir", str(registry.cert_dir), f"docker://{ref}"],
            env={**os.environ, **env},
        )
        assert hashlib.sha256(inspected.stdout.encode()).hexdigest() == images.single.digest.hex

        out = cli("logout", registry.host, env=env)
        results.append(out)
        assert out.returncode == 0
        after = cli("pull", ref, "--output", tmp_path / "again.tar", *ca, env=env)
        results.append(after)
        assert_clean_failure(after, 11)
        no_secret_in(results, PASSWORD, f"{PASSWORD}x")
    finally:
        registry.close()


def test_bearer_tokens_for_push_and_anonymous_pull(images: Images, tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "registry", token=True)
    try:
        env = login_home(tmp_path)
        assert registry.username and registry.password
        results = []
        private = f"{registry.host}/private/app:1"
        public = f"{registry.host}/public/app:1"
        denied = cli("push", images.single_tar, private, env=env)
        results.append(denied)
        assert_clean_failure(denied, 11, "pydistroless login")

        login = cli(
            "login",
            registry.host,
            "-u",
            registry.username,
            "--password-stdin",
            env=env,
            stdin=registry.password + "\n",
        )
        results.append(login)
        assert login.returncode == 0, login.stderr
        for ref in (private, public):
            pushed = cli("push", images.multi_tar, ref, env=env)
            results.append(pushed)
            assert pushed.stdout.strip() == str(images.multi.digest), pushed.stderr
        asked = [set(r.scopes) for r in registry.token_requests if r.basic]
        assert any("repository:private/app:pull,push" in s for s in asked), asked

        stranger = login_home(tmp_path / "stranger")
        pulled = cli("pull", public, "--oci-layout", tmp_path / "public", env=stranger)
        results.append(pulled)
        assert pulled.stdout.strip() == str(images.multi.digest), pulled.stderr
        refused = cli("pull", private, "--oci-layout", tmp_path / "private", env=stranger)
        results.append(refused)
        assert_clean_failure(refused, 11)
        no_secret_in(results, registry.password)
    finally:
        registry.close()


# ---- bad input ---------------------------------------------------------------------------


class TamperingProxy:
    """Forwards GET and HEAD to the registry, flipping one byte of every blob it serves."""

    def __init__(self, upstream: str) -> None:
        import http.server

        self.upstream = upstream
        http_ = urllib3.PoolManager(retries=False)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self, method: str) -> None:
                headers = {k: v for k, v in self.headers.items() if k in ("Accept", "Range")}
                response = http_.request(
                    method, proxy.upstream + self.path, headers=headers, redirect=True
                )
                body = response.data
                if method == "GET" and "/blobs/sha256:" in self.path and body:
                    body = body[:-1] + bytes([body[-1] ^ 1])
                self.send_response(response.status)
                for key in ("Content-Type", "Docker-Content-Digest", "WWW-Authenticate"):
                    if key in response.headers:
                        self.send_header(key, response.headers[key])
                self.send_header(
                    "Content-Length",
                    str(
                        len(body)
                        if method == "GET"
                        else response.headers.get("Content-Length", "0")
                    ),
                )
                self.end_headers()
                if method == "GET":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_HEAD(self) -> None:
                self._forward("HEAD")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_bad_references_and_registries_are_one_line_errors(
    images: Images, registry: RunningRegistry, tmp_path: Path
) -> None:
    ok(push(images.single_tar, f"{registry.host}/e2e/known:1"))
    out = tmp_path / "out.tar"
    cases = [
        (("pull", f"{registry.host}/e2e/unknown:1", "-o", out), 12, "e2e/unknown"),
        (("pull", f"{registry.host}/e2e/known:nope", "-o", out), 12, "nope"),
        (
            ("pull", f"{registry.host}/e2e/known:1", "-o", out, "--platform", "linux/s390x"),
            14,
            "s390x",
        ),
        (("pull", "127.0.0.1:9/e2e/x:1", "-o", out), 10, "127.0.0.1:9"),
        (("pull", "Not A/Reference", "-o", out), 2, "Not A/Reference"),
        (("push", tmp_path / "missing.tar", f"{registry.host}/e2e/x:1"), 2, "missing.tar"),
    ]
    for args, code, needle in cases:
        result = cli(*args, env={})
        assert_clean_failure(result, code, needle)
        assert not out.exists()

    proxy = TamperingProxy(registry.url())
    try:
        tampered = cli("pull", f"{proxy.host}/e2e/known:1", "-o", out, env={})
        assert_clean_failure(tampered, 4, "sha256:")
        assert not out.exists()
    finally:
        proxy.close()


@pytest.mark.docker
def test_an_image_docker_built_and_saved_keeps_its_digests(
    registry: RunningRegistry, docker_engine, static_busybox: bytes, tmp_path: Path
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "busybox").write_bytes(static_busybox)
    (context / "busybox").chmod(0o755)
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\nCMD ["true"]\n'
    )
    tag = f"pydistroless-e2e/docker-built:{registry.port}"
    try:
        docker_engine("build", "-q", "-t", tag, str(context))
        docker_engine("save", "-o", str(tmp_path / "saved.tar"), tag)
    finally:
        docker_engine.remove_images(tag)
    saved = read_tar(tmp_path / "saved.tar")
    first = f"{registry.host}/e2e/docker-built:1"
    assert ok(push(tmp_path / "saved.tar", first)) == str(saved.digest)
    pulled = ok(pydistroless("pull", first, "--output", tmp_path / "pulled.tar", env=FAST))
    assert pulled == str(saved.digest)
    second = f"{registry.host}/e2e/docker-copy:1"
    assert ok(push(tmp_path / "pulled.tar", second)) == str(saved.digest)
    for ref in (first, second):
        assert skopeo_digest(ref, "--tls-verify=false") == str(saved.digest)
