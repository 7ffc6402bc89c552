"""The signed policy: verification against the pinned key, refusal reasons, the last good policy.

Order matters. The signature is checked over the exact payload bytes before a single byte is
parsed, so a forged document never reaches the JSON parser. Then the document must be for this
device, currently valid, and strictly newer than the last good one (an equal version is "no
change", not an error). Anything else is refused with a stable reason and the last good policy
stays in force; it is kept on disk (payload + signature, verified again on every load) so that a
restart does not drop back to defaults.

The rollback floor (the highest version ever accepted) and the last good mode (monitor or
enforce) are kept apart from the document, in a small file of their own (`policy-floor.json`,
0600, replaced atomically): a floor stored only inside the document it protects is lost with it,
and a corrupt or deleted `policy.json` would let older signed policies in again. With the
document unreadable the agent keeps the floor and the mode, says so in status, and takes the
floor's own version (or a newer one) from the server again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.credentials import write_private_file
from checks.catalogue import (
    Catalogue,
    CatalogueError,
    parse_client,
    parse_exception,
    parse_rule,
    parse_yara_source,
)
from protocol.names import BUILTIN_TEXT_VERSION, policy_label

log = logging.getLogger(__name__)

# A server whose clock is a little ahead must not make every fresh policy "not yet valid".
CLOCK_SKEW = timedelta(minutes=5)
MAX_REFUSALS_KEPT = 20


class Reason(StrEnum):
    """Why a policy was refused; stable strings, shown in status and turned into findings."""

    FORGED = "forged"
    ROLLBACK = "rollback"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    FOREIGN = "foreign"
    UNKNOWN_KEY = "unknown-key"
    MALFORMED = "malformed"


class PolicyKeyError(Exception):
    """The pinned public key is missing or unusable: no policy can be trusted. Bilingual."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh}\n{en}")
        self.zh = zh
        self.en = en


class PolicyRefused(Exception):
    def __init__(self, reason: Reason, detail: str, version: int | None = None) -> None:
        super().__init__(f"policy refused ({reason}): {detail}")
        self.reason = reason
        self.detail = detail
        self.version = version


@dataclass(frozen=True, slots=True)
class Refusal:
    """A record of one refused policy, for status and for a finding."""

    at: datetime
    reason: Reason
    detail: str
    version: int | None  # the version the envelope claimed (unverified when forged)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.timestamp(),
            "reason": str(self.reason),
            "detail": self.detail,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class PasswordRules:
    max_age_days: int = 90
    reminder_days: tuple[int, ...] = (14, 7, 3, 1)
    daily_after_last: bool = True
    max_deferrals: int = 3


@dataclass(frozen=True, slots=True)
class PolicyText:
    version: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The values the agent runs with. `version` 0 means "no policy yet: built-in defaults"."""

    version: int = 0
    key_id: str = ""
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    devices: tuple[str, ...] | None = None
    enforcement: str = "monitor"
    scan_interval_s: int = 3600
    heartbeat_interval_s: int = 300
    password: PasswordRules = field(default_factory=PasswordRules)
    text: PolicyText | None = None
    add_rules: tuple[dict[str, Any], ...] = ()
    disable_rules: tuple[str, ...] = ()
    # Both in the engine's own schemas (docs/rules.md): rules as in rules/*.toml, clients as in
    # clients/*.toml.
    approved_clients: tuple[dict[str, Any], ...] = ()
    add_yara: tuple[dict[str, Any], ...] = ()
    exceptions: tuple[dict[str, Any], ...] = ()
    exec_blocking: str | None = None  # "off" | "audit" | "block"; None: not set by the policy

    def apply_to(self, catalogue: Catalogue) -> Catalogue:
        """The built-in catalogue with this policy's rules, disabled rules, clients, YARA
        sources and finding exceptions applied."""
        return catalogue.with_policy(
            add_rules=self.add_rules,
            disable=self.disable_rules,
            add_clients=self.approved_clients,
            add_yara=self.add_yara,
        ).with_exceptions(self.exceptions)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The installer-pinned policy key (PEM, SubjectPublicKeyInfo)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise PolicyKeyError(
            f"无法读取策略公钥 {path}：{exc}。策略无法验证，将沿用上次有效的策略。请联系 IT 重新安装。",
            f"Cannot read the policy public key {path}: {exc}. No policy can be verified; the "
            f"last good one stays in force. Ask IT to reinstall the agent.",
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise PolicyKeyError(
            f"{path} 不是 Ed25519 公钥。请联系 IT。", f"{path} is not an Ed25519 public key."
        )
    return key


def key_id(public: Ed25519PublicKey) -> str:
    """Same naming as the server (server/signing.py): 16 hex digits of SHA-256 of the raw key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# --- parsing (only ever called on verified bytes) ----------------------------------------


