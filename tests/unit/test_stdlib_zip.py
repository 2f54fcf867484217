"""The stdlib zip: deterministic bytes, .pyc renamed into it, and zipimport serving a module's
code and its source from it (with this machine's Python, whose zipimport is the same)."""

import io
import py_compile
import subprocess
import sys
import types
import zipfile
from pathlib import Path

from pydistroless.fs.tree import Kind, Tree
from pydistroless.python import bytecode, stdlib_zip

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
STDLIB = f"usr/lib/python{PY}"
ARCHIVE = f"usr/lib/python{PY}/{stdlib_zip.ARCHIVE}"

DEMO = b'''"""A module with nested code objects."""


class Thing:
    def method(self):
        return [x for x in range(3)]


def fail():
    raise ValueError("from the zip")  # the line a traceback shows
'''


def _pyc(tmp_path: Path, source: bytes, dfile: str) -> bytes:
    """An unchecked-hash .pyc of ``source`` compiled for the file name ``dfile``, as the build
    makes them."""
    src = tmp_path / "src.py"
    src.write_bytes(source)
    out = tmp_path / "out.pyc"
    py_compile.compile(
        str(src),
        cfile=str(out),
        dfile=dfile,
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return out.read_bytes()


def _filenames(code: types.CodeType) -> set[str]:
    names = {code.co_filename}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _filenames(const)
    return names


def _stdlib_tree(tmp_path: Path) -> Tree:
    """A small stdlib, compiled: modules to zip, and the things that must stay files."""
    tree = Tree()
    tree.add_file(f"usr/bin/python{PY}", b"\x7fELF ... <frozen os> ... <frozen importlib.util>")
    sources = {
        "demo.py": DEMO,
        "pkg/__init__.py": b"from pkg.sub import VALUE\n",
        "pkg/sub.py": b"VALUE = 42\n",
        "os.py": b"# frozen into the interpreter; getpath's landmark\n",
        "importlib/__init__.py": b"",
        "importlib/util.py": b"",
        "venv/__init__.py": b"SCRIPTS = 'scripts'\n",
        "test/__init__.py": b"",
        "_sysconfigdata__linux_x86_64-linux-gnu.py": b"build_time_vars = {}\n",
    }
    for name, source in sources.items():
        path = f"{STDLIB}/{name}"
        tree.add_file(path, source)
        pyc = _pyc(tmp_path, source, f"/{path}")
        tree.add_file(bytecode.pyc_path(path, PY), pyc)
    tree.add_file(f"{STDLIB}/pkg/notes.rst", b"design notes\n")
    tree.add_file(f"{STDLIB}/venv/scripts/common/activate", b"# sourced by a shell\n")
    tree.add_file(f"{STDLIB}/EXTERNALLY-MANAGED", b"[externally-managed]\n")
    tree.add_file(f"{STDLIB}/lib-dynload/_ssl.so", b"\x7fELF")
    tree.add_symlink(
        f"{STDLIB}/_sysconfigdata__x86_64-linux-gnu.py", "_sysconfigdata__linux_x86_64-linux-gnu.py"
    )
    tree.add_symlink(f"{STDLIB}/sitecustomize.py", f"/etc/python{PY}/sitecustomize.py")
    tree.add_dir(f"{STDLIB}/site-packages")
    return tree


def test_zip_bytes_do_not_depend_on_order_or_time():
    members = [
        stdlib_zip.ZipMember("b/x.py", b"x = 1\n" * 50, deflate=True),
        stdlib_zip.ZipMember("a.pyc", b"\0" * 64, deflate=False),
    ]
    first = stdlib_zip.write_zip(members)
    assert stdlib_zip.write_zip(list(reversed(members))) == first
    infos = zipfile.ZipFile(io.BytesIO(first)).infolist()
    assert [i.filename for i in infos] == ["a.pyc", "b/", "b/x.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.create_system for i in infos} == {3}
    assert [i.external_attr >> 16 for i in infos] == [0o100644, 0o40755, 0o100644]
    assert [i.compress_type for i in infos] == [zipfile.ZIP_STORED] * 2 + [zipfile.ZIP_DEFLATED]
    assert all(i.extra == b"" for i in infos)


def test_frozen_modules_are_read_from_the_interpreter():
    tree = Tree()
    tree.add_file("usr/bin/python3.13", b"..<frozen os>..<frozen importlib._bootstrap>..<frozen>")
    assert stdlib_zip.frozen_modules(tree, "3.13") == {"os", "importlib._bootstrap"}


def test_what_goes_into_the_archive_and_what_stays(tmp_path: Path):
    tree = _stdlib_tree(tmp_path)
    stdlib_zip.add_hook(tree, PY)
    for path in (f"{STDLIB}/{stdlib_zip.HOOK}.py",):
        tree.add_file(bytecode.pyc_path(path, PY), _pyc(tmp_path, tree.read(path), f"/{path}"))
    report = stdlib_zip.zip_stdlib(tree, PY)
    assert report.modules == 4  # demo, pkg/__init__, pkg/sub, venv/__init__
    names = set(zipfile.ZipFile(io.BytesIO(tree.read(ARCHIVE))).namelist())
    assert names == {
        "demo.py",
        "pkg/",
        "pkg/__init__.py",
        "pkg/sub.py",
        "venv/",
        "venv/__init__.py",
    }
    # Each zipped module is its .pyc at its source's place; __pycache__ went with the .py.
    for module in ("demo", "pkg/__init__", "pkg/sub", "venv/__init__"):
        assert tree.get(f"{STDLIB}/{module}.pyc").data[:4] == bytecode_magic()
        assert f"{STDLIB}/{module}.py" not in tree
    assert not any("/pkg/__pycache__" in e.path for e in tree.entries())
    # Data files stay beside the modules that read them.
    for kept in ("pkg/notes.rst", "venv/scripts/common/activate", "EXTERNALLY-MANAGED"):
        assert f"{STDLIB}/{kept}" in tree, kept
    # Frozen, landmark, test, symlinks and their targets, the hook: plain, with __pycache__.
    for kept in (
        "os.py",
        "importlib/util.py",
        "importlib/__init__.py",
        "test/__init__.py",
        "_sysconfigdata__linux_x86_64-linux-gnu.py",
        "_sysconfigdata__x86_64-linux-gnu.py",
        "sitecustomize.py",
        f"{stdlib_zip.HOOK}.py",
        "lib-dynload/_ssl.so",
        "site-packages",
    ):
        assert f"{STDLIB}/{kept}" in tree, kept
    assert bytecode.pyc_path(f"{STDLIB}/os.py", PY) in tree
    assert tree.get(f"{STDLIB}/sitecustomize.py").kind is Kind.SYMLINK
    assert (
        tree.read(f"{stdlib_zip.PTH_DIR}/{stdlib_zip.PTH}")
        == f"import {stdlib_zip.HOOK}\n".encode()
    )


def test_without_pyc_nothing_moves(tmp_path: Path):
    tree = Tree()
    tree.add_file(f"{STDLIB}/demo.py", DEMO)
    report = stdlib_zip.zip_stdlib(tree, PY)
    assert report.modules == 0
    assert tree.read(f"{STDLIB}/demo.py") == DEMO
    assert ARCHIVE not in tree and f"{stdlib_zip.PTH_DIR}/{stdlib_zip.PTH}" not in tree


def test_the_archive_is_the_same_on_every_build(tmp_path: Path):
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    one, two = _stdlib_tree(tmp_path / "1"), _stdlib_tree(tmp_path / "2")
    stdlib_zip.zip_stdlib(one, PY)
    stdlib_zip.zip_stdlib(two, PY)
    assert one.read(ARCHIVE) == two.read(ARCHIVE)


SOURCES_CHECK = r"""
import inspect, linecache, sys, traceback
stdlib = sys.argv[1]
sys.path.insert(0, stdlib)
import _pydistroless_sources, demo, pkg
assert demo.__file__ == stdlib + "/demo.pyc", demo.__file__  # the code is the sourceless pyc
print(inspect.getsource(demo.Thing.method).splitlines()[0].strip())
try:
    demo.fail()
except ValueError:
    shown = [line.strip() for line in traceback.format_exc().splitlines()]
    print(shown[shown.index(f'File "{stdlib}/demo.py", line 10, in fail') + 1])
print(linecache.getline(demo.fail.__code__.co_filename, 10, demo.__dict__).strip())
print(pkg.VALUE, inspect.getsource(pkg).strip())
"""


def test_the_hook_serves_sources_from_the_archive(tmp_path: Path):
    """The tree's files written out as in the image (the .pyc compiled for the image's own
    paths), then a Python that imports the hook, as the .pth file makes it do."""
    root = tmp_path / "root"
    stdlib = root / STDLIB
    tree = Tree()
    sources = {
        "demo.py": DEMO,
        "pkg/__init__.py": b"from pkg.sub import VALUE\n",
        "pkg/sub.py": b"VALUE = 42\n",
    }
    stdlib_zip.add_hook(tree, PY)
    for name, source in sources.items():
        tree.add_file(f"{STDLIB}/{name}", source)
    for path in [f"{STDLIB}/{name}" for name in sources]:
        # compiled for where the files will be, as the build compiles for /usr/lib/...
        real = str(root / path)
        tree.add_file(bytecode.pyc_path(path, PY), _pyc(tmp_path, tree.read(path), real))
    stdlib_zip.zip_stdlib(tree, PY)
    for entry in tree.files():
        target = root / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(entry.data)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SOURCES_CHECK, str(stdlib)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "def method(self):",
        'raise ValueError("from the zip")  # the line a traceback shows',
        'raise ValueError("from the zip")  # the line a traceback shows',
        "42 from pkg.sub import VALUE",
    ]


def bytecode_magic() -> bytes:
    import importlib.util

    return importlib.util.MAGIC_NUMBER
