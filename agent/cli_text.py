"""Words and layout for the CLI's text output (people read it; scripts use `--format json`):
stable ids as translated words, times in local time to the minute or second, columns aligned
by their width on a terminal (a Chinese character takes two cells)."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from protocol.names import SEVERITY_WORDS

# id → (zh, en). Unknown ids are shown as they are (a newer agent may send more).
WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "state": {
        "compliant": ("合规", "compliant"),
        "non-compliant": ("不合规", "non-compliant"),
        "blind": ("检查不完整（不能确认合规）", "not confirmed: the check was partial or failed"),
        "unknown": ("未知（尚无最近的检查）", "unknown: no recent check"),
    },
    "mode": {"user": ("用户模式", "user mode"), "system": ("系统模式", "system mode")},
    "trigger": {
        "startup": ("启动时", "at start-up"),
        "manual": ("手动", "on request"),
        "periodic": ("定期", "periodic"),
        "policy": ("新策略", "new policy"),
        "wake": ("唤醒后", "after sleep"),
        "fs-event": ("文件变化", "file change"),
        "fs-lost": ("文件监视中断", "file watching interrupted"),
        "accounts": ("账户变化", "accounts changed"),
        "process": ("新进程", "new process"),
        "exception-expired": ("例外到期", "an exception expired"),
    },
    "outcome": {"ok": ("完成", "finished"), "failed": ("失败", "failed")},
    "policy_mode": {
        "monitor": ("仅监控", "monitor only"),
        "enforce": ("强制执行", "enforce"),
    },
    "report_state": {
        "queued": ("在本机排队", "queued on this computer"),
        "delivered": ("已送达安全团队", "delivered to the security team"),
        "new": ("已收到，待处理", "received, not yet reviewed"),
        "triaged": ("处理中", "being handled"),
        "resolved": ("已解决", "resolved"),
    },
    "category": {
        "account-compromise": ("账号被盗或异常登录", "account stolen or suspicious login"),
        "suspicious-message": ("可疑消息或链接", "suspicious message or link"),
        "data-leak": ("机密信息外发", "confidential information sent out"),
        "lost-device": ("设备丢失或被盗", "lost or stolen device"),
        "unapproved-software": ("未经许可的软件或插件", "unapproved software or plugin"),
        "other": ("其他", "something else"),
    },
    "contact": {
        "email": ("邮件", "by email"),
        "phone": ("电话", "by phone"),
        "wechat": ("企业微信", "on enterprise WeChat"),
        "none": ("无需联系", "no need to contact me"),
    },
    "severity": SEVERITY_WORDS,
}


def word(kind: str, key: Any, zh: bool) -> str:
    """The word for the stable id `key` of `kind` ("state", "trigger", …) in the language."""
    pair = WORDS.get(kind, {}).get(str(key))
    if pair is None:
        return str(key) if key not in (None, "") else "-"
    return pair[0] if zh else pair[1]


def yes_no(value: Any, zh: bool) -> str:
    if value is None:
        return "-"
    return ("是" if value else "否") if zh else ("yes" if value else "no")


def local_time(ts: float | None, seconds: bool = False) -> str:
    """A Unix time as local time to the minute (or second), with the zone: "2026-11-29 14:57
    CST". "-" when unknown."""
    if not ts:
        return "-"
    fmt = "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
    return time.strftime(fmt, time.localtime(float(ts))).strip()


def width(text: str) -> int:
    """Terminal cells `text` takes: wide and full-width characters (Chinese) take two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def pad(text: str, cells: int) -> str:
    return text + " " * max(0, cells - width(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Rows under their headers, each column as wide as its widest cell (the last unpadded)."""
    cols = len(headers)
    widths = [max(width(str(r[i])) for r in [headers, *rows]) for i in range(cols)]
    out = []
    for row in [headers, *rows]:
        cells = [pad(str(row[i]), widths[i]) if i < cols - 1 else str(row[i]) for i in range(cols)]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def fields(pairs: Sequence[tuple[str, str]], indent: str = "") -> list[str]:
    """ "label:  value" lines with the values aligned."""
    if not pairs:
        return []
    cells = max(width(label) for label, _ in pairs) + 1
    return [f"{indent}{pad(label + ('：' if _is_zh(label) else ':'), cells + 1)} {value}".rstrip()
            for label, value in pairs]  # fmt: skip


def _is_zh(label: str) -> bool:
    return any(unicodedata.east_asian_width(c) in ("W", "F") for c in label)


def pick(texts: Mapping[str, Any] | None, zh: bool) -> str:
    if not isinstance(texts, Mapping):
        return ""
    first, second = ("zh", "en") if zh else ("en", "zh")
    return str(texts.get(first) or texts.get(second) or "")
