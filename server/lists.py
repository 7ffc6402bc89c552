"""The dashboard's lists at fleet scale: filters, sorts, keyset pages and totals, all in SQL.

Every list is a `select` built from a filter object (the page's GET parameters), so the page,
its totals and its CSV export (server/web/export.py) read exactly the same rows. Pages are
keyset pages (`WHERE (sort, id) > (last row's sort, id)`), never OFFSET, so page 2,000 costs
what page 1 costs; the cursor is the last row's sort values, base64url JSON, opaque to people.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.functions import FunctionElement

from protocol.device_state import SEVERITY_ORDER, State
from server.models import (
    Admin,
    AuditEvent,
    Device,
    Finding,
    FindingState,
    PasswordStatus,
    PolicyAck,
    Report,
    ReportCategory,
    ReportStatus,
)

PAGE_SIZE = 50
MAX_Q = 100
T = TypeVar("T")
_CASE_RE = re.compile(r"^(?:WXG-)?0*(\d{1,9})$", re.IGNORECASE)

DEVICE_STATES = [str(s) for s in State] + ["revoked"]


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class contains(FunctionElement[bool]):
    """`column` contains `pattern` (a `_like` pattern), ignoring case: ILIKE on PostgreSQL, LIKE
    on SQLite, whose LIKE already ignores (ASCII) case; SQLAlchemy's `ilike` there would wrap
    both sides in lower() and cost a function call per row of a 100,000-row scan."""

    type = Boolean()
    inherit_cache = True
    name = "contains"


@compiles(contains)
def _contains_ilike(element: contains, compiler: Any, **kw: Any) -> str:
    column, pattern = list(element.clauses)
    return f"{compiler.process(column, **kw)} ILIKE {compiler.process(pattern, **kw)} ESCAPE '\\'"


@compiles(contains, "sqlite")
def _contains_like(element: contains, compiler: Any, **kw: Any) -> str:
    column, pattern = list(element.clauses)
    return f"{compiler.process(column, **kw)} LIKE {compiler.process(pattern, **kw)} ESCAPE '\\'"


def clean(value: str, allowed: Sequence[str] | None = None, max_len: int = 200) -> str:
    """A filter value from the URL: trimmed, NUL-free, and one of `allowed` when given."""
    value = value.replace("\x00", "").strip()[:max_len]
    if allowed is not None and value not in allowed:
        return ""
    return value


# --- cursors -----------------------------------------------------------------------------


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, columns: Sequence[InstrumentedAttribute[Any]]) -> list[Any] | None:
    """The values of a cursor made by `encode_cursor`, typed as `columns`; None if not one."""
    if not text or len(text) > 2000:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(values, list) or len(values) != len(columns):
        return None
    out: list[Any] = []
    for value, column in zip(values, columns, strict=True):
        python_type: type | None
        try:  # a TypeDecorator (UTCDateTime) answers for its implementation's type
            python_type = getattr(column.type, "impl", column.type).python_type
        except NotImplementedError:
            python_type = None
        if value is None:
            return None
        if python_type is datetime:
            try:
                value = datetime.fromisoformat(str(value))
            except ValueError:
                return None
            if value.tzinfo is None:
                return None
        elif python_type is int:
            if not isinstance(value, int) or isinstance(value, bool):
                return None
        elif not isinstance(value, str):
            return None
        out.append(value)
    return out


@dataclass(frozen=True)
class Sort:
    """A sort a list offers: its URL name, the columns (the last one unique), the direction."""

    name: str
    columns: tuple[InstrumentedAttribute[Any], ...]
    descending: bool = False

    def order_by(self) -> list[ColumnElement[Any]]:
        return [c.desc() if self.descending else c.asc() for c in self.columns]

    def after(self, values: list[Any]) -> ColumnElement[bool]:
        """Rows strictly after the row whose sort values are `values`."""
        left = tuple_(*self.columns)
        right = tuple_(
            *(bindparam(None, v, type_=c.type) for c, v in zip(self.columns, values, strict=True))
        )
        return left < right if self.descending else left > right

    def before(self, values: list[Any]) -> ColumnElement[bool]:
        """Rows strictly before the row whose sort values are `values`."""
        left = tuple_(*self.columns)
        right = tuple_(
            *(bindparam(None, v, type_=c.type) for c, v in zip(self.columns, values, strict=True))
        )
        return left > right if self.descending else left < right

    def reversed_order_by(self) -> list[ColumnElement[Any]]:
        return [c.asc() if self.descending else c.desc() for c in self.columns]

    def key_of(self, row: Any) -> list[Any]:
        return [getattr(row, c.key) for c in self.columns]


@dataclass
class Page(Generic[T]):
    rows: list[T]
    total: int
    next_cursor: str | None
    first: bool  # this is the first page (nothing comes before it)
    prev_cursor: str | None = None  # the `before` cursor of the previous page


@dataclass
class Keys:
    """Where a keyset page starts: after the row `after`, or ending before the row `before`."""

    after: str = ""
    before: str = ""


def paginate(
    session: Session,
    query: Select[Any],
    sort: Sort,
    cursor: str | Keys,
    size: int = PAGE_SIZE,
) -> tuple[list[Any], str | None, str | None]:
    """One keyset page of `query` (which selects one ORM entity), the next page's `after` cursor
    and the previous page's `before` cursor (None where there is no such page).

    A `before` page is read backwards from its cursor (the reversed sort, so the same indexes
    serve it) and turned round; no OFFSET either way."""
    keys_at = cursor if isinstance(cursor, Keys) else Keys(after=cursor)
    backwards = decode_cursor(keys_at.before, sort.columns) if keys_at.before else None
    values = None if backwards is not None else decode_cursor(keys_at.after, sort.columns)
    if backwards is not None:
        query = query.where(sort.before(backwards))
        order = sort.reversed_order_by()
    else:
        if values is not None:
            query = query.where(sort.after(values))
        order = sort.order_by()
    # Two steps: the page's keys from an index alone (sorting narrow tuples, not whole rows),
    # then the page's rows by primary key. SQLite would otherwise fetch every matching row
    # of a million-row table before sorting (seconds for a filter matching 90,000 findings).
    keys = list(
        session.execute(query.with_only_columns(*sort.columns).order_by(*order).limit(size + 1))
    )
    more = len(keys) > size
    keys = keys[:size]
    if backwards is not None:
        keys.reverse()
    if not keys:
        return [], None, None
    entity = query.column_descriptions[0]["entity"]
    pk = sort.columns[-1]
    by_id = {
        getattr(r, pk.key): r
        for r in session.scalars(select(entity).where(pk.in_([k[-1] for k in keys])))
    }
    rows = [by_id[k[-1]] for k in keys if k[-1] in by_id]
    first_key, last_key = encode_cursor(list(keys[0])), encode_cursor(list(keys[-1]))
    if backwards is not None:  # the page after this one is the page we came from
        return rows, last_key, first_key if more else None
    return rows, last_key if more else None, first_key if values is not None else None


def _keys(flt: Any) -> Keys:
    return Keys(after=flt.after, before=flt.before)


def count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _count_by(session: Session, query: Select[Any], column: Any) -> dict[str, int]:
    sub = query.with_only_columns(column.label("k")).subquery()
    return {
        str(k): int(n) for k, n in session.execute(select(sub.c.k, func.count()).group_by(sub.c.k))
    }


def distinct_values(session: Session, column: Any, limit: int = 200) -> list[str]:
    """The values a filter drop-down offers, from the column's index by a loose index scan
    (one index lookup per value: PostgreSQL 15 has no skip scan, and its plain DISTINCT read
    all 100,000 index entries, about 130 ms; wiki.postgresql.org/wiki/Loose_indexscan)."""
    table, name = column.table.name, column.name
    step = text(
        f"WITH RECURSIVE v(x) AS ("
        f"SELECT (SELECT min({name}) FROM {table}) "
        f"UNION ALL SELECT (SELECT min({name}) FROM {table} WHERE {name} > v.x) "
        f"FROM v WHERE v.x IS NOT NULL) "
        f"SELECT x FROM v WHERE x IS NOT NULL LIMIT :limit"
    )
    return [str(v) for v in session.scalars(step, {"limit": limit}) if str(v) != ""]


# --- fleet -------------------------------------------------------------------------------

FLEET_SORTS = {
    s.name: s
    for s in (
        Sort("hostname", (Device.hostname, Device.id)),
        Sort("-hostname", (Device.hostname, Device.id), True),
        Sort("last_seen", (Device.last_seen_at, Device.id)),
        Sort("-last_seen", (Device.last_seen_at, Device.id), True),
        Sort("findings", (Device.open_findings, Device.id)),
        Sort("-findings", (Device.open_findings, Device.id), True),
    )
}


@dataclass
class FleetFilter:
    """The fleet list's GET parameters (every one is in the URL, so a view can be shared)."""

    state: str = ""  # a protocol State, or "revoked"
    presence: str = ""  # "online" / "offline"
    os: str = ""
    agent: str = ""
    group: str = ""
    severity: str = ""  # worst open severity
    findings: str = ""  # "open": only devices with open findings
    q: str = ""  # hostname, user, device id or machine id
    sort: str = "hostname"
    after: str = ""
    before: str = ""

    def normalised(self) -> FleetFilter:
        return FleetFilter(
            state=clean(self.state, DEVICE_STATES),
            presence=clean(self.presence, ["online", "offline"]),
            os=clean(self.os),
            agent=clean(self.agent, max_len=64),
            group=clean(self.group),
            severity=clean(self.severity, SEVERITY_ORDER),
            findings=clean(self.findings, ["open"]),
            q=clean(self.q, max_len=MAX_Q),
            sort=self.sort if self.sort in FLEET_SORTS else "hostname",
            after=self.after[:2000],
            before=self.before[:2000],
        )


