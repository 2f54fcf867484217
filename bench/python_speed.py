"""Optimized CPython variants against Debian's python3.13: each flag's speed and build cost.

Each variant is CPython 3.13.15 (or the release after its name's `@`) compiled by
pydistroless's own recipe (`python/cpython.py`, in a trixie builder tree, in the sandbox,
cached like any build) with the default optimized configure arguments plus the variant's.
Every interpreter then runs the CPU-bound suite of `python_source.py` in the same
container: the default Debian image (trixie's python3.13), with the variant's `/usr/local`
mounted read-only for ours, so that only the interpreter differs (a variant may also set
the interpreter's environment, as `mimalloc` does). The sides alternate round by round.
Reported per variant: Debian's time over the variant's (geometric mean; above 1 is faster
than Debian's) and its build time over the first variant's.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from _common import (
    PYDISTROLESS,
    alternate,
    default_cache_dir,
    median,
    parser,
    report,
    run,
    scratch,
    verdict,
)
from python_source import SUITE, VERSION

from pydistroless.debian import buildroot
from pydistroless.debian.resolve import Requirement, resolve
from pydistroless.debian.sources import SourceOptions
from pydistroless.debian.store import Store, load_index, load_releases, locked
from pydistroless.python import cpython, source

SPEED_TARGET = 1.05
DEBIAN_TAG = "pydistroless-bench/python:debian-speed"
SUITE_NAME = "trixie"
LLVM = "/usr/lib/llvm-19"


@dataclass(frozen=True)
class Tuned(cpython.Options):
    """The recipe's options with configure arguments added (they are part of the build's
    cache key, as every configure argument is)."""

    extra: tuple[str, ...] = ()

    def configure_args(self, arch: str, *, host: str = "", minor: str = "") -> list[str]:
        return [*super().configure_args(arch, host=host, minor=minor), *self.extra]


# debian/rules of python3.13 3.13.5-2 (trixie): the tests its PGO task leaves out on an amd64
# buildd (its TEST_EXCLUDES and PROFILE_EXCLUDES).
# fmt: off
DEBIAN_PGO_EXCLUDES = " ".join((
    "test_asyncio", "test_cmd_line_script", "test_codecmaps_cn", "test_codecmaps_hk",
    "test_codecmaps_jp", "test_codecmaps_kr", "test_codecmaps_tw", "test_compiler",
    "test_concurrent_futures", "test_cppext", "test_ctypes", "test_dbm_dumb", "test_dbm_ndbm",
    "test_ensurepip", "test_ftplib", "test_gdb", "test_httplib", "test_imaplib", "test_ioctl",
    "test_linuxaudiodev", "test_multiprocessing", "test_multiprocessing_fork",
    "test_multiprocessing_forkserver", "test_multiprocessing_spawn", "test_nntplib",
    "test_normalization", "test_ossaudiodev", "test_poplib", "test_pydoc", "test_signal",
    "test_socket", "test_socketserver", "test_ssl", "test_subprocess", "test_sundry", "test_tcl",
    "test_thread", "test_threaded_import", "test_threadedtempfile", "test_threading",
    "test_threading_local", "test_threadsignals", "test_tools", "test_ttk_guionly", "test_venv",
    "test_zipimport_support",
))
# fmt: on


@dataclass(frozen=True)
class Variant:
    label: str
    extra: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()  # added to the builder tree's roots
    env: tuple[tuple[str, str], ...] = ()  # set for the interpreter's runs


VARIANTS = {
    "default": Variant("PGO+LTO (the default)"),
    # llvm-bolt rewrites the linked interpreter from a profile of its own instrumented run;
    # CPython's configure then links it without PIE (-fno-pie -no-pie) and with --emit-relocs.
    "bolt": Variant(
        "PGO+LTO+BOLT",
        ("--enable-bolt", f"LLVM_BOLT={LLVM}/bin/llvm-bolt", f"MERGE_FDATA={LLVM}/bin/merge-fdata"),
        ("bolt-19", "libbolt-19-dev"),
    ),
    # CPython 3.13 tells llvm-bolt to leave out the functions with computed gotos (the eval
    # loop, sre's matchers) because LLVM 19 cannot rewrite them in position-independent code;
    # --enable-bolt links the interpreter without PIE, so here it is given them too.
    "bolt-all": Variant(
        "PGO+LTO+BOLT, eval loop included",
        (
            "--enable-bolt",
            f"LLVM_BOLT={LLVM}/bin/llvm-bolt",
            f"MERGE_FDATA={LLVM}/bin/merge-fdata",
            "BOLT_COMMON_FLAGS=-update-debug-sections",
        ),
        ("bolt-19", "libbolt-19-dev"),
    ),
    # clang 19 instead of gcc: its PGO (llvm-profdata) and ThinLTO, linked by lld.
    "clang": Variant(
        "clang 19, PGO+ThinLTO",
        (
            "CC=clang-19",
            f"LLVM_AR={LLVM}/bin/llvm-ar",
            f"LLVM_PROFDATA={LLVM}/bin/llvm-profdata",
            "LDFLAGS=-fuse-ld=lld",
        ),
        ("clang-19", "llvm-19", "lld-19", "libclang-rt-19-dev"),
    ),
    # What BOLT's configure changes besides BOLT itself: a position-dependent interpreter.
    # 3.14 and later: each opcode a function that tail-calls the next (clang 19's musttail
    # and preserve_none), instead of one big function with computed gotos.
    "tailcall": Variant(
        "clang 19, PGO+ThinLTO, tail-calling interpreter",
        (
            "--with-tail-call-interp",
            "CC=clang-19",
            f"LLVM_AR={LLVM}/bin/llvm-ar",
            f"LLVM_PROFDATA={LLVM}/bin/llvm-profdata",
            "LDFLAGS=-fuse-ld=lld",
        ),
        ("clang-19", "llvm-19", "lld-19", "libclang-rt-19-dev"),
    ),
    # Both: 3.14's eval loop has no computed gotos left for llvm-bolt to stumble on. Trixie's
    # llvm-bolt 19 crashes (SIGSEGV) on this interpreter, after its shrink-wrapping pass.
    "tailcall-bolt": Variant(
        "clang 19, PGO+ThinLTO+BOLT, tail-calling interpreter",
        (
            "--with-tail-call-interp",
            "--enable-bolt",
            "CC=clang-19",
            f"LLVM_AR={LLVM}/bin/llvm-ar",
            f"LLVM_PROFDATA={LLVM}/bin/llvm-profdata",
            f"LLVM_BOLT={LLVM}/bin/llvm-bolt",
            f"MERGE_FDATA={LLVM}/bin/merge-fdata",
            "LDFLAGS=-fuse-ld=lld",
        ),
        ("clang-19", "llvm-19", "lld-19", "libclang-rt-19-dev", "bolt-19", "libbolt-19-dev"),
    ),
    # Debian's profile: the whole regression test suite less the modules Debian's rules leave
    # out of it on amd64 (DEBIAN_PGO_EXCLUDES), instead of the few dozen modules of CPython's
    # default PGO task; two workers, and a time limit for a test that waits on a network the
    # sandbox does not have. Some two dozen modules fail there (no pty, no name for localhost)
    # after running most of their code: the profile is kept, as Debian's patched Makefile
    # keeps it, rather than failing the build (3.13's Makefile stops at a failed profile run).
    "pgo-debian": Variant(
        "PGO over Debian's profile task, LTO",
        (
            "PROFILE_TASK=-m test --pgo-extended -j2 --timeout=300 -x "
            f"{DEBIAN_PGO_EXCLUDES} || true",
        ),
    ),
    # Code for x86-64-v3 (AVX2, BMI2, FMA, MOVBE: Haswell and Zen and later) instead of the
    # baseline amd64 that runs on any x86-64 machine.
    "v3": Variant("PGO+LTO, -march=x86-64-v3", ("CFLAGS_NODIST=-march=x86-64-v3",)),
    # Not a build: the default's interpreter with mimalloc, the allocator bundled since 3.13,
    # in place of pymalloc for Python's objects.
    "mimalloc": Variant("PGO+LTO, PYTHONMALLOC=mimalloc", env=(("PYTHONMALLOC", "mimalloc"),)),
    "nopie": Variant("PGO+LTO, no PIE", ("CFLAGS_NODIST=-fno-pie", "LINKCC=gcc -fno-pie -no-pie")),
    "noplt": Variant("PGO+LTO, -fno-plt", ("CFLAGS_NODIST=-fno-plt",)),
}


def main() -> None:
    p = parser(__doc__, runs=9)
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=default_cache_dir(),
        help="download and build cache to use (default: %(default)s)",
    )
    p.add_argument(
        "--variants",
        default="default,bolt",
        help=f"comma-separated, of {', '.join(VARIANTS)}, each optionally @RELEASE (default: "
        f"%(default)s, of CPython {VERSION})",
    )
    p.add_argument(
        "--source-sha256",
        action="append",
        default=[],
        metavar="RELEASE=SHA256",
        help="the tarball of a release that no signed Sources lists, from the mirror's pool, "
        "by the digest you vouch for (e.g. from its source package's signed .dsc)",
    )
    p.add_argument(
        "--build-only", action="store_true", help="compile the variants into the cache and stop"
    )
    args = p.parse_args()
    chosen = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in chosen if _variant(name) not in VARIANTS]
    if unknown or not chosen:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    vouched = dict(item.partition("=")[::2] for item in args.source_sha256)
    cache = args.cache_dir.expanduser()
    ctx = Store.create(SourceOptions(cache_dir=cache, accept_expired=True))
    tarballs = {
        release: _tarball(release, vouched, ctx) for release in {_release(n) for n in chosen}
    }
    builds = {
        name: _build(VARIANTS[_variant(name)], tarballs[_release(name)], ctx) for name in chosen
    }
    if args.build_only:
        for name, built in builds.items():
            print(f"{name}: {built.root} ({built.seconds:.0f} s)")
        return
    work = scratch()
    try:
        run(
            [
                PYDISTROLESS,
                "build",
                "--cache-dir",
                str(cache),
                "--tag",
                DEBIAN_TAG,
                "--load",
                "-o",
                str(work / "debian.tar"),
            ]
        )
        _speed(args, builds, chosen)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["docker", "rmi", "-f", DEBIAN_TAG], capture_output=True)


def _variant(name: str) -> str:
    return name.partition("@")[0]


def _release(name: str) -> str:
    return name.partition("@")[2] or VERSION


def _label(name: str) -> str:
    return f"CPython {_release(name)}, {VARIANTS[_variant(name)].label}"


def _tarball(release: str, vouched: dict[str, str], ctx: Store) -> source.Tarball:
    """The release's tarball as the signed Sources list it or, for a release they no longer
    list, from the mirror's pool by the digest given with --source-sha256."""
    if release not in vouched:
        return source.debian_tarball(release, ctx)
    minor = release.rsplit(".", 1)[0]
    pool = f"pool/main/p/python{minor}/python{minor}_{release}.orig.tar.xz"
    given = source.given_tarball(release, f"{ctx.mirrors.main[0]}/{pool}", vouched[release])
    return dataclasses.replace(
        given, urls=tuple(f"{base}/{pool}" for base in ctx.mirrors.main), origin="--source-sha256"
    )


