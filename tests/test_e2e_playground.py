"""End to end in a real Teams-like client: the Microsoft 365 Agents Playground, driven
headless in Chromium by tests/e2e/playground.mjs.

The story: Blaine Carmack asks "who knows Yvonne McKay", sees Tricia Potter first as
Strong, opens the list view, asks Tricia for an introduction with his own note and sends
it; the confirmation replaces the card. He searches for Yvonne with the search message
extension, inserts the result into the chat and opens Details on it, and pastes a link to
her Dynamics 365 lead record, which unfurls into who knows her. Then he opts out. The test
checks what the page showed, what the Playground recorded on the wire, and what the store
holds afterwards.
Screenshots go to a temporary folder; with WHOKNOWS_TEST_SCREENSHOTS=docs/screenshots
they refresh the ones the README shows.

Skipped only when Chromium or the npm packages are missing on a developer machine;
with CI=true their absence is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cli import demo
from signals.db import open_store
from signals.demo.build import build_demo
from signals.models import Address, AuditEntry, CrmRecord, Introduction, Person
from signals.store import create_store

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "e2e" / "playground.mjs"
SHOTS = Path(
    os.environ.get("WHOKNOWS_TEST_SCREENSHOTS") or tempfile.mkdtemp(prefix="whoknows-e2e-shots-")
).resolve()
CHROMIUM = Path("/usr/bin/chromium")
NOTE = (
    "Hi Tricia, could you introduce me to Yvonne McKay at Fourth Coffee? "
    "I'd like to show her our new espresso machines. Thanks, Blaine"
)
SCREENSHOTS = (
    "who-knows.png", "list-view.png", "compose.png", "sent.png", "opt-out.png",
    "search-extension.png", "search-inserted.png", "unfurl.png",
)  # fmt: skip
CRM = "https://contoso.crm.dynamics.com"
FLOW_TIMEOUT = 150  # seconds for the whole browser run; each step waits at most 20 s


def _missing() -> list[str]:
    missing = []
    if shutil.which("node") is None:
        missing.append("Node.js (node)")
    if not (ROOT / demo.PLAYGROUND_CLI).is_file():
        missing.append("node_modules/@microsoft/m365agentsplayground (run `npm ci`)")
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        missing.append("node_modules/playwright-core (run `npm ci`)")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    return missing


@pytest.fixture(scope="module")
def requirements() -> tuple[str, Path]:
    missing = _missing()
    if missing:
        message = "the end-to-end test needs " + ", ".join(missing)
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(message + " (CI is set: install them, e.g. `make system-deps node`)")
        pytest.skip(message)
    found = demo.find_playground([ROOT])
    assert found is not None
    return found


@dataclass
class Run:
    result: dict[str, Any]
    stderr: str
    records: list[dict[str, Any]]
    db_url: str
    workdir: Path
    started: float


def _child_env() -> dict[str, str]:
    """The environment without the developer's own whoknows configuration."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WHOKNOWS_") and not k.startswith("Microsoft")
    }


def load_recording(path: Path) -> list[dict[str, Any]]:
    """The Playground's events recording: JSON records separated by `---` lines."""
    if not path.exists():
        return []
    parts = path.read_text().split("\n---\n")
    return [json.loads(part) for part in parts if part.strip()]


