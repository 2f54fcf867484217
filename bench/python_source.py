"""CPython from source: the unoptimized build against a plain `./configure && make -j2`, the
cached rebuild, and the optimized build's speed against Debian's python3.13.

1. Build. Each round times `pydistroless build --python 3.13.15 --no-python-optimizations`
   with the compiled Pythons removed from the cache (the tarball, the indexes and the builder
   tree stay: they are downloads, not the build), and a new SOURCE_DATE_EPOCH so the image
   is assembled too; and, as the reference in the same round, the same tarball unpacked on
   the host and built with `./configure && make -j2`.
2. Cached rebuild: the same `pydistroless build` again.
3. Speed: the optimized build (PGO + LTO, the default of this route; its build time is
   reported) and the default Debian image, both run in docker, each timing the same set of
   CPU-bound benchmarks of pyperformance's kind; the two images alternate round by round.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

from _common import (
    PYDISTROLESS,
    alternate,
    default_cache_dir,
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

VERSION = "3.13.15"
QUICK = ("--python", VERSION, "--no-python-optimizations", "--accept-expired-release")
BUILD_TARGET = 1.3
CACHED_TARGET = 2.0
SPEED_TARGET = 1.0
DEBIAN_TAG = "pydistroless-bench/python:debian"
SOURCE_TAG = "pydistroless-bench/python:source-pgo"

# Each benchmark is timed `repeat` times, each timing looping it for at least MIN_TIMING
# seconds (a call of a few milliseconds is mostly the clock's and the scheduler's noise on a
# fast machine); the best time per call counts (the others are the machine's noise).
# Printed as one JSON object: name -> seconds per call.
SUITE = r"""
import json, re, sys, time

def nbody(n=40000):
    bodies = [([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], 39.47),
              ([4.84, -1.16, -0.10], [0.60, 2.81, -0.02], 0.037),
              ([8.34, 4.12, -0.40], [-1.01, 1.82, 0.008], 0.011),
              ([12.89, -15.11, -0.22], [1.08, 0.86, -0.01], 0.0017),
              ([15.37, -25.91, 0.17], [0.97, 0.59, -0.03], 0.002)]
    pairs = [(bodies[i], bodies[j]) for i in range(5) for j in range(i + 1, 5)]
    for _ in range(n):
        for ((p1, v1, m1), (p2, v2, m2)) in pairs:
            dx, dy, dz = p1[0] - p2[0], p1[1] - p2[1], p1[2] - p2[2]
            mag = 0.01 * (dx * dx + dy * dy + dz * dz) ** -1.5
            b1, b2 = m1 * mag, m2 * mag
            v1[0] -= dx * b2; v1[1] -= dy * b2; v1[2] -= dz * b2
            v2[0] += dx * b1; v2[1] += dy * b1; v2[2] += dz * b1
        for (p, v, _m) in bodies:
            p[0] += 0.01 * v[0]; p[1] += 0.01 * v[1]; p[2] += 0.01 * v[2]

def fannkuch(n=9):
    perm1 = list(range(n)); count = [0] * n; best = 0; r = n
    while True:
        while r != 1:
            count[r - 1] = r; r -= 1
        perm = perm1[:]; flips = 0
        k = perm[0]
        while k:
            perm[:k + 1] = perm[k::-1]; flips += 1; k = perm[0]
        best = max(best, flips)
        while r != n:
            perm1.insert(r, perm1.pop(0)); count[r] -= 1
            if count[r] > 0:
                break
            r += 1
        else:
            return best

def spectral_norm(n=120):
    def a(i, j):
        return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)
    u = [1.0] * n
    for _ in range(5):
        v = [sum(a(i, j) * u[j] for j in range(n)) for i in range(n)]
        u = [sum(a(j, i) * v[j] for j in range(n)) for i in range(n)]

def json_round_trip():
    data = {"k%d" % i: [i, str(i), {"x": i * 1.5, "y": [True, None]}] for i in range(2000)}
    for _ in range(20):
        json.loads(json.dumps(data))

