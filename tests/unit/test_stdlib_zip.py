"""The stdlib zip: deterministic bytes, .pyc renamed into it, and zipimport serving a module's
code and its source from it (with this machine's Python, whose zipimport is the same)."""

import io
import marshal
import py_compile
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

from pydistroless.errors import ImageCheckError
from pydistroless.fs.tree import Kind, Tree
from pydistroless.python import bytecode, stdlib_zip

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
STDLIB = f"usr/lib/python{PY}"
ZIP = f"usr/lib/python{PY.replace('.', '')}.zip"

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


@pytest.mark.parametrize("new", ["/usr/lib/python313.zip/json/decoder.py", "/" + "d" * 300 + ".py"])
def test_relocated_pyc_names_the_new_file_in_every_code_object(tmp_path: Path, new: str):
    old = f"/{STDLIB}/json/decoder.py"
    pyc = _pyc(tmp_path, DEMO, old)
    moved = stdlib_zip.relocate_pyc(pyc, old, new)
    assert moved[:16] == pyc[:16]  # magic, flags and source hash are untouched
    code = marshal.loads(moved[16:])
    assert _filenames(code) == {new}
    assert len(_filenames(code)) == 1 and code.co_consts  # nested code objects were there


def test_a_pyc_without_the_name_is_refused(tmp_path: Path):
    pyc = _pyc(tmp_path, DEMO, "/somewhere/else.py")
    with pytest.raises(ImageCheckError, match="--keep stdlib-sources"):
        stdlib_zip.relocate_pyc(pyc, "/usr/lib/python3.13/json/decoder.py", "/x.py")


def test_frozen_modules_are_read_from_the_interpreter():
    tree = Tree()
    tree.add_file("usr/bin/python3.13", b"..<frozen os>..<frozen importlib._bootstrap>..<frozen>")
    assert stdlib_zip.frozen_modules(tree, "3.13") == {"os", "importlib._bootstrap"}


def test_what_moves_into_the_zip_and_what_stays(tmp_path: Path):
    tree = _stdlib_tree(tmp_path)
    report = stdlib_zip.zip_stdlib(tree, PY)
    assert report.modules == 3  # demo, pkg/__init__, pkg/sub
    names = set(zipfile.ZipFile(io.BytesIO(tree.read(ZIP))).namelist())
    assert names == {
        "demo.py",
        "demo.pyc",
        "pkg/",
        "pkg/__init__.py",
        "pkg/__init__.pyc",
        "pkg/sub.py",
        "pkg/sub.pyc",
        "pkg/notes.rst",
    }
    # Moved: gone from the file system, __pycache__ and package directory with them.
    for gone in ("demo.py", "__pycache__/demo", "pkg"):
        assert not any(e.path.startswith(f"{STDLIB}/{gone}") for e in tree.entries()), gone
    # Frozen, landmark, data-reading, test, symlinks and their targets, extension modules,
    # site-packages, top-level files: where Debian puts them, with their .pyc.
    for kept in (
        "os.py",
        "importlib/util.py",
        "importlib/__init__.py",
        "venv/__init__.py",
        "venv/scripts/common/activate",
        "test/__init__.py",
        "_sysconfigdata__linux_x86_64-linux-gnu.py",
        "_sysconfigdata__x86_64-linux-gnu.py",
        "sitecustomize.py",
        "EXTERNALLY-MANAGED",
        "lib-dynload/_ssl.so",
        "site-packages",
    ):
        assert f"{STDLIB}/{kept}" in tree, kept
    assert bytecode.pyc_path(f"{STDLIB}/os.py", PY) in tree
    assert bytecode.pyc_path(f"{STDLIB}/venv/__init__.py", PY) in tree
    assert tree.get(f"{STDLIB}/sitecustomize.py").kind is Kind.SYMLINK


def test_the_zip_is_the_same_on_every_build(tmp_path: Path):
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    one, two = _stdlib_tree(tmp_path / "1"), _stdlib_tree(tmp_path / "2")
    stdlib_zip.zip_stdlib(one, PY)
    stdlib_zip.zip_stdlib(two, PY)
    assert one.read(ZIP) == two.read(ZIP)


ZIPIMPORT_CHECK = r"""
import inspect, linecache, sys, traceback
archive = sys.argv[1]
sys.path.insert(0, archive)
import demo, pkg
assert demo.__spec__.origin == archive + "/demo.pyc", demo.__spec__.origin  # code from the pyc
assert demo.fail.__code__.co_filename == archive + "/demo.py"
assert inspect.getsourcefile(demo.fail) == archive + "/demo.py"
print(inspect.getsource(demo.Thing.method).splitlines()[0].strip())
try:
    demo.fail()
except ValueError:
    shown = [line.strip() for line in traceback.format_exc().splitlines()]
    print(shown[shown.index(f'File "{archive}/demo.py", line 10, in fail') + 1])
print(linecache.getline(demo.fail.__code__.co_filename, 10, demo.__dict__).strip())
print(pkg.VALUE, pkg.__file__.removeprefix(archive))
"""


def test_zipimport_loads_code_and_serves_source(tmp_path: Path):
    tree = _stdlib_tree(tmp_path)
    stdlib_zip.zip_stdlib(tree, PY)
    # The archive at the very path the .pyc name, as in the image.
    archive = tmp_path / ZIP
    archive.parent.mkdir(parents=True)
    archive.write_bytes(tree.read(ZIP))
    moved = tmp_path / "moved.zip"
    moved.write_bytes(
        stdlib_zip.write_zip(
            stdlib_zip.ZipMember(
                name,
                stdlib_zip.relocate_pyc(data, f"/{ZIP}/{name[:-1]}", f"{moved}/{name[:-1]}")
                if name.endswith(".pyc")
                else data,
                deflate=not name.endswith(".pyc"),
            )
            for name, data in _members(archive.read_bytes())
        )
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", ZIPIMPORT_CHECK, str(moved)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "def method(self):",
        'raise ValueError("from the zip")  # the line a traceback shows',
        'raise ValueError("from the zip")  # the line a traceback shows',
        "42 /pkg/__init__.pyc",
    ]


def _members(data: bytes) -> list[tuple[str, bytes]]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return [(n, archive.read(n)) for n in archive.namelist() if not n.endswith("/")]
