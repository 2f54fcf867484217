"""The rules of the package's layout that neither ruff nor the import contract states: what
each floor may hold, and where state may live. (The floors themselves are the import
contract of pyproject.toml, which `scripts/test` checks with import-linter.)"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "pydistroless"
FLOORS = {"core", "fs", "debian", "oci", "registry", "python", "recipes", "transfer", "cli"}


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        yield relative, ast.parse(path.read_text(), filename=relative)


MODULES = dict(_modules())


def test_the_top_level_holds_the_floors_and_nothing_else():
    top = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert top == {"__init__.py", *FLOORS}
    for floor in FLOORS:
        assert (PACKAGE / floor / "__init__.py").is_file(), floor


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("cli/")))
def test_click_options_stop_at_the_command_line(name):
    """Below cli/, options are typed values: no ``kw[...]`` and no ``**kw``."""
    for node in ast.walk(MODULES[name]):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            assert node.value.id != "kw", f"{name}:{node.lineno} reads kw[...]"
        if isinstance(node, ast.arg) and node.arg == "kw":
            pytest.fail(f"{name}:{node.lineno} takes **kw")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_another_modules_private_names(name):
    for node in ast.walk(MODULES[name]):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pydistroless"):
            private = [
                a.name for a in node.names if a.name.startswith("_") and not a.name.endswith("__")
            ]
            assert not private, f"{name}:{node.lineno} imports {private} from {node.module}"


def _calls(node: ast.AST, names: set[str]) -> bool:
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            func = inner.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in names:
                return True
    return False


EXECUTORS = {"ThreadPoolExecutor", "ProcessPoolExecutor"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_executor_or_unbounded_memo_lives_at_module_level(name):
    """Pools and memos belong to an object a recipe owns, which ends with it: nothing of one
    build outlives it in a module's globals."""
    for node in MODULES[name].body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            assert not _calls(node.value, EXECUTORS), f"{name}:{node.lineno} makes a pool"
            # An empty dict or list at module level that something fills is a memo.
            value = node.value
            empty = (isinstance(value, ast.Dict) and not value.keys) or (
                isinstance(value, ast.List) and not value.elts
            )
            assert not empty, f"{name}:{node.lineno} keeps a mutable global"
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                text = ast.unparse(decorator)
                takes_arguments = bool(node.args.args or node.args.kwonlyargs)
                unbounded = text in {"cache", "functools.cache"} or "maxsize=None" in text
                assert not (unbounded and takes_arguments), (
                    f"{name}:{node.lineno} {node.name} is memoised without bound"
                )
                assert not (text.endswith("cache") and _calls(node, EXECUTORS)), (
                    f"{name}:{node.lineno} {node.name} keeps a pool for the process"
                )


def test_no_two_test_files_share_a_name():
    # The test folders are not packages: pytest imports each test file by its base name, and
    # a second file of the same name stops the whole collection.
    tests = PACKAGE.parents[1] / "tests"
    names = [p.name for p in tests.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
