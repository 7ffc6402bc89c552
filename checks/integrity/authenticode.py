"""Authenticode: is a signed Windows PE file still what its signer signed?

The SignedData's content is an SpcIndirectDataContent holding the Authenticode digest of the
image: the whole file except the optional header's CheckSum, the certificate-table directory
entry and the certificate table itself. `verify_image` checks that this digest matches the
file, that the SignerInfo's messageDigest attribute matches the SpcIndirectDataContent, and
that the signer's signature over the signed attributes verifies with the signer
certificate's key. A patcher that edits a signed DLL in place (anti-recall, multi-open) breaks
the first; one that also rewrites the digest breaks the other two.

Out of scope: the certificate chain, revocation, timestamps, page hashes and nested (dual)
signatures; WinVerifyTrust on the machine is the authority for those. (signify, which does
chains, cannot be imported here: its oscrypto dependency does not recognise OpenSSL 3.0.10
and later.) Imported only when a Windows install is checked: asn1crypto costs ~3 MB of RSS.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from checks.integrity import pe

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


@dataclass(frozen=True, slots=True)
class ImageCheck:
    """Whether a signed PE file is unchanged since it was signed (see the module docstring)."""

    verified: bool  # False: nothing to check (unsigned) or it could not be checked (`problem`)
    intact: bool = False
    problem: str = ""


def verify_image(fh: BinaryIO, size: int) -> ImageCheck:
    """Is the signed file unchanged since it was signed? Reads the whole file once."""
    try:
        where = pe.headers(fh, size)
    except struct.error as exc:
        raise pe.PeError(str(exc)) from exc
    if where is None:
        return ImageCheck(verified=False, problem="not a PE file")
    table = pe.certificate_table(fh, size, where)
    if table is None:
        return ImageCheck(verified=False, problem="not signed")
    if isinstance(table, str):
        return ImageCheck(verified=False, problem=table)
    der = pe.signed_data(table)
    if der is None:
        return ImageCheck(verified=False, problem="no PKCS#7 SignedData in the certificate table")
    try:
        return _verify(fh, size, where, der)
    except (ValueError, TypeError, KeyError) as exc:  # asn1crypto's parse errors
        return ImageCheck(verified=False, problem=f"the signature cannot be read ({exc})")


def _verify(fh: BinaryIO, size: int, where: pe.Headers, der: bytes) -> ImageCheck:
    signed = cms.ContentInfo.load(der)["content"]
    content_info = signed["encap_content_info"]
    if content_info["content_type"].dotted != SPC_INDIRECT_DATA:
        return ImageCheck(verified=False, problem="the signed content is not Authenticode's")
    spc = content_info["content"]
    algorithm = spc["message_digest"]["digest_algorithm"]["algorithm"].native
    if algorithm not in _HASHES:
        return ImageCheck(verified=False, problem=f"unsupported digest algorithm {algorithm}")
    if image_digest(fh, size, where, algorithm) != spc["message_digest"]["digest"].native:
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


def image_digest(fh: BinaryIO, size: int, where: pe.Headers, algorithm: str) -> bytes:
    """The Authenticode digest: every byte but the CheckSum, the certificate-table entry and
    the certificate table, in file order."""
    skip = sorted(
        [
            (where.checksum_at, 4),
            (where.directory_at, 8),
            (where.table_offset, where.table_length),
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
                raise pe.PeError("the file ended early")
            digest.update(chunk)
            remaining -= len(chunk)
        pos = max(pos, start + length)
    return digest.digest()


def _signer_problem(signed: Any, content: bytes) -> str:
    """Why the signer's signature does not cover `content` (the SpcIndirectDataContent's
    value); "" when it does."""
    return signer_problem(signed, lambda name: hashlib.new(name, content).digest())[0]


def signer_problem(
    signed: Any, digest_of: Callable[[str], bytes | None]
) -> tuple[str, x509.Certificate | None]:
    """Why the first SignerInfo of a (CMS / PKCS#7) SignedData does not sign the content whose
    digest under a hashlib algorithm name `digest_of` gives ("" when it does), and the
    signer's certificate when it was found. Shared by Authenticode and Apple's code signing."""
    infos = signed["signer_infos"]
    if len(infos) == 0:
        return "the signature has no signer", None
    info = infos[0]
    sid = info["sid"]
    if sid.name != "issuer_and_serial_number":
        return "the signer is not named by issuer and serial number", None
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
        return "the signer's certificate is not in the signature", None
    name = info["digest_algorithm"]["algorithm"].native
    if name not in _HASHES:
        return f"unsupported signer digest algorithm {name}", signer
    attributes = info["signed_attrs"]
    if not attributes:
        return "the signature has no signed attributes", signer
    declared = [a["values"][0].native for a in attributes if a["type"].native == "message_digest"]
    expected = digest_of(name)
    if expected is None or declared != [expected]:
        return (
            "the signed digest was replaced: it no longer matches what the signer signed",
            signer,
        )
    signed_bytes = attributes.untag().dump()  # signed as a SET OF, not as [0] IMPLICIT
    algorithm = _HASHES[name]()
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(info["signature"].native, signed_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(info["signature"].native, signed_bytes, ec.ECDSA(algorithm))
        else:
            return f"unsupported signer key type {type(key).__name__}", signer
    except InvalidSignature:
        return "the signer's signature does not verify", signer
    except UnsupportedAlgorithm as exc:
        return f"unsupported signature algorithm ({exc})", signer
    return "", signer


def other_certificates(signed: Any, signer: x509.Certificate) -> list[x509.Certificate]:
    """The certificates a SignedData carries besides the signer's (chain intermediates)."""
    out: list[x509.Certificate] = []
    for choice in signed["certificates"] or []:
        if choice.name == "certificate":
            cert = x509.load_der_x509_certificate(choice.chosen.dump())
            if cert != signer:
                out.append(cert)
    return out
