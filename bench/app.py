"""App images: a rebuild after a one-line change, a cold build against uv, a warm build.

- rebuild: examples/fastapi-uvicorn built once (untimed, caches filled), then each round a
  line of main.py changes and the image is built again; the reference is the cold build of
  the same project in the same run (empty pydistroless and uv caches).
- cold: the same fastapi example from empty caches (the base image included), against
  `uv pip install --target DIR` of the same lock (exported by `uv export`) for the same
  platform, from an empty uv cache. uv writes a folder; pydistroless also builds the base,
  compiles every module and writes a compressed image.
- warm: examples/pandas built again with nothing changed, against `pydistroless --version`.
- against uv (--parts uv): the fastapi example and examples/pandas each built by
  `pydistroless app` with the base image already cached, against `uv pip install --target
  --compile-bytecode` (and without it) of the same lock in the same rounds, once with nothing
  downloaded on either side and once with the downloads cached on both (pydistroless's
  dependency layers not). uv runs in the pydistroless builder image, whose Python is the
  image's (see NOTES_UV).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

from _common import (
    PYDISTROLESS,
    ROOT,
    alternate,
    command_line,
    default_cache_dir,
    fresh_dir,
    md_table,
    median,
    paired_ratio,
    parser,
    report,
    run,
    scratch,
    text_table,
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
    p.add_argument("--parts", choices=["all", "examples", "uv"], default="all",
                   help="examples: rebuild, cold and warm builds; uv: the app builds with the "
                   "base cached against uv --compile-bytecode (default: both)")
    args = p.parse_args()
    compiled = precompile()
    sections = []
    if args.parts in ("all", "examples"):
        work = scratch()
        try:
            rows, findings = measure(args, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        sections.append(("App images", ["", "median s", "min s", "max s", "all runs (s)"], rows,
                         findings, NOTES))
    if args.parts in ("all", "uv"):
        work = scratch()
        try:
            rows, findings, notes = measure_uv(args, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        headers = ["", "median s", "min s", "max s", "all runs (s)", "x uv --compile-bytecode"]
        if compiled:
            notes += COMPILED
        sections.append(("App build with the base cached, against uv", headers, rows, findings,
                         notes))
    for number, (title, headers, rows, findings, notes) in enumerate(sections):
        if number == 0:
            report(args, title, headers, rows, findings, notes=notes)
        else:
            subsection(args, title, headers, rows, findings, notes)


def subsection(args, title: str, headers, rows, findings, notes: str) -> None:
    """Like report(), as a ### section appended to the Markdown that report() began."""
    print(f"\n{title}\n")
    print(text_table(headers, rows))
    print()
    for line in findings:
        print(line.replace("**", ""))
    if args.markdown:
        parts = [f"### {title}", f"Command: `{command_line()}`", md_table(headers, rows),
                 "\n".join(f"- {line}" for line in findings), notes.strip()]
        with args.markdown.open("a", encoding="utf-8") as out:
            out.write("\n" + "\n\n".join(parts) + "\n")


def precompile() -> bool:
    """Byte-compile the snapshot of the code under test, as installing it would (as
    bench/registry.py does), so that no timed run pays for compiling pydistroless itself.
    The working tree (BENCH_CODE=worktree) is left alone: other people's checkout."""
    import pydistroless

    package = Path(pydistroless.__file__).parent
    if package.is_relative_to(ROOT):
        return False
    run([sys.executable, "-m", "compileall", "-q", str(package)])
    return True


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



# ---- against uv, the base cached ---------------------------------------------------------------

UV_RATIO = 1.0
BOX_PYTHON = "/usr/bin/python3.13"  # the builder's Python: Debian's, as in the default base
BOX_UV = "/opt/bench-uv"
BOX_CA = "/opt/bench-ca.pem"
BUILDER_TAG = "pydistroless-bench/app-uv:builder"
# Run inside the container: the wall time of one command, its output kept unless it fails.
TIMER = """
import os, subprocess, sys, time
env = {**os.environ, "UV_CACHE_DIR": sys.argv[1]}
start = time.perf_counter()
proc = subprocess.run(sys.argv[2:], env=env, capture_output=True, text=True)
elapsed = time.perf_counter() - start
if proc.returncode:
    sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    sys.exit(proc.returncode)
print(elapsed)
"""


