"""The one typed API between the agent and its front ends (tray, CLI).

`AgentAPI` is satisfied in-process by `LocalAgent` (tests, the CLI's own process) and over the
local socket by `agent.client.AgentClient`. Every method returns plain serialisable data.
Errors a person sees are `AgentError`s carrying a code and a message in both languages.
"""

from __future__ import annotations

from typing import Any, Protocol

PROTOCOL_VERSION = 1


class AgentError(Exception):
    """An error from the agent, with a stable code and a message in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{en} / {zh}")
        self.code = code
        self.zh = zh
        self.en = en

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "zh": self.zh, "en": self.en}

    def message(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class AgentNotRunning(AgentError):
    def __init__(self, where: str) -> None:
        super().__init__(
            "not-running",
            f"wxguard 代理未运行（{where}）。请联系 IT，或以 `wxguard agent run` 启动它。",
            f"The wxguard agent is not running ({where}). Contact IT, or start it with `wxguard agent run`.",
        )


class AgentAPI(Protocol):
    def hello(self) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    def findings(self) -> list[dict[str, Any]]: ...

    def scan_now(self) -> dict[str, Any] | None: ...

    def wait_events(self, since: int, timeout: float) -> dict[str, Any]: ...
