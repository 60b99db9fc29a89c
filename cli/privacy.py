"""`whoknows privacy`: an administrator's data-protection requests about one address."""

from __future__ import annotations

import getpass
import json

import click

from cli.common import UsageFailure, db_option, open_store_or_exit
from signals import privacy
from signals.addresses import DomainPolicy, normalise_email


def _address(raw: str) -> str:
    email = normalise_email(raw)
    if email is None:
        raise UsageFailure(f"{raw!r} is not an e-mail address")
    return email


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


@click.group("privacy")
def privacy_group() -> None:
    """Data-protection requests: forget a person, or export what is stored about them."""


@privacy_group.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
def forget_command(email: str, yes: bool, db_url: str | None) -> None:
    """Delete everything stored from or about EMAIL and store nothing of theirs again.

    The same deletion as an opt-out in Teams (for a leaver or a data-subject request):
    interactions, participations, connection scores, the Graph item map and sync state
    of their mailbox, CRM records. Introductions and the audit log are kept; the request
    itself is audited.
    """
    address = _address(email)
    engine = open_store_or_exit(db_url)
    if not yes:
        click.confirm(f"Delete everything stored about {address} and block it?", abort=True)
    with engine.begin() as conn:
        done = privacy.forget_address(
            conn, address, actor=_actor(), internal=DomainPolicy(None).is_internal(address)
        )
    f = done.forgotten
    if not done.known:
        click.echo(f"nothing was stored about {address}; it is blocked from now on")
        return
    click.echo(
        f"forgot {address}: {f.interactions} interactions, {f.participations} "
        f"participations, {f.connections} connections, {f.graph_items} Graph items, "
        f"{f.sync_states} sync states, {f.crm_records} CRM records deleted; "
        "nothing of theirs is stored from now on"
    )


@privacy_group.command("export")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@db_option
def export_command(email: str, as_json: bool, db_url: str | None) -> None:
    """What the store holds about EMAIL: counts, dates, addresses and flags, never content."""
    address = _address(email)
    engine = open_store_or_exit(db_url)
    with engine.begin() as conn:
        person_id = privacy.person_for_email(conn, address)
        if person_id is None:
            raise click.ClickException(f"nothing is stored about {address}")
        data = privacy.export(conn, person_id)
        privacy.audit(conn, _actor(), "privacy.exported", f"person:{person_id}")
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
        return
    click.echo(f"{', '.join(data['addresses'])} (person {data['person_id']})")
    for section in ("flags", "dates"):
        for key, value in data[section].items():
            click.echo(f"  {key}: {value}")
    for key, value in data["counts"].items():
        click.echo(f"  {key}: {value}")
