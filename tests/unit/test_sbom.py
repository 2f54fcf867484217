import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from pydistroless.core.errors import UsageError
from pydistroless.recipes import sbom

PACKAGES = [
    sbom.SbomPackage(
        name="libc6",
        version="2.41-12+deb13u5",
        architecture="amd64",
        source="glibc",
        source_version="2.41-12+deb13u5",
        url="http://mirror.invalid/debian/pool/main/g/glibc/libc6_2.41-12+deb13u5_amd64.deb",
        sha256="b" * 64,
        licenses=("LGPL-2.1+", "GPL-2+", "public-domain"),
    ),
    sbom.SbomPackage(
        name="python3.13-minimal",
        version="3.13.5-2+deb13u5",
        architecture="amd64",
        source="python3.13",
        source_version="3.13.5-2+deb13u5",
        url="http://mirror.invalid/debian/pool/main/p/python3.13/python3.13-minimal.deb",
        sha256="a" * 64,
        licenses=("PSF-2",),
    ),
]
SUBJECT = sbom.SbomSubject("pydistroless/python:3.13-debian13", "amd64", "13", 1_700_000_000)


def test_spdx_document_validates(tmp_path):
    path = tmp_path / "image.spdx.json"
    path.write_bytes(sbom.spdx(SUBJECT, PACKAGES))
    document = parse_file(str(path))
    assert validate_full_spdx_document(document) == []
    names = {p.name: p for p in document.packages}
    libc = names["libc6"]
    assert libc.version == "2.41-12+deb13u5"
    assert libc.external_references[0].locator == (
        "pkg:deb/debian/libc6@2.41-12%2Bdeb13u5?arch=amd64&distro=debian-13"
    )
    assert str(libc.license_declared) == (
        "LGPL-2.1-or-later AND GPL-2.0-or-later AND LicenseRef-public-domain"
    )
    assert libc.checksums[0].value == "b" * 64


def test_cyclonedx_document_validates():
    document = sbom.cyclonedx(SUBJECT, PACKAGES)
    errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(document.decode())
    assert errors is None, errors
    data = json.loads(document)
    assert [c["name"] for c in data["components"]] == ["libc6", "python3.13-minimal"]
    assert data["components"][1]["licenses"] == [{"expression": "PSF-2.0"}]


def test_documents_are_deterministic():
    assert sbom.spdx(SUBJECT, PACKAGES) == sbom.spdx(SUBJECT, list(reversed(PACKAGES)))
    assert sbom.cyclonedx(SUBJECT, PACKAGES) == sbom.cyclonedx(SUBJECT, PACKAGES)


def test_licenses_from_dep5_copyright():
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: x\nLicense: GPL-2+ or BSD-3-clause\n\n"
        "Files: b/*\nLicense: Expat\n\nLicense: Expat\n Permission is hereby granted\n"
    )
    assert sbom.licenses_from_copyright(text) == ("GPL-2+", "BSD-3-clause", "Expat")


def test_unknown_format():
    with pytest.raises(UsageError, match="--sbom-format 'xml' is unknown"):
        sbom.check_format("xml")


def test_a_package_built_from_its_sdist_says_so():
    wheel = sbom.PythonPackage("six", "1.16.0", "a" * 64, "six-1.16.0-py2.py3-none-any.whl")
    sdist = sbom.PythonPackage("crcmod", "1.7", "b" * 64, "crcmod-1.7.tar.gz")
    assert wheel.source_info == "installed from the wheel six-1.16.0-py2.py3-none-any.whl"
    assert sdist.source_info == "built from the source distribution crcmod-1.7.tar.gz and installed"
