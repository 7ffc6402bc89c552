"""Windows approval by identity: field case 3 (the vendor's own helpers and a Microsoft-signed
dbghelp.dll are clean), and the look-alikes that must stay findings (a self-issued
certificate naming Tencent, a system-named DLL signed by nobody we trust, a renamed copy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.pefiles import pe_file, signed_pe
from checks.api import scan_image
from checks.model import ScanResult
from tests.checks.pki import Pki, self_issued

TENCENT = "Tencent Technology (Shenzhen) Company Limited"
INSTALL = "Program Files/Tencent/WeChat"
PKI = Pki()
TENCENT_LEAF = PKI.leaf(TENCENT)
MICROSOFT_LEAF = PKI.leaf("Microsoft Corporation")


def write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def field_case_3(root: Path) -> Path:
    tencent = signed_pe(*TENCENT_LEAF, extra=(PKI.ca,))
    write(root, f"{INSTALL}/WeChat.exe", tencent)
    write(
        root, f"{INSTALL}/WeChatWin.dll", signed_pe(*TENCENT_LEAF, extra=(PKI.ca,), body=b"w" * 700)
    )
    launcher = signed_pe(*TENCENT_LEAF, extra=(PKI.ca,), body=b"l" * 600)
    write(root, f"{INSTALL}/WechatAppLauncher.exe", launcher)
    write(root, f"{INSTALL}/wcprobe.dll", signed_pe(*TENCENT_LEAF, extra=(PKI.ca,), body=b"p" * 64))
    write(root, f"{INSTALL}/dbghelp.dll", signed_pe(*MICROSOFT_LEAF, extra=(PKI.ca,)))
    for name in ("libeay32.dll", "TRAE.dll", "pdf.dll"):
        write(root, f"{INSTALL}/{name}", pe_file(body=name.encode() * 40))
    (root / "Users" / "alice").mkdir(parents=True, exist_ok=True)
    return root


def findings(result: ScanResult) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in result.findings:
        for e in f.evidence:
            out.setdefault(f.rule_id, []).append(f"{e.path}: {e.detail}")
    return out


def test_field_case_3_vendor_helpers_and_microsoft_dbghelp_are_clean(tmp_path: Path) -> None:
    root = field_case_3(tmp_path / "img")
    result = scan_image(str(root), "windows", PKI.catalogue())
    assert findings(result) == {}
    assert not [b for b in result.blind_spots if b.probe.startswith("integrity")]


def test_without_the_anchor_the_same_signatures_prove_nothing(tmp_path: Path) -> None:
    """The test root is trusted only because the scan was told to: the shipped anchors
    do not vouch for a self-made PKI, so every signer there is refused."""
    root = field_case_3(tmp_path / "img")
    found = findings(scan_image(str(root), "windows"))
    assert {"windows-tampered-binary", "windows-unknown-binary"} <= set(found)
    assert any("chains to no trusted root" in d for d in found["windows-tampered-binary"])


def test_self_issued_certificate_naming_tencent_is_a_finding(tmp_path: Path) -> None:
    root = field_case_3(tmp_path / "img")
    forged = self_issued(TENCENT)
    write(root, f"{INSTALL}/WeChatWin.dll", signed_pe(*forged, body=b"w" * 700))
    write(root, f"{INSTALL}/helper.dll", signed_pe(*forged, body=b"h" * 64))
    found = findings(scan_image(str(root), "windows", PKI.catalogue()))
    core = found["windows-tampered-binary"]
    assert len(core) == 1 and core[0].startswith(f"{INSTALL}/WeChatWin.dll: WeChatWin.dll:")
    assert "self-issued certificate that chains to no trusted root" in core[0]
    assert f"signer '{TENCENT}'" in core[0] and "期望 expected" in core[0]
    (helper,) = found["windows-unknown-binary"]
    assert "certificate chain does not verify" in helper


def test_system_named_dll_signed_by_nobody_trusted_is_the_hijack(tmp_path: Path) -> None:
    root = field_case_3(tmp_path / "img")
    write(root, f"{INSTALL}/dbghelp.dll", signed_pe(*self_issued("Microsoft Corporation")))
    write(root, f"{INSTALL}/Plugins/version.dll", pe_file())
    found = findings(scan_image(str(root), "windows", PKI.catalogue()))["windows-unknown-binary"]
    assert len(found) == 2
    assert all("DLL hijacking" in d for d in found)


def test_renamed_copy_is_a_copy_of_the_main_program_not_a_name(tmp_path: Path) -> None:
    root = field_case_3(tmp_path / "img")
    main = (root / INSTALL / "WeChat.exe").read_bytes()
    write(root, f"{INSTALL}/WeChat_multi.exe", main)
    write(root, f"{INSTALL}/Notepad2.exe", main)  # a copy whatever its name
    found = findings(scan_image(str(root), "windows", PKI.catalogue()))
    assert sorted(d.split(":")[0] for d in found["windows-renamed-client-exe"]) == [
        f"{INSTALL}/Notepad2.exe",
        f"{INSTALL}/WeChat_multi.exe",
    ]
    assert set(found) == {"windows-renamed-client-exe"}


def test_cli_trust_anchor_option(tmp_path: Path) -> None:
    root = field_case_3(tmp_path / "img")
    anchor = tmp_path / "root.pem"
    anchor.write_text(PKI.root_pem)
    run = "import sys; from agent.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", run, "check", "--root", str(root)]
    args += ["--platform", "windows", "--format", "json"]
    without = subprocess.run(args, capture_output=True, timeout=120, check=False)
    with_anchor = subprocess.run(
        [*args, "--trust-anchor", str(anchor)], capture_output=True, timeout=120, check=False
    )
    assert without.returncode == 1
    assert with_anchor.returncode == 0, with_anchor.stdout.decode()[-2000:]
    (tmp_path / "bad.pem").write_text("not a certificate")
    bad = subprocess.run(
        [*args, "--trust-anchor", str(tmp_path / "bad.pem")], capture_output=True, timeout=120
    )
    assert bad.returncode == 2
    assert "信任锚" in bad.stderr.decode() and "trust anchor" in bad.stderr.decode()


MANIFEST = """<?xml version="1.0" encoding="utf-8"?>
<Package xmlns="http://schemas.microsoft.com/appx/manifest/foundation/windows10">
  <Identity Name="{name}" Publisher="{publisher}" Version="4.0.2.0" ProcessorArchitecture="x64"/>
  <Properties><DisplayName>微信</DisplayName><PublisherDisplayName>Tencent</PublisherDisplayName></Properties>
