"""Privacy cards: opt-out confirmation, opted out, opted back in, and "my data"."""

from __future__ import annotations

from typing import Any

from cards import texts, verbs
from cards.elements import Action, Element, bullets, card, execute, facts, subtitle, text, title
from cards.views import MyDataView, PrivacyView


def privacy_card(view: PrivacyView) -> dict[str, Any]:
    """``confirm``: what will be deleted; ``opted_out``: what was; ``opted_in``: welcome back."""
    body: list[Element]
    actions: list[Action] = []
    lines = texts.deletion_lines(view.counts) if view.counts is not None else []
    match view.state:
        case "confirm":
            heading = texts.OPT_OUT_CONFIRM_TITLE
            body = [title(heading), text(texts.OPT_OUT_CONFIRM_TEXT, spacing="small")]
            body.append(
                bullets(lines, spacing="small")
                if lines
                else text(texts.OPTED_OUT_NOTHING, subtle=True, spacing="small")
            )
            body.append(text(texts.OPT_OUT_KEEPS, size="small", subtle=True, spacing="medium"))
            actions = [
                execute(texts.CONFIRM_OPT_OUT, verbs.OPT_OUT_CONFIRM, style="destructive"),
                execute(texts.KEEP_MY_DATA, verbs.OPT_OUT_CANCEL),
            ]
        case "opted_out":
            heading = texts.OPTED_OUT_TITLE
            body = [title(heading)]
            if lines:
                body += [text(texts.OPTED_OUT_TEXT, spacing="small"), bullets(lines)]
            else:
                body.append(text(texts.OPTED_OUT_NOTHING, spacing="small"))
            actions = [execute(texts.OPT_IN, verbs.OPT_IN)]
        case "opted_in":
            heading = texts.OPTED_IN_TITLE
            body = [title(heading), text(texts.OPTED_IN_TEXT, spacing="small")]
        case _:  # pragma: no cover
            raise ValueError(f"unknown state {view.state!r}")
    return card(body, actions, fallback_text=heading)


def my_data_card(view: MyDataView) -> dict[str, Any]:
    """Counts of what the store holds about the user, never contents."""
    body: list[Element] = [
        title(texts.MY_DATA_TITLE),
        subtitle(f"{view.name} · {view.email}"),
        text(texts.MY_DATA_INTRO, size="small", spacing="small"),
        facts(texts.count_lines(view.counts), spacing="medium"),
    ]
    notes = [texts.mailbox_analysed(view.mailbox_analysed_on, view.today)]
    if view.first_record and view.last_record:
        notes.append(texts.records_span(view.first_record, view.last_record))
    if view.opted_out:
        notes.append(texts.MY_DATA_OPTED_OUT)
    body.append(text(" ".join(notes), size="small", subtle=True, spacing="medium"))
    action = (
        execute(texts.OPT_IN, verbs.OPT_IN)
        if view.opted_out
        else execute(texts.OPT_OUT, verbs.OPT_OUT)
    )
    return card(body, [action], fallback_text=texts.MY_DATA_TITLE)
