"""App images: a rebuild after a one-line change, a cold build against uv, a warm build.

- rebuild: examples/fastapi-uvicorn built once (untimed, caches filled), then each round a
  line of main.py changes and the image is built again; the reference is the cold build of
  the same project in the same run (empty pydistroless and uv caches).
- cold: the same fastapi example from empty caches (the base image included), against
  `uv pip install --target DIR` of the same lock (exported by `uv export`) for the same
  platform, from an empty uv cache. uv writes a folder; pydistroless also builds the base,
  compiles every module and writes a compressed image.
- warm: examples/pandas built again with nothing changed, against `pydistroless --version`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from _common import (
    PYDISTROLESS,
    ROOT,
    alternate,
    default_cache_dir,
    fresh_dir,
    median,
    parser,
    report,
    run,
    scratch,
    timed,
    times_cell,
    verdict,
)

REBUILD_SECONDS = 0.5
REBUILD_OF_COLD = 0.10
COLD_RATIO = 1.5
WARM_SECONDS = 1.0
EXAMPLES = ROOT / "examples"
UV = shutil.which("uv") or str(Path(PYDISTROLESS).with_name("uv"))


def app(project: Path, out: Path, cache: Path) -> list[str]:
    return [PYDISTROLESS, "app", str(project), "-o", str(out), "--cache-dir", str(cache)]


def with_uv_cache(uv_cache: Path) -> dict[str, str]:
    return {**os.environ, "UV_CACHE_DIR": str(uv_cache)}


def main() -> None:
    p = parser(__doc__, runs=3)
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="warm download cache for the warm builds (default: %(default)s)")
    args = p.parse_args()
    work = scratch()
    try:
        rows, findings = measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args, "App images", ["", "median s", "min s", "max s", "all runs (s)"], rows, findings,
           notes=NOTES)


def measure(args, work: Path) -> tuple[list[list[str]], list[str]]:
    warm_cache = args.cache_dir.expanduser()
    project = work / "fastapi"
    shutil.copytree(EXAMPLES / "fastapi-uvicorn", project)
    run([UV, "lock", "--quiet", "--directory", str(project)])  # as its developers would
    requirements = work / "requirements.txt"
    run([UV, "export", "--locked", "--no-dev", "--no-emit-project", "--format",
         "requirements-txt", "--directory", str(project), "-o", str(requirements), "--quiet"])
    uv_cache = work / "uv-warm"
    run(app(project, work / "warm.tar", warm_cache), env=with_uv_cache(uv_cache))
    counter = iter(range(1_000_000))

    def rebuild() -> float:
        main = project / "main.py"
        main.write_text(main.read_text() + f"\n# change {next(counter)}\n")
        return timed(app(project, work / "warm.tar", warm_cache),
                     env=with_uv_cache(uv_cache))

    def cold_ours() -> float:
        cache, fresh_uv = fresh_dir(work, "cache-"), fresh_dir(work, "uv-")
        try:
            command = app(project, work / "cold.tar", cache)
            return timed(command, env=with_uv_cache(fresh_uv))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(fresh_uv, ignore_errors=True)

    def cold_uv() -> float:
        target, fresh_uv = fresh_dir(work, "target-"), fresh_dir(work, "uv-")
        try:
            return timed([UV, "pip", "install", "--quiet", "--target", str(target),
                          "--python-platform", "x86_64-manylinux_2_40", "--python-version",
                          "3.13", "--no-deps", "--require-hashes", "-r", str(requirements)],
                         env=with_uv_cache(fresh_uv))
        finally:
            shutil.rmtree(target, ignore_errors=True)
            shutil.rmtree(fresh_uv, ignore_errors=True)

    pandas_out = work / "pandas.tar"
    run(app(EXAMPLES / "pandas", pandas_out, warm_cache), env=with_uv_cache(uv_cache))

    def warm_pandas() -> float:
        return timed(app(EXAMPLES / "pandas", pandas_out, warm_cache),
                     env=with_uv_cache(uv_cache))

    times = alternate(args.runs, {
        "fastapi: rebuild after a one-line change": rebuild,
        "fastapi: cold build (empty caches)": cold_ours,
        "uv pip install --target (same lock, empty uv cache)": cold_uv,
        "pandas: warm build, nothing changed": warm_pandas,
        "pydistroless --version": lambda: timed([PYDISTROLESS, "--version"]),
    })
    rows = [[name, f"{median(t):.2f}", f"{min(t):.2f}", f"{max(t):.2f}", times_cell(t)]
            for name, t in times.items()]
    rebuilt = median(times["fastapi: rebuild after a one-line change"])
    cold = median(times["fastapi: cold build (empty caches)"])
    uv = median(times["uv pip install --target (same lock, empty uv cache)"])
    warm = median(times["pandas: warm build, nothing changed"])
    findings = [
        f"Rebuild after a one-line change: **{rebuilt:.2f} s**, target < {REBUILD_SECONDS} s: "
        f"**{verdict(rebuilt < REBUILD_SECONDS)}**; **{rebuilt / cold:.1%}** of the cold build, "
        f"target < {REBUILD_OF_COLD:.0%}: **{verdict(rebuilt / cold < REBUILD_OF_COLD)}**",
        f"Cold build pydistroless / uv pip install --target (medians): **{cold / uv:.2f}**, "
        f"target <= {COLD_RATIO}: **{verdict(cold / uv <= COLD_RATIO)}**",
        f"Warm build of pandas: **{warm:.2f} s**, target < {WARM_SECONDS:.0f} s: "
        f"**{verdict(warm < WARM_SECONDS)}**",
    ]
    return rows, findings


NOTES = """
The rows alternate, the first rotating each round. "cold" empties the pydistroless cache
(Debian indexes, packages, the base image, wheels) and uv's cache before each run; the uv
side installs the same pinned, hashed wheels (`uv export` of the example's `uv.lock`) for
the same platform (`--python-platform x86_64-manylinux_2_40 --python-version 3.13`) into a
folder. The warm builds use a filled cache; the rebuild appends a comment line to `main.py`
before each run, so its project layer changes every time.
"""


if __name__ == "__main__":
    main()