def query_params(flt: Any, **changes: str) -> dict[str, str]:
    """The non-empty GET parameters of a filter, with `changes` applied (links to other pages)."""
    values = {f.name: str(getattr(flt, f.name)) for f in fields(flt)}
    values.update(changes)
    return {k: v for k, v in values.items() if v}


def fleet_conditions(
    flt: FleetFilter, now: datetime, offline_after: timedelta, *, skip: str = ""
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if flt.state and skip != "state":
        where.append(Device.compliance_state == flt.state)  # "revoked" is one of the states
    cutoff = now - offline_after
    if flt.presence == "offline":
        where += [Device.compliance_state != "revoked", Device.last_seen_at < cutoff]
    elif flt.presence == "online":
        where.append(Device.last_seen_at >= cutoff)
    if flt.os:
        where.append(Device.os == flt.os)
    if flt.agent:
        where.append(Device.agent_version == flt.agent)
    if flt.group:
        where.append(Device.group_label == flt.group)
    if flt.severity:
        where.append(Device.worst_severity == flt.severity)
    if flt.findings == "open":
        where.append(Device.open_findings > 0)
    if flt.q:
        pattern = _like(flt.q)
        where.append(
            or_(
                contains(Device.hostname, pattern),
                contains(cast(Device.users_seen, String), pattern),
                Device.id == flt.q.lower(),
                Device.machine_id == flt.q,
            )
        )
    return where


@dataclass
class FleetPage:
    page: Page[Device]
    state_counts: dict[str, int]
    filter: FleetFilter
    options: dict[str, list[str]] = field(default_factory=dict)


def fleet_select(flt: FleetFilter, now: datetime, offline_after: timedelta) -> Select[Any]:
    return select(Device).where(*fleet_conditions(flt, now, offline_after))


def fleet_page(
    session: Session, flt: FleetFilter, now: datetime, offline_after: timedelta
) -> FleetPage:
    flt = flt.normalised()
    query = fleet_select(flt, now, offline_after)
    rows, nxt, prev = paginate(session, query, FLEET_SORTS[flt.sort], _keys(flt))
    # The state totals ignore the state filter itself, so every choice shows what it would give.
    by_state = select(Device).where(*fleet_conditions(flt, now, offline_after, skip="state"))
    by = _count_by(session, by_state, Device.compliance_state)
    counts = {s: by.get(s, 0) for s in DEVICE_STATES}
    total = counts.get(flt.state, 0) if flt.state else sum(counts.values())
    return FleetPage(
        Page(rows, total, nxt, prev is None, prev),
        counts,
        flt,
        {
            "os": distinct_values(session, Device.os),
            "agent": distinct_values(session, Device.agent_version),
            "group": distinct_values(session, Device.group_label),
        },
    )


# --- findings ----------------------------------------------------------------------------

FINDING_SORTS = {
    s.name: s
    for s in (
        Sort("-first_seen", (Finding.first_seen, Finding.id), True),
        Sort("first_seen", (Finding.first_seen, Finding.id)),
    )
}
FINDING_STATES = [str(s) for s in FindingState] + ["all"]


@dataclass
class FindingFilter:
    state: str = "open"  # "open", "resolved" or "all"
    severity: str = ""
    category: str = ""
    rule: str = ""
    group: str = ""
    device: str = ""
    q: str = ""  # host name of the device
    sort: str = "-first_seen"
    after: str = ""
    before: str = ""

    def normalised(self) -> FindingFilter:
        return FindingFilter(
            state=clean(self.state, FINDING_STATES) or "open",
            severity=clean(self.severity, SEVERITY_ORDER),
            category=clean(self.category, max_len=64),
            rule=clean(self.rule, max_len=128),
            group=clean(self.group),
            device=clean(self.device, max_len=36).lower(),
            q=clean(self.q, max_len=MAX_Q),
            sort=self.sort if self.sort in FINDING_SORTS else "-first_seen",
            after=self.after[:2000],
            before=self.before[:2000],
        )


MAX_LISTED_DEVICES = 1000


def searched_devices(session: Session, flt: FindingFilter) -> list[str] | None:
    """The ids of the devices a findings search matches, when there are at most
    MAX_LISTED_DEVICES of them (else None: the conditions keep a subquery). Findings are then
    read per device (device_id index) rather than by testing every finding of the sort order
    against a subquery: PostgreSQL misjudges a trigram search's selectivity and chose that
    (14 s for a search matching 10 devices)."""
    if not flt.q:
        return None
    where: list[ColumnElement[bool]] = [contains(Device.hostname, _like(flt.q))]
    if flt.group:
        where.append(Device.group_label == flt.group)
    ids = list(session.scalars(select(Device.id).where(*where).limit(MAX_LISTED_DEVICES + 1)))
    return ids if len(ids) <= MAX_LISTED_DEVICES else None


def finding_conditions(
    flt: FindingFilter, *, skip: str = "", devices: list[str] | None = None
) -> list[ColumnElement[bool]]:
    """The WHERE terms of a findings view; `devices`: `searched_devices`' answer, if any."""
    where: list[ColumnElement[bool]] = []
    if flt.state != "all":
        where.append(Finding.state == flt.state)
    if flt.severity and skip != "severity":
        where.append(Finding.severity == flt.severity)
    if flt.category and skip != "category":
        where.append(Finding.category == flt.category)
    if flt.rule:
        where.append(Finding.rule_id == flt.rule)
    if flt.device:
        where.append(Finding.device_id == flt.device)
    device_where: list[ColumnElement[bool]] = []
    if flt.group:
        device_where.append(Device.group_label == flt.group)
    if flt.q:
        device_where.append(contains(Device.hostname, _like(flt.q)))
    if device_where:
        if devices is not None:
            where.append(Finding.device_id.in_(devices) if devices else literal(False))
        else:
            where.append(Finding.device_id.in_(select(Device.id).where(*device_where)))
    return where


@dataclass
class FindingsPage:
    page: Page[tuple[Finding, Device]]
    severity_counts: dict[str, int]
    category_counts: dict[str, int]
    filter: FindingFilter
    from_rollup: bool = False  # the totals are the rollup's (minutes old), not counted now


def findings_select(flt: FindingFilter, devices: list[str] | None = None) -> Select[Any]:
    return select(Finding).where(*finding_conditions(flt, devices=devices))


def is_rollup_view(flt: FindingFilter) -> bool:
    """Open findings of the fleet or a group, narrowed by severity and/or category at most:
    the totals and the per-rule summary come from the daily rollup (server/overview.py, at most
    10 minutes old) instead of counting up to 700,000 rows; the rows themselves are live."""
    return flt.state == "open" and not (flt.rule or flt.device or flt.q)


def _rollup_counts(rollup: dict[str, Any], flt: FindingFilter) -> tuple[dict[str, int], ...] | None:
    """(by severity, by category) within the other filter, from the rollup's joint counts;
    None for a rollup made before it kept them."""
    if not (flt.severity or flt.category):
        return (
            {str(k): int(v) for k, v in rollup.get("by_severity", {}).items()},
            {str(k): int(v) for k, v in rollup.get("by_category", {}).items()},
        )
    kinds = rollup.get("by_kind")
    if not isinstance(kinds, dict):
        return None
    severity: dict[str, int] = {}
    category: dict[str, int] = {}
    for kind, n in kinds.items():
        sev, _, cat = str(kind).partition("|")
        if not flt.category or cat == flt.category:
            severity[sev] = severity.get(sev, 0) + int(n)
        if not flt.severity or sev == flt.severity:
            category[cat] = category.get(cat, 0) + int(n)
    return severity, category


def findings_page(
    session: Session, flt: FindingFilter, rollup: dict[str, Any] | None = None
) -> FindingsPage:
    """`rollup`: the daily_stats detail of the view's group, used for the broad view's totals."""
    flt = flt.normalised()
    searched = searched_devices(session, flt)
    found, nxt, prev = paginate(
        session, findings_select(flt, searched), FINDING_SORTS[flt.sort], _keys(flt)
    )
    ids = {f.device_id for f in found}
    devices = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_(ids)))}
    from_rollup = _rollup_counts(rollup, flt) if rollup and is_rollup_view(flt) else None
    if from_rollup is not None:
        severity, category = from_rollup
    else:
        severity = _count_by(
            session,
            select(Finding).where(*finding_conditions(flt, skip="severity", devices=searched)),
            Finding.severity,
        )
        category = _count_by(
            session,
            select(Finding).where(*finding_conditions(flt, skip="category", devices=searched)),
            Finding.category,
        )
    total = severity.get(flt.severity, 0) if flt.severity else sum(severity.values())
    return FindingsPage(
        Page([(f, devices[f.device_id]) for f in found], total, nxt, prev is None, prev),
        {s: severity.get(s, 0) for s in SEVERITY_ORDER if s in severity or s == flt.severity},
        dict(sorted(category.items())),
        flt,
        from_rollup is not None,
    )


