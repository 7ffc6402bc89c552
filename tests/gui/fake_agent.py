"""A scripted stand-in for the agent, satisfying `AgentAPI`: records calls, returns scripted
answers, publishes scripted events to long-polls, and raises on demand (agent down, refusals)."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from agent.api import AgentError, AgentNotRunning
from protocol.ipc import build_event

FINDING = {
    "key": "5f0c0a1b2c3d4e5f60718293",
    "rule_id": "wechatferry",
    "title": "WeChatFerry (wcferry) WeChat bot framework detected",
    "title_i18n": {
        "zh": "检测到 WeChatFerry（wcferry）微信机器人框架",
        "en": "WeChatFerry (wcferry) WeChat bot framework detected",
    },
    "category": "bot-framework",
    "severity": "critical",
    "subject": "wechatferry",
    "evidence": [
        {
            "kind": "package",
            "matched": "pypi package wcferry 39.6.0.0",
            "path": "home/alice/.local/lib/python3.11/site-packages/wcferry-39.6.0.0.dist-info",
            "package": "wcferry",
        }
    ],
    "remediation": "Uninstall wcferry: pip uninstall wcferry.\nRestart WeChat.",
    "remediation_i18n": {
        "zh": "卸载 wcferry：pip uninstall wcferry。\n重新启动微信。",
        "en": "Uninstall wcferry: pip uninstall wcferry.\nRestart WeChat.",
    },
    "first_seen": 1795000000.0,
    "last_seen": 1795000100.0,
}

PASSWORD_FIELDS = {"account_type", "state", "last_changed", "due_at", "deferrals", "no_expiry"}

POLICY = {
    "version": 7,
    "mode": "monitor",
    "text": {
        "zh": "第十八条 员工不得安装未经许可的软件或插件。",
        "en": "Art. 18: no unapproved software.",
    },
    "text_version": "2026-11",
    "acknowledged_version": "2026-11",
    "password": {"max_age_days": 90, "reminder_days": [14, 7, 3, 1], "max_deferrals": 3},
}


def started_again(pid: int, finding: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `finding-seen` event's data (built as the agent builds it): `finding`'s program
    (FINDING by default) started again as process `pid`."""
    f = finding or FINDING
    return build_event(
        "finding-seen",
        {
            "key": f["key"],
            "rule_id": f["rule_id"],
            "severity": f["severity"],
            "pid": pid,
            "name": "wcf.exe",
            "title_i18n": f["title_i18n"],
        },
    )


def scan_summary(findings: int = 0, **extra: Any) -> dict[str, Any]:
    """One scan, shaped as protocol.ipc.ScanSummaryView (`scan_now`'s answer, `last_scan`)."""
    return {
        "started_at": 1795000000.0,
        "duration_s": 0.2,
        "trigger": "periodic",
        "findings": findings,
        "new": 0,
        "resolved": 0,
        "blind_spots": 0,
        **extra,
    }


def status(compliant: bool = True, **extra: Any) -> dict[str, Any]:
    # Shaped as protocol.ipc.StatusAnswer, which the tray's client checks over a real socket.
    base: dict[str, Any] = {
        "agent_version": "0.1.0",
        "mode": "user",
        "pid": 4242,
        "started_at": 1795000000.0,
        "compliant": compliant,
        "open_findings": 0 if compliant else 1,
        "by_severity": {} if compliant else {"critical": 1},
        "last_scan": scan_summary(0 if compliant else 1),
        "blind_spots": [],
        "managed_keys": [],
        "event_seq": 0,
    }
    base.update(extra)
    return base


