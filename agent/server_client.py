"""The agent's HTTP client for the device protocol v1 (docs/protocol.md) and its error tree.

Every exchange is started by the agent and is safe to repeat: reports carry an idempotency key,
findings batches a batch id, status messages replace the previous value on the server.

Errors (all derive from `ServerError`):

- `ServerUnavailable`: network failure, timeout, 5xx, 408 or 429. Retry later (with backoff);
  `retry_after_s` carries the server's `Retry-After` when it sent one.
- `ServerRejected`: any other 4xx (or a 2xx we cannot read). Never retried as is: the request
  itself is wrong, so sending it again gives the same answer. `status`, `code` and `detail`
  carry the server's answer for the status display.
- `Unauthorized`: 401. The device token is unknown or revoked; the device must enroll again.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.backoff import parse_retry_after
from agent.store import FindingRecord
from checks.model import ScanResult
from protocol.limits import MAX_BATCH_FINDINGS, PROTOCOL_HEADER, PROTOCOL_VERSION
from protocol.plain import storable

if TYPE_CHECKING:
    import httpx

API = "/api/v1"
# Seconds per phase (httpx.Timeout): connect, read, write, pool.
DEFAULT_TIMEOUT = {"connect": 10.0, "read": 30.0, "write": 60.0, "pool": 10.0}
RETRYABLE_STATUS = frozenset({408, 429})


class ServerError(Exception):
    """Base of every failure talking to the server."""

    def __init__(self, message: str, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = message


class ServerUnavailable(ServerError):
    """Retryable: the server could not be reached or asked us to come back later."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        code: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, status, code)
        self.retry_after_s = retry_after_s


class ServerRejected(ServerError):
    """Not retryable: the server refused this request (4xx); `detail` is its explanation."""


class Unauthorized(ServerError):
    """401: the device token is unknown (`code` "unauthorized": enroll again) or IT revoked
    the device (`code` "revoked": stop until IT enrolls it again on purpose)."""


@dataclass(frozen=True, slots=True)
class Enrollment:
    device_id: str
    device_token: str
    policy_key_id: str
    heartbeat_interval_s: int


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    server_time: datetime
    policy_version: int
    heartbeat_interval_s: int
    protocol: int = PROTOCOL_VERSION  # the server's
    upgrade: bool = False  # the server will stop serving this agent's protocol version
    news: int = 0  # changes when something waits for this device (protocol.messages)


@dataclass(frozen=True, slots=True)
class FindingsReply:
    received: int
    new: int
    updated: int
    resolved: int


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to an incident report (the server sniffs its type from the bytes)."""

    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ReportReceipt:
    """The server's view of one report: `case` is the number the employee quotes (WXG-…)."""

    case: str
    status: str
    category: str
    summary: str
    created_at: datetime
    updated_at: datetime
    attachments: list[dict[str, Any]]
    replies: list[dict[str, Any]]
    created: bool  # False when the server already had it (an idempotent replay)
    raw: dict[str, Any]


def iso(when: datetime) -> str:
    """The wire format of a time: ISO 8601 with its offset. Naive times are a bug, not UTC."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("times sent to the server must be timezone-aware")
    return when.isoformat()


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected a time string, got {value!r}")
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    # The server stores UTC; a naive answer means UTC (pydantic drops "+00:00" only if naive).
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def tls_verify(ca_file: Path | None) -> ssl.SSLContext | bool:
    """Verify against the system store, or only against IT's pinned CA file when one is set."""
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ServerRejected(
            f"无法读取 CA 证书文件 {ca_file}：{exc}。请联系 IT。\n"
            f"Cannot read the CA certificate file {ca_file}: {exc}. Contact IT."
        ) from exc


