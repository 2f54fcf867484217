"""Slices: named groups of files that a container does not need, cut out by default.

Each slice is plain data (shell-style patterns over canonical image paths, ``*`` not crossing
``/`` and ``**`` crossing it); ``--keep NAME`` keeps a slice in. Copyright files are never cut:
``usr/share/doc/*/copyright`` is how Debian ships each package's licence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from pydistroless.core.errors import UsageError
from pydistroless.fs.tree import Kind, Tree


@dataclass(frozen=True)
class Slice:
    name: str
    description: str
    patterns: tuple[str, ...]
    keep: tuple[str, ...] = ()  # patterns inside the slice that are never cut
    # Worked out from the image's content by another stage rather than from patterns.
    computed: bool = False


# Debian's standard library, and that of a Python built from source into /usr/local.
_STDLIBS = ("usr/lib/python3.*", "usr/local/lib/python3.*")


def _stdlib(*paths: str) -> tuple[str, ...]:
    return tuple(f"{stdlib}/{path}" for path in paths for stdlib in _STDLIBS)


SLICES: tuple[Slice, ...] = (
    Slice(
        "docs",
        "package documentation under /usr/share/doc (each copyright file stays)",
        ("usr/share/doc/**", "usr/share/doc-base/**"),
        keep=("usr/share/doc/*/copyright",),
    ),
    Slice("man", "manual pages", ("usr/share/man/**",)),
    Slice("info", "GNU info pages", ("usr/share/info/**",)),
    Slice("lintian", "Debian lintian overrides", ("usr/share/lintian/**",)),
    Slice(
        "debugger",
        "gdb's pretty-printers and auto-load scripts (libstdc++'s): no debugger runs here",
        ("usr/share/gdb/**", "usr/share/gcc/python/**"),
    ),
    Slice(
        "locale",
        "message catalogues (translations of C programs' messages)",
        ("usr/share/locale/**",),
    ),
    Slice(
        "gconv",
        "glibc iconv modules; Python's codecs do not use them",
        ("usr/lib/*/gconv/**",),
    ),
    Slice(
        "shell",
        "files only a shell or a package manager uses: profile scripts, motd, "
        "update-ca-certificates",
        (
            "etc/profile",
            "etc/profile.d/**",
            "etc/update-motd.d/**",
            "etc/motd",
            "etc/issue",
            "etc/issue.net",
            "etc/bash.bashrc",
            "etc/ca-certificates/update.d/**",
            "usr/sbin/update-ca-certificates",
            "usr/share/base-files/**",
            "usr/share/bug/**",
            "usr/share/menu/**",
        ),
    ),
    Slice(
        "libc-tools",
        "glibc's command-line tools (getent, iconv, locale, ldd, zdump, ...); ldconfig stays, "
        "as ctypes.util.find_library runs it",
        tuple(
            f"usr/{d}/{tool}"
            for d, tool in (
                ("bin", "getconf"),
                ("bin", "getent"),
                ("bin", "iconv"),
                ("bin", "ldd"),
                ("bin", "locale"),
                ("bin", "localedef"),
                ("bin", "pldd"),
                ("bin", "tzselect"),
                ("bin", "zdump"),
                ("sbin", "iconvconfig"),
                ("sbin", "zic"),
            )
        ),
    ),
    Slice(
        "test",
        "the standard library's test package and the test-only extension modules",
        _stdlib(
            "test/**",
            "lib-dynload/_test*.so",
            "lib-dynload/_ctypes_test*.so",
            "lib-dynload/_xxtestfuzz*.so",
            "lib-dynload/xxlimited*.so",
            "lib-dynload/xxsubtype*.so",
        ),
    ),
    Slice("idlelib", "the IDLE editor", _stdlib("idlelib/**")),
    Slice(
        "tkinter",
        "Tk bindings and the turtle module built on them (Debian ships Tk separately)",
        _stdlib("tkinter/**", "turtle.py"),
    ),
    Slice("turtledemo", "turtle graphics demos", _stdlib("turtledemo/**")),
    Slice(
        "__phello__",
        "frozen-module test packages",
        _stdlib("__phello__/**", "__hello__.py"),
    ),
    Slice(
        "pydoc-topics",
        "the text of help('keyword') topics for the interactive help; pydoc itself works",
        _stdlib("pydoc_data/**"),
    ),
    Slice(
        "unused-libs",
        "shared libraries that nothing in the image loads, found from the ELF files "
        "(libc6's libmvec and libnsl, ...)",
        (),
        computed=True,
    ),
    Slice(
        "stdlib-sources",
        "the standard library as plain .py files with __pycache__; cut, each module is its "
        ".pyc and the sources are kept compressed in stdlib-sources.zip, which still serves "
        "them to tracebacks and inspect (7 MB less; only when the stdlib is compiled)",
        (),
        computed=True,
    ),
)

SLICE_NAMES = tuple(s.name for s in SLICES)


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("/**", i):
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(pattern: str, path: str) -> bool:
    return _compile(pattern).match(path) is not None


def check_names(names: Iterable[str]) -> None:
    unknown = sorted(set(names) - set(SLICE_NAMES))
    if unknown:
        raise UsageError(
            f"unknown slice {', '.join(unknown)} for --keep; known slices: {', '.join(SLICE_NAMES)}"
        )


def cut(tree: Tree, keep: Iterable[str] = ()) -> dict[str, int]:
    """Remove every pattern slice not in ``keep``. Returns bytes removed per slice. Computed
    slices are cut by the stages that compute them."""
    keep = set(keep)
    check_names(keep)
    removed: dict[str, int] = {}
    for piece in SLICES:
        if piece.name in keep or piece.computed:
            continue
        inside = _union(piece.patterns)
        kept = _union(piece.keep) if piece.keep else None
        paths = [e.path for e in tree.entries() if inside.match(e.path)]
        spared = {p for p in paths if kept is not None and kept.match(p)}
        # A directory stays when something inside it is kept (usr/share/doc/libc6/).
        for path in list(spared):
            parent = path.rpartition("/")[0]
            while parent and parent not in spared:
                spared.add(parent)
                parent = parent.rpartition("/")[0]
        doomed = [p for p in paths if p not in spared]
        removed[piece.name] = sum(
            entry.size for p in doomed if (entry := tree.get(p)) and entry.kind is Kind.FILE
        )
        tree.remove_entries(sorted(doomed, reverse=True))
    return removed


@lru_cache(maxsize=256)
def _union(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{_compile(p).pattern})" for p in patterns))
