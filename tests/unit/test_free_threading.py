"""Free-threaded CPython (PEP 703): asked for as 3.13t, built with --disable-gil, named python3.13t
everywhere its name or paths are formed, and given cp313t wheels."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pydistroless.core.arch import architecture
from pydistroless.core.errors import ConfigError, ResolveError, UsageError
from pydistroless.debian.buildroot import BuilderTree
from pydistroless.fs import layering
from pydistroless.fs.tree import Kind
from pydistroless.python import bytecode, cpython, debian_python, wheels
from pydistroless.python.dependencies import Pin, WheelFile
from pydistroless.python.runtime import Target
from pydistroless.python.source import Tarball
from pydistroless.recipes import config, origin, outdated
from pydistroless.recipes import lock as lockfile
from pydistroless.recipes.base import default_tags
from pydistroless.recipes.lock import runtime_of
from pydistroless.recipes.spec import ImageSpec
from tests.fixtures.tools import assert_clean_failure, pydistroless
from tests.unit.test_cpython_build import SHA, SOURCE, _Index, source_lock

FREE = replace(SOURCE, free_threaded=True)


def free_lock() -> lockfile.Lock:
    lock = source_lock()
    arch = replace(lock.archs[0], python="3.13t", python_source=FREE)
    return replace(lock, archs=(arch,))


# (The lock's packages hold no libc6: trixie's glibc is given.)
FREE_TARGET = replace(runtime_of(free_lock().archs[0], "trixie"), glibc=(2, 41))


# --- what the user asks for ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("python", "minor", "label"),
    [("3.13t", "3.13", "3.13t"), ("3.13.15t", "3.13", "3.13.15t"), ("3.14t", "3.14", "3.14t")],
)
def test_a_t_suffix_asks_for_the_free_threaded_build(python, minor, label):
    spec = ImageSpec(python=python)
    assert spec.free_threading and spec.python_minor == minor and spec.python_label == label
    assert spec.python == label.removesuffix("t")
    # The flag alone says the same, and replacing it turns it off again.
    assert ImageSpec(python=minor, free_threading=True).python_label == minor + "t"
    assert replace(spec, free_threading=False).python_label == label.removesuffix("t")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"python": "3.12t"}, "free-threaded build from 3.13 on"),
        ({"python": "3.13tt"}, "is not a Python version"),
        ({"python": "3.13t", "python_from": "debian"}, "Debian's Python has no free-threaded"),
        ({"python": "3.13.15t", "python_from": "debian"}, "drop --python-from debian"),
        ({"free_threading": True, "python_from": "debian"}, "or drop the t (free-threading)"),
    ],
)
def test_free_threading_the_suite_cannot_give_is_refused_when_the_spec_is_made(fields, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ImageSpec(**fields)


def test_debians_python_is_refused_in_one_line_before_anything_is_downloaded(tmp_path: Path):
    # A mirror nobody serves: the refusal comes before any request to it.
    result = pydistroless(
        "build", "--python", "3.13t", "--python-from", "debian", "--mirror",
        "http://127.0.0.1:9/debian", "--output", tmp_path / "x.tar", cache_dir=tmp_path / "c",
    )  # fmt: skip
    assert_clean_failure(
        result, 2, "--python 3.13t: Debian's Python has no free-threaded build",
        "drop --python-from debian",
    )  # fmt: skip
    assert not (tmp_path / "x.tar").exists() and not (tmp_path / "c" / "blobs").exists()


def test_the_config_file_takes_free_threading_as_a_key_and_a_matrix_axis(tmp_path: Path):
    path = tmp_path / "pydistroless.toml"
    one = config.parse({"python": "3.13.15", "free-threading": True}, path=path, base=ImageSpec())
    assert [i.python_label for i in one.images] == ["3.13.15t"]
    data = {"python": "3.13", "matrix": {"free-threading": [False, True], "variant": ["debug"]}}
    found = config.parse(data, path=path, base=ImageSpec())
    assert [(i.python_label, i.variant) for i in found.images] == [
        ("3.13", "debug"),
        ("3.13t", "debug"),
    ]
    # A t in a python axis is the same request.
    axis = config.parse({"matrix": {"python": ["3.13.15", "3.14t"]}}, path=path, base=ImageSpec())
    assert [i.python_label for i in axis.images] == ["3.13.15", "3.14t"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"free-threading": "yes"}, "free-threading must be true or false"),
        ({"matrix": {"free-threading": ["true"]}}, "must be a list of true and false"),
        ({"matrix": {"free-threading": []}}, "matrix.free-threading is an empty list"),
        (
            {"free-threading": True, "python-from": "debian"},
            "Debian's Python has no free-threaded build",
        ),
        ({"matrix": {"python": ["3.12t"]}}, "free-threaded build from 3.13 on"),
    ],
)
def test_bad_free_threading_config_is_one_error(tmp_path: Path, data, message):
    with pytest.raises(ConfigError, match=message):
        config.parse(data, path=tmp_path / "pydistroless.toml", base=ImageSpec())


# --- where the Python comes from -------------------------------------------------------------


def _listed(version: str) -> Tarball:
    return Tarball(version, (f"http://mirror.invalid/Python-{version}.tar.xz",), SHA, 1, "test")


@pytest.mark.parametrize(
    ("fields", "python", "expected"),
    [
        # The suite has 3.13.5, but not without the GIL: the newest 3.13 is compiled.
        ({"python": "3.13t"}, "3.13", "3.13.18"),
        ({"python": "3.13.5t"}, "3.13", "3.13.5"),
        ({"python": "3.14t"}, "3.14", "3.14.10"),
        ({"free_threading": True}, "3.13", "3.13.18"),
    ],
)
def test_a_free_threaded_python_is_always_compiled(fields, python, expected):
    known = {"3.13": _listed("3.13.18"), "3.13.5": _listed("3.13.5"), "3.14": _listed("3.14.10")}
    spec = ImageSpec(**fields, optimize_python=False)
    found = origin.upstream_python(spec, spec.archs[0], python, _Index(), None, dict(known))
    assert found is not None and found.version == expected
    assert found.free_threaded and found.abiflags == "t" and not found.optimize


def test_a_suites_default_python_older_than_313_cannot_be_free_threaded():
    spec = ImageSpec(suite="bookworm", free_threading=True)
    with pytest.raises(UsageError, match=r"free-threading needs CPython 3\.13 or later.*3\.11"):
        origin.upstream_python(spec, spec.archs[0], "3.11", _Index(), None, {})


# --- the build --------------------------------------------------------------------------------


def test_configure_disables_the_gil_only_when_asked():
    free = cpython.Options(optimize=False, free_threaded=True)
    assert "--disable-gil" in free.configure_args("amd64")
    assert "--disable-gil" not in cpython.Options(optimize=False).configure_args("amd64")
    cross = free.configure_args("arm64", host="amd64", minor="3.13")
    assert "--disable-gil" in cross and "--host=aarch64-linux-gnu" in cross
    builder = BuilderTree(Path("/nonexistent"), "trixie", "amd64", ())
    tarball = Tarball.of(SOURCE)
    # Its own cache entry, and the GIL build's key is the one it always was.
    assert cpython.build_key(tarball, builder, free) != cpython.build_key(
        tarball, builder, cpython.Options(optimize=False)
    )
    strip = cpython._strip_command("/d", builder, free_threaded=True)
    assert "python3.[0-9][0-9]t" in strip
    assert "python3.[0-9][0-9]t" not in cpython._strip_command("/d", builder)


def test_the_runtime_tree_of_a_free_threaded_install_names_python313t(tmp_path: Path):
    root = tmp_path / "install"
    files = {
        "usr/local/bin/python3.13t": 0o755,
        "usr/local/bin/python3.13t-config": 0o755,
        "usr/local/include/python3.13t/Python.h": 0o644,
        "usr/local/lib/libpython3.13t.a": 0o644,
        "usr/local/lib/python3.13t/os.py": 0o644,
        "usr/local/lib/python3.13t/config-3.13t-x86_64-linux-gnu/Makefile": 0o644,
        "usr/local/lib/python3.13t/ensurepip/__init__.py": 0o644,
        "usr/local/lib/python3.13t/lib-dynload/_ssl.cpython-313t-x86_64-linux-gnu.so": 0o755,
    }
    for name, mode in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
        (root / name).chmod(mode)
    # As make install leaves them: python3.13 a hard link to python3.13t, python3 to that.
    (root / "usr/local/bin/python3.13").hardlink_to(root / "usr/local/bin/python3.13t")
    (root / "usr/local/bin/python3").symlink_to("python3.13")
    builder = BuilderTree(tmp_path / "builder", "trixie", "amd64", ())
    installed = cpython.CompiledPython(root, "3.13.15", "amd64", 1.0, builder, free_threaded=True)
    assert installed.name == "3.13t" and installed.minor == "3.13"
    tree = cpython.runtime_tree(installed)
    assert sorted(e.path for e in tree.files()) == [
        "usr/local/bin/python3.13",
        "usr/local/lib/python3.13t/lib-dynload/_ssl.cpython-313t-x86_64-linux-gnu.so",
        "usr/local/lib/python3.13t/os.py",
    ]
    # The interpreter once, as make install leaves it: python3.13 and python3.13t one file
    # (scanners know CPython by the name python3.X), the other names symlinks.
    threaded = tree.get("usr/local/bin/python3.13t")
    assert threaded.kind is Kind.HARDLINK and threaded.target == "usr/local/bin/python3.13"
    assert tree.resolve("usr/local/bin/python3") == "usr/local/bin/python3.13"
    assert tree.get("usr/local/bin/python").target == "python3.13t"
    assert debian_python.stdlib_dir(tree, "3.13t") == "usr/local/lib/python3.13t"
    for_builds = cpython.runtime_tree(installed, for_builds=True)
    assert for_builds.get("usr/local/include/python3.13t/Python.h") is not None
    assert for_builds.get("usr/local/lib/python3.13t/ensurepip/__init__.py") is not None


def test_the_stdlib_pyc_keep_the_cache_tag_without_the_abi_flag():
    # A free-threaded 3.13 writes and reads cpython-313 .pyc, as sys.implementation.cache_tag
    # says in the image (checked by the end-to-end test).
    assert bytecode.pyc_path("usr/local/lib/python3.13t/os.py", "3.13t") == (
        "usr/local/lib/python3.13t/__pycache__/os.cpython-313.pyc"
    )


def test_the_interpreter_and_its_stdlib_go_into_the_python_layer():
    for path in ("usr/local/lib/python3.13t/os.py", "usr/local/bin/python3.13t"):
        assert layering.path_group(path) == "python", path


# --- the lock and the image -------------------------------------------------------------------


def test_a_free_threaded_lock_round_trips_and_says_so():
    lock = free_lock()
    text = lockfile.dumps(lock)
    assert '"python": "3.13t"' in text and '"free_threaded": true' in text
    assert lockfile.loads(text) == lock
    assert lock.archs[0].minor == "3.13" and lock.archs[0].free_threaded
    # A lock with the GIL reads and writes as it always did.
    assert "free_threaded" not in lockfile.dumps(source_lock())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: a.update(python="3.13t") or a["python-source"].pop("free_threaded"), "GIL"),
        (lambda a: a.update(python="3.13"), "free-threaded"),
        (lambda a: a["python-source"].update(free_threaded="yes"), "true or false"),
    ],
)
def test_a_lock_whose_python_and_source_disagree_is_refused(edit, message):
    data = json.loads(lockfile.dumps(free_lock()))
    edit(data["archs"][0])
    with pytest.raises(UsageError, match=message):
        lockfile.loads(json.dumps(data), source="my.lock")


def test_a_free_threaded_lock_without_a_source_is_refused():
    data = json.loads(lockfile.dumps(free_lock()))
    arch = data["archs"][0]
    for key in ("python-source", "builder"):
        del arch[key]
    with pytest.raises(UsageError, match="is free-threaded, which only a python-source is"):
        lockfile.loads(json.dumps(data), source="my.lock")


def test_the_tags_say_t():
    tags = default_tags(ImageSpec(python="3.13.15t"), free_lock())
    assert tags == (
        "pydistroless/python:3.13t-upstream-debian13",
        "pydistroless/python:3.13.15t-upstream-debian13",
    )
    # Never the short aliases of the default image, even without --python.
    assert default_tags(ImageSpec(free_threading=True), free_lock()) == tags


def test_the_images_python_is_python313t():
    target = FREE_TARGET
    assert (target.python, target.minor, target.abi) == ("3.13t", "3.13", "cp313t")
    assert target.interpreter == "/usr/local/bin/python3.13t"
    assert target.site_packages == "/usr/local/lib/python3.13t/site-packages"
    assert target.free_threaded and target.markers["python_version"] == "3.13"


# --- wheels for it ----------------------------------------------------------------------------


def test_only_cp313t_wheels_and_pure_ones_fit():
    fits = FREE_TARGET.wheel_rank
    numpy = "numpy-2.3.5-cp313-cp313t-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
    assert fits(numpy) is not None
    assert fits("x-1-py3-none-any.whl") is not None
    for other in (
        "numpy-2.3.5-cp313-cp313-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "x-1-cp311-abi3-manylinux_2_17_x86_64.whl",  # the stable ABI needs the GIL
        "x-1-cp314-cp314t-manylinux_2_17_x86_64.whl",
    ):
        assert fits(other) is None, other


def test_uv_lists_every_file_for_a_free_threaded_python():
    # uv has no way to name a "t" ABI: for such a target it lists every platform's files,
    # among which the target's tags choose.
    args = wheels._platform_args(FREE_TARGET)
    assert "--universal" in args and "--python-platform" not in args
    assert args[args.index("--python-version") + 1] == "3.13.15"
    gil = replace(FREE_TARGET, python="3.13", abi="cp313")
    assert "--python-platform" in wheels._platform_args(gil)


def _pin(*files: str, sdist: str | None = None) -> Pin:
    made = [WheelFile(f, f"https://files.invalid/{f}", "c" * 64, 1) for f in files]
    return Pin(
        "onnxruntime",
        "1.20.1",
        wheels=tuple(made),
        sdist=WheelFile(sdist, f"https://files.invalid/{sdist}", "d" * 64, 1) if sdist else None,
    )


def test_a_pin_without_a_t_wheel_or_an_sdist_is_refused_naming_the_fix():
    pin = _pin("onnxruntime-1.20.1-cp313-cp313-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl")
    with pytest.raises(ResolveError) as caught:
        wheels.choose([pin], FREE_TARGET, source="requirements.txt")
    line = str(caught.value)
    assert "onnxruntime==1.20.1" in line and "cp313t" in line
    assert "pin versions that publish cp313t wheels, or drop free-threading" in line
    # The same pin with an sdist goes to the builder, which compiles it for cp313t.
    (chosen,) = wheels.choose(
        [replace(pin, sdist=_pin(sdist="onnxruntime-1.20.1.tar.gz").sdist)],
        FREE_TARGET,
        source="requirements.txt",
    )
    assert chosen.build


def test_outdated_proposes_the_t_release():
    upstream = outdated.Upstream("3.13", "3.13.15", "3.13.18", "sid Sources", "t")
    assert upstream.behind and upstream.named(upstream.newest) == "3.13.18t"
    assert upstream.to_json()["free_threaded"] is True


def test_an_images_labels_name_a_free_threaded_python():
    from pydistroless.python import runtime

    labels = runtime.labels(FREE_TARGET)
    assert labels[runtime.LABEL_ABI] == "cp313t"
    assert labels[runtime.LABEL_INTERPRETER] == "/usr/local/bin/python3.13t"
    again = Target(
        python="3.13t",
        version="3.13.15",
        abi="cp313t",
        interpreter="/usr/local/bin/python3.13t",
        site_packages="/usr/local/lib/python3.13t/site-packages",
        glibc=(2, 41),
        arch=architecture("amd64"),
    )
    assert again.tags == FREE_TARGET.tags


def test_a_free_threaded_builder_carries_the_pure_tools_when_the_others_lack_t_wheels(
    monkeypatch, capsys
):
    from pydistroless.python import tools

    def chosen(names, python, cache):
        made = []
        for name in names:
            built = name == "poetry"  # as if one of its dependencies had only an sdist
            filename = f"{name}-1.tar.gz" if built else f"{name}-1-py3-none-any.whl"
            wheel = WheelFile(filename, f"https://files.invalid/{filename}", "e" * 64)
            made.append(wheels.Chosen(Pin(name, "1"), wheel, build=built))
        return made

    monkeypatch.setattr(tools, "_chosen", chosen)
    lines = tools.pin(FREE_TARGET, None)
    assert [line.split("==")[0] for line in lines] == sorted(tools.CORE_TOOLS)
    assert "poetry publish no cp313t wheel" in capsys.readouterr().err
    gil = replace(FREE_TARGET, python="3.13", abi="cp313")
    assert len(tools.pin(gil, None)) == len(tools.PYTHON_TOOLS)


def test_a_cross_build_runs_its_steps_with_a_free_threaded_build_for_the_host(
    monkeypatch, tmp_path: Path
):
    """configure's --with-build-python must be the same build: a free-threaded one."""
    built = []

    def build(tarball, tree, options, ctx, *, for_build=None):
        built.append((tree.arch, options))
        return cpython.CompiledPython(
            tmp_path, tarball.version, tree.arch, 1.0, tree, options.free_threaded
        )

    monkeypatch.setattr(cpython, "host_arch", lambda: "amd64")
    monkeypatch.setattr(cpython, "runnable", lambda arch: arch == "amd64")
    monkeypatch.setattr(
        cpython,
        "builder_tree",
        lambda suite, arch, ctx, host="", packages=(): BuilderTree(tmp_path, suite, arch, ()),
    )
    monkeypatch.setattr(cpython, "build", build)
    cpython.compiled(replace(FREE, optimize=True), "trixie", "arm64", None)
    assert built == [
        ("amd64", cpython.Options(optimize=False, free_threaded=True)),
        ("arm64", cpython.Options(optimize=True, free_threaded=True)),
    ]


@pytest.mark.parametrize(
    ("python", "refused"),
    [("3.13.15", True), ("3.13", True), ("3.13t", False), ("3.13.15t", False)],
)
def test_a_build_from_a_free_threaded_lock_takes_its_python_with_the_t(
    tmp_path: Path, python, refused
):
    lock = tmp_path / "python.lock"
    lock.write_text(lockfile.dumps(free_lock()))
    result = pydistroless(
        "build", "--lock", lock, "--python", python, "--offline", "--output", tmp_path / "x.tar",
        cache_dir=tmp_path / "cache",
    )  # fmt: skip
    if refused:
        assert_clean_failure(
            result, 2, f"--python {python} contradicts the lock, which is for Python 3.13.15t"
        )
    else:  # past the check: the empty cache is what stops it, offline
        assert "contradicts the lock" not in result.stderr and result.returncode == 5, result
    assert not (tmp_path / "x.tar").exists()
