"""Apple code signatures: does a Mach-O's CMS signature sign its CodeDirectory, and does
the signer's certificate chain to Apple's roots (or an added anchor)?

Apple's codesign puts a detached CMS SignedData in the signature's blob wrapper; its signed
`messageDigest` attribute is the digest of the primary CodeDirectory (slot 0), and the
signer certificate is the developer's (Developer ID: OU = Team ID) or, for the Mac App
Store, Apple's own. The signature over the signed attributes is verified with the signer's
key (shared with Authenticode: `authenticode.signer_problem`), the chain with
`checks.trust`. Imported only when a macOS bundle is checked (asn1crypto's memory).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from asn1crypto import cms
from cryptography import x509
from cryptography.x509.oid import NameOID

from checks.integrity import authenticode
from checks.trust import TrustStore

APPLE_ORG = "Apple Inc."


@dataclass(frozen=True, slots=True)
class CmsCheck:
    """What a Mach-O's CMS signature proves."""

    readable: bool
    problem: str = ""  # the CMS does not sign this CodeDirectory, or it cannot be read
    signer: str = ""  # RFC 4514 subject
    team_id: str = ""  # the signer certificate's OU (Developer ID certificates)
    apple_signed: bool = False  # signed by Apple itself (Mac App Store re-signing)
    trusted: bool = False
    chain_problem: str = ""


@functools.lru_cache(maxsize=256)
def verify(
    cms_der: bytes, cd_digests: tuple[tuple[str, bytes], ...], trust: TrustStore
) -> CmsCheck:
    try:
        info = cms.ContentInfo.load(cms_der)
        if info["content_type"].native != "signed_data":
            return CmsCheck(False, problem="the CMS blob is not a SignedData")
        signed = info["content"]
        digests = dict(cd_digests)
        problem, signer = authenticode.signer_problem(signed, digests.get)
        others = authenticode.other_certificates(signed, signer) if signer else []
    except (ValueError, TypeError, KeyError) as exc:  # asn1crypto's parse errors
        return CmsCheck(False, problem=f"the CMS signature cannot be read ({exc})")
    if signer is None:
        return CmsCheck(True, problem=problem)
    subject = _name(signer)
    ou = _first(signer, NameOID.ORGANIZATIONAL_UNIT_NAME)
    apple = _first(signer, NameOID.ORGANIZATION_NAME) == APPLE_ORG
    if problem:
        return CmsCheck(True, problem=problem, signer=subject, team_id=ou, apple_signed=apple)
    chain = trust.verify(signer, others)
    return CmsCheck(
        True,
        signer=subject,
        team_id=ou,
        apple_signed=apple,
        trusted=chain.trusted,
        chain_problem=chain.problem,
    )


def _first(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    value = values[0].value if values else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _name(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "(unreadable subject)"
