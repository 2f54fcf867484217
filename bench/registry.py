"""Registry transfers against skopeo: push, push after one package changed, pull of an index,
and the peak memory of moving a 1 GiB layer.

Every registry is Debian's docker-registry on 127.0.0.1 over plain HTTP, started by the test
harness (tests/fixtures/registry.py) with its storage in a fresh folder, so a push always
meets an empty registry unless it is meant to find blobs there. Bytes sent are read from the
registry's own access log (the uploads it completed) and its storage (their sizes), so both
tools are counted the same way.

1. push: the default image tar, `pydistroless push IMG HOST/repo:tag` against
   `skopeo copy oci-archive:IMG:TAG docker://HOST/repo:tag`, a new registry every run.
2. delta: two images whose locks differ in one library package, the first pushed, then the
   second to the same repository: what is sent the second time.
3. pull: a two-architecture index, pushed once; `pydistroless pull REF --oci-layout DIR`
   against `skopeo copy --all docker://REF oci:DIR`.
4. memory: an image with one uncompressed 1 GiB layer of random bytes; the maximum resident
   set of `pydistroless copy`, `push` and `pull` against skopeo doing the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    PYDISTROLESS,
    ROOT,
    alternate,
    build,
    command_line,
    default_cache_dir,
    fresh_dir,
    mb,
    md_table,
    median,
    paired_ratio,
    parser,
    run,
    scratch,
    text_table,
    timed,
    times_cell,
    verdict,
)

sys.path.append(str(ROOT))  # the registry harness of the tests (plain module, no pytest)
from tests.fixtures.registry import RunningRegistry, start_registry

SKOPEO = "skopeo"
TIME = "/usr/bin/time"
PUSH_TARGET = 1.0
PULL_TARGET = 1.0
MEMORY_TARGET = 200e6  # bytes
PARTS = ("push", "delta", "pull", "memory")
# The package changed between the two images of "delta": the first image pins the version of
# trixie's point release, the second takes the trixie-security update the default lock has,
# i.e. a security update of one library that every image holds.
DEFAULT_CHANGE = "libzstd1=1.5.7+dfsg-1"
ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def pd(*args: str) -> list[str]:
    return [PYDISTROLESS, *args]


# ---- registries -----------------------------------------------------------------------------


@dataclass
class Registries:
    """Fresh registries under one folder, each closed and deleted when done with."""

    parent: Path
    live: list[tuple[RunningRegistry, Path]] = field(default_factory=list)

    @contextlib.contextmanager
    def fresh(self) -> Iterator[RunningRegistry]:
        directory = fresh_dir(self.parent, "registry-")
        reg = start_registry(directory)
        self.live.append((reg, directory))
        try:
            yield reg
        finally:
            self.live.remove((reg, directory))
            reg.close()
            shutil.rmtree(directory, ignore_errors=True)

    def close(self) -> None:
        for reg, directory in self.live:
            reg.close()
            shutil.rmtree(directory, ignore_errors=True)


def blob_size(reg: RunningRegistry, digest: str) -> int:
    hex_ = digest.removeprefix("sha256:")
    return (reg.root / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data").stat().st_size


@dataclass(frozen=True)
class Sent:
    """The blob uploads a registry completed since a point in its log."""

    digests: tuple[str, ...]  # one per completed upload, repeats kept
    bytes: int
    requests: int  # every request in that stretch, HEADs and manifests included

    @property
    def repeated(self) -> int:
        return len(self.digests) - len(set(self.digests))


def sent_since(reg: RunningRegistry, mark: int) -> Sent:
    """What was uploaded after the first ``mark`` requests of the log: every POST or PUT
    under blobs/uploads/ that completed (201) with a ``digest=``, mounts left out."""
    requests = reg.requests()[mark:]
    digests = []
    for r in requests:
        if r.is_blob_upload and not r.is_mount and r.status == 201:
            digest = urllib.parse.parse_qs(r.query).get("digest")
            if digest:
                digests.append(digest[0])
    return Sent(tuple(digests), sum(blob_size(reg, d) for d in digests), len(requests))


def requests_now(reg: RunningRegistry) -> int:
    return len(reg.requests())


def manifest_digest(reg: RunningRegistry, repo: str, tag: str) -> str:
    """The digest the registry serves ``repo:tag`` under."""
    req = urllib.request.Request(reg.url(f"/v2/{repo}/manifests/{tag}"), method="HEAD",
                                 headers={"Accept": ACCEPT})
    with urllib.request.urlopen(req, timeout=10) as response:
        return response.headers.get("Docker-Content-Digest", "?")


# ---- images ---------------------------------------------------------------------------------


def manifests(path: Path) -> tuple[str, list[dict]]:
    """The top digest of an image tar and the manifests of its images, read from the tar."""
    with tarfile.open(path) as tar:
        def doc(digest: str) -> dict:
            member = tar.extractfile("blobs/sha256/" + digest.removeprefix("sha256:"))
            assert member is not None
            return json.loads(member.read())

        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        top = index["manifests"][0]
        found, pending = [], [top]
        while pending:
            body = doc(pending.pop()["digest"])
            if "manifests" in body:
                pending += body["manifests"]
            else:
                found.append(body)
    return top["digest"], found


def tar_blobs(path: Path) -> tuple[str, dict[str, int]]:
    """The top digest of an image tar and its blobs (configs and layers, not the manifests
    and indexes), digest -> size."""
    top, found = manifests(path)
    blobs = {item["digest"]: item["size"]
             for body in found for item in [body["config"], *body["layers"]]}
    return top, blobs


def layer_count(path: Path) -> list[int]:
    """The number of layers of each image of a tar."""
    return [len(body["layers"]) for body in manifests(path)[1]]


def first_tag(path: Path) -> str:
    with tarfile.open(path) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    return index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]


def layout_blobs(directory: Path) -> set[str]:
    return {p.name for p in (directory / "blobs" / "sha256").iterdir()}


def big_image(work: Path, size: int) -> Path:
    """An image tar whose one layer is an uncompressed tar holding one file of ``size``
    random bytes, made with the project's model and tar writer; never held in memory."""
    from pydistroless.core.arch import architecture
    from pydistroless.core.digest import Digest
    from pydistroless.oci.archive import write_tar
    from pydistroless.oci.model import OCI_LAYER, Descriptor, FileBlob, Layer
    from pydistroless.oci.mutate import ImageConfig, new_image

    layer_path = work / "big-layer.tar"
    sha = hashlib.sha256()
    info = tarfile.TarInfo("random.bin")
    info.size, info.mode, info.mtime = size, 0o644, 0
    with layer_path.open("wb") as out:
        def put(data: bytes) -> None:
            sha.update(data)
            out.write(data)

        put(info.tobuf(format=tarfile.USTAR_FORMAT))
        left = size
        while left:
            chunk = os.urandom(min(left, 4 << 20))
            put(chunk)
            left -= len(chunk)
        put(b"\0" * (-size % 512) + b"\0" * 1024)
    digest = Digest(sha.hexdigest())
    length = layer_path.stat().st_size
    layer = Layer(Descriptor(OCI_LAYER, digest, length), diff_id=digest,
                  blob=FileBlob(layer_path), comment="1 GiB of random bytes")
    image = new_image(architecture("amd64").platform, ImageConfig(entrypoint=("/random",)),
                      [layer])
    path = work / "big.tar"
    write_tar(path, image, tags=["big:1"])
    layer_path.unlink()
    return path


