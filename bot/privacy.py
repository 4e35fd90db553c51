"""Pseudonymous ids: a keyed hash (HMAC-SHA256) of a channel's user id. No names, no usernames."""
from __future__ import annotations

import hashlib
import hmac


def pseudonym(key: bytes, channel: str, user_id: object) -> str:
    """'tg-<32 hex>' for Telegram user 12345; stable per key, not reversible without the key."""
    digest = hmac.new(key, f"{channel}:{user_id}".encode(), hashlib.sha256).hexdigest()
    return f"{channel}-{digest[:32]}"
