import re

import pytest

from pydistroless.debian.index import (
    IndexText,
    LazyPackageIndex,
    PackageIndex,
    _package_lines,
    parse_packages,
)
from pydistroless.debian.resolve import Requirement, resolve

MAIN = b"""Package: app
Version: 1.0
Architecture: amd64
Depends: libfoo (>= 2), mail-transport-agent
Filename: pool/a/app_1.0_amd64.deb
Size: 10
SHA256: aa
Description: an app
 with a long description

Package: libfoo
Version: 2.0
Architecture: amd64
Filename: pool/l/libfoo_2.0_amd64.deb
Size: 11
SHA256: bb

Package: postfix
Version: 3.0
Architecture: amd64
Provides: mail-transport-agent, default-mta (= 3.0)
Filename: pool/p/postfix_3.0_amd64.deb
Size: 12
SHA256: cc
"""
SECURITY = b"""Package: libfoo
Version: 2.0+deb13u1
Architecture: amd64
Filename: pool/l/libfoo_2.0+deb13u1_amd64.deb
Size: 13
SHA256: dd
"""


def test_lazy_index_answers_like_the_eager_one():
    texts = [
        IndexText(MAIN, "trixie", ("http://m.invalid/d",)),
        IndexText(SECURITY, "trixie-security", ("http://s.invalid/d",)),
    ]
    lazy = LazyPackageIndex(texts)
    eager = PackageIndex(
        [r for t in texts for r in parse_packages(t.text, suite=t.suite, base_urls=t.base_urls)]
    )
    for name in ("app", "libfoo", "postfix", "missing"):
        assert lazy.candidates(name) == eager.candidates(name)
    assert lazy.providers_of("mail-transport-agent") == eager.providers_of("mail-transport-agent")
    assert [p.version for p in lazy.providers_of("default-mta")] == ["3.0"]
    assert set(lazy.names()) == {"app", "libfoo", "postfix"}
    resolution = resolve(lazy, [Requirement("app")])
    chosen = {p.name: (p.version, p.suite) for p in resolution.packages}
    assert chosen == {
        "app": ("1.0", "trixie"),
        "libfoo": ("2.0+deb13u1", "trixie-security"),
        "postfix": ("3.0", "trixie"),
    }
    assert lazy.candidates("libfoo")[0].urls == (
        "http://s.invalid/d/pool/l/libfoo_2.0+deb13u1_amd64.deb",
    )


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"Package: a\nVersion: 1\n\nPackage: b \nVersion: 2\n",
        b"\nPackage: a\nDescription: x\n Package: not-a-paragraph\n\nPackage: c",
        b"Source: x\n\nPackage: d\t\n",
        b"Packages: no\nPackage:e\n",
    ],
    ids=["empty", "two", "continuation", "leading-field", "lookalikes"],
)
def test_package_lines_are_those_a_line_regex_finds(text):
    line = re.compile(rb"^Package: (\S+)[ \t]*$", re.M)
    expected = [(m.group(1), m.start()) for m in line.finditer(text)]
    assert list(_package_lines(text)) == expected