@dataclass
class RuleSummary:
    rule_id: str
    title: str
    category: str
    severity: str
    open: int
    devices: int


def rules_summary(
    session: Session,
    flt: FindingFilter,
    limit: int = 500,
    rollup: dict[str, Any] | None = None,
) -> list[RuleSummary]:
    """Open findings per rule, most first: from the rollup for the broad view, else counted
    (a covering index scan: rule_id, state, device_id)."""
    flt = flt.normalised()
    if rollup is not None and is_rollup_view(flt) and _rollup_counts(rollup, flt) is not None:
        # Each entry: [open, devices, title, category, severity] (a rule's kind is its own).
        by_rule = {
            r: v
            for r, v in rollup.get("by_rule", {}).items()
            if (not flt.category or v[3] == flt.category)
            and (not flt.severity or v[4] == flt.severity)
        }
        ranked = sorted(by_rule.items(), key=lambda kv: (-int(kv[1][0]), kv[0]))[:limit]
        return [
            RuleSummary(str(r), str(v[2]), str(v[3]), str(v[4]), int(v[0]), int(v[1]))
            for r, v in ranked
        ]
    where = finding_conditions(
        FindingFilter(**{**flt.__dict__, "state": "open", "rule": ""}),
        devices=searched_devices(session, flt),
    )
    counted = (
        select(
            Finding.rule_id,
            func.count().label("n"),
            func.count(func.distinct(Finding.device_id)).label("devices"),
        )
        .where(*where)
        .group_by(Finding.rule_id)
        .order_by(func.count().desc(), Finding.rule_id)
        .limit(limit)
        .subquery()
    )
    rows = list(session.execute(select(counted)))
    titles: dict[str, tuple[str, str, str]] = {}
    for rule_id, _n, _d in rows:
        one = session.execute(
            select(Finding.title, Finding.category, Finding.severity)
            .where(Finding.rule_id == rule_id)
            .limit(1)
        ).first()
        if one is not None:
            titles[rule_id] = (str(one[0]), str(one[1]), str(one[2]))
    out: list[RuleSummary] = []
    for rule_id, n, d in rows:
        title, category, severity = titles.get(rule_id, (rule_id, "", ""))
        out.append(RuleSummary(str(rule_id), title, category, severity, int(n), int(d)))
    return out


