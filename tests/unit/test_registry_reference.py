"""Image references parse as docker reads them, print fully qualified, and round-trip."""

from __future__ import annotations

import pytest

from pydistroless.core.digest import Digest
from pydistroless.core.errors import UsageError
from pydistroless.oci.reference import Reference, parse
from pydistroless.registry.client import Registry

HEX = "a" * 64
DIGEST = Digest(HEX)


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("python", "docker.io", "library/python", None, None),
        ("python:3.12-slim", "docker.io", "library/python", "3.12-slim", None),
        ("library/python", "docker.io", "library/python", None, None),
        ("docker.io/python", "docker.io", "library/python", None, None),
        ("index.docker.io/python", "docker.io", "library/python", None, None),
        ("docker.io/library/python:3", "docker.io", "library/python", "3", None),
        ("someone/app", "docker.io", "someone/app", None, None),
        ("someone/team/app", "docker.io", "someone/team/app", None, None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/app:v1", "localhost:5000", "app", "v1", None),
        ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", None, None),
        ("[::1]:5000/app:x", "[::1]:5000", "app", "x", None),
        ("[fe80::1]/app", "[fe80::1]", "app", None, None),
        ("Registry.Example:443/app", "Registry.Example:443", "app", None, None),
        ("host.test/app", "host.test", "app", None, None),
        ("host:5000/app", "host:5000", "app", None, None),
        # With no '/', the colon is a tag's: docker reads it so too.
        ("host:5000", "docker.io", "library/host", "5000", None),
        ("localhost", "docker.io", "library/localhost", None, None),
        (f"app@sha256:{HEX}", "docker.io", "library/app", None, DIGEST),
        (f"app:1.0@sha256:{HEX}", "docker.io", "library/app", "1.0", DIGEST),
        (f"host:5000/app:1.0@sha256:{HEX}", "host:5000", "app", "1.0", DIGEST),
        (f"host:5000/app@sha256:{HEX}", "host:5000", "app", None, DIGEST),
        ("a_b/c__d/e-f/g---h/i.j", "docker.io", "a_b/c__d/e-f/g---h/i.j", None, None),
        ("app:_under", "docker.io", "library/app", "_under", None),
        ("app:UPPER.case-tag_1", "docker.io", "library/app", "UPPER.case-tag_1", None),
        ("app:" + "t" * 128, "docker.io", "library/app", "t" * 128, None),
    ],
)
def test_parse(
    text: str, registry: str, repository: str, tag: str | None, digest: Digest | None
) -> None:
    ref = parse(text)
    assert ref == Reference(registry, repository, tag, digest)
    assert parse(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Python", "lowercase"),
        ("MyOrg/app", "lowercase"),
        ("host:5000/App", "lowercase"),
        ("app:", "not a tag"),
        ("app:-x", "not a tag"),
        ("app:.x", "not a tag"),
        ("app:" + "t" * 129, "not a tag"),
        ("app:a/b", "not a registry host"),
        ("app@sha256:abc", "not a sha256 digest"),
        ("app@md5:" + "a" * 32, "not a sha256 digest"),
        ("app@sha256:" + "A" * 64, "not a sha256 digest"),
        ("app@", "not a sha256 digest"),
        ("/app", "empty"),
        ("app/", "empty"),
        ("a//b", "empty"),
        ("host:5000/", "empty"),
        ("-app", "not a repository path component"),
        ("app-", "not a repository path component"),
        ("a...b", "not a repository path component"),
        ("a___b", "not a repository path component"),
        ("host_x.test/app", "not a registry host"),
        ("-host.test/app", "not a registry host"),
        ("host.test:port/app", "not a registry host"),
        ("app name", "spaces"),
        (" app", "spaces"),
        ("host.test/" + "a" * 250, "longer than 255"),
        ("/".join(["abcdefghi"] * 30), "longer than 255"),
    ],
)
def test_malformed(text: str, why: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    message = str(caught.value)
    assert why in message
    assert "\n" not in message
    # Every refusal shows the form to write, or says exactly what the rule is.
    assert "e.g." in message or "a tag is" in message or "shorter" in message


def test_longest_name_is_accepted() -> None:
    name = "h.test/" + "a" * (255 - len("h.test/"))
    assert parse(name).name == name


def test_identifier_and_api_host() -> None:
    assert parse("app").identifier == "latest"
    assert parse("app:1").identifier == "1"
    assert parse(f"app:1@sha256:{HEX}").identifier == f"sha256:{HEX}"
    assert Registry(parse("app").registry).api_host == "registry-1.docker.io"
    assert Registry(parse("127.0.0.1:5000/app").registry).api_host == "127.0.0.1:5000"


def test_str_is_fully_qualified() -> None:
    assert str(parse("app")) == "docker.io/library/app"
    assert str(parse(f"h.test/a:t@sha256:{HEX}")) == f"h.test/a:t@sha256:{HEX}"
    assert parse("h.test/a:t").name == "h.test/a"


def test_reference_is_a_frozen_value() -> None:
    ref = parse("app")
    with pytest.raises(AttributeError):
        ref.tag = "x"  # type: ignore[misc]
    assert {ref, parse("docker.io/library/app")} == {ref}