class ServerClient:
    """Synchronous client of one server; `token` is set after enrollment."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        ca_file: Path | None = None,
        timeout: httpx.Timeout | None = None,
        user_agent: str = "wxguard-agent",
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"server URL must start with https:// : {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        # httpx is imported with the first client (enrolled, or enrolling): an agent that has
        # no server never loads it (~4 MB; `python -m bench.agent --imports`).
        import httpx

        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            verify=tls_verify(ca_file),
            timeout=timeout if timeout is not None else httpx.Timeout(**DEFAULT_TIMEOUT),
            headers={
                "User-Agent": user_agent,
                "Accept": "application/json",
                PROTOCOL_HEADER: str(PROTOCOL_VERSION),
            },
            follow_redirects=False,  # a redirect would carry the bearer token somewhere else
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- protocol ------------------------------------------------------------------------

    def enroll(
        self,
        secret: str,
        hostname: str,
        os: str,
        agent_version: str,
        machine_id: str = "",
        serial_number: str = "",
    ) -> Enrollment:
        # Trimmed to the server's field limits: an over-long hostname must not make a device
        # impossible to enroll (a 422 is never retried).
        body = {
            "secret": secret,
            "hostname": storable(hostname)[:255],
            "os": storable(os)[:200],
            "agent_version": storable(agent_version)[:64],
        }
        if machine_id:
            body["machine_id"] = machine_id[:128]
        if serial_number:  # only when known: a server older than the field accepts the rest
            body["serial_number"] = storable(serial_number)[:64]
        data = self._call("POST", "/enroll", json_body=body, auth=False)
        try:
            return Enrollment(
                device_id=_str(data, "device_id"),
                device_token=_str(data, "device_token"),
                policy_key_id=_str(data, "policy_key_id"),
                heartbeat_interval_s=_int(data, "heartbeat_interval_s"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _malformed("enroll", exc) from exc

    def heartbeat(
        self,
        agent_version: str,
        os: str = "",
        hostname: str | None = None,
        users_seen: Sequence[str] = (),
        last_scan_at: datetime | None = None,
        policy_version_seen: int = 0,
    ) -> HeartbeatReply:
        # Names come from the machine (an undecodable user name is a lone surrogate here):
        # escaped, so the server never refuses a heartbeat for what the machine calls itself.
        body: dict[str, Any] = {
            "agent_version": storable(agent_version)[:64],
            "os": storable(os)[:200],
            "users_seen": [storable(user)[:128] for user in users_seen][:64],
            "policy_version_seen": policy_version_seen,
        }
        if hostname is not None:
            body["hostname"] = storable(hostname)[:255]
        if last_scan_at is not None:
            body["last_scan_at"] = iso(last_scan_at)
        data = self._call("POST", "/heartbeat", json_body=body)
        # pydantic is imported with the first heartbeat, not before (an agent that is not
        # enrolled never loads it; `bench.agent --imports`).
        from pydantic import ValidationError

        from protocol.messages import HeartbeatResponse

        try:
            answer = HeartbeatResponse.model_validate(data)
        except ValidationError as exc:
            raise _malformed("heartbeat", exc) from exc
        server_time = answer.server_time
        return HeartbeatReply(
            server_time=server_time if server_time.tzinfo else server_time.replace(tzinfo=UTC),
            policy_version=answer.policy_version,
            heartbeat_interval_s=answer.heartbeat_interval_s,
            protocol=answer.protocol,
            upgrade=answer.upgrade,
            news=answer.news,
        )

    def upload_findings(self, batch: Mapping[str, Any]) -> FindingsReply:
        """`batch` is a FindingsBatch as JSON data (times already ISO strings with offsets)."""
        data = self._call("POST", "/findings", json_body=batch)
        try:
            return FindingsReply(
                received=_int(data, "received"),
                new=_int(data, "new"),
                updated=_int(data, "updated"),
                resolved=_int(data, "resolved"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _malformed("findings", exc) from exc

    def submit_report(
        self,
        report: Mapping[str, Any],
        attachments: Sequence[Attachment] = (),
        idempotency_key: str | None = None,
    ) -> ReportReceipt:
        """File an incident report; repeating it with the same key returns the stored one.

        Without attachments the body is JSON; with them it is multipart/form-data with the report
        JSON in the field `report` and each file in a field `attachment`, as the server expects.
        """
        body = dict(report)
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        if not isinstance(body.get("idempotency_key"), str):
            raise ValueError("a report needs an idempotency key")
        if attachments:
            files = [
                ("attachment", (a.filename, a.data, "application/octet-stream"))
                for a in attachments
            ]
            response = self._send(
                "POST",
                "/reports",
                data={"report": json.dumps(body, ensure_ascii=False)},
                files=files,
            )
        else:
            response = self._send("POST", "/reports", json_body=body)
        data = _json_object(response)
        try:
            return _receipt(data, created=response.status_code == 201)
        except (KeyError, TypeError, ValueError) as exc:
            raise _malformed("reports", exc) from exc

    def my_reports(self) -> list[ReportReceipt]:
        data = self._call("GET", "/reports")
        try:
            return [_receipt(item, created=False) for item in data["reports"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise _malformed("reports", exc) from exc

    def password_status(
        self, accounts: Sequence[Mapping[str, Any]], keyring_available: bool | None = None
    ) -> int:
        """Report password-age states (PasswordAccountStatus as JSON data) and, when known,
        whether the user's keyring opened (PasswordStatusRequest); the number accepted."""
        body: dict[str, Any] = {"accounts": list(accounts)}
        if keyring_available is not None:  # only when known: older servers refuse the field
            body["keyring_available"] = keyring_available
        data = self._call("POST", "/password-status", json_body=body)
        try:
            return _int(data, "accepted")
        except (KeyError, TypeError, ValueError) as exc:
            raise _malformed("password-status", exc) from exc

    def policy_ack(
        self, version: int, acknowledged_at: datetime, text_version: str = "", user: str = ""
    ) -> int:
        body = {
            "version": version,
            "text_version": text_version,
            "user": user,
            "acknowledged_at": iso(acknowledged_at),
        }
        data = self._call("POST", "/policy/ack", json_body=body)
        try:
            return _int(data, "accepted")
        except (KeyError, TypeError, ValueError) as exc:
            raise _malformed("policy/ack", exc) from exc

    def fetch_policy(self) -> dict[str, Any] | None:
        """The signed policy envelope exactly as received (verify it with agent.policy), or
        None when the server has no policy for this device."""
        try:
            return self._call("GET", "/policy")
        except ServerRejected as exc:
            if exc.status == 404 and exc.code == "no_policy":
                return None
            raise

    # --- plumbing ------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        json_body: Mapping[str, Any] | None = None,
        auth: bool = True,
    ) -> dict[str, Any]:
        return _json_object(self._send(method, path, json_body=json_body, auth=auth))

    def _send(
        self,
        method: str,
        path: str,
        json_body: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
        auth: bool = True,
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if auth:
            if not self.token:
                raise Unauthorized("not enrolled: no device token", status=None, code="no_token")
            headers["Authorization"] = f"Bearer {self.token}"
        import httpx  # already loaded by __init__

        try:
            response = self._http.request(
                method,
                API + path,
                json=dict(json_body) if json_body is not None else None,
                data=dict(data) if data is not None else None,
                files=files,
                headers=headers,
            )
        except httpx.TransportError as exc:
            # Connection refused, DNS, TLS failure, timeouts: the server may be back later.
            raise ServerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return response
        code, detail = _error_text(response)
        if status == 401:
            raise Unauthorized(detail or "device token unknown or revoked", status, code)
        if status >= 500 or status in RETRYABLE_STATUS:
            retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
            raise ServerUnavailable(
                f"HTTP {status}: {detail}", status=status, code=code, retry_after_s=retry_after
            )
        raise ServerRejected(detail or f"HTTP {status}", status=status, code=code)


def _error_text(response: httpx.Response) -> tuple[str, str]:
    """The server's `{"error": code, "detail": text}`, or the start of whatever it sent."""
    try:
        data = response.json()
    except ValueError:
        return "", response.text[:300]
    if isinstance(data, dict):
        code = data.get("error")
        detail = data.get("detail")
        if isinstance(detail, list):  # FastAPI's own 422 shape
            detail = "; ".join(
                str(item.get("msg", item)) if isinstance(item, dict) else str(item)
                for item in detail
            )
        return (str(code) if code else "", str(detail) if detail is not None else "")
    return "", str(data)[:300]


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise _malformed(str(response.request.url.path), exc) from exc
    if not isinstance(data, dict):
        raise _malformed(str(response.request.url.path), TypeError("not a JSON object"))
    return data


def _malformed(what: str, exc: Exception) -> ServerRejected:
    # A 2xx we cannot read will not get better by resending it: treat as a protocol mismatch.
    return ServerRejected(
        f"unexpected answer from {what}: {exc}", status=None, code="protocol_mismatch"
    )


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is not an integer")
    return value


def _receipt(data: Any, created: bool) -> ReportReceipt:
    if not isinstance(data, dict):
        raise TypeError("a report is not a JSON object")
    attachments = data.get("attachments", [])
    replies = data.get("replies", [])
    if not isinstance(attachments, list) or not isinstance(replies, list):
        raise TypeError("attachments and replies must be lists")
    return ReportReceipt(
        case=_str(data, "case"),
        status=_str(data, "status"),
        category=_str(data, "category"),
        summary=_str(data, "summary"),
        created_at=parse_time(data["created_at"]),
        updated_at=parse_time(data["updated_at"]),
        attachments=[a for a in attachments if isinstance(a, dict)],
        replies=[r for r in replies if isinstance(r, dict)],
        created=created,
        raw=data,
    )


# --- findings batches --------------------------------------------------------------------


def _cut(value: Any, limit: int) -> str:
    # Text the agent found (file names, package names) must arrive even when it holds NUL or
    # undecodable bytes (lone surrogates): the server refuses both, so they are escaped.
    return storable(str(value))[:limit]


def _wire_evidence(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": _cut(item.get("kind", "") or "other", 32),
        "matched": _cut(item.get("matched", ""), 1000),
    }
    for key, limit in (("path", 4096), ("package", 255), ("detail", 2000)):
        if item.get(key):
            out[key] = _cut(item[key], limit)
    pid = item.get("pid")
    if isinstance(pid, int) and not isinstance(pid, bool) and 0 <= pid <= 2**32:
        out["pid"] = pid
    if item.get("location"):
        out["location"] = _cut(item["location"], 4096)
    if item.get("in_image") is True:
        out["in_image"] = True
    matched = _wire_i18n(item.get("matched_i18n"))
    if matched is not None:
        out["matched_i18n"] = {"zh": _cut(matched["zh"], 1000), "en": _cut(matched["en"], 1000)}
    return out


def _wire_i18n(value: Any) -> dict[str, str] | None:
    if isinstance(value, Mapping) and "zh" in value and "en" in value:
        return {"zh": _cut(value["zh"], 4000), "en": _cut(value["en"], 4000)}
    return None


def wire_finding(record: FindingRecord, status: str) -> dict[str, Any]:
    """One finding as the server's FindingIn: the stored body plus status and times, trimmed to
    the server's limits (a finding refused for an over-long path would never arrive at all)."""
    body = record.body
    out: dict[str, Any] = {
        "key": record.key,
        "status": status,
        "rule_id": record.rule_id,
        "title": _cut(body.get("title") or record.rule_id, 500),
        "category": _cut(record.category, 64),
        "severity": record.severity,
        "subject": _cut(body.get("subject", ""), 1000),
        "evidence": [_wire_evidence(e) for e in body.get("evidence", [])[:50]],
        "remediation": _cut(body.get("remediation", ""), 4000),
        "references": [_cut(r, 1000) for r in body.get("references", [])[:20]],
        "first_seen": iso(datetime.fromtimestamp(record.first_seen, UTC)),
        "last_seen": iso(datetime.fromtimestamp(max(record.last_seen, record.first_seen), UTC)),
    }
    for key in ("title_i18n", "remediation_i18n", "remediation_intro_i18n"):
        text = _wire_i18n(body.get(key))
        if text is not None:
            out[key] = text
    steps = body.get("remediation_steps")
    if isinstance(steps, Mapping) and (steps.get("zh") or steps.get("en")):
        out["remediation_steps"] = {
            lang: [_cut(s, 4000) for s in steps.get(lang, [])[:30] if isinstance(s, str)]
            for lang in ("zh", "en")
        }
    return out


def approvals_json(result: ScanResult) -> list[dict[str, Any]]:
    """The scan's approved clients as the server's ApprovedIn list (coverage's `approved`),
    trimmed to its limits."""
    return [
        {
            "client_id": _cut(a.client_id, 128),
            "name": {"zh": _cut(a.client_name.zh, 4000), "en": _cut(a.client_name.en, 4000)},
            "kind": a.kind,
            "path": _cut(a.path, 1000),
            "how": _cut(a.how, 1000),
        }
        for a in result.approved[:64]
    ]


def findings_batch(
    new: Sequence[FindingRecord],
    present: Sequence[FindingRecord],
    resolved: Sequence[FindingRecord],
    scanned_at: datetime,
    complete: bool,
    coverage: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A FindingsBatch from one scan's delta (agent.store.ScanDelta's three lists).

    `complete=True` (a full scan that saw everything) tells the server that open findings the
    batch does not mention are resolved; a scan with blind spots sends `complete=False`, so the
    server resolves only what the batch resolves. Past the server's 1000-finding limit the
    batch is cut and sent as incomplete, so nothing is wrongly resolved; resolved ones go first
    as they change the server's view. `coverage` (protocol.device_state.Coverage's JSON and
    the scan's `outcome`, "ok" or "failed") tells the server what the scan could see.
    """
    items = [wire_finding(r, "resolved") for r in resolved]
    items += [wire_finding(r, "new") for r in new]
    items += [wire_finding(r, "present") for r in present]
    if len(items) > MAX_BATCH_FINDINGS:
        items, complete = items[:MAX_BATCH_FINDINGS], False
    batch: dict[str, Any] = {"scanned_at": iso(scanned_at), "complete": complete, "findings": items}
    if coverage is not None:
        batch["coverage"] = dict(coverage)
    return batch
