"""``pydistroless check IMAGE``: can every file of an image run or be loaded?"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click

from pydistroless.cli.images import registry_options, registry_settings
from pydistroless.cli.options import source_options, sources_from
from pydistroless.cli.outputs import output_options, outputs_from, print_pushed
from pydistroless.core.errors import ImageCheckError, UsageError

EPILOG = """\b
Examples:
  pydistroless check ./app.tar                       # a tar, a layout, or a registry reference
  pydistroless check docker-daemon:myapp:1.0         # an image docker has
  pydistroless check myapp.tar --add-missing -o fixed.tar   # and add what it lacks from Debian
"""


@click.command("check", epilog=EPILOG)
@click.argument("image")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="The image of this platform.")
@click.option(
    "--add-missing",
    is_flag=True,
    help="Add the libraries the image lacks, from the Debian suite its os-release names, in "
    "one new layer (status.d, the SBOM and ld.so.cache updated), and write the result as the "
    "output options say.",
)
@output_options
@source_options
@registry_options
def check_cmd(image: str, platform: str | None, add_missing: bool, **kw: Any) -> None:
    """Check that every file of an image can run: each ELF file's shared libraries resolve
    as the dynamic loader would resolve them (RUNPATH, ld.so.cache, the default folders), no
    ELF file is of another architecture, and each script's #! interpreter is in the image.

    Prints a table of what fails and exits 8 when anything does. Any image, not only ours.
    """
    from pydistroless.core.arch import Platform, for_platform, host_arch
    from pydistroless.oci.model import platform_image
    from pydistroless.oci.unpack import tree_of
    from pydistroless.recipes import check
    from pydistroless.transfer import places

    given = [o for o in ("output", "oci_layout", "push_to") if kw[o]] + ["load"] * kw["load"]
    if given and not add_missing:
        raise UsageError(
            "--output, --oci-layout, --load and --push write the repaired image; add "
            "--add-missing (check alone changes nothing)"
        )
    where = places.parse_location(image)
    registry = registry_settings(kw)
    outputs = outputs_from(kw, registry) if add_missing else None
    with tempfile.TemporaryDirectory(prefix="pydistroless-check-") as scratch:
        artifact = places.read(where, registry, scratch=Path(scratch))
        wanted = Platform.parse(platform) if platform else None
        chosen = platform_image(artifact, wanted, where=str(where))
        arch = for_platform(chosen.platform) if chosen.platform else None
        debian_arch = arch.debian if arch is not None else host_arch()
        tree = tree_of(chosen)
        found = check.problems(tree, debian_arch)
        if not add_missing:
            _report(found, str(where))
            return
        from pydistroless.debian.store import Store
        from pydistroless.transfer.outputs import write_outputs

        tags = tuple(kw["tags"]) or (_default_tag(where),)
        repaired = check.add_missing(
            chosen, tree, debian_arch, Store.create(sources_from(**kw)),
            tags=tags, sbom_format=kw["sbom_format"],
        )  # fmt: skip
        for line in repaired.report:
            click.echo(line, err=True)
        if not repaired.report:
            click.echo(f"{where}: nothing missing, nothing added", err=True)
        assert outputs is not None
        from pydistroless.cli.outputs import subject_name
        from pydistroless.recipes import provenance

        # What is known of the repaired image: the SBOM its new top layer holds.
        name = subject_name(repaired.tags[0], outputs.push_to)
        attestations = provenance.image_sbom_attestations(repaired.image, name)
        rows = write_outputs(
            repaired,
            outputs,
            output_dir=None,
            several=False,
            statements=provenance.statements_file(attestations),
            attestations=attestations,
        )
    click.echo(repaired.digest)
    if kw["push_to"]:
        print_pushed(rows, kw["push_report"])


def _report(found: list, where: str) -> None:
    from pydistroless.recipes import check

    if not found:
        click.echo(
            f"{where}: every ELF file's libraries resolve, none is of another architecture, "
            "every script's interpreter is there",
            err=True,
        )
        return
    click.echo(check.table(found))
    libraries = sum(1 for p in found if p.kind == check.LIBRARY)
    hint = "; --add-missing adds the libraries from Debian" if libraries else ""
    raise ImageCheckError(f"{where}: {len(found)} problem(s), listed above{hint}")


def _default_tag(where: Any) -> str:
    """The repaired image's name when no --tag is given: the engine's or registry's own,
    or the tar's or layout's file name."""
    if where.kind in ("docker", "podman"):
        return where.tag
    if where.reference is not None:
        return f"{where.reference.repository.rsplit('/', 1)[-1]}:{where.reference.tag or 'latest'}"
    return f"{where.path.stem.lower() or 'image'}:checked"
