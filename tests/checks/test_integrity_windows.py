"""Windows integrity: the WeChat install folder holds only vendor- or Microsoft-signed code,
unchanged since it was signed.

The PE files are built here (DOS header, PE32+ headers, a body) and Authenticode-signed by
`osslsigncode` (Debian's, the tool Linux build farms sign Windows binaries with) under
certificates of a test PKI whose root is passed to the scan as a trust anchor (as
`wxguard check --trust-anchor` does): a signer counts only through a verified chain.
"""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bench.pefiles import pe_file, signed_data, signed_pe
from checks.api import image_scanner
from checks.api import scan_image as _scan_image
from checks.integrity import authenticode, pe
from checks.model import ScanResult
from tests.checks.pki import Pki

TENCENT = "Tencent Technology (Shenzhen) Company Limited"
INSTALL = "Program Files/Tencent/WeChat"
CORE = f"{INSTALL}/[3.9.12.51]"


Signers = dict[str, tuple[x509.Certificate, ec.EllipticCurvePrivateKey]]


PKI = Pki()
CATALOGUE = PKI.catalogue()


@pytest.fixture(scope="module")
def signers() -> Signers:
    return {
        "tencent": PKI.leaf(TENCENT),
        "tencent-nospace": PKI.leaf("Tencent Technology(Shenzhen) Company Limited"),
        "microsoft": PKI.leaf("Microsoft Corporation"),
        "evil": PKI.leaf("Evil Plugins Ltd", "evil.example"),
    }


def signed(signer: tuple[x509.Certificate, Any], **kw: Any) -> bytes:
    """A PE signed by a leaf of the test PKI, carrying its intermediate (as vendors do)."""
    extra = kw.pop("extra", ())
    return signed_pe(*signer, extra=(PKI.ca, *extra), **kw)


def scan_image(root: str, platform: str) -> ScanResult:
    return _scan_image(root, platform, CATALOGUE)


def write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def build_install(root: Path, signers: Signers) -> Path:
    tencent = signed(signers["tencent"])
    write(root, f"{INSTALL}/WeChat.exe", tencent)
    write(root, f"{CORE}/WeChatWin.dll", tencent)
    write(root, f"{CORE}/mmmojo_64.dll", signed(signers["tencent-nospace"], digest="sha1"))
    write(root, f"{CORE}/vcruntime140.dll", signed(signers["microsoft"]))
    write(root, f"{CORE}/resources.dat", b"\x00\x01 not a program")
    write(root, f"{CORE}/notes.txt", b"MZ is how this text happens to start")
    write(root, f"{INSTALL}/Plugins/readme.txt", b"hello")
    (root / "Users" / "alice").mkdir(parents=True)
    return root


def unknown(result: ScanResult, rule_id: str = "windows-unknown-binary") -> dict[str, str]:
    return {e.path: e.detail for f in result.findings if f.rule_id == rule_id for e in f.evidence}


def windows_rules(result: ScanResult) -> list[str]:
    return sorted(f.rule_id for f in result.findings if f.rule_id.startswith("windows-"))


def test_vendor_and_microsoft_signed_install_is_clean(tmp_path: Path, signers: Signers) -> None:
    root = build_install(tmp_path / "img", signers)
    result = scan_image(str(root), "windows")
    assert windows_rules(result) == [], [f.to_json() for f in result.findings]
    assert not [b for b in result.blind_spots if b.probe.startswith("integrity")]


def test_unsigned_dll_in_the_versioned_folder(tmp_path: Path, signers: Signers) -> None:
    root = build_install(tmp_path / "img", signers)
    write(root, f"{CORE}/hook.dll", pe_file())
    found = unknown(scan_image(str(root), "windows"))
    assert list(found) == [f"{CORE}/hook.dll"]
    assert found[f"{CORE}/hook.dll"].startswith(
        "hook.dll: an unsigned program file that is not on the official file list; "
        "期望 expected: 由 Tencent"
    )
    assert found[f"{CORE}/hook.dll"].endswith("实际 found: 未签名 unsigned")


def test_dll_signed_by_another_organisation(tmp_path: Path, signers: Signers) -> None:
    root = build_install(tmp_path / "img", signers)
    write(root, f"{INSTALL}/helper.dll", signed(signers["evil"]))
    detail = unknown(scan_image(str(root), "windows"))[f"{INSTALL}/helper.dll"]
    assert detail.startswith("helper.dll: signed by 'Evil Plugins Ltd', not by Tencent")
    assert "CN=evil.example" in detail


