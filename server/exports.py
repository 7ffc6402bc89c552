"""Every list as a stream of rows (dicts), for CSV exports and the CLI's JSON lines.

The rows are read with a server-side cursor in batches (`yield_per`), so memory stays flat
however large the fleet; the filters are the list pages' own (server/lists.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server import crud, lists
from server.models import Admin, Attachment, AuditEvent, Device, Finding, Report, case_number

BATCH = 2000
BOM = "\ufeff"

# (key, header). Headers are bilingual: the file is read by people in both languages.
FLEET_COLUMNS = [
    ("device_id", "设备 ID / device id"),
    ("hostname", "主机名 / hostname"),
    ("group", "分组 / group"),
    ("os", "操作系统 / OS"),
    ("agent_version", "代理版本 / agent version"),
    ("last_seen", "最后在线 / last seen (UTC)"),
    ("offline", "离线 / offline"),
    ("compliance", "合规状态 / compliance"),
    ("open_findings", "未解决发现 / open findings"),
    ("worst_severity", "最高严重程度 / worst severity"),
    ("overdue_passwords", "超期密码 / overdue passwords"),
    ("users", "用户 / users"),
    ("enrolled_at", "注册时间 / enrolled (UTC)"),
]
FINDING_COLUMNS = [
    ("finding_id", "发现 ID / finding id"),
    ("device_id", "设备 ID / device id"),
    ("hostname", "主机名 / hostname"),
    ("group", "分组 / group"),
    ("rule_id", "规则 / rule"),
    ("title", "标题 / title"),
    ("category", "类别 / category"),
    ("severity", "严重程度 / severity"),
    ("state", "状态 / state"),
    ("subject", "对象 / subject"),
    ("first_seen", "首次发现 / first seen (UTC)"),
    ("last_seen", "最近发现 / last seen (UTC)"),
    ("resolved_at", "解决时间 / resolved (UTC)"),
]
COMPLIANCE_COLUMNS = [
    ("device_id", "设备 ID / device id"),
    ("hostname", "主机名 / hostname"),
    ("group", "分组 / group"),
    ("passwords", "微信密码 / WeChat passwords"),
    ("acked_version", "已确认的策略版本 / policy version acknowledged"),
    ("behind", "未确认当前版本 / behind the current version"),
]
REPORT_COLUMNS = [
    ("case", "编号 / case"),
    ("device_id", "设备 ID / device id"),
    ("hostname", "主机名 / hostname"),
    ("category", "类别 / category"),
    ("status", "状态 / status"),
    ("assignee", "负责人 / assignee"),
    ("summary", "摘要 / summary"),
    ("created_at", "收到时间 / received (UTC)"),
    ("updated_at", "更新时间 / updated (UTC)"),
    ("contact_method", "联系方式 / contact method"),
    ("contact_address", "联系地址 / contact address"),
]
AUDIT_COLUMNS = [
    ("id", "编号 / id"),
    ("at", "时间 / time (UTC)"),
    ("actor", "操作者 / actor"),
    ("action", "操作 / action"),
    ("target", "对象 / target"),
    ("ip", "地址 / address"),
]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _limited(rows: Iterable[dict[str, Any]], limit: int | None) -> Iterator[dict[str, Any]]:
    for n, row in enumerate(rows):
        if limit is not None and n >= limit:
            return
        yield row


def fleet_rows(
    session: Session,
    flt: lists.FleetFilter,
    now: datetime,
    offline_after: timedelta,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    flt = flt.normalised()
    sort = lists.FLEET_SORTS[flt.sort]
    query = (
        select(
            Device.id,
            Device.hostname,
            Device.group_label,
            Device.os,
            Device.agent_version,
            Device.last_seen_at,
            Device.revoked_at,
            Device.compliance_state,
            Device.open_findings,
            Device.worst_severity,
            Device.overdue_passwords,
            Device.keyring_available,
            Device.users_seen,
            Device.enrolled_at,
            Device.last_scan_at,
            Device.last_scan_outcome,
            Device.last_scan_coverage,
        )
        .where(*lists.fleet_conditions(flt, now, offline_after))
        .order_by(*sort.order_by())
        .limit(limit)
        .execution_options(yield_per=BATCH)
    )
    cutoff = now - offline_after
    for r in session.execute(query):
        revoked = r.revoked_at is not None
        yield {
            "device_id": r.id,
            "hostname": r.hostname,
            "group": r.group_label,
            "os": r.os,
            "agent_version": r.agent_version,
            "last_seen": _iso(r.last_seen_at),
            "offline": not revoked and (r.last_seen_at is None or r.last_seen_at < cutoff),
            "compliance": "revoked" if revoked else r.compliance_state,
            "open_findings": r.open_findings,
            "worst_severity": r.worst_severity,
            "overdue_passwords": r.overdue_passwords,
            "users": ",".join(str(u) for u in r.users_seen or []),
            "enrolled_at": _iso(r.enrolled_at),
            "revoked": revoked,
            # Why (stable codes): the row has the columns the shared state function reads.
            "reasons": ",".join(
                reason.code
                for reason in crud.device_state_of(
                    cast(Any, r), r.open_findings, r.worst_severity, r.overdue_passwords
                ).reasons
            ),
        }


def finding_rows(
    session: Session, flt: lists.FindingFilter, limit: int | None = None, full: bool = False
) -> Iterator[dict[str, Any]]:
    """`full` adds the evidence and remediation (the CLI's JSON; too wide for a spreadsheet)."""
    flt = flt.normalised()
    sort = lists.FINDING_SORTS[flt.sort]
    columns: list[Any] = [
        Finding.id,
        Finding.device_id,
        Device.hostname,
        Device.group_label,
        Finding.rule_id,
        Finding.title,
        Finding.category,
        Finding.severity,
        Finding.state,
        Finding.subject,
        Finding.first_seen,
        Finding.last_seen,
        Finding.resolved_at,
        Finding.key,
    ]
    if full:
        columns += [Finding.evidence, Finding.remediation]
    query = (
        select(*columns)
        .join(Device, Device.id == Finding.device_id)
        .where(*lists.finding_conditions(flt))
        .order_by(*sort.order_by())
        .limit(limit)
        .execution_options(yield_per=BATCH)
    )
    for r in session.execute(query):
        row = {
            "finding_id": r.id,
            "device_id": r.device_id,
            "hostname": r.hostname,
            "group": r.group_label,
            "rule_id": r.rule_id,
            "title": r.title,
            "category": r.category,
            "severity": r.severity,
            "state": r.state,
            "subject": r.subject,
            "first_seen": _iso(r.first_seen),
            "last_seen": _iso(r.last_seen),
            "resolved_at": _iso(r.resolved_at),
        }
        if full:
            row.update(key=r.key, evidence=r.evidence, remediation=r.remediation)
        yield row


def compliance_rows(
    session: Session, flt: lists.ComplianceFilter, current: int, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    flt = flt.normalised()
    query = (
        lists.compliance_select(flt, current)
        .order_by(*lists.COMPLIANCE_SORT.order_by())
        .limit(limit)
        .execution_options(yield_per=BATCH)
    )
    for chunk in session.scalars(query).partitions():
        for row in lists.compliance_details(session, chunk):
            yield {
                "device_id": row.device.id,
                "hostname": row.device.hostname,
                "group": row.device.group_label,
                "passwords": "; ".join(
                    f"{p.user} {p.account_type}: {p.state}" for p in row.passwords
                ),
                "acked_version": row.acked_version if row.acked_version >= 0 else None,
                "behind": bool(current) and row.acked_version < current,
            }


def report_rows(
    session: Session, flt: lists.ReportListFilter, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    flt = flt.normalised()
    sort = lists.REPORT_SORTS[flt.sort]
    query = (
        select(
            Report.id,
            Report.device_id,
            Device.hostname,
            Report.category,
            Report.status,
            Admin.username,
            Report.summary,
            Report.created_at,
            Report.updated_at,
            Report.contact_method,
            Report.contact_address,
            select(func.count())
            .where(Attachment.report_id == Report.id)
            .scalar_subquery()
            .label("attachments"),
        )
        .join(Device, Device.id == Report.device_id)
        .outerjoin(Admin, Admin.id == Report.assignee_id)
        .where(*lists.report_conditions(flt))
        .order_by(*sort.order_by())
        .limit(limit)
        .execution_options(yield_per=BATCH)
    )
    for r in session.execute(query):
        yield {
            "case": case_number(r.id),
            "device_id": r.device_id,
            "hostname": r.hostname,
            "category": r.category,
            "status": r.status,
            "assignee": r.username,
            "summary": r.summary,
            "created_at": _iso(r.created_at),
            "updated_at": _iso(r.updated_at),
            "attachments": r.attachments,
            # How the reporter may be contacted (email, phone, wechat, none; None: not said).
            "contact_method": r.contact_method,
            "contact_address": r.contact_address,
        }


def audit_rows(
    session: Session, flt: lists.AuditFilter, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    flt = flt.normalised()
    query = (
        lists.audit_select(flt)
        .with_only_columns(
            AuditEvent.id,
            AuditEvent.at,
            AuditEvent.actor,
            AuditEvent.action,
            AuditEvent.target,
            AuditEvent.ip,
        )
        .order_by(*lists.AUDIT_SORT.order_by())
        .limit(limit)
        .execution_options(yield_per=BATCH)
    )
    for r in session.execute(query):
        yield {
            "id": r.id,
            "at": _iso(r.at),
            "actor": r.actor,
            "action": r.action,
            "target": r.target,
            "ip": r.ip,
        }


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """One CSV cell. Text a device or an employee wrote that starts like a formula is quoted
    with an apostrophe, so a spreadsheet shows it instead of running it (OWASP "CSV injection")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_stream(
    columns: list[tuple[str, str]], rows: Iterable[dict[str, Any]], rows_per_chunk: int = 500
) -> Iterator[bytes]:
    """UTF-8 CSV with a byte-order mark (Excel then reads Chinese right), in chunks of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([header for _key, header in columns])
    keys = [key for key, _header in columns]
    pending = 0
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key in keys])
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode("utf-8")
