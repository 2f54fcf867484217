"""The recipes, run in this process against the suite's own signed Debian repository.

The base recipe (:func:`recipes.base.build`), the app recipe (:func:`recipes.app.build_app`)
and the builder recipe (:mod:`recipes.builder`: the builder variant, and the builder image as
the place where an app's source distributions compile) each run here end to end, on a tiny
repository of stand-in packages (``tests/fixtures/repo.py``) read through ``file://`` as the
Debian archive is read. Nothing here reaches the network: an app's wheels are local files its
``pylock.toml`` names; what uv would ask an index for the builder's tools is answered from
local wheels (:func:`_local_index`); the sandbox a source distribution compiles in is a fake
that writes what pip would; ``uv build`` on the host is a script that fails, as it does for
an sdist the host cannot compile.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from pydistroless.core import sandbox
from pydistroless.core.arch import architecture, host_arch
from pydistroless.core.cache import Cache
from pydistroless.core.errors import (
    BuildError,
    ImageCheckError,
    PydistrolessError,
    ResolveError,
    UsageError,
)
from pydistroless.debian.sources import SourceOptions
from pydistroless.debian.store import Store
from pydistroless.fs.tree import Kind, Tree
from pydistroless.oci.model import Image, Layer
from pydistroless.oci.unpack import apply_layer, tree_of
from pydistroless.python import debian_python, runtime, sdist, tools, wheels
from pydistroless.python.dependencies import Pin
from pydistroless.python.runtime import Target
from pydistroless.recipes import base, builder
from pydistroless.recipes.app import AppSpec, Base, build_app
from pydistroless.recipes.lock import runtime_of
from pydistroless.recipes.plan import plan
from pydistroless.recipes.spec import ImageSpec
from tests.fixtures import debs
from tests.fixtures.archives import write_tar
from tests.fixtures.repo import Repo, RepoPackage, build_repo, fake_python_repo
from tests.unit.test_elf import ET_EXEC, make_elf

PY = "3.99"
INTERPRETER = f"/usr/bin/python{PY}"
SITE = f"usr/local/lib/python{PY}/dist-packages"
ARCH = host_arch()
MACHINE = architecture(ARCH).wheel_machine
RELEASE_DATE = "2026-01-10T10:00:00Z"  # tests/fixtures/repo.py's DEFAULT_DATE
# A busybox as add_busybox_links reads one: the sorted applet name table.
BUSYBOX = b"busybox stand-in\0[\0[[\0ash\0sh\0"


# ---- the archive, the store, what the images hold ----------------------------------------------


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """The root packages of a standard Python 3.99 image, signed."""
    return fake_python_repo(tmp_path_factory.mktemp("archive") / "repo")


def _deb(name: str, version: str, files: dict[str, tuple[bytes, int]]) -> bytes:
    members: list[debs.Member] = [debs.directory("./")]
    made: set[str] = set()
    for path, (data, mode) in files.items():
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folder = "./" + "/".join(parts[:i]) + "/"
            if folder not in made:
                made.add(folder)
                members.append(debs.directory(folder))
        members.append(debs.file(f"./{path}", data, mode))
    return debs.build_deb(debs.DebSpec(name, version, ARCH, tuple(members)))


@pytest.fixture(scope="module")
def builder_repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """Every root package of a builder image of Python 3.99 (busybox, compilers, headers),
    and libc6, which the interpreter depends on, for the glibc the image is labelled with."""
    version = f"{PY}.1-1"
    special = {
        debian_python.interpreter_package(PY): {
            f"usr/bin/python{PY}": (b"#!stand-in for an interpreter\n", 0o755)
        },
        "busybox-static": {"usr/bin/busybox": (BUSYBOX, 0o755)},
    }
    packages = [
        RepoPackage(
            r.name,
            version,
            _deb(
                r.name,
                version,
                special.get(r.name, {f"usr/share/{r.name}/README": (b"x\n", 0o644)}),
            ),
            depends="libc6" if r.name == debian_python.interpreter_package(PY) else "",
        )
        for r in debian_python.root_packages(PY, "builder")
    ]
    libc = _deb("libc6", "2.41-12", {"usr/share/doc/libc6/README": (b"glibc\n", 0o644)})
    packages.append(RepoPackage("libc6", "2.41-12", libc))
    return build_repo(tmp_path_factory.mktemp("builder-archive") / "repo", packages)


def store_for(repo: Repo, cache: Path) -> Store:
    return Store.create(
        SourceOptions(
            mirrors=(repo.url,),
            security_mirrors=(repo.url,),
            keyrings=(repo.keyring,),
            cache_dir=cache,
        ),
        progress=False,
    )


@pytest.fixture(autouse=True)
def _fixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The image's timestamps come from the Release file, not from whoever runs the tests.
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    # uv, where a recipe runs it, must not look for anything on an index.
    monkeypatch.setenv("UV_OFFLINE", "1")


@pytest.fixture
def store(repo: Repo, tmp_path: Path) -> Store:
    return store_for(repo, tmp_path / "cache")


def spec_of(repo: Repo, **given) -> ImageSpec:
    return ImageSpec(suite=repo.suite, python=PY, **given)


def files_of(layer: Layer) -> Tree:
    """What one layer holds."""
    tree = Tree()
    apply_layer(tree, layer, budget=[1 << 30], what=layer.comment)
    return tree


def paths(tree: Tree) -> set[str]:
    return {e.path for e in tree.entries()}


def config(image: Image) -> dict:
    return image.config_json["config"]


def spdx_packages(document: bytes) -> dict[str, dict]:
    """The SPDX document's packages by name (the image itself left out)."""
    data = json.loads(document)
    assert data["spdxVersion"] == "SPDX-2.3"
    return {p["name"]: p for p in data["packages"] if p["SPDXID"] != "SPDXRef-Image"}


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    tag: str = "py3-none-any",
    *,
    scripts: dict[str, str] | None = None,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """A wheel of one module ``name`` (with console ``scripts``, and ``extra`` files), its
    RECORD right."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": (
            f"VERSION = {version!r}\n\n\ndef main():\n    print(VERSION)\n"
        ).encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n"
        ).encode(),
    }
    files.update(extra or {})
    if scripts:
        lines = "".join(f"{script} = {entry}\n" for script, entry in scripts.items())
        files[f"{dist}/entry_points.txt"] = f"[console_scripts]\n{lines}".encode()
    record = "".join(
        f"{path},sha256={_b64_sha256(data)},{len(data)}\n" for path, data in files.items()
    )
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{dist}/RECORD", record + f"{dist}/RECORD,,\n")
    return wheel


def _b64_sha256(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_pylock(project: Path, entries: Sequence[str]) -> Path:
    """A PEP 751 lock of ``[[packages]]`` tables (TOML text each)."""
    path = project / "pylock.toml"
    path.write_text('lock-version = "1.0"\ncreated-by = "test"\n\n' + "\n".join(entries))
    return path


def wheel_entry(name: str, version: str, wheel: Path, project: Path) -> str:
    return (
        f'[[packages]]\nname = "{name}"\nversion = "{version}"\n'
        f'wheels = [{{path = "{wheel.relative_to(project)}", '
        f'hashes = {{sha256 = "{sha256_of(wheel)}"}}}}]\n'
    )


def sdist_entry(name: str, version: str, path: Path, project: Path) -> str:
    return (
        f'[[packages]]\nname = "{name}"\nversion = "{version}"\n'
        f'sdist = {{path = "{path.relative_to(project)}", '
        f'hashes = {{sha256 = "{sha256_of(path)}"}}}}\n'
    )


# ---- the base recipe -----------------------------------------------------------------------


def test_the_base_recipe_builds_the_python_image_of_the_archive(repo: Repo, store: Store):
    built = base.build(spec_of(repo), store)

    # The lock: the suite's Release, the root packages, where each came from.
    lock = built.lock
    assert (lock.suite, lock.codename, lock.debian_version) == ("pdltest", "pdltest", "99.1")
    roots = sorted(r.name for r in debian_python.root_packages(PY, "standard"))
    arch_lock = lock.for_arch(ARCH)
    assert [p.name for p in arch_lock.packages] == roots
    assert (arch_lock.python, arch_lock.python_package_version) == (PY, "3.99.1-1")
    assert all(p.url.startswith(f"{repo.url}/pool/main/") for p in arch_lock.packages)

    assert built.tags == (
        "pydistroless/python:3.99-debian99",
        "pydistroless/python:3.99.1-debian99",
    )
    (image,) = built.images
    assert built.digest == image.digest
    assert image.config_json["created"] == RELEASE_DATE
    assert config(image)["Entrypoint"] == [INTERPRETER]
    assert config(image)["User"] == "65532"
    assert config(image)["WorkingDir"] == "/home/nonroot"
    assert "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" in config(image)["Env"]
    labels = image.labels
    assert labels[runtime.LABEL_INTERPRETER] == INTERPRETER
    assert labels[runtime.LABEL_VERSION] == "3.99.1"
    assert labels[runtime.LABEL_ABI] == "cp399"
    assert labels[runtime.LABEL_SUITE] == "pdltest"
    assert labels["dev.pydistroless.python.debian-version"] == "3.99.1-1"
    assert labels["dev.pydistroless.variant"] == "standard"
    assert labels["org.opencontainers.image.title"] == "Python 3.99 on Debian 99"

    # The layers: the Python, the base packages, the data, what was generated.
    comments = [layer.comment for layer in image.layers]
    assert comments[0].startswith("pydistroless python: libpython3.99-stdlib python3.99-minimal")
    assert comments[-1].startswith("pydistroless generated:")
    python_layer = files_of(image.layers[0])
    assert python_layer.read(INTERPRETER.lstrip("/")) == b"#!stand-in for an interpreter\n"
    assert "etc/passwd" not in paths(python_layer)
    generated = files_of(image.layers[-1])
    assert b"nonroot:x:65532:65532" in (generated.read("etc/passwd") or b"")
    assert b"VERSION_CODENAME=pdltest" in (generated.read("etc/os-release") or b"")
    assert "etc/ld.so.cache" in paths(generated)

    # Every package in status.d and in the SBOM, which is in the image too.
    tree = tree_of(image)
    for name in roots:
        assert b"Version: 3.99.1-1" in (tree.read(f"var/lib/dpkg/status.d/{name}") or b"")
    ((arch, document),) = built.sboms
    assert arch == ARCH
    assert tree.read("usr/share/sbom/pydistroless.spdx.json") == document
    listed = spdx_packages(document)
    assert sorted(listed) == roots
    minimal = listed["python3.99-minimal"]
    assert minimal["versionInfo"] == "3.99.1-1"
    assert minimal["downloadLocation"] == arch_lock.package("python3.99-minimal").url
    assert minimal["checksums"] == [
        {"algorithm": "SHA256", "checksumValue": arch_lock.package("python3.99-minimal").sha256}
    ]


def test_the_lock_alone_fixes_every_byte(repo: Repo, store: Store, tmp_path: Path, capsys):
    first = base.build(spec_of(repo), store)
    assert "no .pyc" in capsys.readouterr().err  # said by the assembly (the stand-in is no ELF)
    # A new run on the same cache: the resolution and the image come from it, nothing is
    # fetched or assembled again.
    again = base.build(spec_of(repo), store_for(repo, store.cache.root))
    assert again.digest == first.digest
    said = capsys.readouterr().err
    assert "packages:" not in said and "no .pyc" not in said, said
    elsewhere = store_for(repo, tmp_path / "other-cache")
    from_lock = base.build(spec_of(repo), elsewhere, lock=first.lock)
    assert from_lock.digest == first.digest
    assert from_lock.sboms == first.sboms


def test_who_the_image_runs_as_and_what_it_is_called(repo: Repo, store: Store):
    built = base.build(spec_of(repo, user="root", tags=("example/py:1",)), store)
    (image,) = built.images
    assert built.tags == ("example/py:1",)
    assert (config(image)["User"], config(image)["WorkingDir"]) == ("0", "/")
    assert built.tags[0] in json.loads(built.sboms[0][1])["name"]
    uid = base.build(spec_of(repo, user="1234"), store)
    assert uid.tags[0] == "pydistroless/python:3.99-debian99-uid1234"
    assert config(uid.images[0])["User"] == "1234"


@pytest.mark.parametrize(
    ("given", "error", "words"),
    [
        ({"variant": "debug"}, ResolveError, "cannot install busybox-static: no package"),
        ({"packages": ("libfoo",)}, ResolveError, "no package 'libfoo' exists in pdltest"),
        (
            {"python": "3.98", "python_from": "debian"},
            UsageError,
            "suite 'pdltest' has no Python 3.98 (it has: 3.99)",
        ),
        ({"suite": "nosuch"}, UsageError, "suite 'nosuch' does not exist on file://"),
    ],
    ids=["debug without busybox", "unknown package", "unknown python", "unknown suite"],
)
def test_what_the_archive_cannot_give_is_one_clear_line(
    repo: Repo, store: Store, given: dict, error: type, words: str
):
    spec = replace(spec_of(repo), **given)
    with pytest.raises(error) as caught:
        base.build(spec, store)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message


# ---- the app recipe ------------------------------------------------------------------------


@pytest.fixture
def base_image(repo: Repo, store: Store) -> Base:
    built = base.build(spec_of(repo), store)
    return Base(built.images[0], built.sboms[0][1])


@pytest.fixture
def builder_store(builder_repo: Repo, tmp_path: Path) -> Store:
    return store_for(builder_repo, tmp_path / "cache")


@pytest.fixture
def libc_base(builder_repo: Repo, builder_store: Store) -> Base:
    """A standard image with libc6 in it, so with the glibc version uv resolves for."""
    built = base.build(spec_of(builder_repo), builder_store)
    assert built.images[0].labels[runtime.LABEL_GLIBC] == "2.41"
    return Base(built.images[0], built.sboms[0][1])


def test_the_files_checked_for_libraries_are_the_elf_files_whatever_their_names(
    base_image: Base, store: Store, tmp_path: Path
):
    """A data file whose name holds ".so" is no library (pyarrow ships one); an executable
    without ".so" in its name is checked like any extension module."""
    project = tmp_path / "named"
    project.mkdir()
    (project / "main.py").write_text("import tinylib\n")
    parquet = "tinylib/data/v0.7.1.some-named-index.parquet"
    wheel = make_wheel(project / "wheels", "tinylib", "1.0", extra={parquet: b"PAR1 data"})
    write_pylock(project, [wheel_entry("tinylib", "1.0", wheel, project)])
    app = build_app(AppSpec(project=project), [base_image], store)
    assert f"{SITE}/{parquet}" in paths(files_of(app.images[0].layers[-2]))

    tool = make_elf(architecture(ARCH).machine, e_type=ET_EXEC, needed=("libnothere.so.9",))
    wheel = make_wheel(project / "wheels", "toolpkg", "1.0", extra={"toolpkg/bin/tool": tool})
    write_pylock(project, [wheel_entry("toolpkg", "1.0", wheel, project)])
    (project / "main.py").write_text("import toolpkg\n")
    with pytest.raises(PydistrolessError, match=r"libnothere\.so\.9"):
        build_app(AppSpec(project=project), [base_image], store)


def test_an_app_keeps_the_base_and_adds_its_distributions_and_itself(
    base_image: Base, store: Store, tmp_path: Path
):
    project = tmp_path / "hello"
    project.mkdir()
    (project / "main.py").write_text("import tinylib\ntinylib.main()\n")
    wheel = make_wheel(project / "wheels", "tinylib", "1.0", scripts={"tiny": "tinylib:main"})
    write_pylock(project, [wheel_entry("tinylib", "1.0", wheel, project)])

    app = build_app(
        AppSpec(project=project, env=("MODE=test",), expose=("8080",)), [base_image], store
    )

    assert app.tags == ("hello:latest",)
    assert app.archs == (ARCH,)
    (image,) = app.images
    under = base_image.image.layers
    assert [layer.digest for layer in image.layers[: len(under)]] == [
        layer.digest for layer in under
    ]
    deps, own = image.layers[len(under) :]
    assert (deps.comment, own.comment) == ("tinylib==1.0", "the project hello")
    installed = files_of(deps)
    assert installed.read(f"{SITE}/tinylib/__init__.py").startswith(b"VERSION = '1.0'")
    assert f"{SITE}/tinylib-1.0.dist-info/RECORD" in paths(installed)
    script = installed.get("usr/local/bin/tiny")
    assert script is not None and script.is_executable
    assert script.data.startswith(f"#!{INTERPRETER}\n".encode())
    assert files_of(own).read("app/main.py") == b"import tinylib\ntinylib.main()\n"

    cfg = config(image)
    assert cfg["Entrypoint"] == [INTERPRETER, "/app/main.py"]
    assert cfg["WorkingDir"] == "/app"
    assert {"MODE=test", "PYTHONUNBUFFERED=1"} <= set(cfg["Env"])
    assert cfg["ExposedPorts"] == {"8080/tcp": {}}
    assert cfg["User"] == "65532"  # the base's
    assert image.labels["org.opencontainers.image.title"] == "hello"
    assert image.labels[runtime.LABEL_INTERPRETER] == INTERPRETER  # the base's labels stay

    # The SBOM: the base's Debian packages and the distribution, named after the app.
    ((arch, document),) = app.sboms
    assert arch == ARCH
    assert json.loads(document)["name"] == f"hello:latest ({ARCH})"
    listed = spdx_packages(document)
    assert set(spdx_packages(base_image.sbom or b"")) < set(listed)
    assert listed["tinylib"]["versionInfo"] == "1.0"
    assert listed["tinylib"]["checksums"][0]["checksumValue"] == sha256_of(wheel)

    # The app's lock pins the base and each wheel.
    (pinned,) = json.loads(app.lock)["images"]
    assert pinned["base"] == str(base_image.image.digest)
    assert pinned["image"] == str(image.digest)
    assert pinned["wheels"] == [
        {
            "name": "tinylib",
            "version": "1.0",
            "file": wheel.name,
            "sha256": sha256_of(wheel),
            "url": wheel.resolve().as_uri(),
        }
    ]


def test_an_unchanged_app_takes_its_dependency_layers_from_the_cache(
    base_image: Base, store: Store, tmp_path: Path, capsys
):
    project = tmp_path / "cached"
    project.mkdir()
    (project / "app.py").write_text("print(1)\n")
    wheel = make_wheel(project / "wheels", "tinylib", "1.0")
    write_pylock(project, [wheel_entry("tinylib", "1.0", wheel, project)])
    first = build_app(AppSpec(project=project), [base_image], store)
    capsys.readouterr()
    (project / "app.py").write_text("print(2)\n")
    second = build_app(AppSpec(project=project), [base_image], store)
    assert "1 distribution(s): layers from the cache" in capsys.readouterr().err
    one, two = first.images[0].layers, second.images[0].layers
    assert [x.digest for x in one[:-1]] == [x.digest for x in two[:-1]]
    assert one[-1].digest != two[-1].digest  # only the project's layer changes
    assert config(second.images[0])["Entrypoint"] == [INTERPRETER, "/app/app.py"]


def test_an_app_with_nothing_to_install_adds_one_layer(
    libc_base: Base, builder_store: Store, tmp_path: Path
):
    """An empty requirements.txt, resolved by uv (for the base's glibc) to nothing."""
    project = tmp_path / "bare"
    project.mkdir()
    (project / "requirements.txt").write_text("")
    (project / "serve.py").write_text("print('serving')\n")
    app = build_app(
        AppSpec(project=project, main="serve.py", tags=("bare:1", "bare:latest")),
        [libc_base],
        builder_store,
        sbom_format="spdx",
    )
    (image,) = app.images
    assert len(image.layers) == len(libc_base.image.layers) + 1
    assert paths(files_of(image.layers[-1])) >= {"app", "app/serve.py", "app/requirements.txt"}
    assert config(image)["Entrypoint"] == [INTERPRETER, "/app/serve.py"]
    assert app.tags == ("bare:1", "bare:latest")
    assert json.loads(app.lock)["images"][0]["wheels"] == []
    assert set(spdx_packages(app.sboms[0][1])) == set(spdx_packages(libc_base.sbom or b""))


EMPTY_PYLOCK = 'lock-version = "1.0"\ncreated-by = "test"\n'


@pytest.mark.parametrize(
    ("files", "given", "error", "words"),
    [
        (
            {"main.py": "", "pylock.toml": EMPTY_PYLOCK},
            {"entrypoint": ("nosuch",)},
            ImageCheckError,
            "the entrypoint nosuch is not an executable file in the image",
        ),
        (
            {"gone.py": "", "pylock.toml": EMPTY_PYLOCK, ".dockerignore": "gone.py\n"},
            {"main": "gone.py"},
            ImageCheckError,
            "the entrypoint runs /app/gone.py, which is not in the image",
        ),
        (
            {"main.py": "", "pylock.toml": EMPTY_PYLOCK},
            {"main": "gone.py"},
            UsageError,
            "the file to run, gone.py, is not in",
        ),
        (
            {"a.py": "", "pylock.toml": EMPTY_PYLOCK},
            {},
            UsageError,
            "no entrypoint to choose",
        ),
    ],
    ids=["no such entrypoint", "main left out", "no such main", "nothing to run"],
)
def test_an_app_that_cannot_be_built_is_one_clear_line(
    base_image: Base,
    store: Store,
    tmp_path: Path,
    files: dict[str, str],
    given: dict,
    error: type,
    words: str,
):
    project = tmp_path / "broken"
    project.mkdir()
    for name, text in files.items():
        (project / name).write_text(text)
    with pytest.raises(error) as caught:
        build_app(AppSpec(project=project, **given), [base_image], store)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


# ---- an sdist: compiled for the image, or one clear line -------------------------------------

LDAP_SDIST = "python-ldap-3.4.4.tar.gz"
# What `pip wheel` writes when python-ldap's C extension does not find OpenLDAP's headers.
PIP_LOG = """\
Processing /build/sdist-x/python-ldap-3.4.4.tar.gz
  Preparing metadata (pyproject.toml): started
  Preparing metadata (pyproject.toml): finished with status 'done'
Building wheels for collected packages: python-ldap
  Building wheel for python-ldap (pyproject.toml): started
  Building wheel for python-ldap (pyproject.toml): finished with status 'error'
  error: subprocess-exited-with-error

  × Building wheel for python-ldap (pyproject.toml) did not run successfully.
  │ exit code: 1
  ╰─> [11 lines of output]
      running bdist_wheel
      running build_ext
      building '_ldap' extension
      gcc -fPIC -DHAVE_SASL -DHAVE_TLS -IModules -I/usr/include/python3.99 -c Modules/LDAPObject.c
      In file included from Modules/LDAPObject.c:3:
      Modules/common.h:15:10: fatal error: lber.h: No such file or directory
         15 | #include <lber.h>
            |          ^~~~~~~~
      compilation terminated.
      error: command '/usr/bin/gcc' failed with exit code 1
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
  ERROR: Failed building wheel for python-ldap
Failed to build python-ldap
ERROR: Failed to build installable wheels for some pyproject.toml based projects (python-ldap)
"""
CAUSE = "Modules/common.h:15:10: fatal error: lber.h: No such file or directory"

TARGET = Target(
    python=PY,
    version="3.99.1",
    abi="cp399",
    interpreter=INTERPRETER,
    site_packages=f"/{SITE}",
    glibc=(2, 41),
    arch=architecture(ARCH),
    suite="pdltest",
)


def ldap_sdist(folder: Path, pyproject: bytes | None = None) -> Path:
    members = {"python-ldap-3.4.4/setup.py": b"from setuptools import setup\nsetup()\n"}
    if pyproject is not None:
        members["python-ldap-3.4.4/pyproject.toml"] = pyproject
    folder.mkdir(parents=True, exist_ok=True)
    return write_tar(folder / LDAP_SDIST, members)


@pytest.fixture
def builder_tree(tmp_path: Path) -> Path:
    root = tmp_path / "builder-root"
    root.mkdir()
    return root


class FakeSandbox:
    """:func:`sandbox.run` as pip in the builder image: writes ``log`` and, for a wheel
    named ``wheel``, that wheel into the build's out folder; exits with ``code``."""

    def __init__(self, *, log: str = "", wheel: str | None = None, code: int = 0):
        self.log, self.wheel, self.code = log, wheel, code
        self.calls: list[tuple[Path, list[str], str]] = []
        self.seen: set[str] = set()  # what the build's folder held when pip ran

    def __call__(
        self,
        root: Path,
        argv: Sequence[str],
        *,
        cwd: str,
        log: Path,
        binds: Sequence[sandbox.Bind] = (),
    ) -> int:
        self.calls.append((root, list(argv), cwd))
        # cwd is in the writable folder bound into the sandbox, as the real run has it.
        (bind,) = [b for b in binds if cwd.startswith(f"{b.target}/") and b.writable]
        work = bind.source / cwd.removeprefix(f"{bind.target}/")
        self.seen = {str(p.relative_to(work)) for p in work.rglob("*")}
        log.write_text(self.log)
        if self.wheel is not None:
            (work / "out").mkdir()
            make_wheel(work / "out", "python_ldap", "3.4.4", self.wheel)
        return self.code


def no_requirements(requires: list[str], what: str, target: Target, folder: Path) -> None:
    raise AssertionError(f"{what} needs only the image's setuptools, not {requires}")


def test_an_sdist_that_does_not_compile_is_one_line_with_the_log_tail_shown(
    builder_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    """What test_bad_input_is_one_clear_line (e2e) checked with a real builder image and
    python-ldap: one line naming the sdist, the log's tail with the compiler's error."""
    fake = FakeSandbox(log=PIP_LOG, code=1)
    monkeypatch.setattr(sandbox, "run", fake)
    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(ResolveError) as caught:
        sdist.build_wheel(
            ldap_sdist(tmp_path), builder_tree, TARGET, into, no_requirements, tmp_path / "logs"
        )
    line = str(caught.value)
    (kept,) = (tmp_path / "logs").iterdir()
    assert line == (
        f"compiling {LDAP_SDIST} in the builder image failed (exit 1): {CAUSE} (whole log: "
        f"{kept}); add the Debian packages its build needs with --build-package NAME, or "
        "build its wheel yourself (--variant builder) and lock that"
    )
    # The whole log is kept where the line says.
    assert kept.read_text() == PIP_LOG
    assert caught.value.exit_code == 6
    # The tail of the log is shown, each line as "  | ...", the compiler's error among them.
    shown = [s for s in capsys.readouterr().err.splitlines() if s.startswith("  | ")]
    assert len(shown) == sandbox.LOG_TAIL
    assert f"  |       {CAUSE}" in shown
    # pip ran the image's interpreter, with the image's own setuptools, on no index.
    ((root, argv, cwd),) = fake.calls
    assert root == builder_tree
    assert argv[:6] == [INTERPRETER, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    assert "--no-index" in argv and argv[-1] == f"{cwd}/{LDAP_SDIST}"
    assert fake.seen == {LDAP_SDIST}
    # Nothing is left behind: no wheel, no build folder.
    assert list(into.iterdir()) == []
    assert list(sandbox.workspace(builder_tree).iterdir()) == []


def test_a_compiler_log_that_ends_on_its_error_names_it_in_the_line(
    builder_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    compiler_log = f"gcc -c Modules/LDAPObject.c\nIn file included from x.c:3:\n{CAUSE}\n\n"
    monkeypatch.setattr(sandbox, "run", FakeSandbox(log=compiler_log, code=1))
    with pytest.raises(ResolveError) as caught:
        sdist.build_wheel(
            ldap_sdist(tmp_path), builder_tree, TARGET, tmp_path, no_requirements, tmp_path / "logs"
        )
    assert f"failed (exit 1): {CAUSE} (whole log: " in str(caught.value)


def test_the_line_names_the_compilers_error_from_pips_log(
    builder_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(sandbox, "run", FakeSandbox(log=PIP_LOG, code=1))
    with pytest.raises(ResolveError) as caught:
        sdist.build_wheel(
            ldap_sdist(tmp_path), builder_tree, TARGET, tmp_path, no_requirements, tmp_path / "logs"
        )
    assert "lber.h: No such file or directory" in str(caught.value)


def test_a_run_that_exits_0_without_a_wheel_is_a_failure_too(
    builder_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(sandbox, "run", FakeSandbox(log="", code=0))
    with pytest.raises(ResolveError, match=r"failed \(exit 0\): no output \(whole log: "):
        sdist.build_wheel(
            ldap_sdist(tmp_path), builder_tree, TARGET, tmp_path, no_requirements, tmp_path / "logs"
        )


def test_a_compiled_wheel_is_copied_out_and_the_build_folder_removed(
    builder_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    tag = f"cp399-cp399-manylinux_2_41_{MACHINE}"
    monkeypatch.setattr(sandbox, "run", FakeSandbox(wheel=tag))
    into = tmp_path / "into"
    into.mkdir()
    wheel = sdist.build_wheel(
        ldap_sdist(tmp_path), builder_tree, TARGET, into, no_requirements, tmp_path / "logs"
    )
    assert wheel == into / f"python_ldap-3.4.4-{tag}.whl"
    assert TARGET.wheel_rank(wheel.name) is not None
    with zipfile.ZipFile(wheel) as archive:
        assert "python_ldap/__init__.py" in archive.namelist()
    assert list(sandbox.workspace(builder_tree).iterdir()) == []


def test_build_requirements_beyond_setuptools_come_as_wheels(
    builder_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    fake = FakeSandbox(wheel=f"cp399-cp399-linux_{MACHINE}")
    monkeypatch.setattr(sandbox, "run", fake)
    asked = []

    def requirements(requires: list[str], what: str, target: Target, folder: Path) -> None:
        asked.append((requires, what, target, folder.name))
        folder.mkdir()
        make_wheel(folder, "Cython", "3.1.0")

    pyproject = b'[build-system]\nrequires = ["setuptools", "Cython>=3"]\n'
    sdist.build_wheel(
        ldap_sdist(tmp_path, pyproject), builder_tree, TARGET, tmp_path, requirements, tmp_path
    )
    assert asked == [(["setuptools", "Cython>=3"], LDAP_SDIST, TARGET, "requires")]
    ((_, argv, cwd),) = fake.calls
    assert "--no-build-isolation" not in argv
    assert argv[argv.index("--find-links") + 1] == f"{cwd}/requires"
    assert "requires/Cython-3.1.0-py3-none-any.whl" in fake.seen


@pytest.fixture
def sdist_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A project that pins python-ldap 3.4.4, which is published as an sdist only (and the
    index, asked for its files, says so); ``uv build`` on the host fails, as it does for an
    sdist whose headers the host lacks."""
    project = tmp_path / "ldapapp"
    project.mkdir()
    (project / "main.py").write_text("import python_ldap\n")
    path = ldap_sdist(project / "dist")
    write_pylock(project, [sdist_entry("python-ldap", "3.4.4", path, project)])

    def lookup(pins: Sequence[Pin], target: Target) -> str:
        # A lock that lists an sdist and no wheel is looked up on the index all the same.
        assert [p.line() for p in pins] == ["python-ldap==3.4.4"]
        return _local_index(pins, {"python-ldap": path})

    monkeypatch.setattr(wheels, "_lookup", lookup)
    uv = tmp_path / "fake-uv"
    uv.write_text("#!/bin/sh\necho 'error: Failed to build python-ldap (lber.h)' >&2\nexit 1\n")
    uv.chmod(0o755)
    monkeypatch.setenv("PYDISTROLESS_UV", str(uv))
    return project, path


class FakeCompiler:
    """An :class:`~pydistroless.python.sdist.SdistCompiler` that records what it is given and
    makes a wheel for that target (or raises ``error``)."""

    def __init__(self, error: Exception | None = None):
        self.error = error
        self.calls: list[tuple[str, bytes, Target]] = []

    def __call__(
        self, sdist_path: Path, into: Path, target: Target, indexes: tuple[str, ...] = ()
    ) -> Path:
        self.calls.append((sdist_path.name, sdist_path.read_bytes(), target))
        if self.error is not None:
            raise self.error
        glibc = "_".join(map(str, target.glibc))
        tag = f"{target.abi}-{target.abi}-manylinux_{glibc}_{MACHINE}"
        return make_wheel(into, "python_ldap", "3.4.4", tag)


def test_a_pinned_sdist_reaches_the_compiler_with_the_images_target(
    libc_base: Base, builder_store: Store, sdist_only: tuple[Path, Path], capsys
):
    project, path = sdist_only
    compiler = FakeCompiler()
    app = build_app(AppSpec(project=project), [libc_base], builder_store, compile_sdist=compiler)

    image = libc_base.image
    ((name, data, target),) = compiler.calls
    assert (name, data) == (LDAP_SDIST, path.read_bytes())
    assert target == runtime.from_image(image, tree_of(image), where="the base")
    assert (target.interpreter, target.abi, target.glibc, target.suite) == (
        INTERPRETER,
        "cp399",
        (2, 41),
        "pdltest",
    )
    wheel = f"python_ldap-3.4.4-cp399-cp399-manylinux_2_41_{MACHINE}.whl"
    assert f"built {wheel} from {LDAP_SDIST}" in capsys.readouterr().err
    layer = app.images[0].layers[-2]
    assert layer.comment == "python-ldap==3.4.4"
    assert {f"{SITE}/python_ldap/__init__.py", f"{SITE}/python_ldap-3.4.4.dist-info/WHEEL"} <= (
        paths(files_of(layer))
    )
    # The SBOM and the lock name what was downloaded: the sdist, by its digest.
    listed = spdx_packages(app.sboms[0][1])
    assert listed["python-ldap"]["versionInfo"] == "3.4.4"
    (pinned,) = json.loads(app.lock)["images"][0]["wheels"]
    assert (pinned["file"], pinned["sha256"]) == (LDAP_SDIST, sha256_of(path))


def test_the_compilers_error_reaches_the_caller_unchanged(
    libc_base: Base, builder_store: Store, sdist_only: tuple[Path, Path]
):
    project, _ = sdist_only
    error = ResolveError(
        f"compiling {LDAP_SDIST} in the builder image failed (exit 1): {CAUSE}; its build "
        "needs more than its declared build requirements and the image's -dev packages, so "
        "build its wheel yourself (--variant builder) and lock that"
    )
    compiler = FakeCompiler(error)
    with pytest.raises(ResolveError) as caught:
        build_app(AppSpec(project=project), [libc_base], builder_store, compile_sdist=compiler)
    assert caught.value is error
    assert len(compiler.calls) == 1


def test_without_a_compiler_an_sdist_is_refused_not_built_on_the_host(
    libc_base: Base, builder_store: Store, sdist_only: tuple[Path, Path]
):
    project, _ = sdist_only
    with pytest.raises(ResolveError) as caught:
        build_app(AppSpec(project=project), [libc_base], builder_store)
    assert str(caught.value).startswith(
        "python-ldap==3.4.4 publishes no wheel for Python 3.99.1 (cp399, glibc 2.41, "
    )
    assert "only a source distribution, and nothing here may build it" in str(caught.value)


def package_project(tmp_path: Path) -> Path:
    project = tmp_path / "mypkg-project"
    (project / "mypkg").mkdir(parents=True)
    (project / "mypkg" / "__init__.py").write_text("print('hi')\n")
    (project / "requirements.txt").write_text("")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "mypkg"\nversion = "1.0"\n\n'
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    return project


def test_a_package_projects_wheel_is_built_by_the_compiler_not_on_the_host(
    libc_base: Base, builder_store: Store, tmp_path: Path
):
    """The project's build backend comes from the index: its wheel is built as an sdist's
    is, from an archive of the project's files, by the compiler (the builder image's, in the
    sandbox)."""
    given: list[set[str]] = []
    archives: list[bytes] = []

    def compiler(sdist_path: Path, into: Path, target: Target, indexes=()) -> Path:
        with tarfile.open(sdist_path) as archive:
            given.append(set(archive.getnames()))
        archives.append(sdist_path.read_bytes())
        return make_wheel(into, "mypkg", "1.0")

    project = package_project(tmp_path)
    app = build_app(AppSpec(project=project), [libc_base], builder_store, compile_sdist=compiler)
    (names,) = given
    assert {"mypkg-0/pyproject.toml", "mypkg-0/mypkg/__init__.py"} <= names
    project_layer = app.images[0].layers[-1]
    assert f"{SITE}/mypkg/__init__.py" in paths(files_of(project_layer))
    # The same files a while later are the same sdist, byte for byte, so the compiler's
    # kept wheel serves it; a changed file is another sdist.
    for path in project.rglob("*"):
        os.utime(path, (1, 1))
    build_app(AppSpec(project=project), [libc_base], builder_store, compile_sdist=compiler)
    assert archives[0] == archives[1]
    (project / "mypkg" / "__init__.py").write_text("VERSION = 2\n")
    build_app(AppSpec(project=project), [libc_base], builder_store, compile_sdist=compiler)
    assert archives[2] != archives[0]


def test_a_project_of_one_script_without_dependencies_is_one_layer(
    base_image: Base, store: Store, tmp_path: Path
):
    """No dependency file at all: nothing to install, the script copied and run."""
    project = tmp_path / "one"
    project.mkdir()
    (project / "main.py").write_text("print('hi')\n")
    app = build_app(AppSpec(project=project), [base_image], store)
    (image,) = app.images
    assert len(image.layers) == len(base_image.image.layers) + 1
    assert files_of(image.layers[-1]).read("app/main.py") == b"print('hi')\n"
    assert config(image)["Entrypoint"] == [INTERPRETER, "/app/main.py"]


def test_an_application_with_a_build_system_gets_its_files_not_its_wheel(
    libc_base: Base, builder_store: Store, tmp_path: Path, capsys
):
    """poetry's package-mode = false: the project's build backend is never asked for a wheel
    (a compiler that is called fails the test), its files go under /app as they are."""

    def compiler(sdist_path: Path, into: Path, target: Target, indexes=()) -> Path:
        raise AssertionError(f"the project was built: {sdist_path.name}")

    project = package_project(tmp_path)
    (project / "app.py").write_text("print('app')\n")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.poetry]\npackage-mode = false\n")
    app = build_app(AppSpec(project=project), [libc_base], builder_store, compile_sdist=compiler)
    own = paths(files_of(app.images[0].layers[-1]))
    assert {"app/app.py", "app/mypkg/__init__.py", "app/pyproject.toml"} <= own
    assert not any(p.startswith(SITE) for p in own)
    assert config(app.images[0])["Entrypoint"] == [INTERPRETER, "/app/app.py"]
    assert "the project is not installed ([tool.poetry] package-mode = false)" in (
        capsys.readouterr().err
    )


def test_a_projects_own_failed_build_names_the_project_and_the_flag(
    libc_base: Base, builder_store: Store, tmp_path: Path
):
    """A failed build of the project's own wheel is the project's, not a dependency's: its
    exit code is a build's, and the line says how to build it as an application."""

    def compiler(sdist_path: Path, into: Path, target: Target, indexes=()) -> Path:
        raise ResolveError(f"compiling {sdist_path.name} in the builder image failed (exit 1)")

    with pytest.raises(BuildError) as caught:
        build_app(
            AppSpec(project=package_project(tmp_path)),
            [libc_base],
            builder_store,
            compile_sdist=compiler,
        )
    message = str(caught.value)
    assert message.startswith("building the project's own wheel (mypkg) failed: compiling ")
    assert "--no-install-project" in message and "\n" not in message
    assert caught.value.exit_code == 16


def test_a_package_project_without_a_compiler_is_refused_in_one_line(
    libc_base: Base, builder_store: Store, tmp_path: Path
):
    with pytest.raises(UsageError, match=r"is a package \(it has a \[build-system\]\)"):
        build_app(AppSpec(project=package_project(tmp_path)), [libc_base], builder_store)


# ---- the builder recipe --------------------------------------------------------------------


@pytest.fixture
def tool_wheels(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "index"
    return {
        "pip": make_wheel(folder, "pip", "25.3", scripts={"pip": "pip:main"}),
        "uv": make_wheel(folder, "uv", "0.9.9", scripts={"uv": "uv:main"}),
    }


@pytest.fixture
def tool_pins(tool_wheels: dict[str, Path]) -> tuple[str, ...]:
    return tuple(
        f"{name}=={wheel.name.split('-')[1]} --hash=sha256:{sha256_of(wheel)}"
        for name, wheel in sorted(tool_wheels.items())
    )


@pytest.fixture
def local_index(
    tool_wheels: dict[str, Path], tool_pins: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> list[tuple[tuple[str, ...], object]]:
    """The builder's tools as the lock pins them, their files found in a local folder instead
    of on the index. Gives the (pin lines, arguments) of each call to ``tools.pin``."""
    asked: list[tuple[tuple[str, ...], object]] = []

    def pin(*args: object) -> tuple[str, ...]:
        # Takes whatever the plan passes: test_the_builder_plan_pins_... checks the call.
        asked.append((tool_pins, args))
        return tool_pins

    def lookup(pins: Sequence[Pin], target: Target) -> str:
        return _local_index(pins, tool_wheels)

    monkeypatch.setattr(tools, "pin", pin)
    monkeypatch.setattr(wheels, "_lookup", lookup)
    return asked


def _local_index(pins: Sequence[Pin], found: dict[str, Path]) -> str:
    """The pylock.toml uv would answer for exact ``pins``: the file of each in ``found`` (a
    wheel, or an sdist)."""
    entries = []
    for pin in pins:
        path = found[pin.name]
        kind = "sdist = " if path.name.endswith(".tar.gz") else "wheels = ["
        end = "" if kind == "sdist = " else "]"
        entries.append(
            f'[[packages]]\nname = "{pin.name}"\nversion = "{pin.version}"\n'
            f'{kind}{{url = "{path.as_uri()}", hashes = {{sha256 = "{sha256_of(path)}"}}}}{end}\n'
        )
    return 'lock-version = "1.0"\ncreated-by = "test"\n\n' + "\n".join(entries)


def builder_spec(repo: Repo, **given) -> ImageSpec:
    return ImageSpec(suite=repo.suite, python=PY, variant="builder", **given)


@pytest.mark.usefixtures("local_index")
def test_the_builder_variant_is_the_base_with_the_python_tools_on_it(
    builder_repo: Repo, builder_store: Store, tool_pins: tuple[str, ...], tool_wheels
):
    built = builder.build_image(builder_spec(builder_repo), builder_store)

    arch_lock = built.lock.for_arch(ARCH)
    assert arch_lock.python_tools == tool_pins
    # The builder keeps every package of the closure: the compilers, the headers, libc6.
    wanted = {r.name for r in debian_python.root_packages(PY, "builder")} | {"libc6"}
    assert {p.name for p in arch_lock.packages} == wanted
    assert built.tags[0] == "pydistroless/python:3.99-debian99-builder"

    (image,) = built.images
    assert image.labels["dev.pydistroless.variant"] == "builder"
    assert image.labels[runtime.LABEL_GLIBC] == "2.41"
    cfg = config(image)
    assert cfg["Entrypoint"] == [INTERPRETER]
    # A build stage as python:X-slim is: root, in /, every CA variable its tools read.
    assert (cfg["User"], cfg["WorkingDir"]) == ("0", "/")
    assert next(e for e in cfg["Env"] if e.startswith("PATH=")).endswith(":/busybox")
    assert "PIP_CERT=/etc/ssl/certs/ca-certificates.crt" in cfg["Env"]
    assert "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt" in cfg["Env"]
    tree = tree_of(image)
    home = tree.get("home/nonroot")
    assert home is not None and (home.uid, home.mode & 0o777) == (65532, 0o700)
    assert not [p for p in paths(tree) if p.endswith("EXTERNALLY-MANAGED")]
    shell = tree.get("usr/bin/sh")
    assert shell is not None and shell.kind is Kind.SYMLINK and shell.target == "busybox"
    assert tree.get("busybox/ash").target == "/usr/bin/busybox"
    assert "usr/share/libssl-dev/README" in paths(tree)  # what a builder compiles against
    # The tools, as an app's dependencies are installed: their own layer, their scripts.
    tools_layer = image.layers[-2]
    assert tools_layer.comment == "pip==25.3 uv==0.9.9"
    installed = files_of(tools_layer)
    assert {f"{SITE}/pip/__init__.py", f"{SITE}/uv/__init__.py"} <= paths(installed)
    assert installed.read("usr/local/bin/pip").startswith(f"#!{INTERPRETER}\n".encode())
    listed = spdx_packages(built.sboms[0][1])
    assert {"pip", "uv", "gcc", "busybox-static", "libc6"} <= set(listed)
    assert listed["uv"]["checksums"][0]["checksumValue"] == sha256_of(tool_wheels["uv"])


@pytest.mark.usefixtures("local_index")
def test_a_standard_image_is_the_base_recipes_alone(repo: Repo, store: Store):
    standard = builder.build_image(spec_of(repo), store)
    assert standard.digest == base.build(spec_of(repo), store).digest


def test_the_builder_plan_pins_the_tools_for_the_images_python(
    builder_repo: Repo, builder_store: Store, monkeypatch: pytest.MonkeyPatch
):
    asked: list[Target] = []

    def pin(python: Target, cache: Cache) -> tuple[str, ...]:
        asked.append(python)
        return ()

    monkeypatch.setattr(tools, "pin", pin)
    lock = plan(builder_spec(builder_repo), builder_store)
    (python,) = asked
    assert python == runtime_of(lock.for_arch(ARCH), builder_repo.suite)
    assert (python.version, python.abi, python.glibc) == ("3.99.1", "cp399", (2, 41))


@pytest.fixture
def base_target(libc_base: Base) -> Target:
    """The Python of a standard image of the builder archive, as an app build reads it."""
    return runtime.from_image(libc_base.image, tree_of(libc_base.image), where="the base")


@pytest.mark.usefixtures("local_index")
def test_sdists_compile_in_the_builder_image_of_the_base_made_once(
    builder_store: Store,
    base_target: Target,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    made: list[ImageSpec] = []
    real_build_image = builder.build_image

    def counted(spec: ImageSpec, ctx: Store, *, lock=None) -> base.Built:
        made.append(spec)
        return real_build_image(spec, ctx, lock=lock)

    monkeypatch.setattr(builder, "build_image", counted)
    tag = f"cp399-cp399-manylinux_2_41_{MACHINE}"
    fake = FakeSandbox(wheel=tag)
    roots: list[set[str]] = []

    def run(root: Path, argv: Sequence[str], *, cwd: str, log: Path, binds: Sequence = ()) -> int:
        roots.append({str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()})
        assert (root / "tmp").stat().st_mode & 0o7777 == 0o1777
        return fake(root, argv, cwd=cwd, log=log, binds=binds)

    monkeypatch.setattr(sandbox, "run", run)
    compiler = builder.BuilderImageCompiler(builder_store)
    into = tmp_path / "into"
    into.mkdir()
    sdist_path = ldap_sdist(tmp_path / "dl")
    first = compiler(sdist_path, into, base_target)
    metadata = compiler.metadata(sdist_path, base_target)
    second = compiler(sdist_path, into, base_target)
    # Another run (a new compiler, as another `pydistroless app` has) finds the wheel too.
    third = builder.BuilderImageCompiler(builder_store)(sdist_path, into, base_target)

    assert first == second == third == into / f"python_ldap-3.4.4-{tag}.whl"
    assert (metadata["name"], metadata["version"]) == ("python_ldap", "3.4.4")
    (spec,) = made  # the builder image is made once per base Python
    assert (spec.variant, spec.user, spec.suite, spec.python, spec.python_from) == (
        "builder",
        "root",
        "pdltest",
        PY,
        "debian",
    )
    assert spec.archs == (ARCH,)
    assert not spec.optimize_python
    # Compiled once: the metadata and the later builds took the kept wheel.
    ((root_a, argv, _),) = fake.calls
    assert root_a.parent == builder_store.cache.root / "builders"
    assert root_a.name.endswith(f"-{ARCH}")
    # The root is the builder image: its interpreter, compilers, busybox and pip.
    assert {
        f"usr/bin/python{PY}",
        "usr/bin/busybox",
        "usr/share/gcc/README",
        f"{SITE}/pip/__init__.py",
    } <= roots[0]
    assert argv[0] == base_target.interpreter
    assert list((root_a / "build").iterdir()) == []


def test_a_base_that_names_no_suite_gets_no_builder_image(builder_store: Store, tmp_path: Path):
    compiler = builder.BuilderImageCompiler(builder_store)
    with pytest.raises(ResolveError, match="names no Debian suite to make its builder image"):
        compiler(ldap_sdist(tmp_path), tmp_path, replace(TARGET, suite=None))
