"""The lock file: a faithful, diff-friendly round trip."""

from __future__ import annotations

import json

import pytest

from pydistroless.core.errors import UsageError
from pydistroless.debian.store import LockedPackage
from pydistroless.recipes import lock as lockfile
from pydistroless.recipes.lock import ArchLock, Lock, ReleaseInfo


def package(name: str, version: str, arch: str = "amd64", suite: str = "trixie") -> LockedPackage:
    filename = f"pool/main/{name[0]}/{name}/{name}_{version.split(':')[-1]}_{arch}.deb"
    return LockedPackage(
        name=name,
        version=version,
        architecture=arch,
        filename=filename,
        size=12345,
        sha256="ab" * 32,
        source=name.removeprefix("lib"),
        source_version=version,
        suite=suite,
        url=f"http://mirror.example.invalid/debian/{filename}",
    )


def sample_lock() -> Lock:
    return Lock(
        suite="trixie",
        codename="trixie",
        debian_version="13.2",
        releases=(
            ReleaseInfo("trixie", "Sat, 15 Nov 2025 10:00:00 UTC", "13.2", "11" * 32),
            ReleaseInfo("trixie-security", "Mon, 24 Nov 2025 10:00:00 UTC", "13", "22" * 32),
        ),
        archs=(
            ArchLock(
                arch="amd64",
                python="3.13",
                python_package_version="3.13.5-2",
                packages=(
                    package("base-files", "13.8+deb13u2"),
                    package("libc6", "2.41-12", suite="trixie-security"),
                    package("python3.13-minimal", "3.13.5-2"),
                    package("tzdata", "1:2025b-4+deb13u1"),  # an epoch survives the trip
                ),
            ),
            ArchLock(
                arch="arm64",
                python="3.13",
                python_package_version="3.13.5-2",
                packages=(package("python3.13-minimal", "3.13.5-2", arch="arm64"),),
            ),
        ),
    )


def test_round_trip():
    lock = sample_lock()
    text = lockfile.dumps(lock)
    assert lockfile.loads(text) == lock
    assert lockfile.dumps(lockfile.loads(text)) == text


def test_round_trip_through_a_file(tmp_path):
    path = tmp_path / "python.lock"
    path.write_text(lockfile.dumps(sample_lock()))
    assert lockfile.read(path) == sample_lock()


def test_the_text_is_json_with_one_package_per_line():
    text = lockfile.dumps(sample_lock())
    data = json.loads(text)
    assert data["lock-version"] == lockfile.LOCK_VERSION
    assert [a["arch"] for a in data["archs"]] == ["amd64", "arm64"]
    lines = text.splitlines()
    for pkg in sample_lock().archs[0].packages:
        [line] = [
            ln for ln in lines if f'"name": "{pkg.name}"' in ln and '"architecture": "amd64"' in ln
        ]
        assert f'"sha256": "{pkg.sha256}"' in line and f'"version": "{pkg.version}"' in line
    assert text.endswith("}\n")


def test_one_changed_package_is_one_changed_line():
    before = sample_lock()
    amd64 = before.archs[0]
    changed = tuple(
        package("libc6", "2.41-12+deb13u1", suite="trixie-security") if p.name == "libc6" else p
        for p in amd64.packages
    )
    after = Lock(
        before.suite,
        before.codename,
        before.debian_version,
        before.releases,
        (
            ArchLock(amd64.arch, amd64.python, amd64.python_package_version, changed),
            before.archs[1],
        ),
    )
    old, new = lockfile.dumps(before).splitlines(), lockfile.dumps(after).splitlines()
    assert len(old) == len(new)
    assert sum(a != b for a, b in zip(old, new, strict=True)) == 1