@contextlib.contextmanager
def uv_box(work: Path, image: str) -> Iterator[Callable[[Path, list[str]], float]]:
    """A container of ``image`` (the builder image: Debian's Python 3.13 with the whole libc)
    sharing the host's network and ``work``, with the host's uv in it; yields a function that
    runs one uv command there with a given UV_CACHE_DIR and answers its wall time, measured
    inside the container (so without docker exec's own start)."""
    name = f"pydistroless-bench-uv-{os.getpid()}"
    uv = str(Path(UV).resolve())
    mounts = ["-v", f"{work}:{work}", "-v", f"{uv}:{BOX_UV}:ro"]
    env = ["-e", "HOME=/tmp"]
    ca = os.environ.get("SSL_CERT_FILE")  # a machine whose TLS goes through its own CA
    if ca and Path(ca).is_file():
        mounts += ["-v", f"{Path(ca).resolve()}:{BOX_CA}:ro"]
        env += ["-e", f"SSL_CERT_FILE={BOX_CA}"]
    (work / "timer.py").write_text(TIMER)
    run(["docker", "run", "-d", "--rm", "--name", name, "--network", "host", "--user", "0:0",
         *mounts, *env, "--entrypoint", BOX_PYTHON, image, "-c",
         "import time; time.sleep(86400)"])

    def uv_time(uv_cache: Path, args: list[str]) -> float:
        out = run(["docker", "exec", name, BOX_PYTHON, str(work / "timer.py"), str(uv_cache),
                   BOX_UV, *args]).stdout
        return float(out.strip().splitlines()[-1])

    try:
        yield uv_time
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def loadavg() -> str:
    """The machine's load averages over 1, 5 and 15 minutes, as /proc/loadavg has them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def copy_cache(template: Path, into: Path) -> None:
    """A fresh cache that starts as ``template``, its files hard-linked: pydistroless never
    writes into a file of its cache (blobs and records are written beside and renamed into
    place, folders made whole and renamed), so the template stays as it was."""
    run(["cp", "-al", str(template), str(into)])


def strip_app_layers(cache: Path) -> int:
    """Remove the records of the app's dependency layers, and their layer blobs, from
    ``cache``: nothing short of that rebuilds them (their key is the wheels, the base, the
    Debian packages asked for and the timestamp, and SOURCE_DATE_EPOCH would change the base
    too). Answers how many records went."""
    records = list((cache / "records" / "app-layers").glob("*"))
    for record in records:
        body = json.loads(record.read_text())["body"]
        for layer in body["layers"]:
            (cache / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")).unlink(
                missing_ok=True)
        record.unlink()
    return len(records)


def pyc_count(image_tar: Path, base_layers: int) -> int:
    """The .pyc files in the layers of an app image above its base's ``base_layers``."""
    with tarfile.open(image_tar) as outer:
        def blob(digest: str) -> bytes:
            member = outer.extractfile("blobs/sha256/" + digest.removeprefix("sha256:"))
            assert member is not None
            return member.read()

        index = json.loads(outer.extractfile("index.json").read())  # type: ignore[union-attr]
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        count = 0
        for layer in manifest["layers"][base_layers:]:
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layer["digest"])))) as t:
                count += sum(1 for m in t if m.isreg() and m.name.endswith(".pyc"))
    return count


def layer_count(image_tar: Path) -> int:
    with tarfile.open(image_tar) as outer:
        index = json.loads(outer.extractfile("index.json").read())  # type: ignore[union-attr]
        digest = index["manifests"][0]["digest"].removeprefix("sha256:")
        manifest = json.loads(outer.extractfile(f"blobs/sha256/{digest}").read())  # type: ignore[union-attr]
    return len(manifest["layers"])


