"""Direct references: a file named by URL or path, in any dependency file, is the file
installed, checked against its hash, and never swapped for an index's file of the same name
and version. And uv, which resolves and reads uv.lock, never fetches an interpreter."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from pydistroless.core.cache import Cache
from pydistroless.core.errors import IntegrityError, ResolveError, UsageError
from pydistroless.core.fetch import Download, Fetcher
from pydistroless.debian.store import Store
from pydistroless.python import dependencies, uv_metadata, wheels
from pydistroless.python.dependencies import Dependencies, Pin, WheelFile
from pydistroless.recipes import sbom
from pydistroless.recipes.app import AppSpec, Base, build_app
from tests.fixtures.index_server import Index, serve
from tests.unit.test_app_logins import clean_environment  # noqa: F401 (fixture)
from tests.unit.test_recipes import (  # noqa: F401 (fixtures)
    SITE,
    builder_repo,
    builder_store,
    files_of,
    libc_base,
    make_wheel,
    sha256_of,
)
from tests.unit.test_sdist_metadata import FakeMetadata, index  # noqa: F401 (fixture)
from tests.unit.test_wheel_install import TARGET

SHA_A = "a" * 64
SHA_B = "b" * 64
# A folder name no URL may carry as it is: a space, a plus and a percent sign.
AWKWARD = "my wheels+1%2"


def local_wheel(folder: Path, name: str = "pdl_direct", version: str = "1.0") -> Path:
    """A wheel whose module says where it came from: ``ORIGIN = 'local'``."""
    return make_wheel(folder, name, version, extra={f"{name}/origin.py": b"ORIGIN = 'local'\n"})


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def local_path(url: str) -> Path:
    """The file a ``file:`` URL names, as RFC 8089 reads it."""
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "file" and parts.netloc == "", url
    return Path(urllib.parse.unquote(parts.path))


def fetched(file: WheelFile, tmp_path: Path) -> bytes:
    """The bytes the fetcher gets for ``file``, checked against its SHA256."""
    fetcher = Fetcher(Cache(tmp_path / "fetch-cache"), progress=False)
    (path,) = fetcher.fetch_paths([Download((file.url,), file.sha256, file.size, file.filename)])
    return path.read_bytes()


# ---- requirements.txt -----------------------------------------------------------------------


def test_requirements_direct_references_are_their_files_decoded_and_hashed(
    tmp_path: Path,
) -> None:
    wheel = local_wheel(tmp_path / AWKWARD)
    relative = make_wheel(tmp_path / "wheels", "pdl_rel", "2.0")
    bare = make_wheel(tmp_path / "wheels", "pdl_bare", "3.0")
    path = write(
        tmp_path,
        "requirements.txt",
        f"pdl-direct @ {wheel.as_uri()}\n"
        f"pdl-rel @ ./wheels/{relative.name}\n"
        f"./wheels/{bare.name}\n"
        f"pdl-remote @ https://user:pw@files.example/pdl_remote-4.0-py3-none-any.whl#sha256={SHA_A}\n"
        f"pdl-src @ https://files.example/pdl_src-5.0.tar.gz --hash=sha256:{SHA_B}\n"
        f"six==1.17.0 --hash=sha256:{SHA_A}\n",
    )
    assert "%20" in wheel.as_uri() and "%25" in wheel.as_uri()
    deps = dependencies.read(path, TARGET.markers)
    assert deps.pins is not None  # pip's hash-checking mode: every line is exact
    pins = {p.name: p for p in deps.pins}
    direct = pins["pdl-direct"]
    assert (direct.version, direct.direct) == ("1.0", str(wheel))
    # No hash given: the local file is read and its digest recorded.
    assert direct.hashes == {sha256_of(wheel)} and direct.wheels[0].sha256 == sha256_of(wheel)
    assert local_path(direct.wheels[0].url) == wheel
    assert fetched(direct.wheels[0], tmp_path) == wheel.read_bytes()
    assert local_path(pins["pdl-rel"].wheels[0].url) == relative
    assert pins["pdl-bare"].version == "3.0" and pins["pdl-bare"].direct
    remote = pins["pdl-remote"].wheels[0]
    assert (remote.url, remote.sha256) == (
        "https://files.example/pdl_remote-4.0-py3-none-any.whl",
        SHA_A,
    )
    assert [(login.host, login.user) for login in deps.logins] == [("files.example", "user")]
    src = pins["pdl-src"]
    assert src.wheels == () and src.sdist is not None and src.sdist.sha256 == SHA_B
    assert not pins["six"].direct


def test_a_remote_reference_without_a_hash_is_resolved_by_uv(tmp_path: Path) -> None:
    text = (
        "pdl-remote @ https://files.example/pdl_remote-4.0-py3-none-any.whl\n"
        f"six==1 --hash=sha256:{SHA_A}\n"
    )
    deps = dependencies.read(write(tmp_path, "requirements.txt", text), TARGET.markers)
    assert deps.pins is None and deps.resolve is not None


def test_a_direct_reference_that_is_not_the_locked_file_is_refused(tmp_path: Path) -> None:
    wheel = local_wheel(tmp_path / "w")
    cases = [
        (f"pdl-direct @ {wheel.as_uri()} --hash=sha256:{SHA_A}\n", IntegrityError, "changed"),
        (f"other @ {wheel.as_uri()}\n", UsageError, "a file of pdl-direct, not of other"),
        ("pdl-direct @ ./w/pdl_direct-1.0-py3-none-any.whl.gone\n", UsageError, "neither"),
        ("pdl-direct @ ./w/pdl_direct-9.0-py3-none-any.whl\n", UsageError, "cannot read"),
    ]
    for text, error, words in cases:
        with pytest.raises(error, match=words):
            dependencies.read(write(tmp_path, "requirements.txt", text), TARGET.markers)


# ---- pylock.toml ------------------------------------------------------------------------------


def test_pylock_archives_and_paths_are_decoded_from_the_locks_folder(tmp_path: Path) -> None:
    wheel = local_wheel(tmp_path / AWKWARD)
    listed = make_wheel(tmp_path / AWKWARD, "pdl_listed", "2.0")
    sdist = tmp_path / AWKWARD / "pdl_src-5.0.tar.gz"
    sdist.write_bytes(b"an sdist")
    lock = write(
        tmp_path,
        "pylock.toml",
        f"""lock-version = "1.0"
