"""A fake Telegram Bot API server for end-to-end tests.

:class:`FakeBotApi` runs a small :mod:`aiohttp.web` server on ``127.0.0.1`` in a
background thread with its own event loop. Point python-telegram-bot at it with
``base_url=api.base_url`` and drive the conversation from the test side::

    with FakeBotApi() as api:
        bot = telegram.Bot(api.token, base_url=api.base_url)
        ...
        api.user_sends_text(42, "/start")
        api.wait_for(1, chat_id=42)
        assert "Welcome" in api.sent_messages(42)[0].text

The server answers like Telegram does: ``{"ok": true, "result": ...}`` on success
and ``{"ok": false, "error_code": ..., "description": ...}`` on failure, with the
same HTTP status codes and (where known) the same error descriptions. Request
bodies may be query strings, url-encoded forms, multipart forms (what
python-telegram-bot sends; complex values are JSON strings) or JSON.

Updates created on the test side are queued for ``getUpdates``; while a webhook
is set they are POSTed to it instead, one at a time, in order. Failed webhook
deliveries are recorded (see :meth:`FakeBotApi.webhook_deliveries`) but, unlike
Telegram, not retried: use :meth:`FakeBotApi.resend` to deliver an update again.

All test-side methods are thread-safe and synchronous, so they work from plain
pytest functions and from async code alike. The only blocking ones are
``wait_*``; async code must use their ``*_async`` variants.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from aiohttp import ClientError, ClientSession, ClientTimeout, web

JSONDict = dict[str, Any]
ChatId = int | str
MethodHandler = Callable[[JSONDict], Any]

MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_PATH_RE = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)/?$")
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_BOT_COMMAND_IN_TEXT_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
# Fields whose form values must stay strings even if they look like JSON ("123", "true").
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "url",
        "secret_token",
        "action",
        "language_code",
        "callback_query_id",
        "inline_message_id",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
        "title",
        "description",
        "short_description",
        "name",
        "emoji",
        "query",
    }
)


# --------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------


class BotApiError(Exception):
    """An error answer of the Bot API: HTTP status plus Telegram's description.

    Raise it from a handler registered with :meth:`FakeBotApi.register_method`.
    """

    def __init__(
        self, status: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(f"{status}: {description}")
        self.status = status
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSONDict:
        """The JSON body Telegram sends for this error."""
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> BotApiError:
    """A ``400 Bad Request: <detail>`` error."""
    return BotApiError(400, f"Bad Request: {detail}")


def iter_buttons(message: Mapping[str, Any]) -> Iterable[JSONDict]:
    """All inline keyboard buttons of a Message dict (row by row)."""
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        yield from row


@dataclasses.dataclass
class ApiCall:
    """One HTTP request to the API, recorded when it arrived.

    ``status`` is ``None`` while the call is still running (e.g. a long poll) and
    for calls whose connection was reset by :meth:`FakeBotApi.reset_next`.
    """

    method: str
    params: JSONDict
    time: float
    status: int | None = None
    result: Any = None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class SentMessage:
    """A message the bot sent or edited (sendMessage, editMessageText, editMessageReplyMarkup).

    ``text`` is the text exactly as the bot sent it (markup included), ``plain_text``
    what the user sees after Telegram parsed ``parse_mode``; ``message`` is the full
    Message object the API returned.
    """

    method: str
    chat_id: ChatId
    message_id: int
    text: str
    plain_text: str
    parse_mode: str | None
    entities: list[JSONDict]
    reply_markup: JSONDict | None
    message: JSONDict

    @property
    def is_edit(self) -> bool:
        """Whether this record is an edit of an earlier message."""
        return self.method != "sendMessage"

    def buttons(self) -> list[JSONDict]:
        """All inline keyboard buttons of this message, row by row."""
        return list(iter_buttons({"reply_markup": self.reply_markup}))


@dataclasses.dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the webhook; ``status`` is ``None`` if no HTTP answer came."""

    update_id: int
    url: str
    status: int | None
    error: str | None
    secret_token: str | None

    @property
    def ok(self) -> bool:
        """Whether the webhook answered with a 2xx status."""
        return self.status is not None and 200 <= self.status < 300


class ChatAction(NamedTuple):
    """A recorded sendChatAction call."""

    chat_id: ChatId
    action: str


# --------------------------------------------------------------------------------------
# Text formatting (parse_mode) - modelled on tdlib's parsers and error messages
# --------------------------------------------------------------------------------------


def utf16_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _entities_error(detail: str) -> BotApiError:
    return bad_request(f"can't parse entities: {detail}")


@dataclasses.dataclass
class _Span:
    """An entity over ``chars[start:end]`` of a parser's output, in Python indices."""

    type: str
    start: int
    end: int = -1
    extra: JSONDict = dataclasses.field(default_factory=dict)


