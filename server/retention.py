"""Retention: resolved findings and audit events older than the retention period are deleted,
in small batches (each its own transaction), so a year of history never locks the tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from server import crud
from server.db import session_scope
from server.models import AuditEvent, AuditPrunePermit, Finding, FindingState

BATCH = 5000


@dataclass(frozen=True, slots=True)
class Pruned:
    findings: int
    audit_events: int
    cutoff: datetime


def prune(
    sessions: sessionmaker[Session],
    now: datetime,
    days: int,
    batch: int = BATCH,
    actor: str = "server",
) -> Pruned:
    """Delete resolved findings resolved, and audit events recorded, before `now - days`.

    Open findings are never deleted, whatever their age. Audit events are append-only (the
    triggers of migration 0006); the delete is allowed by a permit row with the cutoff, added
    and removed in the same transaction as each batch. The pruning itself is audited."""
    cutoff = now - timedelta(days=days)
    findings = 0
    while True:
        with session_scope(sessions) as session:
            ids = list(
                session.scalars(
                    select(Finding.id)
                    .where(
                        Finding.state == FindingState.RESOLVED.value,
                        Finding.resolved_at < cutoff,
                    )
                    .limit(batch)
                )
            )
            if ids:
                session.execute(delete(Finding).where(Finding.id.in_(ids)))
        findings += len(ids)
        if len(ids) < batch:
            break
    events = 0
    while True:
        with session_scope(sessions) as session:
            ids = list(
                session.scalars(select(AuditEvent.id).where(AuditEvent.at < cutoff).limit(batch))
            )
            if ids:
                permit = AuditPrunePermit(cutoff=cutoff)
                session.add(permit)
                session.flush()
                session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
                session.delete(permit)
        events += len(ids)
        if len(ids) < batch:
            break
    if findings or events:
        with session_scope(sessions) as session:
            crud.audit(
                session,
                now,
                actor,
                "retention.prune",
                detail={"findings": findings, "audit_events": events, "days": days},
            )
    return Pruned(findings, events, cutoff)