def regex():
    text = ("user%d@example.org, 10.0.%d.1, 2026-12-%02d; " * 1) * 1
    lines = [text % (i, i % 256, i % 28 + 1) for i in range(20000)]
    pattern = re.compile(r"(\w+)@([\w.]+)|(\d+\.\d+\.\d+\.\d+)|(\d{4})-(\d\d)-(\d\d)")
    for line in lines:
        pattern.findall(line)

def objects():
    class Point:
        __slots__ = ("x", "y")
        def __init__(self, x, y):
            self.x, self.y = x, y
        def moved(self, d):
            return Point(self.x + d, self.y - d)
    p = Point(0, 0)
    for i in range(300000):
        p = p.moved(i & 7)

def generators_and_sorting():
    data = [(i * 7919) % 10007 for i in range(200000)]
    sorted(x for x in data if x & 1)
    sum(sorted(data, key=lambda v: -v)[:1000])

def big_integers():
    x = 1
    for i in range(1, 3000):
        x = x * i + (x >> 7)
    str(x % 10**4000)  # within int_max_str_digits

MIN_TIMING = 0.2
result = {}
for name, func in list(globals().items()):
    if callable(func) and not name.startswith("_") and func.__module__ == "__main__":
        func()  # warm-up
        start = time.perf_counter(); func(); once = time.perf_counter() - start
        loops = max(1, int(MIN_TIMING / max(once, 1e-6)) + 1)
        best = float("inf")
        for _ in range(int(sys.argv[1])):
            start = time.perf_counter()
            for _ in range(loops):
                func()
            best = min(best, (time.perf_counter() - start) / loops)
        result[name] = best
print(json.dumps(result))
"""


def main() -> None:
    p = parser(__doc__, runs=2)
    p.add_argument("--speed-runs", type=int, default=3, help="rounds of the speed suite")
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="download cache to warm and use (default: %(default)s)")
    args = p.parse_args()
    cache = args.cache_dir.expanduser()
    work = scratch()
    try:
        build_rows, build_lines = _build_part(cache, work, args.runs)
        speed_rows, speed_lines = _speed_part(cache, work, args.speed_runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["docker", "rmi", "-f", DEBIAN_TAG, SOURCE_TAG], capture_output=True)
    report(
        args,
        f"CPython {VERSION} from source",
        ["", "median s", "min s", "max s", "all runs (s)"],
        build_rows + speed_rows,
        build_lines + speed_lines,
        notes=f"""
