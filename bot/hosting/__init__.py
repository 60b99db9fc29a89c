"""Hosting the bot on a Bot Framework SDK, chosen by ``WHOKNOWS_BOT_SDK``.

One module per SDK (:mod:`bot.hosting.botbuilder`, :mod:`bot.hosting.agents`) behind the
narrow interface of :class:`bot.hosting.base.Host`: authenticate and run an incoming
activity, send proactively, create a conversation (``proactive``). Nothing outside this
package imports an SDK, and only the chosen SDK is imported.
"""

from __future__ import annotations

from bot import settings
from bot.auth import AuthConfig
from bot.hosting.base import Host, HostLimits, HostResponse
from bot.turn import Bot, HostTexts
from signals.config import SettingError

SDKS = ("botbuilder", "agents")

__all__ = ["SDKS", "BotHost", "Host", "HostLimits", "HostResponse", "create_host", "sdk_name"]


def sdk_name(sdk: str | None = None) -> str:
    """The SDK to host on: ``sdk``, else the setting; raises SettingError for others."""
    name = (sdk if sdk is not None else settings.BOT_SDK.get()).strip().lower()
    if name not in SDKS:
        raise SettingError(
            f"{settings.BOT_SDK.env}: expected one of {', '.join(SDKS)}, not {name!r}"
        )
    return name


def create_host(
    bot: Bot,
    config: AuthConfig | None = None,
    *,
    sdk: str | None = None,
    texts: HostTexts | None = None,
    limits: HostLimits | None = None,
    outgoing_token: str | None = None,
) -> Host:
    """A host for ``bot`` on the chosen SDK (``outgoing_token``: tests only)."""
    if sdk_name(sdk) == "agents":
        from bot.hosting.agents import AgentsHost

        return AgentsHost(bot, config, texts=texts, limits=limits, outgoing_token=outgoing_token)
    from bot.hosting.botbuilder import BotbuilderHost

    return BotbuilderHost(bot, config, texts=texts, limits=limits, outgoing_token=outgoing_token)


BotHost = create_host
"""The name callers used before there were two SDKs."""
