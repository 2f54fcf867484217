"""Wheels are checked before a byte is extracted: their size against their RECORD and against
the caps, their METADATA's name against the pin they were downloaded for."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import struct
import zipfile
from pathlib import Path

import pytest

from pydistroless.core.arch import architecture
from pydistroless.core.errors import PackageFormatError
from pydistroless.python import install
from pydistroless.python.runtime import Target

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
SMALL = install.WheelLimits(file=1 << 20, total=3 << 20, ratio=200, ratio_from=64 << 10)


def _wheel(
    folder: Path,
    files: dict[str, bytes],
    *,
    name: str = "demo",
    meta_name: str | None = None,
    record_sizes: dict[str, int] | None = None,
) -> Path:
    """A wheel of ``files``, its RECORD right unless ``record_sizes`` says otherwise."""
    info = f"{name}-1.0.dist-info"
    files = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {meta_name or name}\nVersion: 1.0\n"
        "\nA description: Name: not this one\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        size = (record_sizes or {}).get(path, len(data))
        lines.append(f"{path},sha256={digest},{size}\n")
    lines.append(f"{info}/RECORD,,\n")
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in files.items():
            archive.writestr(member, data)
        archive.writestr(f"{info}/RECORD", "".join(lines))
    return path


def test_a_good_wheel_installs(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"demo/__init__.py": b"X = 1\n", "demo/data.bin": bytes(1000)})
    done = install.install_wheel(wheel, "demo", "1.0", TARGET, limits=SMALL)
    assert done.tree.read(f"{TARGET.site_packages.lstrip('/')}/demo/__init__.py") == b"X = 1\n"


def test_a_file_past_the_cap_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"demo/big.bin": bytes(2 << 20)})
    with pytest.raises(PackageFormatError, match=r"demo/big\.bin unpacks to 2097152 bytes") as exc:
        install.install_wheel(wheel, "demo", "1.0", TARGET, limits=SMALL)
    assert exc.value.exit_code == 7


def test_a_wheel_past_the_total_cap_is_refused(tmp_path: Path) -> None:
    noise = random.Random(0).randbytes(900 << 10)  # incompressible: no bomb, only large
    files = {f"demo/{n}.bin": noise for n in range(4)}
    wheel = _wheel(tmp_path, files)
    with pytest.raises(PackageFormatError, match=r"unpacks to \d+ bytes, more than the 3 MiB"):
        install.install_wheel(wheel, "demo", "1.0", TARGET, limits=SMALL)


def test_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"demo/zeros": bytes(900 << 10)})  # inflates about 900 times
    with pytest.raises(PackageFormatError, match="a zip bomb, refused"):
        install.install_wheel(wheel, "demo", "1.0", TARGET, limits=SMALL)


def test_a_real_zip_bomb_is_refused_by_the_default_limits(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"demo/zeros": bytes(80 << 20)})
    assert wheel.stat().st_size < 200_000
    with pytest.raises(PackageFormatError, match="a zip bomb, refused"):
        install.install_wheel(wheel, "demo", "1.0", TARGET)


def test_a_wheel_whose_directory_claims_3_gib_is_refused_before_extracting(
    tmp_path: Path,
) -> None:
    """The zip directory says 3 GiB: refused by the default caps without inflating a byte."""
    wheel = _wheel(tmp_path, {"demo/huge.bin": b"x" * 100})
    raw = bytearray(wheel.read_bytes())
    name = b"demo/huge.bin"
    central = raw.index(b"PK\x01\x02")
    while raw[central + 46 : central + 46 + len(name)] != name:
        central = raw.index(b"PK\x01\x02", central + 4)
    raw[central + 24 : central + 28] = struct.pack("<I", 3 << 30)
    wheel.write_bytes(bytes(raw))
    with pytest.raises(PackageFormatError, match="unpacks to 3221225472 bytes"):
        install.install_wheel(wheel, "demo", "1.0", TARGET)


def test_a_size_that_differs_from_the_record_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"demo/a.py": b"x" * 50}, record_sizes={"demo/a.py": 10})
    with pytest.raises(PackageFormatError, match="unpacks to 50 bytes, but its RECORD says 10"):
        install.install_wheel(wheel, "demo", "1.0", TARGET, limits=SMALL)


def test_a_wheel_of_another_package_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"evil/__init__.py": b""}, name="requests", meta_name="evil")
    with pytest.raises(PackageFormatError, match="its METADATA names 'evil', not requests"):
        install.install_wheel(wheel, "requests", "1.0", TARGET)
    # The name is compared normalized, as PEP 503 has it.
    wheel = _wheel(tmp_path, {"z/__init__.py": b""}, name="Zope_Interface")
    install.install_wheel(wheel, "zope-interface", "1.0", TARGET)


@pytest.mark.parametrize(
    "data", [b"not a zip", b"PK\x03\x04" + bytes(30)], ids=["text", "truncated"]
)
def test_what_is_not_a_wheel_is_one_line(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    path.write_bytes(data)
    with pytest.raises(PackageFormatError, match="is not a zip archive"):
        install.install_wheel(path, "demo", "1.0", TARGET)


def test_a_wheel_without_metadata_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demo-1.0.dist-info/RECORD", "")
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(PackageFormatError, match=r"has no demo-1\.0\.dist-info/METADATA"):
        install.install_wheel(path, "demo", "1.0", TARGET)
