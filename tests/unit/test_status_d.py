"""status.d holds the package's own control paragraph and nothing a package could add."""

from __future__ import annotations

import pytest
from debian.deb822 import Deb822

from pydistroless.core.errors import PackageFormatError
from pydistroless.debian import deb
from pydistroless.debian.deb import DebPackage, read_deb
from pydistroless.debian.status import STATUS_DIR, add_status_d
from pydistroless.fs.tree import Tree
from tests.fixtures import debs
from tests.fixtures.debs import DebSpec, directory, file

FAKE = "Package: openssl\nVersion: 0.9.8a\nStatus: install ok installed\n"


def status_of(control: str, name: str = "zlib1g") -> str:
    tree = Tree()
    add_status_d(tree, [DebPackage(name, control, "", ())])
    return tree.read(f"{STATUS_DIR}/{name}").decode()


def paragraphs(text: str) -> list[dict[str, str]]:
    return [dict(p) for p in Deb822.iter_paragraphs(text.splitlines())]


def assert_one_paragraph(text: str) -> None:
    """As a scanner reads it: one paragraph, every line a field or its continuation."""
    lines = text.split("\n")
    assert lines[-1] == "" and all(lines[:-1]), text  # newline-terminated, no blank line
    for line in lines[:-1]:
        assert line.strip(), text
        assert line[0] in " \t" or ":" in line, text
    assert len(paragraphs(text)) == 1, text


def test_a_second_paragraph_never_reaches_status_d():
    text = status_of(f"Package: zlib1g\nVersion: 1:1.3\n\n{FAKE}")
    assert text == "Package: zlib1g\nVersion: 1:1.3\n"
    assert "openssl" not in text


def test_the_same_from_a_real_deb():
    control = DebSpec("zlib1g").control() + "\n" + FAKE
    data = debs.deb_of_tars(
        DebSpec("zlib1g"),
        [debs.tar_bytes([directory("./")])],
        control_tar=[debs.tar_bytes([directory("./"), file("./control", control)])],
    )
    package = read_deb(data, name="zlib1g")
    assert "openssl" not in package.control
    assert paragraphs(package.control) == paragraphs(DebSpec("zlib1g").control())


@pytest.mark.parametrize(
    "control",
    [
        f"Package: zlib1g\nDescription: x\n \n{FAKE}",  # a line of spaces ends a paragraph
        f"Package: zlib1g\nDescription: x\n\t\n{FAKE}",
        f"Package: zlib1g\nDescription: x\n\n\n\n{FAKE}",
        f"\n\nPackage: zlib1g\nVersion: 1\n\n{FAKE}\n\n{FAKE}",
        f"Package: zlib1g\n# a comment\nVersion: 1\n\n{FAKE}",
    ],
)
def test_blank_lines_and_later_paragraphs_are_dropped(control):
    text = status_of(control)
    assert_one_paragraph(text)
    assert "openssl" not in text and text.startswith("Package: zlib1g\n")


def test_continuation_lines_keep_their_dots_and_indentation():
    control = (
        "Package: zlib1g\nVersion: 1\nDescription: compression library\n"
        " zlib is a library.\n .\n  verbatim line\n\tlast\n"
    )
    assert status_of(control) == control


def test_a_value_with_blank_lines_cannot_start_a_paragraph():
    # deb822 never parses such a value; the writer does not rely on that.
    text = deb._paragraph_text({"Package": "zlib1g", "Description": f"x\n\n{FAKE}\n \nlast"})
    assert_one_paragraph(text)
    assert text.count("\n .\n") == 2


@pytest.mark.parametrize("brk", ["\f", "\v", "\r", "\x1c", "\x85", "\u2028", "\u2029"])
def test_line_breaks_only_python_sees_are_refused(brk):
    # deb822 would split "Foo: x<brk>Package: openssl" into two fields and take the second.
    with pytest.raises(PackageFormatError, match="line breaks other than newlines"):
        status_of(f"Package: zlib1g\nDescription: x{brk}Package: openssl\n")


@pytest.mark.parametrize(
    "control", ["Version: 1\n", "", "\n\n", f"Version: 1\n\n{FAKE}", "Package: \n"]
)
def test_a_control_whose_first_paragraph_has_no_package_is_refused(control):
    with pytest.raises(PackageFormatError, match="no Package field"):
        status_of(control)


def test_a_control_naming_another_package_is_refused():
    with pytest.raises(PackageFormatError, match="names package 'openssl'"):
        status_of(FAKE)


def test_a_field_name_debian_does_not_allow_is_refused():
    with pytest.raises(PackageFormatError, match="field named"):
        status_of("Package: zlib1g\n-Evil: 1\n")