@pytest.fixture(scope="module", params=["botbuilder", "agents"])
def run(
    request: pytest.FixtureRequest,
    requirements: tuple[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    """The whole story, once with each SDK hosting the bot (``WHOKNOWS_BOT_SDK``)."""
    node, cli = requirements
    sdk: str = request.param
    workdir = tmp_path_factory.mktemp("e2e")
    db_url = f"sqlite:///{workdir / 'demo.db'}"
    engine = create_store(db_url)
    try:
        build_demo(engine, "tiny", today=date.today())
        people = demo.playground_users(engine, demo.DEMO_USER)
        with Session(engine) as session:
            lead = session.scalar(
                select(CrmRecord).where(
                    CrmRecord.full_name == "Yvonne McKay", CrmRecord.source == "lead"
                )
            )
            assert lead is not None
            lead_url = (
                f"{CRM}/main.aspx?appid=00000000-0000-4000-8000-0000000000a1"
                f"&pagetype=entityrecord&etn=lead&id={lead.crm_id}"
            )
    finally:
        engine.dispose()
    assert people is not None, "the tiny demo company lacks Blaine Carmack or colleagues"
    playground_dir = workdir / "playground"
    playground_dir.mkdir()
    (playground_dir / demo.PLAYGROUND_CONFIG).write_text(demo.playground_config(*people))
    recording = workdir / "recording.log"
    started = time.time()

    bot: subprocess.Popen[bytes] | None = None
    playground: subprocess.Popen[bytes] | None = None
    try:
        bot_port = demo.free_port()
        bot_log = workdir / "bot.log"
        env = demo.bot_env(db_url, demo.DEMO_USER, base=_child_env() | {"WHOKNOWS_BOT_SDK": sdk})
        env["WHOKNOWS_DATAVERSE_URL"] = CRM  # links to this host unfurl
        bot = demo.start(demo.serve_argv(bot_port), log=bot_log, env=env)
        health = f"http://127.0.0.1:{bot_port}/healthz"
        demo.wait_for_http(health, bot, log=bot_log, what="the bot")
        with urllib.request.urlopen(health, timeout=10) as response:
            assert json.load(response)["sdk"] == sdk

        pg_log = workdir / "playground.log"
        wanted = demo.free_port()
        pg_env = demo.playground_env(recording=recording, base=_child_env())
        playground = demo.start(
            demo.playground_argv(
                node, cli, f"http://127.0.0.1:{bot_port}/api/messages", port=wanted, record=True
            ),
            log=pg_log,
            cwd=playground_dir,
            env=pg_env,
        )
        port = demo.listening_port(pg_log, playground, wanted=wanted)
        page = f"http://localhost:{port}"
        demo.wait_for_http(
            page, playground, log=demo.playground_log(playground_dir), what="the Agents Playground"
        )

        out = workdir / "result.json"
        proc = subprocess.run(
            [
                *("node", str(SCRIPT), "--url", page, "--shots", str(SHOTS), "--out", str(out)),
                *("--chromium", str(CHROMIUM), "--note", NOTE, "--lead-url", lead_url),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=FLOW_TIMEOUT,
            check=False,
        )
        result = json.loads(out.read_text()) if out.exists() else {"ok": False}
        yield Run(result, proc.stderr, load_recording(recording), db_url, workdir, started)
    finally:
        demo.stop(playground)
        demo.stop(bot)


# -- helpers ---------------------------------------------------------------------------


def last_card(run: Run, step: str) -> str:
    cards: list[str] = run.result["steps"][step]["cards"]
    assert cards, f"no card on the page after {step}"
    return cards[-1]


def lines(text: str) -> list[str]:
    """Non-empty lines, with any run of spaces (the cards use en and no-break spaces) as one."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def invokes(run: Run, name: str = "adaptiveCard/action") -> list[dict[str, Any]]:
    return [
        r
        for r in run.records
        if r["activityName"] == "invoke"
        and r["direction"].endswith("-> User Application")
        and r["request"]["body"].get("name") == name
    ]


def verb_of(record: dict[str, Any]) -> str:
    return str(record["request"]["body"]["value"]["action"]["verb"])


def bot_messages(run: Run) -> list[dict[str, Any]]:
    return [
        r
        for r in run.records
        if r["direction"].startswith("User Application") and r["activityName"] == "message"
    ]


def card_json(record: dict[str, Any]) -> str:
    body = record["request"]["body"]
    return json.dumps([a.get("content") for a in body.get("attachments") or []])


# -- the tests -------------------------------------------------------------------------


def test_the_flow_completes_in_the_playground(run: Run) -> None:
    assert run.result.get("ok"), (
        f"failed at {run.result.get('failedStep')}: {run.result.get('error')}\n{run.stderr}"
    )


def test_the_card_shows_tricia_potter_first_as_strong(run: Run) -> None:
    text = lines(last_card(run, "who_knows"))
    assert text[0] == "Who knows Yvonne McKay"
    names = [n for n in ("Tricia Potter", "Ray Tanaka", "Priya Raman") if n in text]
    assert names[0] == "Tricia Potter"
    first = text.index("Tricia Potter")
    assert text[first + 1].endswith("Strong")
    # Ray's thirty unanswered e-mails: Weak, below everyone she answered, off the top five.
    assert "Ray Tanaka" not in text and text.index("Tricia Potter") < text.index("Priya Raman")
    assert any(line.startswith(("Mail up to", "Stale: mail up to")) for line in text)
    assert any(line.startswith("List view") for line in text)


def test_clicks_replace_the_card_instead_of_adding_one(run: Run) -> None:
    steps = run.result["steps"]
    shown = len(steps["who_knows"]["cards"])
    assert steps["list_view"]["cardCount"] == shown
    assert steps["compose"]["cardCount"] == shown
    assert steps["sent"]["cardCount"] == shown
    listing = lines(last_card(run, "list_view"))
    assert listing[0] == "Everyone who knows Yvonne McKay"
    tricia = listing.index("1. Tricia Potter ●●● Strong")
    ray = next(i for i, line in enumerate(listing) if line.endswith("Ray Tanaka ●○○ Weak"))
    assert tricia < listing.index("2. Priya Raman ●●○ Moderate") < ray
    assert not any("Who knows Yvonne McKay" in c for c in steps["list_view"]["cards"])
    assert lines(last_card(run, "compose"))[0] == "Ask Tricia Potter for an introduction"
    sent = last_card(run, "sent")
    assert "Request sent" in sent
    assert "Tricia Potter has your request to be introduced to Yvonne McKay" in sent
    assert NOTE in sent
    assert not any("Ask Tricia Potter" in c for c in steps["sent"]["cards"])


def test_opt_out_asks_then_confirms(run: Run) -> None:
    prompt = last_card(run, "opt_out_prompt")
    assert "Opt out of Whoknows?" in prompt
    assert "Opt out and delete" in prompt
    done = last_card(run, "opted_out")
    assert "You have opted out" in done
    assert run.result["steps"]["opted_out"]["cardCount"] == len(
        run.result["steps"]["opt_out_prompt"]["cards"]
    )


def test_the_playground_recorded_the_conversation(run: Run) -> None:
    typed = [
        r["request"]["body"].get("text")
        for r in run.records
        if r["activityName"] == "message"
        and r["direction"].endswith("-> User Application")
        and not r["request"]["body"].get("attachments")
    ]
    assert typed == ["who knows Yvonne McKay", "opt out"]
    answer = [m for m in bot_messages(run) if "Who knows Yvonne McKay" in card_json(m)]
    assert len(answer) == 1
    assert answer[0]["response"]["statusCode"] == 201
    card = card_json(answer[0])
    assert card.index("Tricia Potter") < card.index("Strong") < card.index("Priya Raman")
    assert "Ray Tanaka" not in card  # Weak, below everyone she answered: off the top five

    clicks = invokes(run)
    # shared: Show me on the inserted card, which the Playground does not refresh itself
    assert [verb_of(r) for r in clicks] == [
        "list", "introduce", "send", "shared", "details", "opt_out_confirm"
    ]  # fmt: skip
    for record in clicks:
        assert record["request"]["body"]["value"]["action"]["type"] == "Action.Execute"
        assert record["response"]["statusCode"] == 200
        body = record["response"]["body"]
        assert body["statusCode"] == 200
        assert body["type"] == "application/vnd.microsoft.card.adaptive"
    send = clicks[2]["request"]["body"]["value"]["action"]["data"]
    assert "Tricia Potter" in json.dumps(clicks[3]["response"]["body"]["value"])
    assert "Contact with Yvonne McKay" in json.dumps(clicks[4]["response"]["body"]["value"])
    assert send["note"] == NOTE
    assert "Request sent" in json.dumps(clicks[2]["response"]["body"]["value"])


def test_the_request_reached_tricia_in_teams(run: Run) -> None:
    created = [r for r in run.records if r["activityName"] == "createConversation"]
    assert len(created) == 1
    assert created[0]["response"]["statusCode"] == 201
    members = created[0]["request"]["body"]["members"]
    conversation = created[0]["response"]["body"]["id"]
    engine = open_store(run.db_url)
    try:
        with Session(engine) as session:
            tricia = session.scalar(
                select(Person)
                .join(Address, Address.person_id == Person.id)
                .where(Address.email == "tricia.potter@contoso.com")
            )
            assert tricia is not None
            assert [m["id"] for m in members] == [tricia.entra_id]
            intro = session.scalar(
                select(Introduction).where(Introduction.introducer_id == tricia.id)
            )
            assert intro is not None
            assert intro.note == NOTE
            assert intro.state == "sent"
            assert intro.request_activity_id
    finally:
        engine.dispose()
    to_tricia = [
        m for m in bot_messages(run) if conversation in m["request"]["url"].replace("%40", "@")
    ]
    assert len(to_tricia) == 1
    assert to_tricia[0]["response"]["statusCode"] == 201
    request_card = card_json(to_tricia[0])
    assert "Blaine Carmack asks for an introduction" in request_card
    assert NOTE in request_card
    assert "Happy to introduce" in request_card


def test_opting_out_deleted_blaines_data(run: Run) -> None:
    engine = open_store(run.db_url)
    try:
        with Session(engine) as session:
            blaine = session.scalar(
                select(Person)
                .join(Address, Address.person_id == Person.id)
                .where(Address.email == demo.DEMO_USER)
            )
            assert blaine is not None
            assert blaine.opted_out
            actions = list(
                session.scalars(select(AuditEntry.action).where(AuditEntry.actor == demo.DEMO_USER))
            )
    finally:
        engine.dispose()
    assert "introduction.requested" in actions
    assert "privacy.opted_out" in actions


def test_screenshots_were_saved(run: Run) -> None:
    from PIL import Image

    for name in SCREENSHOTS:
        path = SHOTS / name
        assert path.exists(), name
        assert path.stat().st_mtime >= run.started, f"{name} is from an earlier run"
        with Image.open(path) as image:
            assert image.size == (1280, 1200)
            # Not a blank page: a rendered chat has many colours.
            colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
            assert colours is not None and len(colours) > 50, name


def test_install_welcomes_once_and_nothing_fails(run: Run) -> None:
    """The Playground sends installationUpdate and conversationUpdate at the same moment;
    both turns store the user's conversation, and exactly one sends the welcome."""
    installs = [
        r
        for r in run.records
        if r["activityName"] in ("installationUpdate", "conversationUpdate")
        and r["direction"].endswith("-> User Application")
    ]
    assert {r["activityName"] for r in installs} == {"installationUpdate", "conversationUpdate"}
    assert all(r["response"]["statusCode"] == 200 for r in installs)
    welcomes = [m for m in bot_messages(run) if "Welcome to Whoknows" in card_json(m)]
    assert len(welcomes) == 1
    texts = [m["request"]["body"].get("text") or "" for m in bot_messages(run)]
    assert not [t for t in texts if "went wrong" in t]
    assert all(m["response"]["statusCode"] == 201 for m in bot_messages(run))


def test_the_search_extension_finds_and_inserts_the_answer(run: Run) -> None:
    """The Playground's "Search Command": the preview names the strongest connection; the
    chosen card goes into the chat and its buttons act for whoever clicks."""
    results = lines(run.result["steps"]["search"]["results"])
    assert "Yvonne McKay" in results
    assert any(line.startswith("Tricia Potter knows Yvonne well") for line in results)
    (query,) = invokes(run, "composeExtension/query")
    assert query["request"]["body"]["value"]["parameters"][0]["value"] == "Yvonne McKay"
    assert query["response"]["statusCode"] == 200
    extension = query["response"]["body"]["composeExtension"]
    (hit,) = extension["attachments"]
    assert hit["content"]["refresh"]["action"]["verb"] == "shared"
    # What everyone in the chat sees names nobody; the viewer's own card replaces it.
    base = [json.dumps(hit["content"])]
    shown = run.result["steps"]["search_inserted_base"]["text"]
    if "Show me" in shown:  # the Playground did not refresh the card by itself
        base.append(shown)
    assert not [n for n in ("Yvonne", "Tricia", "Priya", "Strong") if n in " ".join(base)]
    inserted = lines(run.result["steps"]["search_inserted"]["cards"][-1])
    assert inserted[0] == "Who knows Yvonne McKay"
    assert inserted.index("Tricia Potter") < inserted.index("Priya Raman")
    assert "Ray Tanaka" not in inserted  # one-way contact: Weak, below the top five
    details = run.result["steps"]["inserted_details"]
    assert details["cardCount"] == len(run.result["steps"]["search_inserted"]["cards"])


def test_a_lead_link_unfurls_into_a_card_that_names_nobody(run: Run) -> None:
    """Everyone in the chat reads an unfurled card, and it cannot refresh per viewer."""
    (unfurl,) = invokes(run, "composeExtension/queryLink")
    assert unfurl["request"]["body"]["value"]["url"].startswith(CRM + "/main.aspx")
    assert unfurl["response"]["statusCode"] == 200
    (hit,) = unfurl["response"]["body"]["composeExtension"]["attachments"]
    assert hit["content"]["version"] == "1.3"
    shown = run.result["steps"]["unfurl"]["cards"][-1]
    assert lines(shown)[0] == "Who knows this lead?"
    assert not [n for n in ("Yvonne", "Tricia", "Strong") if n in shown + json.dumps(hit)]
    sent = run.result["steps"]["unfurl_sent"]
    assert any("Who knows this lead?" in c for c in sent["cards"][-2:])


def test_inserted_cards_get_no_reply(run: Run) -> None:
    """Sending an inserted card posts a message with a placeholder text: no help card."""
    helps = [m for m in bot_messages(run) if "Whoknows: who knows your lead" in card_json(m)]
    assert helps == []
