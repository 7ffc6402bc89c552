"""Windows PE files: where their Authenticode signature is, and who signed them.

The layout, from Microsoft's PE format and Authenticode specifications: the DOS header's
`e_lfanew` (u32 at 0x3c) points at "PE\\0\\0", a 20-byte COFF header, then the optional
header (magic 0x10b PE32 / 0x20b PE32+) whose data directory 4 (IMAGE_DIRECTORY_ENTRY_SECURITY)
holds a *file offset* (not an RVA) and size of the certificate table: WIN_CERTIFICATE
{u32 dwLength, u16 wRevision, u16 wCertificateType (2 = PKCS#7 SignedData), bCertificate}.
The signer is the certificate the SignedData's SignerInfo names by issuer and serial number.

Whether the file is still what was signed is `authenticode.py`'s business.

The certificates the signature carries are kept (DER) so that `checks.trust` can verify
the signer's chain to a shipped trust anchor: a self-made certificate whose subject says
"Tencent" is read here, and refused there.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAX_HEADERS = 64 * 1024
MAX_CERT_TABLE = 16 * 1024 * 1024
WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
SECURITY_DIRECTORY = 4
CHECKSUM_OFFSET = 64  # in the optional header, PE32 and PE32+ alike


class PeError(ValueError):
    """The file starts like a PE file but its headers are malformed or truncated."""


@dataclass(frozen=True, slots=True)
class Signer:
    organization: str
    common_name: str
    subject: str  # RFC 4514


@dataclass(frozen=True, slots=True)
class PeSignature:
    """What a file's Authenticode block says about who signed it (nothing is verified)."""

    is_pe: bool
    signed: bool = False
    signer: Signer | None = None
    problem: str = ""  # why a signature that is there could not be read
    signer_der: bytes = b""  # the signer's certificate
    others_der: tuple[bytes, ...] = ()  # the other certificates the signature carries

    def certificates(self) -> tuple[x509.Certificate, list[x509.Certificate]] | None:
        """(signer, the others) as certificates; None when there is no signer."""
        if not self.signer_der:
            return None
        return x509.load_der_x509_certificate(self.signer_der), [
            x509.load_der_x509_certificate(d) for d in self.others_der
        ]


@dataclass(frozen=True, slots=True)
class Headers:
    checksum_at: int  # file offset of the optional header's CheckSum (4 bytes)
    directory_at: int  # file offset of the certificate-table directory entry (8 bytes)
    table_offset: int  # the certificate table (0, 0 when the file is unsigned)
    table_length: int


def is_pe_header(head: bytes) -> bool:
    return head[:2] == b"MZ"


def inspect(fh: BinaryIO, size: int) -> PeSignature:
    """Read a file's headers and signer (raises PeError for malformed PE headers)."""
    try:
        return _inspect(fh, size)
    except struct.error as exc:
        raise PeError(str(exc)) from exc


def headers(fh: BinaryIO, size: int) -> Headers | None:
    """Where the fields Authenticode skips are; None when this is not a PE file."""
    fh.seek(0)
    head = fh.read(64)
    if not is_pe_header(head) or len(head) < 64:
        return None
    (e_lfanew,) = struct.unpack_from("<I", head, 0x3C)
    if e_lfanew + 4 > min(size, MAX_HEADERS):
        # "MZ" alone is not a PE file (DOS programs, text that happens to start so).
        return None
    fh.seek(e_lfanew)
    nt = fh.read(min(MAX_HEADERS, size - e_lfanew))
    if nt[:4] != b"PE\0\0":
        return None
    if len(nt) < 24:
        raise PeError("the COFF header is truncated")
    (opt_size,) = struct.unpack_from("<H", nt, 4 + 16)
    opt = nt[24 : 24 + opt_size]
    if len(opt) < opt_size or opt_size < 2:
        raise PeError("the optional header is truncated")
    (magic,) = struct.unpack_from("<H", opt, 0)
    if magic == 0x10B:
        count_at, dirs_at = 92, 96
    elif magic == 0x20B:
        count_at, dirs_at = 108, 112
    else:
        raise PeError(f"unknown optional header magic {magic:#x}")
    if len(opt) < count_at + 4:
        raise PeError("the optional header is truncated")
    (count,) = struct.unpack_from("<I", opt, count_at)
    opt_at = e_lfanew + 24
    entry_at = dirs_at + SECURITY_DIRECTORY * 8
    if count <= SECURITY_DIRECTORY or len(opt) < entry_at + 8:
        return Headers(opt_at + CHECKSUM_OFFSET, opt_at + entry_at, 0, 0)
    offset, length = struct.unpack_from("<II", opt, entry_at)
    return Headers(opt_at + CHECKSUM_OFFSET, opt_at + entry_at, offset, length)


