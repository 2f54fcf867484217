"""Image signatures against the real cosign 2.5 (trixie's, ``tests/fixtures/cosign.py``) and
a real registry, both ways: ``cosign verify --key`` accepts what ``pydistroless push``,
``copy``, ``sign``, ``build --push`` and ``app --push`` sign (a single image and a two-arch
index, each platform's image too), and ``pydistroless verify`` / ``--verify-key`` accept
what ``cosign sign --key`` signed. A tampered payload, another key, a signature of another
image, a tag moved to an unsigned image and a bundle of another image each fail in one
line, and cosign refuses the same. Over TLS with a login as well as plain HTTP on
localhost. Nothing anywhere (outputs, files, the cache, the registry's storage) holds the
private key or its password.

The images are small ones made here, except the base and app of the build test.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from pydistroless.core import keys
from pydistroless.core.digest import Digest
from pydistroless.core.errors import KeyFileError
from pydistroless.oci.reference import parse
from pydistroless.registry import referrers, signatures
from pydistroless.transfer.places import RegistryOptions
from tests.fixtures.cosign import cosign, cosign_ok, key_pair
from tests.fixtures.images import small_image, two_arch_index
from tests.fixtures.registry import RunningRegistry, start_registry
from tests.fixtures.tools import assert_clean_failure, describe, need_network, pydistroless

pytestmark = pytest.mark.network

PASSWORD = "sig-e2e-password-5c81"
EXIT_SIGNATURE = 4
EXIT_USAGE = 2
EXAMPLES = Path(__file__).parents[2] / "examples"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class Keys:
    ours: Path  # pydistroless keygen's
    ours_pub: Path
    theirs: Path  # cosign generate-key-pair's
    theirs_pub: Path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    need_network()
    folder = tmp_path_factory.mktemp("keys")
    ok(pydistroless("keygen", "--output-prefix", folder / "ours", env=signing()))
    theirs, theirs_pub = key_pair(folder / "cosign", PASSWORD)
    return Keys(folder / "ours.key", folder / "ours.pub", theirs, theirs_pub)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield running
    finally:
        running.close()


def signing() -> dict[str, str]:
    return {"COSIGN_PASSWORD": PASSWORD}


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, describe(result)
    return result.stdout.strip()


def cosign_verify(pub: Path, ref: str, *extra: str, **kw) -> subprocess.CompletedProcess[str]:
    return cosign(
        "verify",
        "--key",
        pub,
        "--insecure-ignore-tlog=true",
        "--allow-insecure-registry",
        *extra,
        ref,
        **kw,
    )


def cosign_sign(key: Path, ref: str, *extra: str, **kw) -> None:
    cosign_ok(
        "sign",
        "--key",
        key,
        "--tlog-upload=false",
        "--allow-insecure-registry",
        *extra,
        ref,
        password=PASSWORD,
        **kw,
    )


def claims(cosign_stdout: str) -> list[dict]:
    """The simple-signing claims cosign printed as verified (a JSON list)."""
    return json.loads(cosign_stdout)


def verify(ref: str, pub: Path, *extra: str, **kw) -> subprocess.CompletedProcess[str]:
    return pydistroless("verify", ref, "--key", pub, *extra, **kw)


def children(registry: RunningRegistry, repo: str, digest: str) -> list[str]:
    repository = RegistryOptions().repository(parse(f"{repo}@{digest}"))
    index = json.loads(repository.fetch_manifest(digest).data)
    return [m["digest"] for m in index["manifests"]]


# ---- the keys, both ways ----------------------------------------------------------------


def test_cosign_and_we_read_each_other_s_key_files(pair: Keys, tmp_path: Path) -> None:
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"signed by one, checked by the other\n")
    # cosign signs with the key pydistroless keygen made; we verify with its .pub
    signature = tmp_path / "blob.sig"
    cosign_ok("sign-blob", "--key", pair.ours, "--tlog-upload=false",
              "--output-signature", signature, blob, password=PASSWORD)  # fmt: skip
    ours = keys.read_public(pair.ours_pub.read_bytes(), where="ours.pub")
    assert ours.verifies(base64.b64decode(signature.read_text()), blob.read_bytes())
    # we sign with the key cosign generate-key-pair made; cosign verifies with its .pub
    theirs = keys.read_private(pair.theirs.read_bytes(), lambda: PASSWORD.encode(), where="k")
    assert theirs.public == keys.read_public(pair.theirs_pub.read_bytes(), where="cosign.pub")
    signature.write_text(base64.b64encode(theirs.sign(blob.read_bytes())).decode())
    cosign_ok("verify-blob", "--key", pair.theirs_pub, "--insecure-ignore-tlog=true",
              "--signature", signature, blob)  # fmt: skip
    # a wrong password, on cosign's own file: one line
    with pytest.raises(KeyFileError, match="the password does not open this key"):
        keys.read_private(pair.theirs.read_bytes(), lambda: b"wrong", where="cosign.key")


# ---- cosign verifies what we sign -----------------------------------------------------


def test_cosign_verifies_a_pushed_image_and_an_index_with_each_platform(
    pair: Keys, registry: RunningRegistry, tmp_path: Path
) -> None:
    single = f"{registry.host}/signed/single"
    digest = ok(
        pydistroless(
            "push", small_image(tmp_path, "single"), f"{single}:1", "--sign-key", pair.ours,
            env=signing(),
        )
    )  # fmt: skip
    [claim] = claims(ok(cosign_verify(pair.ours_pub, f"{single}:1")))
    assert claim["critical"] == {
        "identity": {"docker-reference": single},
        "image": {"docker-manifest-digest": digest},
        "type": "cosign container image signature",
    }
    assert ok(verify(f"{single}:1", pair.ours_pub)) == digest
    # another key: cosign and we refuse
    assert cosign_verify(pair.theirs_pub, f"{single}:1").returncode != 0
    error = assert_clean_failure(verify(f"{single}:1", pair.theirs_pub), EXIT_SIGNATURE)
    assert error == (
        f"pydistroless: error: no signature of {single}:1 ({digest}) verifies: "
        f"sha256-{digest[7:]}.sig: its signature does not verify with the key "
        "(and 1 more that do not verify)"
    )

    multi = f"{registry.host}/signed/multi"
    index = ok(
        pydistroless(
            "push", two_arch_index(tmp_path, "multi"), f"{multi}:1", "--sign-key", pair.ours,
            env=signing(),
        )
    )  # fmt: skip
    [claim] = claims(ok(cosign_verify(pair.ours_pub, f"{multi}:1")))
    assert claim["critical"]["image"]["docker-manifest-digest"] == index
    platforms = children(registry, multi, index)
    assert len(platforms) == 2
    for child in platforms:
        [claim] = claims(ok(cosign_verify(pair.ours_pub, f"{multi}@{child}")))
        assert claim["critical"]["image"]["docker-manifest-digest"] == child
        assert ok(verify(f"{multi}@{child}", pair.ours_pub)) == child
    # one platform of the verified index, pulled: the index's signature vouches for it
    arm = tmp_path / "arm64.tar"
    pulled = pydistroless(
        "pull", f"{multi}:1", "-o", arm, "--platform", "linux/arm64", "--verify-key", pair.ours_pub
    )
    assert ok(pulled) in platforms
    assert f"verified {multi}:1 ({index}): 2 signature(s) by key" in pulled.stderr


def test_cosign_reads_our_signature_in_its_sig_tag_and_our_bundle_as_a_referrer(
    pair: Keys, registry: RunningRegistry, tmp_path: Path
) -> None:
    ref = f"{registry.host}/signed/places:1"
    digest = ok(
        pydistroless("push", small_image(tmp_path, "places"), ref, "--sign-key", pair.ours,
                     env=signing())
    )  # fmt: skip
    repository = RegistryOptions().repository(parse(ref))
    tag = f"sha256-{digest[7:]}.sig"
    manifest = json.loads(repository.fetch_manifest(tag).data)
    assert manifest["mediaType"] == OCI_MANIFEST
    [layer] = manifest["layers"]
    assert layer["mediaType"] == SIMPLE_SIGNING
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    public = keys.read_public(pair.ours_pub.read_bytes(), where="pub")
    assert public.verifies(signature, _blob(repository, layer["digest"]))
    # the Sigstore bundle v0.3 (cosign 3's place), found through the referrers fallback tag
    [bundle] = referrers.referring(
        repository, Digest.parse(digest), "application/vnd.dev.sigstore.bundle.v0.3+json"
    )
    annotations = dict(bundle.annotations)
    assert annotations["dev.sigstore.bundle.predicateType"] == "https://sigstore.dev/cosign/sign/v1"
    assert annotations["dev.sigstore.bundle.content"] == "dsse-envelope"
    document = json.loads(
        referrers.fetch_document(repository, bundle, where="bundle", limit=1 << 20)
    )
    assert document["verificationMaterial"] == {"publicKey": {"hint": public.hint}}
    envelope = document["dsseEnvelope"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["subject"] == [{"digest": {"sha256": digest[7:]}}]
    # cosign's own reader of bundles (sigstore-go's, in `verify-attestation
    # --new-bundle-format`) verifies it offline, with a trusted root of no log and no
    # authority: the key alone; and refuses it with another key
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps(EMPTY_TRUSTED_ROOT))
    read = cosign_bundles(pair.ours_pub, ref, root, "https://sigstore.dev/cosign/sign/v1")
    [verified] = statements_of(ok(read))
    assert verified == statement
    other = cosign_bundles(pair.theirs_pub, ref, root, "https://sigstore.dev/cosign/sign/v1")
    assert other.returncode != 0, describe(other)


# A Sigstore trusted root that trusts no log, no certificate authority, no timestamp
# authority: with --key and --insecure-ignore-tlog, only the key vouches.
EMPTY_TRUSTED_ROOT = {
    "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "tlogs": [],
    "certificateAuthorities": [],
    "ctlogs": [],
    "timestampAuthorities": [],
}


def cosign_bundles(pub: Path, ref: str, root: Path, kind: str) -> subprocess.CompletedProcess[str]:
    """cosign 2.5 reading the Sigstore bundles that refer to ``ref`` (cosign 3's place)."""
    return cosign(
        "verify-attestation", "--new-bundle-format", "--trusted-root", root, "--type", kind,
        "--key", pub, "--insecure-ignore-tlog=true", "--allow-insecure-registry", ref,
    )  # fmt: skip


def statements_of(cosign_stdout: str) -> list[dict]:
    """The in-toto statements of the DSSE envelopes cosign printed, one a line."""
    found = []
    for line in cosign_stdout.splitlines():
        if line.strip():
            envelope = json.loads(line)
            assert envelope["payloadType"] == "application/vnd.in-toto+json"
            found.append(json.loads(base64.b64decode(envelope["payload"])))
    return found


def test_we_verify_the_bundles_cosign_attaches_as_referrers(
    pair: Keys, registry: RunningRegistry, tmp_path: Path
) -> None:
    repo = f"{registry.host}/bundled/app"
    digest = ok(pydistroless("push", small_image(tmp_path, "bundled"), f"{repo}:1"))
    predicate = tmp_path / "predicate.json"
    predicate.write_text(json.dumps({"checked": "by hand"}))
    cosign_ok(
        "attest", "--new-bundle-format", "--key", pair.theirs, "--type", "custom",
        "--predicate", predicate, "--tlog-upload=false", "--allow-insecure-registry",
        f"{repo}@{digest}", password=PASSWORD,
    )  # fmt: skip
    repository = RegistryOptions().repository(parse(f"{repo}:1"))
    # only a referrer: no .att tag
    assert repository.referrers(Digest.parse(digest))
    custom = "https://cosign.sigstore.dev/attestation/v1"
    done = verify(f"{repo}:1", pair.theirs_pub, "--attestation", "custom")
    # the verified predicate, printed (cosign's custom type wraps the file in Data)
    [printed] = [json.loads(line) for line in ok(done).splitlines()]
    assert json.loads(printed["Data"]) == {"checked": "by hand"}
    [verified] = signatures.verify_attestations(
        repository, Digest.parse(digest), keys.read_public(pair.theirs_pub.read_bytes(),
        where="pub"), custom, where=repo,
    )  # fmt: skip
    assert verified.place.startswith("referrer sha256:")
    assert json.loads(verified.payload)["subject"][0]["digest"] == {"sha256": digest[7:]}
    wrong = verify(f"{repo}:1", pair.ours_pub, "--attestation", "custom")
    error = assert_clean_failure(wrong, EXIT_SIGNATURE)
    assert error.endswith("its envelope: no signature in it verifies with the key")
    # it is an attestation, not a signature of the image
    unsigned = assert_clean_failure(verify(f"{repo}:1", pair.theirs_pub), EXIT_SIGNATURE)
    assert unsigned.endswith("found; sign it with `pydistroless sign` or `cosign sign --key`")


def _blob(repository, digest: str) -> bytes:
    import io

    out = io.BytesIO()
    repository.fetch_blob(Digest.parse(digest), out)
    return out.getvalue()


# ---- we verify what cosign signed ------------------------------------------------------


def test_we_verify_pull_and_copy_what_cosign_signed_and_a_resign_keeps_both(
    pair: Keys, registry: RunningRegistry, tmp_path: Path
) -> None:
    repo = f"{registry.host}/cosigned/app"
    digest = ok(pydistroless("push", small_image(tmp_path, "cosigned"), f"{repo}:1"))
    cosign_sign(pair.theirs, f"{repo}@{digest}")
    assert ok(verify(f"{repo}:1", pair.theirs_pub)) == digest
    pulled = tmp_path / "pulled.tar"
    done = pydistroless("pull", f"{repo}:1", "-o", pulled, "--verify-key", pair.theirs_pub)
    assert ok(done) == digest and pulled.is_file()
    assert f"verified {repo}:1 ({digest}): 1 signature(s) by key" in done.stderr
    # copy: verified at the source, signed with our key at the destination
    ok(
        pydistroless(
            "copy", f"{repo}:1", f"{registry.host}/cosigned/copy:1",
            "--verify-key", pair.theirs_pub, "--sign-key", pair.ours, env=signing(),
        )
    )  # fmt: skip
    ok(cosign_verify(pair.ours_pub, f"{registry.host}/cosigned/copy:1"))
    # our sign adds to cosign's signature, and signing with cosign's own key file (read by
    # us) adds another: every signature stays
    ok(pydistroless("sign", f"{repo}:1", "--key", pair.ours, env=signing()))
    assert len(claims(ok(cosign_verify(pair.theirs_pub, f"{repo}:1")))) == 1
    assert len(claims(ok(cosign_verify(pair.ours_pub, f"{repo}:1")))) == 1
    ok(pydistroless("sign", f"{repo}:1", "--key", pair.theirs, env=signing()))
    assert len(claims(ok(cosign_verify(pair.theirs_pub, f"{repo}:1")))) == 2
    repository = RegistryOptions().repository(parse(f"{repo}:1"))
    layers = json.loads(repository.fetch_manifest(f"sha256-{digest[7:]}.sig").data)["layers"]
    assert len(layers) == 3
    # cosign finds ours by the same key there, and adds none (its duplicate check)
    cosign_sign(pair.ours, f"{repo}@{digest}")
    assert len(claims(ok(cosign_verify(pair.ours_pub, f"{repo}:1")))) == 1
    assert ok(verify(f"{repo}:1", pair.ours_pub)) == digest


def test_we_verify_an_index_cosign_signed_recursively(
    pair: Keys, registry: RunningRegistry, tmp_path: Path
) -> None:
    repo = f"{registry.host}/cosigned/multi"
    index = ok(pydistroless("push", two_arch_index(tmp_path, "cosigned-multi"), f"{repo}:1"))
    cosign_sign(pair.theirs, f"{repo}@{index}", "--recursive")
    assert ok(verify(f"{repo}:1", pair.theirs_pub)) == index
    for child in children(registry, repo, index):
        assert ok(verify(f"{repo}@{child}", pair.theirs_pub)) == child
    copied = f"{registry.host}/cosigned/multi-copy:1"
    done = pydistroless("copy", f"{repo}:1", copied, "--verify-key", pair.theirs_pub)
    assert ok(done) == index


def test_the_older_cosign_key_label_signs_what_cosign_verifies(
    pair: Keys, registry: RunningRegistry, tmp_path: Path
) -> None:
    old = tmp_path / "old.key"
    old.write_bytes(pair.theirs.read_bytes().replace(b"SIGSTORE", b"COSIGN"))
    assert old.read_bytes().startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    ref = f"{registry.host}/signed/old-label:1"
    ok(pydistroless("push", small_image(tmp_path, "old-label"), ref, "--sign-key", old,
                    env=signing()))  # fmt: skip
    ok(cosign_verify(pair.theirs_pub, ref))
    wrong = pydistroless(
        "push", small_image(tmp_path, "never"), ref, "--sign-key", old,
        env={"COSIGN_PASSWORD": "not the password"},
    )  # fmt: skip
    assert_clean_failure(wrong, EXIT_USAGE, "the password does not open this key")


# ---- every way a signature can fail ----------------------------------------------------


def test_an_unsigned_image_is_refused_before_a_byte_of_it_is_used(
    pair: Keys, registry: RunningRegistry, tmp_path: Path
) -> None:
    ref = f"{registry.host}/unsigned/app:1"
    digest = ok(pydistroless("push", small_image(tmp_path, "unsigned"), ref))
    expected = (
        f"pydistroless: error: no signature of {ref} ({digest}) found; sign it with "
        "`pydistroless sign` or `cosign sign --key`"
    )
    assert assert_clean_failure(verify(ref, pair.ours_pub), EXIT_SIGNATURE) == expected
    before = len(registry.requests())
    pulled = tmp_path / "pulled.tar"
    done = pydistroless("pull", ref, "-o", pulled, "--verify-key", pair.ours_pub)
    assert assert_clean_failure(done, EXIT_SIGNATURE) == expected
    copied = pydistroless("copy", ref, tmp_path / "copied.tar", "--verify-key", pair.ours_pub)
    assert assert_clean_failure(copied, EXIT_SIGNATURE) == expected
    assert not pulled.exists() and not (tmp_path / "copied.tar").exists()
    fetched = [r for r in registry.requests()[before:] if r.method == "GET" and "/blobs/" in r.path]
    assert fetched == [], fetched  # only manifests were read: no layer, no config
    # a tar carries no signature: --verify-key on one is refused as such
    local = pydistroless(
        "copy", small_image(tmp_path, "local"), tmp_path / "x.tar", "--verify-key", pair.ours_pub
    )
    assert_clean_failure(local, EXIT_USAGE, "carries no signature to verify")


def test_a_tampered_payload_fails_here_and_in_cosign(
    pair: Keys, registry: RunningRegistry, tmp_path: Path
) -> None:
    repo = f"{registry.host}/tampered/app"
    digest = ok(pydistroless("push", small_image(tmp_path, "tampered"), f"{repo}:1"))
    cosign_sign(pair.theirs, f"{repo}@{digest}")
    ok(verify(f"{repo}:1", pair.theirs_pub))
    repository = RegistryOptions().repository(parse(f"{repo}:1"))
    tag = f"sha256-{digest[7:]}.sig"
    manifest = json.loads(repository.fetch_manifest(tag).data)
    [layer] = manifest["layers"]
    payload = _blob(repository, layer["digest"]).replace(b'"optional":null', b'"optional":{}')
    assert payload != _blob(repository, layer["digest"])
    _replace_layer(repository, tag, manifest, payload)
    assert cosign_verify(pair.theirs_pub, f"{repo}:1").returncode != 0
    error = assert_clean_failure(verify(f"{repo}:1", pair.theirs_pub), EXIT_SIGNATURE)
    assert error == (
        f"pydistroless: error: no signature of {repo}:1 ({digest}) verifies: {tag}: its "
        "signature does not verify with the key"
    )


def _replace_layer(repository, tag: str, manifest: dict, payload: bytes) -> None:
    import io

    digest = Digest.of(payload)
    repository.upload_blob(digest, len(payload), lambda: io.BytesIO(payload))
    manifest["layers"][0].update(digest=str(digest), size=len(payload))
    repository.put_manifest(tag, json.dumps(manifest).encode(), OCI_MANIFEST)


def test_a_signature_of_another_image_or_a_moved_tag_fails_here_and_in_cosign(
    pair: Keys, registry: RunningRegistry, tmp_path: Path
) -> None:
    repo = f"{registry.host}/moved/app"
    signed = ok(pydistroless("push", small_image(tmp_path, "signed"), f"{repo}:signed"))
    other = ok(pydistroless("push", small_image(tmp_path, "other"), f"{repo}:other"))
    cosign_sign(pair.theirs, f"{repo}@{signed}")
    repository = RegistryOptions().repository(parse(f"{repo}:signed"))
    # the signed image's .sig manifest, put where the other image's signatures are looked for
    sig = repository.fetch_manifest(f"sha256-{signed[7:]}.sig")
    repository.put_manifest(f"sha256-{other[7:]}.sig", sig.data, sig.media_type)
    assert cosign_verify(pair.theirs_pub, f"{repo}:other").returncode != 0
    error = assert_clean_failure(verify(f"{repo}:other", pair.theirs_pub), EXIT_SIGNATURE)
    assert error == (
        f"pydistroless: error: no signature of {repo}:other ({other}) verifies: "
        f"sha256-{other[7:]}.sig: it is signed for {signed}, another image"
    )
    # the signed tag moved to an unsigned image: what it names now has no signature
    moved = ok(pydistroless("push", small_image(tmp_path, "moved"), f"{repo}:signed"))
    assert cosign_verify(pair.theirs_pub, f"{repo}:signed").returncode != 0
    assert_clean_failure(
        verify(f"{repo}:signed", pair.theirs_pub), EXIT_SIGNATURE, f"({moved}) found"
    )
    assert_clean_failure(
        pydistroless("pull", f"{repo}:signed", "-o", tmp_path / "p.tar",
                     "--verify-key", pair.theirs_pub),
        EXIT_SIGNATURE,
    )  # fmt: skip
    # our own bundle of the signed image, attached as a referrer of the other one
    ok(pydistroless("sign", f"{repo}@{signed}", "--key", pair.ours, env=signing()))
    bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json"
    [bundle] = referrers.referring(repository, Digest.parse(signed), bundle_type)
    document = referrers.fetch_document(repository, bundle, where="b", limit=1 << 20)
    fresh = ok(pydistroless("push", small_image(tmp_path, "fresh"), f"{repo}:fresh"))
    subject = repository.fetch_manifest(fresh)
    from pydistroless.oci.model import Descriptor

    referrers.attach_document(
        repository,
        Descriptor(subject.media_type, subject.digest, len(subject.data)),
        document,
        bundle_type,
        artifact_type=bundle_type,
        annotations=dict(bundle.annotations),
    )
    error = assert_clean_failure(verify(f"{repo}:fresh", pair.ours_pub), EXIT_SIGNATURE)
    assert error.endswith(f"it is about {signed}, another image")


# ---- TLS and a login --------------------------------------------------------------------


def test_over_tls_with_a_login_both_ways(pair: Keys, tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "tls", htpasswd=("signer", "registry-pass-91"))
    try:
        assert registry.ca is not None
        config = tmp_path / "docker"
        config.mkdir()
        login = base64.b64encode(b"signer:registry-pass-91").decode()
        (config / "config.json").write_text(json.dumps({"auths": {registry.host: {"auth": login}}}))
        env = {**signing(), "DOCKER_CONFIG": str(config), "HOME": str(tmp_path)}
        ca = ("--ca-cert", registry.ca)
        cacert = ("--registry-cacert", str(registry.ca))
        ref = f"{registry.host}/tls/app:1"
        index = ok(
            pydistroless("push", two_arch_index(tmp_path, "tls"), ref, "--sign-key", pair.ours,
                         *ca, env=env)
        )  # fmt: skip
        [claim] = claims(ok(cosign_verify(pair.ours_pub, ref, *cacert, docker_config=config)))
        assert claim["critical"]["image"]["docker-manifest-digest"] == index
        other = f"{registry.host}/tls/cosigned:1"
        digest = ok(pydistroless("push", small_image(tmp_path, "tls-cosigned"), other, *ca,
                                 env=env))  # fmt: skip
        cosign_sign(pair.theirs, f"{registry.host}/tls/cosigned@{digest}", *cacert,
                    docker_config=config)  # fmt: skip
        assert ok(verify(other, pair.theirs_pub, *ca, env=env)) == digest
        pulled = tmp_path / "pulled.tar"
        ok(pydistroless("pull", other, "-o", pulled, "--verify-key", pair.theirs_pub, *ca,
                        env=env))  # fmt: skip
        # without the login: the registry's refusal, not a signature error
        anonymous = verify(other, pair.theirs_pub, *ca, env={"DOCKER_CONFIG": str(tmp_path)})
        assert anonymous.returncode == 11, describe(anonymous)
    finally:
        registry.close()


# ---- a build and an app, signed and verified -------------------------------------------


def test_build_push_and_app_on_a_verified_base_push_signed(
    pair: Keys, registry: RunningRegistry, tmp_path: Path
) -> None:
    base = f"{registry.host}/python/base:1"
    base_digest = ok(
        pydistroless("build", "-o", tmp_path / "base.tar", "--push", base,
                     "--sign-key", pair.ours, env=signing())
    )  # fmt: skip
    ok(cosign_verify(pair.ours_pub, base))
    # an app on it, its base verified first and read by the verified digest
    app = f"{registry.host}/python/app:1"
    done = pydistroless(
        "app", EXAMPLES / "hello-world", "--base", base, "--verify-key", pair.ours_pub,
        "-o", tmp_path / "app.tar", "--push", app, "--sign-key", pair.ours, env=signing(),
    )  # fmt: skip
    app_digest = ok(done)
    assert f"verified {base} ({base_digest})" in done.stderr
    [claim] = claims(ok(cosign_verify(pair.ours_pub, app)))
    assert claim["critical"]["image"]["docker-manifest-digest"] == app_digest
    # a base signed by another key: refused before the app is built
    refused = pydistroless(
        "app", EXAMPLES / "hello-world", "--base", base, "--verify-key", pair.theirs_pub,
        "-o", tmp_path / "refused.tar",
    )  # fmt: skip
    assert_clean_failure(refused, EXIT_SIGNATURE, f"no signature of {base} ({base_digest})")
    assert not (tmp_path / "refused.tar").exists()
    # --verify-key on a base that carries no signature is a usage error, said at once
    local = pydistroless(
        "app", EXAMPLES / "hello-world", "--base", tmp_path / "base.tar",
        "--verify-key", pair.ours_pub, "-o", tmp_path / "local.tar",
    )  # fmt: skip
    assert_clean_failure(local, EXIT_USAGE, "--verify-key checks a base image on a registry")


# ---- no secret anywhere -----------------------------------------------------------------


def test_the_private_key_and_its_password_are_nowhere(pair: Keys, tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "registry")
    cache = tmp_path / "cache"
    work = tmp_path / "work"
    work.mkdir()
    results: list[subprocess.CompletedProcess[str]] = []

    def run(*args: str | Path, **kw) -> subprocess.CompletedProcess[str]:
        results.append(pydistroless(*args, cache_dir=cache, cwd=work, **kw))
        return results[-1]

    try:
        ok(run("keygen", "--output-prefix", "secret", env=signing()))
        ref = f"{registry.host}/secret/app:1"
        ok(run("push", two_arch_index(work, "secret"), ref, "--sign-key", "secret.key",
               env=signing()))  # fmt: skip
        ok(run("sign", ref, "--key", "secret.key", env=signing()))
        ok(run("verify", ref, "--key", "secret.pub"))
        ok(run("pull", ref, "-o", "pulled.tar", "--verify-key", "secret.pub"))
        ok(run("copy", ref, f"{registry.host}/secret/copy:1", "--sign-key", "secret.key",
               env=signing()))  # fmt: skip
        ok(run("--debug", "sign", ref, "--key", "secret.key", env=signing()))
        wrong = run("sign", ref, "--key", "secret.key", env={"COSIGN_PASSWORD": "nope"})
        assert_clean_failure(wrong, EXIT_USAGE, "the password does not open this key")
        debug = run("--debug", "sign", ref, "--key", "secret.key", env={"COSIGN_PASSWORD": "x"})
        assert debug.returncode == EXIT_USAGE and "Traceback" in debug.stderr
        key = keys.read_private(
            (work / "secret.key").read_bytes(), lambda: PASSWORD.encode(), where="k"
        )
        der = key.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        scalar = key.key.private_numbers().private_value.to_bytes(32, "big")
        pem_body = b"".join((work / "secret.key").read_bytes().splitlines()[1:-1])
        needles = {
            "password": PASSWORD.encode(),
            "password (base64)": base64.b64encode(PASSWORD.encode()),
            "PKCS#8 DER": der,
            "PKCS#8 DER (base64)": base64.b64encode(der)[:60],
            "private scalar": scalar,
            "private scalar (hex)": scalar.hex().encode(),
            "private scalar (decimal)": str(int.from_bytes(scalar, "big")).encode(),
            "encrypted key (its PEM body)": pem_body[:60],
        }
        for result in results:
            text = (result.stdout + result.stderr).encode()
            for name, needle in needles.items():
                assert needle not in text, f"the {name} in the output of {result.args}"
        temp = Path(tempfile.gettempdir())
        places = [work, cache, registry.root, *temp.glob("pydistroless-*")]
        for place in places:
            for path in [place, *place.rglob("*")] if place.is_dir() else [place]:
                if path == work / "secret.key" or not path.is_file() or path.is_symlink():
                    continue
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                for name, needle in needles.items():
                    assert needle not in data, f"the {name} in {path}"
    finally:
        registry.close()


# ---- the README's section, as printed ---------------------------------------------------

README = Path(__file__).parents[2] / "README.md"


def readme_blocks() -> list[tuple[str, str]]:
    """The fenced blocks of the README's "Signed images" section: (language, text)."""
    section = README.read_text().split("## Signed images\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL)


def readme_commands(block: str, host: str) -> list[list[str]]:
    """The block's commands (continued lines joined, comments dropped), the example
    registry replaced by the test's."""
    joined = block.replace("\\\n", " ").replace("registry.example.com", host)
    return [shlex.split(line.split("#", 1)[0]) for line in joined.splitlines() if line.strip()]


def test_the_readme_section_as_printed(pair: Keys, registry: RunningRegistry, tmp_path: Path):
    """Its commands run as printed, with two things of this machine: the registry (a local
    one, plain HTTP, so cosign gets --allow-insecure-registry) and the project (the
    hello-world example, the folder they run in)."""
    blocks = readme_blocks()
    (_, sign), (_, use) = [b for b in blocks if b[0] == "sh"]
    project = tmp_path / "myapp"
    shutil.copytree(EXAMPLES / "hello-world", project)
    host = registry.host
    for command in readme_commands(sign, host):
        if command[0] == "cosign":
            insecure = (*command[1:-1], "--allow-insecure-registry", command[-1])
            [claim] = claims(ok(cosign(*insecure, cwd=project)))
            assert claim["critical"]["identity"]["docker-reference"] == f"{host}/team/myapp"
            continue
        assert command[0] == "pydistroless", command
        ok(pydistroless(*command[1:], cwd=project, env=signing()))
    assert ok(verify(f"{host}/team/myapp:1.0", project / "cosign.pub"))
    # the second block: a base signed with that key where it says (by the config file's
    # sign-key, as the section says it can be), and a prod key
    base = tmp_path / "base"
    base.mkdir()
    (base / "pydistroless.toml").write_text('sign-key = "../myapp/cosign.key"\n')
    built = pydistroless("build", "-o", "base.tar", "--push", f"{host}/team/python:3.13",
                         cwd=base, env=signing())  # fmt: skip
    ok(built)
    assert re.search(
        rf"^signed \d manifest\(s\) of {host}/team/python with key ", built.stderr, re.M
    )
    ok(pydistroless("keygen", "--output-prefix", "prod", cwd=project, env=signing()))
    for command in readme_commands(use, host):
        assert command[0] == "pydistroless", command
        ok(pydistroless(*command[1:], cwd=project, env=signing()))
    assert (project / "myapp.tar").is_file()
    ok(cosign_verify(project / "prod.pub", f"{host}/prod/myapp:1.0"))
    # the refusal the section prints, word for word but the digests
    (_, printed), *_ = [b for b in blocks if b[0] == "console"]
    wrong = verify(f"{host}/team/myapp:1.0", pair.theirs_pub, cwd=project)
    error = assert_clean_failure(wrong, EXIT_SIGNATURE)
    shape = re.sub(
        r"sha256(:|-)[0-9a-f]+", r"sha256\1...", error.replace(host, "registry.example.com")
    )
    expected = printed.splitlines()[1].replace("sha256:5d0c...", "sha256:...")
    assert shape == expected.replace("sha256-5d0c....sig", "sha256-....sig")
