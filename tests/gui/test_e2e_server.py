"""The tray, the real agent and the real server together: an employee files a report in the
tray's dialog, it arrives on the server, the security team replies there, and the reply shows
up in the tray's "My reports"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from sqlalchemy import select

from agent import password_age as pa
from agent.client import AgentClient
from gui.tray import Tray
from server import crud
from server.db import session_scope
from server.models import Admin, MessageKind, Report, ReportStatus
from tests.gui.fake_agent import MemorySecrets
from tests.support.real_agent import AgentUnderTest
from tests.support.real_server import RealServer, running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RealServer]:
    with running_server(tmp_path / "server") as srv:
        yield srv


@pytest.fixture
def agent(tmp_path: Path, server: RealServer) -> Iterator[AgentUnderTest]:
    under_test = AgentUnderTest(tmp_path / "agent")
    # Fetch report statuses every 2 s instead of every 5 min, so the reply arrives quickly.
    (under_test.home / "agent.toml").write_text("report_refresh_s = 2\n")
    under_test.start()
    under_test.enroll(server)
    yield under_test
    under_test.stop()


def _reply_on_server(server: RealServer, summary: str, body: str) -> str:
    """What the security team does in the dashboard: triage the report and answer it."""
    with session_scope(server.sessions) as session:
        admin = session.scalars(select(Admin)).first()
        assert admin is not None
        report = session.scalars(select(Report).where(Report.summary == summary)).one()
        now = datetime.now(UTC)
        crud.update_report(session, report, now, admin, "127.0.0.1", status=ReportStatus.TRIAGED)
        crud.add_message(session, report, MessageKind.REPLY, body, admin, now)
        return str(report.case)


def test_report_filed_in_the_tray_is_answered_from_the_server(
    qtbot, tmp_path: Path, server: RealServer, agent: AgentUnderTest
) -> None:
    settings = QSettings(str(tmp_path / "tray.ini"), QSettings.Format.IniFormat)
    settings.setValue("language", "en")
    tray = Tray(
        AgentClient(agent.socket),
        settings,
        events_agent=AgentClient(agent.socket),
        password_store=pa.PasswordAgeStore(secrets_=MemorySecrets()),
        poll_timeout=1.0,
    )
    try:
        tray.start()
        qtbot.waitUntil(lambda: bool(tray.status), timeout=15000)
        dialog = tray.open_report()
        dialog.category.setCurrentIndex(dialog.category.findData("account-compromise"))
        dialog.summary.setText("Someone logged into my WeChat from another city")
        dialog.description.setPlainText(
            "Login notice at 03:12 from a device I do not own. 异地登录"
        )
        assert dialog.review()
        dialog.send()
        qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 2, timeout=10000)

        qtbot.waitUntil(lambda: len(server.rows(Report)) == 1, timeout=20000)
        stored = server.rows(Report)[0]
        assert stored.category == "account-compromise"
        case = _reply_on_server(
            server,
            "Someone logged into my WeChat from another city",
            "Please change your password now; we are on it.",
        )

        def replied() -> bool:
            return any(
                r.get("case") == case
                and r.get("state") == "triaged"
                and any(
                    "change your password" in rep.get("body", "") for rep in r.get("replies", [])
                )
                for r in tray.reports
            )

        qtbot.waitUntil(replied, timeout=30000)
    finally:
        tray.stop()
        tray.pump.stop()
        tray.bridge.wait_idle(5000)
        for win in tray.windows.values():
            win.close()
