"""Introductions: the template, the Teams chat deep link, the compose and request cards."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from adaptive_cards import types as t
from adaptive_cards.card import InputText

from cards import settings, texts, verbs
from cards.elements import (
    Action,
    Element,
    card,
    container,
    execute,
    facts,
    open_url,
    subtitle,
    text,
    title,
)
from cards.views import ComposeView, RequestView
from signals.config import Setting

PLACEHOLDERS = ("requester", "colleague", "colleague_first", "lead", "company", "topic")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")
DEEP_LINK_BASE = "https://teams.microsoft.com/l/chat/0/0"
NOTE_MAX_LENGTH = 2000
DEEP_LINK_MAX_MESSAGE = 1500
"""Longer messages are cut in the link so the URL stays within what browsers accept."""


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else name


def fill_template(template: str, values: dict[str, str | None]) -> str:
    """Fill {placeholders}; drop [optional parts] whose placeholders are empty.

    Unknown ``{words}`` stay as written, so a typo in an admin's template shows up
    instead of failing. A literal ``\\n`` (as an environment variable can't hold a line
    break) becomes a line break.
    """

    def fill(part: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or "", part)

    def optional(match: re.Match[str]) -> str:
        inner = match.group(1)
        names = _PLACEHOLDER.findall(inner)
        if any(not values.get(name) for name in names):
            return ""
        return fill(inner)

    filled = fill(_OPTIONAL.sub(optional, template.replace("\\n", "\n")))
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", filled).strip()


def introduction_text(
    view: ComposeView, *, template: str | None = None, setting: Setting[str] | None = None
) -> str:
    """The request text for the compose card: the admin's template (or default) filled in."""
    source = template if template is not None else (setting or settings.INTRO_TEMPLATE).get()
    lead = view.lead
    return fill_template(
        source,
        {
            "requester": view.requester.name,
            "colleague": view.colleague.name,
            "colleague_first": first_name(view.colleague.name),
            "lead": lead.name,
            "company": lead.company,
            "topic": lead.topic,
        },
    )


def chat_deep_link(upn: str, message: str) -> str:
    """Teams chat deep link opening a draft to ``upn`` with ``message`` (URL-encoded)."""
    users = f"{DEEP_LINK_BASE}?users={quote(upn, safe='@')}"
    if not message:
        return users
    if len(message) > DEEP_LINK_MAX_MESSAGE:
        message = message[: DEEP_LINK_MAX_MESSAGE - 1].rstrip() + "…"
    return f"{users}&message={quote(message, safe='')}"


def _note_input(note: str) -> InputText:
    return InputText(
        id=verbs.NOTE_INPUT,
        label=texts.COMPOSE_LABEL,
        is_multiline=True,
        is_required=True,
        error_message=texts.NOTE_REQUIRED,
        max_length=NOTE_MAX_LENGTH,
        value=note,
        spacing=t.Spacing.MEDIUM,
    )


def compose_card(view: ComposeView) -> dict[str, Any]:
    """The editable request with Send, Cancel and Open in Teams chat."""
    note = view.note if view.note is not None else introduction_text(view)
    col, lead = view.colleague, view.lead
    ids = {"lead": lead.lead_id, "colleague": col.person_id}
    body: list[Element] = [
        title(texts.compose_title(col.name)),
        subtitle(texts.compose_subtitle(lead.name, lead.company)),
        _note_input(note),
        text(texts.COMPOSE_HINT, size="small", subtle=True, spacing="small"),
    ]
    actions: list[Action] = [
        execute(texts.SEND, verbs.SEND, ids=ids, style="positive", inputs="auto"),
        execute(texts.CANCEL, verbs.CANCEL, ids=ids, inputs="none"),
        open_url(texts.OPEN_IN_TEAMS_CHAT, chat_deep_link(col.upn or col.email, note)),
    ]
    return card(body, actions, fallback_text=texts.compose_title(col.name))


def request_card(view: RequestView) -> dict[str, Any]:
    """What the colleague receives: who asks, about whom, the note, and three answers."""
    lead = view.lead
    body: list[Element] = [title(texts.request_title(view.requester.name))]
    if view.requester.email:
        body.append(subtitle(view.requester.email))
    body.append(text(texts.request_about(lead.name, lead.company), spacing="medium"))
    details = [
        (k, v) for k, v in (("Topic", lead.topic), ("E-mail", next(iter(lead.emails), None))) if v
    ]
    if details:
        body.append(facts(details, spacing="small"))
    body.append(
        container(
            [text(texts.YOUR_MESSAGE, size="small", bold=True), text(view.note, spacing="small")],
            style="emphasis",
            spacing="medium",
        )
    )
    if view.evidence is not None:
        line = texts.evidence_line(view.evidence, view.today)
        body.append(
            text(texts.request_your_contact(line), size="small", subtle=True, spacing="medium")
        )
    footer = texts.REQUEST_PRIVACY
    if view.sent_on is not None:
        footer = f"{texts.request_sent_on(view.sent_on, view.today)}. {footer}"
    body.append(text(footer, size="small", subtle=True, spacing="small"))
    ids = {"request": view.request_id}
    actions: list[Action] = [
        execute(texts.HAPPY_TO_INTRODUCE, verbs.ACCEPT, ids=ids, style="positive"),
        execute(texts.DECLINE, verbs.DECLINE, ids=ids),
        execute(texts.DONT_KNOW_WELL, verbs.NOT_KNOWN, ids=ids),
    ]
    return card(body, actions, fallback_text=texts.request_title(view.requester.name))