created-by = "test"

[[packages]]
name = "pdl-direct"
version = "1.0"
archive = {{ path = "{AWKWARD}/{wheel.name}", hashes = {{ sha256 = "{sha256_of(wheel)}" }} }}

[[packages]]
name = "pdl-listed"
version = "2.0"
wheels = [{{ path = "{AWKWARD}/{listed.name}", hashes = {{ sha256 = "{sha256_of(listed)}" }} }}]

[[packages]]
name = "pdl-src"
archive = {{ path = "{AWKWARD}/{sdist.name}" }}

[[packages]]
name = "pdl-remote"
version = "4.0"
[packages.archive]
url = "https://files.example/pdl_remote-4.0-py3-none-any.whl"
hashes = {{ sha256 = "{SHA_A}" }}

[[packages]]
name = "pdl-tree"
version = "0.1"
directory = {{ path = "../tree" }}
""",
    )
    pins = {p.name: p for p in dependencies.read(lock, TARGET.markers).pins or ()}
    assert local_path(pins["pdl-direct"].wheels[0].url) == wheel
    assert fetched(pins["pdl-direct"].wheels[0], tmp_path) == wheel.read_bytes()
    # A wheels entry's path, percent-encoded into its URL, is found again by the fetcher.
    assert fetched(pins["pdl-listed"].wheels[0], tmp_path) == listed.read_bytes()
    src = pins["pdl-src"]  # no version, no hash: both from the file itself
    assert (src.version, src.sdist and src.sdist.sha256) == ("5.0", sha256_of(sdist))
    assert pins["pdl-remote"].wheels[0].sha256 == SHA_A and pins["pdl-remote"].direct
    with pytest.raises(ResolveError, match=r"pdl-tree comes from a directory \(\.\./tree\)"):
        wheels.choose([pins["pdl-tree"]], TARGET, source="pylock.toml")
    tampered = lock.read_text().replace(sha256_of(wheel), SHA_B)
    with pytest.raises(IntegrityError, match="pdl-direct"):
        dependencies.read(write(tmp_path, "pylock.toml", tampered), TARGET.markers)


# ---- uv.lock ------------------------------------------------------------------------------------


def uv_project(folder: Path, wheel: Path, *, requires: str = ">=3.13") -> Path:
    """A uv project whose one dependency is ``wheel``, by a path source, locked by hand as
    uv locks it (its ``requires-python`` one this host's Python need not meet)."""
    folder.mkdir(parents=True)
    source = os.path.relpath(wheel, folder)
    write(
        folder,
        "pyproject.toml",
        f'[project]\nname = "svc"\nversion = "0.1"\nrequires-python = "{requires}"\n'
        'dependencies = ["pdl-direct"]\n\n[tool.uv.sources]\n'
        f'pdl-direct = {{ path = "{source}" }}\n',
    )
    return write(
        folder,
        "uv.lock",
        f"""version = 1
revision = 3
requires-python = "{requires}"

[[package]]
name = "pdl-direct"
version = "1.0"
source = {{ path = "{source}" }}
wheels = [
    {{ filename = "{wheel.name}", hash = "sha256:{sha256_of(wheel)}" }},
]

[[package]]
name = "svc"
version = "0.1"
source = {{ virtual = "." }}
dependencies = [
    {{ name = "pdl-direct" }},
]

[package.metadata]
requires-dist = [{{ name = "pdl-direct", path = "{source}" }}]
""",
    )


@pytest.fixture
def python_311_only(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    clean_environment: Path,  # noqa: F811
) -> Index:
    """This host as one with Python 3.11 alone (no version manager's shims on PATH, no
    managed Pythons), and uv's Python downloads sent to a server that records each request."""
    python = shutil.which("python3.11", path="/usr/bin:/bin") or shutil.which("python3")
    assert python is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(python)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "no-pythons"))
    monkeypatch.delenv("PYDISTROLESS_UV", raising=False)
    return Index()


