"""Trust anchors and certificate-chain verification for code signatures.

A signer counts only when its certificate chains to an anchor: the public roots shipped in
`checks/data/anchors/*.pem` (the roots behind Tencent's, Microsoft's and Apple's
code-signing certificates), plus anchors added per scan (`wxguard check --trust-anchor`)
or by the signed policy (a client's `trust_anchors`). A self-issued certificate that names
Tencent chains to nothing and proves nothing.

Verification is `cryptography.x509.verification` (path building, signatures, validity,
basic constraints, chain depth) with extension policies for code signing instead of the
WebPKI defaults: CAs must be CAs, the leaf must not be one, and a leaf that states an
extended key usage must allow code signing. WebPKI's algorithm rules still apply (RSA
keys of 2048 bits or more, SHA-256 or stronger signatures below the anchor).

Apple's Developer ID and App Store leaf certificates carry critical extensions of Apple's
own arc, which the generic verifier refuses as "unaccounted for" (it cannot be told about
unknown OIDs); for those chains only, the same checks are made link by link with
cryptography's primitives (`verify_directly_issued_by`), allowing critical extensions of
Apple's and Microsoft's arcs and nothing else unknown.

Time: an Authenticode or Apple signature stays valid after its certificate expires when it
was time-stamped. Timestamps are not verified here, so the chain is checked at the current
time clamped into the leaf's validity window: expiry alone is never held against a genuine
old install, and everything else (who issued what) is checked. Revocation is not checked
(offline). Both are said in docs/integrity.md.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

MAX_CHAIN_DEPTH = 8
MAX_CERTS = 32  # certificates in one signature taken into account
_SHA256 = hashes.SHA256()


class AnchorError(ValueError):
    """A trust-anchor file or string holds no readable PEM certificate."""


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """Whether a signer's certificate chains to a trust anchor."""

    trusted: bool
    anchor: str = ""  # the anchor's subject (RFC 4514) when trusted
    problem: str = ""  # why not, in words a person can check


def load_pem(text: str | bytes, where: str = "") -> list[x509.Certificate]:
    """The certificates of a PEM text (raises AnchorError when there is none)."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise AnchorError(f"{where or 'trust anchor'}: not a PEM certificate ({exc})") from exc
    if not certs:
        raise AnchorError(f"{where or 'trust anchor'}: no certificate in it")
    return certs


@functools.cache
def builtin_anchor_pems() -> tuple[str, ...]:
    """The shipped anchors' PEM texts (checks/data/anchors/*.pem), in name order."""
    folder = resources.files("checks").joinpath("data", "anchors")
    return tuple(
        p.read_text("ascii")
        for p in sorted(folder.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".pem")
    )


@dataclass(frozen=True, slots=True)
class TrustStore:
    """The anchors one scan trusts; build with `TrustStore.of`."""

    anchors: tuple[x509.Certificate, ...]
    key: str  # a digest of the anchors: verdicts are cached per (store, chain)

    @classmethod
    def of(cls, extra_pems: Iterable[str] = (), builtin: bool = True) -> TrustStore:
        pems = [*(builtin_anchor_pems() if builtin else ()), *extra_pems]
        return _store(tuple(pems))

    def verify(self, leaf: x509.Certificate, others: Sequence[x509.Certificate] = ()) -> ChainCheck:
        """Does `leaf` chain, through any of `others`, to one of the anchors?"""
        return _verify(self, leaf, tuple(others[:MAX_CERTS]))


@functools.lru_cache(maxsize=16)
def _store(pems: tuple[str, ...]) -> TrustStore:
    certs: dict[bytes, x509.Certificate] = {}
    for i, pem in enumerate(pems):
        for cert in load_pem(pem, f"trust anchor #{i + 1}"):
            certs.setdefault(cert.fingerprint(_SHA256), cert)
    digest = hashlib.sha256(b"".join(sorted(certs))).hexdigest()
    return TrustStore(tuple(certs.values()), digest)


def _leaf_eku(_policy: verification.Policy, _cert: x509.Certificate, ext: object) -> None:
    if ext is None or not isinstance(ext, x509.ExtendedKeyUsage):
        return
    if (
        ExtendedKeyUsageOID.CODE_SIGNING not in ext
        and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in ext
    ):
        raise ValueError("the certificate is not for code signing (extended key usage)")


def _leaf_not_ca(_policy: verification.Policy, _cert: x509.Certificate, ext: object) -> None:
    if isinstance(ext, x509.BasicConstraints) and ext.ca:
        raise ValueError("a CA certificate cannot sign code")


