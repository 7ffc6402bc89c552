"""Text rules every message shares (no NUL, no lone surrogate) and bilingual validation errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

# The rules themselves need no pydantic (the idle agent uses `storable`); re-exported here.
from protocol.plain import NUL_MESSAGE as NUL_MESSAGE
from protocol.plain import SURROGATE_MESSAGE as SURROGATE_MESSAGE
from protocol.plain import check_storable as check_storable
from protocol.plain import storable as storable


class Strict(BaseModel):
    """Unknown fields are refused, and no string may hold NUL or a lone surrogate.

    PostgreSQL cannot store either, and no legitimate agent sends them: refusing them in the
    model turns what would be a database error (a 500) into a clear refusal, on the server and
    in the agent before it says "queued".
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        check_storable(value)
        return value


_ZH = {
    "string_too_long": "最多 {max_length} 个字符",
    "string_too_short": "至少 {min_length} 个字符",
    "too_long": "最多 {max_length} 项",
    "too_short": "至少 {min_length} 项",
    "less_than_equal": "不能大于 {le}",
    "greater_than_equal": "不能小于 {ge}",
    "missing": "必填",
    "extra_forbidden": "不允许的字段",
    "enum": "不是允许的值",
    "literal_error": "不是允许的值",
    "string_pattern_mismatch": "格式无效",
    "int_parsing": "必须是整数",
    "int_type": "必须是整数",
    "timezone_aware": "必须带时区",
}


def explain(exc: ValidationError, limit: int = 5) -> tuple[str, str]:
    """A model's validation errors as (Chinese, English) sentences a person can act on."""
    zh: list[str] = []
    en: list[str] = []
    for err in exc.errors(include_url=False)[:limit]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "value"
        kind = str(err.get("type", ""))
        msg = str(err.get("msg", "invalid"))
        context = err.get("ctx") or {}
        if NUL_MESSAGE in msg:
            zh_msg = "不能包含 NUL（空）字符"
        elif SURROGATE_MESSAGE in msg:
            zh_msg = "含有无效的 Unicode 字符"
        elif kind in _ZH:
            try:
                zh_msg = _ZH[kind].format(**context)
            except (KeyError, IndexError):
                zh_msg = msg
        else:
            zh_msg = msg
        zh.append(f"{where}：{zh_msg}")
        en.append(f"{where}: {msg}")
    return "；".join(zh) + "。", "; ".join(en) + "."
