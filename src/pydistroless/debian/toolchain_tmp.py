"""The Debian packages that compile C: for the builder tree CPython is compiled in, and for the
builder image, where users compile their dependencies' extension modules.

Plain data, imported by both (and by nothing else), so that the two stay one list.
"""

from __future__ import annotations

# The C and C++ compilers, the linker and the tools a setup.py or a Makefile calls directly.
COMPILERS = ("gcc", "g++", "make", "libc6-dev", "binutils", "pkgconf")

# What a configure script runs besides the compilers. The builder tree needs them by name: the
# resolver leaves them out of images, where nothing runs. (The builder image has busybox.)
SHELL_TOOLS = (
    "dash",
    "bash",
    "coreutils",
    "sed",
    "grep",
    "mawk",
    "findutils",
    "diffutils",
    "tar",
    "xz-utils",
    "gzip",
    "libc-bin",
)

# What CPython's optional modules link against (ssl, ctypes, sqlite3, zlib, bz2, lzma, zstd,
# readline and curses, dbm, uuid, pyexpat, decimal): the headers extension modules of
# third-party packages most often want too.
CPYTHON_HEADERS = (
    "libssl-dev",
    "libffi-dev",
    "libsqlite3-dev",
    "zlib1g-dev",
    "libbz2-dev",
    "liblzma-dev",
    "libzstd-dev",
    "libreadline-dev",
    "libncurses-dev",
    "libgdbm-dev",
    "libgdbm-compat-dev",
    "uuid-dev",
    "libexpat1-dev",
    "libmpdec-dev",
)

# The target architecture's part of a cross-compiling builder tree: its C library and the
# libraries and headers above, in their multiarch folders beside the host's (Debian's way of
# cross-building), with the pkg-config that looks there. Only the Multi-Arch: same packages
# of their closure are taken; the host's copies of the others (tools, arch: all) serve both.
CROSS_TARGET = ("libc6-dev", "pkgconf", *CPYTHON_HEADERS)


def cross_compilers(gnu_type: str) -> tuple[str, ...]:
    """Debian's cross toolchain from the host to the GNU system type ``gnu_type``."""
    return (f"gcc-{gnu_type}", f"binutils-{gnu_type}")


# The Python tools the builder image carries, installed from their wheels for its Python.
PYTHON_TOOLS = ("pip", "setuptools", "wheel", "uv", "poetry", "pipenv")
