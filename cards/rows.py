"""The colleague row shared by the summary and the list view."""

from __future__ import annotations

from datetime import date

from cards import texts, verbs
from cards.elements import (
    Action,
    Element,
    action_set,
    column,
    columns,
    container,
    execute,
    name_with_tier,
    subject_ids,
    text,
    tier_text,
)
from cards.views import ColleagueView, FreshnessView, LeadView


def freshness_text(view: FreshnessView | None, *, separator: bool = False) -> Element | None:
    """How current the data is, in a warning colour when stale (every answer says it)."""
    if view is None:
        return None
    stale = view.stale or view.failing > 0 or view.age_minutes is None
    return text(
        texts.freshness_line(view),
        size="small",
        subtle=None if stale else True,
        color="warning" if stale else None,
        spacing="small",
        separator=separator or None,
    )


def role_line(colleague: ColleagueView) -> str | None:
    """ "Account Manager · Sales", or whichever of the two is known."""
    parts = [p for p in (colleague.title, colleague.department) if p]
    return " · ".join(parts) or None


def introduce_target(colleague: ColleagueView, lead: LeadView) -> int | None:
    """The person Get Introduced asks about: the lead, or for a company the first contact known."""
    if not lead.is_company:
        return lead.lead_id
    for contact in colleague.evidence.known_contacts:
        if contact.person_id is not None:
            return contact.person_id
    return None


def introduce_button(
    colleague: ColleagueView, lead: LeadView, *, primary: bool = False
) -> Action | None:
    target = introduce_target(colleague, lead)
    if colleague.requested or target is None:
        return None
    label = texts.GET_INTRODUCED
    if lead.is_company:
        label = texts.get_introduced_to(colleague.evidence.known_contacts[0].name)
    return execute(
        label,
        verbs.INTRODUCE,
        ids={"lead": target, "colleague": colleague.person_id},
        style="positive" if primary else None,
    )


def details_button(colleague: ColleagueView, lead: LeadView) -> Action:
    return execute(
        texts.DETAILS,
        verbs.DETAILS,
        ids={**subject_ids(lead), "colleague": colleague.person_id},
    )


def _facts_lines(colleague: ColleagueView, lead: LeadView, today: date) -> list[Element]:
    lines: list[Element] = []
    if role := role_line(colleague):
        lines.append(text(role, subtle=True, spacing="none", size="small"))
    evidence = texts.evidence_line(colleague.evidence, today)
    if lead.is_company and (known := texts.known_contacts_line(colleague.evidence)):
        lines.append(text(known, spacing="small"))
        lines.append(text(evidence, spacing="none", subtle=True, size="small"))
    else:
        lines.append(text(evidence, spacing="small"))
    if colleague.requested:
        lines.append(text(f"✓ {texts.REQUESTED}", spacing="none", color="accent", size="small"))
    return lines


def summary_row(colleague: ColleagueView, lead: LeadView, today: date) -> Element:
    """Name, role and strength on one line; evidence below; Details and Get Introduced."""
    header = columns(
        [
            column([text(colleague.name, bold=True)]),
            column(
                [tier_text(colleague.tier, texts.tier_badge(colleague.tier))],
                width="auto",
                align="top",
            ),
        ]
    )
    buttons: list[Action] = [details_button(colleague, lead)]
    if (intro := introduce_button(colleague, lead)) is not None:
        buttons.append(intro)
    items: list[Element] = [header, *_facts_lines(colleague, lead, today)]
    items.append(action_set(buttons, spacing="small"))
    return container(items, separator=True, spacing="medium")


def list_row(colleague: ColleagueView, lead: LeadView, today: date, rank: int) -> Element:
    """A compact row: rank, name and strength, evidence (tap for details), Get Introduced."""
    details = execute(
        texts.DETAILS, verbs.DETAILS, ids={**subject_ids(lead), "colleague": colleague.person_id}
    )
    name = name_with_tier(
        f"{rank}. {colleague.name}", colleague.tier, texts.tier_badge(colleague.tier)
    )
    left: list[Element] = [name, *_facts_lines(colleague, lead, today)]
    cols = [column(left, select=details)]
    if (intro := introduce_button(colleague, lead, primary=False)) is not None:
        if lead.is_company:  # the label names the contact: too wide for a side column
            left.append(action_set([intro], spacing="small"))
        else:
            cols.append(column([action_set([intro])], width="auto", align="center"))
    return columns(cols, separator=True, spacing="medium")
