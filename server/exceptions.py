"""IT's finding exceptions granted to one device or to one device group: each is published in
a signed policy scoped to that device or group, built on the policy it had, and audited.

A device receives the newest policy that applies to it (crud.policy_for_device), so a grant
never takes away exceptions already in force: a device's grant builds on the device's policy
(which may be its group's), and a group's grant builds on the group's policy, then publishes
again, with the new exception added, the policies of the group's devices that have their own.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import crud
from server.models import Device, Policy
from server.policy import parse_policy_create
from server.signing import PolicySigner

# Fields the server adds to a document; what is left is the policy body IT wrote.
DOCUMENT_ONLY = (
    "schema_version",
    "version",
    "issued_at",
    "expires_at",
    "devices",
    "groups",
    "key_id",
)


def body_of(policy: Policy | None) -> dict[str, Any]:
    """What IT wrote in a published policy (the server's document fields removed)."""
    body: dict[str, Any] = json.loads(policy.payload) if policy is not None else {}
    for name in DOCUMENT_ONLY:
        body.pop(name, None)
    return body


def group_exists(session: Session, group: str) -> bool:
    """Whether any device is in this group (Device.group_label)."""
    found = session.scalar(select(Device.id).where(Device.group_label == group).limit(1))
    return found is not None


def devices_with_own_policy(session: Session, group: str, now: datetime) -> dict[int, list[str]]:
    """Devices of the group whose policy in force is scoped to devices, by that policy's
    version: a newer group policy would take its place, and its exceptions with it."""
    live = list(
        session.scalars(
            select(Policy).where(Policy.expires_at > now).order_by(Policy.version.desc()).limit(200)
        )
    )
    out: dict[int, list[str]] = {}
    for device_id in session.scalars(select(Device.id).where(Device.group_label == group)):
        current = next((p for p in live if crud.policy_applies(p, device_id, group)), None)
        if current is not None and current.device_scope is not None:
            out.setdefault(current.version, []).append(device_id)
    return out


def grant(
    session: Session,
    signer: PolicySigner,
    now: datetime,
    actor: str,
    ip: str,
    exception: dict[str, Any],
    device_id: str = "",
    group: str = "",
) -> int:
    """Publish `exception` (checks.catalogue.parse_exception's shape) to one device or one
    group (exactly one of them) and audit it as "exception.grant"; returns the version of the
    policy published for that device or group. Raises server.policy.PolicyError when the
    resulting policy does not validate, crud.ConflictError on a concurrent publication."""
    if bool(device_id) == bool(group):
        raise ValueError("an exception is granted to a device or to a group")
    if group:
        exception = {**exception, "group": group}

    def publish(base: Policy | None, scope: dict[str, list[str]]) -> int:
        body = body_of(base)
        body["exceptions"] = [*(body.get("exceptions") or []), exception]
        body.update(scope)
        create = parse_policy_create(json.dumps(body))
        return crud.publish_policy(session, signer, create, now, actor, ip).version

    republished: list[str] = []
    if device_id:
        version = publish(crud.policy_for_device(session, device_id, now), {"devices": [device_id]})
    else:
        own = devices_with_own_policy(session, group, now)
        version = publish(crud.policy_for_group(session, group, now), {"groups": [group]})
        # Published after the group's, so newer: these devices keep their own exceptions and
        # get this one too.
        for old, devices in sorted(own.items()):
            publish(session.get(Policy, old), {"devices": devices})
            republished.extend(devices)
    crud.audit(
        session,
        now,
        actor,
        "exception.grant",
        device_id or f"group:{group}",
        ip,
        {
            "rule_id": exception.get("rule_id"),
            "subject": exception.get("subject", ""),
            "key": exception.get("key", ""),
            "reason": exception.get("reason"),
            "expires": exception.get("expires"),
            "policy_version": version,
            **({"group": group, "devices_with_own_policy": republished} if group else {}),
        },
    )
    return version
