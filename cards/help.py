"""Welcome (on install) and help: what the bot does, the commands, the privacy stance."""

from __future__ import annotations

from typing import Any

from cards import texts, verbs
from cards.elements import Element, bullets, card, container, execute, text, title
from cards.views import HelpView


def help_card(view: HelpView) -> dict[str, Any]:
    heading = texts.welcome_title(view.user_name) if view.welcome else texts.HELP_TITLE
    body: list[Element] = [
        title(heading),
        text(texts.WHAT_IT_DOES, spacing="small"),
        text(texts.COMMANDS_HEADING, bold=True, spacing="medium"),
        bullets((texts.command_line(*c) for c in texts.COMMANDS), spacing="small"),
        container([text(texts.PRIVACY_STANCE, size="small")], style="emphasis", spacing="medium"),
    ]
    if view.welcome:
        body.insert(2, text(texts.TRY_EXAMPLE, color="accent", spacing="small"))
    actions = [execute(texts.MY_DATA, verbs.MY_DATA)]
    return card(body, actions, fallback_text=heading)
