"""What a report about a program blocked at exec says, written by the agent and the tray and
read back by the dashboard: one `field: value` line per field (docs/exec.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# In this order; absent or empty values are left out.
FIELDS = ("program", "path", "sha256", "rule", "mode", "user", "pid", "reason")
_FROM_RECORD = {"program": "name", "rule": "rule_id"}  # the agent's event data names


def describe(record: Mapping[str, Any], reason: str = "") -> str:
    """A report description from an `exec-blocked` / `exec-would-block` event's data (`name`,
    `path`, `sha256`, `rule_id`, `mode`, `user`, `pid`) and the employee's `reason`. Control
    characters (a hostile file name) become `?`, so a value cannot forge another line."""
    lines = []
    for key in FIELDS:
        value = reason if key == "reason" else record.get(_FROM_RECORD.get(key, key))
        if value is None or value == "":
            continue
        keep = "\n" if key == "reason" else ""  # the employee's own words may run on
        text = "".join(c if c.isprintable() or c in keep else "?" for c in str(value))
        lines.append(f"{key}: {text}")
    return "\n".join(lines)


def parse(description: str) -> dict[str, str]:
    """The fields of a description written by `describe` (unknown lines are ignored; the
    reason, last, keeps any further lines the employee wrote)."""
    out: dict[str, str] = {}
    lines = description.splitlines()
    for i, line in enumerate(lines):
        key, sep, value = line.partition(": ")
        if sep and key in FIELDS and key not in out:
            if key == "reason":
                out[key] = "\n".join([value, *lines[i + 1 :]])
                break
            out[key] = value
    return out


# The report categories (protocol.messages.ReportCategory) of a block and of a request.
BLOCKED_CATEGORY = "exec-blocked"
APPROVAL_CATEGORY = "approval-request"
