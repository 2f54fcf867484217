"""Options several commands share: where packages come from, which image to build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pydistroless.core.arch import host_arch
from pydistroless.debian.sources import SourceOptions
from pydistroless.recipes.spec import DEFAULT_SUITE, ImageSpec


def csv(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--mirror",
            "mirrors",
            multiple=True,
            metavar="URL",
            help="Debian archive base URL (repeatable, tried in order). Default: the Debian "
            "entries of this machine's apt sources, or $PYDISTROLESS_MIRROR.",
        ),
        click.option(
            "--security-mirror",
            "security_mirrors",
            multiple=True,
            metavar="URL",
            help="Debian security archive base URL (repeatable). Default: from apt sources, "
            "or $PYDISTROLESS_SECURITY_MIRROR.",
        ),
        click.option(
            "--keyring",
            "keyrings",
            multiple=True,
            type=click.Path(path_type=Path),
            metavar="FILE",
            help="OpenPGP keyring to verify InRelease with (repeatable). Default: the Debian "
            "archive keyring in /usr/share/keyrings.",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            help="Do NOT verify archive signatures. Checksums are still checked. Dangerous.",
        ),
        click.option(
            "--accept-expired-release",
            "accept_expired",
            is_flag=True,
            help="Take a signed Release file past its Valid-Until (a snapshot archive, or a "
            "mirror's testing suites), as apt's Check-Valid-Until=false does. The signature is "
            "still checked; only the freshness promise is waived.",
        ),
        click.option(
            "--offline", is_flag=True, help="Build from the cache alone; name what is missing."
        ),
        click.option(
            "--cache-dir",
            type=click.Path(path_type=Path),
            metavar="DIR",
            help="Download and build cache. Default: ~/.cache/pydistroless or "
            "$PYDISTROLESS_CACHE_DIR.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def image_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--suite",
            default=DEFAULT_SUITE,
            show_default=True,
            help="Debian suite (codename): trixie, bookworm, ...",
        ),
        click.option(
            "--python",
            metavar="3.X[.Y][t]",
            help="Python version. 3.X takes the suite's Python 3.X, or builds the newest "
            "upstream 3.X from source when the suite has none; 3.X.Y builds that upstream "
            "release unless the suite has exactly it; a t (3.13t, 3.13.15t) builds upstream "
            "CPython free-threaded, without the GIL. Default: the suite's python3.",
        ),
        click.option(
            "--python-from",
            type=click.Choice(["auto", "debian", "source"]),
            default="auto",
            show_default=True,
            help="Where Python comes from: the suite's packages, or upstream CPython compiled "
            "in a builder tree of the suite; auto picks the suite's when it has the version.",
        ),
        click.option(
            "--no-python-optimizations",
            is_flag=True,
            help="Build CPython from source without PGO and LTO: minutes faster to build, "
            "about 10-30% slower to run.",
        ),
        click.option(
            "--source-url",
            metavar="URL|FILE",
            help="The CPython tarball to build (a mirror's URL or a local file); needs "
            "--python 3.X.Y and --source-sha256 or --source-signature.",
        ),
        click.option(
            "--source-sha256",
            metavar="HEX",
            help="The SHA256 the --source-url tarball must have.",
        ),
        click.option(
            "--source-signature",
            metavar="URL|FILE",
            help="The --source-url tarball's detached OpenPGP signature (python.org's .asc), "
            "checked against the release managers' key of Debian's python3.X source package.",
        ),
        click.option(
            "--arch",
            "archs",
            multiple=True,
            metavar="ARCH[,ARCH]",
            help=f"Debian architecture(s); several make one multi-platform image. "
            f"Default: {host_arch()}.",
        ),
        click.option(
            "--variant",
            type=click.Choice(["standard", "debug", "builder", "cc"]),
            default="standard",
            show_default=True,
            help="debug adds busybox under /busybox (a shell for troubleshooting); builder "
            "adds busybox as /bin/sh, gcc, make, the usual -dev headers, Python's headers, "
            "pip, uv, poetry and pipenv (the first stage of a multi-stage Dockerfile); cc "
            "adds the C++ runtime and keeps glibc whole, for what a Dockerfile copies in.",
        ),
        click.option(
            "--user",
            default="",
            help="Who the image runs as: nonroot (65532), root, or a numeric UID. Default: "
            "nonroot, and root for the builder variant (a build stage, as python:X-slim).",
        ),
        click.option(
            "--package",
            "packages",
            multiple=True,
            metavar="NAME[=VERSION]",
            help="Extra Debian package to install with its dependencies (repeatable).",
        ),
        click.option(
            "--exclude",
            multiple=True,
            metavar="NAME",
            help="Leave a package out even if something depends on it (repeatable).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def sources_from(**kw: Any) -> SourceOptions:
    return SourceOptions(
        mirrors=tuple(kw["mirrors"]),
        security_mirrors=tuple(kw["security_mirrors"]),
        keyrings=tuple(kw["keyrings"]),
        insecure=kw["insecure"],
        accept_expired=kw.get("accept_expired", False),
        offline=kw["offline"],
        cache_dir=kw["cache_dir"],
    )


def spec_from(kw: dict[str, Any], **instead: Any) -> ImageSpec:
    """The image the options describe (those a command lacks take their defaults), with
    the fields a command means otherwise given ``instead``."""
    fields: dict[str, Any] = {
        "suite": kw["suite"],
        "python": kw["python"],
        "archs": csv(kw["archs"]) or (host_arch(),),
        "variant": kw["variant"],
        "user": kw["user"],
        "python_from": kw["python_from"],
        "optimize_python": not kw["no_python_optimizations"],
        "source_url": kw["source_url"],
        "source_sha256": kw["source_sha256"],
        "source_signature": kw["source_signature"],
        "packages": csv(kw.get("packages", ())),
        "exclude": csv(kw.get("exclude", ())),
        "ca_certs": tuple(kw.get("ca_certs", ())),
        "tags": tuple(kw.get("tags", ())),
        "keep": csv(kw.get("keep", ())),
        "sbom_format": kw.get("sbom_format", "spdx"),
        "pyc": not kw.get("no_pyc", False),
    }
    return ImageSpec(**{**fields, **instead})