</Package>
"""
LAB_PUBLISHER = "CN=Tencent Lab Test, O=wxguard tests, C=CN"


def test_publisher_id_is_the_one_windows_computes() -> None:
    from checks.probes.apps import publisher_id

    microsoft = "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"
    assert publisher_id(microsoft) == "8wekyb3d8bbwe"


def _msix(root: Path, folder: str, name: str, publisher: str) -> None:
    path = root / "Program Files" / "WindowsApps" / folder / "AppxManifest.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(MANIFEST.format(name=name, publisher=publisher), encoding="utf-8")


def test_store_package_approved_by_family_and_publisher_only_under_windowsapps(
    tmp_path: Path,
) -> None:
    from checks.catalogue import load_builtin
    from checks.probes.apps import publisher_id

    family = f"TencentWeChatLimited.WeChat_{publisher_id(LAB_PUBLISHER)}"
    policy = load_builtin().with_policy(
        add_clients=[
            {
                "id": "wechat-store-lab",
                "name": {"zh": "微信（商店，实验室）", "en": "WeChat (Store, lab)"},
                "platforms": ["windows"],
                "msix_families": [family],
            }
        ]
    )
    root = tmp_path / "img"
    (root / "Users" / "alice").mkdir(parents=True)
    folder = f"TencentWeChatLimited.WeChat_4.0.2.0_x64__{publisher_id(LAB_PUBLISHER)}"
    _msix(root, folder, "TencentWeChatLimited.WeChat", LAB_PUBLISHER)
    assert findings(scan_image(str(root), "windows", policy)) == {}
    # Same package name, another publisher: another family, a finding that names both.
    _msix(
        root,
        "TencentWeChatLimited.WeChat_4.0.2.0_x64__fake",
        "TencentWeChatLimited.WeChat",
        "CN=Someone Else",
    )
    (found,) = findings(scan_image(str(root), "windows", policy))["unrecognised-wechat-app"]
    assert "TencentWeChatLimited.WeChat__fake" not in found and "CN=Someone Else" in found
    assert family in found and "期望 expected" in found
    # The genuine manifest copied out of WindowsApps proves nothing: it is not even read.
    copy = root / "Users" / "alice" / "Downloads" / folder / "AppxManifest.xml"
    copy.parent.mkdir(parents=True)
    copy.write_text(MANIFEST.format(name="TencentWeChatLimited.WeChat", publisher=LAB_PUBLISHER))
    assert len(findings(scan_image(str(root), "windows", policy))["unrecognised-wechat-app"]) == 1


def test_scoop_unpacked_install_is_judged_by_its_signer(tmp_path: Path) -> None:
    """Scoop's Extras bucket unpacks Tencent's installer under ~/scoop/apps/wechat/<version>
    (`current` points at it): clean when the programs are Tencent's through a verified
    chain, tampering when the main program there is signed by a self-issued "Tencent"."""
    root = tmp_path / "img"
    scoop = "Users/alice/scoop/apps/wechat/current"
    write(root, f"{scoop}/Weixin.exe", signed_pe(*TENCENT_LEAF, extra=(PKI.ca,)))
    write(
        root,
        f"{scoop}/4.1.9.57/Weixin.dll",
        signed_pe(*TENCENT_LEAF, extra=(PKI.ca,), body=b"x" * 99),
    )
    assert findings(scan_image(str(root), "windows", PKI.catalogue())) == {}
    write(root, f"{scoop}/Weixin.exe", signed_pe(*self_issued(TENCENT)))
    (found,) = findings(scan_image(str(root), "windows", PKI.catalogue()))[
        "windows-tampered-binary"
    ]
    assert found.startswith(f"{scoop}/Weixin.exe:") and "self-issued" in found


def test_client_outside_its_usual_folders_is_approved_by_its_signer(tmp_path: Path) -> None:
    """A portable copy or an install on another path: its main program's verified vendor
    signature approves the folder and the running process; a self-issued one does not."""
    from checks.api import image_scanner
    from checks.model import ProcessFact
    from tests.support.doubles import RecordedProcessSource

    root = tmp_path / "img"
    (root / "Users" / "alice").mkdir(parents=True)
    folder = root / "Program Files" / "WeChatPortable"
    write(
        root, "Program Files/WeChatPortable/WeChat.exe", signed_pe(*TENCENT_LEAF, extra=(PKI.ca,))
    )
    exe = str(folder / "WeChat.exe")
    procs = RecordedProcessSource([ProcessFact(4242, "WeChat.exe", exe, (exe,), "alice", 1, 0.0)])

    def scan() -> dict[str, list[str]]:
        scanner = image_scanner(str(root), "windows", PKI.catalogue())
        scanner.processes = procs
        return findings(scanner.scan())

    assert scan() == {}
    write(root, "Program Files/WeChatPortable/WeChat.exe", signed_pe(*self_issued(TENCENT)))
    found = scan()
    assert set(found) == {"unrecognised-wechat-app", "unrecognised-wechat-process"}, found


def test_vendor_critical_extensions_are_accepted_unknown_ones_are_not() -> None:
    """Apple's Developer ID leaves carry a critical extension of Apple's arc
    (1.2.840.113635.100.6.1.13) the generic verifier refuses; the link-by-link path accepts
    that arc and no other unknown critical extension, and still wants code signing."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from checks.trust import TrustStore

    def leaf(
        oid: str, eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.CODE_SIGNING
    ) -> x509.Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Developer ID")]))
            .issuer_name(PKI.ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=100))
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), b"\x05\x00"), critical=True
            )
            .sign(PKI.ca_key, hashes.SHA256())
        )

    store = TrustStore.of([PKI.root_pem])
    assert store.verify(leaf("1.2.840.113635.100.6.1.13"), [PKI.ca]).trusted
    assert not store.verify(leaf("1.2.3.4"), [PKI.ca]).trusted
    apple_server = leaf("1.2.840.113635.100.6.1.13", ExtendedKeyUsageOID.SERVER_AUTH)
    assert not store.verify(apple_server, [PKI.ca]).trusted
    assert (
        not TrustStore.of([Pki("other").root_pem])
        .verify(leaf("1.2.840.113635.100.6.1.13"), [PKI.ca])
        .trusted
    )


