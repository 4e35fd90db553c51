"""The python-telegram-bot Application: Bot API server from TELEGRAM_BASE_URL, request time-outs, the
rate limiter (retries on 429 and on network errors), polling or a webhook fed by bot/web.py."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Coroutine, Dict, List, Optional, Union

from telegram import BotCommand, Update
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import AIORateLimiter, Application
from telegram.request import HTTPXRequest

from bot import texts
from bot.gateway import Gateway
from bot.settings import Settings
from bot.telegram.channel import TelegramChannel
from bot.telegram.handlers import TelegramFrontEnd

log = logging.getLogger(__name__)
JSON = Union[bool, Dict[str, Any], list]


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (Telegram's flood limits, retries after 429) plus retries on network errors."""

    def __init__(self, *args: Any, network_retries: int = 3, backoff: float = 0.5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.network_retries = network_retries
        self.backoff = backoff

    def has_capacity(self) -> bool:
        """Whether a request could go out now without waiting (used to skip 'typing' under load)."""
        limiter = getattr(self, "_base_limiter", None)
        return limiter is None or limiter.has_capacity()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSON]],
        args: Any,
        kwargs: Dict[str, Any],
        endpoint: str,
        data: Dict[str, Any],
        rate_limit_args: Optional[int],
    ) -> JSON:
        for attempt in range(self.network_retries + 1):
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except BadRequest:
                raise
            except (NetworkError, TimedOut) as error:
                if attempt == self.network_retries:
                    raise
                log.warning("%s failed (%s); retry %d", endpoint, type(error).__name__, attempt + 1)
                await asyncio.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")


def build_application(settings: Settings, *, polling: bool) -> Application:
    """An Application on TELEGRAM_BASE_URL with time-outs, a connection pool and the rate limiter."""
    request = HTTPXRequest(connection_pool_size=64, connect_timeout=5.0, read_timeout=15.0, write_timeout=15.0, pool_timeout=10.0)
    builder = (
        Application.builder()
        .token(settings.telegram_token.get())
        .base_url(settings.telegram_base_url)
        .request(request)
        .rate_limiter(RetryingRateLimiter(overall_max_rate=settings.telegram_max_rate, max_retries=3))
    )
    if polling:
        builder = builder.get_updates_request(
            HTTPXRequest(connection_pool_size=2, connect_timeout=5.0, read_timeout=15.0, write_timeout=15.0, pool_timeout=10.0)
        )
    else:
        builder = builder.updater(None)
    return builder.build()


def command_menu() -> List[BotCommand]:
    """The command list Telegram shows (texts from data/responses/gateway.yml)."""
    return [BotCommand(name, description) for name, description in texts.load("gateway")["commands"].items()]


class TelegramRuntime:
    """Telegram in polling mode, or in webhook mode (updates arrive through bot/web.py)."""

    def __init__(self, settings: Settings, gateway: Gateway, poll_timeout: int = 10) -> None:
        self.settings = settings
        self.gateway = gateway
        self.webhook = bool(settings.webhook_url)
        self.poll_timeout = poll_timeout
        self.application = build_application(settings, polling=not self.webhook)
        limiter = self.application.bot.rate_limiter
        has_capacity = limiter.has_capacity if isinstance(limiter, RetryingRateLimiter) else (lambda: True)
        self.channel = TelegramChannel(self.application.bot, has_capacity=has_capacity)
        self.front_end = TelegramFrontEnd(gateway, self.channel, settings.secret_key())
        self.front_end.register(self.application)
        gateway.add_channel(self.channel)
        self.accepting = False

    @property
    def mode(self) -> str:
        return "webhook" if self.webhook else "polling"

    async def start(self) -> None:
        """Connect (getMe), set the command menu, then poll or register the webhook."""
        await self.application.initialize()
        try:
            await self.application.bot.set_my_commands(command_menu())
        except NetworkError as error:
            log.warning("could not set the command menu (%s)", type(error).__name__)
        await self.application.start()
        self.accepting = True
        if self.webhook:
            await self.application.bot.set_webhook(
                url=self.settings.webhook_url or "",
                secret_token=self.settings.webhook_secret_token(),
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            assert self.application.updater is not None
            await self.application.updater.start_polling(
                timeout=self.poll_timeout, allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1
            )
        log.info("Telegram: %s as @%s", self.mode, self.application.bot.username)

    async def feed(self, data: Dict[str, Any]) -> None:
        """An update POSTed to the webhook: into python-telegram-bot's queue (handled in order)."""
        update = Update.de_json(data, self.application.bot)
        await self.application.update_queue.put(update)

    async def stop_intake(self) -> None:
        """Stop taking updates: polling confirms what it fetched, the webhook answers 503 (Telegram retries
        later), and the updates already queued are handed to the gateway before this returns."""
        self.accepting = False
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()

    async def close(self) -> None:
        """After the gateway drained: finish side requests and close the connection pool."""
        await self.channel.drain()
        await self.application.shutdown()
