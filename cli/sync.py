"""`whoknows sync`: keep the store in sync with Microsoft 365 (Graph and Dataverse)."""

from __future__ import annotations

import asyncio
import functools
import signal
from datetime import datetime
from typing import Never

import click
from sqlalchemy import Engine, func, select
from tqdm import tqdm

from cli.common import db_option, open_store_or_exit
from signals import sync_settings
from signals.graph.auth import Credentials
from signals.graph.errors import SyncError
from signals.graph.sync import RunSummary, SyncConfig, make_clients
from signals.graph.worker import Worker, WorkerHooks
from signals.models import StalePair, StaleThread, SyncState
from signals.retention import last_purge

FAILING_SHOWN = 20


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "never"


def status_lines(engine: Engine) -> list[str]:
    """The last sync per source; mailbox folders are summed over mailboxes."""
    query = (
        select(
            SyncState.source,
            func.count(),
            func.max(SyncState.last_success_at),
            func.min(SyncState.last_success_at),
            func.count(SyncState.last_error),
            func.sum(SyncState.items_total),
        )
        .group_by(SyncState.source)
        .order_by(SyncState.source)
    )
    lines = []
    with engine.connect() as conn:
        for source, n, newest, oldest, errors, items in conn.execute(query):
            scope = f"{n} mailboxes, oldest {_when(oldest)}, " if n > 1 else ""
            lines.append(
                f"{source:<20} last success {_when(newest)} ({scope}{errors} with errors, "
                f"{items or 0} items)"
            )
        waiting = [
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (StalePair, StaleThread)
        ]
        failing = conn.execute(
            select(
                SyncState.source,
                SyncState.scope,
                SyncState.last_error,
                SyncState.failures,
                SyncState.retry_at,
            )
            .where(SyncState.last_error.is_not(None))
            .order_by(SyncState.retry_at.is_(None), SyncState.retry_at, SyncState.source)
            .limit(FAILING_SHOWN + 1)
        ).all()
        purged = last_purge(conn)
    if failing:
        lines.append("failing (last error, failures in a row, next retry):")
    for source, scope, error, failures, retry_at in failing[:FAILING_SHOWN]:
        where = f"{source} {scope}".strip()
        retry = _when(retry_at) if retry_at else "next run"
        lines.append(f"  {where}: {error} ({failures}x, next retry {retry})")
    if len(failing) > FAILING_SHOWN:
        lines.append(f"  ... and more (showing the {FAILING_SHOWN} retried soonest)")
    lines.append(purged.line() if purged else "no purge has run yet")
    if any(waiting):
        lines.append(
            f"connections to recompute: {waiting[0]} pairs, {waiting[1]} threads "
            "(removed or late messages; the next sync or import run does it)"
        )
    if len(lines) == 1:
        lines.insert(0, "no sync has run yet")
    return lines


async def _run(
    engine: Engine, config: SyncConfig, once: bool, interval: float
) -> tuple[RunSummary, bool]:
    """Runs until done (``once``) or SIGTERM; returns the last summary and whether stopped."""
    creds = Credentials.from_settings()
    graph, crm = make_clients(creds, config)
    bar: tqdm[Never] = tqdm(desc="mailboxes", unit="mailbox", leave=False)
    worker = Worker(
        engine,
        graph,
        config,
        crm=crm,
        hooks=WorkerHooks(
            on_summary=functools.partial(_report, bar),
            on_mailbox=functools.partial(_advance, bar),
            on_notice=_notice,
        ),
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.request_stop)
    try:
        summary = await worker.run(once=once, interval=interval)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        bar.close()
        await graph.close()
        if crm is not None:
            await crm.close()
    return summary, worker.stopping


def _advance(bar: tqdm[Never], _mailbox: str) -> None:
    bar.update(1)


def _notice(message: str) -> None:
    click.echo(f"sync: {message}", err=True)


def _report(bar: tqdm[Never], summary: RunSummary) -> None:
    bar.reset()
    click.echo(f"sync: {summary.line()}")
    for skipped in summary.skipped:
        click.echo(f"  skipped {skipped}")
    for error in summary.errors:
        click.echo(f"  error {error}", err=True)


@click.command("sync")
@click.option("--once", is_flag=True, help="Run one sync and exit (default: run every --interval).")
@click.option(
    "--interval",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Seconds between runs (default: $WHOKNOWS_SYNC_INTERVAL, 900).",
)
@click.option(
    "--backfill-days",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="How far back the first sync reads (default: $WHOKNOWS_SYNC_BACKFILL_DAYS, 365).",
)
@click.option(
    "--wait",
    "wait_for_others",
    is_flag=True,
    help="With --once: wait for the mailboxes other workers hold instead of leaving them.",
)
@click.option(
    "--status",
    is_flag=True,
    help="Show the last sync per source and the failing mailboxes, and exit.",
)
@db_option
def sync_command(
    once: bool,
    interval: float | None,
    backfill_days: int | None,
    wait_for_others: bool,
    status: bool,
    db_url: str | None,
) -> None:
    """Keep the store in sync with Microsoft 365: directory, mail, calendars, calls, CRM."""
    engine = open_store_or_exit(db_url)
    if status:
        for line in status_lines(engine):
            click.echo(line)
        return
    config = SyncConfig.from_settings(backfill_days=backfill_days)
    config.wait_for_others = wait_for_others
    wait = float(sync_settings.SYNC_INTERVAL.get()) if interval is None else interval
    try:
        summary, stopped = asyncio.run(_run(engine, config, once, wait))
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        click.echo("sync stopped; it resumes from the last committed page")
        return
    if stopped:
        click.echo("sync stopped on request; it resumes from the last committed page")
        return
    if summary.errors:
        raise click.ClickException(f"{len(summary.errors)} sources failed; see above")