def measure_uv(args, work: Path) -> tuple[list[list[str]], list[str], str]:
    warm_cache = args.cache_dir.expanduser()
    # The uv side's interpreter: Debian's python3.13 in the builder image, built once into the
    # warm cache (untimed) and given to docker under a tag of the benchmark's own.
    builder = work / "builder.tar"
    run([PYDISTROLESS, "build", "--variant", "builder", "--cache-dir", str(warm_cache),
         "-o", str(builder)])
    run([PYDISTROLESS, "copy", str(builder), f"docker-daemon:{BUILDER_TAG}"])
    # The template: the base built, and one app (no dependencies) built on it, so the base's
    # facts and its unpacked interpreter are there too, as after any earlier app build.
    template = work / "template"
    base = work / "base.tar"
    run([PYDISTROLESS, "build", "--cache-dir", str(template), "-o", str(base)])
    run(app(EXAMPLES / "hello-world", work / "hello.tar", template),
        env=with_uv_cache(fresh_dir(work, "uv-hello-")))
    base_layers = layer_count(base)

    projects: dict[str, tuple[Path, Path]] = {}
    fastapi = work / "fastapi"
    shutil.copytree(EXAMPLES / "fastapi-uvicorn", fastapi)
    run([UV, "lock", "--quiet", "--directory", str(fastapi)])
    run([UV, "export", "--locked", "--no-dev", "--no-emit-project", "--format",
         "requirements-txt", "--directory", str(fastapi), "-o", str(work / "fastapi.txt"),
         "--quiet"])
    projects["fastapi"] = (fastapi, work / "fastapi.txt")
    pandas = work / "pandas"
    shutil.copytree(EXAMPLES / "pandas", pandas)
    shutil.copy(pandas / "requirements.txt", work / "pandas.txt")
    projects["pandas"] = (pandas, work / "pandas.txt")

    load_before = loadavg()
    sides: dict[str, Callable[[], float]] = {}
    uv_pycs: dict[str, int] = {}
    our_pycs: dict[str, int] = {}
    names: dict[str, dict[str, str]] = {}
    stripped = {}
    with uv_box(work, BUILDER_TAG) as uv_time:

        def uv_install(requirements: Path, uv_cache: Path | None, bytecode: bool,
                       label: str) -> float:
            target = fresh_dir(work, "target-")
            cache = uv_cache or fresh_dir(work, "uv-cold-")
            try:
                seconds = uv_time(cache, [
                    "pip", "install", "--quiet", "--target", str(target), "--python",
                    BOX_PYTHON, "--no-deps", "--require-hashes", "-r", str(requirements),
                    *(["--compile-bytecode"] if bytecode else [])])
                if bytecode:
                    uv_pycs[label] = sum(1 for _ in target.rglob("*.pyc"))
                return seconds
            finally:
                shutil.rmtree(target, ignore_errors=True)
                if uv_cache is None:
                    shutil.rmtree(cache, ignore_errors=True)

        def ours(project: Path, template: Path, uv_cache: Path | None, label: str) -> float:
            cache = work / f"cache-{label}"
            copy_cache(template, cache)
            own_uv = uv_cache or fresh_dir(work, "uv-ours-")
            out = work / f"{label}.tar"
            try:
                seconds = timed(app(project, out, cache), env=with_uv_cache(own_uv))
                our_pycs[label] = pyc_count(out, base_layers)
                return seconds
            finally:
                shutil.rmtree(cache, ignore_errors=True)
                if uv_cache is None:
                    shutil.rmtree(own_uv, ignore_errors=True)

        for short, (project, requirements) in projects.items():
            # Warm downloads: the template, then this project built once (untimed), its
            # dependency layers taken out again; uv's cache filled by one untimed install.
            warm_template = work / f"warm-{short}"
            copy_cache(template, warm_template)
            ours_uv = work / f"uv-warm-ours-{short}"
            run(app(project, work / "warmup.tar", warm_template), env=with_uv_cache(ours_uv))
            stripped[short] = strip_app_layers(warm_template)
            uv_warm = work / f"uv-warm-{short}"
            uv_install(requirements, uv_warm, True, "warmup")
            n = {
                "ours": f"{short}: pydistroless app, base cached, nothing downloaded",
                "uv": f"{short}: uv pip install --target --compile-bytecode, empty uv cache",
                "uv-": f"{short}: uv pip install --target, empty uv cache",
                "ours warm": f"{short}: pydistroless app, wheels cached, dependency layers not",
                "uv warm": f"{short}: uv pip install --target --compile-bytecode, warm uv cache",
                "uv- warm": f"{short}: uv pip install --target, warm uv cache",
            }
            names[short] = n

            def bind(f, *a):
                return lambda: f(*a)

            sides[n["ours"]] = bind(ours, project, template, None, f"{short}-cold")
            sides[n["uv"]] = bind(uv_install, requirements, None, True, f"{short}-cold")
            sides[n["uv-"]] = bind(uv_install, requirements, None, False, f"{short}-cold")
            sides[n["ours warm"]] = bind(ours, project, warm_template, ours_uv, f"{short}-warm")
            sides[n["uv warm"]] = bind(uv_install, requirements, uv_warm, True, f"{short}-warm")
            sides[n["uv- warm"]] = bind(uv_install, requirements, uv_warm, False,
                                        f"{short}-warm")
        times = alternate(args.runs, sides)

    rows, findings = uv_results(names, times, our_pycs, uv_pycs)
    notes = NOTES_UV.format(stripped=", ".join(f"{k}: {v}" for k, v in stripped.items()),
                            load_before=load_before, load_after=loadavg(),
                            cores=len(os.sched_getaffinity(0)))
    return rows, findings, notes


