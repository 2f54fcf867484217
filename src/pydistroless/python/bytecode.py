"""Byte-compile the standard library into the image.

Debian compiles ``.pyc`` files in a maintainer script, which never runs in these images, so
without this step every container start compiles what it imports (slow), or tries to write
``__pycache__`` on a read-only root (and fails quietly, every time). The files are written as
*unchecked-hash* ``.pyc`` (PEP 552): valid whatever the files' timestamps, never re-checked
against the source, and the same bytes on every build.

The compiler is the image's own interpreter when the host can run it: it is started through
the image's dynamic loader with the image's libraries, so nothing of the host is used, and no
chroot or root is needed. A ``.pyc`` does not depend on the CPU architecture, so for another
architecture a host ``python3.X`` is used instead, provided its bytecode magic number is the
one the image's ``importlib`` expects. If neither is possible, the image gets no ``.pyc`` and
the build says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydistroless.core import sandbox
from pydistroless.core.arch import host_arch
from pydistroless.core.cache import finished_folder, is_finished, sha256_hex
from pydistroless.core.errors import ImageCheckError
from pydistroless.core.report import log
from pydistroless.fs.elf import multiarch_triplet
from pydistroless.fs.tree import Kind, Tree
from pydistroless.python import debian_python

_COMPILER = r"""
import importlib.util, json, os, py_compile, sys
root = sys.argv[1]
with open(sys.argv[2], encoding="utf-8") as listing:
    jobs = json.load(listing)
