"""`wxguard-server device show ID-OR-HOSTNAME`: one device as IT reads it in a shell (issue 16).

The state is the one the dashboard's device page shows (`crud.device_status`, i.e.
`protocol.device_state.device_state`), with its reasons and next steps; then the facts the
agent has reported that bear on it: each account's WeChat password age (from the password
status messages) and each user's policy acknowledgement against the current policy. The
keyring's availability is known only in the employee's own session: the tray says it with its
password status and the agent forwards it; "not reported" when no tray said (older ones).

`device_view` gives the data (`--format json`, times in ISO 8601 UTC); `device_text` words it
for a person in Chinese or English, times in this machine's local zone with the zone named.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from checks.text import one_line
from server import crud
from server.models import Device
from server.web.i18n import translator


class DeviceLookupError(Exception):
    """No device, or several, answer to what was asked: (Chinese, English) and the candidates."""

    def __init__(self, zh: str, en: str, candidates: list[Device] | None = None) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en
        self.candidates = candidates or []


def find_device(session: Session, key: str) -> Device:
    """The device whose id, host name, machine id or serial number is `key`; several with that
    host name (namesakes) are refused with the list, so the person picks one by id."""
    key = key.strip()
    found = list(
        session.scalars(
            select(Device)
            .where(
                or_(
                    Device.id == key,
                    Device.hostname == key,
                    Device.machine_id == key,
                    Device.serial_number == key,
                )
            )
            .order_by(Device.enrolled_at)
            .limit(20)
        )
    )
    exact = [d for d in found if d.id == key]
    if exact:
        return exact[0]
    if not found:
        raise DeviceLookupError(
            f"没有设备的 ID、主机名或机器指纹是“{one_line(key)}”。用 `wxguard-server devices` 列出设备。",
            f"No device has the id, host name or machine id '{one_line(key)}'. List them with "
            "`wxguard-server devices`.",
        )
    if len(found) > 1:
        raise DeviceLookupError(
            f"有 {len(found)} 台设备叫“{one_line(key)}”：请用下列设备 ID 之一。",
            f"{len(found)} devices are called '{one_line(key)}': give one of these device ids.",
            found,
        )
    return found[0]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def device_view(session: Session, device: Device, now: datetime) -> dict[str, Any]:
    """The device, its state (with reasons and next steps) and its password and policy facts."""
    state = crud.device_status(session, device)
    current = crud.current_policy(session, now)
    current_version = current.version if current is not None else None
    newest: dict[str, Any] = {}
    for ack in crud.device_acks(session, device.id):  # newest version first
        newest.setdefault(ack.user, ack)
    return {
        "device_id": device.id,
        "hostname": device.hostname,
        "machine_id": device.machine_id,
        "serial_number": device.serial_number,
        "os": device.os,
        "agent_version": device.agent_version,
        "users_seen": list(device.users_seen or []),
        "enrolled_at": _iso(device.enrolled_at),
        "last_seen_at": _iso(device.last_seen_at),
        "last_scan_at": _iso(device.last_scan_at),
        "revoked": device.revoked_at is not None,
        "state": "revoked" if device.revoked_at is not None else str(state.state),
        "reasons": [r.to_json() for r in state.reasons],
        "passwords": [
            {
                "user": p.user,
                "account_type": p.account_type,
                "state": p.state,
                "last_changed": _iso(p.last_changed),
                "due_at": _iso(p.due_at),
                "deferrals": p.deferrals,
                "reported_at": _iso(p.reported_at),
            }
            for p in crud.device_password_status(session, device.id)
        ],
        "policy": {
            "current_version": current_version,
            "acknowledgements": [
                {
                    "user": user,
                    "version": ack.policy_version,
                    "text_version": ack.text_version,
                    "acknowledged_at": _iso(ack.acknowledged_at),
                    "current": current_version is not None
                    and ack.policy_version >= current_version,
                }
                for user, ack in newest.items()
            ],
        },
        # As the employees' trays last said (only their own session can open the keyring):
        # False when one could not, None when none said (older trays and agents).
        "keyring_available": device.keyring_available,
        "keyring_unavailable_for": sorted(
            {
                p.user
                for p in crud.device_password_status(session, device.id)
                if p.keyring_available is False
            }
        ),
    }


def _local(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def _day(value: str | None) -> str:
    """A calendar day the agent reported (a password's change or due date): no time, no zone."""
    return value[:10] if value else "-"


_ACCOUNT = {
    "enterprise": ("企业微信", "enterprise WeChat"),
    "personal": ("个人微信", "personal WeChat"),
}


def device_text(view: dict[str, Any], lang: str) -> str:
    """`device_view` for a person: aligned label/value lines, then each list under a heading."""
    zh = lang == "zh"
    t = translator(lang)

    def label(zh_text: str, en_text: str) -> str:
        return zh_text if zh else en_text

    users = ", ".join(view["users_seen"]) or t("device.no_users")
    facts = [
        (t("fleet.hostname"), view["hostname"] or "-"),
        (t("device.id"), view["device_id"]),
        (label("机器指纹", "Machine id"), view["machine_id"] or t("device.no_machine")),
        (label("序列号", "Serial number"), view["serial_number"] or t("device.no_machine")),
        (label("操作系统", "OS"), view["os"] or "-"),
        (label("代理版本", "Agent version"), view["agent_version"] or "-"),
        (t("device.users"), users),
        (t("device.enrolled"), _local(view["enrolled_at"])),
        (label("最近联系", "Last seen"), _local(view["last_seen_at"])),
        (t("device.last_scan"), _local(view["last_scan_at"])),
        (label("状态", "State"), t("state." + view["state"])),
    ]  # fmt: skip
    width = max(_width(k) for k, _ in facts)
    lines = [f"{k}{' ' * (width - _width(k))}  {one_line(str(v))}" for k, v in facts]
    if view["reasons"]:
        lines.append("")
        lines.append(label("原因与下一步：", "Why, and what to do next:"))
        for i, reason in enumerate(view["reasons"], 1):
            lines.append(f"  {i}. {one_line(reason['zh'] if zh else reason['en'])}")
            step = reason.get("next_step") or {}
            if step:
                arrow = "下一步：" if zh else "Next step: "
                lines.append(f"     {arrow}{one_line(step['zh'] if zh else step['en'])}")
    lines.append("")
    lines.append(t("compliance.password") + (label("（密码期限）", " (password age)")))
    if not view["passwords"]:
        lines.append("  " + one_line(t("device.no_passwords")))
    for p in view["passwords"]:
        account = _ACCOUNT.get(p["account_type"], (p["account_type"],) * 2)[0 if zh else 1]
        lines.append(
            f"  {one_line(p['user'] or '-')}  {account}  {t('pw.' + p['state'])}  "
            + label(
                f"上次修改 {_day(p['last_changed'])}，到期 {_day(p['due_at'])}",
                f"last changed {_day(p['last_changed'])}, due {_day(p['due_at'])}",
            )
        )
    keyring = view["keyring_available"]
    if keyring is None:
        said = label(
            "未报告（托盘或代理版本较旧；只有员工本人的会话能读取密钥环：见托盘或 wxguard status）",
            "not reported (an older tray or agent; only the employee's own session can open the "
            "keyring: see the tray or wxguard status)",
        )
    elif keyring:
        said = label("可用", "available")
    else:
        said = label(
            "不可用（未安装或已锁定），无法检查微信密码期限",
            "unavailable (missing or locked), so the WeChat password age cannot be checked",
        )
        if view["keyring_unavailable_for"]:
            users = ", ".join(one_line(u or "-") for u in view["keyring_unavailable_for"])
            said += label(f"（涉及用户：{users}）", f" (for: {users})")
    # The next step is under the state's reason `keyring-unavailable` above.
    lines.append(label("系统密钥环：", "Keyring: ") + said)
    policy = view["policy"]
    lines.append("")
    current = policy["current_version"]
    lines.append(
        t("compliance.current")
        + label("：", ": ")
        + (str(current) if current is not None else label("无", "none"))
    )
    if not policy["acknowledgements"]:
        lines.append("  " + one_line(t("device.no_acks")))
    for ack in policy["acknowledgements"]:
        behind = "" if ack["current"] else "  " + t("compliance.behind")
        lines.append(
            f"  {one_line(ack['user'] or '-')}  {t('compliance.ack')} {ack['version']}"
            f"  {_local(ack['acknowledged_at'])}{behind}"
        )
    return "\n".join(lines)


def _width(text: str) -> int:
    """Columns a label takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