class FakeAgent:
    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.responses: dict[str, Any] = {
            "hello": {
                "agent_version": "0.1.0",
                "protocol": 1,
                "uid": 1000,
                "admin": False,
                "ops": [],
            },
            "status": status(),
            "findings": [],
            "scan_now": scan_summary(),
            "my_reports": [],
            "policy": copy.deepcopy(POLICY),
            "acknowledge_policy": {"ok": True},
            "report_password_status": {"ok": True},
        }
        self.errors: dict[str, AgentError] = {}
        self.down = False
        self.scan_delay = 0.0
        self.events: list[dict[str, Any]] = []
        self.seq = 0
        self.reports: list[dict[str, Any]] = []

    # -- scripting ---------------------------------------------------------------------------

    def set(self, op: str, value: Any) -> None:
        with self.lock:
            self.responses[op] = value

    def publish(self, kind: str, data: dict[str, Any] | None = None) -> None:
        with self.lock:
            self.seq += 1
            self.events.append(
                {"seq": self.seq, "kind": kind, "at": time.time(), "data": data or {}}
            )
            self.lock.notify_all()

    def go_down(self) -> None:
        with self.lock:
            self.down = True
            self.lock.notify_all()

    def come_up(self) -> None:
        with self.lock:
            self.down = False

    def called(self, op: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [args for name, args in self.calls if name == op]

    def _enter(self, op: str, args: tuple[Any, ...]) -> Any:
        with self.lock:
            self.calls.append((op, args))
            if self.down:
                raise AgentNotRunning("/run/wxguard/fake.sock")
            if op in self.errors:
                raise self.errors[op]
            return copy.deepcopy(self.responses.get(op))

    # -- AgentAPI ------------------------------------------------------------------------------

    def hello(self) -> dict[str, Any]:
        return dict(self._enter("hello", ()))

    def status(self) -> dict[str, Any]:
        return dict(self._enter("status", ()))

    def findings(self) -> list[dict[str, Any]]:
        return list(self._enter("findings", ()))

    def scan_now(self) -> dict[str, Any] | None:
        result = self._enter("scan_now", ())
        if self.scan_delay:
            time.sleep(self.scan_delay)
        return dict(result) if result is not None else None

    def wait_events(self, since: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                if self.down:
                    raise AgentNotRunning("/run/wxguard/fake.sock")
                found = [e for e in self.events if e["seq"] > since]
                if found or since > self.seq:
                    return {"seq": self.seq, "events": copy.deepcopy(found)}
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return {"seq": self.seq, "events": []}
                self.lock.wait(remaining)

    def submit_report(
        self,
        category: str,
        summary: str,
        description: str,
        occurred_at: str | None,
        affected_account: str,
        contact: str,
        attachments: list[dict[str, str]],
        contact_address: str = "",
    ) -> dict[str, Any]:
        args = (
            category,
            summary,
            description,
            occurred_at,
            affected_account,
            contact,
            attachments,
            contact_address,
        )
        self._enter("submit_report", args)
        for att in attachments:  # the real agent's shape
            if set(att) != {"name", "content_b64"}:
                raise AgentError(
                    "invalid",
                    "附件格式无效。",
                    "An attachment must have a name and base64 content.",
                )
        with self.lock:
            key = f"key-{len(self.reports) + 1}"
            self.reports.append(
                {
                    "idempotency_key": key,
                    "case": None,
                    "state": "queued",
                    "category": category,
                    "summary": summary,
                    "created_at": "2026-11-28T10:00:00+00:00",
                    "replies": [],
                }
            )
            self.responses["my_reports"] = copy.deepcopy(self.reports)
        return {"idempotency_key": key, "state": "queued"}

    def my_reports(self) -> list[dict[str, Any]]:
        return list(self._enter("my_reports", ()))

    def refresh(self) -> dict[str, Any]:
        return dict(self._enter("refresh", ()) or {"refreshing": True})

    def report_password_status(
        self, accounts: list[dict[str, Any]], keyring_available: bool | None = None
    ) -> dict[str, Any]:
        result = dict(self._enter("report_password_status", (accounts, keyring_available)))
        for acc in accounts:  # the real agent refuses any other field
            if set(acc) - PASSWORD_FIELDS:
                raise AgentError(
                    "invalid", "密码状态含有未知字段", "unknown fields in a password status"
                )
        return result

    def policy(self) -> dict[str, Any]:
        return dict(self._enter("policy", ()))

    def acknowledge_policy(self, text_version: str) -> dict[str, Any]:
        result = dict(self._enter("acknowledge_policy", (text_version,)))
        with self.lock:
            self.responses["policy"]["acknowledged_version"] = text_version
        return result


class MemorySecrets:
    """An in-memory secret store for the password-age store (the real one is tested against
    a real Secret Service in test_keyring_real.py)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.fail: Exception | None = None
        # A Secret Service slow to answer the next write of a key (seconds), as after a prompt.
        self.slow_next_set: dict[str, float] = {}

    def get(self, key: str) -> str | None:
        if self.fail:
            raise self.fail
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        if self.fail:
            raise self.fail
        delay = self.slow_next_set.pop(key, 0.0)
        if delay:
            time.sleep(delay)
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)