failed = 0
for image_path in jobs:
    source = os.path.join(root, image_path)
    target = os.path.join(root, importlib.util.cache_from_source("/" + image_path)[1:])
    try:
        py_compile.compile(source, cfile=target, dfile="/" + image_path, doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except py_compile.PyCompileError:
        failed += 1
print(failed)
"""

_MAGIC = re.compile(rb"MAGIC_NUMBER = \((\d+)\)\.to_bytes\(2, 'little'\) \+ b'\\r\\n'")


@dataclass(frozen=True)
class CompileReport:
    compiled: int
    failed: int
    compiler: str  # how: "image interpreter", "host python3.13 (...)", or "" if none


def stdlib_sources(tree: Tree, python: str) -> list[str]:
    """The stdlib's ``.py`` files, symlinked ones included (Debian links
    ``sitecustomize.py`` to ``/etc``): the import system compiles those too."""
    prefix = debian_python.stdlib_dir(tree, python) + "/"
    return [
        e.path
        for e in tree.entries()
        if e.path.startswith(prefix)
        and e.path.endswith(".py")
        and "/site-packages/" not in e.path
        and (e.kind is Kind.FILE or (e.kind is Kind.SYMLINK and tree.read(e.path) is not None))
    ]


def image_magic(tree: Tree, python: str) -> int | None:
    source = tree.read(f"{debian_python.stdlib_dir(tree, python)}/importlib/_bootstrap_external.py")
    match = _MAGIC.search(source or b"")
    return int(match.group(1)) if match else None


def pyc_path(source: str, python: str) -> str:
    """Where CPython looks for the ``.pyc`` of ``source`` (``importlib.util.cache_from_source``
    for an interpreter without -O)."""
    directory, _, name = source.rpartition("/")
    # The cache tag has no ABI flags: a free-threaded 3.13t writes cpython-313 too, and reads
    # the same bytecode.
    tag = python.removesuffix("t").replace(".", "")
    return f"{directory}/__pycache__/{name.removesuffix('.py')}.cpython-{tag}.pyc"


def compile_stdlib(
    tree: Tree,
    python: str,
    arch: str,
    *,
    host_tree: Tree | None = None,
    memo: dict[str, bytes] | None = None,
    compiler_id: str = "",
    cancelled: threading.Event | None = None,
    sources: Sequence[str] | None = None,
    compiler_dir: Path | None = None,
    interpreter_tree: Callable[[], Tree] | None = None,
) -> CompileReport:
    """Compile the stdlib of ``tree`` (an image for ``arch``) in place. ``host_tree`` is an
    image of the same Debian Python version for the host's architecture, used as the
    compiler when the host cannot run ``arch`` code. ``memo`` maps (compiler, path, source)
    digests to ``.pyc`` bytes already made in this run: the other architectures of a
    multi-platform build have the same sources, and so get the same bytes without a second
    compilation. Setting ``cancelled`` stops the compilers and raises :class:`Cancelled`.
    ``sources`` are the files to compile instead of the stdlib (an app's, say).
    ``compiler_dir`` keeps the unpacked interpreter for the next compilation (made from
    ``interpreter_tree()``, the image's files, when ``tree`` holds only the sources)."""
    all_sources = stdlib_sources(tree, python) if sources is None else list(sources)
    if not all_sources:
        return CompileReport(0, 0, "")
    memo = {} if memo is None else memo
    keys = {
        path: sha256_hex(f"{compiler_id}\0{path}\0".encode() + (tree.read(path) or b""))
        for path in all_sources
    }
    reused = 0
    for path in all_sources:
        if keys[path] in memo:
            tree.add_file(pyc_path(path, python), memo[keys[path]], 0o644)
            reused += 1
    sources = [p for p in all_sources if keys[p] not in memo]
    if not sources:
        return CompileReport(reused, 0, "the same interpreter earlier in this build")
    with tempfile.TemporaryDirectory(prefix="pydistroless-pyc-") as tmp:
        work = Path(tmp) / "src"  # the sources, and the .pyc the compiler writes beside them
        work.mkdir()
        if compiler_dir is not None:
            compiler = _kept_compiler(
                interpreter_tree or (lambda: tree), python, arch, host_tree, compiler_dir
            )
        else:
            compiler = _compiler(tree, python, arch, Path(tmp) / "interpreter", host_tree)
        if compiler is None:
            log(
                f"WARNING: no .pyc for the {arch} image: this host cannot run its Python, and "
                f"neither the same Debian Python for {host_arch()} nor a host python{python} "
                "with the same bytecode magic is at hand; build on a machine of that "
                "architecture, or together with --arch "
                f"{host_arch()}"
            )
            return CompileReport(0, 0, "")
        for path in sources:
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tree.read(path) or b"")
            # Made here, once: the two compiler processes never race to create a folder.
            (work / pyc_path(path, python)).parent.mkdir(exist_ok=True)
        failed = _run(compiler, work, sources, cancelled)
        compiled = _collect(tree, work, python, sources)
    for path in sources:
        data = tree.read(pyc_path(path, python))
        if data is not None:
            memo[keys[path]] = data
    return CompileReport(compiled + reused, failed, compiler.how)


@dataclass(frozen=True)
class _Compiler:
    """A Python that compiles: ``argv`` run in a sandbox whose root is ``root`` (an image's
    interpreter: foreign code), or on the host when ``root`` is None (the host's own
    ``python3.X``, which compiles the sources without running them)."""

    argv: tuple[str, ...]
    how: str
    root: Path | None = None

    def command(self, code: str, work: Path, listing: str) -> list[str]:
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
        if self.root is None:
            return [*self.argv, "-c", code, str(work), str(work / listing)]
        return sandbox.command(
            self.root,
            [*self.argv, "-c", code, _WORK, f"{_WORK}/{listing}"],
            binds=[sandbox.Bind(work, _WORK, writable=True)],
            env=env,
        )


# Where the sources are inside a compiler's sandbox.
_WORK = "/work"


def _compiler(
    tree: Tree, python: str, arch: str, into: Path, host_tree: Tree | None
) -> _Compiler | None:
    """The image's own interpreter (unpacked into ``into``), else the same Python built for
    the host, else a host ``python3.X`` with the same bytecode magic."""
    if arch == host_arch():
        argv = _image_interpreter(tree, python, arch, into)
        if argv is not None:
            return _Compiler(argv, "the image's own interpreter", into)
    elif host_tree is not None:
        argv = _image_interpreter(host_tree, python, host_arch(), into)
        if argv is not None:
            return _Compiler(argv, f"the same Python built for {host_arch()}", into)
    host = shutil.which(f"python{python}")
    if host is not None:
        wanted = image_magic(tree, python)
        probe = subprocess.run(
            [
                host,
                "-c",
                "import importlib.util as u; print(int.from_bytes(u.MAGIC_NUMBER[:2], 'little'))",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and wanted is not None and int(probe.stdout) == wanted:
            return _Compiler(
                (host, "-I", "-S", "-B"), f"host {host} (same bytecode magic {wanted})"
            )
    return None


def _kept_compiler(
    tree: Callable[[], Tree], python: str, arch: str, host_tree: Tree | None, directory: Path
) -> _Compiler | None:
    """The interpreter unpacked once into ``directory`` (by the first build that needs it,
    renamed into place whole), and reused by every later one: unpacking it costs more than
    compiling a project."""
    own = arch == host_arch()
    how = "the image's own interpreter" if own else f"the same Debian Python for {host_arch()}"
    if not is_finished(directory):
        source = tree() if own else host_tree
        if source is None:
            return None

        def fill(staging: Path) -> bool:
            return _image_interpreter(source, python, host_arch(), staging) is not None

        if not finished_folder(directory, fill):
            return None
    return _Compiler(_interpreter_argv(directory, python, host_arch()), how, directory)


def _interpreter_argv(root: Path, python: str, arch: str) -> tuple[str, ...]:
    """The interpreter unpacked in ``root``, started through the image's own dynamic loader
    (the tree has no ``/lib64`` link for its ``PT_INTERP``), as seen inside the sandbox."""
    libdir = f"usr/lib/{multiarch_triplet(arch)}"
    loader = next(p for p in sorted((root / libdir).glob("ld-linux*")) if p.is_file())
    local = f"usr/local/bin/python{python}"
    interpreter = local if (root / local).exists() else f"usr/bin/python{python}"
    return (
        f"/{libdir}/{loader.name}",
        "--library-path",
        f"/{libdir}",
        f"/{interpreter}",
        "-I",
        "-S",
        "-B",
    )


def _image_interpreter(tree: Tree, python: str, arch: str, root: Path) -> tuple[str, ...] | None:
    """Unpack the interpreter, its standard library and its libraries into ``root``; the
    command that starts it in a sandbox there, if it starts."""
    libdir = f"usr/lib/{multiarch_triplet(arch)}"
    prefix = debian_python.prefix_of(tree, python)
    interpreter = f"{prefix}/bin/python{python}"
    wanted = (f"{libdir}/", f"{prefix}/lib/python{python}/", interpreter)
    entries = [e for e in tree.entries() if e.path.startswith(wanted) and "/gconv/" not in e.path]
    loader = next(
        (
            e.path
            for e in entries
            if e.kind is Kind.FILE and os.path.basename(e.path).startswith("ld-linux")
        ),
        None,
    )
    if loader is None or tree.get(interpreter) is None:
        return None
    for entry in entries:
        target = root / entry.path
        if entry.kind is Kind.DIR:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.kind is Kind.SYMLINK:
            target.symlink_to(entry.target)
        else:
            target.write_bytes(tree.read(entry.path) or b"")
            target.chmod(0o755 if entry.mode & 0o111 else 0o644)
    argv = _interpreter_argv(root, python, arch)
    with tempfile.TemporaryDirectory(prefix="pydistroless-probe-") as probe_dir:
        log_path = Path(probe_dir) / "probe.log"
        code = sandbox.run(root, [*argv, "-c", "pass"], cwd="/", log=log_path, timeout=60)
        if code != 0:
            said = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["nothing"]
            log(f"note: the {arch} interpreter did not start in the sandbox (exit {code}: "
                f"{said[0][:200]}); another compiler is looked for")  # fmt: skip
    return argv if code == 0 else None


class Cancelled(Exception):
    """The compilation was stopped from outside (the build it was for has failed)."""


def _run(
    compiler: _Compiler,
    work: Path,
    sources: list[str],
    cancelled: threading.Event | None = None,
) -> int:
    """Compile ``sources`` (under ``work``) in two workers at once (these machines have two
    cores, and compiling is CPU-bound). Each reads its list from a file, so both start at
    once. The workers are stopped when ``cancelled`` is set, and never outlive this call."""
    halves = [half for half in (sources[0::2], sources[1::2]) if half]
    procs: list[subprocess.Popen[str]] = []
    try:
        for number, half in enumerate(halves):
            listing = f".compile-{number}.json"
            (work / listing).write_text(json.dumps(half), encoding="utf-8")
            procs.append(
                subprocess.Popen(
                    compiler.command(_COMPILER, work, listing),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
                )
            )
        results = [_finish(proc, cancelled) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    failed = 0
    for returncode, out, err in results:
        sandbox.check_setup(err)
        if returncode != 0:
            raise ImageCheckError(
                f"byte-compiling with {compiler.how} failed: {err.strip().splitlines()[-1:]}"
            )
        try:
            failed += int(out.strip() or 0)
        except ValueError:
            raise ImageCheckError(
                f"byte-compiling gave no count of failures but {out.strip()[:80]!r}"
            ) from None
    return failed


def _finish(proc: subprocess.Popen[str], cancelled: threading.Event | None) -> tuple[int, str, str]:
    while True:
        try:
            out, err = proc.communicate(timeout=0.1)
            return proc.returncode, out, err
        except subprocess.TimeoutExpired:
            if cancelled is not None and cancelled.is_set():
                raise Cancelled() from None


def _collect(tree: Tree, root: Path, python: str, sources: Sequence[str]) -> int:
    """Put the ``.pyc`` of each of ``sources`` the compiler made into ``tree``."""
    count = 0
    for source in sources:
        relative = pyc_path(source, python)
        data = sandbox.read_result(root, relative)
        if data is None:
            continue  # it failed to compile; the failure is counted
        tree.add_file(relative, data, 0o644)
        count += 1
    return count