class _TextBuilder:
    """Collects plain output characters and entity spans, then converts offsets to UTF-16."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.spans: list[_Span] = []

    @property
    def position(self) -> int:
        return len(self.chars)

    def add_span(self, span: _Span, end: int | None = None) -> None:
        span.end = self.position if end is None else end
        if span.end > span.start:
            self.spans.append(span)

    def result(self) -> tuple[str, list[JSONDict]]:
        text = "".join(self.chars)
        offsets = [0]
        for char in self.chars:
            offsets.append(offsets[-1] + utf16_length(char))
        entities = [
            {
                "type": span.type,
                "offset": offsets[span.start],
                "length": offsets[span.end] - offsets[span.start],
                **span.extra,
            }
            for span in sorted(self.spans, key=lambda s: (s.start, -s.end))
        ]
        return text, entities


_HTML_TAG_TYPES = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "tg-emoji": "custom_emoji",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_HTML_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});")


def _decode_html_entity(text: str, index: int) -> tuple[str, int]:
    """Decode the ``&...;`` entity at ``index``; like Telegram, keep a lone ``&`` literally."""
    match = _HTML_ENTITY_RE.match(text, index)
    if match:
        name = match.group(1)
        if name.startswith(("#x", "#X")):
            code = int(name[2:], 16)
        elif name.startswith("#"):
            code = int(name[1:])
        else:
            code = -1
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), match.end() - index
        if name in _HTML_NAMED_ENTITIES:
            return _HTML_NAMED_ENTITIES[name], match.end() - index
    return "&", 1


def _decode_html_text(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        if text[index] == "&":
            char, used = _decode_html_entity(text, index)
            out.append(char)
            index += used
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


class _HtmlParser:
    """Telegram's HTML subset: supported tags only, balanced, ``<``/``&`` escaped."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        self.out = _TextBuilder()
        self.open_tags: list[tuple[str, _Span]] = []

    def parse(self) -> tuple[str, list[JSONDict]]:
        text = self.text
        while self.index < len(text):
            char = text[self.index]
            if char == "&":
                decoded, used = _decode_html_entity(text, self.index)
                self.out.chars.append(decoded)
                self.index += used
            elif char != "<":
                self.out.chars.append(char)
                self.index += 1
            elif text.startswith("</", self.index):
                self._end_tag()
            else:
                self._start_tag()
        if self.open_tags:
            raise _entities_error(
                f"Can't find end tag corresponding to start tag \"{self.open_tags[-1][0]}\""
            )
        return self.out.result()

    def _error(self, detail: str, begin: int) -> BotApiError:
        return _entities_error(f"{detail} at byte offset {_byte_offset(self.text, begin)}")

    def _skip_spaces(self) -> None:
        while self.index < len(self.text) and self.text[self.index].isspace():
            self.index += 1

    def _skip_tag_name(self) -> None:
        """Advance to the whitespace or ``>`` that ends a tag name."""
        while self.index < len(self.text):
            char = self.text[self.index]
            if char == ">" or char.isspace():
                return
            self.index += 1

    def _start_tag(self) -> None:
        text, begin = self.text, self.index
        self.index += 1
        self._skip_tag_name()
        if self.index >= len(text):
            raise self._error("Unclosed start tag", begin)
        tag = text[begin + 1 : self.index].lower()
        if tag not in _HTML_TAG_TYPES:
            raise self._error(f'Unsupported start tag "{tag}"', begin)
        attributes = self._attributes(tag, begin)
        self.index += 1  # the closing '>'
        self.open_tags.append((tag, self._span_for(tag, attributes, begin)))

    def _attributes(self, tag: str, begin: int) -> dict[str, str]:
        text, attributes = self.text, {}
        while True:
            self._skip_spaces()
            if self.index >= len(text):
                raise self._error("Unclosed start tag", begin)
            if text[self.index] == ">":
                return attributes
            name_start = self.index
            while self.index < len(text) and text[self.index] not in "=> \t\n\r":
                self.index += 1
            name = text[name_start : self.index].lower()
            if not name:
                raise self._error(f'Empty attribute name in the tag "{tag}"', begin)
            self._skip_spaces()
            if self.index >= len(text) or text[self.index] != "=":
                raise self._error(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}"', begin
                )
            self.index += 1
            self._skip_spaces()
            attributes[name] = self._attribute_value(begin)

    def _attribute_value(self, begin: int) -> str:
        text = self.text
        if self.index >= len(text):
            raise self._error("Unclosed start tag", begin)
        quote = text[self.index]
        if quote in "\"'":
            end = text.find(quote, self.index + 1)
            if end < 0:
                raise self._error("Unclosed start tag", begin)
            raw, self.index = text[self.index + 1 : end], end + 1
        else:
            start = self.index
            while self.index < len(text) and text[self.index] not in "> \t\n\r":
                self.index += 1
            raw = text[start : self.index]
        return _decode_html_text(raw)

    def _span_for(self, tag: str, attributes: dict[str, str], begin: int) -> _Span:
        span = _Span(_HTML_TAG_TYPES[tag], self.out.position)
        if tag == "a":
            span.extra["url"] = attributes.get("href", "")
        elif tag == "span" and attributes.get("class") != "tg-spoiler":
            raise self._error('Tag "span" must have class "tg-spoiler"', begin)
        elif tag == "tg-emoji":
            if "emoji-id" not in attributes:
                raise self._error('Tag "tg-emoji" must have attribute "emoji-id"', begin)
            span.extra["custom_emoji_id"] = attributes["emoji-id"]
        elif tag == "code" and attributes.get("class", "").startswith("language-"):
            span.extra["language"] = attributes["class"][len("language-") :]
        return span

    def _end_tag(self) -> None:
        text, begin = self.text, self.index
        if not self.open_tags:
            raise self._error("Unexpected end tag", begin)
        self.index += 2
        self._skip_tag_name()
        name = text[begin + 2 : self.index].lower()
        self._skip_spaces()
        if self.index >= len(text) or text[self.index] != ">":
            raise self._error("Unclosed end tag", begin)
        self.index += 1
        expected, span = self.open_tags.pop()
        if name and name != expected:
            raise self._error(
                f'Unmatched end tag, expected "</{expected}>", found "</{name}>"', begin
            )
        if span.type == "text_link" and not span.extra.get("url"):
            return  # Telegram drops links without a usable href
        self.out.add_span(span)


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}
# Opening markers, longest first: (marker, entity type).
_MDV2_OPENERS = (
    ("```", "pre"),
    ("__", "underline"),
    ("||", "spoiler"),
    ("![", "custom_emoji"),
    ("_", "italic"),
    ("*", "bold"),
    ("~", "strikethrough"),
    ("[", "text_link"),
    ("`", "code"),
)
_MDV2_CLOSERS = {
    "pre": "```",
    "underline": "__",
    "spoiler": "||",
    "custom_emoji": "]",
    "italic": "_",
    "bold": "*",
    "strikethrough": "~",
    "text_link": "]",
    "code": "`",
}


class _MarkdownV2Parser:
    """Telegram's MarkdownV2: every reserved character outside an entity needs a ``\\``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        self.out = _TextBuilder()
        self.stack: list[tuple[_Span, int]] = []  # (span, begin index in text)
        self.quote: _Span | None = None

    def parse(self) -> tuple[str, list[JSONDict]]:
        while self.index < len(self.text):
            self._step()
        if self.stack:
            span, begin = self.stack[-1]
            raise _entities_error(
                f"Can't find end of {_MDV2_NAMES[span.type]} entity at byte offset "
                f"{_byte_offset(self.text, begin)}"
            )
        self._close_quote()
        return self.out.result()

    def _emit(self, char: str, width: int = 1) -> None:
        self.out.chars.append(char)
        self.index += width

    def _step(self) -> None:
        text, i = self.text, self.index
        char = text[i]
        if char == "\\" and i + 1 < len(text) and 0 < ord(text[i + 1]) <= 126:
            self._emit(text[i + 1], 2)
            return
        top = self.stack[-1][0] if self.stack else None
        if top is not None and top.type in ("code", "pre"):
            if text.startswith(_MDV2_CLOSERS[top.type], i):
                self._close(len(_MDV2_CLOSERS[top.type]))
            else:
                self._emit(char)
            return
        if char == "\n":
            self._emit(char)
            if self.quote is not None and not text.startswith(">", self.index):
                self._close_quote(end=self.out.position - 1)
            return
        if char not in _MDV2_RESERVED:
            self._emit(char)
        elif char == ">" and (i == 0 or text[i - 1] == "\n"):
            if self.quote is None:
                self.quote = _Span("blockquote", self.out.position)
            self.index += 1
        elif top is not None and text.startswith(_MDV2_CLOSERS[top.type], i):
            self._close(len(_MDV2_CLOSERS[top.type]))
        else:
            self._open(char)

    def _open(self, char: str) -> None:
        for marker, entity_type in _MDV2_OPENERS:
            if self.text.startswith(marker, self.index):
                begin = self.index
                self.index += len(marker)
                span = _Span(entity_type, self.out.position)
                if entity_type == "pre":
                    self._read_pre_language(span)
                self.stack.append((span, begin))
                return
        raise _entities_error(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    def _read_pre_language(self, span: _Span) -> None:
        newline = self.text.find("\n", self.index)
        if newline < 0:
            return
        language = self.text[self.index : newline]
        if language and not any(c.isspace() or c == "`" for c in language):
            span.extra["language"] = language
            self.index = newline + 1
        elif not language:
            self.index = newline + 1

    def _close(self, width: int) -> None:
        span, _ = self.stack.pop()
        end = self.out.position
        self.index += width
        if span.type in ("text_link", "custom_emoji"):
            url = self._read_url()
            if span.type == "custom_emoji":
                if url is None or not url.startswith("tg://emoji?id="):
                    raise _entities_error("Custom emoji entity must contain a tg://emoji URL")
                span.extra["custom_emoji_id"] = url[len("tg://emoji?id=") :]
            elif not url:
                return
            else:
                span.extra["url"] = url
        self.out.add_span(span, end)

    def _read_url(self) -> str | None:
        text = self.text
        if not text.startswith("(", self.index):
            return None
        begin, self.index = self.index, self.index + 1
        url: list[str] = []
        while self.index < len(text) and text[self.index] != ")":
            if text[self.index] == "\\" and self.index + 1 < len(text):
                self.index += 1
            url.append(text[self.index])
            self.index += 1
        if self.index >= len(text):
            raise _entities_error(
                f"Can't find end of a URL at byte offset {_byte_offset(text, begin)}"
            )
        self.index += 1
        return "".join(url)

    def _close_quote(self, end: int | None = None) -> None:
        if self.quote is not None:
            self.out.add_span(self.quote, end)
            self.quote = None


_LEGACY_MARKERS = {"*": "bold", "_": "italic", "`": "code"}


def _parse_markdown_legacy(text: str) -> tuple[str, list[JSONDict]]:
    """Telegram's legacy ``Markdown``: ``*bold*``, ``_italic_``, code, pre and links."""
    out = _TextBuilder()
    index = 0

    def unclosed(begin: int) -> BotApiError:
        return _entities_error(
            f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
        )

    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in "_*`[":
            out.chars.append(text[index + 1])
            index += 2
        elif char == "[":
            close = text.find("]", index + 1)
            if close < 0:
                raise unclosed(index)
            span = _Span("text_link", out.position)
            out.chars.extend(text[index + 1 : close])
            index = close + 1
            if text.startswith("(", index):
                url_end = text.find(")", index)
                if url_end < 0:
                    raise unclosed(index)
                span.extra["url"] = text[index + 1 : url_end]
                out.add_span(span)
                index = url_end + 1
        elif text.startswith("```", index):
            close = text.find("```", index + 3)
            if close < 0:
                raise unclosed(index)
            span = _Span("pre", out.position)
            body = text[index + 3 : close]
            first_line, newline, rest = body.partition("\n")
            if newline and first_line and " " not in first_line:
                span.extra["language"], body = first_line, rest
            out.chars.extend(body)
            out.add_span(span)
            index = close + 3
        elif char in _LEGACY_MARKERS:
            close = text.find(char, index + 1)
            if close < 0:
                raise unclosed(index)
            span = _Span(_LEGACY_MARKERS[char], out.position)
            out.chars.extend(text[index + 1 : close])
            out.add_span(span)
            index = close + 1
        else:
            out.chars.append(char)
            index += 1
    return out.result()


