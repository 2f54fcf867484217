"""Static or shared libpython: which interpreter runs faster, the rest of the build equal.

CPython 3.13.15 is configured twice in the same builder tree pydistroless compiles in (both
unoptimized, so that the only difference is the link): with configure's default, libpython
linked statically into `python`, and with `--enable-shared`. Each build's `./python` then runs
the CPU-bound suite of `python_source.py` in the builder tree, the two alternating round by
round; the extension modules are imported by both first, which shows both load them.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from _common import default_cache_dir, median, parser, report, verdict
from python_source import SUITE, VERSION

from pydistroless.core import sandbox
from pydistroless.debian import buildroot
from pydistroless.debian.sources import SourceOptions
from pydistroless.debian.store import Store
from pydistroless.python import cpython, source

MODULES = "import ssl, sqlite3, ctypes, bz2, lzma, zlib, zoneinfo, uuid, readline, dbm.gnu, decimal"


def main() -> None:
    p = parser(__doc__, runs=3)
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="download cache to use (default: %(default)s)")
    args = p.parse_args()
    ctx = Store.create(SourceOptions(cache_dir=args.cache_dir.expanduser(),
                                       accept_expired=True))
    tree = buildroot.builder_tree("trixie", "amd64", ctx)
    tarball = source.debian_tarball(VERSION, ctx)
    path = source.fetch(tarball, ctx)
    with cpython._builder_lock(tree):  # no CPython build of pydistroless's meanwhile
        _measure(args, tree, tarball, path)


def _measure(args, tree: buildroot.BuilderTree, tarball: source.Tarball, path: Path) -> None:
    workspace = sandbox.workspace(tree.root)
    bind = [sandbox.Bind(workspace, sandbox.BUILD_DIR, writable=True)]
    work = Path(tempfile.mkdtemp(prefix="libpython-", dir=workspace))
    try:
        builds = {}
        seconds = {}
        base = cpython.Options(optimize=False).configure_args("amd64")
        for name, extra in (("static", []), ("shared", ["--enable-shared"])):
            folder = work / name
            folder.mkdir()
            cpython._unpack(path, folder, tarball)
            inside = f"{sandbox.BUILD_DIR}/{(folder / f'Python-{VERSION}').relative_to(workspace)}"
            log = work.parent / f"{work.name}-{name}.log"  # outside what the build writes
            started = time.monotonic()
            for argv in (["./configure", *base, *extra], ["make", "-j2"]):
                if sandbox.run(tree.root, argv, cwd=inside, log=log, binds=bind) != 0:
                    raise SystemExit(f"{name}: {' '.join(argv)} failed; see {log}")
            seconds[name] = time.monotonic() - started
            builds[name] = inside
        (work / "suite.py").write_text(SUITE)
        suite = f"{sandbox.BUILD_DIR}/{work.name}/suite.py"
        results: dict[str, list[dict[str, float]]] = {"static": [], "shared": []}
        for round_number in range(args.runs):
            order = ["static", "shared"] if round_number % 2 == 0 else ["shared", "static"]
            for name in order:
                out = work / f"{name}-{round_number}.json"
                argv = ["/bin/sh", "-c", f"LD_LIBRARY_PATH=. ./python -c '{MODULES}' && "
                        f"LD_LIBRARY_PATH=. ./python {suite} 5 > {out.name}"]
                run_log = work.parent / f"{work.name}-run.log"
                if sandbox.run(tree.root, argv, cwd=builds[name], log=run_log, binds=bind) != 0:
                    raise SystemExit(f"{name}: the suite failed; see {run_log}")
                built_dir = workspace / builds[name].removeprefix(f"{sandbox.BUILD_DIR}/")
                results[name].append(json.loads((built_dir / out.name).read_text()))
        names = sorted(results["static"][0])
        rows, ratios = [], []
        for bench in names:
            static = median([r[bench] for r in results["static"]])
            shared = median([r[bench] for r in results["shared"]])
            ratios.append(shared / static)
            rows.append([bench, f"{static:.3f}", f"{shared:.3f}", f"{shared / static:.3f}"])
        geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        report(
            args,
            "Static or shared libpython",
            ["benchmark", "static s", "shared s", "shared / static"],
            rows,
            [
                f"Shared / static libpython run time (geometric mean of {len(names)} "
                f"benchmarks): **{geomean:.3f}**; static is chosen, and is "
                f"**{verdict(geomean >= 1.0)}** as fast or faster",
                f"Build (configure + make -j2): static {seconds['static']:.0f} s, shared "
                f"{seconds['shared']:.0f} s; both imported {MODULES.removeprefix('import ')}",
            ],
            notes="""
Both are unoptimized builds of the same tarball in the same builder tree, run there through
pydistroless's sandbox; the times are the best of 5 runs of each benchmark, the median over the
rounds. A shared libpython makes every call between the interpreter's own functions go
through the PLT (it is built with -fPIC, and its exported functions can be interposed);
linked statically, those are direct calls.
""",
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
