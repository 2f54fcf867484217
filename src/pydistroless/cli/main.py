"""The ``pydistroless`` command: parse, call the pipeline, print, map errors to exit codes."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pydistroless import __version__
from pydistroless.cli.app import app_cmd
from pydistroless.cli.check import check_cmd
from pydistroless.cli.images import COMMANDS, insecure_registry_option, registry_settings
from pydistroless.cli.options import image_options, source_options, sources_from, spec_from
from pydistroless.cli.outdated import outdated_cmd
from pydistroless.cli.outputs import output_options, outputs_from, print_pushed, subject_name
from pydistroless.cli.signing import COMMANDS as SIGNING_COMMANDS
from pydistroless.core import files, sandbox
from pydistroless.core.errors import OutputError, PydistrolessError, UsageError
from pydistroless.core.report import hide_logins
from pydistroless.fs.slicing import SLICE_NAMES
from pydistroless.recipes.spec import (
    DEFAULT_SUITE,
    ImageSpec,
    check_source_date_epoch,
)

if TYPE_CHECKING:
    from pydistroless.recipes import config as config_file
    from pydistroless.recipes import lock as lockfile
    from pydistroless.recipes.base import Built
    from pydistroless.recipes.provenance import Attestation

# The build pipeline (Debian archive, ELF reader, assembler) is imported by the commands that
# use it, not here: `push`, `pull` and `copy` start in a fraction of the time without it.

EPILOG_MAIN = """\b
Examples:
  pydistroless build                       # Python 3.13 on Debian 13, for this machine
  pydistroless build --load                # ... and load it into docker or podman
  pydistroless build --suite bookworm      # Python 3.11 on Debian 12
  pydistroless build --arch amd64,arm64 --oci-layout ./python-oci
  pydistroless lock -o python.lock && pydistroless build --lock python.lock

