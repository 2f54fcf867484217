"""Start-up: `python -c "import json, ssl, sqlite3, asyncio"` in the default image against the
Google-distroless equivalent (Google's package set, unsliced, no .pyc), as uid 65532 on a
read-only root file system.

Container start-up would drown the difference, so the timing runs inside the container: a
small driver starts the interpreter N times after one warm-up and prints the median.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

from _common import (
    build,
    default_cache_dir,
    google_equivalent,
    median,
    paired_ratio,
    parser,
    report,
    run,
    scratch,
    verdict,
)

TARGET = 4.0
IMPORTS = "import json, ssl, sqlite3, asyncio"
DRIVER = """
import statistics, subprocess, sys, time
cmd = [sys.executable, "-c", {imports!r}]
subprocess.run(cmd, check=True)
times = []
for _ in range({n}):
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    times.append(time.perf_counter() - start)
print(statistics.median(times))
"""
TAGS = {
    "pydistroless default": "pydistroless-bench/python:default",
    "Google-equivalent": "pydistroless-bench/python:google-equivalent",
}


def load_as(tar_path: Path, tag: str) -> None:
    """`docker load` an image tar under this one tag. pydistroless writes its default tags
    (pydistroless/python:3.13-debian13, ...) next to the --tag ones, and loading those would
    move the engine's tags of that name onto these benchmark images."""
    with tarfile.open(tar_path) as src, tarfile.open(tar_path.with_suffix(".1.tar"), "w") as dst:
        for member in src:
            data = src.extractfile(member) if member.isreg() else None
            if member.name in ("manifest.json", "index.json"):
                doc = json.loads(data.read())  # type: ignore[union-attr]
                if member.name == "manifest.json":
                    doc[0]["RepoTags"] = [tag]
                else:
                    doc["manifests"] = [
                        m for m in doc["manifests"]
                        if m.get("annotations", {}).get("io.containerd.image.name", "")
                        .endswith("/" + tag)
                    ]
                raw = json.dumps(doc).encode()
                member.size = len(raw)
                data = io.BytesIO(raw)
            dst.addfile(member, data)
    run(["docker", "load", "-i", str(tar_path.with_suffix(".1.tar"))])
    tar_path.with_suffix(".1.tar").unlink()


def main() -> None:
    p = parser(__doc__, runs=5)
    p.add_argument("-n", type=int, default=21, help="interpreter starts per round (default 21)")
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="download cache (default: %(default)s)")
    args = p.parse_args()
    cache = args.cache_dir.expanduser()
    work = scratch()
    try:
        extra = {"pydistroless default": [],
                 "Google-equivalent": google_equivalent(cache)[0]}
        for name, tag in TAGS.items():
            out = work / "image.tar"
            build(cache, out, "--tag", tag, *extra[name])
            load_as(out, tag)
            out.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    driver = DRIVER.format(imports=IMPORTS, n=args.n)
    rounds: dict[str, list[float]] = {name: [] for name in TAGS}
    try:
        for rnd in range(args.runs):
            names = list(TAGS)[:: 1 if rnd % 2 == 0 else -1]
            for name in names:
                out = run(["docker", "run", "--rm", "--read-only", "--network", "none",
                           "--user", "65532", TAGS[name], "-c", driver]).stdout
                rounds[name].append(float(out.strip().splitlines()[-1]))
                print(f"  round {rnd + 1}/{args.runs}  {name}: "
                      f"{rounds[name][-1] * 1000:.1f} ms", flush=True)
        user = json.loads(run(["docker", "image", "inspect", TAGS["pydistroless default"]])
                          .stdout)[0]["Config"]["User"]
    finally:
        run(["docker", "rmi", *TAGS.values()])
    ours = median(rounds["pydistroless default"])
    google = median(rounds["Google-equivalent"])
    ratio = google / ours
    rows = [
        [name, f"{median(r) * 1000:.1f}", f"{min(r) * 1000:.1f}", f"{max(r) * 1000:.1f}",
         " ".join(f"{v * 1000:.1f}" for v in r)]
        for name, r in rounds.items()
    ]
    report(
        args,
        "Start-up (import json, ssl, sqlite3, asyncio)",
        ["image", "median ms", "min ms", "max ms", f"per round (median of {args.n}, ms)"],
        rows,
        [f"Google-equivalent / ours (medians): **{ratio:.1f}x**, target >= {TARGET:.0f}x: "
         f"**{verdict(ratio >= TARGET)}** (median of the per-round ratios: "
         f"{paired_ratio(rounds['Google-equivalent'], rounds['pydistroless default']):.1f}x)"],
        notes=f"""
Each round is one `docker run --rm --read-only --network none --user 65532 IMAGE -c DRIVER`;
the driver, in the container, runs `subprocess.run([sys.executable, "-c", "{IMPORTS}"])` once
as a warm-up and then {args.n} times, and prints the median wall time of those. The two images
alternate, the first one swapping each round; the table gives the median over the rounds of
these per-round medians. Both images run as uid {user or "65532"} on a read-only root file
system, so the Google-equivalent, which ships no .pyc, compiles every module it imports at
every start and cannot cache the result; the default image loads its deterministic,
unchecked-hash .pyc files.
""",
    )


if __name__ == "__main__":
    main()