def test_a_uv_lock_for_a_newer_python_is_read_without_it_and_without_a_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python_311_only: Index
) -> None:
    wheel = local_wheel(tmp_path / AWKWARD)
    lock = uv_project(tmp_path / "svc", wheel)
    with serve(python_311_only) as mirror:
        monkeypatch.setenv("UV_PYTHON_INSTALL_MIRROR", f"{mirror.url}/python")
        deps = dependencies.read(lock, TARGET.markers)
        (pin,) = wheels.pins_for(deps, TARGET)
        # A dependency added to the project but not to the lock is still caught.
        pyproject = lock.parent / "pyproject.toml"
        pyproject.write_text(
            pyproject.read_text().replace('["pdl-direct"]', '["pdl-direct", "six"]')
        )
        with pytest.raises(ResolveError, match="six added"):
            wheels.pins_for(dependencies.read(lock, TARGET.markers), TARGET)
    assert mirror.requests == []  # no interpreter asked for
    assert pin.direct and local_path(pin.wheels[0].url) == wheel
    assert pin.hashes == {sha256_of(wheel)}
    assert wheels.choose([pin], TARGET, source="uv.lock")[0].wheel == pin.wheels[0]


def test_every_uv_call_forbids_interpreter_downloads_and_names_the_images_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def run(command: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        calls.append((command, kw["env"]))
        return subprocess.CompletedProcess(command, 0, 'lock-version = "1.0"\n', "")

    monkeypatch.setattr(wheels.subprocess, "run", run)
    listing = write(tmp_path, "requirements.txt", "six\n")
    wheels.pins_for(Dependencies(listing, resolve=listing), TARGET)
    with pytest.raises(ResolveError):  # the lookup finds nothing, as uv was made to answer
        wheels.choose([Pin("six", "1.17.0")], TARGET, source="requirements.txt")
    uv_lock = write(tmp_path, "uv.lock", "version = 1\n")
    wheels.pins_for(Dependencies(uv_lock, resolve=uv_lock), TARGET)
    assert [c[0][1:3] for c in calls] == [
        ["pip", "compile"],
        ["pip", "compile"],
        ["export", "--no-build"],
    ]
    for command, env in calls:
        assert "--no-python-downloads" in command and env["UV_PYTHON_DOWNLOADS"] == "never"
    for command, _ in calls[:2]:
        at = command.index("--python-version")
        assert command[at + 1] == TARGET.version
        assert command[command.index("--python-platform") + 1] == TARGET.uv_platform
        # uv runs with the Python running this, named: it searches the host for none.
        assert command[command.index("--python") + 1] == sys.executable


# ---- Pipfile.lock and poetry.lock -------------------------------------------------------------


def test_pipfile_lock_file_and_path_entries(tmp_path: Path) -> None:
    wheel = local_wheel(tmp_path / AWKWARD)
    body = {
        "_meta": {"sources": [{"name": "pypi", "url": "https://index.example/simple"}]},
        "default": {
            "pdl-direct": {"path": f"./{AWKWARD}/{wheel.name}"},
            "pdl-remote": {
                "file": "https://bot:tok@files.example/pdl_remote-4.0-py3-none-any.whl",
                "hashes": [f"sha256:{SHA_A}"],
            },
            "six": {"version": "==1.17.0", "hashes": [f"sha256:{SHA_B}"]},
        },
    }
    deps = dependencies.read(write(tmp_path, "Pipfile.lock", json.dumps(body)), TARGET.markers)
    pins = {p.name: p for p in deps.pins or ()}
    assert local_path(pins["pdl-direct"].wheels[0].url) == wheel
    assert pins["pdl-direct"].hashes == {sha256_of(wheel)}
    assert (
        pins["pdl-remote"].wheels[0].url == "https://files.example/pdl_remote-4.0-py3-none-any.whl"
    )
    assert ("files.example", "bot") in [(login.host, login.user) for login in deps.logins]
    body["default"]["pdl-remote"]["hashes"] = []
    with pytest.raises(UsageError, match="no SHA256"):
        dependencies.read(write(tmp_path, "Pipfile.lock", json.dumps(body)), TARGET.markers)


def test_poetry_lock_file_url_and_directory_sources(tmp_path: Path) -> None:
    wheel = local_wheel(tmp_path / AWKWARD)
    path = write(
        tmp_path,
        "poetry.lock",
        f"""
[[package]]
name = "pdl-direct"
version = "1.0"
groups = ["main"]
files = [{{file = "{wheel.name}", hash = "sha256:{sha256_of(wheel)}"}}]
[package.source]
type = "file"
url = "{AWKWARD}/{wheel.name}"

[[package]]
name = "pdl-remote"
version = "4.0"
groups = ["main"]
files = [{{file = "pdl_remote-4.0.tar.gz", hash = "sha256:{SHA_A}"}}]
[package.source]
type = "url"
url = "https://files.example/pdl_remote-4.0.tar.gz"

[[package]]
name = "pdl-tree"
version = "0.1"
groups = ["main"]
files = []
[package.source]
type = "directory"
url = "../tree"
""",
    )
    pins = {p.name: p for p in dependencies.read(path, TARGET.markers).pins or ()}
    assert local_path(pins["pdl-direct"].wheels[0].url) == wheel
    remote = pins["pdl-remote"].sdist
    assert remote is not None and (remote.url, remote.sha256) == (
        "https://files.example/pdl_remote-4.0.tar.gz",
        SHA_A,
    )
    chosen = wheels.choose([pins["pdl-remote"]], TARGET, source="poetry.lock")
    assert chosen[0].build  # an sdist by direct reference goes to the sdist build
    with pytest.raises(ResolveError, match="directory"):
        wheels.choose([pins["pdl-tree"]], TARGET, source="poetry.lock")


# ---- an sdist by direct reference ---------------------------------------------------------------


def test_a_referenced_sdist_in_a_resolution_has_its_own_files_metadata_computed(
    index: tuple[Path, Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    """uv stops at the referenced sdist (it would build it); the builder image's metadata
    of that very file, not the index's dyn 1.0, goes back to uv, and the pin is the file."""
    requirements, links, marker = index
    referenced = tmp_path / AWKWARD / "dyn-1.0.tar.gz"
    referenced.parent.mkdir()
    with tarfile.open(referenced, "w:gz") as archive:
        for member, text in {
            "dyn-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: dyn\nVersion: 1.0\n",
            "dyn-1.0/setup.py": f"open({str(marker)!r}, 'w').write('ran')\n",
        }.items():
            info = tarfile.TarInfo(member)
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    assert referenced.read_bytes() != (links / referenced.name).read_bytes()
    requirements.write_text(f"--no-index\n--find-links {links}\ndyn @ {referenced.as_uri()}\n")
    deps = dependencies.read(requirements, TARGET.markers)
    fake = FakeMetadata()
    fetcher = Fetcher(Cache(tmp_path / "cache"), progress=False)
    metadata = wheels.sdist_metadata_by(fake, fetcher, TARGET, indexes=deps.indexes)
    pins = {p.name: p for p in wheels.pins_for(deps, TARGET, sdist_metadata=metadata)}
    assert not marker.exists()
    ((name, data, _),) = fake.calls
    assert (name, data) == (referenced.name, referenced.read_bytes())
    dyn = pins["dyn"]
    assert dyn.direct and dyn.sdist is not None and local_path(dyn.sdist.url) == referenced
    assert set(pins) == {"dyn", "stat"}
    with pytest.raises(ResolveError, match=r"dyn @ file:.* is a source distribution"):
        wheels.pins_for(deps, TARGET)  # and without a builder image, one line


def test_a_referenced_sdist_reaches_the_compiler_as_the_referenced_file(tmp_path: Path) -> None:
    sdist = tmp_path / AWKWARD / "pdl_src-5.0.tar.gz"
    sdist.parent.mkdir()
    sdist.write_bytes(b"the referenced sdist")
    path = write(tmp_path, "requirements.txt", f"pdl-src @ {sdist.as_uri()}\n")
    (pin,) = dependencies.read(path, TARGET.markers).pins or ()
    (chosen,) = wheels.choose([pin], TARGET, source="requirements.txt")
    given: list[tuple[str, bytes]] = []

    def compile_for(named: Path, into: Path, indexes: tuple[str, ...]) -> Path:
        given.append((named.name, named.read_bytes()))
        raise ResolveError("no builder image here")

    fetcher = Fetcher(Cache(tmp_path / "cache"), progress=False)
    with pytest.raises(ResolveError, match="no builder image here"):
        wheels.download([chosen], fetcher, TARGET, compile_for)
    assert given == [(sdist.name, b"the referenced sdist")]


# ---- choosing, and the SBOM -----------------------------------------------------------------


def test_a_direct_reference_is_never_looked_up_on_an_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def lookup(*args: object) -> str:
        raise AssertionError("looked up on an index")

    monkeypatch.setattr(wheels, "_lookup", lookup)
    file = WheelFile("pdl_direct-1.0-py3-none-any.whl", "file:///w/x.whl", SHA_A)
    pin = Pin("pdl-direct", "1.0", frozenset({SHA_A}), (file,), direct="/w/x.whl")
    assert wheels.choose([pin], TARGET, source="requirements.txt")[0].wheel == file
    other = WheelFile("pdl_direct-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "file:///w/y", SHA_A)
    misfit = Pin("pdl-direct", "1.0", frozenset({SHA_A}), (other,), direct="/w/y")
    with pytest.raises(ResolveError, match="does not fit"):
        wheels.choose([misfit], TARGET, source="requirements.txt")


def test_the_sbom_names_a_direct_references_file(tmp_path: Path) -> None:
    subject = sbom.SbomSubject("svc:1", "amd64", "13", 0)
    packages = [
        sbom.PythonPackage("pdl-direct", "1.0", SHA_A, "x.whl", "file:///w/x.whl", direct=True),
        sbom.PythonPackage("six", "1.17.0", SHA_B, "six.whl", "https://index.example/six.whl"),
    ]
    spdx = json.loads(sbom.add_packages(None, packages, fmt="spdx", subject=subject))
    where = {p["name"]: p["downloadLocation"] for p in spdx["packages"]}
    assert where["pdl-direct"] == "file:///w/x.whl" and where["six"] == "NOASSERTION"
    cdx = json.loads(sbom.add_packages(None, packages, fmt="cyclonedx", subject=subject))
    refs = {c["name"]: c.get("externalReferences") for c in cdx["components"]}
    assert refs["pdl-direct"] == [{"type": "distribution", "url": "file:///w/x.whl"}]
    assert refs["six"] is None


# ---- the whole app ------------------------------------------------------------------------------


def test_an_index_offering_another_file_of_the_same_version_is_not_used(
    libc_base: Base,  # noqa: F811
    builder_store: Store,  # noqa: F811
    tmp_path: Path,
    clean_environment: Path,  # noqa: F811
) -> None:
    """The index serves a pdl_direct 1.0 of its own; the requirements file references a
    local one by file URL, and a lock by path: the image holds the referenced file's code,
    for a requirements file uv resolves and for a lock read as it is."""
    wheel = local_wheel(tmp_path / AWKWARD)
    impostor = make_wheel(
        tmp_path / "index-files", "pdl_direct", "1.0",
        extra={"pdl_direct/origin.py": b"ORIGIN = 'index'\n"},
    )  # fmt: skip
    other = make_wheel(tmp_path / "index-files", "pdl_other", "2.0")
    served = Index()
    with serve(served):
        served.add("pdl-direct", impostor.name, impostor.read_bytes())
        served.add("pdl-other", other.name, other.read_bytes())
        resolved = tmp_path / "resolved"
        resolved.mkdir()
        write(resolved, "main.py", "import pdl_direct\n")
        write(
            resolved,
            "requirements.txt",
            f"--index-url {served.url}/simple\npdl-direct @ {wheel.as_uri()}\npdl-other\n",
        )
        locked = tmp_path / "locked"
        locked.mkdir()
        write(locked, "main.py", "import pdl_direct\n")
        write(
            locked,
            "pylock.toml",
            'lock-version = "1.0"\ncreated-by = "test"\n[[packages]]\nname = "pdl-direct"\n'
            f'version = "1.0"\nindex = "{served.url}/simple"\n'
            f'archive = {{ path = "../{AWKWARD}/{wheel.name}" }}\n',
        )
        apps = [
            build_app(AppSpec(project=p), [libc_base], builder_store) for p in (resolved, locked)
        ]
    assert not any(path.startswith(f"/files/{impostor.name}") for path, _ in served.requests)
    for app in apps:
        deps = app.images[0].layers[len(libc_base.image.layers)]
        assert files_of(deps).read(f"{SITE}/pdl_direct/origin.py") == b"ORIGIN = 'local'\n"
        (pinned,) = [
            w for w in json.loads(app.lock)["images"][0]["wheels"] if w["name"] == "pdl-direct"
        ]
        assert (pinned["sha256"], pinned["url"]) == (sha256_of(wheel), wheel.as_uri())
        (document,) = [json.loads(d) for _, d in app.sboms]
        (entry,) = [p for p in document["packages"] if p["name"] == "pdl-direct"]
        assert entry["downloadLocation"] == wheel.as_uri()


def test_uv_s_message_of_a_referenced_sdist_is_read_when_uv_wrapped_it() -> None:
    # uv wraps at $COLUMNS; pydistroless sets it wide, and reads a wrapped message all the same.
    stderr = "error: Failed to build `dyn @\n       file:///tmp/a%20b/dyn-1.0.tar.gz`\n"
    assert uv_metadata.needs_build_of(stderr) == ("dyn", "1.0", "file:///tmp/a%20b/dyn-1.0.tar.gz")
