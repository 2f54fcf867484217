"""Run every benchmark and write docs/benchmarks.md from their results.

    .venv/bin/python bench/run.py                     # all, writes docs/benchmarks.md
    .venv/bin/python bench/run.py size startup        # some; --out - prints the Markdown
    BENCH_CODE=worktree .venv/bin/python bench/run.py # the working tree instead of HEAD

Needs root (mmdebstrap), a running docker engine and the Debian mirrors of the apt sources;
`registry` also needs skopeo and docker-registry.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import CODE, ROOT, default_cache_dir, machine, md_table

# name: whether it takes --cache-dir (the others start from an empty cache each time)
SCRIPTS = {
    "cold_build": False,
    "warm_build": True,
    "multi_arch": True,
    "size": True,
    "startup": True,
    "registry": True,
    "app": True,
    "python_source": True,
    "libpython": True,
    "python_speed": True,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("names", nargs="*", choices=[[], *SCRIPTS], default=[],
                   metavar="NAME", help=f"benchmarks to run: {', '.join(SCRIPTS)} (default all)")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"),
                   help="Markdown file to write, '-' for stdout (default: %(default)s)")
    p.add_argument("--cache-dir", type=Path,
                   help="download cache of the warm-cache benchmarks "
                   f"(default: {default_cache_dir()})")
    args = p.parse_args()
    names = args.names or list(SCRIPTS)
    info = machine()  # before the runs: the date they started
    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            md = Path(tmp) / f"{name}.md"
            cmd = [sys.executable, str(Path(__file__).with_name(f"{name}.py")),
                   "--markdown", str(md)]
            if SCRIPTS[name] and args.cache_dir:
                cmd += ["--cache-dir", str(args.cache_dir)]
            print(f"== {name}", file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True)
            sections.append(md.read_text(encoding="utf-8"))
    summary = [
        line for section in sections for line in section.splitlines()
        if line.startswith("- ") and "target" in line
    ]
    doc = "\n\n".join([
        "# Benchmarks",
        "Measured by the scripts in `bench/`; `.venv/bin/python bench/run.py` runs them all "
        "and rewrites this file. Each script times its subject and a reference in the same "
        "run, the two alternating round by round, and reports medians, because the machines "
        "it runs on are shared and noisy. Every script can also be run on its own "
        "(`--help`) and prints a table. The code measured is a snapshot of the commit named "
        "below (`BENCH_CODE=worktree` measures the working tree instead).",
        "## Machine",
        md_table(["", ""], [[k, v] for k, v in info.items()]),
        "## Targets",
        "\n".join(summary),
        *[s.strip() for s in sections],
    ]) + "\n"
    if args.out == "-":
        sys.stdout.write(doc)
    else:
        Path(args.out).write_text(doc, encoding="utf-8")
        print(f"wrote {args.out} (code {CODE})", file=sys.stderr)


if __name__ == "__main__":
    main()
