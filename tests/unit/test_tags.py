from dataclasses import replace

import pytest

from pydistroless.python.source import PythonSource
from pydistroless.recipes.base import default_tags, source_date_epoch
from pydistroless.recipes.lock import ArchLock, Lock, ReleaseInfo
from pydistroless.recipes.spec import ImageSpec

LOCK = Lock(
    suite="trixie",
    codename="trixie",
    debian_version="13.8",
    releases=(
        ReleaseInfo("trixie", "Sat, 21 Nov 2026 09:15:44 UTC", "13.8", "a"),
        ReleaseInfo("trixie-security", "Tue, 24 Nov 2026 18:00:00 UTC", "13", "b"),
    ),
    archs=(ArchLock("amd64", "3.13", "3.13.5-2+deb13u5", ()),),
)


@pytest.mark.parametrize(
    ("spec", "tags"),
    [
        (ImageSpec(), ("3.13-debian13", "3.13.5-debian13", "nonroot")),
        (
            ImageSpec(variant="debug"),
            ("3.13-debian13-debug", "3.13.5-debian13-debug", "debug-nonroot"),
        ),
        (ImageSpec(user="root"), ("3.13-debian13-root", "3.13.5-debian13-root", "root")),
        (
            ImageSpec(user="1000", python="3.13"),
            ("3.13-debian13-uid1000", "3.13.5-debian13-uid1000"),
        ),
    ],
)
def test_default_tags(spec, tags):
    assert default_tags(spec, LOCK) == tuple(f"pydistroless/python:{t}" for t in tags)


def test_a_python_compiled_from_source_never_takes_the_tags_of_debians():
    source = PythonSource("3.13.5", ("file:///x",), "a" * 64, None, "--source-url", False)
    arch = ArchLock("amd64", "3.13", "3.13.5", (), python_source=source)
    lock = replace(LOCK, archs=(arch,))
    tags = default_tags(ImageSpec(python="3.13.5", python_from="source"), lock)
    assert tags == (
        "pydistroless/python:3.13-upstream-debian13",
        "pydistroless/python:3.13.5-upstream-debian13",
    )
    assert not set(tags) & set(default_tags(ImageSpec(python="3.13"), LOCK))


def test_timestamp_is_the_newest_release_unless_given(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert source_date_epoch(ImageSpec(), LOCK) == 1795543200
    assert source_date_epoch(ImageSpec(source_date_epoch=5), LOCK) == 5
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "7")
    assert source_date_epoch(ImageSpec(), LOCK) == 7
