"""Cache records are checked like blobs: one that is broken is a miss, never an answer."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from pydistroless.core.cache import Cache


def parse_pair(body):
    if not (isinstance(body, list) and len(body) == 2 and all(isinstance(v, int) for v in body)):
        raise ValueError("not a pair")
    return tuple(body)


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


def test_a_record_round_trips(cache: Cache):
    cache.put_checked_record([1, 2], "things", "k")
    assert cache.get_checked_record(parse_pair, "things", "k") == (1, 2)
    assert cache.get_checked_record(parse_pair, "things", "missing") is None


@pytest.mark.parametrize(
    "spoil",
    [
        lambda raw: b"",
        lambda raw: raw[: len(raw) // 2],
        lambda raw: raw.replace(b"[1, 2]", b"[1, 3]"),  # one digit changed
        lambda raw: b"\xff\xfe not json",
        lambda raw: b"[]",
        lambda raw: json.dumps({"body": "x", "sha256": "0" * 64}).encode(),
    ],
    ids=["empty", "truncated", "one-digit", "not-utf8", "not-an-envelope", "bad-checksum"],
)
def test_a_broken_record_is_a_miss_and_is_dropped(cache: Cache, spoil):
    cache.put_checked_record([1, 2], "things", "k")
    path = cache.record_path("things", "k")
    path.write_bytes(spoil(path.read_bytes()))
    assert cache.get_checked_record(parse_pair, "things", "k") is None
    assert not path.exists()


def test_a_record_its_reader_rejects_is_a_miss(cache: Cache):
    cache.put_checked_record(["not", "ints"], "things", "k")
    assert cache.get_checked_record(parse_pair, "things", "k") is None
    assert not cache.record_path("things", "k").exists()


def test_a_full_disk_is_a_note_not_a_failure(cache: Cache, monkeypatch, capsys):
    def full(*_args, **_kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Cache, "put_record", full)
    cache.put_checked_record([1, 2], "things", "k")
    err = capsys.readouterr().err
    assert "could not store into the cache" in err and "No space left on device" in err
    assert err.count("\n") == 1