def _build(variant: Variant, tarball: source.Tarball, ctx: Store) -> cpython.CompiledPython:
    packages = ()
    if variant.packages:
        releases = load_releases(ctx.archive, ctx.mirrors, SUITE_NAME)
        index = load_index(ctx.archive, releases, "amd64")
        roots = (
            *buildroot.COMPILERS,
            *buildroot.SHELL_TOOLS,
            *buildroot.CPYTHON_HEADERS,
            *variant.packages,
        )
        resolution = resolve(
            index, [Requirement(n) for n in roots], suites=[r.suite for r in releases]
        )
        packages = tuple(locked(r) for r in resolution.packages)
    tree = buildroot.builder_tree(SUITE_NAME, "amd64", ctx, packages=packages)
    options = Tuned(optimize=True, extra=variant.extra)
    return cpython.build(tarball, tree, options, ctx)


def _speed(args, builds: dict[str, cpython.CompiledPython], chosen: list[str]) -> None:
    results: dict[str, list[dict[str, float]]] = {name: [] for name in ["debian", *chosen]}

    def side(name: str):
        def once() -> float:
            argv = ["docker", "run", "--rm", "--network", "none"]
            if name != "debian":
                local = builds[name].root / "usr" / "local"
                argv += [
                    "-v",
                    f"{local}:/usr/local:ro",
                    "--entrypoint",
                    f"/usr/local/bin/python{builds[name].minor}",
                ]
                for key, value in VARIANTS[_variant(name)].env:
                    argv += ["-e", f"{key}={value}"]
            found = json.loads(run([*argv, DEBIAN_TAG, "-c", SUITE, "5"]).stdout)
            results[name].append(found)
            return sum(found.values())

        return once

    # The machine's load decides how far a run can be trusted: it is reported at both ends.
    started = os.getloadavg()
    alternate(args.runs, {name: side(name) for name in results})
    benches = sorted(results["debian"][0])
    # Two summaries of the rounds. The median is the usual one. The best round is what the
    # code itself costs: on a shared virtual machine another tenant's work only ever adds
    # time, and in bursts that can cover a few rounds of one side (round sums vary by a third).
    summaries = {"median": median, "best": min}

    def per_bench(name: str, summary) -> dict[str, float]:
        return {b: summary([r[b] for r in results[name]]) for b in benches}

    def geomean(name: str, summary) -> float:
        theirs, ours = per_bench("debian", summary), per_bench(name, summary)
        return math.exp(sum(math.log(theirs[b] / ours[b]) for b in benches) / len(benches))

    theirs = per_bench("debian", min)
    rows = [
        [
            "Debian python3.13 (trixie)",
            *(f"{theirs[b] * 1000:.1f}" for b in benches),
            "1.00",
            "1.00",
            "-",
        ]
    ]
    lines = []
    base_seconds = builds[chosen[0]].seconds
    best = ("", 0.0)
    for name in chosen:
        ours = per_bench(name, min)
        ratios = {label: geomean(name, summary) for label, summary in summaries.items()}
        cost = builds[name].seconds / base_seconds if base_seconds else float("nan")
        rows.append(
            [
                _label(name),
                *(f"{ours[b] * 1000:.1f}" for b in benches),
                f"{ratios['best']:.3f}",
                f"{ratios['median']:.3f}",
                f"{builds[name].seconds / 60:.1f} min ({cost:.2f}x)",
            ]
        )
        worse = min(ratios.values())
        if worse > best[1]:
            best = (name, worse)
        lines.append(
            f"{_label(name)}: Debian's time / ours (geometric mean of {len(benches)} "
            f"benchmarks) **{ratios['best']:.3f}x** over the best rounds, "
            f"**{ratios['median']:.3f}x** over the medians; target >= {SPEED_TARGET} on both: "
            f"**{verdict(worse >= SPEED_TARGET)}**; build {builds[name].seconds / 60:.1f} min"
            + (f", {cost:.2f}x the {_label(chosen[0])} build" if name != chosen[0] else "")
        )
    load = os.getloadavg()
    lines.append(
        f"Fastest (by the lower of its two ratios): {_label(best[0])}; machine load "
        f"(1, 5, 15 min) at the start {started[0]:.2f} {started[1]:.2f} {started[2]:.2f}, at "
        f"the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, on {os.cpu_count()} cores"
    )
    report(
        args,
        "Optimized CPython variants against Debian's python3.13",
        [
            "interpreter",
            *(f"{b} ms" for b in benches),
            "Debian / ours (best)",
            "Debian / ours (median)",
            "build",
        ],
        rows,
        lines,
        notes="""
Each cell is the best over the rounds of the best of 5 timings of one call (each timing
loops the call for at least 0.2 s), all in `docker run` of the same default Debian image; a
compiled variant's `/usr/local` is mounted into it read-only and its `python3.X` is the
entry point. The two ratios are geometric means of Debian's time over ours per benchmark,
of the best rounds and of the medians over the rounds. The build column is the variant's
whole `configure && make && make install` (PGO profile runs included) in the sandbox on this
machine, and its ratio to the first row's.
""",
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
