"""The real-registry harness of tests/fixtures/registry.py works: plain, htpasswd over TLS and
token auth registries answer, refuse what they should, survive a restart on the same port,
log their requests, and take a push from a real client (skopeo)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import urllib3

from tests.fixtures.registry import RunningRegistry, registry
from tests.fixtures.tools import need_command

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(autouse=True)
def _tools() -> None:
    need_command("docker-registry")


def _http(reg: RunningRegistry) -> urllib3.PoolManager:
    if reg.ca is None:
        return urllib3.PoolManager(retries=False, timeout=10)
    return urllib3.PoolManager(ca_certs=str(reg.ca), retries=False, timeout=10)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _get(reg: RunningRegistry, path: str, **headers: str) -> urllib3.BaseHTTPResponse:
    return _http(reg).request("GET", reg.url(path), headers=headers)


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _oci_layout(directory: Path, tag: str = "1") -> dict[str, str]:
    """A one-layer OCI image layout written by hand; the digests of its parts."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        payload = b"hello from the registry harness\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode, info.mtime = len(payload), 0o644, 0
        tar.addfile(info, io.BytesIO(payload))
    diff = tar_bytes.getvalue()
    layer = gzip.compress(diff, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [_sha256(diff)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for data in (layer, config, manifest):
        (blobs / _sha256(data).removeprefix("sha256:")).write_bytes(data)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": _sha256(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    return {"manifest": _sha256(manifest), "config": _sha256(config), "layer": _sha256(layer)}


def _skopeo_push(
    reg: RunningRegistry, layout: Path, reference: str, tmp: Path, creds: str | None = None
) -> None:
    skopeo = need_command("skopeo")
    command = [skopeo, "--insecure-policy", "copy", "--quiet"]
    if reg.cert_dir is not None:
        command += ["--dest-cert-dir", str(reg.cert_dir)]
    else:
        command += ["--dest-tls-verify=false"]
    command += ["--dest-creds", creds] if creds else ["--dest-no-creds"]
    command += ["--dest-authfile", str(tmp / "no-auth.json")]
    command += [f"oci:{layout}:1", f"docker://{reg.host}/{reference}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{result.stderr}\n--- registry log ---\n{reg.log_tail()}"


def _manifest_status(reg: RunningRegistry, reference: str, **headers: str) -> int:
    name, _, tag = reference.rpartition(":")
    return _get(reg, f"/v2/{name}/manifests/{tag}", Accept=OCI_MANIFEST, **headers).status


@pytest.mark.skopeo
def test_plain_registry_takes_a_push_and_survives_a_restart(tmp_path: Path) -> None:
    digests = _oci_layout(tmp_path / "layout")
    with registry(tmp_path / "reg") as reg:
        assert reg.scheme == "http" and reg.ca is None and reg.username is None
        assert reg.url("/v2/") == f"http://{reg.host}/v2/"
        assert _get(reg, "/v2/").status == 200

        _skopeo_push(reg, tmp_path / "layout", "test/x:1", tmp_path)
        assert _manifest_status(reg, "test/x:1") == 200
        layer_data = reg.root / "docker/registry/v2/blobs/sha256" / digests["layer"][7:9]
        assert (layer_data / digests["layer"][7:] / "data").is_file()
        uploads = [r for r in reg.requests() if r.is_blob_upload]
        assert uploads and all(r.repo == "test/x" for r in uploads)
        assert any(r.method == "PUT" and r.status == 201 for r in uploads)
        assert any(
            r.method == "PUT" and r.path == "/v2/test/x/manifests/1" and r.status == 201
            for r in reg.requests()
        )

        host = reg.host
        before = len(reg.requests())
        reg.stop()
        with pytest.raises(urllib3.exceptions.HTTPError):
            _get(reg, "/v2/")
        reg.start()
        assert reg.host == host
        assert _manifest_status(reg, "test/x:1") == 200  # same storage
        seen = reg.requests()
        assert len(seen) > before  # the log is appended, not replaced
        assert seen[-1].path == "/v2/test/x/manifests/1" and seen[-1].status == 200
    reg.close()  # idempotent
    with pytest.raises(urllib3.exceptions.HTTPError):
        _get(reg, "/v2/")


@pytest.mark.skopeo
def test_htpasswd_registry_over_tls(tmp_path: Path) -> None:
    _oci_layout(tmp_path / "layout")
    with registry(tmp_path / "reg", htpasswd=("alice", "s3cret:pw")) as reg:
        assert reg.scheme == "https" and reg.ca is not None
        assert (reg.username, reg.password) == ("alice", "s3cret:pw")
        assert (reg.cert_dir / "ca.crt").read_bytes() == reg.ca.read_bytes()
        assert _get(reg, "/v2/").status == 401
        assert _get(reg, "/v2/", **_basic("alice", "wrong")).status == 401
        assert _get(reg, "/v2/", **_basic("mallory", "s3cret:pw")).status == 401
        assert _get(reg, "/v2/", **_basic("alice", "s3cret:pw")).status == 200
        with pytest.raises(urllib3.exceptions.SSLError):  # not trusted without the CA
            urllib3.PoolManager(retries=False).request("GET", reg.url("/v2/"))

        _skopeo_push(reg, tmp_path / "layout", "test/x:1", tmp_path, creds="alice:s3cret:pw")
        assert _manifest_status(reg, "test/x:1", **_basic("alice", "s3cret:pw")) == 200

        reg.stop()
        reg.start()
        assert _get(reg, "/v2/", **_basic("alice", "s3cret:pw")).status == 200
        assert [r.status for r in reg.requests() if r.path == "/v2/"][:4] == [401] * 4


def _token(reg: RunningRegistry, *scopes: str, auth: tuple[str, str] | None = None):
    query = "&".join(["service=pydistroless-test-registry", *(f"scope={s}" for s in scopes)])
    headers = _basic(*auth) if auth else {}
    return _http(reg).request("GET", f"{reg.token_realm}?{query}", headers=headers)


def _bearer(response: urllib3.BaseHTTPResponse) -> dict[str, str]:
    assert response.status == 200, response.data
    body = response.json()
    assert body["token"] == body["access_token"] and body["expires_in"] == 300
    return {"Authorization": f"Bearer {body['token']}"}


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_token_registry(tmp_path: Path, tls: bool) -> None:
    with registry(tmp_path / "reg", token=True, tls=tls) as reg:
        assert reg.scheme == ("https" if tls else "http")
        assert reg.token_realm.startswith(f"{reg.scheme}://127.0.0.1:")
        user = (reg.username, reg.password)

        challenge = _get(reg, "/v2/")
        assert challenge.status == 401
        assert challenge.headers["WWW-Authenticate"].startswith(
            f'Bearer realm="{reg.token_realm}",service="pydistroless-test-registry"'
        )

        # anonymous: pull on public/*, and the registry accepts that token
        anonymous = _bearer(_token(reg, "repository:public/x:pull"))
        listed = _get(reg, "/v2/public/x/tags/list", **anonymous)
        assert listed.status == 404 and listed.json()["errors"][0]["code"] == "NAME_UNKNOWN"
        assert _get(reg, "/v2/", **anonymous).status == 200
        # ... and nothing elsewhere: a token without that access is refused with 401
        private = _bearer(_token(reg, "repository:private/x:pull"))
        assert _get(reg, "/v2/private/x/tags/list", **private).status == 401
        no_push = _bearer(_token(reg, "repository:public/x:pull,push"))
        upload = _http(reg).request("POST", reg.url("/v2/public/x/blobs/uploads/"), headers=no_push)
        assert upload.status == 401
        assert 'error="insufficient_scope"' in upload.headers["WWW-Authenticate"]

        # the user: push anywhere; scopes may repeat
        push = _bearer(
            _token(reg, "repository:test/x:pull,push", "repository:test/y:pull", auth=user)
        )
        upload = _http(reg).request("POST", reg.url("/v2/test/x/blobs/uploads/"), headers=push)
        assert upload.status == 202, upload.data
        assert upload.headers["Location"]
        assert _get(reg, "/v2/test/y/tags/list", **push).status == 404  # accepted, just empty

        # a wrong password, or a token signed by nobody the registry trusts
        assert _token(reg, "repository:test/x:pull", auth=(reg.username, "wrong")).status == 401
        assert _token(reg, "repository:test/x:pull", auth=("mallory", reg.password)).status == 401
        forged = push["Authorization"][:-8] + ("A" * 8)
        assert _get(reg, "/v2/", Authorization=forged).status == 401

        asked = [(t.scopes, t.basic, t.user, t.status) for t in reg.token_requests]
        assert asked == [
            (("repository:public/x:pull",), False, None, 200),
            (("repository:private/x:pull",), False, None, 200),
            (("repository:public/x:pull,push",), False, None, 200),
            (("repository:test/x:pull,push", "repository:test/y:pull"), True, "tester", 200),
            (("repository:test/x:pull",), True, "tester", 401),
            (("repository:test/x:pull",), True, "mallory", 401),
        ]
        assert reg.token_requests[1].granted == ()
        assert reg.token_requests[2].granted == (("repository", "public/x", ("pull",)),)

        reg.stop()
        reg.start()
        assert _get(reg, "/v2/", **push).status == 200  # the token server outlives a restart
        posts = [r for r in reg.requests() if r.is_blob_upload]
        assert [(r.path, r.status) for r in posts] == [
            ("/v2/public/x/blobs/uploads/", 401),
            ("/v2/test/x/blobs/uploads/", 202),
        ]


@pytest.mark.skopeo
def test_token_registry_takes_a_push_and_a_mount(tmp_path: Path) -> None:
    digests = _oci_layout(tmp_path / "layout")
    with registry(tmp_path / "reg", token=True, tls=True) as reg:
        creds = f"{reg.username}:{reg.password}"
        _skopeo_push(reg, tmp_path / "layout", "test/x:1", tmp_path, creds=creds)
        assert any(t.basic and t.status == 200 for t in reg.token_requests)
        user = (reg.username, reg.password)
        pull = _bearer(_token(reg, "repository:test/x:pull", auth=user))
        assert _manifest_status(reg, "test/x:1", **pull) == 200

        both = _bearer(
            _token(reg, "repository:test/y:pull,push", "repository:test/x:pull", auth=user)
        )
        mount = _http(reg).request(
            "POST",
            reg.url(f"/v2/test/y/blobs/uploads/?mount={digests['layer']}&from=test/x"),
            headers=both,
        )
        assert mount.status == 201, mount.data
        mounts = [r for r in reg.requests() if r.is_mount]
        assert [(r.repo, r.status) for r in mounts] == [("test/y", 201)]
        assert f"mount={digests['layer']}" in mounts[0].query
