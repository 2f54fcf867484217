"""Image references: ``[HOST[:PORT]/]PATH[:TAG][@sha256:HEX]``, as docker reads them.

The grammar is docker/distribution's ``reference`` package. A name's first component is a
registry host when it has a ``.`` or a ``:`` or is ``localhost``; otherwise the name is on
docker's default registry, ``docker.io``, where a one-component name is under ``library/``
(``python`` is ``docker.io/library/python``). Unlike newer docker, a first component with
uppercase letters is not taken for a host: ``MyOrg/app`` is refused as an uppercase repository
name, which is what its author meant, rather than sent to a host called ``MyOrg``.

A reference is parsed once, where the user gives it; everything after works with the
:class:`Reference` and prints it fully qualified, so what a message names is unambiguous.
Local image names (a tar's ``RepoTags``, a layout's ``ref.name``, ``--tag``) are the same
grammar without a digest (:func:`split_reference`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydistroless.core.digest import Digest
from pydistroless.core.errors import UsageError

# docker's own defaults: the name short references live under, its API host and its alias.
DEFAULT_REGISTRY = "docker.io"
DOCKER_API_HOST = "registry-1.docker.io"
_DOCKER_ALIASES = frozenset({"index.docker.io"})
DEFAULT_TAG = "latest"
# distribution's NameTotalLengthMax: the whole name, registry included.
NAME_MAX = 255

_EXAMPLE = "write it as [HOST[:PORT]/]NAME[:TAG][@sha256:HEX], e.g. 127.0.0.1:5000/app:1.0"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN = re.compile(rf"(?:{_IPV6}|{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*)(?::[0-9]+)?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference: the registry as the user named it (``docker.io``, ``host:5000``),
    the repository path, and a tag, a digest, both or neither."""

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def name(self) -> str:
        """``registry/repository``, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one (it pins the
        content, a tag beside it is only a label), else the tag, else ``latest``."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag if self.tag is not None else DEFAULT_TAG


_TAG_RULE = (
    "a tag is up to 128 ASCII letters, digits, '_', '.' and '-', not starting with '.' or '-'"
)


def parse(text: str) -> Reference:
    """Read a reference as docker does; anything malformed is a :class:`UsageError` that
    says what is wrong and shows the form to use."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"an image reference is empty; {_EXAMPLE}")
    if text != text.strip() or any(c.isspace() for c in text):
        raise UsageError(f"image reference {text!r:.140} contains spaces; {_EXAMPLE}")
    shown = f"{text!r:.140}"
    rest, at, digest_text = text.partition("@")
    digest: Digest | None = None
    if at:
        try:
            digest = Digest.parse(digest_text)
        except UsageError:
            raise UsageError(
                f"image reference {shown}: {digest_text!r:.90} is not a sha256 digest "
                f"(sha256: and 64 lowercase hex digits); {_EXAMPLE}"
            ) from None
    # A tag follows the last ':' only when no '/' comes after it: in host:5000/app the
    # colon is the port's.
    name, tag = rest, None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise UsageError(f"image reference {shown}: {tag!r:.140} is not a tag; {_TAG_RULE}")
    registry, repository = _split_registry(name, shown)
    for component in repository.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            raise UsageError(f"image reference {shown}: {_path_problem(component)}; {_EXAMPLE}")
    if len(registry) + 1 + len(repository) > NAME_MAX:
        raise UsageError(
            f"image reference {shown}: the name is longer than {NAME_MAX} characters; "
            "use a shorter repository name"
        )
    return Reference(registry, repository, tag, digest)


def _split_registry(name: str, shown: str) -> tuple[str, str]:
    first, slash, remainder = name.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        registry, repository = DEFAULT_REGISTRY, name
    else:
        if not _DOMAIN.fullmatch(first):
            raise UsageError(
                f"image reference {shown}: {first!r:.90} is not a registry host[:port]; {_EXAMPLE}"
            )
        registry, repository = first, remainder
    if registry in _DOCKER_ALIASES:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository


def _path_problem(component: str) -> str:
    if not component:
        return "the name is empty or has an empty path component ('//' or a trailing '/')"
    if component != component.lower():
        return f"the repository name {component!r:.90} must be lowercase"
    return (
        f"{component!r:.90} is not a repository path component (lowercase letters and "
        "digits, separated by one '.', one or two '_' or any number of '-')"
    )


def split_reference(reference: str) -> tuple[str, str]:
    """A local image name as written and its tag: ``"example.com/me/app:1.0"`` ->
    ``("example.com/me/app", "1.0")``, the tag ``latest`` by default. Refuses what docker
    would refuse (a digest too: a local name is a tag), so the error comes before the build."""
    _, colon, tag = reference.rpartition(":")
    if colon and "/" not in tag and "@" not in reference and not _TAG.fullmatch(tag):
        # The tag is what a careless name gets wrong most often (an accent, a space, a '+'):
        # say so rather than that the whole name is wrong.
        raise UsageError(f"{reference!r:.140} is not a valid image name: {_TAG_RULE}")
    try:
        parsed = parse(reference)
    except UsageError:
        parsed = None
    if parsed is None or parsed.digest is not None:
        raise UsageError(
            f"{reference!r:.140} is not a valid image name; use lowercase NAME[:TAG], "
            "for example myapp:1.0 or registry.example.com/team/myapp:1.0"
        )
    if parsed.tag is None:
        return reference, DEFAULT_TAG
    return reference[: -len(parsed.tag) - 1], parsed.tag


def full_name(reference: str) -> str:
    """The fully qualified form engines store: ``app:1`` -> ``docker.io/library/app:1``."""
    split_reference(reference)
    parsed = parse(reference)
    return f"{parsed.name}:{parsed.tag or DEFAULT_TAG}"


def check_tags(tags: object) -> None:
    if isinstance(tags, str) or not isinstance(tags, (list, tuple)):
        raise TypeError("tags must be a sequence of references, not one string")
    for reference in tags:
        split_reference(reference)
    if len(set(tags)) != len(tags):
        raise UsageError(f"a tag is given twice in {list(tags)}")
