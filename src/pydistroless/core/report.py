"""What the tool says while it works: progress notes on stderr, with no login in them."""

from __future__ import annotations

import re
import sys


def log(message: str) -> None:
    """Progress notes go to stderr, so stdout carries only results (the digest); a login in
    a URL of one never does."""
    # One write per line: threads that log at the same moment must not interleave their text.
    sys.stderr.write(f"{hide_logins(message)}\n")
    sys.stderr.flush()


# A login is whatever precedes the last "@" of a URL's authority, with or without a scheme.
_USERINFO = re.compile(r"(?:(?<=://)|^|(?<=\s))[^/\s]*@")
# Only after a scheme: in free text a bare "name@" is as likely an image's "repo@sha256:".
_URL_USERINFO = re.compile(r"(?<=://)[^/\s?#]*@")


def redact(text: str) -> str:
    """``text`` (a URL, or a line of them) with the login of every URL in it replaced by
    ``***``."""
    return _USERINFO.sub("***@", text)


def hide_logins(text: str) -> str:
    """Any text with the login of every ``scheme://USER:PASS@host`` URL in it replaced by
    ``***``: for report and error lines, which may quote a file, uv or a server."""
    return _URL_USERINFO.sub("***@", text)
