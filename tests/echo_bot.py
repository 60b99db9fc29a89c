"""A trivial :class:`bot.turn.Bot` that makes the host's behaviour observable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.turn import InvokeResult, Reply, Turn


def echo_card(text: str) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": text, "wrap": True}],
        "actions": [{"type": "Action.Execute", "title": "Again", "verb": "again", "data": {}}],
    }


@dataclass
class EchoBot:
    """Echoes text; ``card`` answers with a card, ``update`` sends then edits one,
    ``boom`` raises; invokes answer with a card naming the verb."""

    messages: list[Turn] = field(default_factory=list)
    invokes: list[Turn] = field(default_factory=list)
    installs: list[Turn] = field(default_factory=list)

    async def on_message(self, turn: Turn, io: Reply) -> None:
        self.messages.append(turn)
        text = turn.command_text
        if text == "boom":
            raise RuntimeError("the echo bot exploded on purpose")
        if text == "card":
            await io.send(echo_card("a card"))
        elif text == "update":
            activity_id = await io.send(echo_card("working…"))
            await io.update(activity_id, echo_card("done"))
        else:
            await io.send(f"echo: {text}")

    async def on_invoke(self, turn: Turn, io: Reply) -> InvokeResult:
        self.invokes.append(turn)
        if turn.verb == "boom":
            raise RuntimeError("the echo bot exploded on purpose")
        return InvokeResult.card(echo_card(f"clicked {turn.verb} with {turn.action_data}"))

    async def on_install(self, turn: Turn, io: Reply) -> None:
        self.installs.append(turn)
        await io.send("welcome")
