"""The agent's side of the server exchange as one state machine: `Sync.step(now) -> next wake-up`.

The service thread calls `step` whenever it wakes (timer, new outbox item). One step: enroll if
needed and possible, heartbeat when due (every `heartbeat_interval_s` ±10 %), fetch and verify
the policy when the server announces a newer version (and once at start), then deliver every
outbox item that is due. Failures follow docs/agent-exchange.md: network errors, 5xx, 408 and 429
back off with full jitter (cap 1 h, `Retry-After` as a floor); any other 4xx is never retried as
is and is shown in `status()`; 401 means the token was revoked and the device enrolls again.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import machine
from agent import outbox as ob
from agent.backoff import Backoff, full_jitter
from agent.config import Settings
from agent.credentials import Credentials, CredentialsError, CredentialStore
from agent.policy import EffectivePolicy, PolicyGuard, PolicyKeyError, PolicyRefused
from agent.server_client import (
    Attachment,
    ReportReceipt,
    ServerClient,
    ServerError,
    ServerRejected,
    ServerUnavailable,
    Unauthorized,
    parse_time,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

SPLAY = 0.10  # heartbeat interval ±10 %: a fleet started together does not stay in step
MIN_INTERVAL_S = 30
MAX_INTERVAL_S = 86400
# A refused policy is fetched again only when the server announces another version, or after
# this long (a clock that was wrong may have been fixed).
REFUSED_POLICY_RETRY = timedelta(hours=1)
# While one of this device's reports is open, heartbeats come at least this often, so a reply
# reaches the employee within a minute (the heartbeat answer's `news`), at a cost the server
# pays only for devices with an open report (docs/protocol.md, "Timely answers").
FAST_INTERVAL_S = 45
IDLE_RECHECK = timedelta(minutes=5)  # not configured yet: look at the config again this often
# Delivered items are kept this long so the tray can still show "delivered, case WXG-…".
KEEP_DELIVERED = timedelta(days=30)

ClientFactory = Callable[[str, str | None], ServerClient]
EventListener = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the device says about itself at enrollment and in heartbeats."""

    hostname: str
    os: str
    agent_version: str
    machine_id: str = ""  # a hash of the machine's stable id (`machine_id()`), "" if unknown
    serial_number: str = ""  # as printed on the machine (`agent.machine.serial_number()`)


def machine_id(paths: Sequence[Path] | None = None) -> str:
    """A hash of this machine's stable id (`agent.machine`: Linux machine-id, macOS
    IOPlatformUUID, Windows MachineGuid); "" when there is none to read. `paths`: the Linux
    files to try instead of the system's (tests)."""
    if paths is not None:
        raw = machine.linux_id(paths)
        return machine.hashed(raw) if raw else ""
    return machine.machine_id()


def enrollment_fingerprint(url: str, secret: str) -> str:
    """Names one (server URL, enrollment secret) pair without keeping the secret."""
    return hashlib.sha256(f"{url.rstrip('/')}\0{secret}".encode()).hexdigest()


def new_key(prefix: str) -> str:
    """An idempotency key the server accepts (8-64 of [A-Za-z0-9_.:-])."""
    return f"{prefix}-{uuid.uuid4().hex}"


