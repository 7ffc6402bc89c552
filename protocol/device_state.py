"""A device's compliance state, decided in one place for the agent, the tray and the server.

`device_state(inputs)` is the only place that says whether a device is compliant. The agent
calls it for `status()` (and so for `wxguard status` and the tray), the server calls it for the
dashboard and `wxguard-server devices`, and the tray calls it (through `state_of_status`) only
when an older agent sent no state. Later inputs (password age, keyring availability, policy
acknowledgement) become new fields of `DeviceInputs` with defaults that change nothing, and new
reason codes; the states stay.

States (`State`, stable strings, never renamed):

- `compliant`: the last scan ran, saw everything rules look at, and left no open finding.
- `non-compliant`: there is something to fix (an open finding, an overdue password). Known
  problems outrank doubt: a device with a finding stays `non-compliant` even when it is blind.
- `blind`: nothing known to fix, but the last scan failed, or a probe failed, or files where
  rules look could not be read: the absence of findings proves nothing.
- `unknown`: no scan has finished yet, or the last one is older than `max_scan_age_s`.

Each state comes with its reasons (`Reason`: a stable code and the text in both languages),
most important first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non-compliant"
    BLIND = "blind"
    UNKNOWN = "unknown"


class ScanOutcome(StrEnum):
    """How the device's last scan ended."""

    NONE = "none"  # no scan has finished since the agent started (or ever, on the server)
    FAILED = "failed"  # the scan raised: nothing it would have seen is known
    OK = "ok"  # the scan ran to its end (its coverage says whether it saw everything)


SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")


