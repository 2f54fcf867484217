"""The ``outdated`` command: whether an image or a lock is behind the Debian archive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pydistroless.cli.images import registry_options, registry_settings
from pydistroless.cli.options import source_options, sources_from
from pydistroless.core.errors import PydistrolessError, UsageError


@click.command(
    "outdated",
    epilog="""\b
Examples:
  pydistroless outdated python.lock
  pydistroless outdated ./myapp-latest.tar --json
  pydistroless outdated registry.example.com/team/myapp:1.0   # exit 1: time to rebuild
""",
)
@click.argument("what", metavar="IMAGE|LOCK")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@source_options
@registry_options
@click.pass_context
def outdated_cmd(ctx: click.Context, what: str, as_json: bool, **kw: Any) -> None:
    """Which Debian packages of an image (a tar, an OCI layout or a registry reference) or a
    lock the archive now has a newer version of, and whether from -security.

    Exit code 0 when nothing is behind, 1 when something is: a scheduled job rebuilds then.
    """
    from pydistroless.debian.store import Store
    from pydistroless.recipes import outdated

    suite, packages, python = _installed(what, kw)
    context = Store.create(sources_from(**kw))
    rows = outdated.behind(suite, packages, context)
    upstream, note = None, None
    compiled = python is not None and python[2]
    if python is not None:
        try:
            upstream = outdated.upstream_python(python[0], python[1], context, abiflags=python[3])
        except PydistrolessError as exc:
            note = f"upstream Python not checked: {exc}"
    if as_json:
        body = {
            "suite": suite,
            "behind": [r.to_json() for r in rows],
            "python": upstream.to_json() if upstream else None,
        }
        click.echo(json.dumps(body, indent=2, sort_keys=True))
    else:
        if rows:
            click.echo(outdated.table(rows))
        if upstream is not None and upstream.behind:
            why = (
                f"compiled from source: rebuild with --python {upstream.named(upstream.newest)}"
                if compiled
                else "Debian's own Python, so a rebuild does not change it"
            )
            click.echo(
                f"python {upstream.named(upstream.minor)}: {upstream.named(upstream.installed)} "
                f"here, {upstream.named(upstream.newest)} upstream ({upstream.where}; {why})"
            )
    if note:
        click.echo(f"note: {note}", err=True)
    count = len({r.name for r in rows})
    security = len({r.name for r in rows if r.security})
    click.echo(
        f"{count} package(s) behind {suite} ({security} with security updates)"
        if rows
        else f"every package is up to date with {suite}",
        err=True,
    )
    # A Python compiled from source is ours to update: a newer upstream release is a reason
    # to rebuild, as a Debian package update is.
    python_behind = bool(compiled and upstream is not None and upstream.behind)
    ctx.exit(1 if rows or python_behind else 0)


def _installed(
    what: str, kw: dict[str, Any]
) -> tuple[str, list[Any], tuple[str, str, bool, str] | None]:
    """The suite, the Debian packages and the Python (minor, version, compiled from source,
    ABI flags: ``t`` when free-threaded) of a lock or an image."""
    from pydistroless.core.arch import for_platform
    from pydistroless.oci.archive import is_image_tar
    from pydistroless.oci.model import Image, Index
    from pydistroless.oci.unpack import tree_of
    from pydistroless.python.debian_python import upstream_version
    from pydistroless.recipes import lock as lockfile
    from pydistroless.recipes.app_libraries import base_packages
    from pydistroless.recipes.outdated import InstalledPackage
    from pydistroless.transfer import places

    path = Path(what)
    if path.is_file() and not is_image_tar(path):
        lock = lockfile.read(path)
        packages = [
            InstalledPackage(p.name, p.version, arch.arch)
            for arch in lock.archs
            for p in arch.packages
        ]
        first = lock.archs[0]
        version = upstream_version(first.python_package_version)
        compiled = first.python_source is not None
        flags = first.python_source.abiflags if first.python_source else ""
        return lock.suite, packages, (first.minor, version, compiled, flags)
    artifact = places.read(places.parse_location(what), registry_settings(kw))
    images = list(artifact.images()) if isinstance(artifact, Index) else [artifact]
    suite = None
    packages = []
    python = None
    for image in images:
        assert isinstance(image, Image)
        arch = for_platform(image.platform) if image.platform else None
        if arch is None:
            continue
        tree = tree_of(image)
        suite = suite or image.labels.get("dev.pydistroless.debian.suite") or _codename(tree)
        version = image.labels.get("dev.pydistroless.python.version")
        if version and python is None:
            compiled = "dev.pydistroless.python.source-sha256" in image.labels
            flags = "t" if image.labels.get("dev.pydistroless.python.abi", "").endswith("t") else ""
            python = (".".join(version.split(".")[:2]), version, compiled, flags)
        packages += [InstalledPackage(n, v, arch.debian) for n, v in base_packages(tree).items()]
    if suite is None or not packages:
        raise UsageError(
            f"{what}: no Debian packages found (no var/lib/dpkg/status.d), or no Debian suite "
            "named (dev.pydistroless.debian.suite, /etc/os-release); pass a pydistroless "
            "image or lock"
        )
    return suite, packages, python


def _codename(tree: Any) -> str | None:
    text = (tree.read("etc/os-release") or tree.read("usr/lib/os-release") or b"").decode()
    for line in text.splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"') or None
    return None