def certificate_table(fh: BinaryIO, size: int, where: Headers) -> bytes | str | None:
    """The certificate table's bytes; None if unsigned; a reason if it is out of bounds."""
    offset, length = where.table_offset, where.table_length
    if offset == 0 or length == 0:
        return None
    if length < 8 or length > MAX_CERT_TABLE or offset + length > size:
        return f"the certificate table ({length} bytes at {offset:#x}) lies outside the file"
    fh.seek(offset)
    return fh.read(length)


def _inspect(fh: BinaryIO, size: int) -> PeSignature:
    found = headers(fh, size)
    if found is None:
        return PeSignature(is_pe=False)
    table = certificate_table(fh, size, found)
    if table is None:
        return PeSignature(is_pe=True)
    if isinstance(table, str):
        return PeSignature(is_pe=True, signed=True, problem=table)
    der = signed_data(table)
    if der is None:
        return PeSignature(True, True, problem="no PKCS#7 SignedData in the certificate table")
    try:
        certs = pkcs7.load_der_pkcs7_certificates(der)
    except ValueError as exc:
        return PeSignature(True, True, problem=f"the PKCS#7 block cannot be read ({exc})")
    if not certs:
        return PeSignature(True, True, problem="the PKCS#7 block holds no certificates")
    cert = _signer_cert(der, certs)
    return PeSignature(
        True,
        True,
        signer=_describe(cert),
        signer_der=cert.public_bytes(Encoding.DER),
        others_der=tuple(c.public_bytes(Encoding.DER) for c in certs if c != cert)[:32],
    )


def signed_data(table: bytes) -> bytes | None:
    pos = 0
    while pos + 8 <= len(table):
        length, _revision, kind = struct.unpack_from("<IHH", table, pos)
        if length < 8 or pos + length > len(table):
            return None
        if kind == WIN_CERT_TYPE_PKCS_SIGNED_DATA:
            body = table[pos + 8 : pos + length]
            try:
                end = _tlv(body, 0)[2]
            except ValueError:
                return None
            return body[:end]  # dwLength may count alignment padding after the DER
        pos += (length + 7) & ~7
    return None


def _signer_cert(der: bytes, certs: list[x509.Certificate]) -> x509.Certificate:
    """The certificate the SignerInfo names; else the code-signing leaf; else the first."""
    for issuer, serial in _signer_ids(der):
        for cert in certs:
            if cert.serial_number == serial and cert.issuer.public_bytes() == issuer:
                return cert
    for cert in certs:
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (x509.ExtensionNotFound, ValueError):
            continue
        if ExtendedKeyUsageOID.CODE_SIGNING in eku:
            return cert
    return certs[0]


def _signer_ids(der: bytes) -> list[tuple[bytes, int]]:
    """(issuer Name DER, serial) of each SignerInfo; [] when the structure is unexpected.

    ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
    SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo SEQUENCE,
                              certificates [0] IMPLICIT OPTIONAL, crls [1] OPTIONAL,
                              signerInfos SET OF SignerInfo }
    SignerInfo ::= SEQUENCE { version, sid IssuerAndSerialNumber | [0] SKI, … }
    """
    try:
        _, body, _ = _tlv(der, 0)  # ContentInfo
        pos = _tlv(der, body)[2]  # past contentType
        tag, explicit, _ = _tlv(der, pos)
        if tag != 0xA0:
            return []
        _, inner, inner_end = _tlv(der, explicit)  # SignedData SEQUENCE
        pos = inner
        last: tuple[int, int, int] | None = None
        while pos < inner_end:
            last = _tlv(der, pos)
            pos = last[2]
        if last is None or last[0] != 0x31:
            return []
        out: list[tuple[bytes, int]] = []
        pos, end = last[1], last[2]
        while pos < end:
            _, info, info_end = _tlv(der, pos)
            version_end = _tlv(der, info)[2]
            tag, sid, _ = _tlv(der, version_end)
            if tag == 0x30:
                _, _, issuer_end = _tlv(der, sid)
                issuer = der[sid:issuer_end]
                tag, serial_at, serial_end = _tlv(der, issuer_end)
                if tag == 0x02:
                    serial = int.from_bytes(der[serial_at:serial_end], "big", signed=True)
                    out.append((issuer, serial))
            pos = info_end
        return out
    except (ValueError, IndexError):
        return []


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of element) of the DER element at `pos`."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _describe(cert: x509.Certificate) -> Signer:
    def first(oid: x509.ObjectIdentifier) -> str:
        values = cert.subject.get_attributes_for_oid(oid)
        value = values[0].value if values else ""
        return value if isinstance(value, str) else value.decode("utf-8", "replace")

    try:
        subject = cert.subject.rfc4514_string()
    except ValueError:
        subject = ""
    return Signer(first(NameOID.ORGANIZATION_NAME), first(NameOID.COMMON_NAME), subject)


def normalise_signer(name: str) -> str:
    """Signer names compared without case and spacing ("Technology(Shenzhen)" variants)."""
    return "".join(name.split()).casefold()
