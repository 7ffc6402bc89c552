"""Windows PE files: who signed them, and whether the file is still what they signed.

The layout, from Microsoft's PE format and Authenticode specifications: the DOS header's
`e_lfanew` (u32 at 0x3c) points at "PE\\0\\0", a 20-byte COFF header, then the optional
header (magic 0x10b PE32 / 0x20b PE32+) whose data directory 4 (IMAGE_DIRECTORY_ENTRY_SECURITY)
holds a *file offset* (not an RVA) and size of the certificate table: WIN_CERTIFICATE
{u32 dwLength, u16 wRevision, u16 wCertificateType (2 = PKCS#7 SignedData), bCertificate}.
The signer is the certificate the SignedData's SignerInfo names by issuer and serial number.

`verify_image` checks that the file is unchanged since it was signed: the SignedData's
content is an SpcIndirectDataContent holding the Authenticode digest of the image (the whole
file except the optional header's CheckSum, the certificate-table directory entry and the
certificate table itself); that digest must match the file, the SignerInfo's messageDigest
attribute must match the SpcIndirectDataContent, and the signer's signature over the signed
attributes must verify with the signer certificate's key. A patcher that edits a signed DLL in
place (anti-recall, multi-open) breaks the first; one that also rewrites the digest breaks the
other two.

Out of scope, and documented as such: the certificate chain is NOT verified (a self-made
certificate whose subject says "Tencent" passes), nor are revocation and timestamps checked,
nor page hashes and nested (dual) signatures. Proving a signer genuine needs WinVerifyTrust on
the machine itself. (signify, which does chains, cannot be imported here: its oscrypto
dependency does not recognise OpenSSL 3.0.10 and later.)
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAX_HEADERS = 64 * 1024
MAX_CERT_TABLE = 16 * 1024 * 1024
WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
SECURITY_DIRECTORY = 4
CHECKSUM_OFFSET = 64  # in the optional header, PE32 and PE32+ alike
SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4"


class _SpcAttributeTypeAndOptionalValue(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("type", core.ObjectIdentifier),
        ("value", core.Any, {"optional": True}),
    ]


class _DigestInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("digest_algorithm", algos.DigestAlgorithm),
        ("digest", core.OctetString),
    ]


class SpcIndirectDataContent(core.Sequence):  # type: ignore[misc]
    """Authenticode's signed content: what was signed (a PE image) and its digest."""

    _fields: ClassVar[list[Any]] = [
        ("data", _SpcAttributeTypeAndOptionalValue),
        ("message_digest", _DigestInfo),
    ]


# asn1crypto's extension point for content types it does not know: PKCS#7 SignedData (v1)
# carries its content in a ContentInfo, CMS in an EncapsulatedContentInfo.
cms.ContentType._map.setdefault(SPC_INDIRECT_DATA, "spc_indirect_data")
cms.ContentInfo._oid_specs.setdefault("spc_indirect_data", SpcIndirectDataContent)
cms.EncapsulatedContentInfo._oid_specs.setdefault("spc_indirect_data", SpcIndirectDataContent)

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "md5": hashes.MD5,
}


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


@dataclass(frozen=True, slots=True)
class ImageCheck:
    """Whether a signed PE file is unchanged since it was signed (see the module docstring)."""

    verified: bool  # False: nothing to check (unsigned) or it could not be checked (`problem`)
    intact: bool = False
    problem: str = ""


@dataclass(frozen=True, slots=True)
class _Headers:
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


def _headers(fh: BinaryIO, size: int) -> _Headers | None:
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
        return _Headers(opt_at + CHECKSUM_OFFSET, opt_at + entry_at, 0, 0)
    offset, length = struct.unpack_from("<II", opt, entry_at)
    return _Headers(opt_at + CHECKSUM_OFFSET, opt_at + entry_at, offset, length)


def _table(fh: BinaryIO, size: int, headers: _Headers) -> bytes | str | None:
    """The certificate table's bytes; None if unsigned; a reason if it is out of bounds."""
    offset, length = headers.table_offset, headers.table_length
    if offset == 0 or length == 0:
        return None
    if length < 8 or length > MAX_CERT_TABLE or offset + length > size:
        return f"the certificate table ({length} bytes at {offset:#x}) lies outside the file"
    fh.seek(offset)
    return fh.read(length)


def _inspect(fh: BinaryIO, size: int) -> PeSignature:
    headers = _headers(fh, size)
    if headers is None:
        return PeSignature(is_pe=False)
    table = _table(fh, size, headers)
    if table is None:
        return PeSignature(is_pe=True)
    if isinstance(table, str):
        return PeSignature(is_pe=True, signed=True, problem=table)
    der = _signed_data(table)
    if der is None:
        return PeSignature(True, True, problem="no PKCS#7 SignedData in the certificate table")
    try:
        certs = pkcs7.load_der_pkcs7_certificates(der)
    except ValueError as exc:
        return PeSignature(True, True, problem=f"the PKCS#7 block cannot be read ({exc})")
    if not certs:
        return PeSignature(True, True, problem="the PKCS#7 block holds no certificates")
    cert = _signer_cert(der, certs)
    return PeSignature(True, True, signer=_describe(cert))


