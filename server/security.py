"""Secrets and credentials: device tokens, enrollment secrets, admin passwords, sessions, CSRF."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

DEVICE_TOKEN_PREFIX = "wxd_"
SECRET_PREFIX = "wxe_"

_hasher = PasswordHasher()


def new_device_token() -> str:
    # 256 bits of entropy make a plain SHA-256 safe to store and cheap to check on every request;
    # argon2 would cost ~50 ms per heartbeat for no gain against a random token.
    return DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_enrollment_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def dummy_password_hash() -> str:
    """A hash to verify against when the username does not exist, so timing does not reveal it."""
    return hash_password("wxguard-dummy-password-for-timing")


@dataclass(frozen=True)
class SessionData:
    admin_id: int
    username: str
    nonce: str
    expires: int  # unix seconds
    # The account's session generation when this session was issued (models.Admin): a session
    # of an older generation is refused, so logout and password changes end it everywhere.
    generation: int = 0


class SessionCodec:
    """Signed, stateless session cookies so several server processes share sessions."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"wxguard-session\0" + secret.encode()).digest()
        self._csrf_key = hashlib.sha256(b"wxguard-csrf\0" + secret.encode()).digest()

    def encode(self, data: SessionData) -> str:
        body = json.dumps(
            [data.admin_id, data.username, data.nonce, data.expires, data.generation],
            separators=(",", ":"),
        ).encode()
        payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return payload + "." + self._mac(payload)

    def decode(self, cookie: str, now: datetime) -> SessionData | None:
        payload, _, mac = cookie.partition(".")
        if not payload or not _same(mac, self._mac(payload)):
            return None
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            admin_id, username, nonce, expires, generation = json.loads(raw)
        except (ValueError, TypeError):
            return None
        if not all(isinstance(v, int) for v in (admin_id, expires, generation)):
            return None
        if expires < now.timestamp():
            return None
        return SessionData(admin_id, str(username), str(nonce), expires, generation)

    def csrf_token(self, session: SessionData) -> str:
        return hmac.new(self._csrf_key, session.nonce.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session: SessionData, token: str) -> bool:
        return _same(token, self.csrf_token(session))

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input (compare_digest does not)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def new_session(
    admin_id: int, username: str, now: datetime, hours: int, generation: int = 0
) -> SessionData:
    return SessionData(
        admin_id,
        username,
        secrets.token_urlsafe(16),
        int(now.timestamp()) + hours * 3600,
        generation,
    )
