"""Warm rebuild: the default image built again with a filled cache.

One untimed build fills the cache; then each round times the same build again, the same
build to a new output path, the same build with --offline, and, as the reference in the same
run, `pydistroless --version` (the cost of starting the CLI at all).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from _common import (
    PYDISTROLESS,
    alternate,
    build,
    default_cache_dir,
    median,
    parser,
    report,
    scratch,
    timed,
    times_cell,
    verdict,
)

TARGET = 2.0


def main() -> None:
    p = parser(__doc__, runs=5)
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="download cache to warm and use (default: %(default)s)")
    args = p.parse_args()
    cache = args.cache_dir.expanduser()
    work = scratch()
    same = work / "same.tar"
    build(cache, same)  # fills the cache: downloads, resolution, image
    counter = iter(range(1_000_000))

    def cmd(out: Path, *extra: str) -> list[str]:
        return [PYDISTROLESS, "build", "--cache-dir", str(cache), "-o", str(out), *extra]

    sides = {
        "same build again": lambda: timed(cmd(same)),
        "new output path": lambda: timed(cmd(work / f"new-{next(counter)}.tar")),
        "--offline": lambda: timed(cmd(work / "offline.tar", "--offline")),
        "pydistroless --version (reference)": lambda: timed([PYDISTROLESS, "--version"]),
    }
    try:
        times = alternate(args.runs, sides)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ref = median(times["pydistroless --version (reference)"])
    rows = [
        [name, f"{median(t):.2f}", f"{min(t):.2f}", f"{max(t):.2f}", times_cell(t),
         f"{median(t) / ref:.1f}"]
        for name, t in times.items()
    ]
    warm = median(times["same build again"])
    report(
        args,
        "Warm rebuild",
        ["", "median s", "min s", "max s", "all runs (s)", "x CLI start"],
        rows,
        [
            f"Warm rebuild (same build again): **{warm:.2f} s**, target < {TARGET:.0f} s: "
            f"**{verdict(warm < TARGET)}**",
            f"New output path: {median(times['new output path']):.2f} s; "
            f"--offline: {median(times['--offline']):.2f} s",
        ],
        notes="""
The cache was filled by one untimed build of the same image. "x CLI start" is each median
divided by that of `pydistroless --version`, timed in the same rounds. The rows rotate which
goes first each round.
""",
    )


if __name__ == "__main__":
    main()
