"""CPython from source: the spec, the lock record, the sandbox, the recipe and the SBOM."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from pydistroless.core import sandbox
from pydistroless.core.errors import BuildError, UsageError
from pydistroless.debian.buildroot import BuilderTree
from pydistroless.fs import slicing
from pydistroless.fs.tree import Tree
from pydistroless.python import cpython, debian_python, stdlib_zip
from pydistroless.python.source import PythonSource, Tarball
from pydistroless.recipes import config, origin, sbom
from pydistroless.recipes import lock as lockfile
from pydistroless.recipes.lock import ArchLock, Lock, ReleaseInfo
from pydistroless.recipes.spec import ImageSpec
from tests.unit.test_lock import package

SHA = "1e" * 32
SOURCE = PythonSource(
    version="3.13.15",
    urls=("http://mirror.invalid/debian/pool/main/p/python3.13/python3.13_3.13.15.orig.tar.xz",),
    sha256=SHA,
    size=23160540,
    origin="sid Sources (python3.13 3.13.15-1)",
    optimize=False,
)


def source_lock() -> Lock:
    return Lock(
        suite="trixie",
        codename="trixie",
        debian_version="13.2",
        releases=(ReleaseInfo("trixie", "Sat, 15 Nov 2025 10:00:00 UTC", "13.2", "11" * 32),),
        archs=(
            ArchLock(
                arch="amd64",
                python="3.13",
                python_package_version="3.13.15",
                packages=(package("base-files", "13.8"), package("libssl3t64", "3.5.1-1")),
                python_source=SOURCE,
                builder=(package("gcc-14", "14.2.0-19"), package("libssl-dev", "3.5.1-1")),
            ),
        ),
    )


# --- what the user asks for ---------------------------------------------------------------


def test_a_patch_release_is_a_python_version():
    spec = ImageSpec(python="3.13.15")
    assert spec.python_minor == "3.13"
    assert ImageSpec(python="3.14").python_minor == "3.14"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"python": "3.13.15.1"}, "is not a Python version"),
        ({"python_from": "conda"}, "--python-from 'conda' is unknown"),
        ({"python": "3.13.15", "source_url": "/tmp/x.tar.xz"}, "needs a way to check"),
        ({"python": "3.13.15", "source_sha256": SHA}, "vouch for a --source-url tarball"),
        ({"python": "3.13.15", "source_signature": "/x.asc"}, "add --source-url"),
        ({"python": "3.13", "source_url": "/x", "source_signature": "/x.asc"}, "add --python"),
        ({"python": "3.13", "source_url": "/x", "source_sha256": SHA}, "add --python 3.X.Y"),
        ({"python": "3.13.15", "source_url": "/x", "source_sha256": "abc"}, "not a SHA256"),
        ({"python": "3.13.15", "python_from": "debian"}, "picked by MAJOR.MINOR"),
        (
            {
                "python": "3.13.15",
                "python_from": "debian",
                "source_url": "/x",
                "source_sha256": SHA,
            },
            "drop --python-from debian",
        ),
    ],
)
def test_contradictory_python_requests_are_refused(fields, message):
    with pytest.raises(UsageError, match=message):
        ImageSpec(**fields)


def test_the_config_file_takes_the_same_keys(tmp_path: Path):
    data = {
        "python": "3.13.15",
        "python-optimizations": False,
        "matrix": {"python-from": ["auto", "source"]},
    }
    found = config.parse(data, path=tmp_path / "pydistroless.toml", base=ImageSpec())
    assert [(i.python, i.python_from, i.optimize_python) for i in found.images] == [
        ("3.13.15", "auto", False),
        ("3.13.15", "source", False),
    ]
    signed = config.parse(
        {"python": "3.13.5", "source-url": "x.tar.xz", "source-signature": "https://h/x.asc"},
        path=tmp_path / "pydistroless.toml",
        base=ImageSpec(),
    )
    # A local file is found beside the config file, wherever the command runs.
    assert [(i.source_url, i.source_signature) for i in signed.images] == [
        (str(tmp_path / "x.tar.xz"), "https://h/x.asc")
    ]
    with pytest.raises(UsageError, match="python-optimizations must be true or false"):
        config.parse({"python-optimizations": "no"}, path=tmp_path / "p.toml", base=ImageSpec())


# --- the lock's record of it ---------------------------------------------------------------


def test_a_lock_with_a_python_source_round_trips():
    lock = source_lock()
    text = lockfile.dumps(lock)
    assert '"python-source": {' in text
    assert lockfile.loads(text) == lock
    assert lock.archs[0].prefix == "usr/local"


def test_the_lock_pins_the_builder_trees_one_package_per_line():
    lock = source_lock()
    text = lockfile.dumps(lock)
    assert '      "builder": [' in text and '"host-builder"' not in text
    assert sum('"name": "gcc-14"' in line for line in text.splitlines()) == 1
    cross = replace(lock.archs[0], host_builder=(package("gcc-14", "14.2.0-19"),), arch="amd64")
    again = lockfile.loads(lockfile.dumps(replace(lock, archs=(cross,))))
    assert again.archs[0].host_builder == cross.host_builder
    assert again.archs[0].builder == cross.builder


def test_builder_packages_without_a_python_source_are_refused():
    data = json.loads(lockfile.dumps(source_lock()))
    del data["archs"][0]["python-source"]
    data["archs"][0]["python-package-version"] = "3.13.5-2"
    with pytest.raises(UsageError, match="builder packages but no python-source"):
        lockfile.loads(json.dumps(data), source="my.lock")


def _edited(**changes) -> str:
    data = json.loads(lockfile.dumps(source_lock()))
    data["archs"][0]["python-source"].update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": "3.13.14"}, "is not the version of its python-source"),
        ({"sha256": "xyz"}, "is not a valid sha256"),
        ({"urls": ["ftp://host/x.tar.xz"]}, "not an http(s) or file URL"),
        ({"urls": ["http://user:pw@host/x.tar.xz"]}, "without credentials"),
        ({"optimize": "yes"}, "optimize must be true or false"),
        ({"flags": "-O3"}, "unknown field(s) flags"),
    ],
)
def test_hand_edited_python_sources_are_refused(changes, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        lockfile.loads(_edited(**changes), source="my.lock")


# --- the sandbox and the recipe -------------------------------------------------------------


def test_the_configure_flags_follow_the_options():
    quick = cpython.Options(optimize=False).configure_args("amd64")
    assert "--build=x86_64-linux-gnu" in quick and "--prefix=/usr/local" in quick
    assert "--enable-optimizations" not in quick
    full = cpython.Options().configure_args("arm64")
    assert {"--enable-optimizations", "--with-lto", "--build=aarch64-linux-gnu"} <= set(full)


def test_a_cross_build_names_both_machines_and_the_python_that_runs_its_steps():
    args = cpython.Options().configure_args("arm64", host="amd64", minor="3.13")
    assert args[:3] == [
        "--build=x86_64-linux-gnu",
        "--host=aarch64-linux-gnu",
        f"--with-build-python={cpython.BUILD_PYTHON}/usr/local/bin/python3.13",
    ]
    # PGO runs the interpreter it profiles: not possible for code this host cannot run.
    assert "--with-lto" in args and "--enable-optimizations" not in args
    i386 = cpython.Options(optimize=False).configure_args("i386", host="amd64", minor="3.14")
    assert "--host=i686-linux-gnu" in i386 and "--disable-test-modules" in i386


def test_configure_never_probes_the_build_host_for_what_linux_has():
    # Probed in the sandbox (no /dev/shm), POSIX semaphores once looked missing.
    for args in (
        cpython.Options().configure_args("amd64"),
        cpython.Options(optimize=False).configure_args("arm64", host="amd64", minor="3.13"),
    ):
        assert {"ac_cv_posix_semaphores_enabled=yes", "ac_cv_broken_sem_getvalue=no"} <= set(args)
        assert {"--enable-ipv6", "ac_cv_file__dev_ptmx=yes"} <= set(args)


def test_unpacking_gives_the_releases_date_for_source_date_epoch(tmp_path: Path):
    path = tmp_path / "Python-3.13.15.tar.xz"
    with tarfile.open(path, "w:xz") as archive:
        for name, mtime in (("Python-3.13.15/configure", 1_700_000_000), ("Python-3.13.15/x", 5)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = 2, mtime
            archive.addfile(info, io.BytesIO(b"x\n"))
    assert cpython._unpack(path, tmp_path / "work", TARBALL) == 1_700_000_000
    assert (tmp_path / "work" / "Python-3.13.15" / "configure").read_bytes() == b"x\n"


def test_a_foreign_architecture_without_qemu_is_refused_before_anything_is_built(monkeypatch):
    monkeypatch.setattr(cpython, "host_arch", lambda: "amd64")
    cpython.check_runnable("amd64")
    monkeypatch.setattr(cpython.Path, "read_text", lambda self: "")
    with pytest.raises(UsageError, match="cannot build CPython for s390x on this amd64 host"):
        cpython.check_runnable("s390x")
    enabled = "enabled\ninterpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P\nflags: POCF\n"
    monkeypatch.setattr(cpython.Path, "read_text", lambda self: enabled)
    cpython.check_runnable("s390x")


def _tarball(tmp_path: Path, names: list[str]) -> Path:
    path = tmp_path / "Python-3.13.15.tar.xz"
    with tarfile.open(path, "w:xz") as archive:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 2
            archive.addfile(info, io.BytesIO(b"x\n"))
    return path


TARBALL = Tarball("3.13.15", ("file:///x",), SHA, None, "--source-url")


def test_a_tarball_with_files_outside_its_top_folder_is_refused(tmp_path: Path):
    bad = _tarball(tmp_path, ["Python-3.13.15/configure", "etc/cron.d/evil"])
    with pytest.raises(UsageError, match=r"is not a CPython 3\.13\.15 source tarball"):
        cpython._unpack(bad, tmp_path / "work", TARBALL)
    escaping = _tarball(tmp_path, ["Python-3.13.15/../../evil"])
    with pytest.raises(UsageError, match="cannot be unpacked"):
        cpython._unpack(escaping, tmp_path / "work", TARBALL)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "work" / "etc").exists()


def test_a_failed_step_names_itself_its_last_line_and_the_log(tmp_path: Path, capsys):
    log = tmp_path / "build.log"
    log.write_text("".join(f"line {i}\n" for i in range(40)) + "error: no C compiler\n\n")
    with pytest.raises(BuildError) as caught:
        cpython._fail("3.13.15", "configure", 77, log)
    message = str(caught.value)
    assert message == (
        f"building CPython 3.13.15 failed in configure (exit 77): error: no C compiler; "
        f"the full log is {log}"
    )
    shown = capsys.readouterr().err
    assert "  | error: no C compiler" in shown and "line 25" not in shown and "line 30" in shown


def test_the_runtime_tree_leaves_out_what_only_builds_need(tmp_path: Path):
    root = tmp_path / "install"
    files = {
        "usr/local/bin/python3.13": 0o755,
        "usr/local/bin/python3.13-config": 0o755,
        "usr/local/bin/idle3.13": 0o755,
        "usr/local/include/python3.13/Python.h": 0o644,
        "usr/local/lib/libpython3.13.a": 0o644,
        "usr/local/lib/pkgconfig/python3.pc": 0o644,
        "usr/local/lib/python3.13/os.py": 0o644,
        "usr/local/lib/python3.13/__pycache__/os.cpython-313.pyc": 0o644,
        "usr/local/lib/python3.13/config-3.13-x86_64-linux-gnu/Makefile": 0o644,
        "usr/local/lib/python3.13/ensurepip/__init__.py": 0o644,
        "usr/local/lib/python3.13/lib-dynload/_ssl.cpython-313-x86_64-linux-gnu.so": 0o755,
        "usr/local/share/man/man1/python3.13.1": 0o644,
    }
    for name, mode in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
        (root / name).chmod(mode)
    (root / "usr/local/bin/python3").symlink_to("python3.13")
    builder = BuilderTree(tmp_path / "builder", "trixie", "amd64", ())
    tree = cpython.runtime_tree(cpython.CompiledPython(root, "3.13.15", "amd64", 1.0, builder))
    kept = sorted(e.path for e in tree.files())
    assert kept == [
        "usr/local/bin/python3.13",
        "usr/local/lib/python3.13/lib-dynload/_ssl.cpython-313-x86_64-linux-gnu.so",
        "usr/local/lib/python3.13/os.py",
    ]
    assert tree.get("usr/local/bin/python3").target == "python3.13"
    assert tree.get("usr/local/bin/python").target == "python3.13"
    assert tree.get("usr/local/bin/python3.13").mode == 0o755
    assert debian_python.prefix_of(tree, "3.13") == "usr/local"
    assert debian_python.stdlib_dir(Tree(), "3.13") == "usr/lib/python3.13"


def test_slices_and_the_sources_hook_find_a_usr_local_stdlib():
    tree = Tree()
    for name in ("os.py", "test/test_os.py", "idlelib/idle.py", "json/__init__.py"):
        tree.add_file(f"usr/local/lib/python3.13/{name}", b"")
    slicing.cut(tree)
    assert sorted(e.path for e in tree.files()) == [
        "usr/local/lib/python3.13/json/__init__.py",
        "usr/local/lib/python3.13/os.py",
    ]
    stdlib_zip.add_hook(tree, "3.13")
    assert tree.get(f"usr/local/lib/python3.13/{stdlib_zip.HOOK}.py") is not None
    assert stdlib_zip.pth_dir(tree, "3.13") == "usr/local/lib/python3.13/site-packages"


# --- the SBOM ------------------------------------------------------------------------------

UPSTREAM = sbom.UpstreamPython("3.13.15", SOURCE.urls[0], SHA)
SUBJECT = sbom.SbomSubject("pydistroless/python:3.13.15-debian13", "amd64", "13", 1_700_000_000)


def test_the_spdx_document_lists_cpython_with_a_purl_and_a_cpe(tmp_path: Path):
    path = tmp_path / "image.spdx.json"
    path.write_bytes(sbom.add_cpython(sbom.spdx(SUBJECT, []), UPSTREAM, fmt="spdx"))
    document = parse_file(str(path))
    assert validate_full_spdx_document(document) == []
    python = next(p for p in document.packages if p.name == "python")
    assert python.version == "3.13.15"
    locators = {r.locator for r in python.external_references}
    assert "cpe:2.3:a:python:python:3.13.15:*:*:*:*:*:*:*" in locators
    assert any(
        r.startswith("pkg:generic/python@3.13.15?download_url=http%3A%2F%2F") for r in locators
    )
    assert python.checksums[0].value == SHA


def test_the_cyclonedx_document_lists_cpython():
    document = sbom.add_cpython(sbom.cyclonedx(SUBJECT, []), UPSTREAM, fmt="cyclonedx")
    errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(document.decode())
    assert errors is None, errors
    component = json.loads(document)["components"][-1]
    assert component["cpe"] == "cpe:2.3:a:python:python:3.13.15:*:*:*:*:*:*:*"


def test_a_tarball_given_as_a_local_file_names_no_path_of_the_builders(tmp_path: Path):
    local = replace(SOURCE, urls=("file:///home/someone/Downloads/Python.tar.xz",))
    assert local.published_url is None
    both = replace(SOURCE, urls=(local.urls[0], SOURCE.urls[0]))
    assert both.published_url == SOURCE.urls[0]
    upstream = sbom.UpstreamPython("3.13.15", local.published_url, SHA)
    assert sbom.cpython_purl(upstream) == "pkg:generic/python@3.13.15"
    path = tmp_path / "image.spdx.json"
    path.write_bytes(sbom.add_cpython(sbom.spdx(SUBJECT, []), upstream, fmt="spdx"))
    assert validate_full_spdx_document(parse_file(str(path))) == []
    cyclonedx = sbom.add_cpython(sbom.cyclonedx(SUBJECT, []), upstream, fmt="cyclonedx")
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(cyclonedx.decode()) is None
    for document in (path.read_bytes(), cyclonedx):
        assert b"Downloads" not in document and b"file:" not in document


def test_a_killed_builds_leftovers_are_removed_by_the_next_build(tmp_path: Path):
    builder = BuilderTree(tmp_path / "tree", "trixie", "amd64", ())
    workspace = sandbox.workspace(builder.root)
    (workspace / "cpython-abc" / "Python-3.13.15").mkdir(parents=True)
    (workspace / ".result-def").mkdir()
    with cpython._builder_lock(builder):
        assert list(workspace.iterdir()) == []


# --- where the plan takes the Python from ----------------------------------------------------


class _Index:
    """A package index that has ``python3.13-minimal`` 3.13.5-2 and nothing else."""

    def candidates(self, name):
        from types import SimpleNamespace

        return [SimpleNamespace(version="3.13.5-2")] if name == "python3.13-minimal" else []

    def names(self):
        return ["python3.13-minimal"]


def _listed(version: str) -> Tarball:
    return Tarball(version, (f"http://mirror.invalid/Python-{version}.tar.xz",), SHA, 1, "test")


@pytest.mark.parametrize(
    ("fields", "python", "expected"),
    [
        ({}, "3.13", None),
        ({"python": "3.13"}, "3.13", None),
        ({"python": "3.13.5"}, "3.13", None),
        ({"python": "3.13.15"}, "3.13", "3.13.15"),
        ({"python": "3.14"}, "3.14", "3.14.10"),
        ({"python_from": "source"}, "3.13", "3.13.18"),
        ({"python": "3.13", "python_from": "debian"}, "3.13", None),
    ],
)
def test_the_suites_python_is_taken_whenever_it_is_the_one_asked_for(fields, python, expected):
    known = {
        "3.13.15": _listed("3.13.15"),
        "3.14": _listed("3.14.10"),
        "3.13": _listed("3.13.18"),
    }
    spec = ImageSpec(**fields)
    found = origin.upstream_python(spec, spec.archs[0], python, _Index(), None, dict(known))
    assert (found.version if found else None) == expected
    if found:
        assert found.sha256 == SHA and found.optimize is True