def test_signer_is_the_one_the_signer_info_names(tmp_path: Path, signers: Signers) -> None:
    """Carrying Tencent's certificate along does not make a file Tencent-signed."""
    root = build_install(tmp_path / "img", signers)
    data = signed(signers["evil"], extra=(signers["tencent"][0],))
    write(root, f"{CORE}/WeChatHelper.dll", data)
    assert (
        "signed by 'Evil Plugins Ltd'"
        in unknown(scan_image(str(root), "windows"))[f"{CORE}/WeChatHelper.dll"]
    )


def test_disguised_program_file_found_by_its_header(tmp_path: Path, signers: Signers) -> None:
    root = build_install(tmp_path / "img", signers)
    write(root, f"{CORE}/skin.dat", pe_file())
    assert list(unknown(scan_image(str(root), "windows"))) == [f"{CORE}/skin.dat"]


def test_hijack_dll_name_even_when_unsigned_is_one_finding(
    tmp_path: Path, signers: Signers
) -> None:
    root = build_install(tmp_path / "img", signers)
    write(root, f"{INSTALL}/version.dll", pe_file())
    found = unknown(scan_image(str(root), "windows"))
    assert list(found) == [f"{INSTALL}/version.dll"]
    assert "DLL hijacking" in found[f"{INSTALL}/version.dll"]
    assert "unsigned" in found[f"{INSTALL}/version.dll"]


def test_patcher_backups_and_renamed_exe(tmp_path: Path, signers: Signers) -> None:
    root = build_install(tmp_path / "img", signers)
    original = signed(signers["tencent"])
    write(root, f"{CORE}/WeChatWin.dll.h.bak", original)  # RevokeMsgPatcher
    write(root, f"{CORE}/WeChatWin.bak", original)  # WeChatMO
    main = (root / INSTALL / "WeChat.exe").read_bytes()
    write(root, f"{INSTALL}/WeChat2.exe", main)  # multi-open copy
    result = scan_image(str(root), "windows")
    assert sorted(unknown(result, "windows-patch-backup")) == [
        f"{CORE}/WeChatWin.bak",
        f"{CORE}/WeChatWin.dll.h.bak",
    ]
    assert list(unknown(result, "windows-renamed-client-exe")) == [f"{INSTALL}/WeChat2.exe"]
    assert unknown(result) == {}


def test_signature_pointing_outside_the_file(tmp_path: Path, signers: Signers) -> None:
    root = build_install(tmp_path / "img", signers)
    data = bytearray(signed(signers["tencent"]))
    write(root, f"{CORE}/cut.dll", bytes(data[:-100]))
    assert "cannot be read" in unknown(scan_image(str(root), "windows"))[f"{CORE}/cut.dll"]


@pytest.mark.parametrize(
    "data",
    [
        b"MZ",
        b"MZ" + b"\0" * 58 + struct.pack("<I", 64) + b"PE\0\0" + b"\0" * 16 + b"\xf0\x00",
        b"MZ" + b"\0" * 58 + struct.pack("<I", 64) + b"PE\0\0" + b"\0" * 40,
    ],
)
def test_malformed_pe_is_a_blind_spot_not_a_crash(
    tmp_path: Path,
    signers: Signers,
    data: bytes,
) -> None:
    root = build_install(tmp_path / "img", signers)
    write(root, f"{CORE}/broken.dll", data)
    result = scan_image(str(root), "windows")
    assert f"{CORE}/broken.dll" not in unknown(result)
    assert not [b for b in result.blind_spots if b.what == "the whole probe"]
    if len(data) > 2:
        assert any(b.what.endswith("broken.dll") for b in result.blind_spots)


def test_warm_rescan_reads_no_binary_again(tmp_path: Path, signers: Signers) -> None:
    root = build_install(tmp_path / "img", signers)
    write(root, f"{CORE}/hook.dll", pe_file())
    scanner = image_scanner(str(root), "windows", CATALOGUE)
    cold = scanner.scan()
    warm = scanner.scan()
    assert unknown(cold) == unknown(warm) != {}
    assert cold.stats["files_hashed"] >= 5
    assert warm.stats["files_hashed"] == 0


def _authenticode_digest(data: bytes, algorithm: str = "sha256") -> bytes:
    headers = pe.headers(io.BytesIO(data), len(data))
    assert headers is not None
    return authenticode.image_digest(io.BytesIO(data), len(data), headers, algorithm)


BODY = b"\x90" * 256 + b"if (msg.revoked) hide(msg);" + b"\x90" * 229


