"""Status cards that replace the clicked card as an introduction moves on."""

from __future__ import annotations

from typing import Any

from cards import texts, verbs
from cards.elements import (
    Action,
    Color,
    Element,
    card,
    container,
    execute,
    open_url,
    subject_ids,
    text,
)
from cards.introduction import chat_deep_link
from cards.views import IntroductionView

_ICON: dict[str, tuple[str, Color]] = {
    "sent": ("✓", "good"),
    "already_requested": ("⏳", "accent"),
    "cancelled": ("✕", "default"),
    "unreachable": ("!", "attention"),
    "accepted": ("✓", "good"),
    "declined": ("✕", "default"),
    "not_known": ("✓", "accent"),
    "notice_accepted": ("✓", "good"),
    "notice_declined": ("✕", "default"),
    "notice_not_known": ("–", "default"),
}


def status_texts(view: IntroductionView) -> tuple[str, str]:
    """The heading and sentence for the view's state."""
    req, col, lead = view.requester.name, view.colleague.name, view.lead.name
    on = texts.days_ago(view.requested_on, view.today) if view.requested_on else None
    match view.state:
        case "sent":
            return texts.status_sent(col, lead)
        case "already_requested":
            return texts.status_already_requested(col, lead, on)
        case "cancelled":
            return texts.status_cancelled(col)
        case "unreachable":
            return texts.status_unreachable(col, view.email_available)
        case "accepted":
            return texts.status_accepted(req, lead)
        case "declined":
            return texts.status_declined(req)
        case "not_known":
            return texts.status_not_known(req, lead)
        case "notice_accepted":
            return texts.notice_accepted(col, lead)
        case "notice_declined":
            return texts.notice_declined(col, lead)
        case "notice_not_known":
            return texts.notice_not_known(col, lead)
    raise ValueError(f"unknown state {view.state!r}")  # pragma: no cover


def _chat_target(view: IntroductionView, to_requester: bool) -> str | None:
    person = view.requester if to_requester else view.colleague
    return person.upn or person.email


def status_card(view: IntroductionView) -> dict[str, Any]:
    """A short card: what happened, the note when useful, and the next step as a button."""
    heading, sentence = status_texts(view)
    icon, color = _ICON[view.state]
    body: list[Element] = [
        text(
            f"{icon}  {heading}",
            size="large",
            bold=True,
            color=None if color == "default" else color,
            heading=True,
        ),
        text(sentence, spacing="small"),
    ]
    if view.note and view.state in ("sent", "unreachable", "already_requested"):
        body.append(
            container(
                [
                    text(texts.YOUR_MESSAGE, size="small", bold=True),
                    text(view.note, spacing="small"),
                ],
                style="emphasis",
                spacing="medium",
            )
        )
    actions: list[Action] = []
    if view.state == "unreachable":
        if view.email_available and view.request_id is not None:
            actions.append(
                execute(
                    texts.SEND_BY_EMAIL,
                    verbs.SEND_EMAIL,
                    ids={"request": view.request_id},
                    style="positive",
                )
            )
        if target := _chat_target(view, to_requester=False):
            actions.append(
                open_url(texts.OPEN_IN_TEAMS_CHAT, chat_deep_link(target, view.note or ""))
            )
    elif view.state in ("notice_declined", "notice_not_known"):
        actions.append(execute(texts.SEE_WHO_ELSE, verbs.SUMMARY, ids=subject_ids(view.lead)))
    elif view.state == "notice_accepted":
        if target := _chat_target(view, to_requester=False):
            actions.append(open_url(texts.OPEN_CHAT_WITH, chat_deep_link(target, "")))
    elif view.state == "accepted" and (target := _chat_target(view, to_requester=True)):
        actions.append(open_url(texts.OPEN_CHAT_WITH, chat_deep_link(target, "")))
    return card(body, actions, fallback_text=heading)
