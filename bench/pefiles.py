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
) -> bytes:
    """A PE file Authenticode-signed by osslsigncode (a real SpcIndirectDataContent)."""
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
            _pem(folder / "in.dll", pe_file(body=body)),
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