# --- compliance --------------------------------------------------------------------------

PASSWORD_FILTERS = ["overdue", "due-soon", "ok", "unknown", "no-expiry", "none"]
ACK_FILTERS = ["current", "behind"]


@dataclass
class ComplianceFilter:
    password: str = ""  # a password state some account on the device is in; "none": no report
    ack: str = ""  # "current" / "behind" the current policy version
    group: str = ""
    q: str = ""
    after: str = ""
    before: str = ""

    def normalised(self) -> ComplianceFilter:
        return ComplianceFilter(
            password=clean(self.password, PASSWORD_FILTERS),
            ack=clean(self.ack, ACK_FILTERS),
            group=clean(self.group),
            q=clean(self.q, max_len=MAX_Q),
            after=self.after[:2000],
            before=self.before[:2000],
        )


COMPLIANCE_SORT = Sort("hostname", (Device.hostname, Device.id))


def compliance_conditions(
    flt: ComplianceFilter, current: int, *, skip: str = ""
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Device.compliance_state != "revoked"]
    if flt.password and skip != "password":
        if flt.password == "overdue":  # kept on the device row: no join over 100,000 rows
            where.append(Device.overdue_passwords > 0)
        elif flt.password == "none":
            where.append(~exists().where(PasswordStatus.device_id == Device.id))
        else:
            where.append(
                exists().where(
                    PasswordStatus.device_id == Device.id, PasswordStatus.state == flt.password
                )
            )
    if flt.ack and skip != "ack":
        acked = Device.acked_version >= current
        where.append(acked if flt.ack == "current" else ~acked)
    if flt.group:
        where.append(Device.group_label == flt.group)
    if flt.q:
        pattern = _like(flt.q)
        where.append(
            or_(
                contains(Device.hostname, pattern),
                contains(cast(Device.users_seen, String), pattern),
            )
        )
    return where


