"""Turning assistant replies into Telegram messages: split under the length limit, HTML-escaped, with
inline keyboards whose callback data fit Telegram's 64 bytes."""
from __future__ import annotations

import hashlib
import html
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

MAX_TEXT = 4096  # Telegram's limit, after entity parsing
SPLIT_AT = 4000  # leave room; the limit counts the parsed text
MAX_CALLBACK_BYTES = 64
_SENTENCE_END = re.compile(r"[.!?…](?:[\"')\]]*)\s+")


def _cut(text: str, limit: int) -> int:
    """Where to cut `text` (longer than `limit`): a paragraph, a line, a sentence, a word, or hard."""
    window = text[:limit]
    for separator in ("\n\n", "\n"):
        position = window.rfind(separator)
        if position > limit // 3:
            return position
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    if ends and ends[-1] > limit // 3:
        return ends[-1]
    position = window.rfind(" ")
    return position if position > 0 else limit


def split_text(text: str, limit: int = SPLIT_AT) -> List[str]:
    """Parts of at most `limit` characters, cut at paragraph, line, sentence or word boundaries."""
    parts: List[str] = []
    rest = text.strip()
    while len(rest) > limit:
        position = _cut(rest, limit)
        part, rest = rest[:position].rstrip(), rest[position:].lstrip()
        if part:
            parts.append(part)
    if rest:
        parts.append(rest)
    return parts


def to_html(text: str) -> str:
    """Plain text for parse_mode HTML: <, > and & escaped, nothing else interpreted."""
    return html.escape(text, quote=False)


class CallbackPayloads:
    """Button payloads as callback data: short ones as they are, long ones as '#<hash>' (kept in memory)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._long: "OrderedDict[str, str]" = OrderedDict()

    def encode(self, payload: str) -> str:
        if len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES and not payload.startswith("#"):
            return payload
        key = "#" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]
        self._long[key] = payload
        self._long.move_to_end(key)
        while len(self._long) > self.capacity:
            self._long.popitem(last=False)
        return key

    def decode(self, data: str) -> Optional[str]:
        """The payload behind callback data; None when a long payload is no longer known (restart)."""
        if not data.startswith("#"):
            return data
        return self._long.get(data)


def keyboard(buttons: Sequence[Dict[str, str]], payloads: CallbackPayloads) -> Optional[InlineKeyboardMarkup]:
    """Buttons as an inline keyboard: two per row when the titles are short, else one per row."""
    if not buttons:
        return None
    items = [InlineKeyboardButton(b["title"], callback_data=payloads.encode(b["payload"])) for b in buttons]
    per_row = 2 if all(len(b["title"]) <= 14 for b in buttons) else 1
    return InlineKeyboardMarkup([items[i : i + per_row] for i in range(0, len(items), per_row)])
