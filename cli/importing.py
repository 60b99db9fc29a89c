"""`whoknows import PATH...`: mail, calendars, call logs and CRM lists into the store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from cli.common import UsageFailure, db_option, open_store_or_exit
from signals.importers import MissingPath, import_sources, plan


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--internal-domain",
    "internal_domains",
    multiple=True,
    metavar="DOMAIN",
    help="The organisation's domain (repeatable); overrides WHOKNOWS_INTERNAL_DOMAINS.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@db_option
def import_command(
    paths: tuple[Path, ...], internal_domains: tuple[str, ...], as_json: bool, db_url: str | None
) -> None:
    """Import mbox files, maildirs, folders of .eml, .ics calendars and CSV files.

    Importing the same data again adds nothing. Formats: docs/import-formats.md.
    """
    try:
        sources = plan(list(paths))
    except MissingPath as exc:
        raise UsageFailure(f"cannot import {exc.path}: no such file or folder") from exc
    engine = open_store_or_exit(db_url)
    try:
        with tqdm(
            total=sum(s.size for s in sources),
            unit="B",
            unit_scale=True,
            desc="importing",
            file=sys.stderr,
            disable=as_json or not sys.stderr.isatty(),
            leave=False,
        ) as bar:
            report = import_sources(
                engine,
                sources,
                internal_domains=list(internal_domains) or None,
                progress=bar.update,
            )
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(report.as_json()))
    else:
        click.echo(report.summary())
