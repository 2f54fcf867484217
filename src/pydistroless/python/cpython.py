"""Build upstream CPython from its verified tarball in the builder tree, once per input.

The recipe is the official ``python`` images' (``./configure && make && make install`` into
``/usr/local``), with ``--enable-optimizations --with-lto`` unless asked otherwise. libpython
is linked statically into the interpreter (configure's default): calls inside the interpreter
need no PLT or GOT indirection, which is measurably faster, and the extension modules still
load, as the interpreter exports its symbols (``-Xlinker -export-dynamic``). There is then no
``libpython3.X.so`` to find at run time either.

A finished install is kept in the cache under everything it depends on (the tarball's
SHA256, the architecture, the options, the builder tree's packages, this recipe), so the next
build with the same inputs takes it as it is, offline too. What the image does not need (C
headers, the static library, ``idle``, ``2to3``, ``ensurepip``, ...) stays in the cache copy and
is left out of the image's tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import stat
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pydistroless.core import sandbox
from pydistroless.core.arch import architecture, host_arch
from pydistroless.core.cache import cache_key, finished_folder, is_finished
from pydistroless.core.errors import BuildError, ImageCheckError, UsageError
from pydistroless.core.report import log
from pydistroless.debian.buildroot import BuilderTree, builder_tree
from pydistroless.debian.rootfs import unpack
from pydistroless.debian.store import LockedPackage, Store
from pydistroless.fs import elf
from pydistroless.fs.tree import Entry, Kind, Tree
from pydistroless.python.source import PythonSource, Tarball, fetch

PREFIX = "usr/local"
# The build's steps beyond their arguments (which are part of the key themselves): bump it
# when they change, and every cached CPython is compiled again. (2: the release's date as
# SOURCE_DATE_EPOCH, configure's probes of the build host pinned.)
RECIPE = 2


# Where a cross build finds the same CPython built for the host, which runs the build's own
# steps (freezing modules, byte-compiling the stdlib): in the builder tree's build folder,
# so that a killed build's copy is removed with the rest.
BUILD_PYTHON = "/build/python-for-build"

# What configure would find by running code or looking at files, pinned to what Linux with
# glibc has everywhere. A cross build cannot run the target's code; a native one runs it in
# the sandbox, whose /dev has neither shm nor ptmx and whose kernel is the build host's: there
# POSIX semaphores looked missing (multiprocessing's locks, queues and pools then refused to
# work), and a host without IPv6 would have built a Python without it.
LINUX_PROBES = (
    "--enable-ipv6",
    "ac_cv_file__dev_ptmx=yes",
    "ac_cv_file__dev_ptc=no",
    "ac_cv_buggy_getaddrinfo=no",
    "ac_cv_posix_semaphores_enabled=yes",
    "ac_cv_broken_sem_getvalue=no",
)


@dataclass(frozen=True)
class Options:
    optimize: bool = True  # --enable-optimizations --with-lto (PGO: a profiled second build)
    free_threaded: bool = False  # --disable-gil (PEP 703): python3.Xt, ABI cp3XYt

    def configure_args(self, arch: str, *, host: str = "", minor: str = "") -> list[str]:
        """The arguments of ``./configure`` for ``arch``; ``host`` is the architecture the
        compiler runs on when it is another (a cross build of CPython ``minor``)."""
        cross = bool(host) and host != arch
        if cross:
            args = [
                f"--build={architecture(host).gnu_type}",
                f"--host={architecture(arch).gnu_type}",
                f"--with-build-python={BUILD_PYTHON}/{PREFIX}/bin/python{minor}",
            ]
        else:
            args = [f"--build={architecture(arch).gnu_type}"]
        args += [
            "--prefix=/usr/local",
            "--enable-option-checking=fatal",
            "--enable-loadable-sqlite-extensions",
            "--with-system-expat",
            "--without-ensurepip",
            *LINUX_PROBES,
        ]
        if self.optimize:
            # PGO profiles the interpreter by running it, which a cross build cannot.
            args += ["--with-lto"] if cross else ["--enable-optimizations", "--with-lto"]
        else:
            # The test package and its extension modules: the image leaves them out, and
            # installing and byte-compiling them is a good part of `make install`. A PGO
            # build keeps them, as its profile run exercises them.
            args.append("--disable-test-modules")
        if self.free_threaded:
            args.append("--disable-gil")
        return args


@dataclass(frozen=True)
class CompiledPython:
    """A finished ``make install``: ``root`` holds ``usr/local``."""

    root: Path
    version: str
    arch: str
    seconds: float  # how long the build took when it was made
    builder: BuilderTree  # the tree it was built in (and linked against)
    free_threaded: bool = False  # built with --disable-gil
    host_builder: BuilderTree | None = None  # a cross build's: where its build Python was

    @property
    def minor(self) -> str:
        return self.version.rsplit(".", 1)[0]

    @property
    def name(self) -> str:
        """``3.13``, or ``3.13t`` for a free-threaded build: the suffix of ``python3.13t`` and
        ``lib/python3.13t``, as its ``make install`` names them."""
        return self.minor + ("t" if self.free_threaded else "")


def _configure_args(tarball: Tarball, builder: BuilderTree, options: Options) -> list[str]:
    return options.configure_args(builder.arch, host=builder.host, minor=tarball.minor)


def build_key(tarball: Tarball, builder: BuilderTree, options: Options) -> str:
    return cache_key(
        {
            "recipe": RECIPE,
            "strip": _strip_command("/", builder, free_threaded=options.free_threaded),
            "tarball": tarball.sha256,
            "arch": builder.arch,
            "configure": _configure_args(tarball, builder, options),
            "builder": builder.digest,
        },
        tool=False,
    )


def cached_build(tarball: Tarball, builder: BuilderTree, options: Options, ctx: Store) -> Path:
    return (
        ctx.cache.root / "pythons" / f"{build_key(tarball, builder, options)[:32]}-{builder.arch}"
    )


def build(
    tarball: Tarball,
    builder: BuilderTree,
    options: Options,
    ctx: Store,
    *,
    for_build: CompiledPython | None = None,
) -> CompiledPython:
    """The install tree of ``tarball`` built in ``builder``: from the cache when these inputs
    were built before, else compiled now (minutes) and kept. A cross builder needs
    ``for_build``, the same release built for the host."""
    home = cached_build(tarball, builder, options, ctx)
    record = home / "build.json"
    if is_finished(home):
        facts = json.loads(record.read_text())
        log(f"CPython {tarball.version} for {builder.arch}: built before, from the cache")
        return CompiledPython(
            home / "install",
            tarball.version,
            builder.arch,
            facts["seconds"],
            builder,
            options.free_threaded,
        )
    source = fetch(tarball, ctx)
    if ctx.fetcher.offline:
        log(f"offline: building CPython {tarball.version} from the cached tarball")
    with _builder_lock(builder):
        if is_finished(home):  # built by the build this one waited for
            return build(tarball, builder, options, ctx, for_build=for_build)
        logs = home.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{home.name}.log"
        log_path.write_bytes(b"")
        build_python = sandbox.workspace(builder.root) / BUILD_PYTHON.removeprefix(
            f"{sandbox.BUILD_DIR}/"
        )
        try:
            if builder.host:
                assert for_build is not None, "a cross build runs the host's CPython"
                shutil.copytree(for_build.root, build_python, symlinks=True)
            installed = _compile(source, tarball, builder, options, home, log_path)
        finally:
            shutil.rmtree(build_python, ignore_errors=True)
    log(f"compiled CPython {tarball.version} in {installed.seconds:.0f} s")
    return installed


@contextlib.contextmanager
def _builder_lock(builder: BuilderTree) -> Iterator[None]:
    """One build at a time in a builder tree (each takes every core anyway). Whatever lies in
    its workspace when the lock is taken is the leftover of a build that was killed, and is
    removed."""
    folder = sandbox.workspace(builder.root)
    with folder.with_name(f"{folder.name}.lock").open("a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another CPython build in {builder.root}")
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        for leftover in folder.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
        yield


def _compile(
    source: Path,
    tarball: Tarball,
    builder: BuilderTree,
    options: Options,
    home: Path,
    log_path: Path,
) -> CompiledPython:
    how = "unoptimized"
    if options.optimize:
        how = (
            f"optimized (LTO; PGO would run {builder.arch} code)"
            if builder.host
            else ("optimized (PGO + LTO)")
        )
    if builder.host:
        how = (
            f"{how}, cross-compiled with Debian's toolchain (this {builder.host} host cannot "
            f"run {builder.arch} code; CPython {tarball.version} built for it runs the build's "
            "steps)"
        )
    log(f"compiling CPython {tarball.version} for {builder.arch}, {how}; log: {log_path}")
    started = time.monotonic()
    # In the builder's build folder, so that a killed build's leftovers are found and removed.
    workspace = sandbox.workspace(builder.root)
    # A fixed folder (one build at a time holds the tree's lock): the build's path ends up in
    # sysconfig's data and in debug paths, and must not differ from one build to the next.
    work = workspace / "cpython"
    work.mkdir()
    seconds = 0.0

    def fill(staging: Path) -> None:
        nonlocal seconds
        released = _unpack(source, work, tarball)
        # The compilers' and the stdlib's notion of "now" (the date in sys.version, for one):
        # the release's own date, the same on every build, rather than the sandbox's 1970.
        env = {**sandbox.ENV, "SOURCE_DATE_EPOCH": str(released)}
        inside = f"{sandbox.BUILD_DIR}/{work.name}"
        src = f"{inside}/Python-{tarball.version}"
        dest = f"{inside}/install"
        jobs = str(os.cpu_count() or 1)
        steps = [
            ("configure", ["./configure", *_configure_args(tarball, builder, options)]),
            ("make", ["make", f"-j{jobs}"]),
            ("make install", ["make", "install", f"DESTDIR={dest}"]),
            ("strip", _strip_command(dest, builder, free_threaded=options.free_threaded)),
        ]
        for name, argv in steps:
            code = sandbox.run(
                builder.root,
                argv,
                cwd=src,
                log=log_path,
                binds=[sandbox.Bind(workspace, sandbox.BUILD_DIR, writable=True)],
                env=env,
            )
            if code != 0:
                _fail(tarball.version, name, code, log_path)
        seconds = time.monotonic() - started
        os.rename(work / "install", staging / "install")
        (staging / "build.json").write_text(
            json.dumps(
                {
                    "version": tarball.version,
                    "sha256": tarball.sha256,
                    "arch": builder.arch,
                    "configure": _configure_args(tarball, builder, options),
                    "builder": builder.digest,
                    "seconds": round(seconds, 1),
                },
                indent=2,
            )
        )

    try:
        finished_folder(home, fill, staging_in=workspace)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return CompiledPython(
        home / "install", tarball.version, builder.arch, seconds, builder, options.free_threaded
    )


def compiled(
    source: PythonSource,
    suite: str,
    arch: str,
    ctx: Store,
    *,
    builder: tuple[LockedPackage, ...] = (),
    host_builder: tuple[LockedPackage, ...] = (),
) -> CompiledPython:
    """The locked upstream Python built for ``arch`` in a builder tree of ``suite`` (of the
    lock's ``builder`` packages when it pins them): natively where this host runs ``arch``
    code (itself, or through qemu-user), else cross-compiled with Debian's cross toolchain
    and the same release built for the host (in its tree of ``host_builder``)."""
    tarball = Tarball.of(source)
    options = Options(optimize=source.optimize, free_threaded=source.free_threaded)
    host = host_arch()
    cross = not runnable(arch)
    # The trees a lock pins are taken where they fit: a lock made where the build was native
    # pins a native tree, one made where it was a cross build a cross tree and the host's.
    # The other kind of build (the lock made on an arm64 machine, built on amd64) resolves
    # its trees now.
    fits = bool(host_builder) == cross and all(
        p.architecture in (host, "all") for p in host_builder
    )
    pinned, pinned_host = (builder, host_builder) if fits else ((), ())
    if not cross:
        tree = builder_tree(suite, arch, ctx, packages=pinned)
        return build(tarball, tree, options, ctx)
    # The cross tree first: a suite without a cross toolchain is refused before anything
    # is compiled.
    cross_tree = builder_tree(suite, arch, ctx, host=host, packages=pinned)
    native = builder_tree(suite, host, ctx, packages=pinned_host)
    for_build = build(tarball, native, replace(options, optimize=False), ctx)
    installed = build(tarball, cross_tree, options, ctx, for_build=for_build)
    return replace(installed, host_builder=native)


def host_compiler(
    source: PythonSource, suite: str, ctx: Store, *, builder: tuple[LockedPackage, ...] = ()
) -> Tree:
    """The same release built for this host, with the C library it runs on: what
    byte-compiles the standard library of an image this host cannot run (bytecode depends
    on neither the CPU nor the optimizations, so the unoptimized build of a cross build's
    steps serves, in its tree of ``builder``: a lock's ``host_builder``)."""
    host = host_arch()
    installed = compiled(replace(source, optimize=False), suite, host, ctx, builder=builder)
    libc = [p for p in installed.builder.packages if p.name in ("libc6", "libgcc-s1")]
    tree = unpack(ctx.debs(libc))
    for entry in runtime_tree(installed).entries():
        if entry.path not in tree:
            tree.add(entry)
    return tree


def runtime_libraries(tree: Tree, builder: BuilderTree, ctx: Store) -> list[str]:
    """The Debian packages whose libraries the ELF files of ``tree`` (a runtime tree) load:
    the very packages of the builder tree they were linked against, found by their files."""
    elves = elf.scan(tree)
    own = {info.soname for info in elves.values() if info.soname}
    own |= {path.rsplit("/", 1)[-1] for path in elves}
    wanted = {name for info in elves.values() for name in info.needed if name not in own}
    folders = set(elf.default_search_dirs(builder.arch))
    found: dict[str, str] = {}
    for deb in ctx.debs(builder.packages):
        for entry in deb.entries:
            folder, _, name = entry.path.rpartition("/")
            if name in wanted and folder in folders and not deb.name.endswith("-dev"):
                found.setdefault(name, deb.name)
    missing = sorted(wanted - set(found))
    if missing:
        raise ImageCheckError(
            f"CPython's modules need {', '.join(missing)}, which no package of the builder "
            "tree ships; this is a bug in the builder's package list"
        )
    return sorted(set(found.values()))


def runnable(arch: str) -> bool:
    """Whether this host can run ``arch`` code in a builder tree (natively or through a
    registered qemu-user with the fix-binary flag, which a chroot needs)."""
    try:
        check_runnable(arch)
    except UsageError:
        return False
    return True


def check_runnable(arch: str) -> None:
    """:func:`runnable`, or the error that says what would make it so."""
    if arch == host_arch():
        return
    machine = architecture(arch).qemu_name
    entry = Path(f"/proc/sys/fs/binfmt_misc/qemu-{machine}")
    try:
        text = entry.read_text()
    except OSError:
        text = ""
    flags = next((line.split()[1] for line in text.splitlines() if line.startswith("flags:")), "")
    if "enabled" in text and "F" in flags:
        return
    raise UsageError(
        f"cannot build CPython for {arch} on this {host_arch()} host: it cannot run {arch} "
        f"code (no qemu-{machine} registered with binfmt_misc's F flag); install "
        f"qemu-user-static and binfmt-support, or build on an {arch} machine"
    )


def _unpack(source: Path, work: Path, tarball: Tarball) -> int:
    """The tarball's ``Python-X.Y.Z/`` tree into ``work``; ``tarfile``'s data filter refuses
    absolute paths, links out of the tree and device files. Returns the release's date: the
    newest mtime in the tarball, in epoch seconds."""
    top = f"Python-{tarball.version}"
    try:
        with tarfile.open(source, "r:xz") as archive:
            members = archive.getmembers()
            if not members or any(
                m.name != top and not m.name.startswith(top + "/") for m in members
            ):
                raise UsageError(
                    f"{tarball.file_name} from {tarball.origin} is not a CPython {tarball.version} "
                    f"source tarball (everything in it must be under {top}/)"
                )
            archive.extractall(work, members=members, filter="data")
            return max(int(m.mtime) for m in members)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UsageError(
            f"{tarball.file_name} from {tarball.origin} cannot be unpacked ({exc}); "
            "give a CPython .tar.xz"
        ) from None


def _strip_command(dest: str, builder: BuilderTree, *, free_threaded: bool = False) -> list[str]:
    # The interpreter and the extension modules, not the scripts beside them (python3.X-config).
    # --strip-unneeded keeps the dynamic symbols the extension modules link against.
    strip = f"{architecture(builder.arch).gnu_type}-strip" if builder.host else "strip"
    # A free-threaded build's interpreter is python3.Xt (python3.X links to it).
    names = ["-o", "-name", "python3.[0-9][0-9]t"] if free_threaded else []
    return [
        "find", f"{dest}/{PREFIX}", "-type", "f", "(", "-name", "*.so", "-o", "-name",
        "python3.[0-9]", "-o", "-name", "python3.[0-9][0-9]", *names, ")", "-exec", strip,
        "--strip-unneeded", "{}", "+",
    ]  # fmt: skip


def _fail(version: str, step: str, code: int, log_path: Path) -> None:
    last = sandbox.show_failure(log_path)
    raise BuildError(
        f"building CPython {version} failed in {step} (exit {code}): {last}; "
        f"the full log is {log_path}"
    )


# What the image leaves out of an install: files for building against CPython and the
# tools around it. (The standard library's own cuts are slices, as for Debian's Python.)
def _dropped(minor: str, *, for_builds: bool) -> re.Pattern[str]:
    lib = re.escape(f"{PREFIX}/lib/python{minor}")
    # ensurepip stays in a builder, where `python -m venv` installs pip with it.
    building = (
        rf"|{PREFIX}/include(/.*)?|{PREFIX}/lib/pkgconfig(/.*)?|{PREFIX}/lib/libpython.*\.a"
        rf"|{PREFIX}/bin/python3.*-config|{lib}/config-{re.escape(minor)}-[^/]*(/.*)?"
        rf"|{lib}/ensurepip(/.*)?"
    )
    return re.compile(
        rf"{PREFIX}/share(/.*)?"
        rf"|{PREFIX}/bin/(idle3.*|pydoc3.*|2to3.*)"
        # macOS's helper scripts (/bin/sh, a .bat), which no Linux image can run
        rf"|{lib}/ctypes/macholib/fetch_macholib.*"
        rf"|.*/__pycache__(/.*)?" + ("" if for_builds else building)
    )


def runtime_tree(installed: CompiledPython, *, for_builds: bool = False) -> Tree:
    """What of the install goes into a runtime image, as a tree rooted at ``/``; with
    ``for_builds`` (the builder image), the headers and ``python3.X-config`` stay."""
    dropped = _dropped(installed.name, for_builds=for_builds)
    tree = Tree()
    base = installed.root
    for directory, dirs, files in os.walk(base):
        for name in sorted([*dirs, *files]):
            path = Path(directory) / name
            relative = str(path.relative_to(base))
            if dropped.fullmatch(relative):
                if name in dirs:
                    dirs.remove(name)
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                tree.add_symlink(relative, os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                tree.add_dir(relative, 0o755)
            elif stat.S_ISREG(info.st_mode):
                tree.add_file(relative, path.read_bytes(), 0o755 if info.st_mode & 0o111 else 0o644)
        dirs.sort()
    if installed.name != installed.minor:
        # make install hard-links python3.13 and a free-threaded python3.13t: one file under
        # two names, and so it stays (not a symlink), because scanners know CPython by a file
        # named python3.X (syft reads its version from the file called so, and a symlink's
        # real path, ending in "t", is not matched). python3.13 carries the data, as the
        # first of the two in the sorted order trees are copied and layers written in.
        plain = f"{PREFIX}/bin/python{installed.minor}"
        threaded = f"{PREFIX}/bin/python{installed.name}"
        tree.remove_entries([threaded])
        tree.add(Entry(threaded, Kind.HARDLINK, 0o755, target=plain))
    for name in ("python", "python3"):
        link = f"{PREFIX}/bin/{name}"
        if tree.get(link) is None:
            tree.add_symlink(link, f"python{installed.name}")
    return tree