# ---- peak memory ----------------------------------------------------------------------------

_HELPER = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
sys.stderr.write(proc.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(proc.returncode)
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    rss: int  # bytes
    error: str = ""  # the last line the command wrote to stderr, when it failed


def measured(cmd: Sequence[str]) -> Measured:
    """Wall seconds and maximum resident set (bytes) of one run of ``cmd``: GNU time's %M
    when installed, else getrusage(RUSAGE_CHILDREN) in a fresh helper process (so no
    earlier child of ours counts)."""
    gnu = Path(TIME).exists()
    with tempfile.NamedTemporaryFile(prefix="maxrss-", suffix=".txt") as note:
        if gnu:
            wrapped = [TIME, "-f", "%M", "-o", note.name, *cmd]
        else:
            wrapped = [sys.executable, "-c", _HELPER, *cmd]
        start = time.perf_counter()
        proc = subprocess.run(wrapped, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        text = Path(note.name).read_text() if gnu else proc.stdout
    found = re.findall(r"^(\d+)\s*$", text, re.M)
    rss = int(found[-1]) * 1024 if found else 0
    error = ""
    if proc.returncode != 0:
        lines = [x for x in proc.stderr.splitlines() if x.strip() and "exited with" not in x]
        error = f"exit {proc.returncode}: " + (lines[-1].strip() if lines else "?")
        print(f"  FAILED ({error[:300]}): {' '.join(cmd)}", file=sys.stderr)
    return Measured(seconds, rss, error)


# ---- the measurements -----------------------------------------------------------------------


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Results:
    sections: list[Section] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def measure_push(args, regs: Registries, img: Path, out: Results) -> None:
    tag = first_tag(img)
    top, blobs = tar_blobs(img)
    image_bytes = sum(blobs.values())
    seen: dict[str, list[Sent]] = {"pydistroless push": [], "skopeo copy": []}
    digests: dict[str, set[str]] = {"pydistroless push": set(), "skopeo copy": set()}

    def side(name: str, cmd: Callable[[str], list[str]]) -> float:
        with regs.fresh() as reg:
            start = time.perf_counter()
            run(cmd(reg.host))
            seconds = time.perf_counter() - start
            seen[name].append(sent_since(reg, 0))
            digests[name].add(manifest_digest(reg, "repo", "tag"))
        return seconds

    times = alternate(args.runs, {
        "pydistroless push": lambda: side(
            "pydistroless push", lambda host: pd("push", str(img), f"{host}/repo:tag")),
        "skopeo copy": lambda: side(
            "skopeo copy", lambda host: [SKOPEO, "copy", "--quiet", "--dest-tls-verify=false",
                                         f"oci-archive:{img}:{tag}", f"docker://{host}/repo:tag"]),
    })
    ours, ref = times["pydistroless push"], times["skopeo copy"]
    rows = []
    for name, t in times.items():
        sent = seen[name]
        rows.append([name, f"{median(t):.2f}", f"{min(t):.2f}", f"{max(t):.2f}", times_cell(t),
                     " ".join(sorted({mb(s.bytes) for s in sent})),
                     " ".join(sorted({str(len(s.digests)) for s in sent})),
                     " ".join(sorted({str(s.requests) for s in sent})),
                     "yes" if digests[name] == {top} else "NO: " + " ".join(sorted(digests[name]))])
    out.sections.append(Section(
        f"Push of the default image ({mb(image_bytes)} MB of blobs) to an empty registry",
        ["", "median s", "min s", "max s", "all runs (s)", "MB sent", "blobs sent", "requests",
         "same digest"], rows))
    ratio = median(ours) / median(ref)
    out.findings.append(
        f"Push pydistroless / skopeo (medians): **{ratio:.2f}**, target <= {PUSH_TARGET:.1f}: "
        f"**{verdict(ratio <= PUSH_TARGET)}** (median of the per-round ratios: "
        f"{paired_ratio(ours, ref):.2f})")
    # What a push pays before its first request: the interpreter and the modules of the
    # command (the HTTP stack among them), which a compiled skopeo does not.
    start_up = [timed(pd("push", "--help")) for _ in range(max(3, args.runs))]
    out.findings.append(
        f"Start-up alone (`pydistroless push --help`, median of {len(start_up)}): "
        f"{median(start_up):.2f} s; the push less its start-up / skopeo: "
        f"{(median(ours) - median(start_up)) / median(ref):.2f}")
    a = {s.bytes for s in seen["pydistroless push"]}
    b = {s.bytes for s in seen["skopeo copy"]}
    out.findings.append(
        f"Bytes sent to an empty registry: pydistroless {', '.join(mb(x) for x in sorted(a))} MB, "
        f"skopeo {', '.join(mb(x) for x in sorted(b))} MB, image blobs {mb(image_bytes)} MB: "
        f"**{'the same' if a == b == {image_bytes} else 'NOT the same'}**")


def measure_delta(args, regs: Registries, cache: Path, work: Path, out: Results) -> None:
    lock_a, lock_b = work / "a.lock", work / "b.lock"
    # The first image has the older version, the second the default lock's: a security
    # update of one library, rebuilt and pushed again.
    run(pd("lock", "--cache-dir", str(cache), "-o", str(lock_a), "--package", args.change))
    run(pd("lock", "--cache-dir", str(cache), "-o", str(lock_b)))
    packages = [
        {p["name"]: p for p in json.loads(lock.read_text())["archs"][0]["packages"]}
        for lock in (lock_a, lock_b)
    ]
    changed = sorted(n for n in packages[0].keys() | packages[1].keys()
                     if packages[0].get(n) != packages[1].get(n))
    if len(changed) != 1:
        sys.exit(f"--package {args.change} changes {len(changed)} packages of the lock "
                 f"({', '.join(changed) or 'none'}), not one; give another --change NAME=VERSION")
    name = changed[0]
    old, new = packages[0][name]["version"], packages[1][name]["version"]
    img_a, img_b = work / "delta-a.tar", work / "delta-b.tar"
    build(cache, img_a, "--lock", str(lock_a))
    build(cache, img_b, "--lock", str(lock_b))
    _, blobs_a = tar_blobs(img_a)
    _, blobs_b = tar_blobs(img_b)
    full = sum(blobs_b.values())
    new_blobs = {d: s for d, s in blobs_b.items() if d not in blobs_a}
    least = sum(new_blobs.values())
    layers = layer_count(img_b)[0]
    tag_a, tag_b = first_tag(img_a), first_tag(img_b)
    rows = []
    sent_by: dict[str, Sent] = {}
    tools = {
        "pydistroless push": lambda img, tag, ref: pd("push", str(img), ref),
        "skopeo copy": lambda img, tag, ref: [SKOPEO, "copy", "--quiet", "--dest-tls-verify=false",
                                              f"oci-archive:{img}:{tag}", f"docker://{ref}"],
    }
    for tool, cmd in tools.items():
        with regs.fresh() as reg:
            run(cmd(img_a, tag_a, f"{reg.host}/app:old"))
            mark = requests_now(reg)
            start = time.perf_counter()
            run(cmd(img_b, tag_b, f"{reg.host}/app:new"))
            seconds = time.perf_counter() - start
            sent = sent_by[tool] = sent_since(reg, mark)
        rows.append([tool, mb(sent.bytes), str(len(sent.digests)), f"{sent.bytes / full:.0%}",
                     f"{seconds:.2f}"])
    out.sections.append(Section(
        f"Second push after one package changed ({name} {old} -> {new})",
        ["", "MB sent", "blobs sent", "of the image", "s (one run)"], rows))
    ours = sent_by["pydistroless push"].bytes
    whole = " (the image is one layer: the whole image is resent)" if layers == 1 else ""
    out.findings.append(
        f"Push after one package changed: pydistroless sent **{mb(ours)} MB** of the "
        f"{mb(full)} MB image ({ours / full:.0%}); {len(new_blobs)} of its {len(blobs_b)} blobs "
        f"({mb(least)} MB) are new, {layers} layer(s){whole}")
    out.notes.append(
        f"Second push: a lock made with `pydistroless lock --package {args.change}` and the "
        f"default lock (`pydistroless lock`), which differ in {name} only ({old} in the "
        f"first, {new} in the second, as after a security update; every other package, "
        f"version and checksum the same). Both images are built "
        f"with `build --lock`; the first is pushed to a fresh registry as app:old, then the "
        f"second to the same repository as app:new, and only the second push is counted. "
        f"skopeo does the same in a registry of its own.")


def measure_pull(args, regs: Registries, two: Path, work: Path, out: Results) -> None:
    _, blobs = tar_blobs(two)
    index_bytes = sum(blobs.values())
    with regs.fresh() as reg:
        ref = f"{reg.host}/two:1"
        run(pd("push", str(two), ref))
        made: dict[str, set[str]] = {}

        def side(name: str, cmd: Callable[[Path], list[str]]) -> float:
            target = work / f"pull-{name.split()[0]}"
            shutil.rmtree(target, ignore_errors=True)
            start = time.perf_counter()
            run(cmd(target))
            seconds = time.perf_counter() - start
            made[name] = layout_blobs(target)
            shutil.rmtree(target)
            return seconds

        times = alternate(args.runs, {
            "pydistroless pull": lambda: side(
                "pydistroless pull", lambda d: pd("pull", ref, "--oci-layout", str(d))),
            "skopeo copy --all": lambda: side(
                "skopeo copy --all", lambda d: [SKOPEO, "copy", "--quiet", "--all",
                                                "--src-tls-verify=false", f"docker://{ref}",
                                                f"oci:{d}"]),
        })
    ours, ref_t = times["pydistroless pull"], times["skopeo copy --all"]
    same = made["pydistroless pull"] == made["skopeo copy --all"]
    rows = [[name, f"{median(t):.2f}", f"{min(t):.2f}", f"{max(t):.2f}", times_cell(t),
             str(len(made[name]))] for name, t in times.items()]
    out.sections.append(Section(
        f"Pull of a two-architecture index (amd64, arm64; {mb(index_bytes)} MB of blobs) "
        "into an OCI layout",
        ["", "median s", "min s", "max s", "all runs (s)", "blobs written"], rows))
    ratio = median(ours) / median(ref_t)
    out.findings.append(
        f"Pull of a two-arch index pydistroless / skopeo (medians): **{ratio:.2f}**, target <= "
        f"{PULL_TARGET:.1f}: **{verdict(ratio <= PULL_TARGET)}** (median of the per-round "
        f"ratios: {paired_ratio(ours, ref_t):.2f}); the same blobs: "
        f"{'yes' if same else 'NO'}")


def measure_memory(args, regs: Registries, work: Path, out: Results) -> None:
    big = big_image(work, args.big_mib << 20)
    tag = first_tag(big)
    layout = work / "big-source-layout"  # the same image as a layout, blobs as whole files
    run([SKOPEO, "copy", "--quiet", f"oci-archive:{big}:{tag}", f"oci:{layout}:{tag}"])
    runs: dict[str, list[Measured]] = {}

    def record(name: str, cmd: list[str]) -> float:
        if any(m.error for m in runs.get(name, [])):
            return 0.0  # failed once: not run again (a failing push retries for minutes)
        result = measured(cmd)
        runs.setdefault(name, []).append(result)
        return result.seconds

    def to_layout(name: str, cmd: Callable[[Path], list[str]]) -> float:
        target = work / "big-layout"
        shutil.rmtree(target, ignore_errors=True)
        try:
            return record(name, cmd(target))
        finally:
            shutil.rmtree(target, ignore_errors=True)

    def to_registry(name: str, cmd: Callable[[str], list[str]]) -> float:
        with regs.fresh() as reg:
            return record(name, cmd(f"{reg.host}/big:1"))

    skopeo_push = [SKOPEO, "copy", "--quiet", "--dest-tls-verify=false"]
    Side = tuple[str, Callable[[], float]]

    def side(name: str, target: Callable[[str, Callable], float], cmd: Callable) -> Side:
        return name, lambda: target(name, cmd)

    # (ours, skopeo's) for each operation
    pairs: dict[str, tuple[Side, Side]]
    with regs.fresh() as source:
        src_ref = f"{source.host}/big:1"
        run([*skopeo_push, f"oci:{layout}:{tag}", f"docker://{src_ref}"])
        pairs = {
            "copy tar -> layout": (
                side("pydistroless copy big.tar oci:DIR", to_layout,
                     lambda d: pd("copy", str(big), f"oci:{d}")),
                side("skopeo copy oci-archive:big.tar oci:DIR", to_layout,
                     lambda d: [SKOPEO, "copy", "--quiet", f"oci-archive:{big}:{tag}", f"oci:{d}"]),
            ),
            "push tar": (
                side("pydistroless push big.tar REF", to_registry,
                     lambda r: pd("push", str(big), r)),
                side("skopeo copy oci-archive:big.tar docker://REF", to_registry,
                     lambda r: [*skopeo_push, f"oci-archive:{big}:{tag}", f"docker://{r}"]),
            ),
            "push layout": (
                side("pydistroless push DIR REF", to_registry,
                     lambda r: pd("push", str(layout), r)),
                side("skopeo copy oci:DIR docker://REF", to_registry,
                     lambda r: [*skopeo_push, f"oci:{layout}:{tag}", f"docker://{r}"]),
            ),
            "pull": (
                side("pydistroless pull REF --oci-layout DIR", to_layout,
                     lambda d: pd("pull", src_ref, "--oci-layout", str(d))),
                side("skopeo copy docker://REF oci:DIR", to_layout,
                     lambda d: [SKOPEO, "copy", "--quiet", "--src-tls-verify=false",
                                f"docker://{src_ref}", f"oci:{d}"]),
            ),
        }
        alternate(args.big_runs, {name: side for pair in pairs.values() for name, side in pair})
    big.unlink()
    shutil.rmtree(layout)

    def good(name: str) -> list[Measured]:
        return [m for m in runs.get(name, []) if not m.error]

    def failure(name: str) -> str:
        return next((m.error for m in runs.get(name, []) if m.error), "")

    rows = []
    for pair in pairs.values():
        for name, _ in pair:
            ok = good(name)
            if failure(name):
                rows.append([name, "FAILED", failure(name)[:160].replace("|", "/"), "", ""])
                continue
            rows.append([name, mb(max(m.rss for m in ok)), " ".join(mb(m.rss) for m in ok),
                         f"{median([m.seconds for m in ok]):.2f}",
                         times_cell([m.seconds for m in ok])])
    out.sections.append(Section(
        f"Peak memory moving an image with one {args.big_mib} MiB layer",
        ["", "max RSS MB (worst)", "max RSS per run (MB)", "median s", "all runs (s)"], rows))
    for (ours, _), (theirs, _) in pairs.values():
        if failure(ours):
            out.findings.append(
                f"Peak memory of `{ours}` with a {args.big_mib} MiB layer: **failed** "
                f"({failure(ours)[:200]}), target < {MEMORY_TARGET / 1e6:.0f} MB: **NOT met**")
            continue
        worst = max(m.rss for m in good(ours))
        line = (f"Peak memory of `{ours}` with a {args.big_mib} MiB layer: **{mb(worst)} MB**, "
                f"target < {MEMORY_TARGET / 1e6:.0f} MB: **{verdict(worst < MEMORY_TARGET)}**")
        if good(theirs):
            ratio = (median([m.seconds for m in good(ours)])
                     / median([m.seconds for m in good(theirs)]))
            line += (f" (skopeo: {mb(max(m.rss for m in good(theirs)))} MB; time pydistroless / "
                     f"skopeo: {ratio:.2f})")
        out.findings.append(line)
    out.notes.append(
        f"Peak memory: the maximum resident set of the command's process as GNU time reports "
        f"it (`{TIME} -f %M`), the worst of {args.big_runs} runs; the registry's own memory is "
        f"not counted. The image has one uncompressed layer (an OCI tar holding one file of "
        f"{args.big_mib} MiB of os.urandom bytes) and is made with the project's model "
        f"(`new_image`, `write_tar`); skopeo copies it once into an OCI layout (DIR, blobs as "
        f"whole files) for the `push DIR` rows and into the registry the pulls read. Pushes go "
        f"to a fresh registry each run. skopeo's `oci-archive:` unpacks the archive into a "
        f"temporary folder before copying, which its time includes. A command that fails is "
        f"not run again in later rounds.")


# ---- report ---------------------------------------------------------------------------------


def tool_versions() -> str:
    skopeo = subprocess.run([SKOPEO, "--version"], capture_output=True, text=True).stdout.strip()
    registry = subprocess.run(["docker-registry", "--version"], capture_output=True,
                              text=True).stdout.strip()
    return f"{skopeo}; {registry or 'docker-registry ?'}"


def write_report(args, out: Results, title: str) -> None:
    print(f"\n{title}\n")
    for section in out.sections:
        print(f"{section.title}\n")
        print(text_table(section.headers, section.rows))
        print()
    for line in out.findings:
        print(line.replace("**", ""))
    if args.markdown:
        parts = [f"## {title}", f"Command: `{command_line()}`"]
        for section in out.sections:
            parts += [f"### {section.title}", md_table(section.headers, section.rows)]
        parts.append("\n".join(f"- {line}" for line in out.findings))
        parts += out.notes
        args.markdown.write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def precompile() -> bool:
    """Byte-compile the snapshot of the code under test, as installing it would: with
    PYTHONDONTWRITEBYTECODE set (as on CI machines) every run of the CLI would otherwise
    compile its ~200 modules again, a cost skopeo, a compiled program, never pays. The
    working tree (BENCH_CODE=worktree) is left alone: other people's checkout."""
    import pydistroless

    package = Path(pydistroless.__file__).parent
    if package.is_relative_to(ROOT):
        return False
    run([sys.executable, "-m", "compileall", "-q", str(package)])
    return True


def main() -> None:
    p = parser(__doc__, runs=5)
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="download cache the images are built from (default: %(default)s)")
    p.add_argument("--parts", default=",".join(PARTS),
                   help="which measurements, comma-separated (default: %(default)s)")
    p.add_argument("--change", default=DEFAULT_CHANGE, metavar="NAME=VERSION",
                   help="the package pinned in the second image of 'delta' (default: "
                   "%(default)s)")
    p.add_argument("--big-mib", type=int, default=1024,
                   help="size of the big layer of 'memory', MiB (default: %(default)s)")
    p.add_argument("--big-runs", type=int, default=3,
                   help="rounds of 'memory' (default: %(default)s)")
    args = p.parse_args()
    parts = [x for x in args.parts.split(",") if x]
    if unknown := set(parts) - set(PARTS):
        p.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    for tool in (SKOPEO, "docker-registry"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install skopeo docker-registry)")
    if subprocess.run(pd("push", "--help"), capture_output=True).returncode != 0:
        sys.exit("this pydistroless has no working `push` command (code under test: "
                 f"{os.environ.get('BENCH_CODE', 'HEAD')}); try BENCH_CODE=worktree")
    compiled = precompile()
    cache = args.cache_dir.expanduser()
    work = scratch()
    regs = Registries(work)
    out = Results()
    try:
        img = two = None
        if "push" in parts:
            img = work / "img.tar"
            build(cache, img)
            measure_push(args, regs, img, out)
        if "delta" in parts:
            measure_delta(args, regs, cache, work, out)
        if "pull" in parts:
            two = work / "two.tar"
            build(cache, two, "--arch", "amd64,arm64")
            measure_pull(args, regs, two, work, out)
        if "memory" in parts:
            measure_memory(args, regs, work, out)
    finally:
        regs.close()
        shutil.rmtree(work, ignore_errors=True)
    out.notes.append(
        f"Tools: {tool_versions()}. Every registry runs on 127.0.0.1 over plain HTTP with "
        f"filesystem storage on the same disk as the images. \"MB sent\" is the sum of the "
        f"sizes of the blobs whose upload the registry completed (a `POST` or `PUT` under "
        f"`/blobs/uploads/` answered 201 with a `digest=`; mounts are not uploads), from its "
        f"access log and storage; \"requests\" counts every request of the push, `HEAD` "
        f"checks and manifests included. The timed sides alternate, the first one rotating "
        f"each round. "
        + ("The snapshot of the code under test was byte-compiled first (`compileall`), as an "
           "installed pydistroless is, so no run pays for compiling its modules."
           if compiled else "The code under test was not byte-compiled beforehand."))
    write_report(args, out, "Registry: push, pull and copy against skopeo")


if __name__ == "__main__":
    main()
