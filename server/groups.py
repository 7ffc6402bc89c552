"""Device groups set by IT: the dashboard's device page and `wxguard-server device group`.

A device's group (`Device.group_label`, a department or a site) starts as the enrollment
secret's label; an administrator may change it. The change is audited (`device.group`, with the
old and the new group), every list filters on the column itself, and today's rollup row is
marked stale so the overview's figures per group are recomputed on the next view
(server/overview.py). Group-scoped policies follow within the policy index's few seconds.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from server import crud
from server.models import DailyStats, Device
from server.overview import REFRESH

# Characters of a group name, at most (a department or a site, shown in lists and CSV).
GROUP_MAX = 100
# Unicode categories refused in a group name: controls, formatting (bidirectional and
# zero-width marks), surrogates, line and paragraph separators.
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


class GroupInvalid(ValueError):
    """A group name that cannot be stored: the reason in Chinese and English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


def clean_group(raw: str) -> str:
    """`raw` without surrounding spaces; "" means "no group". Raises GroupInvalid for a name
    longer than GROUP_MAX characters or holding a control, invisible or formatting character."""
    name = raw.strip()
    if len(name) > GROUP_MAX:
        raise GroupInvalid(
            f"设备组名称最多 {GROUP_MAX} 个字符（现为 {len(name)} 个）。",
            f"A group name has at most {GROUP_MAX} characters (this one has {len(name)}).",
        )
    bad = next((ch for ch in name if unicodedata.category(ch) in _REFUSED), None)
    if bad is not None:
        code = f"U+{ord(bad):04X}"
        raise GroupInvalid(
            f"设备组名称不能包含控制字符或不可见字符（{code}）。",
            f"A group name cannot hold control or invisible characters ({code}).",
        )
    return name


def set_group(
    session: Session, device: Device, group: str, now: datetime, actor: str, ip: str = ""
) -> bool:
    """Put `device` in `group` (already cleaned); False when it was there already (nothing is
    written or audited). Audited as `device.group` with {"old": ..., "new": ...}."""
    old = device.group_label
    if old == group:
        return False
    device.group_label = group
    crud.audit(session, now, actor, "device.group", device.id, ip, {"old": old, "new": group})
    mark_rollup_stale(session, now)
    return True


def set_groups(
    session: Session, devices: Sequence[Device], group: str, now: datetime, actor: str
) -> int:
    """`set_group` for each device (one transaction: all or none); how many changed."""
    return sum(set_group(session, d, group, now, actor) for d in devices)


def mark_rollup_stale(session: Session, now: datetime) -> None:
    """Today's rollup rows count as old, so the next overview or list view recomputes them with
    the devices' groups as they are now (the older days keep the groups they were counted in)."""
    session.execute(
        update(DailyStats)
        .where(DailyStats.day == now.date())
        .values(computed_at=now - REFRESH - REFRESH)
    )
