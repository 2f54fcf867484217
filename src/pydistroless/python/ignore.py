"""Which of a project's files stay out of the image: ``.dockerignore`` read as ``docker build``
reads it, else every ``.gitignore`` of the project as git reads them.

The two differ, and each is followed to the letter:

- **docker** (moby's patternmatcher): one file at the context's root. A pattern is cleaned as
  Go's ``filepath.Clean`` does (``./a`` is ``a``, ``a/`` is ``a``) and a leading ``/`` dropped;
  it always matches from the root, against a file's path or any of its parent folders (``*``
  and ``?`` stop at ``/``, ``**`` crosses folders). The last pattern that matches decides,
  and ``!pattern`` takes a path back in, even below a folder that was left out.
- **git** (gitignore(5)): a ``.gitignore`` in any folder, for the paths below it; the deepest
  file that has a matching pattern decides, and within a file the last pattern that matches. A
  pattern with a ``/`` before its end is anchored to its file's folder, one without matches a
  name at any depth; a trailing ``/`` matches folders only. A left-out folder is never looked
  into, so ``!pattern`` cannot take back a file below one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pydistroless.core.errors import UsageError

# POSIX bracket classes (gitignore's wildmatch), in Python's terms.
_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": " \\t\\n\\r\\f\\v",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}
_NEVER = re.compile(r"(?!)")


@dataclass(frozen=True)
class Pattern:
    """One line of an ignore file, as a regular expression over a relative path."""

    regex: re.Pattern[str]
    negated: bool = False
    dir_only: bool = False
    text: str = ""  # as cleaned, without its "!"

    def matches(self, path: str, *, is_dir: bool) -> bool:
        return (is_dir or not self.dir_only) and self.regex.fullmatch(path) is not None


# ---- docker --------------------------------------------------------------------------------


class DockerIgnore:
    """A ``.dockerignore``: patterns from the context's root, the last match deciding."""

    def __init__(self, text: str, *, where: str = ".dockerignore"):
        self.patterns = tuple(docker_patterns(text, where=where))
        # BuildKit's walk: into a left-out folder only when a "!pattern" may reach below it,
        # which it judges by its text unless one has a wildcard short of a trailing /* or /**.
        self._exceptions = tuple(
            p.text.removesuffix("/**").removesuffix("/*") + "/" for p in self.patterns if p.negated
        )
        self._wild = any(any(c in e for c in "*[]?^\\") for e in self._exceptions)

    def excluded(self, path: str, *, is_dir: bool) -> bool:
        """Whether ``path`` (relative to the root, ``/``-separated) is left out."""
        parents = path.split("/")[:-1]
        prefixes = ["/".join(parents[: i + 1]) for i in range(len(parents))]
        matched = False
        for pattern in self.patterns:
            if pattern.negated != matched:
                continue  # only a negation can change a match, only a pattern a non-match
            hit = pattern.regex.fullmatch(path) is not None or any(
                pattern.regex.fullmatch(prefix) for prefix in prefixes
            )
            if hit:
                matched = not pattern.negated
        return matched

    def looks_into(self, folder: str) -> bool:
        """Whether a left-out ``folder`` may still hold a file a ``!pattern`` takes back."""
        return self._wild or any(e.startswith(f"{folder}/") for e in self._exceptions)


def docker_patterns(text: str, *, where: str = ".dockerignore") -> list[Pattern]:
    """The patterns of a ``.dockerignore`` (moby's ``ignorefile.ReadAll``)."""
    patterns = []
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:].strip()
        if line:
            line = _go_clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        try:
            regex = re.compile(_docker_regex(line))
        except re.error as exc:
            raise UsageError(
                f"{where}:{number}: {raw.strip()!r} is not a valid pattern ({exc}); fix or "
                "remove the line"
            ) from None
        patterns.append(Pattern(regex, negated, text=line))
    return patterns


def _go_clean(path: str) -> str:
    """Go's ``filepath.Clean``: ``.`` and ``..`` parts resolved, repeated and trailing ``/``
    dropped; ``.`` for nothing."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        elif part == ".." and rooted:
            continue
        else:
            parts.append(part)
    cleaned = "/".join(parts)
    return "/" + cleaned if rooted else cleaned or "."


def _docker_regex(pattern: str) -> str:
    """patternmatcher's translation: ``*`` and ``?`` within a name, ``**`` across names
    (``**/`` is ``**``), ``\\`` escapes, brackets as the regular expression's."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*" and pattern[i : i + 1] == "*":
            i += 1
            if pattern[i : i + 1] == "/":
                i += 1
            out.append(".*" if i >= len(pattern) else "(?:.*/)?")
        elif ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            out.append(re.escape(pattern[i]) if i < len(pattern) else "\\\\")
            i += 1
        elif ch == "[":
            klass, i = _bracket(pattern, i, negations="^", slash=True)
            out.append(klass)
        else:
            out.append(re.escape(ch))
    return "".join(out)


