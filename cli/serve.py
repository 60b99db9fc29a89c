"""`whoknows serve`: run the bot server, refusing unsafe configurations up front."""

from __future__ import annotations

from collections.abc import Callable

import click
from aiohttp import web
from sqlalchemy import Engine

from bot.auth import LOOPBACK_HOSTS, AuthConfig
from bot.hosting import create_host, sdk_name
from bot.server import create_app, engine_readiness
from bot.turn import Bot
from cli.common import UsageFailure, db_option, open_store_or_exit
from signals.config import SettingError

BotFactory = Callable[[Engine], Bot]
DEFAULT_PORT = 3978

run_app = web.run_app
"""How the app is run (tests replace it)."""


def _conversation_bot(engine: Engine) -> Bot:
    from bot.conversation import build_bot  # type: ignore[import-not-found,unused-ignore]

    bot: Bot = build_bot(engine)
    return bot


def make_serve_command(bot_factory: BotFactory) -> click.Command:
    """The `serve` command for bots built by ``bot_factory`` from the opened store."""

    @click.command("serve")
    @click.option("--host", default=None, help="Interface to listen on (dev mode: loopback only).")
    @click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
    @db_option
    def serve(host: str | None, port: int, db_url: str | None) -> None:
        """Serve Teams on /api/messages (plus /healthz and /readyz)."""
        try:
            config = AuthConfig.from_settings()
            sdk = sdk_name()
        except SettingError as exc:
            raise UsageFailure(str(exc)) from exc
        if config.dev_mode:
            host = host or "127.0.0.1"
            if host not in LOOPBACK_HOSTS:
                raise UsageFailure(
                    f"refusing to listen on {host}: without MicrosoftAppId requests are not "
                    "authenticated, so the server only listens on 127.0.0.1 (set MicrosoftAppId, "
                    "MicrosoftAppPassword and MicrosoftAppTenantId to serve Teams)"
                )
        else:
            host = host or "0.0.0.0"
            problems = config.problems()
            if problems:
                raise UsageFailure("; ".join(problems))
        engine = open_store_or_exit(db_url)
        bot = bot_factory(engine)
        app = create_app(
            bot,
            host=create_host(bot, config, sdk=sdk),
            readiness=engine_readiness(engine),
            background=getattr(bot, "run_background", None),
        )
        if config.dev_mode:
            click.echo(
                "whoknows: local development mode (no MicrosoftAppId): requests are not "
                f"authenticated; listening on {host} only."
            )
        click.echo(f"whoknows: serving http://{host}:{port}/api/messages")
        run_app(app, host=host, port=port, print=None)

    return serve


serve_command = make_serve_command(_conversation_bot)
"""`whoknows serve` with the conversation logic (``bot.conversation.build_bot(engine)``)."""
