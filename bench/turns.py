"""Turn throughput of the bot server on each SDK against a bare bot on the same SDK.

Many simulated users post Teams-shaped messages concurrently to, for each SDK (botbuilder
and the Microsoft 365 Agents SDK): (a) whoknows' own server (``bot.server.create_app`` +
``bot.hosting.create_host(sdk=...)``) with a small card-reply handler, (b) a minimal
card-echo ``ActivityHandler`` on that SDK's own ``CloudAdapter``, and (c) with ``--real``
the full bot answering "who knows <lead>" on the small demo. All answer with one Adaptive
Card, captured by the local Bot Connector stand-in. Passes alternate over all servers so
drift hits them alike. Everything runs in this process on 127.0.0.1; the run is bounded
by ``--turns`` and ``--max-seconds``. (A benchmark may import the SDKs: the bare bots are
the baseline.)

    .venv/bin/python -m bench.turns [--users 50] [--turns 2000] [--json]
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import click
from aiohttp import web
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.auth import AuthConfig
from bot.conversation import WhoKnowsBot
from bot.hosting import SDKS, create_host
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


def bare_botbuilder_app() -> web.Application:
    """The minimal aiohttp + botbuilder CloudAdapter bot, avoiding ``CloudAdapter.process``
    (it answers 500 to invokes in 4.17.1)."""
    from botbuilder.core import ActivityHandler, CardFactory, MessageFactory, TurnContext
    from botbuilder.integration.aiohttp import (
        CloudAdapter,
        ConfigurationBotFrameworkAuthentication,
    )
    from botbuilder.schema import Activity

    class EchoCardHandler(ActivityHandler):  # type: ignore[misc]
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            card = CardFactory.adaptive_card(reply_card(turn_context.activity.text or ""))
            await turn_context.send_activity(MessageFactory.attachment(card))

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


def bare_agents_app() -> web.Application:
    """The minimal aiohttp + Agents SDK CloudAdapter bot, as its samples write it."""
    from microsoft_agents.activity import TurnContextProtocol
    from microsoft_agents.authentication.msal import MsalConnectionManager
    from microsoft_agents.hosting.aiohttp import CloudAdapter
    from microsoft_agents.hosting.core import (
        ActivityHandler,
        CardFactory,
        MessageFactory,
    )
    from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration

    class EchoCardHandler(ActivityHandler):
        async def on_message_activity(self, turn_context: TurnContextProtocol[Any]) -> None:
            card = CardFactory.adaptive_card(reply_card(turn_context.activity.text or ""))
            await turn_context.send_activity(MessageFactory.attachment(card))

    # Its user-token client warns on every anonymous turn; a sample would not log that.
    logging.getLogger("microsoft_agents").setLevel(logging.ERROR)
    anonymous = AgentAuthConfiguration(anonymous_allowed=True)
    connections = MsalConnectionManager(
        connections_configurations={"SERVICE_CONNECTION": anonymous}
    )
    adapter = CloudAdapter(connection_manager=connections)
    handler = EchoCardHandler()

    async def messages(request: web.Request) -> web.Response:
        response = await adapter.process(request, handler)
        return response if response is not None else web.Response(status=200)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


BARE = {"botbuilder": bare_botbuilder_app, "agents": bare_agents_app}


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
                ok = 200 <= response.status < 300  # the Agents SDK answers 202
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
    targets: list[tuple[Result, str, list[str] | None]] = []
    runners = []
    product: list[tuple[str, WhoKnowsBot]] = []
    asked: list[str] = []
    if real:
        engine, asked = await asyncio.to_thread(demo_store)
        product = [(sdk, WhoKnowsBot(engine, dev_mode=True)) for sdk in SDKS]
    for sdk in SDKS:
        card_bot = CardBot()
        servers = [
            (f"whoknows_{sdk}", create_app(card_bot, host=create_host(card_bot, sdk=sdk)), None),
            (f"bare_{sdk}", BARE[sdk](), None),
        ]
        for name, app, questions in servers:
            runner, url = await _serve(app)
            runners.append(runner)
            targets.append((Result(name), url, questions))
    for sdk, bot in product:
        runner, url = await _serve(create_app(bot, host=create_host(bot, AuthConfig(), sdk=sdk)))
        runners.append(runner)
        targets.append((Result(f"full_{sdk}"), url, asked))
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
    ratios: dict[str, Any] = {}
    for sdk in SDKS:
        for ours in (f"whoknows_{sdk}", f"full_{sdk}"):
            if ours in summaries:
                ratios[f"{ours}/bare_{sdk}"] = {
                    "throughput": _ratio(summaries, "turns_per_second", ours, f"bare_{sdk}"),
                    "p50": _ratio(summaries, "p50_ms", ours, f"bare_{sdk}"),
                    "p99": _ratio(summaries, "p99_ms", ours, f"bare_{sdk}"),
                }
    ratios["whoknows_agents/whoknows_botbuilder"] = {
        "throughput": _ratio(
            summaries, "turns_per_second", "whoknows_agents", "whoknows_botbuilder"
        )
    }
    return {
        "users": users,
        "turns_requested": turns,
        "passes": passes,
        "servers": summaries,
        "ratios": ratios,
        "timed_out": time.monotonic() > deadline,
    }


def _ratio(summaries: dict[str, Any], key: str, ours: str, base: str) -> float | None:
    theirs = summaries[base][key]
    return round(summaries[ours][key] / theirs, 3) if theirs else None


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
    """Concurrent simulated Teams users against whoknows and a bare bot on each SDK."""
    result = asyncio.run(
        run(users=users, turns=turns, passes=passes, max_seconds=max_seconds, real=real)
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{users} concurrent users, {passes} alternating passes, loopback HTTP")
    for name, s in result["servers"].items():
        click.echo(
            f"  {name:<20} {s['turns']:>6} turns  {s['turns_per_second']:>8.1f} turns/s  "
            f"p50 {s['p50_ms']:>7.2f} ms  p99 {s['p99_ms']:>7.2f} ms  "
            f"errors {s['errors']}  cards captured {s['replies_captured']}"
        )
    for name, r in result["ratios"].items():
        parts = ", ".join(f"{k} x{v}" for k, v in r.items())
        click.echo(f"  {name}: {parts}")
    if result["timed_out"]:
        click.echo("  (stopped at --max-seconds)")


if __name__ == "__main__":
    main()