def test_saved_signer_results_keep_the_chain_across_a_restart(tmp_path: Path) -> None:
    """The agent saves PE signer results across restarts: they must keep the certificates,
    or every vendor file would look untrusted after a reboot (mass false alarms)."""
    from checks.integrity import persist
    from checks.integrity.filecache import RESULTS

    root = field_case_3(tmp_path / "img")
    RESULTS.clear()
    assert findings(scan_image(str(root), "windows", PKI.catalogue())) == {}
    saved = tmp_path / "integrity-cache.json"
    assert persist.save(saved) > 0
    RESULTS.clear()  # a new process
    assert persist.load(saved) > 0
    result = scan_image(str(root), "windows", PKI.catalogue())
    assert findings(result) == {} and result.stats["files_hashed"] == 0
    RESULTS.clear()


def test_renamed_copy_of_another_version_is_known_by_signer_and_original_file_name(
    tmp_path: Path,
) -> None:
    """A main program of another version copied in as `WeChat_2.exe` has other bytes: it is
    still the main program by who signed it (verified chain) and the name it was built as
    (OriginalFilename). A vendor helper with its own OriginalFilename is not; nor is a file
    that only claims the name, signed by a self-issued "Tencent"."""
    from bench.pefiles import versioned_pe

    root = field_case_3(tmp_path / "img")

    def tencent(original: str, body: bytes, leaf: object = TENCENT_LEAF) -> bytes:
        strings = {"CompanyName": "Tencent", "OriginalFilename": original, "ProductName": "WeChat"}
        cert, key = leaf  # type: ignore[misc]
        return signed_pe(cert, key, extra=(PKI.ca,), image=versioned_pe(strings, body))

    write(root, f"{INSTALL}/WeChat_2.exe", tencent("WeChat.exe", b"3.9.10" * 100))
    write(root, f"{INSTALL}/WeChatUpdate.exe", tencent("WeChatUpdate.exe", b"upd" * 100))
    write(root, f"{INSTALL}/WeChat3.exe", tencent("WeChat.exe", b"x" * 64, self_issued(TENCENT)))
    found = findings(scan_image(str(root), "windows", PKI.catalogue()))
    renamed = found.get("windows-renamed-client-exe", [])
    assert [d.split(":")[0] for d in renamed] == [f"{INSTALL}/WeChat_2.exe"], found
    assert "OriginalFilename 'WeChat.exe'" in renamed[0] and "chain verified" in renamed[0]
    assert "期望 expected" in renamed[0]
    # The forged one is a finding of its own (a signer nobody vouches for), not a copy.
    assert [d.split(":")[0] for d in found["windows-unknown-binary"]] == [f"{INSTALL}/WeChat3.exe"]
    assert set(found) == {"windows-renamed-client-exe", "windows-unknown-binary"}
