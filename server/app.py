"""The application factory: builds the FastAPI app from validated settings and injected parts."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, select
from starlette.types import Scope

from server import attachments
from server.api.device import router as device_router
from server.clock import Clock, SystemClock
from server.config import ConfigError, Settings, load_settings
from server.db import is_sqlite, make_engine, make_heartbeat_engine, make_sessionmaker
from server.errors import install_handlers
from server.limits import BodySizeLimit
from server.migrate import is_current
from server.models import Attachment
from server.policy_index import PolicyIndex
from server.ratelimit import RateLimiter
from server.signing import PolicySigner, SigningError
from server.state import AppState, Limiters
from server.web.device_group import router as device_group_router
from server.web.exec_blocks import router as exec_blocks_router
from server.web.export import router as export_router
from server.web.identities import router as identities_router
from server.web.lists import router as lists_router
from server.web.monthly import router as monthly_router
from server.web.overview import router as overview_router
from server.web.overview import schedule as overview_schedule
from server.web.routes import install as install_web
from server.web.routes import router as web_router

STATIC = Path(__file__).with_name("web") / "static"


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    if not is_current(engine):
        engine.dispose()
        raise ConfigError(
            "the database has no wxguard schema: run `wxguard-server init` (or `migrate`) first"
        )
    try:
        signer = PolicySigner.load(settings.policy_private_key_path)
    except SigningError as exc:
        raise ConfigError(str(exc)) from exc
    sweep_attachments(settings, engine)
    sessions = make_sessionmaker(engine)
    read_engine = (
        make_engine(settings.database_url, read_only=True)
        if is_sqlite(settings.database_url)
        else None
    )
    read_sessions = make_sessionmaker(read_engine) if read_engine is not None else sessions
    state = AppState(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=sessions,
        read_sessions=read_sessions,
        read_engine=read_engine,
        heartbeat_engine=make_heartbeat_engine(settings.database_url),
        session_slots=1 if read_engine is not None else 16,
        signer=signer,
        limiters=Limiters(
            enroll_ip=RateLimiter(clock, settings.enroll_per_ip_per_minute),
            login_ip=RateLimiter(clock, settings.login_per_ip_per_minute),
            api_ip=RateLimiter(clock, settings.ip_per_minute),
            device=RateLimiter(clock, settings.device_per_minute),
        ),
        # Read-only: it is consulted inside write transactions (SQLite would wait on itself).
        policies=PolicyIndex(read_sessions, clock),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The periodic job (the overview rollup) runs in every serving process; tests that
        # drive the app without starting it leave it to the pages' own background refresh.
        job = overview_schedule(state)
        job.start()
        try:
            yield
        finally:
            job.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="wxguard server",
        version="1",
        docs_url=None,  # the protocol is documented in docs/protocol.md; no public explorer
        redoc_url=None,
    )
    app.state.wx = state
    install_handlers(app)
    install_web(app)
    app.include_router(device_router)
    app.include_router(monthly_router)  # before /reports/{report_id}
    app.include_router(web_router)
    app.include_router(identities_router)
    app.include_router(exec_blocks_router)
    app.include_router(lists_router)
    app.include_router(export_router)
    app.include_router(overview_router)
    app.include_router(device_group_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def limit_for(scope: Scope) -> int:
        if scope.get("method") == "POST" and scope.get("path") == "/api/v1/reports":
            return settings.max_report_body_bytes
        return settings.max_body_bytes

    app.add_middleware(BodySizeLimit, limit_for=limit_for)
    return app


def sweep_attachments(settings: Settings, engine: Engine) -> attachments.SweepResult:
    """At start-up: remove attachment files a crashed upload left behind, finish renames a
    crash interrupted (`server.attachments.sweep`). Every worker may run it: the grace
    period keeps it off uploads in flight."""
    sessions = make_sessionmaker(engine)

    def referenced(names: set[str]) -> set[str]:
        if not names:
            return set()
        with sessions() as session:
            query = select(Attachment.stored_name).where(Attachment.stored_name.in_(names))
            return set(session.scalars(query))

    return attachments.sweep(settings.attachments_dir, referenced)


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` worker processes: settings come from WXGUARD_* variables."""
    data = os.environ.get("WXGUARD_DATA_DIR")
    if not data:
        raise ConfigError("WXGUARD_DATA_DIR is not set")
    app = create_app(load_settings(Path(data)))
    tune_gc_for_serving()
    return app


def tune_gc_for_serving() -> None:
    """For a serving process only (never called by the factory itself, so tests are unaffected).

    A request allocates many short-lived objects; with the default thresholds the collector
    runs every few requests and dominated the heartbeat p99 (≈190 ms → ≈60 ms at 850/s).
    Start-up objects are frozen out of collections, and young ones are collected less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
