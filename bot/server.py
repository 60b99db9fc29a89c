"""The aiohttp application: ``/api/messages``, ``/healthz`` and ``/readyz``.

HTTP concerns live here (content type, size, JSON, error mapping); everything about
activities and tokens is in :mod:`bot.hosting`. No request ever gets a traceback: an
error middleware answers unexpected failures with a JSON error and a reference id that
is also logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.web_protocol import RequestPayloadError
from sqlalchemy import Engine, text

from bot import settings
from bot.hosting import Host, HostResponse, create_host
from bot.turn import Bot, Proactive

log = logging.getLogger("whoknows.bot")

Background = Callable[[Proactive], Awaitable[None]]
"""Work the server runs beside the requests until it stops (the new-lead heads-ups)."""
Readiness = Callable[[], Awaitable[object]]
"""Checks a dependency (the database); raises or returns False when it is not usable."""

HOST_KEY: web.AppKey[Host] = web.AppKey("host")
READINESS_KEY: web.AppKey[Readiness | None] = web.AppKey("readiness")


MAX_JSON_DEPTH = 64  # an activity, card data included, is a few levels deep


def _deeper_than(value: object, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` deep (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[object]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _error(status: int, error: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": error, "message": message, **extra}, status=status)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """HTTP errors become short JSON answers; anything unexpected a logged 500 with a reference."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason.lower(), exc.reason)
    except asyncio.CancelledError:
        raise
    except Exception:
        reference = uuid.uuid4().hex[:12]
        log.exception(
            "unexpected error on %s %s (reference %s)", request.method, request.path, reference
        )
        return _error(500, "internal error", "unexpected error", reference=reference)


async def messages(request: web.Request) -> web.Response:
    """Bot Framework activities: parsed here, authenticated and run by the host."""
    if request.content_type != "application/json":
        return _error(415, "unsupported media type", "expected application/json")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "request entity too large", "the activity is too large")
    except (RequestPayloadError, BadHttpMessage):
        # e.g. Content-Encoding: gzip on a body that is not compressed
        return _error(400, "bad request", "the body does not match its Content-Encoding")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _error(400, "bad request", "malformed JSON")
    except RecursionError:
        return _error(400, "bad request", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(body, dict):
        return _error(400, "bad request", "an activity is a JSON object")
    if _deeper_than(body, MAX_JSON_DEPTH):
        # The SDK walks activities recursively: a deep value would end in RecursionError.
        return _error(400, "bad request", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    answer: HostResponse = await request.app[HOST_KEY].handle(
        body, request.headers.get("Authorization")
    )
    if answer.body is None:
        return web.Response(status=answer.status)
    return web.json_response(answer.body, status=answer.status)


async def healthz(request: web.Request) -> web.Response:
    """The process is up, and which SDK hosts the bot (for operators)."""
    host = request.app[HOST_KEY]
    return web.json_response({"status": "ok", "sdk": host.sdk, "sdk_version": host.sdk_version})


async def readyz(request: web.Request) -> web.Response:
    """The process can serve: the database answers."""
    check = request.app[READINESS_KEY]
    if check is None:
        return web.json_response({"status": "ok"})
    try:
        ok = await check()
    except Exception as exc:
        log.warning("not ready: %s: %s", type(exc).__name__, exc)
        ok = False
    if ok is False:
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def engine_readiness(engine: Engine) -> Readiness:
    """A readiness check that runs ``SELECT 1`` on the store from a worker thread."""

    def probe() -> bool:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True

    async def check() -> bool:
        return await asyncio.to_thread(probe)

    return check


def create_app(
    bot: Bot,
    *,
    host: Host | None = None,
    readiness: Readiness | None = None,
    max_body_bytes: int | None = None,
    background: Background | None = None,
) -> web.Application:
    """The web application serving ``bot``; ``host`` defaults to one built from the settings.

    ``background`` runs from start-up to shutdown with the host's proactive sender."""
    limit = max_body_bytes if max_body_bytes is not None else settings.MAX_REQUEST_BYTES.get()
    app = web.Application(client_max_size=limit, middlewares=[error_middleware])
    app[HOST_KEY] = bot_host = host or create_host(bot)

    async def close_host(_app: web.Application) -> None:
        await bot_host.close()

    app.on_cleanup.append(close_host)
    if background is not None:
        work = background

        async def run_background(_app: web.Application) -> AsyncIterator[None]:
            task = asyncio.ensure_future(work(bot_host.proactive))
            yield
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        app.cleanup_ctx.append(run_background)
    app[READINESS_KEY] = readiness
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
