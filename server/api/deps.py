"""Dependencies shared by routes, as `Annotated` aliases: state, session, time, device identity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from server import crud
from server.errors import ApiError, revoked, unauthorized
from server.security import token_hash
from server.state import AppState

# Trivial dependencies are `async def` so they run on the event loop, not in a worker thread.


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.wx
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[Session]:
    """One unit of work per request, committed before the response leaves ("200" means stored).

    The gate bounds how many sessions are open at once, and waiting for it costs no thread. On
    SQLite it admits one session per process: writers then queue here, cheaply, instead of in
    SQLite's busy handler, which sleeps in growing steps and would hold a worker thread each.
    """
    async with state.session_gate:
        session = state.sessions()
        try:
            yield session
        except BaseException:
            await run_in_threadpool(_finish, session, False)
            raise
        await run_in_threadpool(_finish, session, True)


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function", max_concurrency=16)]


async def get_now(state: StateDep) -> datetime:
    return state.clock.now()


NowDep = Annotated[datetime, Depends(get_now)]


async def get_client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientIpDep = Annotated[str, Depends(get_client_ip)]


def bearer_token_hash(request: Request, state: AppState) -> str:
    """SHA-256 of the bearer token, rate-limited per address and per token before any DB work.

    The hash names exactly one device (or none), so it serves as the per-device limit key
    without a database lookup.
    """
    state.limiters.api_ip.hit(request.client.host if request.client else "unknown")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 256:
        raise unauthorized()
    hashed = token_hash(token)
    state.limiters.device.hit(hashed)
    return hashed


async def get_token_hash(request: Request, state: StateDep) -> str:
    return bearer_token_hash(request, state)


TokenHashDep = Annotated[str, Depends(get_token_hash)]


def get_device_id(state: StateDep, hashed: TokenHashDep) -> str:
    """The calling device, from its bearer token only (never from the body or the path)."""
    # A short read of its own, so no transaction (or SQLite lock) is held while the body waits.
    with state.read_sessions() as session:
        device_id = crud.device_id_for_token_hash(session, hashed)
        if device_id is None:
            raise revoked() if crud.token_is_revoked(session, hashed) else unauthorized()
    return device_id


DeviceDep = Annotated[str, Depends(get_device_id)]


def check_time_window(state: AppState, now: datetime, **values: datetime | None) -> None:
    """Refuse timestamps a sane device cannot have produced (clock far off, or garbage)."""
    earliest = now - timedelta(days=state.settings.max_past_days)
    latest = now + timedelta(minutes=state.settings.max_future_minutes)
    for name, value in values.items():
        if value is not None and not earliest <= value <= latest:
            raise ApiError(
                422,
                "bad_time",
                f"{name} is outside the accepted window ({earliest:%Y-%m-%d} to "
                f"{latest:%Y-%m-%dT%H:%MZ}); check the device clock",
            )