def verify_image(fh: BinaryIO, size: int) -> ImageCheck:
    """Is the signed file unchanged since it was signed? Reads the whole file once."""
    try:
        headers = _headers(fh, size)
    except struct.error as exc:
        raise PeError(str(exc)) from exc
    if headers is None:
        return ImageCheck(verified=False, problem="not a PE file")
    table = _table(fh, size, headers)
    if table is None:
        return ImageCheck(verified=False, problem="not signed")
    if isinstance(table, str):
        return ImageCheck(verified=False, problem=table)
    der = _signed_data(table)
    if der is None:
        return ImageCheck(verified=False, problem="no PKCS#7 SignedData in the certificate table")
    try:
        return _verify(fh, size, headers, der)
    except (ValueError, TypeError, KeyError) as exc:  # asn1crypto's parse errors
        return ImageCheck(verified=False, problem=f"the signature cannot be read ({exc})")


def _verify(fh: BinaryIO, size: int, headers: _Headers, der: bytes) -> ImageCheck:
    signed = cms.ContentInfo.load(der)["content"]
    content_info = signed["encap_content_info"]
    if content_info["content_type"].dotted != SPC_INDIRECT_DATA:
        return ImageCheck(verified=False, problem="the signed content is not Authenticode's")
    spc = content_info["content"]
    algorithm = spc["message_digest"]["digest_algorithm"]["algorithm"].native
    if algorithm not in _HASHES:
        return ImageCheck(verified=False, problem=f"unsupported digest algorithm {algorithm}")
    if image_digest(fh, size, headers, algorithm) != spc["message_digest"]["digest"].native:
        return ImageCheck(
            verified=True,
            intact=False,
            problem=f"changed after it was signed: its {algorithm} image digest differs "
            "from the signed one",
        )
    problem = _signer_problem(signed, spc.contents)
    if problem:
        return ImageCheck(verified=True, intact=False, problem=problem)
    return ImageCheck(verified=True, intact=True)


def image_digest(fh: BinaryIO, size: int, headers: _Headers, algorithm: str) -> bytes:
    """The Authenticode digest: every byte but the CheckSum, the certificate-table entry and
    the certificate table, in file order."""
    skip = sorted(
        [
            (headers.checksum_at, 4),
            (headers.directory_at, 8),
            (headers.table_offset, headers.table_length),
        ]
    )
    digest = hashlib.new(algorithm)
    pos = 0
    for start, length in [*skip, (size, 0)]:
        fh.seek(pos)
        remaining = max(0, start - pos)
        while remaining:
            chunk = fh.read(min(remaining, 1 << 20))
            if not chunk:
                raise PeError("the file ended early")
            digest.update(chunk)
            remaining -= len(chunk)
        pos = max(pos, start + length)
    return digest.digest()


def _signer_problem(signed: Any, content: bytes) -> str:
    """Why the signer's signature does not cover `content` (the SpcIndirectDataContent's
    value); "" when it does."""
    infos = signed["signer_infos"]
    if len(infos) == 0:
        return "the signature has no signer"
    info = infos[0]
    sid = info["sid"]
    if sid.name != "issuer_and_serial_number":
        return "the signer is not named by issuer and serial number"
    wanted = (sid.chosen["issuer"].dump(), sid.chosen["serial_number"].native)
    signer = None
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if (cert.issuer.dump(), cert.serial_number) == wanted:
            signer = x509.load_der_x509_certificate(cert.dump())
            break
    if signer is None:
        return "the signer's certificate is not in the signature"
    name = info["digest_algorithm"]["algorithm"].native
    if name not in _HASHES:
        return f"unsupported signer digest algorithm {name}"
    attributes = info["signed_attrs"]
    if not attributes:
        return "the signature has no signed attributes"
    declared = [a["values"][0].native for a in attributes if a["type"].native == "message_digest"]
    if declared != [hashlib.new(name, content).digest()]:
        return "the signed digest was replaced: it no longer matches what the signer signed"
    signed_bytes = attributes.untag().dump()  # signed as a SET OF, not as [0] IMPLICIT
    algorithm = _HASHES[name]()
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(info["signature"].native, signed_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(info["signature"].native, signed_bytes, ec.ECDSA(algorithm))
        else:
            return f"unsupported signer key type {type(key).__name__}"
    except InvalidSignature:
        return "the signer's signature does not verify"
    except UnsupportedAlgorithm as exc:
        return f"unsupported signature algorithm ({exc})"
    return ""


def _signed_data(table: bytes) -> bytes | None:
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