class _Malformed(ValueError):
    pass


def parse_document(payload: bytes) -> EffectivePolicy:
    """A verified payload as the effective policy; raises _Malformed with what is wrong.

    Parsed by the server's own model (protocol.policy.PolicyDocument): unknown keys are ignored
    (a newer server may add optional ones); an incompatible change bumps `schema_version`,
    which is checked. pydantic is imported here, when a signed policy is read, not before.
    """
    from pydantic import ValidationError

    from protocol.policy import read_document
    from protocol.text import explain

    try:
        doc = read_document(payload)
    except ValidationError as exc:
        raise _Malformed(explain(exc)[1]) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Malformed(f"not JSON: {exc}") from exc
    pw = doc.password
    policy = EffectivePolicy(
        version=doc.version,
        key_id=doc.key_id,
        issued_at=doc.issued_at,
        expires_at=doc.expires_at,
        devices=None if doc.devices is None else tuple(doc.devices),
        enforcement=doc.enforcement,
        scan_interval_s=doc.scan_interval_s,
        heartbeat_interval_s=doc.heartbeat_interval_s,
        password=PasswordRules(
            max_age_days=pw.max_age_days,
            reminder_days=tuple(sorted(set(pw.reminder_days), reverse=True)),
            daily_after_last=pw.daily_after_last,
            max_deferrals=pw.max_deferrals,
        ),
        text=None
        if doc.text is None
        else PolicyText(version=doc.text.version, zh=doc.text.zh, en=doc.text.en),
        add_rules=tuple(doc.rules.add),
        disable_rules=tuple(doc.rules.disable),
        approved_clients=tuple(doc.approved_clients),
        add_yara=tuple(doc.rules.yara),
        exceptions=tuple(doc.exceptions),
        exec_blocking=doc.exec_blocking,
    )
    # A policy the engine cannot load would fail later, mid-scan; refuse it now instead.
    try:
        for rule in policy.add_rules:
            parse_rule(rule, "policy")
        for client in policy.approved_clients:
            parse_client(client, "policy")
        for item in policy.exceptions:
            parse_exception(item, "policy")
        for source in policy.add_yara:
            parse_yara_source(source, "policy")
    except CatalogueError as exc:
        raise _Malformed(f"rules or clients the engine cannot load: {exc}") from exc
    return policy


