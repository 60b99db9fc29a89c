"""Turn throughput of the bot server against a bare botbuilder bot, over loopback HTTP.

Many simulated users post Teams-shaped messages concurrently to (a) whoknows' own server
(``bot.server.create_app`` + ``bot.hosting.BotHost``) with a small card-reply handler and
(b) a minimal card-echo ``ActivityHandler`` run through the same ``process_activity``
workaround. Both answer with one Adaptive Card, captured by the local Bot Connector
stand-in. Passes alternate (a, b, a, b) so drift hits both alike. Everything runs in
this process on 127.0.0.1; the run is bounded by ``--turns`` and ``--max-seconds``.

    .venv/bin/python -m bench.turns [--users 50] [--turns 2000] [--json]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import click
from aiohttp import web
from botbuilder.core import ActivityHandler, CardFactory, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.auth import AuthConfig
from bot.conversation import WhoKnowsBot
from bot.hosting import BotHost
from bot.server import create_app
from bot.turn import InvokeResult, Reply, Turn
from signals.models import PairStrength, Person
from tests import teams
from tests.connector import Connector


def reply_card(text: str) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": f"You said: {text}", "wrap": True}],
        "actions": [{"type": "Action.Execute", "title": "Again", "verb": "again", "data": {}}],
    }


class CardBot:
    """whoknows' protocol: answer every message with a small card."""

    async def on_message(self, turn: Turn, io: Reply) -> None:
        await io.send(reply_card(turn.command_text))

    async def on_invoke(self, turn: Turn, io: Reply) -> InvokeResult:
        return InvokeResult.card(reply_card(turn.verb or ""))

    async def on_install(self, turn: Turn, io: Reply) -> None:
        return None


class EchoCardHandler(ActivityHandler):  # type: ignore[misc]
    """The baseline: a plain botbuilder bot doing the same."""

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        card = CardFactory.adaptive_card(reply_card(turn_context.activity.text or ""))
        await turn_context.send_activity(MessageFactory.attachment(card))


def baseline_app() -> web.Application:
    """The minimal aiohttp + CloudAdapter bot, avoiding ``CloudAdapter.process`` (4.17.1)."""
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(object()))
    handler = EchoCardHandler()

    async def messages(request: web.Request) -> web.Response:
        activity = Activity().deserialize(await request.json())
        header = request.headers.get("Authorization", "")
        response = await adapter.process_activity(header, activity, handler.on_turn)
        if response is not None:
            return web.json_response(response.body, status=response.status)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


@dataclass
class Pass:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0


@dataclass
class Result:
    name: str
    passes: list[Pass] = field(default_factory=list)
    replies: int = 0

    @property
    def latencies(self) -> list[float]:
        return [x for p in self.passes for x in p.latencies]

    @property
    def turns(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return sum(p.errors for p in self.passes)

    @property
    def turns_per_second(self) -> float:
        seconds = sum(p.seconds for p in self.passes)
        return self.turns / seconds if seconds else 0.0

    def percentile(self, q: float) -> float:
        data = sorted(self.latencies)
        if not data:
            return 0.0
        return data[min(len(data) - 1, round(q * (len(data) - 1)))] * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "errors": self.errors,
            "replies_captured": self.replies,
            "turns_per_second": round(self.turns_per_second, 1),
            "p50_ms": round(self.percentile(0.50), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2) if self.turns else 0,
        }


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/api/messages"


async def _one_pass(
    session: aiohttp.ClientSession,
    url: str,
    service_url: str,
    *,
    users: int,
    turns: int,
    deadline: float,
    tag: str,
    questions: list[str] | None = None,
) -> Pass:
    result = Pass()
    remaining = iter(range(turns))

    async def user(n: int) -> None:
        sender = teams.user(n)
        conversation = f"a:bench-{tag}-{n}"
        for i in remaining:
            if time.monotonic() > deadline:
                return
            text = questions[i % len(questions)] if questions else f"who knows lead {i}"
            body = teams.message(
                text,
                service_url=service_url,
                sender=sender,
                conversation_id=conversation,
            )
            started = time.perf_counter()
            async with session.post(url, json=body) as response:
                await response.read()
                ok = response.status == 200
            result.latencies.append(time.perf_counter() - started)
            result.errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(user(n) for n in range(1, users + 1)))
    result.seconds = time.perf_counter() - started
    return result


def demo_store() -> tuple[Engine, list[str]]:
    """A small demo organisation in a temporary file, and lead names to ask about."""
    from signals.demo.build import build_demo
    from signals.store import create_store

    folder = tempfile.mkdtemp(prefix="whoknows-bench-")
    engine = create_store(f"sqlite:///{folder}/demo.db")
    build_demo(engine, size="small")
    with Session(engine) as session:
        names = list(
            session.scalars(
                select(Person.display_name)
                .join(PairStrength, PairStrength.lead_id == Person.id)
                .where(~Person.internal)
                .group_by(Person.id, Person.display_name)
                .order_by(Person.id)
                .limit(200)
            )
        )
    return engine, [f"who knows {name}" for name in names]


