"""Database tables (SQLAlchemy 2 ORM) and the stable string enums stored in them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The wire's stable strings are the protocol's; the tables store the same values.
from protocol.messages import AccountType, PasswordState, ReportCategory, ReportStatus

__all__ = ["AccountType", "PasswordState", "ReportCategory", "ReportStatus"]


class FindingState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class MessageKind(StrEnum):
    NOTE = "note"  # internal, security team only
    REPLY = "reply"  # the reporter sees it


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (SQLite has no time zones) and always hands back aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


# A Python None in a nullable JSON column is SQL NULL, on SQLite as on PostgreSQL. SQLAlchemy's
# default stores the JSON text 'null', which `IS NULL` never finds (migration 0003 fixes rows).
NullableJSON = JSON(none_as_null=True)


# Made by migration 0009 on PostgreSQL only (pg_trgm GIN indexes for "contains" searches; an
# operator class and an expression the models' portable Index cannot say for both databases).
POSTGRESQL_ONLY_INDEXES = frozenset({"ix_devices_hostname_trgm", "ix_devices_users_trgm"})


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Admin(Base):
    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # server.web.auth.Role: what the account may read and do on the dashboard.
    role: Mapped[str] = mapped_column(String(32), default="administrator")
    # Sessions carry the generation they were issued under; growing it (logout, password or role
    # change, disable) ends them in every server process.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # An IANA zone ("Asia/Shanghai") the dashboard shows times in; None: the browser's or the
    # language's default.
    time_zone: Mapped[str | None] = mapped_column(String(64))


class EnrollmentSecret(Base):
    __tablename__ = "enrollment_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    uses_allowed: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Device(Base):
    __tablename__ = "devices"
    # One index per filter and sort of the fleet list (server/web/lists.py), migration 0006.
    __table_args__ = (
        Index("ix_devices_hostname", "hostname", "id"),
        Index("ix_devices_state", "compliance_state", "hostname", "id"),
        Index("ix_devices_last_seen", "last_seen_at", "id"),
        Index("ix_devices_os", "os", "hostname"),
        Index("ix_devices_agent_version", "agent_version", "hostname"),
        Index("ix_devices_group", "group_label", "hostname"),
        Index("ix_devices_open_findings", "open_findings", "id"),
        Index("ix_devices_acked_version", "acked_version"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    os: Mapped[str] = mapped_column(String(200), default="")
    agent_version: Mapped[str] = mapped_column(String(64), default="")
    enrolled_at: Mapped[datetime]
    enrolled_ip: Mapped[str] = mapped_column(String(64), default="")
    secret_id: Mapped[int | None] = mapped_column(ForeignKey("enrollment_secrets.id"))
    last_seen_at: Mapped[datetime | None]
    last_scan_at: Mapped[datetime | None]
    # How the last scan ended ("ok", "failed") and what it saw (protocol.device_state.Coverage
    # as JSON); NULL from agents that do not report it, read as a complete, good scan.
    last_scan_outcome: Mapped[str | None] = mapped_column(String(16))
    last_scan_coverage: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    policy_version_seen: Mapped[int] = mapped_column(Integer, default=0)
    users_seen: Mapped[list[Any]] = mapped_column(JSON, default=list)
    revoked_at: Mapped[datetime | None]
    # A hash of the machine's stable id (protocol.messages.EnrollRequest.machine_id): a revoked
    # machine that IT enrolls again gets its earlier record back, not a second one.
    machine_id: Mapped[str | None] = mapped_column(String(128), index=True)
    # The hardware serial number as printed on the machine (EnrollRequest.serial_number), to
    # tell same-named devices apart; None when the agent sent none. Migration 0011.
    serial_number: Mapped[str | None] = mapped_column(String(64), default=None)
    # Grows when something new waits for the device (a reply to one of its reports, a report
    # status change); the heartbeat answers it (plus the policy version) as `news`.
    news: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The device's summary, kept by the server whenever findings or password status arrive
    # (crud.refresh_summary), so that lists filter, sort and count a fleet of 100,000 in SQL.
    # compliance_state is a protocol.device_state.State value, or "revoked".
    compliance_state: Mapped[str] = mapped_column(
        String(16), default="unknown", server_default="unknown"
    )
    open_findings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    worst_severity: Mapped[str | None] = mapped_column(String(16))
    overdue_passwords: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Summary of its users' keyrings (crud.keyring_on over password_status): False when one
    # could not be opened, None when no tray said. Migration 0011.
    keyring_available: Mapped[bool | None] = mapped_column(default=None)
    # The newest policy version any user of the device acknowledged; -1: none.
    acked_version: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    # A department or site: the enrollment secret's label at enrollment, changeable by IT.
    group_label: Mapped[str] = mapped_column(String(200), default="", server_default="")


class Finding(Base):
    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("device_id", "key", name="uq_findings_device_key"),
        Index("ix_findings_rule", "rule_id"),
        Index("ix_findings_state", "state"),
        Index("ix_findings_state_first_seen", "state", "first_seen", "id"),
        # Covering the totals per severity and per category under the other filter.
        Index("ix_findings_state_severity", "state", "severity", "category", "first_seen", "id"),
        Index("ix_findings_state_category", "state", "category", "severity", "first_seen", "id"),
        Index("ix_findings_rule_state", "rule_id", "state", "device_id"),
        Index("ix_findings_device_state", "device_id", "state", "severity"),
        Index("ix_findings_resolved_at", "resolved_at"),
        Index("ix_findings_first_seen", "first_seen"),
        # Migration 0009: narrowed by severity/category over every state; per-rule summaries.
        Index("ix_findings_severity_category", "severity", "category", "first_seen", "id"),
        Index("ix_findings_category_severity", "category", "severity"),
        Index(
            "ix_findings_state_kind_rule", "state", "severity", "category", "rule_id", "device_id"
        ),
        Index("ix_findings_rule_newest", "rule_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(500))
    title_i18n: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    category: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(1000), default="")
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    remediation: Mapped[str] = mapped_column(Text, default="")
    remediation_i18n: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    received_at: Mapped[datetime]


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("device_id", "idempotency_key", name="uq_reports_idempotency"),
        Index("ix_reports_status", "status"),
        Index("ix_reports_assignee", "assignee_id", "id"),
        Index("ix_reports_category", "category", "id"),
        Index("ix_reports_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime | None]
    summary: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    affected_account: Mapped[str] = mapped_column(String(200), default="")
    reporter: Mapped[str] = mapped_column(String(200), default="")
    # How the reporter may be contacted (protocol.contact; migration 0008): None for reports
    # filed before, or without saying.
    contact_method: Mapped[str | None] = mapped_column(String(16))
    contact_address: Mapped[str] = mapped_column(String(254), default="", server_default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=ReportStatus.NEW.value)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("admins.id"))

    assignee: Mapped[Admin | None] = relationship(lazy="joined")
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="report", order_by="Attachment.id", lazy="selectin"
    )
    messages: Mapped[list[ReportMessage]] = relationship(
        back_populates="report", order_by="ReportMessage.id", lazy="selectin"
    )

    @property
    def case(self) -> str:
        return case_number(self.id)


def case_number(report_id: int) -> str:
    return f"WXG-{report_id:06d}"


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))

    report: Mapped[Report] = relationship(back_populates="attachments")


class ReportMessage(Base):
    __tablename__ = "report_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("admins.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    report: Mapped[Report] = relationship(back_populates="messages")
    author: Mapped[Admin | None] = relationship(lazy="joined")


class PasswordStatus(Base):
    __tablename__ = "password_status"
    __table_args__ = (
        UniqueConstraint("device_id", "user", "account_type", name="uq_password_status"),
        Index("ix_password_status_state", "state", "device_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    user: Mapped[str] = mapped_column(String(128), default="")
    account_type: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    last_changed: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    deferrals: Mapped[int] = mapped_column(Integer, default=0)
    reported_at: Mapped[datetime]
    # Whether this user's keyring (where the tray keeps the dates) could be opened; None: not
    # said (older agents and trays). Migration 0011.
    keyring_available: Mapped[bool | None] = mapped_column(default=None)


class PolicyAck(Base):
    __tablename__ = "policy_acks"
    __table_args__ = (
        UniqueConstraint("device_id", "user", "policy_version", name="uq_policy_acks"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    user: Mapped[str] = mapped_column(String(128), default="")
    policy_version: Mapped[int] = mapped_column(Integer)
    text_version: Mapped[str] = mapped_column(String(64), default="")
    acknowledged_at: Mapped[datetime]
    received_at: Mapped[datetime]


class Policy(Base):
    __tablename__ = "policies"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the exact signed bytes
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    device_scope: Mapped[list[Any] | None] = mapped_column(NullableJSON)
    # Device groups (Device.group_label) it is for; NULL with device_scope NULL: every device.
    group_scope: Mapped[list[Any] | None] = mapped_column(NullableJSON)
    published_by: Mapped[str] = mapped_column(String(64), default="")


class AuditEvent(Base):
    """Append-only: the migration adds triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_actor", "actor", "id"),
        Index("ix_audit_action", "action", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))  # "admin:alice", "device:<id>", "cli"
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DailyStats(Base):
    """One day's figures for the overview's 90-day trends, per device group ("*" is the fleet).

    Filled by the server (crud.rollup_day) for today and yesterday; the migration that made the
    table backfilled what the rows could tell (NULL where they could not: see 0006)."""

    __tablename__ = "daily_stats"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    group_label: Mapped[str] = mapped_column(String(200), primary_key=True)
    devices: Mapped[int | None] = mapped_column(Integer)
    compliant: Mapped[int | None] = mapped_column(Integer)
    non_compliant: Mapped[int | None] = mapped_column(Integer)
    blind: Mapped[int | None] = mapped_column(Integer)
    unknown: Mapped[int | None] = mapped_column(Integer)
    offline: Mapped[int | None] = mapped_column(Integer)
    open_findings: Mapped[int | None] = mapped_column(Integer)
    new_findings: Mapped[int | None] = mapped_column(Integer)
    resolved_findings: Mapped[int | None] = mapped_column(Integer)
    reports_new: Mapped[int | None] = mapped_column(Integer)
    reports_open: Mapped[int | None] = mapped_column(Integer)
    # The breakdowns of the overview (open findings by severity and category, password states,
    # acknowledgement rate, time to first answer): server/overview.py, NULL for backfilled days.
    detail: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    computed_at: Mapped[datetime]


class AuditPrunePermit(Base):
    """While a row is here, audit events older than its cutoff may be deleted (the triggers of
    migration 0006 refuse every other DELETE); the retention pruner adds and removes it in the
    transaction that prunes (crud.prune_old_rows)."""

    __tablename__ = "audit_prune_permits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cutoff: Mapped[datetime]
