"""The list view: everyone who knows the lead, strongest first, paged."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any

from cards import settings, texts, verbs
from cards.elements import Action, Element, card, execute, subject_ids, subtitle, title
from cards.rows import freshness_text, list_row
from cards.views import ColleagueView, LeadView, ListPageView

MAX_PAGE_SIZE = 15
"""Keeps the longest page well under the Teams card size limit."""


def page_size_setting() -> int:
    """The configured page size, clamped to 1..MAX_PAGE_SIZE."""
    return max(1, min(MAX_PAGE_SIZE, settings.LIST_PAGE_SIZE.get()))


def page_count(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / page_size))


def page_view(
    lead: LeadView,
    ranked: Sequence[ColleagueView],
    page: int,
    today: date,
    *,
    page_size: int | None = None,
) -> ListPageView:
    """Slice the full ranked list into one page (clamping the page number into range)."""
    size = page_size or page_size_setting()
    pages = page_count(len(ranked), size)
    page = max(1, min(page, pages))
    rows = tuple(ranked[(page - 1) * size : page * size])
    return ListPageView(
        lead=lead, colleagues=rows, page=page, page_size=size, total=len(ranked), today=today
    )


def list_card(view: ListPageView) -> dict[str, Any]:
    """One page of rows with Previous/Next and Get Introduced on each row."""
    lead = view.lead
    pages = page_count(view.total, view.page_size)
    body: list[Element] = [
        title(texts.list_title(lead.name, company=lead.is_company)),
        subtitle(texts.list_subtitle(view.total, view.page, pages)),
    ]
    first = (view.page - 1) * view.page_size + 1
    body.extend(
        list_row(c, lead, view.today, rank) for rank, c in enumerate(view.colleagues, first)
    )
    if (fresh := freshness_text(view.freshness, separator=True)) is not None:
        body.append(fresh)
    ids = subject_ids(lead)
    actions: list[Action] = []
    if view.page > 1:
        actions.append(execute(texts.PREVIOUS, verbs.LIST, ids={**ids, "page": view.page - 1}))
    if view.page < pages:
        actions.append(execute(texts.NEXT, verbs.LIST, ids={**ids, "page": view.page + 1}))
    actions.append(execute(texts.BACK_TO_SUMMARY, verbs.SUMMARY, ids=ids))
    return card(body, actions, fallback_text=texts.list_title(lead.name, company=lead.is_company))
