"""Several leads match, or none: let the user pick, or show the closest names."""

from __future__ import annotations

from typing import Any

from cards import texts, verbs
from cards.elements import (
    Element,
    action_set,
    card,
    column,
    columns,
    execute,
    subtitle,
    text,
    title,
)
from cards.views import ChoiceView, MatchChoice, NoMatchView


def _match_ids(match: MatchChoice) -> dict[str, int]:
    return {"company": match.lead_id} if match.is_company else {"lead": match.lead_id}


def _match_row(match: MatchChoice, *, first: bool) -> Element:
    details = " · ".join(p for p in (match.company, match.email) if p)
    left: list[Element] = [text(match.name, bold=True)]
    if details:
        left.append(text(details, subtle=True, size="small", spacing="none"))
    button = execute(texts.CHOOSE, verbs.CHOOSE, ids=_match_ids(match))
    return columns(
        [
            column(left, align="center"),
            column([action_set([button])], width="auto", align="center"),
        ],
        separator=not first,
        spacing="small" if first else "medium",
    )


def choice_card(view: ChoiceView) -> dict[str, Any]:
    """One row per match (name, company, e-mail) with a Choose button."""
    body: list[Element] = [title(texts.choice_title(view.query)), subtitle(texts.CHOICE_HINT)]
    body.extend(_match_row(m, first=i == 0) for i, m in enumerate(view.matches))
    return card(body, fallback_text=texts.choice_title(view.query))


def no_match_card(view: NoMatchView) -> dict[str, Any]:
    """What was searched, why nothing matched, and the closest names as buttons."""
    if view.too_long:
        heading = texts.too_long_title(view.too_long)
        return card(
            [title(heading), text(texts.TOO_LONG_HINT, spacing="small")], fallback_text=heading
        )
    body: list[Element] = [
        title(texts.no_match_title(view.query)),
        text(texts.NO_MATCH_HINT, spacing="small"),
    ]
    if view.suggestions:
        body.append(text(texts.CLOSEST_NAMES, bold=True, spacing="medium"))
        body.extend(_match_row(m, first=i == 0) for i, m in enumerate(view.suggestions))
    else:
        body.append(text(texts.NO_SUGGESTIONS, subtle=True, spacing="small"))
    return card(body, fallback_text=texts.no_match_title(view.query))