@dataclass
class ComplianceRow:
    device: Device
    passwords: list[PasswordStatus]
    acked_version: int  # -1: nothing acknowledged
    acked_text: str


@dataclass
class CompliancePage:
    page: Page[ComplianceRow]
    overdue: int  # devices with an overdue password, within the other filters
    behind: int  # devices that have not acknowledged the current version
    filter: ComplianceFilter


def compliance_select(flt: ComplianceFilter, current: int) -> Select[Any]:
    return select(Device).where(*compliance_conditions(flt, current))


def compliance_details(session: Session, devices: Sequence[Device]) -> Iterator[ComplianceRow]:
    ids = [d.id for d in devices]
    passwords: dict[str, list[PasswordStatus]] = {}
    for row in session.scalars(
        select(PasswordStatus)
        .where(PasswordStatus.device_id.in_(ids))
        .order_by(PasswordStatus.user)
    ):
        passwords.setdefault(row.device_id, []).append(row)
    acked: dict[str, tuple[int, str]] = {}
    for device_id, version, text_version in session.execute(
        select(PolicyAck.device_id, PolicyAck.policy_version, PolicyAck.text_version).where(
            PolicyAck.device_id.in_(ids)
        )
    ):
        if device_id not in acked or version > acked[device_id][0]:
            acked[device_id] = (int(version), str(text_version))
    for d in devices:
        version, text = acked.get(d.id, (-1, ""))
        yield ComplianceRow(d, passwords.get(d.id, []), version, text)