def uv_results(names: dict[str, dict[str, str]], times: dict[str, list[float]],
               our_pycs: dict[str, int], uv_pycs: dict[str, int]) -> tuple[list, list[str]]:
    """The table's rows and the findings of the comparison with uv."""
    rows, findings = [], []
    for short, n in names.items():
        for kind in ("cold", "warm"):
            suffix = "" if kind == "cold" else " warm"
            ours_t, uv_t = times[n["ours" + suffix]], times[n["uv" + suffix]]
            for key in ("ours", "uv", "uv-"):
                t = times[n[key + suffix]]
                rows.append([n[key + suffix], f"{median(t):.2f}", f"{min(t):.2f}", f"{max(t):.2f}",
                             times_cell(t), f"{median(t) / median(uv_t):.2f}"])
            ratio = median(ours_t) / median(uv_t)
            plain = median(ours_t) / median(times[n["uv-" + suffix]])
            tail = (f"(median of the per-round ratios: {paired_ratio(ours_t, uv_t):.2f}); "
                    f"against uv without bytecode: {plain:.2f}; .pyc written: pydistroless "
                    f"{our_pycs[f'{short}-{kind}']} (the project's own included), uv "
                    f"{uv_pycs[f'{short}-{kind}']}")
            if kind == "cold":
                findings.append(
                    f"App build with the base cached, nothing downloaded, {short}: pydistroless "
                    f"app / uv pip install --target --compile-bytecode (medians): "
                    f"**{ratio:.2f}**, target <= {UV_RATIO}: **{verdict(ratio <= UV_RATIO)}** "
                    f"{tail}")
            else:
                findings.append(
                    f"Downloads cached on both sides, {short}: pydistroless app (dependency "
                    f"layers rebuilt) / the same uv install with --compile-bytecode (medians, "
                    f"for information): **{ratio:.2f}** {tail}")
    return rows, findings


NOTES_UV = """
Each side is the whole command, timed from the outside; the 12 rows alternate, the first
rotating each round. "x uv --compile-bytecode" is each median over that of `uv pip install
--target --compile-bytecode` of the same project and downloads state.

pydistroless: "base cached" is a cache made once, untimed, by `pydistroless build` (the
default base, python3.13 of trixie) and one `pydistroless app` of the hello-world example
(no dependencies), so that it also holds what any earlier app build on that base leaves: the
base's facts and its interpreter unpacked for byte-compiling. Each run gets a fresh copy of
it (`cp -al`: pydistroless never writes into an existing file of its cache, it writes beside
and renames), so no wheel, no uv export of the lock and no dependency layer is cached, and an
empty UV_CACHE_DIR for the uv it runs to read `uv.lock`. Each run still installs, checks
every ELF file's libraries against the base and the suite's Debian indexes, byte-compiles
with the image's own interpreter in its sandbox, compresses the layers and writes the image
tar and SBOM.
"wheels cached" starts from a copy of the same cache in which the project was built once,
with the records of its dependency layers and their blobs removed again (records removed,
the hello-world's one without layers included: {stripped}): nothing short of that rebuilds
them, as their key is the wheels, the base, the Debian packages asked for and the
timestamp (SOURCE_DATE_EPOCH, which changes it, changes the base too).

uv: `uv pip install --target DIR --python /usr/bin/python3.13 --no-deps --require-hashes -r
REQS [--compile-bytecode]`, REQS being `uv export` of the fastapi example's `uv.lock` and the
pandas example's `requirements.txt`, both pinned and hashed, so both sides download the same
wheels. This host's Python is 3.11 and uv may not download one, so uv (the same binary as on
the host) runs in a container of the pydistroless builder image (`build --variant builder`,
Debian's python3.13 3.13.5, the image's own interpreter) with the host's network and the
scratch folder bind-mounted from the host disk; its time is measured inside the container,
so docker exec's start is not in it. "empty uv cache" is a new UV_CACHE_DIR each run; "warm
uv cache" one filled by an untimed install of the same requirements. uv writes a folder:
no image, no layers, no compression, no library check.

The machine is shared: its load averages (1, 5, 15 min) were {load_before} when the timed
rounds began and {load_after} when they ended, on {cores} cores.
"""

COMPILED = """
The snapshot of the code under test was byte-compiled first (`compileall`), as an installed
pydistroless is.
"""

if __name__ == "__main__":
    main()