\b
Exit codes: 0 success, 2 bad usage or configuration, 3 network, 4 signature or
checksum mismatch, 5 missing from cache with --offline, 6 unresolvable packages,
7 malformed or hostile package, 8 image check failed, 9 output failed,
10 registry failed, 11 registry login needed or refused, 12 not on the registry,
13 registry certificate not trusted, 14 no image for that platform, 15 malformed image,
16 a build failed (CPython, or the project's own wheel).
"""


@click.group(epilog=EPILOG_MAIN, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pydistroless")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option(
    "--weak-sandbox",
    is_flag=True,
    help="DANGEROUS: where the kernel forbids user namespaces, run code from images and "
    "packages (an sdist's build, a base's interpreter, CPython's build) as root with only a "
    "read-only root around it: it can reach the network, and the host if it escapes.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, weak_sandbox: bool) -> None:
    """Build minimal, non-root Python container images straight from signed Debian
    archives, with no Docker daemon and no shell in the result.

    The image holds Debian's Python, the shared libraries its modules need, the CA
    certificates and the accounts root, nobody and nonroot (65532); it runs as nonroot by
    default. Everything is verified against the Debian archive keyring and cached.
    """
    ctx.obj = {"debug": debug}
    if weak_sandbox:
        # Read by each sandbox's launcher, a process of its own.
        os.environ[sandbox.WEAK_VAR] = "1"


@cli.command(
    "build",
    epilog="""\b
Examples:
  pydistroless build
  pydistroless build --load --tag myorg/python:3.13
  pydistroless build --suite bookworm --output py311.tar
  pydistroless build --arch amd64,arm64 --oci-layout ./oci
  pydistroless build --package libpq5 --ca-cert corp-root.pem
  pydistroless build --offline            # from the cache alone
""",
)
@image_options
@click.option(
    "--ca-cert",
    "ca_certs",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Extra PEM CA certificate to trust: added to the image's bundle, and trusted for --push "
    "(repeatable).",
)
@click.option(
    "--keep",
    multiple=True,
    metavar="SLICE[,SLICE]",
    help=f"Keep a slice that is cut by default (repeatable): {', '.join(SLICE_NAMES)}.",
)
@click.option(
    "--no-pyc",
    is_flag=True,
    help="Do not byte-compile the standard library (smaller, slower to start).",
)
@click.option(
    "--lock",
    "lock_path",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Build exactly the packages of this lock (from `pydistroless lock`).",
)
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Folder for the image tars (one per image of a config matrix). Default: here.",
)
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    metavar="FILE",
    help="Config file (pydistroless.toml or a pyproject.toml with [tool.pydistroless]). "
    "Default: the one in the current folder, if any.",
)
@output_options
@source_options
@insecure_registry_option
@click.pass_context
def build_cmd(ctx: click.Context, **kw: Any) -> None:
    """Build a Python base image.

    Resolves the packages for Python from SUITE (plus SUITE-updates and SUITE-security),
    downloads and verifies them, assembles the file tree in memory and writes the image.
    Prints the image digest on stdout and where the image went on stderr.

    \b
    Its tags, unless --tag replaces them: pydistroless/python:<3.X>-debian<N> and
    :<3.X.Y>-debian<N> (and :nonroot for the default Python of the default suite), with
    -debug, -root or -uidN as they apply.
    """
    from pydistroless.debian.store import Store
    from pydistroless.recipes import lock as lockfile
    from pydistroless.recipes import provenance
    from pydistroless.recipes.builder import build_image
    from pydistroless.transfer.outputs import check_outputs, plan_outputs, write_outputs

    spec = spec_from(kw)
    if os.environ.get("SOURCE_DATE_EPOCH"):
        check_source_date_epoch(os.environ["SOURCE_DATE_EPOCH"], "SOURCE_DATE_EPOCH")
    specs, config = _with_config(ctx, spec, kw)
    if len(specs) > 1 and kw["output"] is not None:
        raise UsageError(
            f"{config.path if config else 'the config'} describes {len(specs)} images; "
            "use --output-dir instead of --output"
        )
    output_dir = kw["output_dir"] or (config.output_dir if config else None)
    outputs = outputs_from(
        kw, registry_settings(kw), config_sign_key=config.sign_key if config else None
    )
    for image_spec in specs:
        check_outputs(
            plan_outputs(
                None,
                image_spec.archs,
                image_spec.sbom_format,
                outputs,
                output_dir=output_dir,
                several=len(specs) > 1,
            )
        )
    if output_dir is not None:
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create --output-dir {output_dir}: {exc.strerror}") from exc
        files.check_directory(output_dir, "--output-dir")
    sources = sources_from(**kw)
    context = Store.create(
        sources,
        config_mirrors=config.mirrors if config else (),
        config_security_mirrors=config.security_mirrors if config else (),
    )
    lock = None
    if kw["lock_path"]:
        lock = lockfile.read(kw["lock_path"])
        explicit = {
            option
            for option in ("suite", "archs")
            if ctx.get_parameter_source(option) is click.core.ParameterSource.COMMANDLINE
        }
        specs = [_spec_from_lock(s, lock, explicit=explicit) for s in specs]
    pushed: list[tuple[str, str]] = []
    several = len(specs) > 1
    for image_spec in specs:
        built = build_image(image_spec, context, lock=lock)
        attestations = _attestations(built)
        name = subject_name(built.tags[0], outputs.push_to)
        pushed += write_outputs(
            built,
            outputs,
            output_dir=output_dir,
            several=several,
            statements=provenance.statements_file(attestations),
            attestations=[provenance.renamed(a, name) for a in attestations],
        )
        click.echo(f"{built.digest} {built.tags[0]}" if several else built.digest)
    if kw["push_to"]:
        print_pushed(pushed, kw["push_report"])


def _attestations(built: Built) -> tuple[Attestation, ...]:
    """The SBOM and provenance statements of a base build, about its local name."""
    from pydistroless.oci.reference import split_reference
    from pydistroless.recipes import provenance

    # The --ca-cert files were read before the build, and are read again for their digests.
    certs = []
    for path in built.ca_certs:
        try:
            certs.append((str(path), path.read_bytes()))
        except OSError as exc:
            raise UsageError(
                f"--ca-cert {path} can no longer be read ({exc.strerror}); leave it in place "
                "until the build is written"
            ) from None
    name = split_reference(built.tags[0])[0]
    return provenance.base_attestations(built, name, ca_certs=certs)


def _with_config(
    ctx: click.Context, spec: ImageSpec, kw: dict[str, Any]
) -> tuple[list[ImageSpec], config_file.Config | None]:
    """The images to build: from the config file (given, or found in the current folder),
    with the options given on the command line applied on top; else just ``spec``."""
    from pydistroless.recipes import config as config_file

    path = kw["config"] or config_file.discover(Path.cwd())
    if path is None:
        return [spec], None
    config = config_file.load(path)
    click.echo(f"using config {path} ({len(config.images)} image(s))", err=True)
    explicit = {
        name: getattr(spec, name)
        for option, name in _OPTION_FIELDS.items()
        if ctx.get_parameter_source(option) is click.core.ParameterSource.COMMANDLINE
    }
    return [replace(image, **explicit) for image in config.images], config


# Command-line options and the ImageSpec fields they set.
_OPTION_FIELDS = {
    "suite": "suite",
    "python": "python",
    "archs": "archs",
    "variant": "variant",
    "user": "user",
    "packages": "packages",
    "exclude": "exclude",
    "ca_certs": "ca_certs",
    "tags": "tags",
    "keep": "keep",
    "sbom_format": "sbom_format",
    "no_pyc": "pyc",
    "python_from": "python_from",
    "no_python_optimizations": "optimize_python",
    "source_url": "source_url",
    "source_sha256": "source_sha256",
    "source_signature": "source_signature",
}


def _spec_from_lock(spec: ImageSpec, lock: lockfile.Lock, *, explicit: set[str]) -> ImageSpec:
    """The spec of a build from ``lock``: the lock decides the suite, the Python, the
    packages and the architectures, so an option that says otherwise is refused rather than
    quietly ignored. ``explicit`` names the options the user gave."""
    locked_archs = tuple(a.arch for a in lock.archs)
    python = lock.archs[0].python

    def contradiction(option: str, given: object, locked: object) -> UsageError:
        return UsageError(
            f"{option} {given} contradicts the lock, which is for {locked}; drop {option} "
            "or re-create the lock with it (`pydistroless lock`)"
        )

    if ("suite" in explicit or spec.suite != DEFAULT_SUITE) and spec.suite != lock.suite:
        raise contradiction("--suite", spec.suite, lock.suite)
    source = lock.archs[0].python_source
    if source is not None:
        python = source.version + source.abiflags  # the lock's exact upstream release
    if spec.python_label is not None and spec.python_label not in (python, lock.archs[0].python):
        raise contradiction("--python", spec.python_label, f"Python {python}")
    if "archs" in explicit:
        extra = [a for a in spec.archs if a not in locked_archs]
        if extra:
            raise contradiction("--arch", ",".join(extra), ", ".join(locked_archs))
    for option, values in (("--package", spec.packages), ("--exclude", spec.exclude)):
        if values:
            raise UsageError(
                f"{option} {','.join(values)} cannot change a locked package set; "
                f"re-create the lock with {option} (`pydistroless lock {option} ...`)"
            )
    locked_variant = "standard"
    if any(a.package("gcc") for a in lock.archs):
        locked_variant = "builder"
    elif any(a.package("busybox-static") for a in lock.archs):
        locked_variant = "debug"
    if spec.variant != locked_variant:
        raise contradiction("--variant", spec.variant, f"the {locked_variant} variant")
    archs = spec.archs if "archs" in explicit else locked_archs
    return replace(spec, suite=lock.suite, archs=archs, python=python)


@cli.command(
    "lock",
    epilog="""\b
Examples:
  pydistroless lock -o python.lock
  pydistroless lock --arch amd64,arm64 --suite bookworm -o py311.lock
  pydistroless build --lock python.lock   # the same image, byte for byte, anywhere
""",
)
@image_options
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    default=Path("pydistroless.recipes.lock"),
    show_default=True,
    help="Where to write the lock ('-' for stdout).",
)
@source_options
def lock_cmd(**kw: Any) -> None:
    """Resolve the packages of an image and pin them in a lock file.

    The lock lists, per architecture, each package with its version, pool path and SHA256,
    and the Release files it was resolved from. `build --lock` builds exactly that.
    """
    from pydistroless.debian.store import Store
    from pydistroless.recipes import lock as lockfile
    from pydistroless.recipes.plan import plan

    spec = spec_from(kw)
    if str(kw["output"]) != "-":
        files.file_target(kw["output"], "--output")
    context = Store.create(sources_from(**kw))
    result = plan(spec, context)
    text = lockfile.dumps(result)
    if str(kw["output"]) == "-":
        click.echo(text, nl=False)
    else:
        files.atomic_write(kw["output"], text.encode(), "--output")
        click.echo(f"wrote {kw['output']}", err=True)


for _command in (app_cmd, check_cmd, outdated_cmd, *COMMANDS, *SIGNING_COMMANDS):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # Without standalone mode click answers a command's ctx.exit(N) (`outdated`) with N.
        code = cli.main(args=argv, prog_name="pydistroless", standalone_mode=False)
        if isinstance(code, int) and code:
            return code
    except PydistrolessError as exc:
        if debug:  # the traceback, and still the error's own exit code
            import traceback

            traceback.print_exc()
        click.echo(f"pydistroless: error: {hide_logins(str(exc))}", err=True)
        return exc.exit_code
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C into Abort; say what happened.
        interrupted = isinstance(exc.__context__, KeyboardInterrupt)
        click.echo(f"pydistroless: {'interrupted' if interrupted else 'aborted'}", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        click.echo("pydistroless: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
