"""Cards for the surfaces outside the bot's chat: the search extension, link unfurling and
the new-lead heads-up.

A card inserted from the search extension names nobody; its Universal Actions ``refresh``
(and a Show me button, for viewers Teams does not refresh) gets each viewer their own
summary card, or the no-access card. An unfurled link is Adaptive Card 1.3, the highest link
unfurling accepts: no Action.Execute, no refresh, so it names nobody either.
"""

from __future__ import annotations

from typing import Any

from cards import texts, verbs
from cards.elements import (
    UNFURL_VERSION,
    Action,
    Element,
    card,
    data,
    execute,
    subject_ids,
    subtitle,
    text,
    title,
)
from cards.result import result_card
from cards.rows import details_button, introduce_button, role_line
from cards.views import (
    HeadsUpView,
    InsertedView,
    LeadView,
    ResultView,
    SharedResultView,
    UnfurlView,
)

THUMBNAIL = "application/vnd.microsoft.card.thumbnail"


def _refresh(lead: LeadView, viewer_ids: tuple[str, ...]) -> dict[str, Any]:
    """Universal Actions refresh: Teams asks the bot for each listed viewer's own card."""
    refresh: dict[str, Any] = {
        "action": {
            "type": "Action.Execute",
            "verb": verbs.SHARED,
            "data": data(verbs.SHARED, **subject_ids(lead)),
        }
    }
    if viewer_ids:
        refresh["userIds"] = list(viewer_ids[:60])  # Teams' limit
    return refresh


def inserted_card(view: InsertedView) -> dict[str, Any]:
    """What everyone in the conversation sees before or without a refresh: no names (not
    even the lead's), no strengths; Show me asks for the viewer's own card."""
    body: list[Element] = [
        title(texts.INSERTED_TITLE),
        text(texts.INSERTED_TEXT, spacing="small"),
    ]
    show = execute(texts.INSERTED_SHOW, verbs.SHARED, ids=subject_ids(view.lead))
    base = card(body, [show], fallback_text=texts.INSERTED_TITLE)
    return {**base, "refresh": _refresh(view.lead, view.viewer_ids)}


def shared_result_card(view: SharedResultView) -> dict[str, Any]:
    """One viewer's summary card, with a refresh that re-ranks it for them."""
    return {**result_card(view.result), "refresh": _refresh(view.result.lead, view.viewer_ids)}


def search_preview(view: ResultView) -> dict[str, Any]:
    """The list entry in the search extension: the lead and their strongest connection."""
    top = view.colleagues[0] if view.colleagues else None
    content = {
        "title": view.lead.name,
        "text": texts.search_preview_text(
            top.name if top else None, view.lead.name, top.tier if top else None, view.total
        ),
    }
    lead = view.lead
    sub = (lead.emails[0] if lead.emails else None) if lead.is_company else lead.company
    if sub := sub or (lead.emails[0] if lead.emails else None):
        content["subtitle"] = sub  # one short line: list entries have no room for two
    return {"contentType": THUMBNAIL, "content": content}


def unfurl_card(view: UnfurlView) -> dict[str, Any]:
    """A pasted lead link (1.3): names nobody, says where to see who knows the lead."""
    body: list[Element] = [
        text(texts.ANONYMOUS_UNFURL_TITLE, size="large", bold=True),
        text(
            texts.UNFURL_TEXT if view.colleague else texts.ANONYMOUS_UNFURL_TEXT,
            spacing="small",
        ),
    ]
    return card(body, version=UNFURL_VERSION, fallback_text=texts.ANONYMOUS_UNFURL_TITLE)


def heads_up_card(view: HeadsUpView) -> dict[str, Any]:
    """ "New lead: Yvonne McKay, Fourth Coffee. Tricia Potter knows Yvonne well", with
    Details and Get Introduced."""
    lead = view.lead
    heading = texts.heads_up_title(lead.name, lead.company)
    body: list[Element] = [title(heading), subtitle(texts.HEADS_UP_ASSIGNED)]
    if lead.topic:
        body.append(text(texts.topic_line(lead.topic), size="small", spacing="small"))
    actions: list[Action] = []
    colleague = view.colleague
    if colleague is not None:
        body.append(
            text(
                texts.knows_line(colleague.name, lead.name, colleague.tier),
                bold=True,
                spacing="medium",
            )
        )
        if role := role_line(colleague):
            body.append(text(role, subtle=True, size="small", spacing="none"))
        body.append(text(texts.evidence_line(colleague.evidence, view.today), spacing="small"))
        actions.append(details_button(colleague, lead))
        if (intro := introduce_button(colleague, lead, primary=True)) is not None:
            actions.append(intro)
    else:
        body.append(text(texts.heads_up_nobody(lead.name), spacing="medium"))
    if view.owner_knows_lead:
        body.append(text(texts.heads_up_you_know(lead.name), size="small", spacing="small"))
    if colleague is not None:
        actions.append(execute(texts.SEE_WHO_KNOWS, verbs.SUMMARY, ids=subject_ids(lead)))
    body.append(text(texts.HEADS_UP_FOOTER, size="small", subtle=True, separator=True))
    return card(body, actions, fallback_text=heading)