@dataclass(frozen=True, slots=True)
class Coverage:
    """What the last scan could see.

    `complete` is False when a probe failed or a file or folder where rules look could not be
    read; `blind_spots` counts the latter (files, folders), `failed_probes` names the former
    (e.g. "packages", "integrity:macos-bundle"). Wire form: `to_json()`, the `coverage` field of
    a findings batch (docs/protocol.md).
    """

    complete: bool = True
    blind_spots: int = 0
    failed_probes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "blind_spots": self.blind_spots,
            "failed_probes": list(self.failed_probes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Coverage:
        """Lenient: a missing or malformed value reads as complete (agents before coverage)."""
        if not isinstance(data, Mapping):
            return cls()
        probes = data.get("failed_probes") or ()
        failed = tuple(str(p) for p in probes) if isinstance(probes, list | tuple) else ()
        try:
            spots = max(0, int(data.get("blind_spots") or 0))
        except (TypeError, ValueError):
            spots = 0
        complete = bool(data.get("complete", True)) and not failed
        return cls(complete, spots, failed)


@dataclass(frozen=True, slots=True)
class DeviceInputs:
    """Everything the state depends on. Times are Unix seconds (UTC), ages in seconds."""

    last_scan: ScanOutcome = ScanOutcome.NONE
    scanned_at: float | None = None  # when the last scan (failed or not) started
    coverage: Coverage = field(default_factory=Coverage)
    open_findings: int = 0
    worst_severity: str | None = None  # one of SEVERITY_ORDER, None without findings
    overdue_passwords: int = 0
    # Staleness: with both set, a last scan older than max_scan_age_s reads as `unknown`.
    now: float | None = None
    max_scan_age_s: float | None = None
    scan_error: str = ""  # why the last scan failed, in words for an administrator


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a device is in its state: a stable code, and the text in Chinese and English."""

    code: str
    zh: str
    en: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "zh": self.zh, "en": self.en}

    def text(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


@dataclass(frozen=True, slots=True)
class DeviceState:
    state: State
    reasons: tuple[Reason, ...] = ()

    @property
    def compliant(self) -> bool:
        return self.state is State.COMPLIANT

    def to_json(self) -> dict[str, Any]:
        return {"state": str(self.state), "reasons": [r.to_json() for r in self.reasons]}


def device_state(inputs: DeviceInputs) -> DeviceState:
    """The device's state and its reasons (most important first). Pure: no clock, no I/O."""
    problems: list[Reason] = []
    doubts: list[Reason] = []
    if inputs.open_findings > 0:
        worst = f" ({inputs.worst_severity})" if inputs.worst_severity else ""
        problems.append(
            Reason(
                "open-findings",
                f"有 {inputs.open_findings} 项待处理的发现{worst}。",
                f"{inputs.open_findings} open finding(s){worst}.",
            )
        )
    if inputs.overdue_passwords > 0:
        problems.append(
            Reason(
                "password-overdue",
                f"{inputs.overdue_passwords} 个微信账号的密码已超期未更改。",
                f"{inputs.overdue_passwords} WeChat password(s) overdue for a change.",
            )
        )
    unknown = False
    if inputs.last_scan is ScanOutcome.NONE:
        unknown = True
        doubts.append(
            Reason(
                "never-scanned",
                "尚未完成任何检查。",
                "No check has finished yet.",
            )
        )
    elif (
        inputs.now is not None
        and inputs.max_scan_age_s is not None
        and inputs.scanned_at is not None
        and inputs.now - inputs.scanned_at > inputs.max_scan_age_s
    ):
        unknown = True
        hours = (inputs.now - inputs.scanned_at) / 3600
        doubts.append(
            Reason(
                "scan-stale",
                f"最近一次检查是 {hours:.1f} 小时前，已过期。",
                f"The last check was {hours:.1f} hours ago, too long to trust.",
            )
        )
    if inputs.last_scan is ScanOutcome.FAILED:
        detail = f"（{inputs.scan_error}）" if inputs.scan_error else ""
        detail_en = f" ({inputs.scan_error})" if inputs.scan_error else ""
        doubts.append(
            Reason(
                "scan-failed",
                f"上次检查失败{detail}，无法确认本机是否合规。",
                f"The last check failed{detail_en}; compliance cannot be confirmed.",
            )
        )
    elif inputs.last_scan is ScanOutcome.OK:
        if inputs.coverage.failed_probes:
            names = ", ".join(inputs.coverage.failed_probes)
            doubts.append(
                Reason(
                    "probe-failed",
                    f"部分检查未能运行（{names}），其结果未知。",
                    f"Some checks could not run ({names}); what they look for is unknown.",
                )
            )
        if inputs.coverage.blind_spots > 0 or (
            not inputs.coverage.complete and not inputs.coverage.failed_probes
        ):
            n = inputs.coverage.blind_spots
            doubts.append(
                Reason(
                    "partial-coverage",
                    f"有 {n} 处规则关注的文件或文件夹无法读取。",
                    f"{n} file(s) or folder(s) that rules look at could not be read.",
                )
            )
    if problems:
        return DeviceState(State.NON_COMPLIANT, tuple(problems + doubts))
    if unknown:
        return DeviceState(State.UNKNOWN, tuple(doubts))
    if doubts:
        return DeviceState(State.BLIND, tuple(doubts))
    return DeviceState(
        State.COMPLIANT,
        (
            Reason(
                "all-clear",
                "上次检查完整，没有待处理的发现。",
                "The last check saw everything and found nothing to fix.",
            ),
        ),
    )


def worst_severity(severities: Sequence[str]) -> str | None:
    """The most severe of `severities` (unknown names rank last), None when empty."""
    known = [s for s in SEVERITY_ORDER if s in severities]
    if known:
        return known[0]
    return severities[0] if severities else None


def state_of_status(status: Mapping[str, Any]) -> DeviceState:
    """The state an agent's `status()` reports; computed here when an older agent sent none."""
    state = status.get("state")
    if isinstance(state, str) and state in State._value2member_map_:
        reasons = tuple(
            Reason(str(r.get("code", "")), str(r.get("zh", "")), str(r.get("en", "")))
            for r in status.get("reasons") or ()
            if isinstance(r, Mapping)
        )
        return DeviceState(State(state), reasons)
    last = status.get("last_scan")
    spots = status.get("blind_spots") or []
    failed = tuple(
        str(b.get("probe", ""))
        for b in spots
        if isinstance(b, Mapping) and b.get("what") == "the whole probe"
    )
    by_sev = status.get("by_severity") or {}
    return device_state(
        DeviceInputs(
            last_scan=ScanOutcome.OK if isinstance(last, Mapping) else ScanOutcome.NONE,
            scanned_at=last.get("started_at") if isinstance(last, Mapping) else None,
            coverage=Coverage(not failed, 0, failed),
            open_findings=int(status.get("open_findings") or 0)
            or (0 if status.get("compliant", True) else 1),
            worst_severity=worst_severity([str(s) for s in by_sev])
            if isinstance(by_sev, Mapping)
            else None,
        )
    )
