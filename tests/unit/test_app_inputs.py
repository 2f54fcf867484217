"""The inputs of an app build: dependency files, the base's Python, project files, the
Contents index and Debian's library package names."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
from pathlib import Path

import pytest

from pydistroless.core.arch import Platform, architecture
from pydistroless.core.errors import UsageError
from pydistroless.debian import contents
from pydistroless.fs.tree import Tree
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.model import BytesBlob, Image
from pydistroless.oci.mutate import ImageConfig, new_image
from pydistroless.python import dependencies, project
from pydistroless.python.runtime import Target, from_image, glibc_of, labels
from pydistroless.recipes.app_libraries import base_packages, policy_names


def _layer():
    tree = Tree()
    tree.add_file("x", b"x")
    return layer_from_tree(tree, mtime=0)


LAYER = _layer()
SHA_A = "a" * 64
SHA_B = "b" * 64

TARGET = Target(
    python="3.13",
    version="3.13.5",
    abi="cp313",
    interpreter="/usr/bin/python3.13",
    site_packages="/usr/local/lib/python3.13/dist-packages",
    glibc=(2, 41),
    arch=architecture("amd64"),
    suite="trixie",
)


# ---- the target ------------------------------------------------------------------------------


def test_wheel_tags_follow_the_base_not_the_host() -> None:
    assert (
        TARGET.wheel_rank("x-1-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
        is not None
    )
    assert TARGET.wheel_rank("x-1-py3-none-any.whl") is not None
    assert TARGET.wheel_rank("x-1-cp312-cp312-manylinux_2_17_x86_64.whl") is None
    assert TARGET.wheel_rank("x-1-cp313-cp313-manylinux_2_42_x86_64.whl") is None  # newer glibc
    assert TARGET.wheel_rank("x-1-cp313-cp313-manylinux_2_17_aarch64.whl") is None
    assert TARGET.wheel_rank("x-1-cp313-cp313-musllinux_1_2_x86_64.whl") is None
    native = TARGET.wheel_rank("x-1-cp313-cp313-manylinux_2_28_x86_64.whl")
    pure = TARGET.wheel_rank("x-1-py3-none-any.whl")
    assert native is not None and pure is not None and native < pure
    arm = dataclasses.replace(TARGET, arch=architecture("arm64"))
    assert arm.wheel_rank("x-1-cp313-cp313-manylinux_2_17_aarch64.whl") is not None
    assert arm.uv_platform == "aarch64-manylinux_2_40"


def test_the_python_is_read_from_the_image_labels_and_files() -> None:
    tree = Tree()
    tree.add_file("usr/bin/python3.13", b"\x7fELF", 0o755)
    config = ImageConfig(entrypoint=("/usr/bin/python3.13",), labels=labels(TARGET))
    image = new_image(Platform("amd64"), config, [LAYER])
    assert from_image(image, tree, where="x") == TARGET
    bare = new_image(Platform("amd64"), ImageConfig(entrypoint=("/x",)), [LAYER])
    tree.add_file("var/lib/dpkg/status.d/libc6", b"Package: libc6\nVersion: 2.36-9+deb12u4\n")
    found = from_image(bare, tree, where="x")
    assert (found.python, found.glibc, found.suite) == ("3.13", (2, 36), None)
    with pytest.raises(UsageError, match="not a Python image"):
        from_image(bare, Tree(), where="busybox.tar")


def test_glibc_versions() -> None:
    assert glibc_of("2.41-12") == (2, 41)
    assert glibc_of("2.36-9+deb12u4") == (2, 36)


# ---- dependency files ----------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_requirements_with_hashes_are_exact_and_markers_follow_the_target(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "requirements.txt",
        f"six==1.17.0 \\\n    --hash=sha256:{SHA_A}\n"
        f'pywin32==306 ; sys_platform == "win32" --hash=sha256:{SHA_B}\n'
        "# a comment\n",
    )
    deps = dependencies.read(path, TARGET.markers)
    assert deps.pins == (dependencies.Pin("six", "1.17.0", frozenset({SHA_A})),)


def test_requirements_with_ranges_or_options_are_resolved(tmp_path: Path) -> None:
    for text in ("flask>=3\n", "flask==3.0.0\n", f"-r other.txt\nsix==1 --hash=sha256:{SHA_A}\n"):
        deps = dependencies.read(write(tmp_path, "requirements.txt", text), TARGET.markers)
        assert deps.pins is None and deps.resolve is not None


def test_a_broken_requirement_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "requirements.txt", "six==1 --hash=sha256:" + SHA_A + "\n%%%\n")
    with pytest.raises(UsageError, match=r"requirements.txt:2"):
        dependencies.read(path, TARGET.markers)


def test_poetry_lock_main_group_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "poetry.lock",
        f"""
[[package]]
name = "Flask"
version = "3.1.0"
groups = ["main"]
files = [{{file = "flask-3.1.0-py3-none-any.whl", hash = "sha256:{SHA_A}"}}]

[[package]]
name = "pytest"
version = "8.0.0"
groups = ["dev"]
files = []

