import ssl
from pathlib import Path

import pytest

from pydistroless.core.errors import UsageError
from pydistroless.fs import generate
from pydistroless.fs.tree import Kind, Tree
from tests.fixtures.tls import make_ca


def test_accounts_match_googles_distroless():
    tree = Tree()
    generate.add_accounts(tree, 65532)
    passwd = tree.read("etc/passwd").decode()
    assert "root:x:0:0:root:/root:/sbin/nologin\n" in passwd
    assert "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" in passwd
    assert "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n" in passwd
    group = tree.read("etc/group").decode()
    for line in ("root:x:0:", "tty:x:5:", "staff:x:50:", "nonroot:x:65532:", "nobody:x:65534:"):
        assert line + "\n" in group
    home = tree.get("home/nonroot")
    assert (home.mode, home.uid, home.gid) == (0o700, 65532, 65532)
    assert tree.get("tmp").mode == 0o1777
    assert tree.get("root").mode == 0o700


def test_other_uid_gets_its_own_account():
    tree = Tree()
    generate.add_accounts(tree, 1000)
    assert (
        "user1000:x:1000:1000:user1000:/home/user1000:/sbin/nologin"
        in tree.read("etc/passwd").decode()
    )
    assert tree.get("home/user1000").uid == 1000


def test_ca_bundle_concatenates_certificates_and_extra_ones():
    tree = Tree()
    tree.add_file("usr/share/ca-certificates/mozilla/B.crt", b"B\n")
    tree.add_file("usr/share/ca-certificates/mozilla/A.crt", b"A")
    assert generate.add_ca_bundle(tree, [("corp", b"C\n")]) == 3
    assert tree.read(generate.CA_BUNDLE) == b"A\nB\nC\n"
    assert tree.read("usr/local/share/ca-certificates/corp.crt") == b"C\n"
    assert tree.read("usr/lib/ssl/cert.pem") == b"A\nB\nC\n"


def test_extra_cert_must_be_pem(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(UsageError, match="holds no PEM certificate"):
        generate.read_extra_certs([bad])
    with pytest.raises(UsageError, match="cannot read --ca-cert"):
        generate.read_extra_certs([tmp_path / "missing.pem"])


def test_extra_cert_keeps_only_certificates(tmp_path):
    ca = make_ca(tmp_path, "corp")
    cert = ca.cert.read_bytes()
    mixed = tmp_path / "mixed.pem"
    garbage = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    mixed.write_bytes(b"some text\n" + cert + ca.key.read_bytes() + garbage + b"trailer\n")
    (parsed,) = generate.read_extra_certs([mixed])
    assert parsed.count == 1
    assert parsed.pem.count(b"-----BEGIN CERTIFICATE-----") == 1
    assert b"PRIVATE KEY" not in parsed.pem
    assert b"some text" not in parsed.pem and b"trailer" not in parsed.pem
    assert parsed.skipped == ("PRIVATE KEY", "CERTIFICATE that is not a valid X.509 certificate")
    # The certificate kept is the one given, re-encoded: the same DER inside.
    assert ssl.PEM_cert_to_DER_cert(parsed.pem.decode()) == ssl.PEM_cert_to_DER_cert(cert.decode())


def test_extra_cert_with_only_a_key_or_garbage_is_refused(tmp_path):
    ca = make_ca(tmp_path, "corp")
    with pytest.raises(UsageError, match="holds no PEM certificate"):
        generate.read_extra_certs([ca.key])
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
    with pytest.raises(UsageError, match="holds no PEM certificate"):
        generate.read_extra_certs([garbage])


def test_extra_cert_is_read_with_a_bound():
    with pytest.raises(UsageError, match="larger than 4 MiB"):
        generate.read_extra_certs([Path("/dev/zero")])


def test_os_release_carries_what_scanners_read():
    info = generate.OsInfo("13", "13.8", "trixie", "Python 3.13")
    text = generate.os_release(info)
    assert "ID=debian\n" in text
    assert 'VERSION_ID="13"\n' in text
    assert 'VERSION="13 (trixie)"\n' in text
    tree = Tree()
    tree.add_file("usr/share/zoneinfo/Etc/UTC", b"TZif")
    generate.add_system_files(tree, info)
    assert tree.get("etc/os-release").target == "../usr/lib/os-release"
    assert tree.read("etc/os-release") == text.encode()
    assert tree.read("etc/debian_version") == b"13.8\n"
    assert tree.read("etc/localtime") == b"TZif"
    assert b"hosts:          files dns" in tree.read("etc/nsswitch.conf")


def test_busybox_applets_are_read_from_the_name_table():
    binary = b"\x00junk\x20[\x00[[\x00ash\x00cat\x00sh\x00\x01\x02"
    assert generate.busybox_applets(binary) == ["[", "[[", "ash", "cat", "sh"]
    tree = Tree()
    tree.add_file("usr/bin/busybox", binary, 0o755)
    assert generate.add_busybox_links(tree) == 5
    assert tree.get("busybox/sh").kind is Kind.SYMLINK
    assert tree.read("busybox/sh") == binary


def test_debug_variant_without_busybox_is_an_error():
    with pytest.raises(UsageError, match="needs busybox-static"):
        generate.add_busybox_links(Tree())
