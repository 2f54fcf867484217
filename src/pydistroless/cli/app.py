"""The ``app`` command: a Python project -> an image, configured by flags and by
``[tool.pydistroless.app]`` (flags win)."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pydistroless.cli.images import insecure_registry_option, registry_settings
from pydistroless.cli.keys import load_public_key, verify_key_option
from pydistroless.cli.options import csv, image_options, source_options, sources_from, spec_from
from pydistroless.cli.outputs import output_options, outputs_from, print_pushed, subject_name
from pydistroless.core import files
from pydistroless.core.arch import host_arch
from pydistroless.core.errors import UsageError
from pydistroless.recipes.spec import check_source_date_epoch

if TYPE_CHECKING:
    from pydistroless.core.keys import PublicKey
    from pydistroless.debian.store import Store
    from pydistroless.recipes.app import Base
    from pydistroless.recipes.base import Built
    from pydistroless.recipes.spec import ImageSpec
    from pydistroless.transfer.places import Location

EPILOG = """\b
Examples:
  pydistroless app                          # the project here -> ./<name>-latest.tar
  pydistroless app ./myproject --load       # ... and load it into docker
  pydistroless app --push registry.example.com/team/myapp:1.0
  pydistroless app --entrypoint 'gunicorn -b 0.0.0.0:8000 app:app' --expose 8000
  pydistroless app --base ./python.tar      # on a base built earlier (tar, layout or ref)

