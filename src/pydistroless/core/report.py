"""What the tool says while it works: progress notes on stderr, with no login in them."""

from __future__ import annotations

import re
import sys


def log(message: str) -> None:
    """Progress notes go to stderr, so stdout carries only results (the digest)."""
    # One write per line: threads that log at the same moment must not interleave their text.
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


# A login is whatever precedes the last "@" of a URL's authority, with or without a scheme.
_USERINFO = re.compile(r"(?:(?<=://)|^|(?<=\s))[^/\s]*@")


def redact(text: str) -> str:
    """``text`` with the login of every URL in it replaced by ``***``."""
    return _USERINFO.sub("***@", text)
