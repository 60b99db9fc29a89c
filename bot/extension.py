"""The search message extension and Dynamics 365 link unfurling, free of any Bot Framework SDK.

Each function takes an invoke's ``value`` as plain data and returns the plain JSON body
Teams expects (``{"composeExtension": ...}``); the store work runs in the caller's session.
Every answer that names anyone goes through :func:`bot.users.check_asker` first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import lookup
from bot.turn import ADAPTIVE_CARD
from bot.users import Refusal, User, check_asker
from cards import texts
from cards.build import build_card
from cards.extension import search_preview
from cards.views import (
    ChoiceView,
    InsertedView,
    MatchChoice,
    NoMatchView,
    ResultView,
    UnfurlView,
)
from signals.models import CrmRecord

QUERY = "composeExtension/query"
QUERY_LINK = "composeExtension/queryLink"
ANONYMOUS_QUERY_LINK = "composeExtension/anonymousQueryLink"
NAMES = frozenset({QUERY, QUERY_LINK, ANONYMOUS_QUERY_LINK})
COMMAND_ID = "whoKnows"
"""The search command's id in the manifest."""
QUERY_PARAMETER = "query"
MAX_RESULTS = 8
"""Leads listed for one search (each is ranked: Teams gives the query five seconds)."""
RECORD_TYPES = ("lead", "contact")

_GUID = re.compile(r"^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$")


def message(text: str) -> dict[str, Any]:
    """A plain text answer shown in place of results."""
    return {"composeExtension": {"type": "message", "text": text}}


def results(attachments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "composeExtension": {
            "type": "result",
            "attachmentLayout": "list",
            "attachments": attachments,
        }
    }


def _attachment(content: Mapping[str, Any], preview: Mapping[str, Any]) -> dict[str, Any]:
    return {"contentType": ADAPTIVE_CARD, "content": dict(content), "preview": dict(preview)}


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def query_of(value: Mapping[str, Any]) -> tuple[str, int]:
    """The typed text and the number of results already shown (``queryOptions.skip``)."""
    text = ""
    parameters = value.get("parameters")
    for parameter in parameters if isinstance(parameters, list) else []:
        if not isinstance(parameter, Mapping) or parameter.get("name") == "initialRun":
            continue
        candidate = parameter.get("value")
        if isinstance(candidate, str) and (parameter.get("name") == QUERY_PARAMETER or not text):
            text = candidate
    options = value.get("queryOptions")
    skip = _int(options.get("skip"), 0) if isinstance(options, Mapping) else 0
    return " ".join(text.split())[:200], max(skip, 0)


def _shared(session: Session, kind: str, lead_id: int) -> ResultView:
    """The answer as a card for a whole conversation: ranked for nobody in particular (no
    "you know them yourself", no "requested"); each viewer's own state comes by refresh."""
    return lookup.result_view(session, lookup.answer_for(session, kind, lead_id, None), None)


def _hit(session: Session, choice: MatchChoice) -> ResultView:
    return _shared(session, "company" if choice.is_company else "person", choice.lead_id)


def search(
    session: Session, value: Mapping[str, Any], user: User | None, viewer_id: str
) -> dict[str, Any]:
    """``composeExtension/query``: matching leads, each with their strongest connection in
    the preview (only the searcher sees the list) and, to insert, a card that names nobody:
    every viewer's own answer comes by refresh (``verbs.SHARED``), after the access check."""
    try:
        check_asker(user)
    except Refusal as refusal:
        return message(str(refusal))
    text, skip = query_of(value)
    if not text:
        return message(texts.SEARCH_HINT)
    if skip:
        return results([])  # every match is on the first page
    found = lookup.who_knows(session, text, None)  # a shared card: see _shared
    views: list[ResultView]
    if isinstance(found, ResultView):
        views = [found]
    else:
        choices = found.matches if isinstance(found, ChoiceView) else found.suggestions
        views = []
        for choice in choices[:MAX_RESULTS]:
            try:
                views.append(_hit(session, choice))
            except Refusal:
                continue
        if not views:
            query = found.query if isinstance(found, NoMatchView) else text
            return message(texts.search_nothing(query or text))
    viewers = (viewer_id,) if viewer_id else ()
    return results(
        [
            _attachment(build_card(InsertedView(view.lead, viewers)), search_preview(view))
            for view in views
        ]
    )


def host_of(crm_url: str) -> str | None:
    """The Dynamics 365 host links are unfurled for (``WHOKNOWS_DATAVERSE_URL``), if any."""
    host = urlsplit(crm_url.strip()).hostname if crm_url.strip() else None
    return host.lower() if host else None


def record_link(url: object, host: str | None) -> tuple[str, str] | None:
    """(record type, GUID) of a Dynamics 365 lead or contact URL on ``host``; None for
    anything else (another host, another record type, no record id)."""
    if host is None or not isinstance(url, str) or len(url) > 4096:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or (parts.hostname or "").lower() != host or port not in (None, 443):
        return None
    params = {**parse_qs(parts.fragment), **parse_qs(parts.query)}
    etn = (params.get("etn") or [""])[0].strip().lower()
    record_id = (params.get("id") or [""])[0].strip().strip("{}").lower()
    if etn not in RECORD_TYPES or not _GUID.match(record_id):
        return None
    return etn, record_id


def _record(session: Session, etn: str, record_id: str) -> CrmRecord | None:
    return session.scalar(
        select(CrmRecord).where(CrmRecord.source == etn, func.lower(CrmRecord.crm_id) == record_id)
    )


def _unfurled(colleague: bool = False) -> dict[str, Any]:
    """The card a link unfurls into: it names nobody (see :class:`UnfurlView`)."""
    content = build_card(UnfurlView(colleague=colleague))
    preview = {"contentType": "application/vnd.microsoft.card.thumbnail",
               "content": {"title": texts.ANONYMOUS_UNFURL_TITLE}}  # fmt: skip
    return results([_attachment(content, preview)])


def unfurl(
    session: Session, value: Mapping[str, Any], user: User | None, crm_url: str
) -> dict[str, Any]:
    """``composeExtension/queryLink``: a card that names nobody for a lead or contact link.

    Everyone in the conversation reads an unfurled card and Teams cannot refresh it for
    each viewer (Adaptive Cards 1.3), so it says where to ask instead of who knows the
    lead. Links to another host, to other record types or, for a colleague who may ask, to
    records the store does not hold unfurl into nothing.
    """
    link = record_link(value.get("url"), host_of(crm_url))
    if link is None:
        return results([])
    try:
        check_asker(user)
    except Refusal:
        return _unfurled()
    record = _record(session, *link)
    if record is None or record.person_id is None:
        return results([])
    return _unfurled(colleague=True)


def anonymous_unfurl(value: Mapping[str, Any], crm_url: str) -> dict[str, Any]:
    """``composeExtension/anonymousQueryLink`` (the app is not installed for the user): a
    card that names nobody, for links to the configured host only."""
    if record_link(value.get("url"), host_of(crm_url)) is None:
        return results([])
    return _unfurled()