[[package]]
name = "colorama"
version = "0.4.6"
groups = ["main"]
markers = 'sys_platform == "win32"'
files = []
""",
    )
    deps = dependencies.read(path, TARGET.markers)
    assert deps.pins == (dependencies.Pin("flask", "3.1.0", frozenset({SHA_A})),)


def test_pipfile_lock_default_section(tmp_path: Path) -> None:
    body = {
        "_meta": {},
        "default": {
            "kubernetes": {"version": "==31.0.0", "hashes": [f"sha256:{SHA_A}"]},
            "pywin32": {"version": "==306", "markers": "sys_platform == 'win32'", "hashes": []},
        },
        "develop": {"pytest": {"version": "==8.0.0", "hashes": []}},
    }
    deps = dependencies.read(write(tmp_path, "Pipfile.lock", json.dumps(body)), TARGET.markers)
    assert deps.pins == (dependencies.Pin("kubernetes", "31.0.0", frozenset({SHA_A})),)
    body["default"]["vcs"] = {"git": "https://example.invalid/x.git"}
    with pytest.raises(UsageError, match="vcs is not pinned"):
        dependencies.read(write(tmp_path, "Pipfile.lock", json.dumps(body)), TARGET.markers)


def test_pylock_wheels_markers_and_local_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pylock.toml",
        f"""
lock-version = "1.0"
created-by = "test"

[[packages]]
name = "idna"
version = "3.10"
wheels = [{{url = "https://files.example/idna-3.10-py3-none-any.whl", \
  hashes = {{sha256 = "{SHA_A}"}}}}]

[[packages]]
name = "local"
version = "1.0"
wheels = [{{path = "wheels/local-1.0-py3-none-any.whl", hashes = {{sha256 = "{SHA_B}"}}}}]

[[packages]]
name = "pywin32"
version = "306"
marker = 'sys_platform == "win32"'
""",
    )
    pins = dependencies.read(path, TARGET.markers).pins
    assert pins is not None
    assert [p.name for p in pins] == ["idna", "local"]
    assert pins[0].wheels[0].filename == "idna-3.10-py3-none-any.whl"
    assert pins[1].wheels[0].url == (tmp_path / "wheels/local-1.0-py3-none-any.whl").as_uri()
    bad = write(tmp_path, "pylock.toml", 'lock-version = "2.0"\n')
    with pytest.raises(UsageError, match=r"lock-version 2\.0"):
        dependencies.read(bad, TARGET.markers)


def test_the_most_exact_file_is_found_first(tmp_path: Path) -> None:
    assert dependencies.find(tmp_path) is None
    write(tmp_path, "pyproject.toml", "[project]\nname='x'\n")
    write(tmp_path, "requirements.txt", "")
    assert dependencies.find(tmp_path) == tmp_path / "requirements.txt"
    write(tmp_path, "uv.lock", "")
    assert dependencies.find(tmp_path) == tmp_path / "uv.lock"
    with pytest.raises(UsageError, match="no such file"):
        dependencies.find(tmp_path, tmp_path / "nope.txt")


# ---- project files ---------------------------------------------------------------------------


def test_project_files_honour_dockerignore_and_never_take_git(tmp_path: Path) -> None:
    write(tmp_path, "main.py", "print(1)\n")
    write(tmp_path, ".dockerignore", "secrets/\n*.log\n")
    write(tmp_path, ".gitignore", "main.py\n")  # not read: .dockerignore wins
    (tmp_path / "secrets").mkdir()
    write(tmp_path, "secrets/key", "x")
    write(tmp_path, "debug.log", "x")
    (tmp_path / ".git").mkdir()
    write(tmp_path, ".git/config", "x")
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/__pycache__/x.pyc", "")
    tree = project.files(tmp_path)
    files = sorted(e.path for e in tree.files())
    assert files == ["app/.dockerignore", "app/.gitignore", "app/main.py", "app/pkg/__init__.py"]
    assert all(
        e.uid == 0 and not e.mode & 0o022 for e in tree.entries() if e.kind.name != "SYMLINK"
    )


def test_a_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "leak").symlink_to("/etc/passwd")
    with pytest.raises(UsageError, match="outside the project"):
        project.files(tmp_path / "p")


# ---- Debian's side ---------------------------------------------------------------------------


def test_contents_index_boils_down_to_library_owners() -> None:
    text = (
        "usr/bin/python3.13                               python/python3.13-minimal\n"
        "usr/lib/x86_64-linux-gnu/libstdc++.so.6          libs/libstdc++6\n"
        "usr/lib/x86_64-linux-gnu/libodbc.so.2.0.0        libs/libodbc2\n"
        "usr/lib/x86_64-linux-gnu/libfoo.so.1             libs/libfoo1,oldlibs/libfoo1-compat\n"
        "usr/share/doc/libstdc++6/copyright               libs/libstdc++6\n"
    )
    owners = contents.parse(io.BytesIO(gzip.compress(text.encode())), label="x")
    assert owners == {
        "libstdc++.so.6": ["libstdc++6"],
        "libodbc.so.2.0.0": ["libodbc2"],
        "libfoo.so.1": ["libfoo1", "libfoo1-compat"],
    }


def test_debian_library_package_names() -> None:
    assert policy_names("libstdc++.so.6") == ["libstdc++6", "libstdc++6t64"]
    assert policy_names("libodbc.so.2") == ["libodbc2", "libodbc2t64"]
    assert policy_names("libgdbm_compat.so.4")[0] == "libgdbm-compat4"
    assert policy_names("libfoo2.so.1")[0] == "libfoo2-1"
    assert policy_names("ld-linux-x86-64.so.2") == []


def test_base_packages_from_status_d() -> None:
    tree = Tree()
    tree.add_file("var/lib/dpkg/status.d/libc6", b"Package: libc6\nVersion: 2.41-12\n")
    tree.add_file("var/lib/dpkg/status.d/libc6.md5sums", b"")
    assert base_packages(tree) == {"libc6": "2.41-12"}


def test_image_labels_are_read() -> None:
    image = new_image(
        Platform("amd64"), ImageConfig(entrypoint=("/x",), labels={"a": "b"}), [LAYER]
    )
    assert image.labels == {"a": "b"}
    assert isinstance(image, Image)
    assert BytesBlob(b"").open().read() == b""