The build rows: pydistroless's side is the whole `pydistroless build {' '.join(QUICK)}` (plan
from the cached resolution, configure, make -j2, make install, strip, the image assembled and
written), with only the compiled Pythons removed from the cache before each round; the
reference unpacks the same verified tarball on the host (Debian 12, its gcc) and runs
`./configure && make -j2` with no options, no install and no image. The builder tree is
trixie's (gcc 14), so the two compilers differ; the ratio is of wall-clock times in the same
rounds. The speed rows are the best of 5 timings of each benchmark inside `docker run`
(each timing loops it for at least 0.2 s, and counts the time per call), the median over the
rounds; the ratio is Debian's time over ours (above 1: ours is faster),
as the geometric mean over the benchmarks.
""",
    )


def _lock(cache: Path, *extra: str) -> dict:
    out = run([PYDISTROLESS, "lock", "--cache-dir", str(cache), "-o", "-", *extra]).stdout
    return json.loads(out)


def _build_part(cache: Path, work: Path, runs: int) -> tuple[list, list[str]]:
    source = _lock(cache, *QUICK)["archs"][0]["python-source"]  # compiles it once if need be
    tarball = cache / "blobs" / "sha256" / source["sha256"]
    # A timestamp no earlier run used: every round's image is new, so it is assembled.
    epoch = iter(range(int(time.time()), 8**11))

    def ours() -> float:
        for record in (cache / "pythons").glob("*/build.json"):  # the optimized one stays
            if "--enable-optimizations" not in json.loads(record.read_text())["configure"]:
                shutil.rmtree(record.parent)
        command = [PYDISTROLESS, "build", "--cache-dir", str(cache), *QUICK,
                   "-o", str(work / "img.tar")]
        return timed(command, env={**os.environ, "SOURCE_DATE_EPOCH": str(next(epoch))})

    def plain() -> float:
        tree = work / "plain"
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir()

        def steps() -> None:
            with tarfile.open(tarball, "r:xz") as archive:
                archive.extractall(tree, filter="data")
            src = tree / f"Python-{VERSION}"
            run(["./configure"], cwd=src)
            run(["make", "-j2"], cwd=src)

        seconds = _seconds(steps)
        shutil.rmtree(tree, ignore_errors=True)
        return seconds

    times = alternate(runs, {"pydistroless build, unoptimized": ours,
                             "plain ./configure && make -j2": plain})
    ratio = median(times["pydistroless build, unoptimized"]) / median(
        times["plain ./configure && make -j2"]
    )
    cached = alternate(5, {"cached rebuild": lambda: timed(
        [PYDISTROLESS, "build", "--cache-dir", str(cache), *QUICK, "-o", str(work / "img.tar")]
    )})["cached rebuild"]
    rows = [_row(name, t) for name, t in {**times, "cached rebuild": cached}.items()]
    pair = paired_ratio(times["pydistroless build, unoptimized"],
                        times["plain ./configure && make -j2"])
    lines = [
        f"Unoptimized build from source / plain configure && make -j2 (medians): **{ratio:.2f}**, "
        f"target <= {BUILD_TARGET}: **{verdict(ratio <= BUILD_TARGET)}** (median of the per-round "
        f"ratios: {pair:.2f})",
        f"Cached rebuild: **{median(cached):.2f} s**, target < {CACHED_TARGET:.0f} s: "
        f"**{verdict(median(cached) < CACHED_TARGET)}**",
    ]
    return rows, lines


def _speed_part(cache: Path, work: Path, runs: int) -> tuple[list, list[str]]:
    optimized = ("--python", VERSION, "--accept-expired-release")
    done = run([PYDISTROLESS, "build", "--cache-dir", str(cache), *optimized, "--tag", SOURCE_TAG,
                "--load", "-o", str(work / "pgo.tar")])
    compiled = [ln for ln in done.stderr.splitlines() if ln.startswith("compiled CPython")]
    record = next(
        (json.loads(p.read_text()) for p in (cache / "pythons").glob("*/build.json")
         if "--enable-optimizations" in json.loads(p.read_text())["configure"]),
        None,
    )
    run([PYDISTROLESS, "build", "--cache-dir", str(cache), "--tag", DEBIAN_TAG, "--load",
         "-o", str(work / "debian.tar")])

    def suite(tag: str) -> dict[str, float]:
        out = run(["docker", "run", "--rm", "--network", "none", tag, "-c", SUITE, "5"]).stdout
        return json.loads(out)

    results: dict[str, list[dict[str, float]]] = {"debian": [], "ours": []}

    def side(name: str, tag: str):
        def once() -> float:
            found = suite(tag)
            results[name].append(found)
            return sum(found.values())
        return once

    alternate(runs, {"ours": side("ours", SOURCE_TAG), "debian": side("debian", DEBIAN_TAG)})
    names = sorted(results["ours"][0])
    rows = []
    ratios = []
    for name in names:
        ours = [r[name] for r in results["ours"]]
        theirs = [r[name] for r in results["debian"]]
        ratios.append(median(theirs) / median(ours))
        rows.append(_row(f"{name}: CPython {VERSION} PGO+LTO", ours, 3))
        rows.append(_row(f"{name}: Debian python3.13", theirs, 3))
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    build_seconds = record["seconds"] if record else None
    how_long = (f"{build_seconds / 60:.0f} min" if build_seconds else "from the cache")
    lines = [
        f"Runtime speed, Debian python3.13 time / CPython {VERSION} PGO+LTO time (geometric mean "
        f"of {len(names)} benchmarks): **{geomean:.2f}x**, target >= {SPEED_TARGET}: "
        f"**{verdict(geomean >= SPEED_TARGET)}**; the optimized build took {how_long}"
        + (f" ({compiled[0]})" if compiled else ""),
    ]
    return rows, lines


def _seconds(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def _row(name: str, values: list[float], digits: int = 2) -> list[str]:
    cells = [f"{v:.{digits}f}" for v in (median(values), min(values), max(values))]
    return [name, *cells, times_cell(values) if digits == 2 else " ".join(
        f"{v:.{digits}f}" for v in values)]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