async def run(
    *, users: int, turns: int, passes: int, max_seconds: float, real: bool = True
) -> dict[str, Any]:
    connector = await Connector().start()
    whoknows_bot = CardBot()
    ours, ours_url = await _serve(
        create_app(whoknows_bot, host=BotHost(whoknows_bot, AuthConfig()))
    )
    base, base_url = await _serve(baseline_app())
    targets: list[tuple[Result, str, list[str] | None]] = [
        (Result("whoknows"), ours_url, None),
        (Result("botbuilder"), base_url, None),
    ]
    runners = [ours, base]
    if real:
        engine, asked = await asyncio.to_thread(demo_store)
        product = WhoKnowsBot(engine, dev_mode=True)
        full, full_url = await _serve(create_app(product, host=BotHost(product, AuthConfig())))
        targets.append((Result("whoknows_full"), full_url, asked))
        runners.append(full)
    deadline = time.monotonic() + max_seconds
    per_pass = max(1, turns // passes)
    connector_limit = aiohttp.TCPConnector(limit=users * 2)
    try:
        async with aiohttp.ClientSession(connector=connector_limit) as session:
            for _, url, questions in targets:  # warm-up: imports, pools, first-call caches
                await _one_pass(
                    session,
                    url,
                    connector.service_url,
                    users=min(users, 10),
                    turns=50,
                    deadline=deadline,
                    tag="warm",
                    questions=questions,
                )
            for p in range(passes):
                for result, url, questions in targets:
                    before = len(connector.records)
                    measured = await _one_pass(
                        session,
                        url,
                        connector.service_url,
                        users=users,
                        turns=per_pass,
                        deadline=deadline,
                        tag=f"{result.name}-{p}",
                        questions=questions,
                    )
                    result.passes.append(measured)
                    result.replies += sum(1 for r in connector.records[before:] if r.cards)
    finally:
        for runner in runners:
            await runner.cleanup()
        await connector.stop()
    summaries = {result.name: result.summary() for result, _, _ in targets}
    ours_tps = summaries["whoknows"]["turns_per_second"]
    base_tps = summaries["botbuilder"]["turns_per_second"]
    return {
        "users": users,
        "turns_requested": turns,
        "passes": passes,
        **summaries,
        "throughput_ratio": round(ours_tps / base_tps, 3) if base_tps else None,
        "p50_ratio": _ratio(summaries, "p50_ms"),
        "p99_ratio": _ratio(summaries, "p99_ms"),
        "full_p50_ratio": _ratio(summaries, "p50_ms", "whoknows_full") if real else None,
        "full_throughput_ratio": round(summaries["whoknows_full"]["turns_per_second"] / base_tps, 3)
        if real and base_tps
        else None,
        "timed_out": time.monotonic() > deadline,
    }


def _ratio(summaries: dict[str, Any], key: str, ours: str = "whoknows") -> float | None:
    base = summaries["botbuilder"][key]
    return round(summaries[ours][key] / base, 3) if base else None


@click.command()
@click.option("--users", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option(
    "--turns",
    default=2000,
    show_default=True,
    type=click.IntRange(10, 100_000),
    help="Turns per server, split over the passes.",
)
@click.option("--passes", default=2, show_default=True, type=click.IntRange(1, 10))
@click.option("--max-seconds", default=60.0, show_default=True, type=click.FloatRange(1, 600))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--real/--no-real",
    default=True,
    show_default=True,
    help="Also run the full bot answering 'who knows' on a small demo organisation.",
)
def main(
    users: int, turns: int, passes: int, max_seconds: float, as_json: bool, real: bool
) -> None:
    """Concurrent simulated Teams users against whoknows and a bare botbuilder bot."""
    result = asyncio.run(
        run(users=users, turns=turns, passes=passes, max_seconds=max_seconds, real=real)
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{users} concurrent users, {passes} alternating passes, loopback HTTP")
    for name in ("whoknows", "botbuilder", "whoknows_full"):
        if name not in result:
            continue
        s = result[name]
        click.echo(
            f"  {name:<13} {s['turns']:>6} turns  {s['turns_per_second']:>8.1f} turns/s  "
            f"p50 {s['p50_ms']:>7.2f} ms  p99 {s['p99_ms']:>7.2f} ms  "
            f"errors {s['errors']}  cards captured {s['replies_captured']}"
        )
    click.echo(
        f"  whoknows/botbuilder: throughput x{result['throughput_ratio']}, "
        f"p50 x{result['p50_ratio']}, p99 x{result['p99_ratio']}"
        + ("  (stopped at --max-seconds)" if result["timed_out"] else "")
    )
    if real:
        click.echo(
            f"  full bot (ranking + cards + store)/botbuilder: throughput "
            f"x{result['full_throughput_ratio']}, p50 x{result['full_p50_ratio']}"
        )


if __name__ == "__main__":
    main()
