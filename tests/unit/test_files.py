"""The rule for every file the tool writes: replace only what is ours to replace."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import stat
import threading
from pathlib import Path

import pytest

from pydistroless.core import files
from pydistroless.core.arch import architecture
from pydistroless.core.errors import OutputError
from pydistroless.fs.tree import Tree
from pydistroless.oci.layer import layer_from_tree
from pydistroless.oci.layout import check_layout_target, write_layout
from pydistroless.oci.model import Image
from pydistroless.oci.mutate import ImageConfig, new_image


def make_char_device(path: Path) -> None:
    # the same numbers as /dev/null, so nothing can go wrong if a test fails
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))


def test_absent_and_regular_targets_are_written(tmp_path: Path) -> None:
    target = tmp_path / "out.tar"
    files.atomic_write(target, b"one", "--output")
    files.atomic_write(target, b"two", "--output")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["out.tar"]


def test_a_device_is_refused_and_left_alone(tmp_path: Path) -> None:
    device = tmp_path / "mynull"
    make_char_device(device)
    with pytest.raises(OutputError, match="is a character device, not a regular file"):
        files.atomic_write(device, b"image", "--output")
    assert stat.S_ISCHR(device.lstat().st_mode)
    assert os.listdir(tmp_path) == ["mynull"]


def test_dev_null_is_never_a_target() -> None:
    with pytest.raises(OutputError, match="character device"):
        files.file_target(Path("/dev/null"), "--output")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_fifo_and_socket_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="is a FIFO"):
        files.file_target(fifo, "--output")
    with pytest.raises(OutputError, match="is a directory"):
        files.file_target(tmp_path, "--output")


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.tar"
    real.write_bytes(b"old")
    link = tmp_path / "link.tar"
    link.symlink_to("real.tar")
    files.atomic_write(link, b"new", "--output")
    assert link.is_symlink()
    assert os.readlink(link) == "real.tar"
    assert real.read_bytes() == b"new"


def test_a_symlink_to_a_device_or_nowhere_is_refused(tmp_path: Path) -> None:
    to_null = tmp_path / "to-null"
    to_null.symlink_to("/dev/null")
    with pytest.raises(OutputError, match=r"/dev/null \(through the link .*to-null\)"):
        files.atomic_write(to_null, b"x", "--output")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere" / "x")
    with pytest.raises(OutputError, match="does not exist; remove the link"):
        files.atomic_write(dangling, b"x", "--output")
    assert sorted(os.listdir(tmp_path)) == ["dangling", "to-null"]


def test_stale_temporaries_go_and_live_ones_stay(tmp_path: Path) -> None:
    target = tmp_path / "img.tar"
    stale = files.temp_name(target)
    stale.write_bytes(b"left by a killed writer")
    stale_dir = files.temp_name(target)
    stale_dir.mkdir()
    (stale_dir / "blob").write_bytes(b"x")
    live = files.temp_name(target)
    live.write_bytes(b"being written")
    other = tmp_path / ".other.tar.0123456789ab.tmp"  # another target's: not ours to clean
    other.write_bytes(b"x")
    mine = tmp_path / ".img.tar.notours.tmp"  # not of our naming
    mine.write_bytes(b"x")
    with open(live, "rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        files.atomic_write(target, b"image", "--output")
    assert sorted(os.listdir(tmp_path)) == sorted(["img.tar", live.name, other.name, mine.name])


def _image() -> Image:
    tree = Tree()
    tree.add_file("hello", b"hi\n")
    layer = layer_from_tree(tree, mtime=0)
    config = ImageConfig(entrypoint=("/hello",), created=0)
    return new_image(architecture("amd64").platform, config, (layer,))


def _write_layouts(target: str, image: Image, tag: str, rounds: int) -> None:
    for _ in range(rounds):
        write_layout(Path(target), image, tags=[tag])


def test_a_layout_being_swapped_is_never_taken_for_a_foreign_directory(tmp_path: Path) -> None:
    """Another writer puts its layout in place with two renames (the old one aside, the new
    one in); the check of the target, which runs before the lock is taken, must see the old
    layout, the new one or nothing, never a mix of them."""
    target = tmp_path / "oci"
    spare, aside = tmp_path / "spare", tmp_path / "aside"
    for layout in (target, spare):
        (layout / "blobs").mkdir(parents=True)
        (layout / "oci-layout").write_text("{}")
    done = threading.Event()

    def swap() -> None:
        while not done.is_set():
            os.rename(target, aside)
            os.rename(spare, target)
            os.rename(aside, spare)

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        for _ in range(5000):
            check_layout_target(target)
    finally:
        done.set()
        swapper.join()


def test_concurrent_writers_of_one_layout_take_turns(tmp_path: Path) -> None:
    target = tmp_path / "oci"
    # Made here, not in the children: a forked child must not use the compression threads
    # of its parent, which it does not have.
    image = _image()
    context = multiprocessing.get_context("fork")
    writers = [
        context.Process(target=_write_layouts, args=(str(target), image, f"app:{i}", 15))
        for i in range(3)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    for writer in writers:
        if writer.is_alive():
            writer.kill()
    assert [w.exitcode for w in writers] == [0, 0, 0]
    assert os.listdir(tmp_path) == ["oci"]
    assert (target / "oci-layout").is_file()
    assert (target / "index.json").is_file()
