"""Local image names: what a tar's ``RepoTags`` and a layout's ``ref.name`` carry."""

from __future__ import annotations

import re

from pydistroless.errors import UsageError

# The reference grammar of docker/distribution, reduced to what a local tag needs.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?)"
_NAME_RE = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")


def split_reference(reference: str) -> tuple[str, str]:
    """``"ghcr.io/me/app:1.0"`` -> ``("ghcr.io/me/app", "1.0")``; the tag defaults to
    ``latest``. Refuses what docker would refuse, so the error comes before the build."""
    name, tag = reference, "latest"
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        name, tag = reference[:colon], reference[colon + 1 :]
    if "@" in reference or not _NAME_RE.fullmatch(name) or not _TAG_RE.fullmatch(tag):
        raise UsageError(
            f"{reference!r} is not a valid image name; use lowercase NAME[:TAG], "
            "for example myapp:1.0 or registry.example.com/team/myapp:1.0"
        )
    return name, tag


def full_name(reference: str) -> str:
    """The fully qualified form engines store: ``app:1`` -> ``docker.io/library/app:1``."""
    name, tag = split_reference(reference)
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}"
    return f"{name}:{tag}"


def check_tags(tags: object) -> None:
    if isinstance(tags, str) or not isinstance(tags, (list, tuple)):
        raise TypeError("tags must be a sequence of references, not one string")
    for reference in tags:
        split_reference(reference)
    if len(set(tags)) != len(tags):
        raise UsageError(f"a tag is given twice in {list(tags)}")