def parse_formatted_text(text: str, parse_mode: str | None) -> tuple[str, list[JSONDict]]:
    """Parse ``text`` like Telegram does for ``parse_mode``; return (plain text, entities).

    Raises :class:`BotApiError` (400 "can't parse entities: ...") for malformed markup
    and "unsupported parse_mode" for unknown modes.
    """
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return _HtmlParser(text).parse()
    if mode == "markdownv2":
        return _MarkdownV2Parser(text).parse()
    if mode == "markdown":
        return _parse_markdown_legacy(text)
    raise bad_request("unsupported parse_mode")


def bot_command_entities(text: str) -> list[JSONDict]:
    """The ``bot_command`` entities Telegram attaches to a user's text (``/start`` etc.)."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_length(text[: match.start()]),
            "length": utf16_length(match.group()),
        }
        for match in _BOT_COMMAND_IN_TEXT_RE.finditer(text)
    ]


# --------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------


def _decode_form_value(name: str, value: str) -> Any:
    """Turn a form string into the value python-telegram-bot JSON-encoded into it."""
    if name in _STRING_FIELDS:
        return value
    if name == "chat_id":
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def read_request_params(request: web.Request) -> JSONDict:
    """Collect parameters from the query string and a JSON, form or multipart body."""
    params: JSONDict = {
        name: _decode_form_value(name, value) for name, value in request.query.items()
    }
    if not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise bad_request("can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise bad_request("JSON object expected")
        params.update(body)
        return params
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, str):
            params[name] = _decode_form_value(name, value)
        else:  # an uploaded file
            params[name] = {"filename": value.filename, "content_type": value.content_type}
    return params


class _Params:
    """Typed, validating access to a call's decoded parameters."""

    def __init__(self, values: JSONDict) -> None:
        self.values = values

    def has(self, name: str) -> bool:
        return self.values.get(name) is not None

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        return default if value is None else str(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise bad_request(f"invalid {name} specified") from exc

    def number(self, name: str, default: float) -> float:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise bad_request(f"invalid {name} specified") from exc

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def json(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise bad_request(f"can't parse {name} JSON object") from exc
        return value

    def chat_id(self) -> ChatId:
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            return int(value)
        return value

    def message_id(self) -> int:
        message_id = self.integer("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        return message_id


@dataclasses.dataclass
class _ApiResult:
    """A handler result plus the optional ``description`` of the success answer."""

    result: Any
    description: str | None = None


@dataclasses.dataclass
class _Injection:
    method: str | None  # lower-case method name, None = any method
    remaining: int
    error: BotApiError | None  # None = reset the connection

    def matches(self, method: str) -> bool:
        return self.remaining > 0 and self.method in (None, method.lower())


@dataclasses.dataclass
class _QueuedUpdate:
    update: JSONDict
    delivered: bool = False


def _validate_inline_button(button: Any) -> None:
    if not isinstance(button, Mapping) or not button.get("text"):
        raise bad_request(
            "can't parse inline keyboard button: Field \"text\" must be of type String"
        )
    actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = str(button["callback_data"])
        if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")


def validate_reply_markup(markup: Any, *, inline_only: bool = False) -> JSONDict | None:
    """Check a decoded ``reply_markup`` the way Telegram does; return it (or None)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request("can't parse inline keyboard markup JSON object")
        for row in rows:
            for button in row:
                _validate_inline_button(button)
        return markup
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request("can't parse keyboard markup JSON object")
        return markup
    if markup.get("remove_keyboard") or markup.get("force_reply"):
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


# --------------------------------------------------------------------------------------
# The fake server
# --------------------------------------------------------------------------------------


class FakeBotApi:
    """A fake Telegram Bot API server with a thread-safe test-side API.

    Args:
        token: the only bot token the server accepts (others get 401 Unauthorized).
        bot_username: the bot's ``username`` in getMe and in sent messages.
        bot_first_name: the bot's ``first_name``.
        require_known_chats: if True (the default), sending to a chat no user has
            written in (nor :meth:`add_chat` registered) fails with "chat not found",
            as on Telegram.
    """

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        bot_username: str = "adempauze_test_bot",
        bot_first_name: str = "Adempauze",
        require_known_chats: bool = True,
    ) -> None:
        self._token = token
        bot_id = token.split(":", 1)[0]
        self._bot_user: JSONDict = {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self._require_known_chats = require_known_chats
        self._cond = threading.Condition(threading.RLock())
        self._methods: dict[str, MethodHandler] = {}
        self._register_builtin_methods()
        self._poll_generation = 0  # bumped by every getUpdates; older long polls get 409
        # Server machinery, set by start().
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._wake: asyncio.Event | None = None
        self._client: ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._closing = False
        self.reset()

    def reset(self) -> None:
        """Forget all chats, messages, updates, records, injections and the webhook.

        Registered methods stay and a running server keeps running, so one server can
        serve several tests.
        """
        with self._cond:
            self._init_state()
            self._changed()

    def _init_state(self) -> None:
        self._update_ids = itertools.count(10_000)
        self._callback_ids = itertools.count(4_000_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._queue: list[_QueuedUpdate] = []
        self._users: dict[int, JSONDict] = {}
        self._chats: dict[ChatId, JSONDict] = {}
        self._next_message_id: dict[ChatId, int] = {}
        self._messages: dict[tuple[ChatId, int], JSONDict] = {}
        self._calls: list[ApiCall] = []
        self._sent: list[SentMessage] = []
        self._open_callback_ids: set[str] = set()
        self._callback_answers: list[str] = []
        self._chat_actions: list[ChatAction] = []
        self._left_chats: list[ChatId] = []
        self._blocked_by: set[int] = set()
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._injections: list[_Injection] = []
        self._webhook: JSONDict | None = None
        self._deliveries: list[WebhookDelivery] = []

    # ---------------------------------------------------------------- lifecycle

    @property
    def token(self) -> str:
        """The bot token the server accepts."""
        return self._token

    @property
    def bot_user(self) -> JSONDict:
        """The bot's User object (as getMe returns it, minus the capability flags)."""
        return dict(self._bot_user)

    @property
    def url(self) -> str:
        """Root URL of the running server, e.g. ``http://127.0.0.1:54321``."""
        if self._port is None:
            raise RuntimeError("FakeBotApi is not running; call start() first")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """The value for python-telegram-bot's ``base_url`` (``{url}/bot``)."""
        return f"{self.url}/bot"

    def start(self) -> FakeBotApi:
        """Start the server on a free port in a background thread; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("FakeBotApi is already running")
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="FakeBotApi", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start_server(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        """Stop the server and its thread; pending long polls end with an empty result."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._stop_server(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            self._loop = self._thread = None
            self._port = None

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _start_server(self) -> None:
        self._wake = asyncio.Event()
        self._client = ClientSession(timeout=ClientTimeout(total=10))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle_http)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._webhook_task = asyncio.create_task(self._webhook_worker())

    async def _stop_server(self) -> None:
        self._closing = True
        self._wake_waiters()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    def _wake_waiters(self) -> None:
        """Wake long polls and the webhook worker (runs in the server loop)."""
        if self._wake is not None:
            self._wake.set()
            self._wake = asyncio.Event()

    def _changed(self) -> None:
        """Signal a state change to blocking test-side waiters and to the server loop.

        Must be called with ``self._cond`` held.
        """
        self._cond.notify_all()
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._wake_waiters)
            except RuntimeError:  # the loop was closed by a concurrent stop()
                pass

    # ---------------------------------------------------------------- HTTP layer

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        match = _PATH_RE.match(request.path)
        if match is None:
            return self._error_response(BotApiError(404, "Not Found"))
        if match["token"] != self._token:
            return self._error_response(BotApiError(401, "Unauthorized"))
        try:
            params = await read_request_params(request)
        except BotApiError as exc:
            return self._error_response(exc)
        method = match["method"]
        call = self._record_call(method, params)
        injection = self._take_injection(method)
        if injection is not None and injection.error is None:
            self._finish_call(call, None, error="connection reset (injected)")
            _reset_connection(request)
            return web.Response()
        try:
            if injection is not None and injection.error is not None:
                raise injection.error
            outcome = await self._dispatch(method, params)
        except BotApiError as exc:
            self._finish_call(call, exc.status, error=exc.description)
            return self._error_response(exc)
        except Exception as exc:  # a bug in a handler: answer (and record) a JSON 500
            error = BotApiError(500, f"Internal Server Error: {exc!r}")
            self._finish_call(call, error.status, error=error.description)
            return self._error_response(error)
        self._finish_call(call, 200, result=outcome.result)
        body: JSONDict = {"ok": True, "result": outcome.result}
        if outcome.description:
            body["description"] = outcome.description
        return web.json_response(body)

    @staticmethod
    def _error_response(error: BotApiError) -> web.Response:
        return web.json_response(error.to_json(), status=error.status)

    async def _dispatch(self, method: str, params: JSONDict) -> _ApiResult:
        name = method.lower()
        if name == "getupdates":
            return _ApiResult(await self._get_updates(_Params(params)))
        handler = self._methods.get(name)
        if handler is None:
            raise BotApiError(404, "Not Found")
        with self._cond:
            outcome = handler(params)
            self._changed()
        return outcome if isinstance(outcome, _ApiResult) else _ApiResult(outcome)

    def _record_call(self, method: str, params: JSONDict) -> ApiCall:
        call = ApiCall(method=method, params=params, time=time.time())
        with self._cond:
            self._calls.append(call)
            self._changed()
        return call

    def _finish_call(
        self, call: ApiCall, status: int | None, result: Any = None, error: str | None = None
    ) -> None:
        with self._cond:
            call.status, call.result, call.error = status, result, error
            self._changed()

    def _take_injection(self, method: str) -> _Injection | None:
        with self._cond:
            for injection in self._injections:
                if injection.matches(method):
                    injection.remaining -= 1
                    self._injections = [i for i in self._injections if i.remaining > 0]
                    return injection
        return None

    # ---------------------------------------------------------------- getUpdates

    async def _get_updates(self, params: _Params) -> list[JSONDict]:
        offset = params.integer("offset")
        limit = min(max(params.integer("limit", 100) or 100, 1), 100)
        deadline = time.monotonic() + max(params.number("timeout", 0.0), 0.0)
        with self._cond:
            if self._webhook is not None:
                raise BotApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            self._poll_generation += 1
            generation = self._poll_generation
            self._confirm_updates(offset)
            self._changed()
        while True:
            assert self._wake is not None
            wake = self._wake
            with self._cond:
                if generation != self._poll_generation:
                    raise BotApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                updates = self._take_updates(limit)
                if updates:
                    self._changed()
                    return updates
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing:
                return []
            try:
                await asyncio.wait_for(wake.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def _confirm_updates(self, offset: int | None) -> None:
        """Forget updates confirmed by ``offset`` (negative: keep only the last -offset)."""
        if offset is None:
            return
        if offset < 0:
            self._queue = self._queue[offset:]
            return
        # Only updates that were handed out can be confirmed, so a resent (older) update_id
        # is still delivered once.
        self._queue = [
            q for q in self._queue if not (q.delivered and q.update["update_id"] < offset)
        ]

    def _take_updates(self, limit: int) -> list[JSONDict]:
        batch = self._queue[:limit]
        for queued in batch:
            queued.delivered = True
        return [copy.deepcopy(queued.update) for queued in batch]

    # ---------------------------------------------------------------- webhook delivery

    async def _webhook_worker(self) -> None:
        while True:
            assert self._wake is not None
            wake = self._wake
            job = self._next_webhook_job()
            if job is None:
                await wake.wait()
                continue
            url, secret, update = job
            status, error = await self._post_update(url, secret, update)
            self._record_delivery(WebhookDelivery(update["update_id"], url, status, error, secret))

    def _next_webhook_job(self) -> tuple[str, str | None, JSONDict] | None:
        with self._cond:
            if self._webhook is None or not self._queue:
                return None
            queued = self._queue.pop(0)
            self._changed()
            return self._webhook["url"], self._webhook.get("secret_token"), queued.update

    async def _post_update(
        self, url: str, secret: str | None, update: JSONDict
    ) -> tuple[int | None, str | None]:
        assert self._client is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        try:
            async with self._client.post(url, json=update, headers=headers) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return response.status, None
                return response.status, (
                    f"Wrong response from the webhook: {response.status} {response.reason}"
                )
        except (ClientError, asyncio.TimeoutError, OSError) as exc:
            return None, f"Connection failed: {exc!r}"

    def _record_delivery(self, delivery: WebhookDelivery) -> None:
        with self._cond:
            self._deliveries.append(delivery)
            if delivery.error and self._webhook is not None:
                self._webhook["last_error_date"] = int(time.time())
                self._webhook["last_error_message"] = delivery.error
            self._changed()

    # ---------------------------------------------------------------- Bot API methods

    def _register_builtin_methods(self) -> None:
        builtins: dict[str, MethodHandler] = {
            "getMe": self._api_get_me,
            "setWebhook": self._api_set_webhook,
            "deleteWebhook": self._api_delete_webhook,
            "getWebhookInfo": self._api_get_webhook_info,
            "sendMessage": self._api_send_message,
            "editMessageText": self._api_edit_message_text,
            "editMessageReplyMarkup": self._api_edit_message_reply_markup,
            "deleteMessage": self._api_delete_message,
            "answerCallbackQuery": self._api_answer_callback_query,
            "sendChatAction": self._api_send_chat_action,
            "leaveChat": self._api_leave_chat,
            "setMyCommands": self._api_set_my_commands,
            "getMyCommands": self._api_get_my_commands,
            "deleteMyCommands": self._api_delete_my_commands,
            "close": lambda params: True,
            "logOut": lambda params: True,
        }
        for name, handler in builtins.items():
            self._methods[name.lower()] = handler

    def register_method(self, name: str, handler: MethodHandler) -> None:
        """Serve another Bot API method (or replace a built-in one).

        ``handler(params)`` gets the decoded parameters, runs under the state lock and
        returns the ``result`` value; raise :class:`BotApiError` for an error answer.
        """
        with self._cond:
            self._methods[name.lower()] = handler

    def _api_get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self._bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _api_set_webhook(self, raw: JSONDict) -> _ApiResult:
        params = _Params(raw)
        url = params.string("url", "") or ""
        if not url:
            return self._api_delete_webhook(raw)
        if not re.match(r"^https?://[^/\s]+", url):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.string("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.match(secret):
            raise bad_request("secret token contains unallowed characters")
        if params.flag("drop_pending_updates"):
            self._queue.clear()
        unchanged = self._webhook is not None and self._webhook["url"] == url
        self._webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": params.integer("max_connections", 40),
            "allowed_updates": params.json("allowed_updates"),
            "ip_address": "127.0.0.1",
        }
        return _ApiResult(True, "Webhook is already set" if unchanged else "Webhook was set")

    def _api_delete_webhook(self, raw: JSONDict) -> _ApiResult:
        if _Params(raw).flag("drop_pending_updates"):
            self._queue.clear()
        existed, self._webhook = self._webhook is not None, None
        return _ApiResult(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    def _api_get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self._webhook is not None:
            info["url"] = self._webhook["url"]
            for key in ("max_connections", "ip_address", "last_error_date", "last_error_message"):
                if self._webhook.get(key) is not None:
                    info[key] = self._webhook[key]
            if self._webhook.get("allowed_updates"):
                info["allowed_updates"] = self._webhook["allowed_updates"]
        return info

    def _api_send_message(self, raw: JSONDict) -> JSONDict:
        params = _Params(raw)
        chat = self._writable_chat(params.chat_id())
        text, parse_mode = params.string("text", "") or "", params.string("parse_mode")
        plain, entities = self._formatted_text(text, parse_mode, params.json("entities"))
        markup = validate_reply_markup(params.json("reply_markup"))
        replied = self._replied_message(chat, params)
        message = self._new_message(chat, self._bot_user, {"text": plain})
        if entities:
            message["entities"] = entities
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        if replied is not None:
            message["reply_to_message"] = replied
        self._store_message(message)
        self._record_sent("sendMessage", message, text, parse_mode, markup)
        return copy.deepcopy(message)

    def _api_edit_message_text(self, raw: JSONDict) -> Any:
        params = _Params(raw)
        if params.has("inline_message_id"):
            return True
        message = self._editable_message(params)
        text, parse_mode = params.string("text", "") or "", params.string("parse_mode")
        plain, entities = self._formatted_text(text, parse_mode, params.json("entities"))
        markup = validate_reply_markup(params.json("reply_markup"), inline_only=True)
        changes: JSONDict = {"text": plain, "entities": entities, "reply_markup": markup}
        edited = self._apply_edit(message, changes)
        self._record_sent("editMessageText", edited, text, parse_mode, markup)
        return copy.deepcopy(edited)

    def _api_edit_message_reply_markup(self, raw: JSONDict) -> Any:
        params = _Params(raw)
        if params.has("inline_message_id"):
            return True
        message = self._editable_message(params)
        markup = validate_reply_markup(params.json("reply_markup"), inline_only=True)
        edited = self._apply_edit(message, {"reply_markup": markup})
        previous = self._latest_record(message["chat"]["id"], message["message_id"])
        text = previous.text if previous else edited.get("text", "")
        parse_mode = previous.parse_mode if previous else None
        self._record_sent("editMessageReplyMarkup", edited, text, parse_mode, markup)
        return copy.deepcopy(edited)

    def _api_delete_message(self, raw: JSONDict) -> bool:
        params = _Params(raw)
        key = (self._known_chat(params.chat_id())["id"], params.message_id())
        if self._messages.pop(key, None) is None:
            raise bad_request("message to delete not found")
        return True

    def _api_answer_callback_query(self, raw: JSONDict) -> bool:
        params = _Params(raw)
        query_id = params.string("callback_query_id")
        if not query_id or query_id not in self._open_callback_ids:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        if len(params.string("text", "") or "") > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._open_callback_ids.discard(query_id)
        self._callback_answers.append(query_id)
        return True

    def _api_send_chat_action(self, raw: JSONDict) -> bool:
        params = _Params(raw)
        chat = self._writable_chat(params.chat_id())
        action = params.string("action")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._chat_actions.append(ChatAction(chat["id"], action))
        return True

    def _api_leave_chat(self, raw: JSONDict) -> bool:
        chat = self._known_chat(_Params(raw).chat_id())
        if chat["type"] == "private":
            raise bad_request("chat member status can't be changed in private chats")
        if chat["id"] not in self._left_chats:
            self._left_chats.append(chat["id"])
        return True

    def _api_set_my_commands(self, raw: JSONDict) -> bool:
        params = _Params(raw)
        commands = params.json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command"))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self._commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self._commands.pop(key, None)
        return True

    def _api_get_my_commands(self, raw: JSONDict) -> list[JSONDict]:
        return copy.deepcopy(self._commands.get(self._commands_key(_Params(raw)), []))

    def _api_delete_my_commands(self, raw: JSONDict) -> bool:
        self._commands.pop(self._commands_key(_Params(raw)), None)
        return True

    @staticmethod
    def _commands_key(params: _Params) -> tuple[str, str]:
        scope = params.json("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), params.string("language_code", "") or ""

    # ---------------------------------------------------------------- method helpers
    # (all called with self._cond held)

    def _known_chat(self, chat_id: ChatId) -> JSONDict:
        chat = self._chats.get(chat_id)
        if chat is None:
            if self._require_known_chats or not isinstance(chat_id, int):
                raise bad_request("chat not found")
            chat = self._register_chat(chat_id, "private" if chat_id > 0 else "group")
        return chat

    def _writable_chat(self, chat_id: ChatId) -> JSONDict:
        chat = self._known_chat(chat_id)
        if chat["type"] == "private" and chat["id"] in self._blocked_by:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
        if chat["id"] in self._left_chats:
            kind = "supergroup chat" if chat["type"] == "supergroup" else "group chat"
            if chat["type"] == "channel":
                kind = "channel chat"
            raise BotApiError(403, f"Forbidden: bot is not a member of the {kind}")
        return chat

    @staticmethod
    def _formatted_text(
        text: str, parse_mode: str | None, entities: Any
    ) -> tuple[str, list[JSONDict]]:
        if not text.strip():
            raise bad_request("message text is empty")
        if parse_mode:
            plain, parsed = parse_formatted_text(text, parse_mode)
        else:
            plain, parsed = text, list(entities or [])
        if not plain.strip():
            raise bad_request("message text is empty")
        if len(plain) > MAX_MESSAGE_LENGTH:
            raise bad_request("message is too long")
        return plain, parsed

    def _editable_message(self, params: _Params) -> JSONDict:
        chat = self._known_chat(params.chat_id())
        message = self._messages.get((chat["id"], params.message_id()))
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self._bot_user["id"]:
            raise bad_request("message can't be edited")
        return message

    def _apply_edit(self, message: JSONDict, changes: JSONDict) -> JSONDict:
        """Apply ``changes`` (None/empty values remove a field) like Telegram, or refuse no-ops."""
        edited = {key: value for key, value in message.items() if key != "edit_date"}
        for key, value in changes.items():
            if value:
                edited[key] = value
            else:
                edited.pop(key, None)
        if {k: v for k, v in message.items() if k != "edit_date"} == edited:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        edited["edit_date"] = int(time.time())
        self._store_message(edited)
        return edited

    def _replied_message(self, chat: JSONDict, params: _Params) -> JSONDict | None:
        """The message named by reply_parameters / reply_to_message_id, without its own reply."""
        reply = params.json("reply_parameters") or {}
        if not isinstance(reply, dict):
            raise bad_request("can't parse reply parameters JSON object")
        reply_to = reply.get("message_id", params.integer("reply_to_message_id"))
        if reply_to is None:
            return None
        original = self._messages.get((chat["id"], int(reply_to)))
        if original is not None:
            return {k: v for k, v in original.items() if k != "reply_to_message"}
        if reply.get("allow_sending_without_reply") or params.flag("allow_sending_without_reply"):
            return None
        raise bad_request("message to be replied not found")

    def _record_sent(
        self,
        method: str,
        message: JSONDict,
        text: str,
        parse_mode: str | None,
        markup: JSONDict | None,
    ) -> None:
        self._sent.append(
            SentMessage(
                method=method,
                chat_id=message["chat"]["id"],
                message_id=message["message_id"],
                text=text,
                plain_text=message.get("text", ""),
                parse_mode=parse_mode,
                entities=list(message.get("entities", [])),
                reply_markup=copy.deepcopy(markup),
                message=copy.deepcopy(message),
            )
        )

    def _latest_record(self, chat_id: ChatId, message_id: int) -> SentMessage | None:
        for record in reversed(self._sent):
            if record.chat_id == chat_id and record.message_id == message_id:
                return record
        return None

    # ---------------------------------------------------------------- state helpers

    def _register_user(
        self,
        user_id: int,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JSONDict:
        user = self._users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        )
        if first_name is not None:
            user["first_name"] = first_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def _register_chat(
        self,
        chat_id: ChatId,
        chat_type: str,
        title: str | None = None,
        user: JSONDict | None = None,
    ) -> JSONDict:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = {"id": chat_id, "type": chat_type}
            self._chats[chat_id] = chat
        if chat_type == "private" and user is not None:
            chat.update({k: user[k] for k in ("first_name", "username") if k in user})
        elif chat_type != "private":
            chat["title"] = title or chat.get("title") or f"Group {chat_id}"
        return chat

    def _new_message(self, chat: JSONDict, sender: JSONDict, content: JSONDict) -> JSONDict:
        message_id = self._next_message_id.get(chat["id"], 1)
        self._next_message_id[chat["id"]] = message_id + 1
        return {
            "message_id": message_id,
            "from": dict(sender),
            "chat": dict(chat),
            "date": int(time.time()),
            **content,
        }

    def _store_message(self, message: JSONDict) -> None:
        self._messages[(message["chat"]["id"], message["message_id"])] = copy.deepcopy(message)

    def _enqueue(self, update: JSONDict) -> JSONDict:
        self._queue.append(_QueuedUpdate(copy.deepcopy(update)))
        self._changed()
        return copy.deepcopy(update)

    def _new_update(self, kind: str, payload: JSONDict) -> JSONDict:
        return self._enqueue({"update_id": next(self._update_ids), kind: payload})

    def _file(self, kind: str, **fields: Any) -> JSONDict:
        number = next(self._file_ids)
        return {"file_id": f"fake-{kind}-{number}", "file_unique_id": f"u{kind}{number}", **fields}

    def _resolve_message_key(
        self, message: SentMessage | Mapping[str, Any] | int, chat_id: ChatId | None
    ) -> tuple[ChatId, int]:
        """Accept a SentMessage, a Message dict, an Update dict or a message_id (+chat_id)."""
        if isinstance(message, SentMessage):
            return message.chat_id, message.message_id
        if isinstance(message, int):
            if chat_id is None:
                raise ValueError("chat_id is needed when the message is given by its id")
            return chat_id, message
        for kind in ("message", "edited_message"):
            if isinstance(message.get(kind), Mapping):
                message = message[kind]
        return message["chat"]["id"], message["message_id"]

    # ---------------------------------------------------------------- test side: users act

    def add_chat(
        self,
        chat_id: ChatId,
        chat_type: str = "private",
        *,
        title: str | None = None,
        first_name: str | None = None,
        username: str | None = None,
    ) -> JSONDict:
        """Make a chat known without sending an update (e.g. to let the bot message first)."""
        with self._cond:
            user = None
            if chat_type == "private":
                user = self._register_user(int(chat_id), first_name, username)
            return dict(self._register_chat(chat_id, chat_type, title, user))

    def _user_message(
        self,
        user_id: int,
        content: JSONDict,
        *,
        chat_id: ChatId | None = None,
        chat_type: str = "private",
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        title: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> JSONDict:
        """Create, store and queue a ``message`` update from a user; return the update."""
        if chat_type == "private":
            if chat_id not in (None, user_id):
                raise ValueError("in a private chat, chat_id equals the user's id")
            chat_id = user_id
        elif chat_id is None:
            raise ValueError(f"a {chat_type} chat needs an explicit (negative) chat_id")
        with self._cond:
            user = self._register_user(user_id, first_name, username, language_code)
            chat = self._register_chat(chat_id, chat_type, title, user)
            original = None
            if reply_to_message_id is not None:
                original = self._messages.get((chat["id"], reply_to_message_id))
                if original is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
            message = self._new_message(chat, user, content)
            if original is not None:
                message["reply_to_message"] = {
                    k: v for k, v in original.items() if k != "reply_to_message"
                }
            self._store_message(message)
            return self._new_update("message", message)

    def user_sends_text(
        self,
        user_id: int,
        text: str,
        chat_id: ChatId | None = None,
        chat_type: str = "private",
        first_name: str | None = None,
        username: str | None = None,
        **options: Any,
    ) -> JSONDict:
        """A user writes ``text``; ``/commands`` get ``bot_command`` entities like on Telegram.

        ``options``: ``language_code``, ``title`` (group title), ``reply_to_message_id``.
        Returns the queued update.
        """
        content: JSONDict = {"text": text}
        entities = bot_command_entities(text)
        if entities:
            content["entities"] = entities
        return self._user_message(
            user_id,
            content,
            chat_id=chat_id,
            chat_type=chat_type,
            first_name=first_name,
            username=username,
            **options,
        )

    def user_sends_group_text(
        self,
        user_id: int,
        chat_id: int,
        text: str,
        *,
        title: str = "Testgroep",
        chat_type: str = "group",
        **options: Any,
    ) -> JSONDict:
        """A user writes ``text`` in a group (or supergroup) chat ``chat_id`` (negative)."""
        return self.user_sends_text(
            user_id, text, chat_id=chat_id, chat_type=chat_type, title=title, **options
        )

    def user_edits_message(
        self,
        user_id: int,
        message: Mapping[str, Any] | int,
        text: str,
        *,
        chat_id: ChatId | None = None,
    ) -> JSONDict:
        """The user edits one of their text messages; queues an ``edited_message`` update."""
        with self._cond:
            key = self._resolve_message_key(message, chat_id)
            stored = self._messages.get(key)
            if stored is None or stored["from"]["id"] != user_id:
                raise ValueError(f"user {user_id} has no message {key[1]} in chat {key[0]}")
            edited = {k: v for k, v in stored.items() if k != "entities"}
            edited.update(text=text, edit_date=int(time.time()))
            entities = bot_command_entities(text)
            if entities:
                edited["entities"] = entities
            self._store_message(edited)
            return self._new_update("edited_message", edited)

    def user_presses_button(
        self,
        user_id: int,
        message: SentMessage | Mapping[str, Any] | int,
        callback_data: str,
        *,
        chat_id: ChatId | None = None,
    ) -> JSONDict:
        """The user taps the inline button with ``callback_data`` on a bot message.

        ``message`` is a :class:`SentMessage`, a Message dict or a message id (with
        ``chat_id``). The button must exist on the message's *current* keyboard.
        Returns the queued ``callback_query`` update.
        """
        with self._cond:
            key = self._resolve_message_key(message, chat_id)
            stored = self._messages.get(key)
            if stored is None:
                raise ValueError(f"message {key[1]} in chat {key[0]} does not exist (deleted?)")
            buttons = list(iter_buttons(stored))
            if not any(button.get("callback_data") == callback_data for button in buttons):
                available = [button.get("callback_data") for button in buttons]
                raise ValueError(
                    f"no button with callback_data {callback_data!r}; available: {available}"
                )
            query_id = str(next(self._callback_ids))
            self._open_callback_ids.add(query_id)
            query = {
                "id": query_id,
                "from": dict(self._register_user(user_id)),
                "message": copy.deepcopy(stored),
                "chat_instance": f"instance{key[0]}",
                "data": callback_data,
            }
            return self._new_update("callback_query", query)

    def user_sends_voice(self, user_id: int, duration: int = 3, **origin: Any) -> JSONDict:
        """A voice note (``origin``: chat_id, chat_type, first_name, username, ...)."""
        with self._cond:
            voice = self._file(
                "voice", duration=duration, mime_type="audio/ogg", file_size=duration * 4000
            )
        return self._user_message(user_id, {"voice": voice}, **origin)

    def user_sends_photo(
        self, user_id: int, caption: str | None = None, **origin: Any
    ) -> JSONDict:
        """A photo in two sizes, optionally with a caption."""
        with self._cond:
            sizes = [
                self._file("photo", width=90, height=67, file_size=1_200),
                self._file("photo", width=1280, height=960, file_size=98_000),
            ]
        return self._user_message(user_id, self._with_caption({"photo": sizes}, caption), **origin)

    def user_sends_sticker(self, user_id: int, emoji: str = "👍", **origin: Any) -> JSONDict:
        """A regular static sticker."""
        with self._cond:
            sticker = self._file(
                "sticker",
                type="regular",
                width=512,
                height=512,
                is_animated=False,
                is_video=False,
                emoji=emoji,
            )
        return self._user_message(user_id, {"sticker": sticker}, **origin)

    def user_sends_video(
        self, user_id: int, duration: int = 5, caption: str | None = None, **origin: Any
    ) -> JSONDict:
        """A short video, optionally with a caption."""
        with self._cond:
            video = self._file(
                "video", width=640, height=360, duration=duration, mime_type="video/mp4"
            )
        return self._user_message(user_id, self._with_caption({"video": video}, caption), **origin)

    def user_sends_document(
        self,
        user_id: int,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        **origin: Any,
    ) -> JSONDict:
        """A document (file), optionally with a caption."""
        with self._cond:
            document = self._file(
                "document", file_name=file_name, mime_type=mime_type, file_size=12_345
            )
        content = self._with_caption({"document": document}, caption)
        return self._user_message(user_id, content, **origin)

    def user_sends_location(
        self, user_id: int, latitude: float = 52.0907, longitude: float = 5.1214, **origin: Any
    ) -> JSONDict:
        """A location (default: Utrecht)."""
        location = {"latitude": latitude, "longitude": longitude}
        return self._user_message(user_id, {"location": location}, **origin)

    def user_sends_contact(
        self,
        user_id: int,
        phone_number: str = "+31612345678",
        first_name: str = "Contact",
        contact_user_id: int | None = None,
        **origin: Any,
    ) -> JSONDict:
        """A shared contact card."""
        contact: JSONDict = {"phone_number": phone_number, "first_name": first_name}
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return self._user_message(user_id, {"contact": contact}, **origin)

    @staticmethod
    def _with_caption(content: JSONDict, caption: str | None) -> JSONDict:
        if caption:
            content["caption"] = caption
        return content

    def user_blocks_bot(self, user_id: int, blocked: bool = True) -> None:
        """Make sends to the user's private chat fail with 403 "bot was blocked by the user"."""
        with self._cond:
            if blocked:
                self._blocked_by.add(user_id)
            else:
                self._blocked_by.discard(user_id)

    def send_raw_update(self, update: Mapping[str, Any]) -> JSONDict:
        """Queue an arbitrary update; an ``update_id`` is assigned when missing."""
        with self._cond:
            raw = copy.deepcopy(dict(update))
            if "update_id" not in raw:
                raw["update_id"] = next(self._update_ids)
            else:
                self._bump_update_ids(int(raw["update_id"]))
            return self._enqueue(raw)

    def resend(self, update: Mapping[str, Any]) -> JSONDict:
        """Deliver ``update`` again with the same ``update_id`` (duplicate-delivery tests)."""
        if "update_id" not in update:
            raise ValueError("resend() needs an update with an update_id")
        with self._cond:
            return self._enqueue(copy.deepcopy(dict(update)))

    def _bump_update_ids(self, used: int) -> None:
        upcoming = next(self._update_ids)
        self._update_ids = itertools.count(max(upcoming, used + 1))

    # ---------------------------------------------------------------- test side: inspect

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Every API call in order of arrival, optionally only those of ``method``."""
        with self._cond:
            return [
                dataclasses.replace(call)
                for call in self._calls
                if method is None or call.method.lower() == method.lower()
            ]

    def sent_messages(
        self, chat_id: ChatId | None = None, method: str | None = None
    ) -> list[SentMessage]:
        """Messages the bot sent or edited, in order; filter by chat and/or API method."""
        with self._cond:
            return [
                record
                for record in self._sent
                if (chat_id is None or record.chat_id == chat_id)
                and (method is None or record.method.lower() == method.lower())
            ]

    def message(self, chat_id: ChatId, message_id: int) -> JSONDict | None:
        """The current state of a message (after edits), or None if deleted/unknown."""
        with self._cond:
            stored = self._messages.get((chat_id, message_id))
            return copy.deepcopy(stored) if stored is not None else None

    @property
    def callback_answers(self) -> list[str]:
        """Ids of the callback queries the bot answered, in order."""
        with self._cond:
            return list(self._callback_answers)

    @property
    def chat_actions(self) -> list[ChatAction]:
        """(chat_id, action) of every successful sendChatAction."""
        with self._cond:
            return list(self._chat_actions)

    @property
    def left_chats(self) -> list[ChatId]:
        """Chats the bot left with leaveChat."""
        with self._cond:
            return list(self._left_chats)

    def commands(self, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        """The command list set with setMyCommands for ``scope`` / ``language_code``."""
        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        with self._cond:
            return copy.deepcopy(self._commands.get(key, []))

    @property
    def webhook_url(self) -> str | None:
        """The webhook URL currently set, if any."""
        with self._cond:
            return self._webhook["url"] if self._webhook else None

    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every POST of an update to a webhook, with the HTTP status received."""
        with self._cond:
            return list(self._deliveries)

    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by getUpdates (or not yet POSTed to the webhook)."""
        with self._cond:
            return [copy.deepcopy(queued.update) for queued in self._queue]

    # ---------------------------------------------------------------- test side: wait

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until ``condition()`` (checked under the state lock) is true.

        Raises :class:`TimeoutError`. Do not call from a running event loop: that would
        block the bot under test; use :meth:`wait_until_async` there.
        """
        _refuse_inside_event_loop("wait_until")
        with self._cond:
            if not self._cond.wait_for(condition, timeout):
                raise TimeoutError(f"condition not met within {timeout}s")

    async def wait_until_async(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Async variant of :meth:`wait_until` (waits in a worker thread)."""
        await asyncio.to_thread(self._wait_in_thread, condition, timeout)

    def _wait_in_thread(self, condition: Callable[[], bool], timeout: float) -> None:
        with self._cond:
            if not self._cond.wait_for(condition, timeout):
                raise TimeoutError(f"condition not met within {timeout}s")

    def wait_for(
        self,
        predicate_or_count: int | Callable[[SentMessage], bool],
        timeout: float = 5.0,
        *,
        chat_id: ChatId | None = None,
        method: str | None = None,
    ) -> list[SentMessage]:
        """Wait for bot messages (sends and edits, see :meth:`sent_messages`).

        With an int ``n``: until at least ``n`` records exist for the chat; returns them all.
        With a predicate: until at least one record matches; returns the matching ones.
        Raises :class:`TimeoutError` listing what did arrive.
        """
        _refuse_inside_event_loop("wait_for")
        return self._wait_for_messages(predicate_or_count, timeout, chat_id, method)

    async def wait_for_async(
        self,
        predicate_or_count: int | Callable[[SentMessage], bool],
        timeout: float = 5.0,
        *,
        chat_id: ChatId | None = None,
        method: str | None = None,
    ) -> list[SentMessage]:
        """Async variant of :meth:`wait_for`."""
        return await asyncio.to_thread(
            self._wait_for_messages, predicate_or_count, timeout, chat_id, method
        )

    def _wait_for_messages(
        self,
        predicate_or_count: int | Callable[[SentMessage], bool],
        timeout: float,
        chat_id: ChatId | None,
        method: str | None,
    ) -> list[SentMessage]:
        def matching() -> list[SentMessage]:
            records = self.sent_messages(chat_id, method)
            if isinstance(predicate_or_count, int):
                return records if len(records) >= predicate_or_count else []
            return [record for record in records if predicate_or_count(record)]

        with self._cond:
            if self._cond.wait_for(lambda: bool(matching()), timeout):
                return matching()
            got = [(r.chat_id, r.method, r.plain_text) for r in self.sent_messages(chat_id)]
        raise TimeoutError(
            f"bot messages for chat {chat_id} not as expected within {timeout}s; got {got}"
        )

    def wait_for_deliveries(self, count: int, timeout: float = 5.0) -> list[WebhookDelivery]:
        """Block until at least ``count`` webhook deliveries were made; return them."""
        self.wait_until(lambda: len(self._deliveries) >= count, timeout)
        return self.webhook_deliveries()

    async def wait_for_deliveries_async(
        self, count: int, timeout: float = 5.0
    ) -> list[WebhookDelivery]:
        """Async variant of :meth:`wait_for_deliveries`."""
        await self.wait_until_async(lambda: len(self._deliveries) >= count, timeout)
        return self.webhook_deliveries()

    # ---------------------------------------------------------------- failure injection

    def fail_next(
        self,
        method: str | None,
        times: int = 1,
        status: int = 429,
        retry_after: int = 1,
        description: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (None: any method) with an error.

        For 429 the answer is Telegram's flood-control error with
        ``parameters.retry_after``; other statuses get a generic description.
        """
        parameters = None
        if status == 429:
            description = description or f"Too Many Requests: retry after {retry_after}"
            parameters = {"retry_after": retry_after}
        error = BotApiError(status, description or _default_description(status), parameters)
        self._add_injection(_Injection(_lower(method), times, error))

    def reset_next(self, times: int = 1, method: str | None = None) -> None:
        """Abort the connection (TCP reset, no HTTP answer) of the next ``times`` calls."""
        self._add_injection(_Injection(_lower(method), times, None))

    def clear_failures(self) -> None:
        """Drop all pending failure injections."""
        with self._cond:
            self._injections.clear()

    def _add_injection(self, injection: _Injection) -> None:
        if injection.remaining < 1:
            raise ValueError("times must be at least 1")
        with self._cond:
            self._injections.append(injection)


def _lower(method: str | None) -> str | None:
    return method.lower() if method else None


def _default_description(status: int) -> str:
    return {
        400: "Bad Request: injected failure",
        401: "Unauthorized",
        403: "Forbidden: injected failure",
        404: "Not Found",
        409: "Conflict: injected failure",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }.get(status, f"Error {status}")


def _reset_connection(request: web.Request) -> None:
    """Close the client's connection with a TCP RST (SO_LINGER 0) before any answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _refuse_inside_event_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{name}() blocks the thread; inside async code use `await api.{name}_async(...)`"
    )