# ---- git -----------------------------------------------------------------------------------


class GitIgnore:
    """The ``.gitignore`` files of a tree, read through ``read(folder)`` (the text of the
    folder's ``.gitignore``, or None) as the walk reaches each folder."""

    def __init__(self, read: Callable[[str], str | None]):
        self._read = read
        self._files: dict[str, tuple[Pattern, ...]] = {}

    def _patterns(self, folder: str) -> tuple[Pattern, ...]:
        if folder not in self._files:
            text = self._read(folder)
            self._files[folder] = tuple(git_patterns(text)) if text else ()
        return self._files[folder]

    def excluded(self, path: str, *, is_dir: bool) -> bool:
        """Whether ``path`` is left out, its parent folders having been let in."""
        parts = path.split("/")
        for depth in range(len(parts) - 1, -1, -1):
            relative = "/".join(parts[depth:])
            for pattern in reversed(self._patterns("/".join(parts[:depth]))):
                if pattern.matches(relative, is_dir=is_dir):
                    return not pattern.negated
        return False

    def looks_into(self, folder: str) -> bool:
        """git never looks into a left-out folder."""
        return False


def git_patterns(text: str) -> list[Pattern]:
    """The patterns of one ``.gitignore``, for paths relative to its folder."""
    patterns = []
    for raw in text.removeprefix("\ufeff").splitlines():
        line = _trim_trailing_spaces(raw)
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        body = _git_regex(line.removeprefix("/"))
        try:
            regex = re.compile(body if anchored else f"(?:.*/)?{body}") if body else _NEVER
        except re.error:  # a range backwards, say: wildmatch matches nothing with it
            regex = _NEVER
        patterns.append(Pattern(regex, negated, dir_only))
    return patterns


def _trim_trailing_spaces(line: str) -> str:
    """Trailing spaces go, unless a backslash escapes them (``a\\ ``)."""
    stripped = line.rstrip(" ")
    if len(stripped) < len(line) and stripped.endswith("\\"):
        backslashes = len(stripped) - len(stripped.rstrip("\\"))
        if backslashes % 2:
            return stripped + " "
    return stripped


def _git_regex(pattern: str) -> str:
    """wildmatch with ``WM_PATHNAME``: ``*``, ``?`` and brackets never match ``/``; ``**``
    between slashes (or at an end) is any number of folders, elsewhere a plain ``*``. An empty
    answer: a pattern that can match nothing (an unclosed bracket)."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            j = i
            while j < len(pattern) and pattern[j] == "*":
                j += 1
            whole = (i == 0 or pattern[i - 1] == "/") and (j == len(pattern) or pattern[j] == "/")
            if j - i >= 2 and whole:
                if j == len(pattern):
                    out.append(".*")
                else:
                    out.append("(?:.*/)?")
                    j += 1  # the slash is part of "**/"
            else:
                out.append("[^/]*")
            i = j
            continue
        i += 1
        if ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i >= len(pattern):
                return ""  # a trailing backslash: git matches nothing
            out.append(re.escape(pattern[i]))
            i += 1
        elif ch == "[":
            klass, i = _bracket(pattern, i, negations="!^", slash=False)
            if not klass:
                return ""
            out.append(klass)
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _bracket(pattern: str, start: int, *, negations: str, slash: bool) -> tuple[str, int]:
    """The bracket expression that opens before ``start``, as a Python class, and where the
    pattern goes on; ``("", ...)`` when it is never closed. ``slash``: whether the class may
    match ``/`` (docker's regular expression) or not (git's wildmatch)."""
    i = start
    negated = i < len(pattern) and pattern[i] in negations
    if negated:
        i += 1
    items: list[str] = []
    first = True
    while i < len(pattern):
        ch = pattern[i]
        if ch == "]" and not first:
            body = "".join(items)
            if negated:
                return (f"[^{body}]" if slash else f"[^/{body}]"), i + 1
            return (f"[{body}]" if slash else f"(?!/)[{body}]"), i + 1
        first = False
        if ch == "[" and pattern[i + 1 : i + 2] == ":" and not slash:
            end = pattern.find(":]", i + 2)
            name = pattern[i + 2 : end] if end > 0 else ""
            if name in _CLASSES:
                items.append(_CLASSES[name])
                i = end + 2
                continue
        escaped = ch == "\\" and i + 1 < len(pattern)
        if escaped:
            i += 1
            ch = pattern[i]
        if ch == "-" and not escaped and items and pattern[i + 1 : i + 2] not in ("]", ""):
            items.append("-")  # a range
        else:
            items.append(re.escape(ch))
        i += 1
    if slash:
        raise re.error("missing closing ]")
    return "", i
