"""Small one-message cards: "working on it" while a slow answer is prepared, and plain
notes that replace it (a card can only be replaced by a card)."""

from __future__ import annotations

from typing import Any

from cards import texts
from cards.elements import card, text
from cards.views import NoticeView


def notice_card(view: NoticeView) -> dict[str, Any]:
    if view.working:
        body = [
            text(texts.working_title(view.text), bold=True),
            text(texts.WORKING_TEXT, subtle=True, spacing="small"),
        ]
        return card(body, fallback_text=texts.working_title(view.text))
    return card([text(view.text)], fallback_text=view.text)