def compliance_page(session: Session, flt: ComplianceFilter, current: int) -> CompliancePage:
    flt = flt.normalised()
    devices, nxt, prev = paginate(
        session, compliance_select(flt, current), COMPLIANCE_SORT, _keys(flt)
    )
    overdue_q = select(Device).where(
        *compliance_conditions(ComplianceFilter(**{**flt.__dict__, "password": "overdue"}), current)
    )
    behind_q = select(Device).where(
        *compliance_conditions(ComplianceFilter(**{**flt.__dict__, "ack": "behind"}), current)
    )
    return CompliancePage(
        Page(
            list(compliance_details(session, devices)),
            count(session, compliance_select(flt, current)),
            nxt,
            prev is None,
            prev,
        ),
        count(session, overdue_q),
        count(session, behind_q),
        flt,
    )


# --- reports -----------------------------------------------------------------------------

REPORT_SORTS = {s.name: s for s in (Sort("-id", (Report.id,), True), Sort("id", (Report.id,)))}


@dataclass
class ReportListFilter:
    status: str = ""
    category: str = ""
    assignee: str = ""  # an admin's username, or "none"
    group: str = ""
    q: str = ""  # case number (WXG-000123 or 123), or words of the summary
    sort: str = "-id"
    after: str = ""
    before: str = ""

    def normalised(self) -> ReportListFilter:
        return ReportListFilter(
            status=clean(self.status, [s.value for s in ReportStatus]),
            category=clean(self.category, [c.value for c in ReportCategory]),
            assignee=clean(self.assignee, max_len=64),
            group=clean(self.group),
            q=clean(self.q, max_len=MAX_Q),
            sort=self.sort if self.sort in REPORT_SORTS else "-id",
            after=self.after[:2000],
            before=self.before[:2000],
        )