def _is_ca(_policy: verification.Policy, _cert: x509.Certificate, ext: object) -> None:
    if not (isinstance(ext, x509.BasicConstraints) and ext.ca):
        raise ValueError("an issuer that is not a CA")


@functools.cache
def _policies() -> tuple[verification.ExtensionPolicy, verification.ExtensionPolicy]:
    agnostic = verification.Criticality.AGNOSTIC
    ca = verification.ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, agnostic, _is_ca
    )
    ee = (
        verification.ExtensionPolicy.permit_all()
        .may_be_present(x509.ExtendedKeyUsage, agnostic, _leaf_eku)
        .may_be_present(x509.BasicConstraints, agnostic, _leaf_not_ca)
    )
    return ca, ee


@functools.lru_cache(maxsize=4096)
def _verify(
    store: TrustStore, leaf: x509.Certificate, others: tuple[x509.Certificate, ...]
) -> ChainCheck:
    if not store.anchors:
        return ChainCheck(False, problem="no trust anchors are configured")
    now = datetime.datetime.now(datetime.UTC)
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    at = min(max(now, start + datetime.timedelta(seconds=1)), end - datetime.timedelta(seconds=1))
    ca, ee = _policies()
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(store.anchors)))
        .time(at)
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=ca, ee_policy=ee)
        .build_client_verifier()
    )
    try:
        chain = verifier.verify(leaf, [c for c in others if c != leaf]).chain
    except verification.VerificationError as exc:
        if "unaccounted-for critical extensions" in str(exc):
            # Apple's Developer ID / App Store leaves carry critical extensions of Apple's own
            # arc (1.2.840.113635.100.6.…) that the generic verifier cannot be told about;
            # such chains are checked link by link instead (see `_linked`).
            found = _linked(store, leaf, [c for c in others if c != leaf], at)
            if found is not None:
                return ChainCheck(True, anchor=_rfc4514(found.subject))
        issuer = _rfc4514(leaf.issuer)
        if leaf.issuer == leaf.subject:
            why = "a self-issued certificate that chains to no trusted root"
        else:
            why = f"issued by {issuer!r}, which chains to no trusted root"
        return ChainCheck(False, problem=f"{why} ({exc})")
    return ChainCheck(True, anchor=_rfc4514(chain[-1].subject))


# Critical extensions of the vendors' own arcs that code-signing certificates carry
# (Apple: Developer ID / Mac App Store markers; Microsoft: code-signing policy markers).
_VENDOR_CRITICAL_ARCS = ("1.2.840.113635.100.6.", "1.3.6.1.4.1.311.")
_HANDLED = {
    x509.BasicConstraints.oid,
    x509.KeyUsage.oid,
    x509.ExtendedKeyUsage.oid,
    x509.CertificatePolicies.oid,
    x509.SubjectAlternativeName.oid,
    x509.NameConstraints.oid,
}


def _linked(
    store: TrustStore,
    leaf: x509.Certificate,
    others: list[x509.Certificate],
    at: datetime.datetime,
) -> x509.Certificate | None:
    """The anchor `leaf` chains to, checked link by link with cryptography's primitives
    (`verify_directly_issued_by`: issuer name and signature), each certificate valid at `at`,
    every issuer a CA, at most MAX_CHAIN_DEPTH links, critical extensions only of the
    standard kinds or of the vendors' own arcs; the leaf's EKU must allow code signing.
    None when there is no such chain."""
    try:
        _leaf_eku(None, leaf, _ext(leaf, x509.ExtendedKeyUsage))  # type: ignore[arg-type]
    except ValueError:
        return None
    current = leaf
    for _ in range(MAX_CHAIN_DEPTH):
        if not _usable(current, at):
            return None
        for anchor in store.anchors:
            if _issued_by(current, anchor):
                return anchor
        nxt = next(
            (c for c in others if c != current and _issued_by(current, c) and _is_ca_cert(c)),
            None,
        )
        if nxt is None:
            return None
        current = nxt
    return None


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _usable(cert: x509.Certificate, at: datetime.datetime) -> bool:
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return False
    for ext in cert.extensions:
        if (
            ext.critical
            and ext.oid not in _HANDLED
            and not ext.oid.dotted_string.startswith(_VENDOR_CRITICAL_ARCS)
        ):
            return False
    return True


def _is_ca_cert(cert: x509.Certificate) -> bool:
    ext = _ext(cert, x509.BasicConstraints)
    return isinstance(ext, x509.BasicConstraints) and ext.ca


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _rfc4514(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:
        return "(unreadable name)"
