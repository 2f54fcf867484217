"""Cold build of the default image: pydistroless against mmdebstrap, both from nothing.

Ours: `pydistroless build --cache-dir EMPTY -o X.tar`, with an empty cache each round, so it
downloads and verifies the indexes and packages. The reference: `mmdebstrap --variant=extract`
of exactly our image's package list (from `pydistroless lock`), from the same three suites of
the same mirrors, which also downloads everything afresh into its own temporary folder.
"""

from __future__ import annotations

import shutil
import sys

from _common import (
    PYDISTROLESS,
    alternate,
    fresh_dir,
    lock_names,
    mb,
    median,
    paired_ratio,
    parser,
    report,
    run,
    scratch,
    timed,
    times_cell,
    verdict,
)

from pydistroless.debian.sources import mirrors_from_apt, read_apt_sources


def main() -> None:
    p = parser(__doc__, runs=5)
    p.add_argument("--suite", default="trixie")
    args = p.parse_args()

    mirrors = mirrors_from_apt(read_apt_sources())
    if not mirrors.main or not mirrors.security:
        sys.exit("the apt sources name no Debian main or security mirror")
    main_uri, security_uri = mirrors.main[0], mirrors.security[0]
    work = scratch()
    packages = lock_names(fresh_dir(work, "lock-"), "--suite", args.suite)
    print(f"{len(packages)} packages: {' '.join(packages)}", file=sys.stderr)
    s = args.suite
    sources = [
        f"deb {main_uri} {s} main",
        f"deb {main_uri} {s}-updates main",
        f"deb {security_uri} {s}-security main",
    ]
    sizes: dict[str, int] = {}

    def ours() -> float:
        cache = fresh_dir(work, "cache-")
        out = cache.parent / (cache.name + ".tar")
        seconds = timed([PYDISTROLESS, "build", "--suite", s, "--cache-dir", str(cache),
                         "-o", str(out)])
        sizes["pydistroless"] = out.stat().st_size
        shutil.rmtree(cache)
        out.unlink()
        return seconds

    def mmdebstrap() -> float:
        out = fresh_dir(work, "mm-") / "rootfs.tar"
        seconds = timed(["mmdebstrap", "--variant=extract", "--include=" + ",".join(packages),
                         s, str(out), *sources])
        sizes["mmdebstrap"] = out.stat().st_size
        shutil.rmtree(out.parent)
        return seconds

    try:
        times = alternate(args.runs, {"pydistroless": ours, "mmdebstrap": mmdebstrap})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mm_version = run(["mmdebstrap", "--version"]).stdout.strip()
    ratio = median(times["pydistroless"]) / median(times["mmdebstrap"])
    what = {
        "pydistroless": "OCI image tar, gzip layer, stdlib byte-compiled",
        "mmdebstrap": "plain rootfs tar, packages unpacked, nothing cut",
    }
    rows = [
        [name, f"{median(t):.2f}", f"{min(t):.2f}", f"{max(t):.2f}", times_cell(t),
         f"{mb(sizes[name])} MB {what[name]}"]
        for name, t in times.items()
    ]
    report(
        args,
        f"Cold build vs mmdebstrap ({s}, {len(packages)} packages)",
        ["", "median s", "min s", "max s", "all runs (s)", "output"],
        rows,
        [f"Ratio pydistroless / mmdebstrap (medians): **{ratio:.2f}**, target <= 1.0 (no "
         f"slower than mmdebstrap): **{verdict(ratio <= 1.0)}** (median of the per-round "
         f"ratios: {paired_ratio(times['pydistroless'], times['mmdebstrap']):.2f})"],
        notes=f"""
Each round starts from an empty `--cache-dir`, so pydistroless downloads and verifies the
InRelease files and Packages indexes of {s}, {s}-updates and {s}-security and all
{len(packages)} packages; {mm_version} with `--variant=extract` downloads the same indexes and
packages into a fresh temporary folder of its own. The package list given to mmdebstrap is
exactly the image's (`pydistroless lock -o -`, `archs[0].packages[].name`); mirrors are the
machine's apt sources, three one-line `deb` sources given as three MIRROR arguments.
The two do not do the same work after the downloads: mmdebstrap only unpacks the packages
into a tar; pydistroless also cuts the slices, checks every ELF file's libraries, byte-compiles
the standard library with the image's own interpreter, and writes a gzip-compressed OCI
image and an SBOM. The sides alternate, the first one swapping each round.
""",
    )


if __name__ == "__main__":
    main()
