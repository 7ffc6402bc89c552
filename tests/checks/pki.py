"""A test PKI: a root (passed to scans as a trust anchor), an intermediate CA and code-signing
leaves, so fixtures are signed the way vendors sign (leaf + intermediate in the signature)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from checks.catalogue import Catalogue, load_builtin

Key = ec.EllipticCurvePrivateKey
_START = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


def _name(org: str, cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject: x509.Name,
    key: Key,
    issuer: x509.Name,
    issuer_key: Key,
    ca: bool,
    days: int = 3650,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_START)
        .not_valid_after(_START + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    """One root and one intermediate; `leaf(org)` issues a code-signing certificate."""

    name: str = "wxguard Test Root"
    root_key: Key = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    ca_key: Key = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def __post_init__(self) -> None:
        root_name = _name("wxguard tests", self.name)
        self.root = _cert(root_name, self.root_key, root_name, self.root_key, True)
        ca_name = _name("wxguard tests", self.name + " Code Signing CA")
        self.ca = _cert(ca_name, self.ca_key, root_name, self.root_key, True)

    def leaf(self, org: str, cn: str | None = None) -> tuple[x509.Certificate, Key]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(_name(org, cn or org), key, self.ca.subject, self.ca_key, False, 1000)
        return cert, key

    @property
    def root_pem(self) -> str:
        return self.root.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def catalogue(self) -> Catalogue:
        """The shipped catalogue that also trusts this root (as `--trust-anchor` does)."""
        return load_builtin().with_trust_anchors([self.root_pem])


def self_issued(org: str, cn: str | None = None) -> tuple[x509.Certificate, Key]:
    """A certificate that names `org` and is signed by its own key: proves nothing."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(org, cn or org)
    return _cert(name, key, name, key, False, 1000), key