def _patch(data: bytes) -> bytes:
    """What an anti-recall patcher does: rewrite a few bytes of code in place."""
    at = data.index(b"if (msg.revoked)")
    return data[:at] + b"if (0          )" + data[at + 16 :]


def tampered(result: ScanResult) -> dict[str, str]:
    return unknown(result, "windows-tampered-binary")


def test_signed_core_dll_patched_in_place(tmp_path: Path, signers: Signers) -> None:
    root = build_install(tmp_path / "img", signers)
    write(root, f"{CORE}/WeChatWin.dll", _patch(signed(signers["tencent"], body=BODY)))
    write(root, f"{CORE}/vcruntime140.dll", _patch(signed(signers["microsoft"], body=BODY)))
    result = scan_image(str(root), "windows")
    found = tampered(result)
    assert sorted(found) == [f"{CORE}/WeChatWin.dll", f"{CORE}/vcruntime140.dll"]
    assert found[f"{CORE}/WeChatWin.dll"].startswith(
        f"WeChatWin.dll: signed by '{TENCENT}' but changed after it was signed: "
        "its sha256 image digest differs from the signed one; "
        "期望 expected: 签名后未被修改 / unchanged since it was signed; 实际 found: changed"
    )
    assert unknown(result) == {}  # one finding per file, under the rule that says what it is
    rule = next(f for f in result.findings if f.rule_id == "windows-tampered-binary")
    assert rule.severity.value == "high" and "补丁" in rule.remediation.zh


def test_patcher_that_also_rewrites_the_signed_digest_is_caught(
    tmp_path: Path, signers: Signers
) -> None:
    """A smarter patcher puts the new image digest into the signature: the signer's
    messageDigest no longer matches; if it rewrites that too, the signature fails."""
    root = build_install(tmp_path / "img", signers)
    original = signed(signers["tencent"], body=BODY)
    patched = _patch(original)
    old, new = _authenticode_digest(original), _authenticode_digest(patched)
    assert patched.count(old) == 1
    digest_swapped = patched.replace(old, new)
    write(root, f"{CORE}/WeChatWin.dll", digest_swapped)
    found = tampered(scan_image(str(root), "windows"))
    assert "the signed digest was replaced" in found[f"{CORE}/WeChatWin.dll"]

    old_attribute = hashlib.sha256(_spc_contents(original)).digest()
    new_attribute = hashlib.sha256(_spc_contents(digest_swapped)).digest()
    assert digest_swapped.count(old_attribute) == 1
    write(root, f"{CORE}/WeChatWin.dll", digest_swapped.replace(old_attribute, new_attribute))
    found = tampered(scan_image(str(root), "windows"))
    assert "signature does not verify" in found[f"{CORE}/WeChatWin.dll"]


def _spc_contents(data: bytes) -> bytes:
    """The signed SpcIndirectDataContent's value, which the messageDigest attribute hashes."""
    headers = pe.headers(io.BytesIO(data), len(data))
    assert headers is not None
    der = pe.signed_data(data[headers.table_offset :])
    assert der is not None
    return bytes(cms.ContentInfo.load(der)["content"]["encap_content_info"]["content"].contents)


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
def test_untouched_files_verify_with_rsa_and_ec_signers(
    tmp_path: Path, signers: Signers, digest: str
) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_cert, _ = signers["tencent"]
    rsa_cert = (
        x509.CertificateBuilder()
        .subject_name(ec_cert.subject)
        .issuer_name(ec_cert.subject)
        .public_key(rsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ec_cert.not_valid_before_utc)
        .not_valid_after(ec_cert.not_valid_after_utc)
        .sign(rsa_key, hashes.SHA256())
    )
    for data in (
        signed(signers["tencent"], body=BODY, digest=digest),
        signed_pe(rsa_cert, rsa_key, body=BODY, digest=digest),
    ):
        assert authenticode.verify_image(io.BytesIO(data), len(data)) == authenticode.ImageCheck(
            True, True
        )
        bad = _patch(data)
        check = authenticode.verify_image(io.BytesIO(bad), len(bad))
        assert check.verified and not check.intact and digest in check.problem


def test_pe_reader_names_the_signer(signers: Signers) -> None:
    data = pe_file(signed_data(*signers["tencent"]))
    sig = pe.inspect(io.BytesIO(data), len(data))
    assert sig.is_pe and sig.signed and sig.signer is not None
    assert sig.signer.organization == TENCENT
    unsigned = pe_file()
    assert pe.inspect(io.BytesIO(unsigned), len(unsigned)) == pe.PeSignature(is_pe=True)