\b
Dependencies come from pylock.toml, uv.lock, poetry.lock, Pipfile.lock, requirements.txt
or pyproject.toml (the first found), wheels for the base's Python and platform.
"""


def _command_line(value: str | None, option: str) -> tuple[str, ...] | None:
    """``--entrypoint`` as a JSON array (``'["gunicorn", "app:app"]'``) or a shell-like line."""
    if value is None:
        return None
    if value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{option} {value!r}: not a JSON array ({exc})") from None
        if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
            raise UsageError(f"{option} {value!r}: a JSON array of strings, please")
        words = tuple(parsed)
    else:
        try:
            words = tuple(shlex.split(value))
        except ValueError as exc:
            raise UsageError(f"{option} {value!r}: {exc}") from None
    if not words:
        raise UsageError(f"{option} is empty; name the program to run")
    return words


def _app_config(project: Path) -> dict[str, Any]:
    """``[tool.pydistroless.app]``, its keys and kinds checked and its paths inside the
    project (by python/project.py)."""
    from pydistroless.python.project import metadata

    return metadata(project).app or {}


def _config_base(project: Path, text: str) -> Location:
    """``[tool.pydistroless.app] base``: a registry reference, or a tar or layout of the
    project (relative to it); one elsewhere on this machine is refused before it is read."""
    from pydistroless.python.project import within
    from pydistroless.transfer import places

    where = places.parse_location(text)
    if where.path is None:
        return where
    what = f"{project / 'pyproject.toml'}: [tool.pydistroless.app] base"
    inside = within(project, str(where.path), what)
    return dataclasses.replace(where, path=inside)


@click.command("app", epilog=EPILOG)
@click.argument(
    "project_dir",
    required=False,
    default=".",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
)
@click.option(
    "--requirements",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="The dependency file (a lock, requirements.txt or pyproject.toml). Default: the "
    "most exact one in the project.",
)
@click.option("--extra", "extras", multiple=True, help="Optional dependencies to add (repeatable).")
@click.option(
    "--base",
    metavar="LOCATION",
    help="Base image: a tar, an OCI layout or a registry reference. Default: the pydistroless "
    "base of --suite/--python/--variant/--user, built or taken from the cache.",
)
@verify_key_option
@click.option("--entrypoint", help="What the image runs: a JSON array or a command line.")
@click.option("--cmd", help="Arguments after the entrypoint: a JSON array or a command line.")
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE", help="Environment (repeatable).")
@click.option("--workdir", help="Working directory, where the project's files go (default /app).")
@click.option("--expose", multiple=True, metavar="PORT[/PROTO]", help="Port to expose.")
@click.option("--main", help="File of the project the interpreter runs (default: main.py/app.py).")
@click.option(
    "--no-install-project",
    is_flag=True,
    help="Install the dependencies alone and copy the project's files as they are, never "
    "building its own wheel (an application with a [build-system] that is no package).",
)
@click.option(
    "--build-package",
    "build_packages",
    multiple=True,
    metavar="NAME",
    help="A Debian package (a -dev package, a tool) the builds of source distributions get, "
    "beside those Debian's own build of each names (repeatable, or comma-separated).",
)
@image_options
@click.option(
    "--write-lock",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Write the whole image pinned (base digest, Debian packages added, wheels with their "
    "SHA256) as JSON.",
)
@click.option(
    "--ca-cert",
    "registry_ca_certs",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    metavar="FILE",
    help="PEM CA certificate to trust for registries (repeatable).",
)
@output_options
@source_options
@insecure_registry_option
def app_cmd(**kw: Any) -> None:
    """Build an image of a Python project: its dependencies as wheels for the base's Python,
    installed with the image's own interpreter, then the project, in a layer of its own.

    Prints the image digest on stdout and what happened on stderr.
    """
    from pydistroless.oci.reference import split_reference
    from pydistroless.recipes import provenance
    from pydistroless.recipes.app import AppSpec, build_app, check_app
    from pydistroless.recipes.builder import BuilderImageCompiler
    from pydistroless.transfer import places
    from pydistroless.transfer.outputs import check_outputs, plan_outputs, write_outputs

    project = kw["project_dir"]
    config = _app_config(project)
    if kw["base"]:
        base_text, base_where = kw["base"], places.parse_location(kw["base"])
    elif "base" in config:
        base_text, base_where = config["base"], _config_base(project, config["base"])
    else:
        base_text, base_where = None, None
    requirements = kw["requirements"] or (
        project / config["requirements"] if "requirements" in config else None
    )
    env = tuple(kw["env"]) or tuple(f"{k}={v}" for k, v in (config.get("env") or {}).items())
    for item in env:
        if "=" not in item or item.startswith("="):
            raise UsageError(f"--env {item!r}: write KEY=VALUE")
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    spec = AppSpec(
        project=project,
        requirements=requirements,
        extras=csv(kw["extras"]) or tuple(config.get("extras") or ()),
        entrypoint=_command_line(kw["entrypoint"], "--entrypoint")
        or (tuple(config["entrypoint"]) if "entrypoint" in config else None),
        cmd=_command_line(kw["cmd"], "--cmd")
        or (tuple(config["cmd"]) if "cmd" in config else None),
        env=env,
        workdir=kw["workdir"] or config.get("workdir") or "/app",
        expose=tuple(kw["expose"]) or tuple(str(p) for p in config.get("expose") or ()),
        main=kw["main"] or config.get("main"),
        tags=tuple(kw["tags"]) or tuple(config.get("tags") or ()),
        packages=csv(kw["packages"]) or tuple(config.get("packages") or ()),
        source_date_epoch=check_source_date_epoch(epoch, "SOURCE_DATE_EPOCH") if epoch else None,
        install_project=not (kw["no_install_project"] or config.get("no-install-project")),
    )
    if not spec.workdir.startswith("/"):
        raise UsageError(f"--workdir {spec.workdir!r}: give an absolute path such as /app")
    if kw["exclude"]:
        raise UsageError(
            "--exclude chooses the base's Debian packages; build that base with "
            "`pydistroless build --exclude ...` and pass it with --base"
        )
    check_app(spec)  # the project, its tags and what the image runs, before any download
    if base_where is None:
        _base_spec(kw)  # its --user, --python ..., checked as early
    if kw["verify_key"] is not None and (base_where is None or base_where.kind != "registry"):
        raise UsageError(
            "--verify-key checks a base image on a registry; give --base REGISTRY/REPO:TAG "
            "(a tar, a layout or the base pydistroless builds carries no signature)"
        )
    verify_key = load_public_key(kw["verify_key"]) if kw["verify_key"] is not None else None
    outputs = outputs_from(kw, registry_settings(kw))
    check_outputs(
        plan_outputs(None, (), kw["sbom_format"], outputs, output_dir=None, several=False)
    )
    if kw["write_lock"] is not None:
        files.file_target(kw["write_lock"], "--write-lock")
    from pydistroless.debian.store import Store

    context = Store.create(sources_from(**kw))
    bases, base_built = _bases(base_where, base_text, kw, context, verify_key)
    built = build_app(
        spec,
        bases,
        context,
        sbom_format=kw["sbom_format"],
        compile_sdist=BuilderImageCompiler(
            context,
            build_packages=csv(kw["build_packages"]) or tuple(config.get("build-packages") or ()),
        ),
    )
    name = split_reference(built.tags[0])[0]
    attestations = provenance.app_attestations(
        built,
        spec,
        name,
        base=base_built,
        base_location=base_text if base_where and base_where.kind == "registry" else None,
    )
    pushed_as = subject_name(built.tags[0], outputs.push_to)
    rows = write_outputs(
        built,
        outputs,
        output_dir=None,
        several=False,
        statements=provenance.statements_file(attestations),
        attestations=[provenance.renamed(a, pushed_as) for a in attestations],
    )
    click.echo(built.digest)
    if kw["write_lock"] is not None:
        files.atomic_write(kw["write_lock"], built.lock, "--write-lock")
        click.echo(f"wrote {kw['write_lock']}", err=True)
    if kw["push_to"]:
        print_pushed(rows, kw["push_report"])


def _base_spec(kw: dict[str, Any]) -> ImageSpec:
    """The pydistroless base the app is built on when no --base is given."""
    # The app's own options of these names (its --package, --tag, --ca-cert) are not the
    # base's.
    return spec_from(kw, packages=(), exclude=(), tags=(), ca_certs=())


def _bases(
    where: Location | None,
    location: str | None,
    kw: dict[str, Any],
    context: Store,
    verify_key: PublicKey | None = None,
) -> tuple[list[Base], Built | None]:
    """The base image of each architecture (at ``where``, which ``location`` names), with its
    SBOM when we built it; and that build (whose inputs are the app's too). With
    ``verify_key``, a registry's base is read only once its signature verifies."""
    from pydistroless.recipes.app import Base

    archs = csv(kw["archs"]) or (host_arch(),)
    if where is None or location is None:
        from pydistroless.recipes.base import host_python
        from pydistroless.recipes.builder import build_image

        spec = _base_spec(kw)
        built = build_image(spec, context)
        # Bytecode does not depend on the CPU: another architecture's .pyc are compiled by the
        # same Debian Python built for this machine.
        compilers = {
            arch: host_python(spec, built.lock, built.lock.for_arch(arch), context)
            for arch in archs
        }
        return [
            Base(image, document, compilers[arch])
            for arch, image, (_, document) in zip(archs, built.images, built.sboms, strict=True)
        ], built
    from pydistroless.core.arch import architecture
    from pydistroless.oci.model import platform_image
    from pydistroless.transfer import places

    artifact = places.read(where, registry_settings(kw), verify_key=verify_key)
    if not kw["archs"]:
        return [Base(platform_image(artifact, None, where=location))], None
    return [
        Base(platform_image(artifact, architecture(arch).platform, where=location))
        for arch in archs
    ], None
