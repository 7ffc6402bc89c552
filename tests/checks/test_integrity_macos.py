"""macOS integrity: an approved WeChat.app is checked against its own seal and code signature.

Every image is built here: a bundle whose CodeResources hashes match its files, and a main
executable that is a real (minimal) Mach-O with an embedded signature whose page hashes,
Team ID and special slots are right. Each variant then breaks one thing, the way a plugin
installer or patcher does, and must produce the finding a person would check.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import plistlib
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from checks.api import image_scanner, scan_image
from checks.catalogue import load_builtin
from checks.integrity import macho
from checks.model import ScanResult
from tests.checks.pki import Pki, self_issued

TEAM = "5A4RE8SF68"
APP = "Applications/WeChat.app"
EXE = f"{APP}/Contents/MacOS/WeChat"
CPU_ARM64 = 0x0100000C
CPU_X86_64 = 0x01000007
PAGE = 4096

# --- Mach-O construction ----------------------------------------------------------------


@dataclass
class Sig:
    team: str = TEAM
    adhoc: bool = False
    cms: bool = True
    hash_type: int = 2  # SHA-256
    special: dict[int, bytes] = field(default_factory=dict)  # slot n (for -n) -> file bytes
    signed: bool = True
    # A real CMS over the CodeDirectory by this certificate and key (else a placeholder blob,
    # which the scan reports as an unreadable CMS); `cms_over` signs other bytes instead.
    signer: tuple[x509.Certificate, Any] | None = None
    cms_over: bytes | None = None


def macho_slice(code: bytes, sig: Sig, cpu: int = CPU_ARM64) -> bytes:
    """A thin 64-bit little-endian Mach-O: header, LC_CODE_SIGNATURE, code, signature."""
    header_len = 32 + (16 if sig.signed else 0)
    body = code + b"\0" * (-(header_len + len(code)) % 16)
    code_limit = header_len + len(body)
    if not sig.signed:
        header = struct.pack("<IiiIIII", macho.MH_MAGIC_64, cpu, 0, 2, 0, 0, 0) + b"\0" * 4
        return header + body
    hash_name, _ = macho.HASH_TYPES[sig.hash_type]
    hash_size = 20 if sig.hash_type in (1, 3) else hashlib.new(hash_name).digest_size
    n_code = -(-code_limit // PAGE)
    n_special = max(sig.special, default=0)
    ident = b"com.tencent.xinWeChat\0"
    team = sig.team.encode() + b"\0" if sig.team else b""
    cd_header = 88  # version 0x20400 layout
    hash_offset = cd_header + len(ident) + len(team) + n_special * hash_size
    cd_len = hash_offset + n_code * hash_size
    # codesign reserves the CMS's room before it signs (the CMS signs the CodeDirectory,
    # whose page hashes cover the load command that gives the signature's size).
    cms = b"\x30\x80" + b"placeholder CMS" if sig.cms else b""
    if sig.cms and sig.signer is not None:
        cms = b"\0" * CMS_ROOM
    cms_blob = struct.pack(">II", macho.CSMAGIC_BLOBWRAPPER, 8 + len(cms)) + cms
    super_len = 12 + 2 * 8 + cd_len + len(cms_blob)
    lc = struct.pack("<IIII", macho.LC_CODE_SIGNATURE, 16, code_limit, super_len)
    header = struct.pack("<IiiIIII", macho.MH_MAGIC_64, cpu, 0, 2, 1, 16, 0) + b"\0" * 4
    signed_part = header + lc + body
    assert len(signed_part) == code_limit

    def digest(data: bytes) -> bytes:
        return hashlib.new(hash_name, data).digest()[:hash_size]

    specials = b"".join(
        digest(sig.special[n]) if n in sig.special else b"\0" * hash_size
        for n in range(n_special, 0, -1)
    )
    pages = b"".join(digest(signed_part[i : i + PAGE]) for i in range(0, code_limit, PAGE))
    flags = macho.CS_ADHOC if sig.adhoc else 0
    team_offset = cd_header + len(ident) if team else 0
    cd = struct.pack(
        ">IIIIIIIIIBBBBIIIIQQQQ",
        macho.CSMAGIC_CODEDIRECTORY,
        cd_len,
        0x20400,
        flags,
        hash_offset,
        cd_header,
        n_special,
        n_code,
        code_limit,
        hash_size,
        sig.hash_type,
        0,
        12,
        0,
        0,
        team_offset,
        0,
        0,
        0,
        0,
        0,
    )
    assert len(cd) == cd_header
    cd += ident + team + specials + pages
    assert len(cd) == cd_len
    if sig.cms and sig.signer is not None:
        der = detached_cms(sig.cms_over if sig.cms_over is not None else cd, *sig.signer)
        assert len(der) <= CMS_ROOM
        cms_blob = cms_blob[:8] + der + b"\0" * (CMS_ROOM - len(der))
    index = struct.pack(">IIII", 0, 12 + 16, macho.CSSLOT_SIGNATURESLOT, 12 + 16 + cd_len)
    superblob = (
        struct.pack(">III", macho.CSMAGIC_EMBEDDED_SIGNATURE, super_len, 2) + index + cd + cms_blob
    )
    assert len(superblob) == super_len
    return signed_part + superblob


CMS_ROOM = 8192


def detached_cms(content: bytes, cert: x509.Certificate, key: Any) -> bytes:
    """A detached CMS SignedData over `content` (what codesign makes over the CodeDirectory)."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(cert, key, hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            # Binary: S/MIME canonicalisation would turn each \n byte of the CodeDirectory
            # into \r\n before hashing (a signature that then fails on some page hashes).
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )


def developer_id(
    pki: Pki, team: str, org: str = "Tencent Technology (Shenzhen) Company Limited"
) -> tuple[x509.Certificate, Any]:
    """A Developer ID Application certificate (OU = Team ID) issued by the test PKI's CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, team),
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"Developer ID Application: {org[:20]} ({team})"
            ),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, team),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        ]
    )
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(pki.ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1000))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(pki.ca_key, hashes.SHA256())
    )
    return cert, key


# The test PKI's intermediate is the anchor here: a CMS carries the signer's certificate.
PKI = Pki("wxguard Test Apple Root")
APPLE_LIKE = load_builtin().with_trust_anchors(
    [PKI.ca.public_bytes(serialization.Encoding.PEM).decode("ascii")]
)
TENCENT_ID = developer_id(PKI, TEAM)


def fat(slices: list[tuple[int, bytes]]) -> bytes:
    out = struct.pack(">II", macho.FAT_MAGIC, len(slices))
    offset = PAGE
    table = b""
    blobs = b""
    for cpu, data in slices:
        table += struct.pack(">iiIII", cpu, 0, offset, len(data), 12)
        pad = b"\0" * (-len(data) % PAGE)
        blobs += data + pad
        offset += len(data) + len(pad)
    head = out + table
    return head + b"\0" * (PAGE - len(head)) + blobs


def code_bytes(size: int = 3 * PAGE + 123) -> bytes:
    return bytes((i * 7 + 3) % 251 for i in range(size))


# --- bundle construction ----------------------------------------------------------------

INFO = {
    "CFBundleIdentifier": "com.tencent.xinWeChat",
    "CFBundleExecutable": "WeChat",
    "CFBundleName": "WeChat",
    "CFBundleShortVersionString": "4.0.6",
}
RULES2 = {
    "^.*": True,
    "^Info\\.plist$": {"omit": True, "weight": 20.0},
    "^PkgInfo$": {"omit": True, "weight": 20.0},
    "^Resources/": {"weight": 20.0},
    "^Resources/.*\\.lproj/": {"optional": True, "weight": 1000.0},
    "^(.*/)?\\.DS_Store$": {"omit": True, "weight": 2000.0},
    "^(Frameworks|SharedFrameworks|PlugIns|Plug-ins|XPCServices|Helpers|MacOS)/": {
        "nested": True,
        "weight": 10.0,
    },
}
RESOURCES = {
    "Resources/AppIcon.icns": b"icns" + bytes(range(256)) * 8,
    "Resources/en.lproj/Localizable.strings": b'"Send" = "Send";\n',
    "Resources/zh_CN.lproj/Localizable.strings": '"Send" = "发送";\n'.encode(),
    "Resources/web/index.html": b"<html>wechat</html>\n",
}
LEGACY = {"Resources/legacy.dat": b"sealed with SHA-1 only\n"}
MARS = "Frameworks/Mars.framework/Versions/A/Mars"
# The nested framework's own binary (judged by its own signature): by default signed like a
# genuine app's (Tencent's certificate) when the app is, else with the placeholder CMS that
# the scan reports as unreadable, as for the app's own executable (`build_bundle`).
MARS_SIGNED = macho_slice(code_bytes(PAGE + 77), Sig(signer=TENCENT_ID))
MARS_PLACEHOLDER = macho_slice(code_bytes(PAGE + 77), Sig())
NESTED = {
    MARS: MARS_PLACEHOLDER,
    "Frameworks/Mars.framework/Versions/A/Resources/Info.plist": b"<plist/>",
}


def build_bundle(
    root: Path,
    sig: Sig | None = None,
    exe: bytes | None = None,
    extra_files2: dict[str, object] | None = None,
    nested: bytes | None = None,
) -> Path:
    """/Applications/WeChat.app under `root` whose seal and signature match its files;
    `nested`: the nested Mars.framework's binary (default: see MARS_SIGNED)."""
    contents = root / APP / "Contents"
    if nested is None:
        nested = MARS_SIGNED if sig is not None and sig.signer is TENCENT_ID else MARS_PLACEHOLDER
    for rel, data in {**RESOURCES, **LEGACY, **NESTED, MARS: nested}.items():
        path = contents / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (contents / "Resources" / "Current").symlink_to("en.lproj")
    (contents / "Resources" / ".DS_Store").write_bytes(b"Finder junk")
    info = plistlib.dumps(INFO)
    (contents / "Info.plist").write_bytes(info)
    (contents / "PkgInfo").write_bytes(b"APPL????")
    files2: dict[str, object] = {
        rel: {"hash": hashlib.sha1(d).digest(), "hash2": hashlib.sha256(d).digest()}
        for rel, d in RESOURCES.items()
    }
    files2.update({rel: hashlib.sha1(d).digest() for rel, d in LEGACY.items()})
    files2["Resources/Current"] = {"symlink": "en.lproj"}
    files2["Resources/optional.txt"] = {"hash2": b"\1" * 32, "optional": True}
    files2["Frameworks/Mars.framework"] = {
        "cdhash": b"\2" * 20,
        "requirement": 'identifier "com.tencent.mars" and anchor apple generic',
    }
    files2.update(extra_files2 or {})
    seal = plistlib.dumps({"files": {}, "files2": files2, "rules": {}, "rules2": RULES2})
    (contents / "_CodeSignature").mkdir()
    (contents / "_CodeSignature" / "CodeResources").write_bytes(seal)
    sig = sig or Sig()
    sig.special = {1: info, 3: seal} | sig.special
    (contents / "MacOS").mkdir(exist_ok=True)
    (contents / "MacOS" / "WeChat").write_bytes(
        exe if exe is not None else macho_slice(code_bytes(), sig)
    )
    return root


