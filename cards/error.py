"""The error card: short, friendly, with a reference for the administrator."""

from __future__ import annotations

from typing import Any

from cards import texts
from cards.elements import card, text
from cards.views import ErrorView


def error_card(view: ErrorView) -> dict[str, Any]:
    return card(
        [
            text(texts.ERROR_TITLE, size="large", bold=True, heading=True),
            text(view.message or texts.ERROR_TEXT, spacing="small"),
            text(
                texts.error_reference(view.reference), size="small", subtle=True, spacing="medium"
            ),
        ],
        fallback_text=f"{texts.ERROR_TITLE} ({view.reference})",
    )
