"""The compiler workers: two at once, and none left running when the compilation is cancelled.

A stand-in worker (the host's Python running a short script instead of the compiler) notes
when it starts and ends, so the tests see what ran when without compiling anything.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from pydistroless.core.errors import ImageCheckError
from pydistroless.python import bytecode

# Run as `python -c STAND_IN -c <compiler> ROOT LISTING`: the arguments after the first -c
# are the stand-in's argv.
STAND_IN = r"""
import json, os, sys, time
root, listing = sys.argv[3], sys.argv[4]  # after "-c" and the compiler's text
jobs = json.load(open(listing))
started = time.monotonic()
with open(os.path.join(root, f"worker-{os.getpid()}.json"), "w") as note:
    json.dump({"pid": os.getpid(), "jobs": jobs, "started": started}, note)
time.sleep(float(open(os.path.join(root, "pause")).read()))
with open(os.path.join(root, f"worker-{os.getpid()}.json"), "w") as note:
    json.dump({"pid": os.getpid(), "jobs": jobs, "started": started,
               "ended": time.monotonic()}, note)
print(0)
"""


def notes(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.glob("worker-*.json"))]


def test_the_two_workers_run_at_the_same_time(tmp_path: Path):
    (tmp_path / "pause").write_text("1.0")
    sources = [f"usr/lib/python3.99/m{i}.py" for i in range(6)]
    stand_in = bytecode._Compiler((sys.executable, "-c", STAND_IN), "a stand-in")
    assert bytecode._run(stand_in, tmp_path, sources) == 0
    first, second = notes(tmp_path)
    assert sorted(first["jobs"] + second["jobs"]) == sorted(sources)
    # Each sleeps a second: had one waited for the other, their spans would not overlap.
    assert first["started"] < second["ended"] and second["started"] < first["ended"]


def test_a_cancel_stops_the_workers(tmp_path: Path):
    (tmp_path / "pause").write_text("60")
    cancelled = threading.Event()
    threading.Timer(0.5, cancelled.set).start()
    started = time.monotonic()
    with pytest.raises(bytecode.Cancelled):
        stand_in = bytecode._Compiler((sys.executable, "-c", STAND_IN), "a stand-in")
        bytecode._run(stand_in, tmp_path, ["a.py", "b.py"], cancelled)
    assert time.monotonic() - started < 5  # a hang guard: the workers sleep a minute
    workers = notes(tmp_path)
    assert len(workers) == 2
    for worker in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(worker["pid"], 0)


def test_a_worker_that_fails_is_named_with_its_last_line(tmp_path: Path):
    failing = "import sys; print('Traceback', file=sys.stderr); sys.exit('OSError: disk on fire')"
    stand_in = bytecode._Compiler((sys.executable, "-c", failing), "a stand-in compiler")
    with pytest.raises(ImageCheckError) as raised:
        bytecode._run(stand_in, tmp_path, ["a.py", "b.py"])
    assert str(raised.value) == (
        "byte-compiling with a stand-in compiler failed: ['OSError: disk on fire']"
    )
