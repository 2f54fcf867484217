"""Software bills of materials: SPDX 2.3 JSON (default) and CycloneDX 1.5 JSON.

An SBOM lists every Debian package in the image with its exact version, a purl
(``pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-N``), where it was downloaded from, its
SHA256 and its licence as declared in the package's machine-readable copyright file. Both
formats are plain JSON documents built from plain data here; the tests validate them with
``spdx-tools`` and ``cyclonedx-python-lib``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from pydistroless import __version__
from pydistroless.core.errors import UsageError
from pydistroless.core.timestamps import rfc3339

FORMATS = ("spdx", "cyclonedx")
SBOM_DIR = "usr/share/sbom"

# Debian short licence names (DEP-5) and their SPDX identifiers, for the common ones.
_SPDX_IDS = {
    "apache-2.0": "Apache-2.0",
    "artistic": "Artistic-1.0-Perl",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "cc0-1.0": "CC0-1.0",
    "expat": "MIT",
    "mit": "MIT",
    "gfdl-1.3+": "GFDL-1.3-or-later",
    "gpl-1+": "GPL-1.0-or-later",
    "gpl-2": "GPL-2.0-only",
    "gpl-2+": "GPL-2.0-or-later",
    "gpl-3": "GPL-3.0-only",
    "gpl-3+": "GPL-3.0-or-later",
    "isc": "ISC",
    "lgpl-2": "LGPL-2.0-only",
    "lgpl-2+": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only",
    "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3": "LGPL-3.0-only",
    "lgpl-3+": "LGPL-3.0-or-later",
    "mpl-2.0": "MPL-2.0",
    "openssl": "OpenSSL",
    "psf-2": "PSF-2.0",
    "python": "Python-2.0",
    "zlib": "Zlib",
    "x11": "X11",
    "curl": "curl",
    "bzip2-1.0.6": "bzip2-1.0.6",
}


@dataclass(frozen=True)
class SbomPackage:
    name: str
    version: str
    architecture: str
    source: str
    source_version: str
    url: str
    sha256: str
    licenses: tuple[str, ...]  # Debian short names from the copyright file


@dataclass(frozen=True)
class SbomSubject:
    """What the SBOM describes: one image for one architecture."""

    name: str  # pydistroless/python:3.13-debian13
    arch: str
    debian_major: str
    created: int  # epoch seconds


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--sbom-format {fmt!r} is unknown; use one of {', '.join(FORMATS)}")


def licenses_from_copyright(text: str) -> tuple[str, ...]:
    """Short licence names from a DEP-5 copyright file's ``License:`` lines, in order. A
    free-form copyright file (no ``Format:`` header) declares nothing machine-readable."""
    seen: list[str] = []
    if not text.startswith("Format:"):
        return ()
    for line in text.splitlines():
        if line.startswith("License:"):
            for name in re.split(r"\s+(?:or|and)\s+|\s*,\s*|\s*\|\s*", line[8:].strip()):
                name = name.strip("() ")
                if name and name not in seen:
                    seen.append(name)
    return tuple(seen)


def purl(package: SbomPackage, debian_major: str) -> str:
    return (
        f"pkg:deb/debian/{quote(package.name)}@{quote(package.version, safe='')}"
        f"?arch={package.architecture}&distro=debian-{debian_major}"
    )


def spdx_license(names: Sequence[str]) -> tuple[str, list[str]]:
    """An SPDX expression for the declared licences, and the LicenseRef ids it uses."""
    ids: list[str] = []
    refs: list[str] = []
    for name in names:
        known = _SPDX_IDS.get(name.lower())
        if known is None:
            known = "LicenseRef-" + re.sub(r"[^A-Za-z0-9.-]", "-", name)
            refs.append(known)
        if known not in ids:
            ids.append(known)
    if not ids:
        return "NOASSERTION", []
    return " AND ".join(ids), sorted(set(refs))


def _spdx_id(name: str) -> str:
    return "SPDXRef-Package-deb-" + re.sub(r"[^A-Za-z0-9.-]", "-", name)


def spdx(subject: SbomSubject, packages: Sequence[SbomPackage]) -> bytes:
    described = "SPDXRef-Image"
    entries = []
    relationships = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": described,
        }
    ]
    refs: set[str] = set()
    for package in sorted(packages, key=lambda p: p.name):
        declared, used_refs = spdx_license(package.licenses)
        refs.update(used_refs)
        entries.append(
            {
                "SPDXID": _spdx_id(package.name),
                "name": package.name,
                "versionInfo": package.version,
                "supplier": "Organization: Debian",
                "downloadLocation": package.url,
                "filesAnalyzed": False,
                "checksums": [{"algorithm": "SHA256", "checksumValue": package.sha256}],
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": declared,
                "copyrightText": "NOASSERTION",
                "sourceInfo": f"built from Debian source package {package.source} "
                f"{package.source_version}",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": purl(package, subject.debian_major),
                    }
                ],
            }
        )
        relationships.append(
            {
                "spdxElementId": described,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": _spdx_id(package.name),
            }
        )
    image = {
        "SPDXID": described,
        "name": subject.name,
        "versionInfo": subject.arch,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
    }
    body = [p["name"] + p["versionInfo"] + p["checksums"][0]["checksumValue"] for p in entries]
    namespace_id = uuid.uuid5(uuid.NAMESPACE_URL, subject.name + subject.arch + "".join(body))
    document = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{subject.name} ({subject.arch})",
        "documentNamespace": f"https://spdx.org/spdxdocs/pydistroless-{namespace_id}",
        "creationInfo": {
            "created": rfc3339(subject.created),
            "creators": [f"Tool: pydistroless-{__version__}"],
        },
        "packages": [image, *entries],
        "relationships": relationships,
    }
    if refs:
        document["hasExtractedLicensingInfos"] = [
            {
                "licenseId": ref,
                "extractedText": "See the package's /usr/share/doc/<package>/copyright file "
                f"for the licence Debian calls {ref.removeprefix('LicenseRef-')!r}.",
            }
            for ref in sorted(refs)
        ]
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def cyclonedx(subject: SbomSubject, packages: Sequence[SbomPackage]) -> bytes:
    components = []
    for package in sorted(packages, key=lambda p: p.name):
        ref = purl(package, subject.debian_major)
        declared, _ = spdx_license(package.licenses)
        component: dict = {
            "type": "library",
            "bom-ref": ref,
            "name": package.name,
            "version": package.version,
            "publisher": "Debian",
            "purl": ref,
            "hashes": [{"alg": "SHA-256", "content": package.sha256}],
            "externalReferences": [{"type": "distribution", "url": package.url}],
        }
        if declared != "NOASSERTION":
            component["licenses"] = [{"expression": declared}]
        components.append(component)
    serial = uuid.uuid5(
        uuid.NAMESPACE_URL, subject.name + subject.arch + "".join(c["purl"] for c in components)
    )
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(subject.created),
            "tools": {
                "components": [
                    {"type": "application", "name": "pydistroless", "version": __version__}
                ]
            },
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": subject.name,
                "version": subject.arch,
            },
        },
        "components": components,
        "dependencies": [{"ref": "image", "dependsOn": [c["bom-ref"] for c in components]}],
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def render(fmt: str, subject: SbomSubject, packages: Sequence[SbomPackage]) -> bytes:
    check_format(fmt)
    return spdx(subject, packages) if fmt == "spdx" else cyclonedx(subject, packages)


def file_name(fmt: str) -> str:
    return "pydistroless.spdx.json" if fmt == "spdx" else "pydistroless.cdx.json"


@dataclass(frozen=True)
class PythonPackage:
    """A distribution installed from a wheel (``pkg:pypi/...``), or from a wheel built from
    its source distribution when the index had no wheel for the target."""

    name: str
    version: str
    sha256: str  # of the file downloaded: the wheel, or the sdist
    wheel: str  # its file name
    url: str = ""  # where it was downloaded from
    # The file a direct reference named (not an index's release): its URL, without a login,
    # goes into the SBOM, which otherwise names the package by its purl alone.
    direct: bool = False

    @property
    def source_info(self) -> str:
        if self.wheel.endswith(".whl"):
            return f"installed from the wheel {self.wheel}"
        return f"built from the source distribution {self.wheel} and installed"


def pypi_purl(package: PythonPackage) -> str:
    return f"pkg:pypi/{package.name.lower().replace('_', '-')}@{package.version}"


def add_packages(
    document: bytes | None,
    packages: Sequence[PythonPackage],
    *,
    fmt: str,
    subject: SbomSubject,
    debian: Sequence[SbomPackage] = (),
) -> bytes:
    """The SBOM of an app image: the base's document (None: a base without one, so a new
    document) with the Debian packages the app added and its Python distributions, named
    after the app."""
    check_format(fmt)
    base = json.loads(document) if document else json.loads(render(fmt, subject, []))
    added = json.loads(render(fmt, subject, debian)) if debian else None
    if fmt == "spdx" and "spdxVersion" in base:
        if added is not None:
            base["packages"] += [p for p in added["packages"] if p["SPDXID"] != "SPDXRef-Image"]
            base["relationships"] += [
                r for r in added["relationships"] if r["relationshipType"] == "CONTAINS"
            ]
        return _add_spdx(base, packages, subject)
    if fmt == "cyclonedx" and base.get("bomFormat") == "CycloneDX":
        if added is not None:
            base["components"] = [*base.get("components", []), *added["components"]]
            refs = [c["bom-ref"] for c in added["components"]]
            for dependency in base.get("dependencies", []):
                if dependency.get("ref") == "image":
                    dependency["dependsOn"] = [*dependency.get("dependsOn", []), *refs]
        return _add_cyclonedx(base, packages, subject)
    raise UsageError(f"the base image's SBOM is not {fmt}; build the app with the base's format")


def _add_spdx(document: dict, packages: Sequence[PythonPackage], subject: SbomSubject) -> bytes:
    described = "SPDXRef-Image"
    for package in sorted(packages, key=lambda p: p.name):
        ident = f"SPDXRef-pypi-{re.sub(r'[^A-Za-z0-9.-]', '-', package.name)}"
        document["packages"].append(
            {
                "SPDXID": ident,
                "name": package.name,
                "versionInfo": package.version,
                "downloadLocation": package.url if package.direct else "NOASSERTION",
                "filesAnalyzed": False,
                "checksums": [{"algorithm": "SHA256", "checksumValue": package.sha256}],
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": "NOASSERTION",
                "copyrightText": "NOASSERTION",
                "sourceInfo": package.source_info,
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": pypi_purl(package),
                    }
                ],
            }
        )
        document["relationships"].append(
            {
                "spdxElementId": described,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": ident,
            }
        )
    for entry in document["packages"]:
        if entry.get("SPDXID") == described:
            entry["name"] = subject.name
    body = "".join(p["name"] + str(p.get("versionInfo")) for p in document["packages"])
    namespace_id = uuid.uuid5(uuid.NAMESPACE_URL, subject.name + subject.arch + body)
    document["name"] = f"{subject.name} ({subject.arch})"
    document["documentNamespace"] = f"https://spdx.org/spdxdocs/pydistroless-{namespace_id}"
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def _add_cyclonedx(
    document: dict, packages: Sequence[PythonPackage], subject: SbomSubject
) -> bytes:
    added = []
    for package in sorted(packages, key=lambda p: p.name):
        ref = pypi_purl(package)
        component = {
            "type": "library",
            "bom-ref": ref,
            "name": package.name,
            "version": package.version,
            "purl": ref,
            "hashes": [{"alg": "SHA-256", "content": package.sha256}],
        }
        if package.direct:
            component["externalReferences"] = [{"type": "distribution", "url": package.url}]
        added.append(component)
    document["components"] = [*document.get("components", []), *added]
    for dependency in document.get("dependencies", []):
        if dependency.get("ref") == "image":
            dependency["dependsOn"] = [
                *dependency.get("dependsOn", []),
                *(c["bom-ref"] for c in added),
            ]
    document["metadata"]["component"]["name"] = subject.name
    serial = uuid.uuid5(
        uuid.NAMESPACE_URL,
        subject.name + subject.arch + "".join(c["purl"] for c in document["components"]),
    )
    document["serialNumber"] = f"urn:uuid:{serial}"
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class UpstreamPython:
    """CPython compiled from its upstream tarball, which no Debian package describes."""

    version: str  # "3.13.15"
    url: str | None  # the tarball's, if it was downloaded (not given as a local file)
    sha256: str  # the tarball's


def cpython_purl(python: UpstreamPython) -> str:
    if python.url is None:
        return f"pkg:generic/python@{python.version}"
    return f"pkg:generic/python@{python.version}?download_url={quote(python.url, safe='')}"


def cpython_cpes(python: UpstreamPython) -> tuple[str, str]:
    """The names the NVD has given CPython's vulnerabilities (the current vendor first, then
    the one older records use), which scanners match on; syft reports the same two."""
    return (
        f"cpe:2.3:a:python:python:{python.version}:*:*:*:*:*:*:*",
        f"cpe:2.3:a:python_software_foundation:python:{python.version}:*:*:*:*:*:*:*",
    )


def add_cpython(document: bytes, python: UpstreamPython, *, fmt: str) -> bytes:
    """The base's SBOM with the CPython it was compiled with, beside its Debian packages."""
    data = json.loads(document)
    if fmt == "spdx":
        ident = "SPDXRef-cpython"
        data["packages"].append(
            {
                "SPDXID": ident,
                "name": "python",
                "versionInfo": python.version,
                "supplier": "Organization: Python Software Foundation",
                "downloadLocation": python.url or "NOASSERTION",
                "filesAnalyzed": False,
                "checksums": [{"algorithm": "SHA256", "checksumValue": python.sha256}],
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": "PSF-2.0",
                "copyrightText": "NOASSERTION",
                "sourceInfo": "compiled by pydistroless from the upstream tarball",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": cpython_purl(python),
                    },
                    *(
                        {
                            "referenceCategory": "SECURITY",
                            "referenceType": "cpe23Type",
                            "referenceLocator": cpe,
                        }
                        for cpe in cpython_cpes(python)
                    ),
                ],
            }
        )
        data["relationships"].append(
            {
                "spdxElementId": "SPDXRef-Image",
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": ident,
            }
        )
    else:
        ref = cpython_purl(python)
        data["components"].append(
            {
                "type": "application",
                "bom-ref": ref,
                "name": "python",
                "version": python.version,
                "purl": ref,
                "cpe": cpython_cpes(python)[0],  # CycloneDX has room for one
                "hashes": [{"alg": "SHA-256", "content": python.sha256}],
                "licenses": [{"license": {"id": "PSF-2.0"}}],
                **(
                    {"externalReferences": [{"type": "distribution", "url": python.url}]}
                    if python.url
                    else {}
                ),
            }
        )
        for dependency in data.get("dependencies", []):
            if dependency.get("ref") == "image":
                dependency["dependsOn"] = [*dependency.get("dependsOn", []), ref]
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
