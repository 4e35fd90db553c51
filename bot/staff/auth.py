"""Staff authentication: argon2 password hashes, server-side sessions in a signed cookie, CSRF tokens.

The cookie holds an itsdangerous-signed random session id; the database keeps only its SHA-256, the
staff id, the expiry and the session's CSRF token. Logout deletes the row, so a copied cookie is dead.
Forms without a valid CSRF token are rejected (403). The login form, before there is a session, uses a
signed double-submit token (cookie + hidden field).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Optional, Tuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.handoff.models import Staff, StaffSession, utcnow

SESSION_COOKIE = "adempauze_staff"
LOGIN_CSRF_COOKIE = "adempauze_login_csrf"
SESSION_HOURS = 12

_hasher = PasswordHasher()
# A hash of a random password, verified when the e-mail is unknown, so timing does not tell who has an account.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password has at least 8 characters")
    return _hasher.hash(password)


def verify_password(password_hash: Optional[str], password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    def __init__(self, secret_key: bytes, hours: int = SESSION_HOURS) -> None:
        self.signer = TimestampSigner(secret_key, salt="adempauze-staff-session")
        self.login_signer = TimestampSigner(secret_key, salt="adempauze-staff-login")
        self.max_age = hours * 3600

    # -- login with e-mail and password -----------------------------------------------------------

    def authenticate(self, session: Session, email: str, password: str) -> Optional[Staff]:
        staff = session.execute(select(Staff).where(Staff.email == (email or "").strip().lower())).scalars().first()
        ok = verify_password(staff.password_hash if staff else None, password or "")
        if not ok or staff is None or not staff.active:
            return None
        if _hasher.check_needs_rehash(staff.password_hash):
            staff.password_hash = _hasher.hash(password)
        staff.last_login_at = utcnow()
        return staff

    def open(self, session: Session, staff: Staff) -> Tuple[str, str]:
        """A new session: (signed cookie value, CSRF token)."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = utcnow()
        session.add(StaffSession(id_hash=_digest(session_id), staff_id=staff.id, csrf_token=csrf, created_at=now,
                                 expires_at=now + timedelta(seconds=self.max_age)))
        return self.signer.sign(session_id).decode(), csrf

    def load(self, session: Session, cookie: Optional[str]) -> Optional[StaffSession]:
        if not cookie:
            return None
        try:
            session_id = self.signer.unsign(cookie, max_age=self.max_age).decode()
        except (BadSignature, SignatureExpired):
            return None
        row = session.get(StaffSession, _digest(session_id))
        if row is None or row.expires_at < utcnow() or not row.staff.active:
            return None
        return row

    def close(self, session: Session, cookie: Optional[str]) -> None:
        row = self.load(session, cookie)
        if row is not None:
            session.execute(delete(StaffSession).where(StaffSession.id_hash == row.id_hash))

    # -- CSRF before login (double submit, signed) ----------------------------------------------

    def login_token(self) -> Tuple[str, str]:
        """(cookie value, form value) for the login form."""
        token = secrets.token_urlsafe(24)
        return self.login_signer.sign(token).decode(), token

    def check_login_token(self, cookie: Optional[str], form_value: Optional[str]) -> bool:
        if not cookie or not form_value:
            return False
        try:
            token = self.login_signer.unsign(cookie, max_age=3600).decode()
        except (BadSignature, SignatureExpired):
            return False
        return hmac.compare_digest(token, form_value)


def csrf_ok(expected: Optional[str], given: Optional[str]) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