def report_conditions(flt: ReportListFilter, *, skip: str = "") -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if flt.status and skip != "status":
        where.append(Report.status == flt.status)
    if flt.category:
        where.append(Report.category == flt.category)
    if flt.assignee == "none":
        where.append(Report.assignee_id.is_(None))
    elif flt.assignee:
        where.append(Report.assignee_id.in_(select(Admin.id).where(Admin.username == flt.assignee)))
    if flt.group:
        where.append(Report.device_id.in_(select(Device.id).where(Device.group_label == flt.group)))
    if flt.q:
        case = _CASE_RE.match(flt.q)
        text = contains(Report.summary, _like(flt.q))
        where.append(or_(Report.id == int(case.group(1)), text) if case else text)
    return where


@dataclass
class ReportsPage:
    page: Page[Report]
    status_counts: dict[str, int]
    filter: ReportListFilter


def reports_select(flt: ReportListFilter) -> Select[Any]:
    return select(Report).where(*report_conditions(flt))


def reports_page(session: Session, flt: ReportListFilter) -> ReportsPage:
    flt = flt.normalised()
    rows, nxt, prev = paginate(session, reports_select(flt), REPORT_SORTS[flt.sort], _keys(flt))
    by_status = _count_by(
        session, select(Report).where(*report_conditions(flt, skip="status")), Report.status
    )
    total = by_status.get(flt.status, 0) if flt.status else sum(by_status.values())
    return ReportsPage(
        Page(rows, total, nxt, prev is None, prev),
        {s.value: by_status.get(s.value, 0) for s in ReportStatus},
        flt,
    )


# --- audit trail -------------------------------------------------------------------------

AUDIT_SORT = Sort("-id", (AuditEvent.id,), True)


@dataclass
class AuditFilter:
    actor: str = ""  # "cli", "admin:alice", "device:<id>", or a prefix such as "admin:"
    action: str = ""
    q: str = ""  # words of the target (a case number, a device id)
    after: str = ""
    before: str = ""

    def normalised(self) -> AuditFilter:
        return AuditFilter(
            actor=clean(self.actor, max_len=128),
            action=clean(self.action, max_len=64),
            q=clean(self.q, max_len=MAX_Q),
            after=self.after[:2000],
            before=self.before[:2000],
        )


def audit_select(flt: AuditFilter) -> Select[Any]:
    where: list[ColumnElement[bool]] = []
    if flt.actor:
        escaped = flt.actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(
            or_(AuditEvent.actor == flt.actor, AuditEvent.actor.like(escaped + "%", escape="\\"))
            if flt.actor.endswith(":")
            else AuditEvent.actor == flt.actor
        )
    if flt.action:
        where.append(AuditEvent.action == flt.action)
    if flt.q:
        where.append(contains(AuditEvent.target, _like(flt.q)))
    return select(AuditEvent).where(and_(*where) if where else literal(True))


def audit_page(session: Session, flt: AuditFilter) -> tuple[Page[AuditEvent], AuditFilter]:
    flt = flt.normalised()
    query = audit_select(flt)
    rows, nxt, prev = paginate(session, query, AUDIT_SORT, _keys(flt))
    # The whole trail is counted only when narrowed: an unfiltered count of millions of events
    # is the one total nobody needs to the unit (the estimate is the newest id).
    if flt.actor or flt.action or flt.q:
        total = count(session, query)
    else:
        total = int(session.scalar(select(func.max(AuditEvent.id))) or 0)
    return Page(rows, total, nxt, prev is None, prev), flt
