"""`whoknows sync` as a process that runs for months: one run after another, whatever fails.

A failing mailbox or source is the run's business (recorded, retried with backoff); what
reaches this loop is worse: the database gone (wait until it answers, give back our
leases, run again) or a bug (note it, back off, run again). Only a stop request ends the
loop early: the run finishes the pages it is writing, releases its leases and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from signals.graph import leases
from signals.graph.client import GraphClient
from signals.graph.errors import describe, is_db_outage
from signals.graph.sync import (
    Clock,
    RunSummary,
    SyncConfig,
    SyncRunner,
    default_owner,
    utc_now,
)

log = logging.getLogger("whoknows.sync")

OUTAGE_FIRST_WAIT = 0.5
OUTAGE_LONGEST_WAIT = 30.0


@dataclass
class WorkerHooks:
    """What the command line shows: each run's summary, each mailbox done, waits."""

    on_summary: Callable[[RunSummary], None] = lambda _s: None
    on_mailbox: Callable[[str], None] | None = None
    on_notice: Callable[[str], None] = lambda _m: None


@dataclass
class WorkerState:
    runs: int = 0
    failed_runs: int = 0  # in a row, for the backoff of a run that crashed
    outages: int = 0
    last: RunSummary = field(default_factory=RunSummary)


class Worker:
    """Runs :class:`SyncRunner` once or every ``interval`` seconds, with one owner name."""

    def __init__(
        self,
        engine: Engine,
        graph: GraphClient,
        config: SyncConfig,
        *,
        crm: GraphClient | None = None,
        owner: str | None = None,
        hooks: WorkerHooks | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.engine = engine
        self.graph = graph
        self.crm = crm
        self.config = config
        self.owner = owner or default_owner()
        self.hooks = hooks or WorkerHooks()
        self.clock = clock
        self.state = WorkerState()
        self._stop = asyncio.Event()
        self._runner: SyncRunner | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """SIGTERM: finish the current pages, release the leases, return."""
        self._stop.set()
        if self._runner is not None:
            self._runner.request_stop()

    async def run(self, *, once: bool, interval: float) -> RunSummary:
        """One run (``once``), or runs until stopped; returns the last run's summary."""
        try:
            while not self.stopping:
                summary = await self._one_run()
                if summary is None:
                    continue  # the database came back: run again at once
                self.state.last = summary
                self.hooks.on_summary(summary)
                if once or self.stopping:
                    break
                await self._pause(self._next_wait(interval))
        finally:
            await asyncio.to_thread(self._release_all)
        return self.state.last

    def _next_wait(self, interval: float) -> float:
        """The interval; sooner, with backoff, after a run that crashed."""
        if not self.state.failed_runs:
            return interval
        backoff = leases.Backoff(base=self.config.failure_backoff)
        return min(interval, backoff.delay(self.state.failed_runs))

    async def _one_run(self) -> RunSummary | None:
        """A run's summary; None when the database went away (and is back now)."""
        runner = SyncRunner(
            self.engine,
            self.graph,
            self.config,
            crm=self.crm,
            owner=self.owner,
            clock=self.clock,
            on_mailbox=self.hooks.on_mailbox,
        )
        self._runner = runner
        if self.stopping:
            runner.request_stop()
        try:
            summary = await runner.run_once()
        except Exception as exc:
            if is_db_outage(exc):
                await self._wait_for_database(exc)
                return None
            log.exception("sync run failed")
            self.state.failed_runs += 1
            summary = runner.summary
            summary.errors.append(f"run: {describe(exc)}")
            return summary
        finally:
            self._runner = None
        self.state.runs += 1
        self.state.failed_runs = 0
        return summary

    async def _wait_for_database(self, exc: BaseException) -> None:
        """Probe the store until it answers; then give back what this worker held."""
        self.state.outages += 1
        self.hooks.on_notice(f"database unavailable ({describe(exc)}); waiting for it")
        wait = OUTAGE_FIRST_WAIT
        while not self.stopping:
            try:
                await asyncio.to_thread(self._probe)
            except Exception as probe_error:
                if not is_db_outage(probe_error):
                    raise
                await self._pause(wait)
                wait = min(OUTAGE_LONGEST_WAIT, wait * 2)
                continue
            await asyncio.to_thread(self._release_all)
            self.hooks.on_notice("database back; resuming")
            return

    def _probe(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def _release_all(self) -> None:
        try:
            leases.release_all(self.engine, self.owner)
        except Exception as exc:  # the database is gone: the leases lapse on their own
            if not is_db_outage(exc):
                raise

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once on a stop request."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, seconds))
