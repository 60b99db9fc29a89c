"""`whoknows cards --out DIR`: every card in every state, filled from the store.

The views come from the same service functions the bot uses, asked as the
demo's requester about the demo's lead; states the data can't show (an error,
the longest possible list page) keep the gallery's fictional samples.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import introductions, lookup, privacy, users
from cards.build import View
from cards.gallery import sample_views, write_gallery
from cards.settings import LIST_PAGE_SIZE
from cards.views import (
    ChoiceView,
    ComposeView,
    IntroductionView,
    NoMatchView,
    PersonRef,
    PrivacyView,
    RequestView,
    ResultView,
)
from cli.common import UsageFailure, db_option, open_store_or_exit
from signals.models import Address, Person


def _user(session: Session, email: str) -> users.User | None:
    person = session.scalar(
        select(Person).join(Address, Address.person_id == Person.id).where(Address.email == email)
    )
    if person is None:
        return None
    return users.User(
        person.id, person.display_name, email, person.upn, person.entra_id, person.opted_out
    )


def store_views(session: Session, requester: str, lead: str, company: str) -> dict[str, View]:
    """Gallery views from the store; keys missing here keep their samples."""
    views: dict[str, View] = {}
    user = _user(session, requester)
    result = lookup.who_knows(session, f"who knows {lead}", user)
    if not isinstance(result, ResultView):
        raise UsageFailure(f"{lead!r} is not a single lead in this store: try --lead")
    views["result.json"] = result
    company_result = lookup.who_knows(session, f"who knows {company}", user)
    if isinstance(company_result, ResultView):
        views["result_company.json"] = company_result
    if not result.colleagues:
        return views
    lead_id = result.lead.lead_id
    first = result.colleagues[0]
    views["details.json"] = lookup.details(session, "person", lead_id, first.person_id, user)
    views["list_page1.json"] = lookup.list_page(session, "person", lead_id, 1, user)
    if result.total > LIST_PAGE_SIZE.get():
        views["list_page2.json"] = lookup.list_page(session, "person", lead_id, 2, user)
    if user is not None:
        compose = introductions.compose(session, user, lead_id, first.person_id)
        views["compose.json"] = compose
        views.update(_introduction_views(compose, result))
        views["my_data.json"] = privacy.my_data(session, user)
        views["optout_confirm.json"] = PrivacyView(
            state="confirm", counts=privacy.data_counts(session, user.person_id)
        )
    no_match = lookup.who_knows(session, "who knows Yvone Mckai", user)
    if isinstance(no_match, NoMatchView | ChoiceView):
        views["no_match.json" if isinstance(no_match, NoMatchView) else "choice.json"] = no_match
    return views


def _introduction_views(compose: ComposeView, result: ResultView) -> dict[str, View]:
    from cards.introduction import introduction_text

    note = introduction_text(compose)
    colleague = PersonRef(
        compose.colleague.name,
        compose.colleague.email,
        compose.colleague.person_id,
        compose.colleague.upn,
    )
    base = IntroductionView(
        state="sent",
        requester=compose.requester,
        colleague=colleague,
        lead=compose.lead,
        today=result.today,
        request_id=1,
        note=note,
        requested_on=result.today,
    )
    views: dict[str, View] = {
        "request.json": RequestView(
            request_id=1,
            requester=compose.requester,
            lead=compose.lead,
            note=note,
            today=result.today,
            sent_on=result.today,
            evidence=compose.colleague.evidence,
        ),
    }
    for state in ("sent", "already_requested", "cancelled", "accepted", "declined", "not_known"):
        views[f"status_{state}.json"] = replace(base, state=state)
    views["status_unreachable.json"] = replace(base, state="unreachable", email_available=True)
    for state in ("accepted", "declined", "not_known"):
        views[f"notice_{state}.json"] = replace(base, state=f"notice_{state}")  # type: ignore[arg-type]
    return views


@click.command("cards")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write the card JSON files into.",
)
@click.option(
    "--as",
    "requester",
    default="blaine.carmack@contoso.com",
    show_default=True,
    help="The colleague asking.",
)
@click.option("--lead", default="Yvonne McKay", show_default=True, help="The lead asked about.")
@click.option(
    "--company", default="Fourth Coffee", show_default=True, help="The company asked about."
)
@db_option
def cards_command(
    out_dir: Path, requester: str, lead: str, company: str, db_url: str | None
) -> None:
    """Write every card in every state as JSON (a gallery for review and tests)."""
    engine = open_store_or_exit(db_url)
    views: dict[str, View] = dict(sample_views(datetime.now(UTC).date()))
    with Session(engine) as session:
        views.update(store_views(session, requester.strip().lower(), lead, company))
    written = write_gallery(out_dir, views)
    click.echo(f"wrote {len(written)} cards to {out_dir}")
