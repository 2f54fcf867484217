"""Shared helpers of the benchmark scripts: timing, alternating runs, tables, image sizes.

Every script measures its subject against a reference in the same run, the two sides
alternating round by round, and reports medians: the machines this runs on are shared and
noisy, so a single timing, or one taken an hour apart from its reference, says little.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime
import gzip
import io
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Every slice that pydistroless cuts by default (`pydistroless build --help`, under --keep).
ALL_SLICES = (
    "docs,man,info,lintian,locale,gconv,shell,libc-tools,test,idlelib,tkinter,turtledemo,"
    "__phello__,pydoc-topics,unused-libs,stdlib-sources"
)

# The package set of Google's distroless python3-debian13 image: its base image's packages
# and the ones its python3 image adds. Built unsliced and without .pyc, it is what Google
# ships, made with our tool so that both sides come from the same archive snapshot.
GOOGLE_BASE = [
    "base-files", "netbase", "tzdata", "tzdata-legacy", "media-types", "ca-certificates", "libc6",
    "libssl3t64", "libzstd1", "libgomp1", "libstdc++6", "libgcc-s1", "gcc-14-base",
]
GOOGLE_PYTHON = [
    "libbz2-1.0", "libdb5.3t64", "libexpat1", "liblzma5", "libsqlite3-0", "libuuid1",
    "libncursesw6", "libtinfo6", "zlib1g", "libcom-err2", "libcrypt1", "libc-bin",
    "libgssapi-krb5-2", "libk5crypto3", "libkeyutils1", "libkrb5-3", "libkrb5support0", "libnsl2",
    "libreadline8t64", "libtirpc3t64", "libffi8", "libpython3.13-minimal", "libpython3.13-stdlib",
    "python3.13-minimal", "python3.13-venv",
]
GOOGLE_PACKAGES = GOOGLE_PYTHON + GOOGLE_BASE


def _code_under_test() -> str:
    """Which code of pydistroless the benchmarks run: $BENCH_CODE, a git revision (default
    HEAD) unpacked into a temporary folder and put first on PYTHONPATH, or ``worktree`` for the
    editable install as it is. A snapshot keeps the code fixed for the whole run, so an edit
    made meanwhile neither changes what is measured nor invalidates the build cache, which is
    keyed on the code."""
    rev = os.environ.get("BENCH_CODE", "HEAD")
    if rev == "worktree":
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"],
                               capture_output=True, text=True).stdout.strip()
        head = _git("rev-parse", "--short", "HEAD")
        return f"{head} + uncommitted changes" if dirty else head
    commit = _git("rev-parse", "--verify", rev + "^{commit}")
    if not commit:
        sys.exit(f"BENCH_CODE={rev}: not a git revision (or 'worktree')")
    snapshot = Path(tempfile.mkdtemp(prefix="pydistroless-code-"))
    atexit.register(shutil.rmtree, snapshot, True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(snapshot, filter="data")
    src = str(snapshot / "src")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [src, *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    os.environ["BENCH_CODE"] = commit  # scripts started from here test the same commit
    sys.path.insert(0, src)
    return commit[:7]


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                          text=True).stdout.strip()


CODE = _code_under_test()


def pydistroless_exe() -> str:
    """The CLI next to this interpreter (the project's .venv), else $PYDISTROLESS or PATH."""
    if os.environ.get("PYDISTROLESS"):
        return os.environ["PYDISTROLESS"]
    beside = Path(sys.executable).parent / "pydistroless"
    if beside.exists():
        return str(beside)
    found = shutil.which("pydistroless")
    if not found:
        sys.exit("pydistroless not found: run with the project's .venv/bin/python")
    return found


PYDISTROLESS = pydistroless_exe()


def default_cache_dir() -> Path:
    """A download cache kept between benchmark runs (warm-cache measurements start here)."""
    return Path(os.environ.get("PYDISTROLESS_BENCH_CACHE", "~/.cache/pydistroless-bench"))


def parser(doc: str | None, runs: int | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    if runs is not None:
        p.add_argument("--runs", type=int, default=runs, help=f"rounds (default {runs})")
    p.add_argument("--markdown", type=Path, help="also write the result as Markdown here")
    return p


def command_line() -> str:
    """How this script was run, for the report."""
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(ROOT)
    argv = sys.argv[1:]
    if "--markdown" in argv:  # where the report went is no part of how it was measured
        i = argv.index("--markdown")
        del argv[i : i + 2]
    return shlex.join([".venv/bin/python", str(script), *argv])


# ---- running and timing -------------------------------------------------------------------


def run(cmd: Sequence[str], **kwargs) -> subprocess.CompletedProcess[str]:
    """Run a command, its output captured; a failure stops the benchmark with its stderr."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        sys.exit(f"failed ({proc.returncode}): {shlex.join(cmd)}")
    return proc


def timed(cmd: Sequence[str], **kwargs) -> float:
    """Wall-clock seconds of one run of a command."""
    start = time.perf_counter()
    run(cmd, **kwargs)
    return time.perf_counter() - start


def alternate(runs: int, sides: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run every side once per round, rotating which goes first, and collect the times."""
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rnd in range(runs):
        order = names[rnd % len(names) :] + names[: rnd % len(names)]
        for name in order:
            seconds = sides[name]()
            times[name].append(seconds)
            print(f"  round {rnd + 1}/{runs}  {name}: {seconds:.2f} s", file=sys.stderr)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """The median of the round-by-round ratios a/b: each pair ran back to back, so it shares
    the machine's load of the moment."""
    return median([x / y for x, y in zip(a, b, strict=True)])


def fresh_dir(parent: Path, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def scratch() -> Path:
    """A temporary folder for one benchmark run."""
    return Path(tempfile.mkdtemp(prefix="pydistroless-bench-"))


def build(cache: Path, output: Path, *args: str) -> None:
    run([PYDISTROLESS, "build", "--cache-dir", str(cache), "-o", str(output), *args])


def lock_names(cache: Path, *args: str) -> list[str]:
    """The package names of the first architecture of `pydistroless lock`."""
    out = run([PYDISTROLESS, "lock", "--cache-dir", str(cache), "-o", "-", *args]).stdout
    return [p["name"] for p in json.loads(out)["archs"][0]["packages"]]


def google_equivalent(cache: Path) -> tuple[list[str], list[str]]:
    """Build arguments for Google's package set, and the packages they exclude: every slice
    kept, no .pyc, and whatever Debian's Depends (or pydistroless's own defaults) would add
    beyond Google's list left out again (Google's images install an explicit list)."""
    packages = [a for name in GOOGLE_PACKAGES for a in ("--package", name)]
    extra = sorted(set(lock_names(cache, *packages)) - set(GOOGLE_PACKAGES))
    excludes = [a for name in extra for a in ("--exclude", name)]
    return ["--no-pyc", "--keep", ALL_SLICES, *packages, *excludes], extra


# ---- images ---------------------------------------------------------------------------------


def image_stats(tar_path: Path) -> dict[str, int]:
    """Compressed size (the layer blobs), uncompressed size (the layer tars) and the number of
    regular files of a single-platform image tar written by pydistroless."""
    with tarfile.open(tar_path) as outer:

        def blob(digest: str) -> bytes:
            member = outer.extractfile("blobs/sha256/" + digest.removeprefix("sha256:"))
            assert member is not None
            return member.read()

        index = json.loads(outer.extractfile("index.json").read())  # type: ignore[union-attr]
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        compressed = uncompressed = files = 0
        for layer in manifest["layers"]:
            data = blob(layer["digest"])
            compressed += len(data)
            raw = gzip.decompress(data)
            uncompressed += len(raw)
            with tarfile.open(fileobj=io.BytesIO(raw)) as inner:
                files += sum(1 for m in inner if m.isreg())
    return {"compressed": compressed, "uncompressed": uncompressed, "files": files}


def mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


# ---- reports --------------------------------------------------------------------------------


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True))
                     for line in lines)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [headers, ["---"] * len(headers), *rows]
    return "\n".join("| " + " | ".join(str(c) for c in line) + " |" for line in lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(
    args: argparse.Namespace,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    findings: Sequence[str],
    notes: str = "",
) -> None:
    """Print the table and findings; with --markdown also write them as a Markdown section."""
    print(f"\n{title}\n")
    print(text_table(headers, rows))
    print()
    for line in findings:
        print(line.replace("**", ""))
    if args.markdown:
        parts = [f"## {title}", f"Command: `{command_line()}`", md_table(headers, rows)]
        parts.append("\n".join(f"- {line}" for line in findings))
        if notes:
            parts.append(notes.strip())
        args.markdown.write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def times_cell(values: Sequence[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    pretty = "?"
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.split("=", 1)[1].strip('"')
    debian = Path("/etc/debian_version").read_text().strip()
    docker = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                            capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores (nproc)": str(len(os.sched_getaffinity(0))),
        "memory": mem,
        "CPU": cpu,
        "OS": f"{pretty} ({debian}), kernel {platform.release()}",
        "Python running pydistroless": platform.python_version(),
        "pydistroless code": CODE,
        "docker engine": docker or "?",
    }