def findings(result: ScanResult, rule_id: str) -> dict[str, str]:
    """subject path -> evidence detail, for one rule's findings."""
    out: dict[str, str] = {}
    for f in result.findings:
        if f.rule_id == rule_id:
            for e in f.evidence:
                out[e.path] = e.detail
    return out


def ours(result: ScanResult) -> list[str]:
    return sorted(
        f.rule_id for f in result.findings if f.rule_id.startswith(("macos-bundle", "macos-code"))
    )


# --- tests ------------------------------------------------------------------------------


def test_intact_bundle_is_compliant(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img", Sig(signer=TENCENT_ID))
    result = scan_image(str(root), "macos", APPLE_LIKE)
    assert result.findings == [], [f.to_json() for f in result.findings]
    assert not [b for b in result.blind_spots if b.probe.startswith("integrity")]


def test_field_case_2_mac_app_store_receipt_is_not_tampering(tmp_path: Path) -> None:
    """The store adds Contents/_MASReceipt/receipt after signing; Apple's seal leaves it out
    on purpose. An optional sealed entry that is absent is fine too."""
    root = build_bundle(tmp_path / "img")
    receipt = root / APP / "Contents" / "_MASReceipt" / "receipt"
    receipt.parent.mkdir()
    receipt.write_bytes(b"0\x80\x06\x09*\x86H\x86\xf7\r\x01\x07\x02 receipt (PKCS#7)")
    result = scan_image(str(root), "macos")
    assert result.findings == [], [f.to_json() for f in result.findings]
    # A receipt-like folder anywhere else in the bundle is still an addition.
    (root / APP / "Contents" / "Resources" / "_MASReceipt").mkdir()
    (root / APP / "Contents" / "Resources" / "_MASReceipt" / "receipt").write_bytes(b"x")
    assert list(findings(scan_image(str(root), "macos"), "macos-bundle-seal")) == [
        f"{APP}/Contents/Resources/_MASReceipt"
    ]


def test_added_framework_is_reported_once_for_its_folder(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    fw = root / APP / "Contents/MacOS/WeChatTweak.framework/Versions/A"
    (fw / "Resources").mkdir(parents=True)
    (fw / "WeChatTweak").write_bytes(b"\xcf\xfa\xed\xfe tweak")
    (fw / "Resources" / "Info.plist").write_bytes(b"<plist/>")
    seal = findings(scan_image(str(root), "macos"), "macos-bundle-seal")
    assert list(seal) == [f"{APP}/Contents/MacOS/WeChatTweak.framework"]
    detail = seal[f"{APP}/Contents/MacOS/WeChatTweak.framework"]
    assert "not in the bundle's seal" in detail and "2 file(s)" in detail
    assert "Versions/A/WeChatTweak" in detail


def test_added_backup_of_the_executable(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    (root / APP / "Contents/MacOS/WeChat_backup").write_bytes(b"original executable")
    seal = findings(scan_image(str(root), "macos"), "macos-bundle-seal")
    assert list(seal) == [f"{APP}/Contents/MacOS/WeChat_backup"]
    assert "(added)" in seal[f"{APP}/Contents/MacOS/WeChat_backup"]


def test_changed_resource_names_both_digests(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    target = root / APP / "Contents/Resources/web/index.html"
    target.write_bytes(b"<html>wechat<script src=hook.js></script></html>\n")
    seal = findings(scan_image(str(root), "macos"), "macos-bundle-seal")
    sealed = hashlib.sha256(RESOURCES["Resources/web/index.html"]).hexdigest()[:12]
    found = hashlib.sha256(target.read_bytes()).hexdigest()[:12]
    assert seal == {
        f"{APP}/Contents/Resources/web/index.html": (
            f"Contents/Resources/web/index.html: changed (sha256 sealed {sealed}…, found {found}…)"
        )
    }


def test_changed_legacy_sha1_entry(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    (root / APP / "Contents/Resources/legacy.dat").write_bytes(b"patched\n")
    seal = findings(scan_image(str(root), "macos"), "macos-bundle-seal")
    assert "changed (sha1 sealed" in seal[f"{APP}/Contents/Resources/legacy.dat"]


def test_removed_file_and_removed_nested_framework(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    (root / APP / "Contents/Resources/zh_CN.lproj/Localizable.strings").unlink()
    mars = root / APP / "Contents/Frameworks/Mars.framework"
    for path in sorted(mars.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    mars.rmdir()
    seal = findings(scan_image(str(root), "macos"), "macos-bundle-seal")
    assert seal == {
        f"{APP}/Contents/Resources/zh_CN.lproj/Localizable.strings": (
            "Contents/Resources/zh_CN.lproj/Localizable.strings: sealed in the bundle but missing"
        ),
        f"{APP}/Contents/Frameworks/Mars.framework": (
            "Contents/Frameworks/Mars.framework: sealed in the bundle but missing"
        ),
    }


def test_retargeted_symlink(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    link = root / APP / "Contents/Resources/Current"
    link.unlink()
    link.symlink_to("zh_CN.lproj")
    seal = findings(scan_image(str(root), "macos"), "macos-bundle-seal")
    assert (
        "sealed as a link to 'en.lproj', found a link to 'zh_CN.lproj'"
        in seal[f"{APP}/Contents/Resources/Current"]
    )


def test_missing_code_resources_is_tampering(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    (root / APP / "Contents/_CodeSignature/CodeResources").unlink()
    seal = findings(scan_image(str(root), "macos"), "macos-bundle-seal")
    assert list(seal) == [f"{APP}/Contents/_CodeSignature/CodeResources"]
    assert "never signed, or its signature was stripped" in next(iter(seal.values()))


def test_file_outside_contents(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    (root / APP / "payload.dylib").write_bytes(b"x")
    seal = findings(scan_image(str(root), "macos"), "macos-bundle-seal")
    assert "outside Contents/" in seal[f"{APP}/payload.dylib"]


def test_adhoc_resigned_executable(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img", Sig(team="", adhoc=True, cms=False))
    result = scan_image(str(root), "macos")
    sig = findings(result, "macos-code-signature")
    assert list(sig) == [EXE]
    assert "ad-hoc signature" in sig[EXE]
    assert f"Team ID (none) is not the vendor's ({TEAM})" in sig[EXE]
    assert ours(result) == ["macos-code-signature"]  # the seal itself is intact


def test_adhoc_flag_alone_and_empty_cms_alone_are_each_caught(tmp_path: Path) -> None:
    for name, sig in (("flag", Sig(adhoc=True)), ("nocms", Sig(cms=False))):
        root = build_bundle(tmp_path / name, sig)
        assert "ad-hoc" in findings(scan_image(str(root), "macos"), "macos-code-signature")[EXE]


def test_wrong_team_id(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img", Sig(team="ABCDE12345"))
    sig = findings(scan_image(str(root), "macos"), "macos-code-signature")
    assert sig == {EXE: f"Contents/MacOS/WeChat: Team ID ABCDE12345 is not the vendor's ({TEAM})"}


def test_patched_byte_in_the_executable(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    exe = root / EXE
    data = bytearray(exe.read_bytes())
    data[2 * PAGE + 17] ^= 0xFF  # in the third page
    exe.write_bytes(bytes(data))
    sig = findings(scan_image(str(root), "macos"), "macos-code-signature")
    assert sig == {
        EXE: "Contents/MacOS/WeChat: 1 code page(s) no longer match their signed sha256 hashes "
        "(at offset 0x2000): the executable was patched in place"
    }


def test_sha1_code_directory_is_verified_too(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img", Sig(hash_type=1))
    assert ours(scan_image(str(root), "macos")) == []
    exe = root / EXE
    data = bytearray(exe.read_bytes())
    data[100] ^= 1
    exe.write_bytes(bytes(data))
    assert (
        "sha1 hashes (at offset 0x0)"
        in findings(scan_image(str(root), "macos"), "macos-code-signature")[EXE]
    )


def test_unsigned_executable(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img", Sig(signed=False))
    sig = findings(scan_image(str(root), "macos"), "macos-code-signature")
    assert "not code-signed at all" in sig[EXE]


def test_edited_info_plist_breaks_special_slot(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    (root / APP / "Contents/Info.plist").write_bytes(
        plistlib.dumps({**INFO, "LSEnvironment": {"DYLD_INSERT_LIBRARIES": "/tmp/x.dylib"}})
    )
    result = scan_image(str(root), "macos")
    assert (
        "Info.plist is not the one the signature seals"
        in findings(result, "macos-code-signature")[EXE]
    )


def test_reseal_to_hide_an_added_file_breaks_special_slot(tmp_path: Path) -> None:
    """A tool that adds a file and rewrites CodeResources to include it is still caught."""
    root = build_bundle(tmp_path / "img")
    contents = root / APP / "Contents"
    (contents / "Resources" / "hook.js").write_bytes(b"hook")
    seal_path = contents / "_CodeSignature" / "CodeResources"
    seal = plistlib.loads(seal_path.read_bytes())
    seal["files2"]["Resources/hook.js"] = {"hash2": hashlib.sha256(b"hook").digest()}
    seal_path.write_bytes(plistlib.dumps(seal))
    result = scan_image(str(root), "macos")
    assert findings(result, "macos-bundle-seal") == {}
    assert (
        "_CodeSignature/CodeResources is not the one the signature seals"
        in findings(result, "macos-code-signature")[EXE]
    )


def test_universal_binary_clean_and_one_slice_patched(tmp_path: Path) -> None:
    def build(name: str, patch: bool) -> Path:
        # The slices need the final Info.plist/CodeResources bytes: build once to get them.
        root = build_bundle(tmp_path / name)
        contents = root / APP / "Contents"
        special = {
            1: (contents / "Info.plist").read_bytes(),
            3: (contents / "_CodeSignature/CodeResources").read_bytes(),
        }
        arm = macho_slice(code_bytes(), Sig(special=special), CPU_ARM64)
        intel = bytearray(macho_slice(code_bytes(5 * PAGE), Sig(special=special), CPU_X86_64))
        if patch:
            intel[4 * PAGE + 1] ^= 0x55
        (contents / "MacOS" / "WeChat").write_bytes(
            fat([(CPU_ARM64, arm), (CPU_X86_64, bytes(intel))])
        )
        return root

    assert ours(scan_image(str(build("clean", False)), "macos")) == []
    sig = findings(scan_image(str(build("patched", True)), "macos"), "macos-code-signature")
    assert sig == {
        EXE: "Contents/MacOS/WeChat: x86_64: 1 code page(s) no longer match their signed sha256 "
        "hashes (at offset 0x4000): the executable was patched in place"
    }


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"#!/bin/sh\necho not mach-o\n",
        b"\xcf\xfa\xed\xfe" + b"\xff" * 40,  # load commands far beyond the file
        b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + b"\x00" * 8,  # fat table cut short
    ],
)
def test_malformed_executable_is_a_blind_spot_not_a_crash(tmp_path: Path, garbage: bytes) -> None:
    root = build_bundle(tmp_path / "img", exe=garbage)
    result = scan_image(str(root), "macos")
    assert findings(result, "macos-code-signature") == {}
    assert any(
        b.what.endswith("Contents/MacOS/WeChat") and "could not be parsed" in b.reason
        for b in result.blind_spots
    ), result.blind_spots
    assert not [b for b in result.blind_spots if b.what == "the whole probe"]


def test_executable_cut_short_inside_its_signature(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    exe = root / EXE
    exe.write_bytes(exe.read_bytes()[:-40])
    result = scan_image(str(root), "macos")
    assert "lies outside the file" in findings(result, "macos-code-signature")[EXE]
    assert not [b for b in result.blind_spots if b.what == "the whole probe"]


def test_bundle_with_another_identity_is_not_sealed_against(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    info = root / APP / "Contents/Info.plist"
    info.write_bytes(plistlib.dumps({**INFO, "CFBundleIdentifier": "com.example.notwechat"}))
    (root / APP / "Contents/MacOS/extra").write_bytes(b"x")
    assert ours(scan_image(str(root), "macos")) == []


def test_warm_rescan_rehashes_nothing(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")
    for i in range(200):
        path = root / APP / f"Contents/Resources/many/{i:03}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(os.urandom(64))
    scanner = image_scanner(str(root), "macos")
    cold = scanner.scan()
    warm = scanner.scan()
    # The 200 files are not in the seal: one finding for their folder, both times.
    assert findings(cold, "macos-bundle-seal") == findings(warm, "macos-bundle-seal")
    assert list(findings(warm, "macos-bundle-seal")) == [f"{APP}/Contents/Resources/many"]
    assert cold.stats["files_hashed"] > 0
    assert warm.stats["files_hashed"] == 0 and warm.stats["bytes_hashed"] == 0
    assert warm.stats["hashes_reused"] >= cold.stats["files_hashed"]


def test_unicode_normal_forms_of_names_do_not_differ(tmp_path: Path) -> None:
    """HFS+ stores names decomposed (NFD); the seal may hold them composed (NFC)."""
    import unicodedata

    name = "Resources/表情/café.png"
    data = b"\x89PNG smiley"
    root = tmp_path / "img"
    disk = root / APP / "Contents" / unicodedata.normalize("NFD", name)
    disk.parent.mkdir(parents=True)
    disk.write_bytes(data)
    key = unicodedata.normalize("NFC", name)
    build_bundle(root, extra_files2={key: {"hash2": hashlib.sha256(data).digest()}})
    assert ours(scan_image(str(root), "macos")) == []
    disk.write_bytes(b"changed")
    assert list(findings(scan_image(str(root), "macos"), "macos-bundle-seal")) == [
        f"{APP}/Contents/{unicodedata.normalize('NFD', name)}"
    ]


def test_standalone_nested_helper_and_file_replaced_by_folder(tmp_path: Path) -> None:
    helper = {"cdhash": b"\3" * 20, "requirement": 'identifier "com.tencent.helper"'}
    root = tmp_path / "img"
    (root / APP / "Contents/MacOS").mkdir(parents=True)
    (root / APP / "Contents/MacOS/WeChatHelper").write_bytes(b"\xcf\xfa\xed\xfe helper")
    build_bundle(root, extra_files2={"MacOS/WeChatHelper": helper})
    assert ours(scan_image(str(root), "macos")) == []
    icon = root / APP / "Contents/Resources/AppIcon.icns"
    icon.unlink()
    icon.mkdir()
    assert findings(scan_image(str(root), "macos"), "macos-bundle-seal") == {
        f"{APP}/Contents/Resources/AppIcon.icns": (
            "Contents/Resources/AppIcon.icns: sealed as a file, found a folder"
        )
    }


# --- who signed: the CMS over the CodeDirectory and its chain ---------------------------


def test_cms_chaining_to_the_anchor_with_the_vendor_team_is_clean(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img", Sig(signer=TENCENT_ID))
    receipt = root / APP / "Contents" / "_MASReceipt" / "receipt"
    receipt.parent.mkdir()
    receipt.write_bytes(b"receipt")
    result = scan_image(str(root), "macos", APPLE_LIKE)
    assert result.findings == [] and not [b for b in result.blind_spots if "CMS" in b.reason]


def test_self_issued_certificate_naming_tencent_is_a_finding(tmp_path: Path) -> None:
    cert, key = self_issued("Tencent Technology (Shenzhen) Company Limited")
    root = build_bundle(tmp_path / "img", Sig(signer=(cert, key)))
    (detail,) = findings(
        scan_image(str(root), "macos", APPLE_LIKE), "macos-code-signature"
    ).values()
    assert "does not chain to Apple's roots" in detail and "期望 expected" in detail
    assert "self-issued" in detail


def test_genuine_chain_for_another_team_is_a_finding(tmp_path: Path) -> None:
    """A real developer certificate of another team cannot vouch for Tencent's Team ID."""
    root = build_bundle(tmp_path / "img", Sig(signer=developer_id(PKI, "ZZZZZZZZZZ", "Evil")))
    (detail,) = findings(
        scan_image(str(root), "macos", APPLE_LIKE), "macos-code-signature"
    ).values()
    assert "team (ZZZZZZZZZZ) is not the Team ID the code claims (5A4RE8SF68)" in detail


def test_cms_lifted_from_another_binary_is_a_finding(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img", Sig(signer=TENCENT_ID, cms_over=b"another CodeDirectory"))
    (detail,) = findings(
        scan_image(str(root), "macos", APPLE_LIKE), "macos-code-signature"
    ).values()
    assert "does not sign this code" in detail


def test_without_the_anchor_the_test_signer_proves_nothing(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img", Sig(signer=TENCENT_ID))
    assert list(findings(scan_image(str(root), "macos"), "macos-code-signature"))


def test_unreadable_cms_is_a_blind_spot(tmp_path: Path) -> None:
    root = build_bundle(tmp_path / "img")  # the placeholder CMS blob
    result = scan_image(str(root), "macos", APPLE_LIKE)
    assert any("CMS signature cannot be read" in b.reason for b in result.blind_spots)


# --- nested helpers ---------------------------------------------------------------------

HELPER = "Frameworks/WeChat Helper.app"
HELPER_EXE = f"{APP}/Contents/{HELPER}/Contents/MacOS/WeChat"


def build_with_helper(tmp_path: Path, helper_sig: Sig) -> Path:
    """WeChat.app (intact, Tencent-signed) whose seal lists a nested helper app by cdhash,
    the helper itself a bundle with its own seal and signature (`helper_sig`)."""
    built = build_bundle(tmp_path / "helper", helper_sig)
    nested: dict[str, object] = {
        HELPER: {
            "cdhash": b"\3" * 20,
            "requirement": 'identifier "com.tencent.xinWeChat.helper" and anchor apple generic',
        }
    }
    root = build_bundle(tmp_path / "img", Sig(signer=TENCENT_ID), extra_files2=nested)
    (root / APP / "Contents" / HELPER).parent.mkdir(parents=True, exist_ok=True)
    (built / APP).rename(root / APP / "Contents" / HELPER)
    return root


def test_nested_helper_signed_by_the_vendor_is_clean(tmp_path: Path) -> None:
    root = build_with_helper(tmp_path, Sig(signer=TENCENT_ID))
    result = scan_image(str(root), "macos", APPLE_LIKE)
    assert result.findings == [], [f.to_json() for f in result.findings]


@pytest.mark.parametrize(
    ("case", "helper_sig", "expected"),
    [
        ("ad hoc", Sig(team="", adhoc=True, cms=False), "ad-hoc signature"),
        ("another team", Sig(team="ABCDE12345"), "Team ID ABCDE12345 is not the vendor's"),
        (
            "a Team ID its certificate does not vouch for",
            Sig(signer=self_issued("Tencent Technology (Shenzhen) Company Limited")),
            "does not chain to Apple's roots",
        ),
    ],
)
def test_nested_helper_is_judged_by_its_own_signature(
    tmp_path: Path, case: str, helper_sig: Sig, expected: str
) -> None:
    """The outer bundle is intact and Tencent-signed; the helper inside was swapped for one
    re-signed by someone else (Frida-injected WeChat copies do this to helpers)."""
    root = build_with_helper(tmp_path, helper_sig)
    result = scan_image(str(root), "macos", APPLE_LIKE)
    sig = findings(result, "macos-code-signature")
    assert list(sig) == [HELPER_EXE], (case, sig)
    assert expected in sig[HELPER_EXE], (case, sig[HELPER_EXE])


# --- nested frameworks and dylibs --------------------------------------------------------

MARS_PATH = f"{APP}/Contents/{MARS}"
DYLIB = "Frameworks/libvoip.dylib"
DYLIB_PATH = f"{APP}/Contents/{DYLIB}"


def build_with_dylib(tmp_path: Path, dylib: bytes) -> Path:
    """WeChat.app (intact, Tencent-signed) whose seal lists a loose dylib as nested code."""
    nested: dict[str, object] = {
        DYLIB: {"cdhash": b"\4" * 20, "requirement": 'identifier "libvoip"'}
    }
    root = build_bundle(tmp_path / "img", Sig(signer=TENCENT_ID), extra_files2=nested)
    (root / APP / "Contents" / DYLIB).write_bytes(dylib)
    return root


def test_nested_framework_and_dylib_signed_by_the_vendor_are_clean(tmp_path: Path) -> None:
    root = build_with_dylib(
        tmp_path, macho_slice(code_bytes(2 * PAGE + 999), Sig(signer=TENCENT_ID))
    )
    result = scan_image(str(root), "macos", APPLE_LIKE)
    assert result.findings == [], [f.to_json() for f in result.findings]
    assert not [b for b in result.blind_spots if b.probe.startswith("integrity")]


RESIGNED = [
    (
        "ad hoc",
        Sig(team="", adhoc=True, cms=False),
        "实际 found: ad-hoc 签名，没有证书 / an ad-hoc signature with no certificate",
    ),
    (
        "another team, genuine chain",
        Sig(team="ZZZZZZZZZZ", signer=developer_id(PKI, "ZZZZZZZZZZ", "Evil")),
        "实际 found: Team ID ZZZZZZZZZZ",
    ),
    (
        "a self-issued certificate naming Tencent",
        Sig(signer=self_issued("Tencent Technology (Shenzhen) Company Limited")),
        "does not chain to Apple's roots",
    ),
    ("unsigned", Sig(signed=False), "实际 found: 未签名 / not signed"),
]
EXPECTED = (
    f"期望 expected: 经 Apple 根证书链验证、Team ID {TEAM} 的签名 / a signature chaining to "
    f"Apple's roots with Team ID {TEAM}"
)


@pytest.mark.parametrize(("case", "sig", "found"), RESIGNED, ids=[c[0] for c in RESIGNED])
def test_nested_framework_resigned_is_judged_by_its_own_signature(
    tmp_path: Path, case: str, sig: Sig, found: str
) -> None:
    """The app's own executable and seal are intact and Tencent-signed; only the nested
    framework's binary was swapped for one re-signed by someone else (a tweak's payload)."""
    root = build_bundle(
        tmp_path / "img", Sig(signer=TENCENT_ID), nested=macho_slice(code_bytes(PAGE + 77), sig)
    )
    result = scan_image(str(root), "macos", APPLE_LIKE)
    detail = findings(result, "macos-code-signature")
    assert list(detail) == [MARS_PATH], (case, detail)
    assert detail[MARS_PATH].startswith(f"Contents/{MARS}（内嵌代码")
    assert EXPECTED in detail[MARS_PATH] and found in detail[MARS_PATH], detail[MARS_PATH]


@pytest.mark.parametrize(("case", "sig", "found"), RESIGNED, ids=[c[0] for c in RESIGNED])
def test_loose_dylib_resigned_is_judged_by_its_own_signature(
    tmp_path: Path, case: str, sig: Sig, found: str
) -> None:
    root = build_with_dylib(tmp_path, macho_slice(code_bytes(2 * PAGE + 999), sig))
    detail = findings(scan_image(str(root), "macos", APPLE_LIKE), "macos-code-signature")
    assert list(detail) == [DYLIB_PATH], (case, detail)
    assert EXPECTED in detail[DYLIB_PATH] and found in detail[DYLIB_PATH]


def test_nested_code_in_a_nested_helper_is_judged_too(tmp_path: Path) -> None:
    """A framework inside the helper app (Frameworks/WeChat Helper.app/Contents/Frameworks/)
    re-signed ad hoc: found through the helper's own seal."""
    root = build_with_helper(tmp_path, Sig(signer=TENCENT_ID))
    inner = root / APP / "Contents" / HELPER / "Contents" / MARS
    inner.write_bytes(macho_slice(code_bytes(PAGE + 77), Sig(team="", adhoc=True, cms=False)))
    detail = findings(scan_image(str(root), "macos", APPLE_LIKE), "macos-code-signature")
    assert list(detail) == [f"{APP}/Contents/{HELPER}/Contents/{MARS}"], detail