# --- the guard ---------------------------------------------------------------------------


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise _Malformed(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Malformed(f"{what} is not valid base64") from exc


@dataclass(frozen=True, slots=True)
class Floor:
    """What survives the loss of the policy document: the highest version accepted (no older
    one is accepted again) and the enforcement mode of the last good policy."""

    version: int = 0
    enforcement: str = "monitor"


FLOOR_FILE = "policy-floor.json"


class PolicyGuard:
    """Holds the policy in force; `accept` is the only way a new one gets in."""

    def __init__(
        self, public_key_path: Path, state_path: Path, floor_path: Path | None = None
    ) -> None:
        self.public_key_path = public_key_path
        self.state_path = state_path
        self.floor_path = floor_path or state_path.with_name(FLOOR_FILE)
        self._key: Ed25519PublicKey | None = None
        self.current: EffectivePolicy | None = None
        self.floor = Floor()
        # Why the stored policy could not be used at start, shown in status until a policy is
        # accepted again; None when it was fine (or there was none).
        self.store_problem: str | None = None
        self.refusals: deque[Refusal] = deque(maxlen=MAX_REFUSALS_KEPT)

    @property
    def version(self) -> int:
        """The version of the document in force, 0 when there is none (never accepted, or the
        stored one is unreadable: the server is then asked for it again)."""
        return self.current.version if self.current else 0

    def effective(self) -> EffectivePolicy:
        """The policy in force; without a document, the defaults in the last good mode."""
        if self.current is not None:
            return self.current
        return EffectivePolicy(enforcement=self.floor.enforcement)

    def _public_key(self) -> Ed25519PublicKey:
        if self._key is None:
            self._key = load_public_key(self.public_key_path)
        return self._key

    def load(self, now: datetime) -> EffectivePolicy | None:
        """Restore the last good policy from disk, verifying it again; None if there is none.

        A stored policy that no longer verifies (edited on disk, or the pinned key changed) is
        recorded as a refusal and not used. An expired stored policy stays in force (with
        `expired` in status): falling back to defaults would quietly weaken enforcement.
        """
        self.floor = self._load_floor()
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            if self.floor.version:
                self._stored_unusable(now, PolicyRefused(Reason.MALFORMED, "policy.json is gone"))
            return None
        try:
            stored = json.loads(raw)
            payload = _b64(stored["payload"], "payload")
            signature = _b64(stored["signature"], "signature")
            self._verify(payload, signature, None)
            policy = parse_document(payload)
        except PolicyRefused as exc:
            self._stored_unusable(now, exc)
            return None
        except (ValueError, KeyError, TypeError) as exc:
            self._stored_unusable(now, PolicyRefused(Reason.MALFORMED, f"stored policy: {exc}"))
            return None
        if policy.version < self.floor.version:
            # A genuine but older document put in place of the newer one.
            self._stored_unusable(
                now,
                PolicyRefused(
                    Reason.ROLLBACK,
                    f"stored policy version {policy.version} is older than "
                    f"{self.floor.version} already accepted",
                    policy.version,
                ),
            )
            return None
        self.current = policy
        if policy.version > self.floor.version or self.floor.enforcement != policy.enforcement:
            self._save_floor(Floor(policy.version, policy.enforcement))  # first run with a floor
        return self.current

    def _stored_unusable(self, now: datetime, exc: PolicyRefused) -> None:
        self._record(now, exc)
        self.store_problem = (
            f"{exc.reason}: {exc.detail}; keeping version floor {self.floor.version} and "
            f"{self.floor.enforcement} mode until the server sends the policy again"
        )
        log.error("stored policy unusable: %s", self.store_problem)

    def _load_floor(self) -> Floor:
        try:
            raw = self.floor_path.read_bytes()
        except FileNotFoundError:
            return Floor()
        try:
            data = json.loads(raw)
            version = data["version"]
            enforcement = data["enforcement"]
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise ValueError("version is not a non-negative integer")
            if enforcement not in ("monitor", "enforce"):
                raise ValueError(f"enforcement {enforcement!r} is not monitor or enforce")
        except (ValueError, KeyError, TypeError) as exc:
            # Nothing better to go on than the document itself; say so.
            log.error("%s is corrupt (%s); the stored policy sets the floor", self.floor_path, exc)
            self.store_problem = f"{FLOOR_FILE} is corrupt: {exc}"
            return Floor()
        return Floor(version, enforcement)

    def _save_floor(self, floor: Floor) -> None:
        write_private_file(
            self.floor_path,
            json.dumps({"version": floor.version, "enforcement": floor.enforcement}).encode(),
        )
        self.floor = floor

    def accept(self, envelope: Mapping[str, Any], device_id: str | None, now: datetime) -> bool:
        """Verify and install a signed envelope from the server.

        True: installed as the new policy. False: the same version as the one in force (no
        change). Raises PolicyRefused (also recorded in `refusals` and logged) otherwise;
        the last good policy stays in force.
        """
        claimed = envelope.get("version") if isinstance(envelope, Mapping) else None
        claimed_version = claimed if isinstance(claimed, int) else None
        try:
            payload = _b64(envelope.get("payload"), "payload")
            signature = _b64(envelope.get("signature"), "signature")
            self._verify(payload, signature, envelope.get("key_id"), claimed_version)
            policy = parse_document(payload)  # only now: the bytes are the server's
            self._check(policy, device_id, now)
        except _Malformed as exc:
            refused = PolicyRefused(Reason.MALFORMED, str(exc), claimed_version)
            self._record(now, refused)
            raise refused from exc
        except PolicyRefused as exc:
            self._record(now, exc)
            raise
        if self.current is not None and policy.version == self.current.version:
            return False
        # The document first, then the floor: a crash between the two leaves a floor below
        # the document, which `load` raises again, never one above a good document.
        write_private_file(
            self.state_path,
            json.dumps(
                {
                    "version": policy.version,
                    "payload": base64.b64encode(payload).decode(),
                    "signature": base64.b64encode(signature).decode(),
                }
            ).encode(),
        )
        self._save_floor(Floor(max(policy.version, self.floor.version), policy.enforcement))
        self.current = policy
        self.store_problem = None
        log.info("policy version %d is now in force (%s)", policy.version, policy.enforcement)
        return True

    def _verify(
        self,
        payload: bytes,
        signature: bytes,
        envelope_key_id: Any,
        claimed_version: int | None = None,
    ) -> None:
        public = self._public_key()
        pinned = key_id(public)
        if isinstance(envelope_key_id, str) and envelope_key_id != pinned:
            raise PolicyRefused(
                Reason.UNKNOWN_KEY,
                f"signed with key {envelope_key_id}, pinned key is {pinned}",
                claimed_version,
            )
        try:
            public.verify(signature, payload)
        except InvalidSignature:
            raise PolicyRefused(
                Reason.FORGED, "signature does not match the pinned key", claimed_version
            ) from None

    def _check(self, policy: EffectivePolicy, device_id: str | None, now: datetime) -> None:
        pinned = key_id(self._public_key())
        if policy.key_id != pinned:
            raise PolicyRefused(
                Reason.UNKNOWN_KEY, f"document names key {policy.key_id}", policy.version
            )
        if policy.devices is not None and (device_id is None or device_id not in policy.devices):
            raise PolicyRefused(
                Reason.FOREIGN,
                "the policy's device scope does not include this device",
                policy.version,
            )
        floor = max(self.floor.version, self.version)
        if policy.version < floor:
            raise PolicyRefused(
                Reason.ROLLBACK,
                f"version {policy.version} is older than {floor} already accepted",
                policy.version,
            )
        assert policy.expires_at is not None and policy.issued_at is not None
        if policy.expires_at <= now:
            raise PolicyRefused(
                Reason.EXPIRED, f"expired at {policy.expires_at.isoformat()}", policy.version
            )
        if policy.issued_at > now + CLOCK_SKEW:
            raise PolicyRefused(
                Reason.NOT_YET_VALID,
                f"issued at {policy.issued_at.isoformat()}, after now; check the clock",
                policy.version,
            )

    def _record(self, now: datetime, exc: PolicyRefused) -> None:
        log.warning("policy refused: %s: %s (version %s)", exc.reason, exc.detail, exc.version)
        self.refusals.append(Refusal(now, exc.reason, exc.detail, exc.version))

    def status(self, now: datetime) -> dict[str, Any]:
        policy = self.effective()
        text_version = policy.text.version if policy.text else ""
        return {
            "policy_label": policy_label(
                policy.version, text_version if policy.version else BUILTIN_TEXT_VERSION
            ),
            # Without the server's policy key no policy can be verified (enrolled with
            # --no-policy-key): `wxguard status` and the tray keep saying so.
            "policy_key_present": self.public_key_path.is_file(),
            "policy_version": policy.version,
            "policy_mode": policy.enforcement,
            "policy_expires_at": policy.expires_at.timestamp() if policy.expires_at else None,
            "policy_expired": policy.expired(now),
            "policy_text_version": policy.text.version if policy.text else "",
            "policy_refusals": [r.to_json() for r in self.refusals],
            "policy_floor_version": self.floor.version,
            "policy_store_problem": self.store_problem,
        }
