"""Encrypting the delivery address (e.g. a Telegram chat id) that a handoff needs while it is open.

The person's id everywhere is a one-way pseudonym, so a staff message could not reach the person after a
restart. The handoff therefore keeps the channel's address, encrypted (Fernet, key derived from
ADEMPAUZE_SECRET), and only until the handoff has ended.
"""
from __future__ import annotations

import base64
import hashlib
from typing import Optional

from cryptography.fernet import Fernet, InvalidToken


class AddressBox:
    def __init__(self, secret_key: bytes) -> None:
        key = hashlib.sha256(b"adempauze-handoff-address:" + secret_key).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, address: Optional[str]) -> Optional[str]:
        if address is None or address == "":
            return None
        return self._fernet.encrypt(str(address).encode()).decode()

    def open(self, sealed: Optional[str]) -> Optional[str]:
        if not sealed:
            return None
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None
