"""`whoknows init [--demo]`: create the store and, on request, fill it with the demo company."""

from __future__ import annotations

import sys
from datetime import date

import click
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from cli.common import db_option
from signals.config import SettingError

NEXT_STEPS = """\
Try next:
  whoknows ask "who knows Yvonne McKay"
  whoknows ask "who knows Fourth Coffee"
  whoknows serve            (the bot, for the Agents Playground or Teams)"""


@click.command("init")
@click.option("--demo", is_flag=True, help="Fill the store with the generated demo company.")
@click.option(
    "--size",
    type=click.Choice(["tiny", "small", "large"]),
    default="small",
    show_default=True,
    help="tiny: 40 colleagues; small: 300 colleagues, ~45k interactions; "
    "large: 5,000 colleagues, millions of interactions.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the generator.")
@click.option(
    "--force",
    is_flag=True,
    help="With --demo: delete everything the store holds first, then fill it.",
)
@db_option
def init_command(demo: bool, size: str, seed: int, force: bool, db_url: str | None) -> None:
    """Create the store (or migrate it) and optionally fill it with the demo organisation.

    The demo is Contoso (contoso.com): colleagues, customers, CRM leads and a year of
    e-mail, meetings and calls, with one worked story: who knows Yvonne McKay of
    Fourth Coffee.
    """
    from signals import db
    from signals.demo.build import build_demo, clear_store, store_is_empty
    from signals.demo.org import SIZES
    from signals.store import create_store

    try:
        engine = create_store(db_url)
    except (SettingError, SQLAlchemyError, db.StoreError) as exc:
        raise click.ClickException(f"cannot create the store: {exc}") from exc
    where = engine.url.render_as_string(hide_password=True)
    try:
        if not demo:
            click.echo(f"store at {where} is ready (schema {db.current_revision(engine)})")
            click.echo("Import mail with `whoknows import PATH...`, or try `whoknows init --demo`.")
            return
        if not store_is_empty(engine):
            if not force:
                raise click.ClickException(
                    f"the store at {where} already holds data; the demo goes into an empty "
                    "store. Use --force to delete what it holds and fill it with the demo, "
                    "or --db to choose another store."
                )
            clear_store(engine)
        expected = {"tiny": 3_000, "small": 50_000}.get(size, 6_000_000)
        click.echo(f"building the {size} demo organisation into {where} ...")
        with tqdm(
            total=expected,
            unit=" interactions",
            unit_scale=True,
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
            leave=False,
        ) as bar:

            def advance(n: int) -> None:
                bar.update(n)

            summary = build_demo(
                engine, SIZES[size], seed=seed, today=date.today(), progress=advance
            )
    finally:
        engine.dispose()
    click.echo(
        f"Contoso demo ({summary.size}, seed {summary.seed}) built in {summary.seconds:.1f} s:\n"
        f"  {summary.colleagues:,} colleagues: {summary.mailboxes_analysed:,} mailboxes "
        f"analysed, {summary.opted_out} opted out, {summary.departed} departed\n"
        f"  {summary.contacts:,} external contacts at {summary.companies:,} companies, "
        f"{summary.crm_records:,} CRM leads and contacts\n"
        f"  {summary.interactions:,} interactions, {summary.pairs:,} connections\n"
        "The story: Blaine Carmack sells coffee makers; his lead is Yvonne McKay, owner of "
        "Fourth Coffee.\n" + NEXT_STEPS
    )
