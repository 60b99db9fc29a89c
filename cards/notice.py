"""Small one-message cards: "working on it" while a slow answer is prepared, plain notes
that replace it (a card can only be replaced by a card), and "no access"."""

from __future__ import annotations

from typing import Any

from cards import texts
from cards.elements import card, text
from cards.views import NoAccessView, NoticeView


def notice_card(view: NoticeView) -> dict[str, Any]:
    if view.working:
        body = [
            text(texts.working_title(view.text), bold=True),
            text(texts.WORKING_TEXT, subtle=True, spacing="small"),
        ]
        return card(body, fallback_text=texts.working_title(view.text))
    return card([text(view.text)], fallback_text=view.text)


def no_access_card(view: NoAccessView) -> dict[str, Any]:
    """For whoever may not ask: the same card whatever they asked, naming nobody."""
    body = [
        text(texts.NO_ACCESS_TITLE, size="large", bold=True, heading=True),
        text(texts.NO_ACCESS_TEXT, spacing="small"),
        text(texts.no_access_contact(view.contact), spacing="small"),
    ]
    return card(body, fallback_text=texts.NO_ACCESS_TITLE)
