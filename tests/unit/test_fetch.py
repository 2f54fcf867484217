"""Downloads against a local mirror that misbehaves: bounded in size and time, cancellable,
streamed into the cache, with logins sent only where they belong."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from pydistroless.core.cache import Cache
from pydistroless.core.errors import CacheMissError, ConfigError, IntegrityError, NetworkError
from pydistroless.core.fetch import Download, Fetcher, Limits, NotFound, cancel_on_sigint
from pydistroless.core.net import Credentials, Interrupted, Login
from pydistroless.debian.sources import Mirrors
from pydistroless.debian.store import LockedPackage, Store
from tests.fixtures import debs
from tests.fixtures.hostile import LocalMirror, basic, drip, endless, longer, stall, wait_for

BODY = bytes(range(256)) * 400  # 100 kB
SHA = hashlib.sha256(BODY).hexdigest()
# Deadlines of about half a second, so a slow mirror fails fast.
QUICK = Limits(grace=0.5, min_rate=1e9, inrelease_deadline=0.5, read_timeout=5.0)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    (root / "pool").mkdir(parents=True)
    (root / "pool" / "f.bin").write_bytes(BODY)
    (root / "dists" / "s").mkdir(parents=True)
    (root / "dists" / "s" / "InRelease").write_bytes(BODY)
    return root


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


def item(*urls: str, size: int | None = len(BODY), sha: str = SHA) -> Download:
    return Download(urls=urls, sha256=sha, size=size, label="f.bin")


def leftovers(cache: Cache) -> list[str]:
    """Temporary files anywhere in the cache."""
    return sorted(p.name for p in cache.root.rglob(".*"))


def misbehave_on(suffix: str, reply):
    return lambda path: reply if path.endswith(suffix) else None


# ---- streaming into the cache ---------------------------------------------------------------


def test_a_download_is_streamed_into_the_cache(files, cache):
    with LocalMirror(files) as mirror:
        data = Fetcher(cache, progress=False).fetch(item(mirror.url("pool/f.bin")))
    assert data == BODY
    assert cache.blob_path(SHA).read_bytes() == BODY
    assert leftovers(cache) == []
    assert cache.get_blob(SHA) == BODY  # re-verified on read, as before


def test_a_file_url_is_streamed_too(files, cache):
    data = Fetcher(cache, progress=False).fetch(item(f"file://{files}/pool/f.bin"))
    assert data == BODY and leftovers(cache) == []


# ---- time -------------------------------------------------------------------------------------


def test_a_dripping_mirror_is_too_slow_and_the_next_one_is_tried(files, cache):
    with (
        LocalMirror(files, misbehave=misbehave_on(".bin", drip(0.2))) as slow,
        LocalMirror(files) as good,
    ):
        fetcher = Fetcher(cache, progress=False, limits=QUICK)
        started = time.monotonic()
        data = fetcher.fetch(item(slow.url("pool/f.bin"), good.url("pool/f.bin")))
    assert data == BODY
    assert time.monotonic() - started < 3
    assert good.requests == ["/pool/f.bin"]


def test_a_dripping_mirror_fails_within_its_deadline(files, cache):
    with LocalMirror(files, misbehave=misbehave_on(".bin", drip(10))) as slow:
        fetcher = Fetcher(cache, progress=False, limits=QUICK)
        started = time.monotonic()
        with pytest.raises(NetworkError, match="too slow") as info:
            fetcher.fetch(item(slow.url("pool/f.bin")))
    assert time.monotonic() - started < QUICK.deadline(len(BODY)) + 1.5
    assert slow.url("pool/f.bin") in str(info.value)
    assert leftovers(cache) == [] and not cache.has_blob(SHA)


def test_a_dripping_inrelease_fails_within_its_deadline(files, cache):
    with LocalMirror(files, misbehave=misbehave_on("InRelease", drip(10))) as slow:
        fetcher = Fetcher(cache, progress=False, limits=QUICK)
        started = time.monotonic()
        with pytest.raises(NetworkError, match="too slow"):
            fetcher.get([slow.url("dists/s/InRelease")])
    assert time.monotonic() - started < QUICK.inrelease_deadline + 1.5


def test_deadlines_follow_the_size():
    limits = Limits()
    assert limits.deadline(0) == 30
    assert limits.deadline(10_000_000) == 130  # 10 MB at 100 kB/s, plus the grace
    quick = limits.scaled(0.1)
    assert quick.deadline(10_000_000) == pytest.approx(13)
    assert quick.inrelease_deadline == pytest.approx(6)


def test_the_deadline_scale_comes_from_the_environment():
    assert Limits.from_environ({}) == Limits()
    assert Limits.from_environ({"PYDISTROLESS_DEADLINE_SCALE": "2"}).grace == 60
    with pytest.raises(ConfigError, match="PYDISTROLESS_DEADLINE_SCALE"):
        Limits.from_environ({"PYDISTROLESS_DEADLINE_SCALE": "soon"})


# ---- size -------------------------------------------------------------------------------------


@pytest.mark.parametrize("announce", [True, False], ids=["announced", "unannounced"])
def test_an_oversized_inrelease_is_refused_at_the_cap(files, cache, announce):
    reply = endless(300 * 1024 * 1024, announce=announce)
    with LocalMirror(files, misbehave=misbehave_on("InRelease", reply)) as hostile:
        fetcher = Fetcher(cache, progress=False, limits=Limits(inrelease_cap=256 * 1024))
        with pytest.raises(IntegrityError, match="InRelease"):
            fetcher.get([hostile.url("dists/s/InRelease")])
    # The client stopped reading at the cap (what the socket buffers took aside).
    assert hostile.sent < 64 * 1024 * 1024


@pytest.mark.parametrize("announce", [True, False], ids=["announced", "unannounced"])
def test_a_body_longer_than_the_signed_size_is_refused(files, cache, announce):
    reply = longer(5000, announce=announce)
    with (
        LocalMirror(files, misbehave=misbehave_on(".bin", reply)) as hostile,
        pytest.raises(IntegrityError, match=f"signed size {len(BODY)}"),
    ):
        Fetcher(cache, progress=False).fetch(item(hostile.url("pool/f.bin")))
    assert leftovers(cache) == [] and not cache.has_blob(SHA)


def test_a_body_of_unknown_size_is_capped(files, cache):
    reply = endless(50 * 1024 * 1024, announce=False)
    with LocalMirror(files, misbehave=misbehave_on(".bin", reply)) as hostile:
        fetcher = Fetcher(cache, progress=False, limits=Limits(unsized_cap=1024 * 1024))
        with pytest.raises(IntegrityError, match="unknown size"):
            fetcher.fetch(item(hostile.url("pool/f.bin"), size=None))
    assert leftovers(cache) == []


def test_a_body_with_the_wrong_digest_is_not_kept(files, cache):
    with LocalMirror(files) as mirror, pytest.raises(IntegrityError, match="SHA256"):
        Fetcher(cache, progress=False).fetch(item(mirror.url("pool/f.bin"), sha="0" * 64))
    assert leftovers(cache) == [] and not cache.has_blob("0" * 64)


def test_every_mirror_saying_404_is_not_found(files, cache):
    with LocalMirror(files) as mirror, pytest.raises(NotFound):
        Fetcher(cache, progress=False).get([mirror.url("dists/nope/InRelease")])


def test_an_upstream_file_is_read_up_to_its_cap_only(files, cache):
    with LocalMirror(files) as mirror:
        fetcher = Fetcher(cache, progress=False)
        assert fetcher.get_upstream(mirror.url("pool/f.bin"), len(BODY), "tarball") == BODY
        with pytest.raises(IntegrityError, match="far more than any signature"):
            fetcher.get_upstream(mirror.url("pool/f.bin"), 1024, "signature")
        with pytest.raises(NotFound, match="does not exist"):
            fetcher.get_upstream(mirror.url("pool/nope.asc"), 1024, "signature")
    assert leftovers(cache) == [] and not cache.has_blob(SHA)


def test_an_upstream_file_offline_is_a_cache_miss(files, cache):
    with pytest.raises(CacheMissError, match="offline: signature"):
        Fetcher(cache, progress=False, offline=True).get_upstream(
            f"file://{files}/pool/f.bin", 1024, "signature"
        )


# ---- cancel -----------------------------------------------------------------------------------


def _fetch_in_thread(fetcher: Fetcher, items: list[Download]) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(fetcher.fetch_many(items))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_cancel_stops_stalled_downloads_at_once_and_keeps_nothing(files, cache):
    with LocalMirror(files, misbehave=misbehave_on(".bin", stall(30_000))) as stuck:
        fetcher = Fetcher(cache, progress=False)
        thread, outcome = _fetch_in_thread(fetcher, [item(stuck.url("pool/f.bin"))])
        wait_for(stuck.reached, "the stall")
        deadline = time.monotonic() + 5
        while not leftovers(cache) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert leftovers(cache), "the partial download should be in a temporary file"
        started = time.monotonic()
        fetcher.cancel()
        thread.join(5)
        assert time.monotonic() - started < 1
    assert isinstance(outcome[0], Interrupted), outcome
    assert leftovers(cache) == []
    with pytest.raises(Interrupted):  # and it stays cancelled
        fetcher.fetch(item("http://127.0.0.1:9/pool/f.bin"))


def test_ctrl_c_while_fetch_many_waits_cancels_the_workers(files, cache):
    with LocalMirror(files, misbehave=misbehave_on(".bin", stall(1000))) as stuck:
        # The full deadlines, whatever the environment says: the interrupt must end this
        # download, not a deadline that a loaded machine reaches first.
        fetcher = Fetcher(cache, progress=False, limits=Limits())
        # as from a terminal: a run started in the background inherits an ignored SIGINT
        signal.signal(signal.SIGINT, signal.default_int_handler)
        cancel_on_sigint(fetcher)
        main = threading.main_thread().ident
        assert main is not None

        def interrupt() -> None:
            wait_for(stuck.reached, "the stall")
            signal.pthread_kill(main, signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        try:
            started = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                fetcher.fetch_many([item(stuck.url("pool/f.bin"))])
            assert time.monotonic() - started < 10
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        # The worker saw the cancel and removed its temporary file.
        deadline = time.monotonic() + 1
        while leftovers(cache) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert leftovers(cache) == []


# ---- the cache's writer -----------------------------------------------------------------------


def test_the_writer_keeps_nothing_on_keyboard_interrupt(cache):
    with pytest.raises(KeyboardInterrupt), cache.blob_writer(SHA) as sink:
        sink.write(BODY[:1000])
        assert leftovers(cache)
        raise KeyboardInterrupt
    assert leftovers(cache) == [] and not cache.has_blob(SHA)


def test_the_writer_renames_only_what_hashes_to_the_name(cache):
    with pytest.raises(IntegrityError), cache.blob_writer(SHA) as sink:
        sink.write(b"something else")
    assert leftovers(cache) == [] and not cache.has_blob(SHA)
    with cache.blob_writer(SHA) as sink:
        sink.write(BODY)
    assert cache.get_blob(SHA) == BODY


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
@pytest.mark.parametrize("where", ["create", "write", "rename"])
def test_an_unwritable_cache_is_one_clear_error(files, cache, monkeypatch, code, where):
    def fail(*_args, **_kw):
        raise OSError(code, os.strerror(code))

    if where == "create":
        monkeypatch.setattr("pydistroless.core.files._create_exclusive", fail)
    elif where == "write":
        monkeypatch.setattr("pydistroless.core.cache.BlobSink.write", _failing_write(code))
    else:
        monkeypatch.setattr("pydistroless.core.cache.os.replace", fail)
    with pytest.raises(ConfigError) as info:
        Fetcher(cache, progress=False).fetch(item(f"file://{files}/pool/f.bin"))
    message = str(info.value)
    assert str(cache.root) in message and "--cache-dir" in message, message
    assert os.strerror(code) in message and "\n" not in message
    assert leftovers(cache) == []


def _failing_write(code: int):
    from pydistroless.core.cache import BlobSink

    real = BlobSink.write

    def write(self, data: bytes) -> None:
        real(self, data[:10])
        self._handle.write = _raiser(code)  # the disk fills up part-way
        real(self, data[10:])

    return write


def _raiser(code: int):
    def raise_(*_args):
        raise OSError(code, os.strerror(code))

    return raise_


# ---- logins -----------------------------------------------------------------------------------


def login(port: int, path: str = "/pool/") -> Login:
    return Login(("http",), "127.0.0.1", port, path, "alice", "s3cr3t")


def test_a_login_is_sent_as_basic_auth_under_its_mirror_only(files, cache):
    with LocalMirror(files, login=("alice", "s3cr3t")) as mirror:
        port = int(mirror.url().rsplit(":", 1)[1])
        fetcher = Fetcher(cache, progress=False, credentials=Credentials((login(port),)))
        assert fetcher.fetch(item(mirror.url("pool/f.bin"))) == BODY
        with pytest.raises(NetworkError, match="401") as info:
            fetcher.get([mirror.url("dists/s/InRelease")])  # not under /pool/
    assert mirror.authorizations == [basic("alice", "s3cr3t"), None]
    assert "s3cr3t" not in str(info.value)
    assert "wants a login" in str(info.value)


def test_a_refused_login_does_not_show_the_secret(files, cache):
    with LocalMirror(files, login=("alice", "right")) as mirror:
        port = int(mirror.url().rsplit(":", 1)[1])
        fetcher = Fetcher(cache, progress=False, credentials=Credentials((login(port, "/"),)))
        with pytest.raises(NetworkError, match="login was refused") as info:
            fetcher.fetch(item(mirror.url("pool/f.bin")))
    assert "s3cr3t" not in str(info.value) and "s3cr3t" not in repr(fetcher.__dict__)


# ---- one package under two names ----------------------------------------------------------------


def test_one_deb_under_two_names_is_fetched_and_read_once(tmp_path, cache, monkeypatch):
    deb = debs.simple_deb("libfoo1", "1.0-1")
    root = tmp_path / "repo"
    (root / "pool").mkdir(parents=True)
    (root / "pool" / "libfoo1.deb").write_bytes(deb)
    reads: list[str] = []
    from pydistroless.debian import store

    real_read = store.read_deb

    def counting_read(data: bytes, *, name: str):
        reads.append(name)
        return real_read(data, name=name)

    monkeypatch.setattr(store, "read_deb", counting_read)

    def package(name: str) -> LockedPackage:
        return LockedPackage(
            name=name,
            version="1.0-1",
            architecture="amd64",
            filename="pool/libfoo1.deb",
            size=len(deb),
            sha256=hashlib.sha256(deb).hexdigest(),
            source="foo",
            source_version="1.0-1",
            suite="pdltest",
            url="",
        )

    with LocalMirror(root) as mirror:
        fetcher = Fetcher(cache, progress=False)
        ctx = Store(cache, fetcher, None, Mirrors((mirror.url(),), ()))  # type: ignore[arg-type]
        first, second = ctx.debs([package("libfoo1"), package("libfoo1-alias")])
    assert first is second
    assert mirror.requests == ["/pool/libfoo1.deb"]
    assert reads == ["libfoo1"]


def test_the_terminal_progress_bar_counts_what_arrives():
    from pydistroless.core.fetch import _RichProgress

    bar = _RichProgress("packages", 10)
    with bar as advance:
        advance(4)
        advance(6)
    assert bar._bar.tasks[0].completed == 10


def test_a_killed_download_leaves_nothing_for_long(cache):
    """A temporary that no process holds is a killed writer's: the next download of that
    blob clears it."""
    from pydistroless.core import files

    stale = files.temp_name(cache.blob_path(SHA))
    stale.write_bytes(BODY[:10])
    with cache.blob_writer(SHA) as sink:
        sink.write(BODY)
    assert not stale.exists()
    assert leftovers(cache) == [] and cache.get_blob(SHA) == BODY