class Sync:
    """Owns the device's conversation with the server; thread-safe `status()`."""

    def __init__(
        self,
        *,
        settings: Settings,
        device: DeviceInfo,
        credentials: CredentialStore,
        outbox: ob.Outbox,
        policy: PolicyGuard,
        client_factory: ClientFactory | None = None,
        transport: httpx.BaseTransport | None = None,
        rand: Callable[[], float] | None = None,
        on_event: EventListener | None = None,
    ) -> None:
        self.settings = settings
        self.device = device
        self.credentials = credentials
        self.outbox = outbox
        self.policy = policy
        self._rand = rand if rand is not None else random.SystemRandom().random
        ca = Path(settings.ca_file) if settings.ca_file else None

        def default_factory(url: str, token: str | None) -> ServerClient:
            return ServerClient(url, token, transport=transport, ca_file=ca)

        self._factory = client_factory or default_factory
        self._on_event = on_event
        self._step_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._backoff = Backoff(self._rand)
        self._client: ServerClient | None = None
        self._creds: Credentials | None = None
        self._creds_loaded = False
        self._interval_s = settings.heartbeat_interval_s
        self._next_heartbeat: datetime | None = None
        self._backoff_until: datetime | None = None
        self._policy_due = True
        self._server_policy_version = 0
        self._refused: tuple[int, datetime] | None = None
        self._rejected_enrollment: str | None = None
        self._reachable: bool | None = None
        self._last_contact: datetime | None = None
        self._last_error: dict[str, Any] | None = None
        self._last_scan_at: datetime | None = None
        self._users_seen: tuple[str, ...] = ()
        self._configured = True
        self._policy_loaded = False
        self._last_purge: datetime | None = None
        self._fast = False
        self._upgrade = False
        self._news: int | None = None
        self._news_changed = False

    # --- inputs from the service ---------------------------------------------------------

    def note_scan(self, at: datetime, users_seen: Sequence[str] = ()) -> None:
        """The time of the last scan and the users it saw, for the next heartbeat."""
        with self._state_lock:
            self._last_scan_at = at
            # The server's limits: 64 users of at most 128 characters.
            self._users_seen = tuple(u[:128] for u in users_seen)[:64]

    def queue_report(
        self,
        report: Mapping[str, Any],
        now: datetime,
        attachments: Sequence[ob.Attachment] = (),
        idempotency_key: str | None = None,
    ) -> str:
        """Store an incident report durably (raises OutboxFull/OutboxError, nothing is lost
        silently); returns its idempotency key. The caller may then say "queued"."""
        key = idempotency_key or new_key("report")
        body = {**report, "idempotency_key": key}
        self.outbox.put(ob.Kind.REPORT, body, key, now, attachments=attachments)
        with self._state_lock:
            # A person is waiting: try once now rather than at the end of a long backoff.
            self._backoff_until = None
        return key

    def queue_findings(self, batch: Mapping[str, Any], now: datetime) -> str:
        """Queue a FindingsBatch; a complete snapshot supersedes undelivered older batches."""
        key = new_key("findings")
        body = {**batch, "batch_id": key}
        self.outbox.put(
            ob.Kind.FINDINGS, body, key, now, supersede=bool(batch.get("complete", False))
        )
        return key

    def queue_password_status(
        self,
        accounts: Sequence[Mapping[str, Any]],
        now: datetime,
        keyring_available: bool | None = None,
    ) -> str:
        body: dict[str, Any] = {"accounts": list(accounts)}
        if keyring_available is not None:
            # Only sent when known: a server older than the field accepts the rest.
            body["keyring_available"] = keyring_available
        key = new_key("password")
        self.outbox.put(ob.Kind.PASSWORD_STATUS, body, key, now, supersede=True)
        return key

    def queue_policy_ack(
        self,
        version: int,
        acknowledged_at: datetime,
        now: datetime,
        text_version: str = "",
        user: str = "",
    ) -> str:
        from protocol.messages import PolicyAckRequest  # pydantic: loaded when one is sent

        key = new_key("ack")
        body = PolicyAckRequest(
            version=version,
            text_version=text_version,
            user=user,
            acknowledged_at=acknowledged_at,
        ).model_dump(mode="json")
        self.outbox.put(ob.Kind.POLICY_ACK, body, key, now)
        return key

    def set_fast(self, fast: bool) -> None:
        """Heartbeat every FAST_INTERVAL_S while someone waits for an answer (an open report)."""
        with self._state_lock:
            if fast and not self._fast and self._next_heartbeat is not None:
                self._next_heartbeat = min(
                    self._next_heartbeat,
                    datetime.now(self._next_heartbeat.tzinfo) + timedelta(seconds=FAST_INTERVAL_S),
                )
            self._fast = fast

    def refresh_now(self) -> None:
        """Ask the server now (the tray's Refresh): the next step heartbeats at once."""
        with self._state_lock:
            self._next_heartbeat = None

    def take_news(self) -> bool:
        """True once after a heartbeat answer said something new waits for this device."""
        with self._state_lock:
            changed, self._news_changed = self._news_changed, False
            return changed

    # --- the state machine ---------------------------------------------------------------

    def step(self, now: datetime) -> datetime:
        """Do whatever is due at `now`; returns when the next step should run."""
        with self._step_lock:
            with self._state_lock:
                waiting = self._backoff_until is not None and now < self._backoff_until
            if not waiting:
                self._step(now)
            return self._wakeup(now)

    def _ensure_policy_loaded(self, now: datetime) -> None:
        # The last good policy is in force from the first moment, before any server contact.
        with self._state_lock:
            if self._policy_loaded:
                return
            self._policy_loaded = True
            try:
                self.policy.load(now)
            except PolicyKeyError as exc:
                log.error("%s", exc)

    def _step(self, now: datetime) -> None:
        self._ensure_policy_loaded(now)
        try:
            client = self._ensure_enrolled(now)
            if client is None:
                return
            if self._next_heartbeat is None or now >= self._next_heartbeat:
                self._heartbeat(client, now)
            if self._policy_fetch_due(now):
                self._fetch_policy(client, now)
            self._deliver(client, now)
        except Unauthorized as exc:
            self._revoked(exc, now)
        except ServerUnavailable as exc:
            self._unavailable(exc, now)
        except ServerRejected as exc:
            self._error(now, exc, retryable=False)
        except (CredentialsError, ob.OutboxError, PolicyKeyError, OSError) as exc:
            # Local trouble: the server is not to blame, but retrying at once will not help.
            log.error("%s", exc)
            self._error(now, exc, retryable=True, local=True)
            delay = self._backoff.failure()
            with self._state_lock:
                self._backoff_until = now + timedelta(seconds=delay)
        else:
            with self._state_lock:
                self._backoff.reset()
                self._backoff_until = None
                # A passing outage is over; a refusal stays visible until something replaces it.
                if self._last_error is not None and self._last_error["retryable"]:
                    self._last_error = None

    def _ensure_enrolled(self, now: datetime) -> ServerClient | None:
        if not self._creds_loaded:
            self._creds = self.credentials.load()
            self._creds_loaded = True
        url = self.settings.server_url.rstrip("/")
        secret = self.settings.enrollment_secret
        creds = self._creds
        if creds is not None and creds.revoked:
            # Revoked stays revoked: no enrolling again with the secret that was in use. IT
            # enrolls the machine again on purpose by giving another secret (or server).
            if not url or not secret or enrollment_fingerprint(url, secret) == creds.revoked:
                return None
        elif creds is not None and (not url or creds.server_url.rstrip("/") == url):
            if self._client is None:
                self._client = self._factory(creds.server_url, creds.token)
            return self._client
        if not url or not secret:
            with self._state_lock:
                self._configured = False
            return None
        self._configured = True
        fingerprint = enrollment_fingerprint(url, secret)
        if self._rejected_enrollment == fingerprint:
            return None  # refused before: never retried as is; a new secret or URL tries again
        client = self._factory(url, None)
        try:
            enrollment = client.enroll(
                secret,
                self.device.hostname,
                self.device.os,
                self.device.agent_version,
                machine_id=self.device.machine_id,
                serial_number=self.device.serial_number,
            )
        except ServerRejected:
            self._rejected_enrollment = fingerprint
            client.close()
            raise
        except BaseException:
            client.close()
            raise
        creds = Credentials(enrollment.device_id, enrollment.device_token, url)
        self.credentials.save(creds)
        client.token = enrollment.device_token
        if self._client is not None:
            self._client.close()
        self._client = client
        with self._state_lock:
            self._creds = creds
            self._interval_s = _clamp(enrollment.heartbeat_interval_s)
            self._next_heartbeat = None
            self._policy_due = True
        log.info("enrolled as device %s", enrollment.device_id)
        self._emit("enrolled", {"device_id": enrollment.device_id})
        return client

    def _heartbeat(self, client: ServerClient, now: datetime) -> None:
        with self._state_lock:
            last_scan, users = self._last_scan_at, self._users_seen
        splay = 1.0 + SPLAY * (2.0 * self._rand() - 1.0)
        try:
            reply = client.heartbeat(
                agent_version=self.device.agent_version,
                os=self.device.os,
                hostname=self.device.hostname,
                users_seen=users,
                last_scan_at=last_scan,
                policy_version_seen=self.policy.version,
            )
        except ServerRejected:
            # Refused as is (e.g. a clock far off): the next one is a new heartbeat, on schedule.
            with self._state_lock:
                self._next_heartbeat = now + timedelta(seconds=self._interval_s * splay)
            raise
        interval = _clamp(reply.heartbeat_interval_s)
        with self._state_lock:
            self._contact(now)
            self._interval_s = interval
            wait = min(interval, FAST_INTERVAL_S) if self._fast else interval
            self._next_heartbeat = now + timedelta(seconds=wait * splay)
            if self._news is not None and reply.news != self._news:
                self._news_changed = True
            self._news = reply.news
            if reply.upgrade and not self._upgrade:
                log.warning(
                    "the server asks for a newer wxguard agent (protocol %d)", reply.protocol
                )
            self._upgrade = reply.upgrade
            self._server_policy_version = reply.policy_version
            if reply.policy_version > self.policy.version:
                self._policy_due = True

    def _policy_fetch_due(self, now: datetime) -> bool:
        with self._state_lock:
            if not self._policy_due:
                return False
            if self._refused is not None:
                version, at = self._refused
                if version == self._server_policy_version and now - at < REFUSED_POLICY_RETRY:
                    return False
            return True

    def _fetch_policy(self, client: ServerClient, now: datetime) -> None:
        try:
            envelope = client.fetch_policy()
        except ServerRejected:
            with self._state_lock:
                self._policy_due = False  # asked again when the server announces a new version
            raise
        with self._state_lock:
            self._contact(now)
            self._policy_due = False
        if envelope is None:
            return
        device_id = self._creds.device_id if self._creds else None
        try:
            with self._state_lock:
                changed = self.policy.accept(envelope, device_id, now)
        except PolicyKeyError as exc:
            # No pinned key, no policy: shown in status, but reports and findings still flow.
            self._error(now, exc, retryable=False, local=True)
            with self._state_lock:
                self._refused = (self._server_policy_version, now)
            return
        except PolicyRefused as exc:
            with self._state_lock:
                self._refused = (self._server_policy_version, now)
            self._emit(
                "policy-refused",
                {"reason": str(exc.reason), "detail": exc.detail, "version": exc.version},
            )
            return
        with self._state_lock:
            self._refused = None
        if changed:
            policy = self.policy.effective()
            self._emit("policy", {"version": policy.version, "mode": policy.enforcement})

    def _deliver(self, client: ServerClient, now: datetime) -> None:
        if self._last_purge is None or now - self._last_purge > timedelta(days=1):
            self.outbox.purge_delivered(now - KEEP_DELIVERED)
            self._last_purge = now
        while True:
            item = self.outbox.next_due(now)
            if item is None:
                return
            try:
                response = self._send(client, item)
            except ServerUnavailable as exc:
                delay = full_jitter(item.attempts, self._rand, retry_after_s=exc.retry_after_s)
                self.outbox.mark_failed(item.id, str(exc), now + timedelta(seconds=delay))
                raise
            except ServerRejected as exc:
                # Kept (reports are never dropped), shown in status, not retried on its own.
                self.outbox.mark_failed(item.id, _describe(exc), now, permanent=True)
                self._error(now, exc, retryable=False)
                self._emit(
                    "rejected",
                    {"id": item.id, "kind": str(item.kind), "error": _describe(exc)},
                )
                with self._state_lock:
                    self._contact(now)
                continue
            except (KeyError, TypeError, ValueError) as exc:
                # A stored payload this agent cannot send (e.g. queued by an older version):
                # set aside with the reason rather than blocking everything queued behind it.
                log.error("outbox item %s cannot be sent: %r", item.id, exc)
                self.outbox.mark_failed(item.id, f"cannot be sent: {exc!r}", now, permanent=True)
                continue
            self.outbox.mark_delivered(item.id, response, now)
            with self._state_lock:
                self._contact(now)
            self._emit("delivered", {"id": item.id, "kind": str(item.kind), "response": response})

    def _send(self, client: ServerClient, item: ob.Item) -> dict[str, Any]:
        payload = item.payload
        if item.kind is ob.Kind.REPORT:
            receipt = client.submit_report(
                payload,
                [Attachment(a.filename, a.data) for a in item.attachments],
                idempotency_key=item.idempotency_key,
            )
            return {"case": receipt.case, "status": receipt.status, "created": receipt.created}
        if item.kind is ob.Kind.FINDINGS:
            return asdict(client.upload_findings({**payload, "batch_id": item.idempotency_key}))
        if item.kind is ob.Kind.PASSWORD_STATUS:
            keyring = payload.get("keyring_available")
            return {
                "accepted": client.password_status(
                    payload["accounts"], keyring if isinstance(keyring, bool) else None
                )
            }
        return {
            "accepted": client.policy_ack(
                version=int(payload["version"]),
                acknowledged_at=parse_time(payload["acknowledged_at"]),
                text_version=str(payload.get("text_version", "")),
                user=str(payload.get("user", "")),
            )
        }

    # --- outcomes ------------------------------------------------------------------------

    def _contact(self, now: datetime) -> None:
        # Caller holds _state_lock.
        self._reachable = True
        self._last_contact = now

    def _unavailable(self, exc: ServerUnavailable, now: datetime) -> None:
        delay = self._backoff.failure(exc.retry_after_s)
        log.warning("server unavailable (%s); next try in %.0f s", exc, delay)
        self._error(now, exc, retryable=True)
        with self._state_lock:
            self._reachable = False
            self._backoff_until = now + timedelta(seconds=delay)

    def _revoked(self, exc: Unauthorized, now: datetime) -> None:
        if exc.code == "revoked" and self._creds is not None:
            self._stop_revoked(exc, now, self._creds)
            return
        # An unknown token (the server lost its database, say): enrolling again is the fix.
        log.warning("the server no longer accepts this device's token: enrolling again")
        self._error(now, exc, retryable=False, needs_reenrollment=True)
        self.credentials.clear()
        if self._client is not None:
            self._client.close()
        with self._state_lock:
            self._reachable = True
            self._last_contact = now
            self._client = None
            self._creds = None
            self._next_heartbeat = None
            self._policy_due = True
        self._emit("unauthorized", {"detail": exc.detail})

    def _stop_revoked(self, exc: Unauthorized, now: datetime, creds: Credentials) -> None:
        """IT revoked this device: stop talking to the server, keep saying so, and enroll again
        only when IT gives another secret or server (`_ensure_enrolled`)."""
        log.error(
            "IT revoked this device (%s); it stays revoked until IT enrolls it again",
            creds.device_id,
        )
        url = (self.settings.server_url or creds.server_url).rstrip("/")
        revoked = Credentials(
            creds.device_id,
            "",
            creds.server_url,
            revoked=enrollment_fingerprint(url, self.settings.enrollment_secret),
        )
        self.credentials.save(revoked)
        self._error(now, exc, retryable=False)
        if self._client is not None:
            self._client.close()
        with self._state_lock:
            self._reachable = True
            self._last_contact = now
            self._client = None
            self._creds = revoked
            self._next_heartbeat = None
        self._emit("revoked", {"device_id": creds.device_id, "detail": exc.detail})

    def _error(
        self,
        now: datetime,
        exc: Exception,
        retryable: bool,
        needs_reenrollment: bool = False,
        local: bool = False,
    ) -> None:
        status = exc.status if isinstance(exc, ServerError) else None
        code = exc.code if isinstance(exc, ServerError) else type(exc).__name__
        if not retryable:
            log.error("server refused a request: %s", _describe(exc))
        with self._state_lock:
            self._last_error = {
                "at": now.timestamp(),
                "message": _describe(exc),
                "status": status,
                "code": code,
                "retryable": retryable,
                "rejected": not retryable and not needs_reenrollment,
                "needs_reenrollment": needs_reenrollment,
                "local": local,
            }

    def _emit(self, name: str, data: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(name, data)
        except Exception:  # a front end's bug must not stop delivery
            log.exception("sync event listener failed on %s", name)

    def _wakeup(self, now: datetime) -> datetime:
        with self._state_lock:
            if self._backoff_until is not None and self._backoff_until > now:
                return self._backoff_until
            enrolled = self._creds is not None and not self._creds.revoked
            candidates = [now + IDLE_RECHECK] if not enrolled else []
            if enrolled:
                candidates.append(self._next_heartbeat or now)
        if enrolled:
            due = self.outbox.next_attempt_at()
            if due is not None:
                candidates.append(due)
        return max(now, min(candidates))

    # --- status --------------------------------------------------------------------------

    def status(self, now: datetime) -> dict[str, Any]:
        """Plain JSON-serialisable data for the IPC status call and the tray."""
        self._ensure_policy_loaded(now)
        try:
            depth: dict[str, int] | None = self.outbox.depth()
            rejected = [
                {"id": s.id, "kind": str(s.kind), "error": s.last_error}
                for s in self.outbox.rejected()
            ]
        except ob.OutboxError as exc:
            depth, rejected = None, [{"id": "", "kind": "", "error": str(exc)}]
        with self._state_lock:
            creds = self._creds
            revoked = creds is not None and bool(creds.revoked)
            result: dict[str, Any] = {
                "enrolled": creds is not None and not revoked,
                # IT revoked this device: it stays so until IT enrolls it again on purpose.
                "revoked": revoked,
                # The server will stop serving this agent's protocol version: upgrade it.
                "upgrade_required": self._upgrade,
                "configured": self._configured,
                "device_id": creds.device_id if creds else None,
                "server_url": creds.server_url if creds else self.settings.server_url,
                "server_reachable": self._reachable,
                "last_contact": self._last_contact.timestamp() if self._last_contact else None,
                "last_error": dict(self._last_error) if self._last_error else None,
                "backoff_until": self._backoff_until.timestamp() if self._backoff_until else None,
                "next_heartbeat": (
                    self._next_heartbeat.timestamp() if self._next_heartbeat else None
                ),
                "heartbeat_interval_s": self._interval_s,
                "server_policy_version": self._server_policy_version,
                "outbox_depth": depth,
                "outbox_rejected": rejected,
            }
            result.update(self.policy.status(now))
        return result

    def effective_policy(self) -> EffectivePolicy:
        return self.policy.effective()

    def fetch_reports(self, now: datetime) -> list[ReportReceipt] | None:
        """This device's reports as the server has them (status, replies); None when the
        server cannot be asked now (not enrolled, backing off, unreachable)."""
        with self._step_lock:
            with self._state_lock:
                waiting = self._backoff_until is not None and now < self._backoff_until
            if waiting or self._client is None or self._creds is None:
                return None
            try:
                reports = self._client.my_reports()
            except ServerError as exc:
                log.info("could not fetch report statuses: %s", _describe(exc))
                return None
            with self._state_lock:
                self._contact(now)
            return reports

    def close(self) -> None:
        with self._step_lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _clamp(interval_s: int) -> int:
    return max(MIN_INTERVAL_S, min(MAX_INTERVAL_S, interval_s))


def _describe(exc: Exception) -> str:
    if isinstance(exc, ServerError) and exc.status is not None:
        code = f" {exc.code}" if exc.code else ""
        return f"HTTP {exc.status}{code}: {exc.detail}"
    return str(exc)