def test_for_arch_and_debian_major():
    lock = sample_lock()
    assert lock.for_arch("arm64").packages[0].architecture == "arm64"
    assert lock.debian_major == "13"
    assert lock.archs[0].package("tzdata").version == "1:2025b-4+deb13u1"
    assert lock.archs[0].package("nope") is None
    with pytest.raises(UsageError, match="no architecture 'riscv64'"):
        lock.for_arch("riscv64")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        "null",
        '{"lock-version": 1}',
        '{"lock-version": 99, "suite": "trixie"}',
        '{"lock-version": 1, "suite": "t", "codename": "t", "debian-version": "13",'
        ' "releases": [], "archs": [{"arch": "amd64"}]}',
    ],
    ids=["empty", "not-json", "list", "null", "missing-fields", "future-version", "bad-arch"],
)
def test_bad_locks_are_usage_errors(text):
    with pytest.raises(UsageError) as info:
        lockfile.loads(text, source="my.lock")
    assert "my.lock" in str(info.value)
    assert info.value.exit_code == 2


def test_missing_lock_file(tmp_path):
    with pytest.raises(UsageError, match="cannot read lock"):
        lockfile.read(tmp_path / "nope.lock")


def edited(change) -> str:
    """The sample lock's JSON after ``change`` edited the parsed data in place."""
    data = json.loads(lockfile.dumps(sample_lock()))
    change(data)
    return json.dumps(data)


def _set(path: tuple, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop_interpreter(data):
    data["archs"][0]["packages"] = [
        p for p in data["archs"][0]["packages"] if p["name"] != "python3.13-minimal"
    ]


def _duplicate_under_another_name(data):
    packages = data["archs"][0]["packages"]
    twin = dict(packages[0], name="base-files-twin")
    packages.append(twin)


def _same_arch_twice(data):
    data["archs"][1] = dict(data["archs"][0])


def _duplicate_name(data):
    packages = data["archs"][0]["packages"]
    packages.append(dict(packages[0]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(("archs", 0, "packages"), []), "'packages' is empty"),
        (_drop_interpreter, "has no python3.13-minimal, so the image would have no interpreter"),
        (_set(("archs",), []), "'archs' is empty"),
        (_set(("releases", 0, "date"), "yesterday"), "is not an RFC 2822 date"),
        (_duplicate_name, "lists package base-files twice"),
        (_set(("archs", 0, "packages", 0, "size"), "12"), "size must be a whole number"),
        (_set(("archs", 0, "packages", 0, "size"), True), "size must be a whole number"),
        (_set(("archs", 0, "packages", 0, "sha256"), "ab" * 31), "is not a valid sha256"),
        (_set(("archs", 0, "packages", 0, "filename"), "../../etc/passwd"), "not a pool path"),
        (_set(("archs", 0, "packages", 0, "name"), "Bad Name"), "is not a valid name"),
        (_set(("archs", 0, "packages", 0, "extra"), 1), "unknown field(s) extra"),
        (
            _set(("archs", 0, "packages", 0, "url"), "http://alice:pw@host/x.deb"),
            "without credentials",
        ),
        (_set(("archs", 0, "python-package-version"), "3.13.4-1"), "is not the version of"),
        (_same_arch_twice, "lists an architecture twice"),
        (_set(("archs", 0, "python"), 3.13), "needs a string 'python', not a float"),
        (_set(("archs", 0), []), "must be a JSON object, not a list"),
    ],
    ids=lambda v: v if isinstance(v, str) else getattr(v, "__name__", "set"),
)
def test_hand_edited_locks_are_refused_with_the_field_named(change, message):
    with pytest.raises(UsageError) as caught:
        lockfile.loads(edited(change), source="my.lock")
    text = str(caught.value)
    assert message in text
    assert text.startswith("my.lock is not a valid pydistroless lock: ")
    assert text.endswith("; fix it or re-create it with `pydistroless lock`")
    assert "\n" not in text


def test_one_file_under_two_names_is_accepted():
    lock = lockfile.loads(edited(_duplicate_under_another_name))
    twin = lock.archs[0].package("base-files-twin")
    assert twin is not None
    assert twin.filename == lock.archs[0].package("base-files").filename


def test_a_lock_that_is_not_utf8(tmp_path):
    path = tmp_path / "bad.lock"
    path.write_bytes(lockfile.dumps(sample_lock()).encode()[:50] + b"\xff\xfe")
    with pytest.raises(UsageError, match="not UTF-8 text at byte 50"):
        lockfile.read(path)
