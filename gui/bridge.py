"""The tray's only door to the agent: every call on a worker thread, every answer a signal.

`AgentBridge.call(op, *args)` runs `agent.<op>(*args)` on a `QThreadPool` and comes back on the
GUI thread as `done(op, result)` or `failed(op, error)`. `EventPump` long-polls
`wait_events(since, timeout)` on its own thread (with its own connection, so a 25 s poll never
blocks a button) and emits `events` / `agent_down` / `agent_up`; while the agent is down it
retries with a growing pause.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from agent.api import AgentAPI, AgentError, AgentNotRunning

# Operations the tray may run through `call`. Keeping the list explicit documents exactly what
# the tray asks of the agent.
OPS = frozenset(
    {
        "hello",
        "status",
        "findings",
        "scan_now",
        "submit_report",
        "my_reports",
        "refresh",
        "report_password_status",
        "policy",
        "acknowledge_policy",
    }
)


class _Relay(QObject):
    """Lives on the GUI thread; workers emit on it, so the slot runs queued on the GUI thread."""

    finished = Signal(str, object, object)  # op, result, error (AgentError | None)


class _Job(QRunnable):
    def __init__(self, op: str, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._op = op
        self._fn = fn
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._fn()
        except AgentError as exc:
            self._relay.finished.emit(self._op, None, exc)
        except Exception as exc:  # a bug or a broken connection: show it, never crash the tray
            self._relay.finished.emit(
                self._op,
                None,
                AgentError(
                    "internal",
                    f"与代理通信时出错：{type(exc).__name__}: {exc}",
                    f"Talking to the agent failed: {type(exc).__name__}: {exc}",
                ),
            )
        else:
            self._relay.finished.emit(self._op, result, None)


class AgentBridge(QObject):
    done = Signal(str, object)  # op, result
    failed = Signal(str, object)  # op, AgentError
    busy_changed = Signal(str, bool)  # op, running

    def __init__(self, agent: AgentAPI, pool: QThreadPool | None = None) -> None:
        super().__init__()
        self.agent = agent
        self._pool = pool or QThreadPool.globalInstance()
        self._relay = _Relay()
        self._relay.finished.connect(self._on_finished)
        self._running: dict[str, int] = {}
        self.calls: list[str] = []

    def call(self, op: str, *args: Any) -> None:
        if op not in OPS:
            raise ValueError(f"the tray does not call {op!r}")
        agent = self.agent
        self._running[op] = self._running.get(op, 0) + 1
        self.calls.append(op)
        self.busy_changed.emit(op, True)
        # Looked up on the worker: an agent without the operation fails like any other call.
        self._pool.start(_Job(op, lambda: getattr(agent, op)(*args), self._relay))

    def run(self, op: str, fn: Callable[[], Any]) -> None:
        """Run local blocking work (the keyring) the same way, reported under `op`."""
        self._running[op] = self._running.get(op, 0) + 1
        self.busy_changed.emit(op, True)
        self._pool.start(_Job(op, fn, self._relay))

    def is_busy(self, op: str) -> bool:
        return self._running.get(op, 0) > 0

    def _on_finished(self, op: str, result: Any, error: AgentError | None) -> None:
        self._running[op] = max(0, self._running.get(op, 0) - 1)
        if not self._running[op]:
            self.busy_changed.emit(op, False)
        if error is not None:
            self.failed.emit(op, error)
        else:
            self.done.emit(op, result)

    def wait_idle(self, msecs: int = 5000) -> bool:
        return bool(self._pool.waitForDone(msecs))


class _PumpRelay(QObject):
    events = Signal(int, object)  # seq, [events]
    agent_down = Signal(object)  # AgentError
    agent_up = Signal()


class EventPump:
    """Long-polls the agent's event feed on a daemon thread; signals arrive on the GUI thread.

    A plain daemon thread rather than a QThread: a long-poll in flight cannot be interrupted,
    and quitting the tray must not wait for it.
    """

    def __init__(
        self,
        agent: AgentAPI,
        poll_timeout: float = 25.0,
        retry_min: float = 1.0,
        retry_max: float = 30.0,
    ) -> None:
        self.agent = agent
        self.poll_timeout = poll_timeout
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.signals = _PumpRelay()
        self.since = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.up: bool | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="wxguard-events", daemon=True)
        self._thread.start()

    def stop(self, wait: float = 0.0) -> None:
        self._stop.set()
        self._wake.set()
        if wait and self._thread is not None:
            self._thread.join(wait)

    def retry_now(self) -> None:
        """Skip the rest of the pause while the agent is down (the employee asked)."""
        self._wake.set()

    def _loop(self) -> None:
        pause = self.retry_min
        while not self._stop.is_set():
            try:
                if self.up is not True:
                    self.agent.hello()  # cheap probe: are we back?
                    self.up = True
                    pause = self.retry_min
                    self.signals.agent_up.emit()
                reply = self.agent.wait_events(self.since, self.poll_timeout)
            except AgentNotRunning as exc:
                if self.up is not False:
                    self.up = False
                    self.signals.agent_down.emit(exc)
                self._wake.wait(pause)
                self._wake.clear()
                pause = min(self.retry_max, pause * 2)
                continue
            except AgentError as exc:
                self.signals.agent_down.emit(exc)
                self.up = False
                self._wake.wait(pause)
                self._wake.clear()
                pause = min(self.retry_max, pause * 2)
                continue
            except Exception as exc:  # never let the pump die silently
                self.up = False
                self.signals.agent_down.emit(
                    AgentError(
                        "internal",
                        f"读取代理事件失败：{exc}",
                        f"Reading the agent's events failed: {exc}",
                    )
                )
                self._wake.wait(pause)
                self._wake.clear()
                continue
            if self._stop.is_set():
                return
            seq = int(reply.get("seq", self.since))
            events = list(reply.get("events") or [])
            if seq < self.since:  # the agent restarted: start over from its numbering
                self.since = seq
                self.signals.agent_up.emit()  # everything may have changed: refresh
                continue
            self.since = seq
            if events:
                self.signals.events.emit(seq, events)
