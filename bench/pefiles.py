"""Windows PE files for the integrity tests and benchmark: a minimal PE32+ image, and the
same image Authenticode-signed by Debian's `osslsigncode` under a self-made certificate."""

from __future__ import annotations

import datetime
import struct
import subprocess
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


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


def signing_chain(org: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, str]:
    """A code-signing leaf for `org` issued by a fresh root, and that root's PEM: pass it as a
    trust anchor (`wxguard check --trust-anchor`), since a signer counts only through a chain."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wxguard bench root")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    leaf, key = certificate(org)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1000))
        .sign(root_key, hashes.SHA256())
    )
    return leaf, key, root.public_bytes(serialization.Encoding.PEM).decode("ascii")


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


def _pem(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def signed_pe(
    cert: x509.Certificate,
    key: SigningKey,
    extra: tuple[x509.Certificate, ...] = (),
    body: bytes = b"\x90" * 512,
    digest: str = "sha256",
    image: bytes | None = None,
) -> bytes:
    """A PE file (`image`, or `pe_file(body=body)`) Authenticode-signed by osslsigncode (a
    real SpcIndirectDataContent)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        args = [
            "osslsigncode",
            "sign",
            "-certs",
            _pem(folder / "cert.pem", cert.public_bytes(serialization.Encoding.PEM)),
            "-key",
            _pem(
                folder / "key.pem",
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            ),
            "-h",
            digest,
            "-in",
            _pem(folder / "in.dll", image if image is not None else pe_file(body=body)),
            "-out",
            str(folder / "out.dll"),
        ]
        if extra:
            pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in extra)
            args[2:2] = ["-ac", _pem(folder / "extra.pem", pem)]
        subprocess.run(args, check=True, capture_output=True, timeout=60)
        return (folder / "out.dll").read_bytes()


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


def _utf16z(text: str) -> bytes:
    return (text + "\0").encode("utf-16-le")


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _version_block(key: str, value: bytes, children: list[bytes], text: bool, words: int) -> bytes:
    """One VS_VERSIONINFO node: wLength, wValueLength, wType, szKey, padding, Value, children."""
    head = _pad4(struct.pack("<HHH", 0, words, 1 if text else 0) + _utf16z(key))
    data = head + _pad4(value) + b"".join(_pad4(c) for c in children)
    return struct.pack("<H", len(data)) + data[2:]


def version_info(strings: dict[str, str]) -> bytes:
    """A VS_VERSIONINFO resource (VS_FIXEDFILEINFO and one StringTable, 040904B0)."""
    fixed = struct.pack(
        "<13I",
        0xFEEF04BD,
        0x10000,
        0x30009,
        0xC0033,
        0x30009,
        0xC0033,
        0x3F,
        0,
        0x40004,
        1,
        0,
        0,
        0,
    )
    entries = [_version_block(k, _utf16z(v), [], True, len(v) + 1) for k, v in strings.items()]
    table = _version_block("040904B0", b"", entries, True, 0)
    sfi = _version_block("StringFileInfo", b"", [table], True, 0)
    return _version_block("VS_VERSION_INFO", fixed, [sfi], False, len(fixed))


def versioned_pe(strings: dict[str, str], body: bytes = b"\x90" * 512) -> bytes:
    """A PE32+ image with one `.rsrc` section holding a version resource (RT_VERSION 16,
    id 1, language 0x409) carrying `strings`, then `body` (to make contents differ)."""
    info = version_info(strings)
    rva = 0x1000
    directory = b""
    # root (type 16) at 0, names (id 1) at 24, languages (0x409) at 48, data entry at 72
    for entry_id, target in ((16, 0x80000000 | 24), (1, 0x80000000 | 48), (0x409, 72)):
        directory += struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1) + struct.pack("<II", entry_id, target)
    directory += struct.pack("<IIII", rva + 88, len(info), 0, 0)
    rsrc = directory + info
    rsrc += b"\0" * (-len(rsrc) % 0x200)
    dos = bytearray(64)
    dos[:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 64)
    opt = bytearray(240)
    struct.pack_into("<H", opt, 0, 0x20B)
    struct.pack_into("<Q", opt, 24, 0x140000000)
    struct.pack_into("<II", opt, 32, 0x1000, 0x200)
    struct.pack_into("<HH", opt, 48, 6, 0)
    struct.pack_into("<II", opt, 56, rva + 0x1000 * (1 + len(rsrc) // 0x1000), 0x200)
    struct.pack_into("<H", opt, 68, 2)
    struct.pack_into("<I", opt, 108, 16)
    struct.pack_into("<II", opt, 112 + 2 * 8, rva, len(directory) + len(info))
    coff = struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, len(opt), 0x22)
    section = struct.pack(
        "<8sIIIIIIHHI", b".rsrc", len(rsrc), rva, len(rsrc), 0x200, 0, 0, 0, 0, 0x40000040
    )
    headers = bytes(dos) + b"PE\0\0" + coff + bytes(opt) + section
    headers += b"\0" * (0x200 - len(headers))
    image = headers + rsrc + body
    return image + b"\0" * (-len(image) % 8)
