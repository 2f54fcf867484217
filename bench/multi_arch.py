"""Two architectures against one: `--arch amd64,arm64` versus `--arch amd64`.

Downloads are cached, the rest is not: each timed build gets a fresh --cache-dir holding only a
copy of blobs/ from a warm cache (the verified downloads), not records/, so the package
resolutions and the images are made again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from _common import (
    PYDISTROLESS,
    alternate,
    build,
    default_cache_dir,
    fresh_dir,
    median,
    paired_ratio,
    parser,
    report,
    scratch,
    timed,
    times_cell,
    verdict,
)

TARGET = 1.6
ONE, TWO = "amd64", "amd64,arm64"


def main() -> None:
    p = parser(__doc__, runs=7)
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="warm download cache whose blobs/ are copied (default: %(default)s)")
    args = p.parse_args()
    warm = args.cache_dir.expanduser()
    work = scratch()
    build(warm, work / "warm.tar", "--arch", TWO)  # downloads both architectures' packages
    blobs = warm / "blobs"

    def side(arch: str) -> float:
        cache = fresh_dir(work, "cache-")
        shutil.copytree(blobs, cache / "blobs")
        seconds = timed([PYDISTROLESS, "build", "--cache-dir", str(cache), "--arch", arch,
                         "-o", str(cache / "image.tar")])
        shutil.rmtree(cache)
        return seconds

    try:
        times = alternate(args.runs, {ONE: lambda: side(ONE), TWO: lambda: side(TWO)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = median(times[TWO]) / median(times[ONE])
    rows = [
        [f"--arch {arch}", f"{median(t):.2f}", f"{min(t):.2f}", f"{max(t):.2f}", times_cell(t)]
        for arch, t in times.items()
    ]
    report(
        args,
        "Two architectures vs one (downloads cached, image cache cold)",
        ["", "median s", "min s", "max s", "all runs (s)"],
        rows,
        [f"Ratio two-arch / one-arch (medians): **{ratio:.3f}**, target < {TARGET}: "
         f"**{verdict(ratio < TARGET)}** (median of the per-round ratios: "
         f"{paired_ratio(times[TWO], times[ONE]):.3f})"],
        notes="""
Before the rounds, one untimed `--arch amd64,arm64` build fills the warm cache. Each timed
build then starts from a new `--cache-dir` into which only `blobs/` of the warm cache was
copied (untimed), so it reads the InRelease files, indexes and packages from there but
resolves the packages and assembles, byte-compiles and compresses every image again. arm64's
standard library is byte-compiled with the amd64 build of the same Debian Python (bytecode does
not depend on the CPU), so no emulation is involved. The sides alternate, the first one
swapping each round.
""",
    )


if __name__ == "__main__":
    main()
