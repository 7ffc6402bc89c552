"""A device's compliance state, decided in one place for the agent, the tray and the server.

`device_state(inputs)` is the only place that says whether a device is compliant. The agent
calls it for `status()` (and so for `wxguard status` and the tray), the server calls it for the
dashboard and `wxguard-server devices`, and the tray calls it (through `state_of_status`) only
when an older agent sent no state. Password age, keyring availability and policy
acknowledgement (issue 16) are fields of `DeviceInputs` with defaults that change nothing. The
agent knows the policy acknowledgement of whoever asks; only the employee's own session can
read the keyring that holds the password-age record, so the tray and `wxguard status` add those
facts to the agent's inputs (`status["state_inputs"]`) with `state_for_person`.

Every reason that asks something of a person carries its next step (`Reason.step`), so each
surface lists every open action (findings, password, policy) with what to do next.

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
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from protocol.names import SEVERITY_WORDS, counted


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
    unrecorded_passwords: int = 0  # accounts with no password change recorded yet
    # False: the keyring that holds the password-age record is missing or locked, so password
    # age cannot be checked (a doubt, never "compliant"); None: not known (the agent alone).
    keyring_available: bool | None = None
    # The current policy text was not acknowledged by the person asking: an open action.
    policy_unacknowledged: bool = False
    policy_text_version: str = ""
    # Staleness: with both set, a last scan older than max_scan_age_s reads as `unknown`.
    now: float | None = None
    max_scan_age_s: float | None = None
    scan_error: str = ""  # why the last scan failed, in words for an administrator

    def to_json(self) -> dict[str, Any]:
        return {
            "last_scan": str(self.last_scan),
            "scanned_at": self.scanned_at,
            "coverage": self.coverage.to_json(),
            "open_findings": self.open_findings,
            "worst_severity": self.worst_severity,
            "overdue_passwords": self.overdue_passwords,
            "unrecorded_passwords": self.unrecorded_passwords,
            "keyring_available": self.keyring_available,
            "policy_unacknowledged": self.policy_unacknowledged,
            "policy_text_version": self.policy_text_version,
            "now": self.now,
            "max_scan_age_s": self.max_scan_age_s,
            "scan_error": self.scan_error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceInputs:
        """Lenient: what is missing or malformed keeps its default."""

        def num(key: str) -> float | None:
            v = data.get(key)
            return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

        def count(key: str) -> int:
            v = data.get(key)
            return max(0, v) if isinstance(v, int) and not isinstance(v, bool) else 0

        outcome = data.get("last_scan")
        keyring = data.get("keyring_available")
        worst = data.get("worst_severity")
        return cls(
            last_scan=ScanOutcome(str(outcome))
            if outcome in ScanOutcome._value2member_map_
            else ScanOutcome.NONE,
            scanned_at=num("scanned_at"),
            coverage=Coverage.from_json(data.get("coverage")),
            open_findings=count("open_findings"),
            worst_severity=str(worst) if isinstance(worst, str) else None,
            overdue_passwords=count("overdue_passwords"),
            unrecorded_passwords=count("unrecorded_passwords"),
            keyring_available=keyring if isinstance(keyring, bool) else None,
            policy_unacknowledged=data.get("policy_unacknowledged") is True,
            policy_text_version=str(data.get("policy_text_version") or ""),
            now=num("now"),
            max_scan_age_s=num("max_scan_age_s"),
            scan_error=str(data.get("scan_error") or ""),
        )


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a device is in its state: a stable code, the text in Chinese and English, and the
    next step a person takes (`step_zh`/`step_en`, empty when there is nothing to do)."""

    code: str
    zh: str
    en: str
    step_zh: str = ""
    step_en: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "zh": self.zh, "en": self.en}
        if self.step_zh or self.step_en:
            out["next_step"] = {"zh": self.step_zh, "en": self.step_en}
        return out

    def text(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en

    def step(self, lang: str) -> str:
        return self.step_zh if lang.startswith("zh") else self.step_en


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
        n = inputs.open_findings
        zh_worst, en_worst = SEVERITY_WORDS.get(inputs.worst_severity or "", ("", ""))
        problems.append(
            Reason(
                "open-findings",
                f"有 {n} 项待处理的发现" + (f"（最高：{zh_worst}）" if zh_worst else "") + "。",
                f"{counted(n, 'open finding')}"
                + (f" (worst: {en_worst})" if en_worst else "")
                + ".",
                "按每项发现下列出的编号步骤处理（托盘“状态”窗口，或 wxguard status）。",
                "Follow the numbered steps under each finding (the tray's status window, or "
                "wxguard status).",
            )
        )
    if inputs.overdue_passwords > 0:
        problems.append(
            Reason(
                "password-overdue",
                f"{inputs.overdue_passwords} 个微信账号的密码已超期未更改。",
                f"{counted(inputs.overdue_passwords, 'WeChat password')} overdue for a change.",
                _PASSWORD_STEP_ZH,
                _PASSWORD_STEP_EN,
            )
        )
    if inputs.policy_unacknowledged:
        version = f" {inputs.policy_text_version}" if inputs.policy_text_version else ""
        problems.append(
            Reason(
                "policy-unacknowledged",
                f"尚未确认当前的微信管理制度（版本{version}）。",
                f"The current WeChat policy (version{version}) is not confirmed yet.",
                "阅读并确认制度：托盘菜单“微信管理制度”。",
                'Read and confirm it: the tray menu\'s "WeChat policy".',
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
                "等待第一次检查完成，或立即检查：wxguard scan-now（托盘“立即检查”）。",
                "Wait for the first check, or check now: wxguard scan-now (the tray's "
                '"Check now").',
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
                    f"{n} {'file or folder' if n == 1 else 'files or folders'} that rules look "
                    "at could not be read.",
                )
            )
    if inputs.keyring_available is False:
        doubts.append(
            Reason(
                "keyring-unavailable",
                "系统密钥环不可用（未安装或已锁定），无法检查微信密码的更改时间。",
                "The system keyring is missing or locked, so the age of your WeChat passwords "
                "cannot be checked.",
                _KEYRING_STEP_ZH,
                _KEYRING_STEP_EN,
            )
        )
    elif inputs.unrecorded_passwords > 0:
        doubts.append(
            Reason(
                "password-unrecorded",
                f"{inputs.unrecorded_passwords} 个微信账号尚未记录密码更改日期。",
                f"{counted(inputs.unrecorded_passwords, 'WeChat account')} with no password "
                "change recorded.",
                "记录上次更改密码的日期：wxguard password changed --account enterprise "
                "--on YYYY-MM-DD（或托盘菜单“记录微信密码更改”）。",
                "Record when you last changed it: wxguard password changed --account "
                'enterprise --on YYYY-MM-DD (or the tray\'s "WeChat password").',
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


_PASSWORD_STEP_ZH = (
    "在微信中更改密码，然后记录更改：wxguard password changed --account enterprise"
    "（或托盘菜单“记录微信密码更改”）。"
)
_PASSWORD_STEP_EN = (
    "Change it in WeChat, then record the change: wxguard password changed --account "
    'enterprise (or the tray\'s "WeChat password").'
)
# Which keyring: the Secret Service (GNOME Keyring, KWallet) on Linux; Keychain and the
# Credential Manager are always there on macOS and Windows (docs/keyring.md).
_KEYRING_STEP_ZH = (
    "解锁登录密钥环（GNOME 密钥环或 KWallet）；若未安装，请安装 gnome-keyring 后注销并重新登录，"
    "或联系 IT。"
)
_KEYRING_STEP_EN = (
    "Unlock your login keyring (GNOME Keyring or KWallet); if there is none, install "
    "gnome-keyring, log out and in again, or contact IT."
)


def state_for_person(
    status: Mapping[str, Any],
    overdue_passwords: int,
    unrecorded_passwords: int,
    keyring_available: bool,
) -> DeviceState:
    """The state the agent reported (`status()`), with the facts only the employee's own
    session knows: the password ages in its keyring, and whether that keyring works.

    Uses the agent's inputs (`status["state_inputs"]`) so that the one rule above decides;
    an older agent that sent none gets its state read by `state_of_status` first."""
    raw = status.get("state_inputs")
    base = DeviceInputs.from_json(raw) if isinstance(raw, Mapping) else _inputs_of_status(status)
    return device_state(
        replace(
            base,
            overdue_passwords=max(base.overdue_passwords, overdue_passwords),
            unrecorded_passwords=unrecorded_passwords,
            keyring_available=keyring_available,
        )
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
            Reason(
                str(r.get("code", "")),
                str(r.get("zh", "")),
                str(r.get("en", "")),
                *_step_of(r.get("next_step")),
            )
            for r in status.get("reasons") or ()
            if isinstance(r, Mapping)
        )
        return DeviceState(State(state), reasons)
    return device_state(_inputs_of_status(status))


def _inputs_of_status(status: Mapping[str, Any]) -> DeviceInputs:
    """The inputs of an older agent's status (no `state_inputs`), as far as it tells them."""
    last = status.get("last_scan")
    spots = status.get("blind_spots") or []
    failed = tuple(
        str(b.get("probe", ""))
        for b in spots
        if isinstance(b, Mapping) and b.get("what") == "the whole probe"
    )
    by_sev = status.get("by_severity") or {}
    return DeviceInputs(
        last_scan=ScanOutcome.OK if isinstance(last, Mapping) else ScanOutcome.NONE,
        scanned_at=last.get("started_at") if isinstance(last, Mapping) else None,
        coverage=Coverage(not failed, 0, failed),
        open_findings=int(status.get("open_findings") or 0)
        or (0 if status.get("compliant", True) else 1),
        worst_severity=worst_severity([str(s) for s in by_sev])
        if isinstance(by_sev, Mapping)
        else None,
    )


def _step_of(value: Any) -> tuple[str, str]:
    if isinstance(value, Mapping):
        return str(value.get("zh") or ""), str(value.get("en") or "")
    return "", ""
