"""Windows integrity: the WeChat install folder holds only vendor- or Microsoft-signed code.

The PE files are built here (DOS header, PE32+ headers, a certificate table) and signed
with a PKCS#7 SignedData from `cryptography` under self-made certificates: the check reads
who signed, it does not verify the chain, and the tests say exactly that.
"""

from __future__ import annotations

import datetime
import struct
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from checks.api import image_scanner, scan_image
from checks.integrity import pe
from checks.model import ScanResult

TENCENT = "Tencent Technology (Shenzhen) Company Limited"
INSTALL = "Program Files/Tencent/WeChat"
CORE = f"{INSTALL}/[3.9.12.51]"


def certificate(
    org: str, cn: str | None = None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn or org),
        ]
    )
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert, key


Signers = dict[str, tuple[x509.Certificate, ec.EllipticCurvePrivateKey]]


@pytest.fixture(scope="module")
def signers() -> Signers:
    return {
        "tencent": certificate(TENCENT),
        "tencent-nospace": certificate("Tencent Technology(Shenzhen) Company Limited"),
        "microsoft": certificate("Microsoft Corporation"),
        "evil": certificate("Evil Plugins Ltd", "evil.example"),
    }


def signed_data(
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    extra: tuple[x509.Certificate, ...] = (),
) -> bytes:
    builder = pkcs7.PKCS7SignatureBuilder().set_data(b"SpcIndirectDataContent stand-in")
    for other in extra:
        builder = builder.add_certificate(other)
    builder = builder.add_signer(cert, key, hashes.SHA256())
    return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def pe_file(signature: bytes | None = None, body: bytes = b"\x90" * 512) -> bytes:
    """A PE32+ image: DOS header, PE signature, COFF + optional header, body, cert table."""
    dos = bytearray(64)
    dos[:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 64)
    opt = bytearray(240)
    struct.pack_into("<H", opt, 0, 0x20B)
    struct.pack_into("<I", opt, 108, 16)
    coff = struct.pack("<HHIIIHH", 0x8664, 0, 0, 0, 0, len(opt), 0x22)
    image = bytes(dos) + b"PE\0\0" + coff + bytes(opt) + body
    image += b"\0" * (-len(image) % 8)
    if signature is None:
        return image
    entry = struct.pack("<IHH", 8 + len(signature), 0x0200, 2) + signature
    entry += b"\0" * (-len(entry) % 8)
    head = bytearray(image)
    struct.pack_into("<II", head, 64 + 4 + 20 + 112 + 4 * 8, len(image), len(entry))
    return bytes(head) + entry


def write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def build_install(root: Path, signers: Signers) -> Path:
    tencent = pe_file(signed_data(*signers["tencent"]))
    write(root, f"{INSTALL}/WeChat.exe", tencent)
    write(root, f"{CORE}/WeChatWin.dll", tencent)
    write(root, f"{CORE}/mmmojo_64.dll", pe_file(signed_data(*signers["tencent-nospace"])))
    write(root, f"{CORE}/vcruntime140.dll", pe_file(signed_data(*signers["microsoft"])))
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
    assert unknown(scan_image(str(root), "windows")) == {
        f"{CORE}/hook.dll": (
            "hook.dll: an unsigned program file (the vendor signs every program file it ships)"
        )
    }


def test_dll_signed_by_another_organisation(tmp_path: Path, signers: Signers) -> None:
    root = build_install(tmp_path / "img", signers)
    write(root, f"{INSTALL}/helper.dll", pe_file(signed_data(*signers["evil"])))
    detail = unknown(scan_image(str(root), "windows"))[f"{INSTALL}/helper.dll"]
    assert detail.startswith("helper.dll: signed by 'Evil Plugins Ltd', not by Tencent")
    assert "CN=evil.example" in detail


def test_signer_is_the_one_the_signer_info_names(tmp_path: Path, signers: Signers) -> None:
    """Carrying Tencent's certificate along does not make a file Tencent-signed."""
    root = build_install(tmp_path / "img", signers)
    der = signed_data(*signers["evil"], extra=(signers["tencent"][0],))
    write(root, f"{CORE}/WeChatHelper.dll", pe_file(der))
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
    original = pe_file(signed_data(*signers["tencent"]))
    write(root, f"{CORE}/WeChatWin.dll.h.bak", original)  # RevokeMsgPatcher
    write(root, f"{CORE}/WeChatWin.bak", original)  # WeChatMO
    write(root, f"{INSTALL}/WeChat2.exe", original)  # multi-open copy
    result = scan_image(str(root), "windows")
    assert sorted(unknown(result, "windows-patch-backup")) == [
        f"{CORE}/WeChatWin.bak",
        f"{CORE}/WeChatWin.dll.h.bak",
    ]
    assert list(unknown(result, "windows-renamed-client-exe")) == [f"{INSTALL}/WeChat2.exe"]
    assert unknown(result) == {}


def test_signature_pointing_outside_the_file(tmp_path: Path, signers: Signers) -> None:
    root = build_install(tmp_path / "img", signers)
    data = bytearray(pe_file(signed_data(*signers["tencent"])))
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
    scanner = image_scanner(str(root), "windows")
    cold = scanner.scan()
    warm = scanner.scan()
    assert unknown(cold) == unknown(warm) != {}
    assert cold.stats["files_hashed"] >= 5
    assert warm.stats["files_hashed"] == 0


def test_pe_reader_names_the_signer(signers: Signers) -> None:
    import io

    data = pe_file(signed_data(*signers["tencent"]))
    sig = pe.inspect(io.BytesIO(data), len(data))
    assert sig.is_pe and sig.signed and sig.signer is not None
    assert sig.signer.organization == TENCENT
    unsigned = pe_file()
    assert pe.inspect(io.BytesIO(unsigned), len(unsigned)) == pe.PeSignature(is_pe=True)
