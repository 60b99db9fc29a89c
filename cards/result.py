"""The summary card: who knows the lead, strongest first."""

from __future__ import annotations

from typing import Any

from cards import settings, texts, verbs
from cards.elements import Action, Element, card, container, execute, subject_ids, subtitle, text
from cards.elements import title as title_block
from cards.rows import freshness_text, summary_row
from cards.views import CoverageView, LeadView, ResultView


def lead_subtitle(lead: LeadView) -> str | None:
    """Company and first e-mail of a person lead (domains for a company), joined by a dot."""
    if lead.is_company:
        return ", ".join(lead.emails) or None
    parts = [p for p in (lead.company, lead.emails[0] if lead.emails else None) if p]
    return " · ".join(parts) or None


def coverage_text(coverage: CoverageView) -> Element:
    """How complete an answer is ("based on N of M mailboxes"), under its rows."""
    return text(
        texts.coverage_line(
            coverage.mailboxes_analysed, coverage.mailboxes_total, coverage.opted_out
        ),
        size="small",
        subtle=True,
        separator=True,
        spacing="medium",
    )


def result_card(view: ResultView, *, summary_size: int | None = None) -> dict[str, Any]:
    """The top colleagues (five by default) with strength, evidence and buttons."""
    size = summary_size if summary_size is not None else settings.SUMMARY_SIZE.get()
    lead = view.lead
    shown = view.colleagues[: max(size, 1)]
    heading = (
        texts.company_result_title(lead.name) if lead.is_company else texts.result_title(lead.name)
    )
    body: list[Element] = [title_block(heading)]
    if sub := lead_subtitle(lead):
        body.append(subtitle(sub))
    if lead.topic:
        body.append(text(texts.topic_line(lead.topic), size="small", spacing="none"))
    if view.requester_knows_lead:
        line = (
            texts.evidence_line(view.requester_evidence, view.today)
            if view.requester_evidence is not None
            else None
        )
        body.append(
            container(
                [text(texts.requester_knows(lead.name, line), size="small")],
                style="accent",
                spacing="medium",
            )
        )
    if not shown:
        body.append(text(texts.nobody_knows(lead.name), spacing="medium"))
    else:
        body.append(
            text(
                texts.result_count(len(shown), view.total),
                subtle=True,
                size="small",
                spacing="medium",
            )
        )
        body.extend(summary_row(c, lead, view.today) for c in shown)
    body.append(coverage_text(view.coverage))
    if (fresh := freshness_text(view.freshness)) is not None:
        body.append(fresh)
    actions: list[Action] = []
    if view.total > len(shown):
        actions.append(
            execute(
                texts.list_view_button(view.total), verbs.LIST, ids={**subject_ids(lead), "page": 1}
            )
        )
    return card(body, actions, fallback_text=heading)
