"""Colleague details: strength, evidence and contact details, with Get Introduced."""

from __future__ import annotations

from typing import Any

from cards import texts, verbs
from cards.elements import (
    Action,
    Element,
    action_set,
    card,
    column,
    columns,
    execute,
    facts,
    subject_ids,
    subtitle,
    text,
    tier_text,
    title,
)
from cards.rows import freshness_text, introduce_button, role_line
from cards.views import DetailsView


def evidence_facts(view: DetailsView) -> list[tuple[str, str]]:
    ev, today = view.colleague.evidence, view.today
    pairs = [
        (texts.FACT_EMAILS_TO, str(ev.emails_to_lead)),
        (texts.FACT_EMAILS_FROM, str(ev.emails_from_lead)),
        (texts.FACT_REPLIES, str(ev.replies)),
        (texts.FACT_MEETINGS, str(ev.meetings)),
        (texts.FACT_CALLS, str(ev.calls)),
    ]
    if ev.chats:
        pairs.append((texts.FACT_CHATS, str(ev.chats)))
    pairs.append((texts.FACT_LAST_TWO_WAY, texts.date_with_age(ev.last_two_way, today)))
    if ev.last_two_way is None and ev.last_contact is not None:
        pairs.append((texts.FACT_LAST_CONTACT, texts.date_with_age(ev.last_contact, today)))
    pairs.append((texts.FACT_FIRST_CONTACT, texts.date_with_age(ev.first_contact, today)))
    return pairs


def details_card(view: DetailsView) -> dict[str, Any]:
    """Everything the requester needs to judge one introducer."""
    col, lead = view.colleague, view.lead
    header = columns(
        [
            column([title(col.name), *([subtitle(r)] if (r := role_line(col)) else [])]),
            column([tier_text(col.tier, texts.tier_badge(col.tier))], width="auto", align="top"),
        ]
    )
    contact = [(texts.FACT_EMAIL, col.email)]
    if col.phone:
        contact.append((texts.FACT_PHONE, col.phone))
    if col.department:
        contact.append((texts.FACT_DEPARTMENT, col.department))
    body: list[Element] = [
        header,
        text(texts.details_subtitle(lead.name), bold=True, spacing="medium", separator=True),
        text(texts.evidence_line(col.evidence, view.today), subtle=True, spacing="none"),
        facts(evidence_facts(view), spacing="small"),
        text(texts.WHY_HEADING, bold=True, spacing="medium"),
        *(
            text(line, size="small", spacing="none" if i else "small")
            for i, line in enumerate(texts.why_lines(col.evidence, col.tier, lead.name, view.today))
        ),
    ]
    if lead.is_company and col.evidence.known_contacts:
        body.append(text(texts.known_at_heading(lead.name), bold=True, spacing="medium"))
        for contact_ref in col.evidence.known_contacts[:5]:
            row = [column([text(contact_ref.name)], align="center")]
            if contact_ref.person_id is not None and not col.requested:
                intro = execute(
                    texts.GET_INTRODUCED,
                    verbs.INTRODUCE,
                    ids={"lead": contact_ref.person_id, "colleague": col.person_id},
                )
                row.append(column([action_set([intro])], width="auto"))
            body.append(columns(row, spacing="small"))
    body += [
        text(texts.CONTACT_HEADING, bold=True, spacing="medium", separator=True),
        facts(contact, spacing="small"),
    ]
    if col.requested:
        body.append(text(f"✓ {texts.REQUESTED}", color="accent", spacing="small"))
    if (fresh := freshness_text(view.freshness, separator=True)) is not None:
        body.append(fresh)
    actions: list[Action] = []
    if (
        not lead.is_company
        and (intro_button := introduce_button(col, lead, primary=True)) is not None
    ):
        actions.append(intro_button)
    actions.append(execute(texts.BACK_TO_SUMMARY, verbs.SUMMARY, ids=subject_ids(lead)))
    return card(body, actions, fallback_text=col.name)
