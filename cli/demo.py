"""`whoknows demo`: the demo company, the bot and a Teams-like client, in one command.

The client is the Microsoft 365 Agents Playground (npm `@microsoft/m365agentsplayground`),
which runs offline. It is given a configuration file in which the signed-in user is the
story's seller (Blaine Carmack) and the other users are colleagues who know the story's
lead, with their Entra ids from the store: so the Playground shows the right name, and an
introduction request really reaches the colleague's (mock) Teams chat.

Both run as child processes in their own process groups; Ctrl-C or SIGTERM stops both.
The same helpers start them in the end-to-end test (tests/test_e2e_playground.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import FrameType

import click
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot import settings as bot_settings
from cli.common import db_option
from scoring.ranking import ColleagueInfo
from signals import settings as signals_settings

PLAYGROUND_PORT = 56150
PLAYGROUND_CLI = Path("node_modules/@microsoft/m365agentsplayground/cli.js")
PLAYGROUND_CONFIG = ".m365agentsplayground.yml"
DEMO_USER = "blaine.carmack@contoso.com"
STORY_LEAD = "Yvonne McKay"
POLL_INTERVAL = 0.1
"""Seconds between two checks while waiting for a child process to answer."""
PLAYGROUND_USERS = 5
"""The Playground's configuration schema (0.1.1) wants exactly five users besides you."""

CREDENTIALS = (
    bot_settings.MICROSOFT_APP_ID,
    bot_settings.MICROSOFT_APP_PASSWORD,
    bot_settings.MICROSOFT_APP_TENANT_ID,
)


class DemoError(click.ClickException):
    """Something the demo needs did not start; the message says what and where to look."""


# -- the Playground's users ----------------------------------------------------------------


@dataclass(frozen=True)
class PlaygroundUser:
    """A colleague as the Playground's configuration file describes a user."""

    aad_object_id: str
    name: str
    email: str
    upn: str


def playground_users(
    engine: Engine, user_email: str, lead: str = STORY_LEAD
) -> tuple[PlaygroundUser, list[PlaygroundUser]] | None:
    """You (``user_email``) and five colleagues, those who know ``lead`` best first.

    None when the store doesn't know ``user_email`` or has too few colleagues with an
    Entra id: the Playground then uses its own users (and the bot, in development
    mode, takes the Playground's user for ``WHOKNOWS_DEV_USER``).
    """
    from scoring.answer import ask
    from signals.models import Address, Person

    def user(person: ColleagueInfo, email: str | None) -> PlaygroundUser | None:
        if not person.entra_id or not email:
            return None
        return PlaygroundUser(person.entra_id, person.display_name, email, person.upn or email)

    def first_email(session: Session, person_id: int) -> str | None:
        return session.scalar(
            select(Address.email).where(Address.person_id == person_id).order_by(Address.id)
        )

    with Session(engine) as session:
        me_row = session.scalar(
            select(Person)
            .join(Address, Address.person_id == Person.id)
            .where(Address.email == user_email.strip().lower(), Person.internal.is_(True))
        )
        if me_row is None:
            return None
        me = user(me_row, user_email.strip().lower())
        if me is None:
            return None
        chosen: dict[int, PlaygroundUser] = {}
        answer = ask(session, lead, requester_email=me.email)
        candidates = [c.person for c in answer.colleagues]
        if len(candidates) < PLAYGROUND_USERS:
            candidates += list(
                session.scalars(
                    select(Person)
                    .where(Person.internal.is_(True), Person.enabled.is_(True))
                    .where(Person.entra_id.is_not(None))
                    .order_by(Person.id)
                    .limit(PLAYGROUND_USERS * 4)
                )
            )
        for person in candidates:
            if len(chosen) == PLAYGROUND_USERS:
                break
            if person.id == me_row.id or person.id in chosen:
                continue
            found = user(person, first_email(session, person.id))
            if found is not None:
                chosen[person.id] = found
    if len(chosen) < PLAYGROUND_USERS:
        return None
    return me, list(chosen.values())


def _yaml_user(user: PlaygroundUser, indent: str) -> str:
    given, _, surname = user.name.partition(" ")
    fields = {
        "id": user.aad_object_id,
        "name": user.name,
        "userPrincipleName": user.upn,  # sic: the Playground's spelling
        "aadObjectId": user.aad_object_id,
        "givenName": given,
        "surname": surname or given,
        "email": user.email,
    }
    # JSON strings are valid YAML double-quoted scalars.
    lines = [f"{key}: {json.dumps(value)}" for key, value in fields.items()]
    return lines[0] + "".join(f"\n{indent}{line}" for line in lines[1:])


def playground_config(
    me: PlaygroundUser, others: Sequence[PlaygroundUser], *, chat_id: str | None = None
) -> str:
    """The Playground's configuration file (schema 0.1.1) with these users."""
    if len(others) != PLAYGROUND_USERS:
        raise ValueError(f"the Playground needs exactly {PLAYGROUND_USERS} other users")
    chat = chat_id or str(uuid.uuid4())
    users = "".join(f"  - {_yaml_user(u, '    ')}\n" for u in others)
    return (
        "# Written by `whoknows demo`: the demo company's people as Playground users.\n"
        'version: "0.1.1"\n'
        "tenantId: 00000000-0000-0000-0000-0000000000001\n"
        "bot:\n"
        "  id: 00000000-0000-0000-0000-00000000000011\n"
        "  name: Whoknows\n"
        f"currentUser:\n  {_yaml_user(me, '  ')}\n"
        f"users:\n{users}"
        f'personalChat:\n  id: "{chat}@test.user"\n'
        f'groupChat:\n  id: "{uuid.uuid4()}@test.group"\n  name: Sales team\n'
        "team:\n"
        "  id: team-id\n"
        "  name: Contoso Sales\n"
        "  aadGroupId: 00000000-0000-0000-0000-000000000031\n"
        "  channels:\n"
        "    - id: channel-announcements-id\n"
        "      name: Announcements\n"
    )


# -- child processes ---------------------------------------------------------------------


def find_playground(roots: Sequence[Path] | None = None) -> tuple[str, Path] | None:
    """(node, the Playground's cli.js) when Node.js and the npm package are installed."""
    node = shutil.which("node")
    if node is None:
        return None
    for root in roots if roots is not None else _project_roots():
        cli = root / PLAYGROUND_CLI
        if cli.is_file():
            return node, cli
    return None


def _project_roots() -> list[Path]:
    """Where node_modules may be: here, then the checkout this package runs from."""
    return [Path.cwd(), Path(__file__).resolve().parents[1]]


def playground_argv(
    node: str, cli: Path, endpoint: str, *, port: int = PLAYGROUND_PORT, record: bool = False
) -> list[str]:
    """The Playground's command line (its `start` options as of 0.2.28)."""
    argv = [node, str(cli), "start", "-e", endpoint, "-c", "msteams", "--disable-telemetry"]
    argv += ["-p", str(port)]
    if record:
        argv.append("--er")  # devTools/events_recording_*.log: every request and response
    return argv


def playground_env(
    *, recording: Path | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Its environment (``base``, default ours): no browser of its own; the recording
    where the caller wants it."""
    env = dict(os.environ if base is None else base)
    env["TEAMSAPPTESTER_BROWSER"] = "none"  # don't try to open a browser
    if recording is not None:
        env["M365_AGENTS_PLAYGROUND_RECORDING_FILE"] = str(recording)
    return env


def serve_argv(port: int) -> list[str]:
    """`whoknows serve` with the interpreter running now (works without the script on PATH)."""
    argv = [sys.executable, "-c", "from cli.main import main; main()", "serve"]
    return [*argv, "--host", "127.0.0.1", "--port", str(port)]


def bot_env(db_url: str, dev_user: str, *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: our environment) in local development mode (no app credentials)
    on ``db_url`` with ``dev_user`` as the stand-in. The URL goes by environment, not
    argv, so that no password shows in `ps`."""
    env = dict(os.environ if base is None else base)
    for setting in CREDENTIALS:
        env.pop(setting.env, None)
    env[signals_settings.DATABASE_URL.env] = db_url
    env[bot_settings.DEV_USER.env] = dev_user
    return env


def start(
    argv: Sequence[str], *, log: Path, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a process group of its own, output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes] | None, *, grace: float = 5.0) -> None:
    """Stop the process and everything in its group: SIGTERM, then SIGKILL after ``grace``."""
    if proc is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    # The group may outlive its leader (node's children): make sure all of it is gone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def free_port() -> int:
    """A TCP port nobody listens on right now (for tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _pause(stop_event: threading.Event | None) -> None:
    """Between two polls; raises DemoError("stopped") once Ctrl-C was pressed."""
    if stop_event is None:
        time.sleep(POLL_INTERVAL)
    elif stop_event.wait(POLL_INTERVAL):
        raise DemoError("stopped")


def wait_for_http(
    url: str,
    proc: subprocess.Popen[bytes],
    *,
    log: Path,
    what: str,
    timeout: float = 60.0,
    stop_event: threading.Event | None = None,
    ok_only: bool = False,
) -> None:
    """Poll ``url`` until it answers (with ``ok_only``: answers 2xx, e.g. /readyz once
    the database answers); DemoError (with the end of ``log``) when the process exits or
    ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise DemoError(f"{what} exited with code {proc.returncode}:\n{_tail(log)}")
        if answers(url, ok_only=ok_only):
            return
        if time.monotonic() > deadline:
            raise DemoError(f"{what} did not answer at {url} within {timeout:.0f} s:\n{_tail(log)}")
        _pause(stop_event)


def answers(url: str, *, ok_only: bool = False) -> bool:
    """Whether ``url`` answers now (any HTTP status, or only 2xx with ``ok_only``)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return not ok_only
    except (urllib.error.URLError, OSError):
        return False


def listening_port(
    output: Path,
    proc: subprocess.Popen[bytes],
    *,
    wanted: int,
    timeout: float = 60.0,
    stop_event: threading.Event | None = None,
) -> int:
    """The port the Playground says it listens on (its ``output``): it takes another one
    when ``wanted`` is busy. Never a guess: whatever answers on ``wanted`` may be another
    program (an earlier Playground), so no line means a DemoError with the output's end."""
    deadline = time.monotonic() + timeout
    while True:
        text = output.read_text(errors="replace") if output.exists() else ""
        for line in text.splitlines():
            if line.startswith("Listening on "):
                return int(line.removeprefix("Listening on ").strip())
        if proc.poll() is not None:
            raise DemoError(
                f"the Agents Playground exited with code {proc.returncode} before listening "
                f"(wanted port {wanted}):\n{_tail(output)}"
            )
        if time.monotonic() > deadline:
            raise DemoError(
                f"the Agents Playground did not say it listens within {timeout:.0f} s "
                f"(wanted port {wanted}):\n{_tail(output)}"
            )
        _pause(stop_event)


def playground_log(workdir: Path) -> Path:
    """The Playground's own log (its errors, e.g. a bad configuration file, go there)."""
    return workdir / "devTools" / "m365agentsplayground.log"


# -- the command ---------------------------------------------------------------------------

WITHOUT_NODE = """\
The Teams-like client (Microsoft 365 Agents Playground) needs Node.js 20 or later and
`npm ci` in the repository (or `make demo`, which runs it). Meanwhile, talk to the bot
directly; it answers in the request with deliveryMode expectReplies:

  curl -s http://127.0.0.1:{port}/api/messages -H 'Content-Type: application/json' -d '{{
    "type": "message", "id": "1", "text": "who knows {lead}", "channelId": "msteams",
    "serviceUrl": "http://127.0.0.1:9/", "deliveryMode": "expectReplies",
    "from": {{"id": "you"}}, "recipient": {{"id": "bot"}},
    "conversation": {{"id": "demo", "conversationType": "personal"}}}}'

or, without the bot, in the terminal: whoknows ask "who knows {lead}" --db {db}"""


def _build_if_empty(db_url: str | None) -> tuple[str, str]:
    """Create the store; fill it with the demo company when it holds nothing yet.

    Returns its URL, with and without the password."""
    from signals import db
    from signals.config import SettingError
    from signals.demo.build import build_demo, store_is_empty
    from signals.store import create_store

    try:
        engine = create_store(db_url)
    except (SettingError, db.StoreError) as exc:
        raise click.ClickException(f"cannot open the store: {exc}") from exc
    where = engine.url.render_as_string(hide_password=False)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        if store_is_empty(engine):
            click.echo("building the demo company (Contoso) into the empty store ...")
            summary = build_demo(engine, "small", today=date.today())
            click.echo(
                f"  {summary.colleagues} colleagues, {summary.interactions:,} interactions, "
                f"{summary.pairs:,} connections ({summary.seconds:.0f} s)"
            )
        else:
            click.echo(f"using the store at {shown}")
    finally:
        engine.dispose()
    return where, shown


def _write_config(db_url: str, workdir: Path, dev_user: str) -> str:
    """Write the Playground's configuration; returns the name you appear as."""
    from signals.db import open_store

    engine = open_store(db_url)
    try:
        people = playground_users(engine, dev_user)
    finally:
        engine.dispose()
    config = workdir / PLAYGROUND_CONFIG
    if people is None:
        config.unlink(missing_ok=True)
        return "the Playground's user (taken for " + dev_user + ")"
    me, others = people
    config.write_text(playground_config(me, others))
    return me.name


@click.command("demo")
@db_option
@click.option("--port", default=3978, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--playground-port",
    "playground_port_",
    default=PLAYGROUND_PORT,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the Agents Playground's web page.",
)
@click.option("--no-playground", is_flag=True, help="Start only the bot.")
def demo_command(db_url: str | None, port: int, playground_port_: int, no_playground: bool) -> None:
    """Show Whoknows in a Teams-like client: the demo company, the bot and the Playground.

    Builds the demo company if the store is empty, starts the bot on 127.0.0.1 and the
    Microsoft 365 Agents Playground pointed at it. Ctrl-C stops both.
    """
    dev_user = bot_settings.DEV_USER.get().strip() or DEMO_USER
    url, shown_url = _build_if_empty(db_url)
    workdir = Path.cwd() / ".cache" / "playground"
    workdir.mkdir(parents=True, exist_ok=True)
    if any(s.get() for s in CREDENTIALS):
        click.echo("note: the demo runs the bot in local development mode (no MicrosoftAppId).")

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    bot: subprocess.Popen[bytes] | None = None
    playground: subprocess.Popen[bytes] | None = None
    try:
        bot_log = workdir / "bot.log"
        bot = start(serve_argv(port), log=bot_log, env=bot_env(url, dev_user))
        ready = f"http://127.0.0.1:{port}/readyz"
        wait_for_http(ready, bot, log=bot_log, what="the bot", stop_event=stopping, ok_only=True)
        endpoint = f"http://127.0.0.1:{port}/api/messages"
        found = None if no_playground else find_playground()
        if found is None:
            click.echo(f"\nThe bot is running at {endpoint} (log: {bot_log}).")
            if not no_playground:
                click.echo(WITHOUT_NODE.format(port=port, lead=STORY_LEAD, db=shown_url))
        else:
            you = _write_config(url, workdir, dev_user)
            node, cli = found
            pg_log = workdir / "playground.log"
            playground = start(
                playground_argv(node, cli, endpoint, port=playground_port_),
                log=pg_log,
                cwd=workdir,
                env=playground_env(),
            )
            actual = listening_port(
                pg_log, playground, wanted=playground_port_, stop_event=stopping
            )
            page = f"http://localhost:{actual}"
            wait_for_http(
                page,
                playground,
                log=playground_log(workdir),
                what="the Agents Playground",
                stop_event=stopping,
            )
            if not answers(ready, ok_only=True):  # both, at the moment we say so
                raise DemoError(f"the bot stopped answering at {ready}:\n{_tail(bot_log)}")
            click.echo(
                f"\nWhoknows is running in the Microsoft 365 Agents Playground, a Teams-like "
                f"client.\n"
                f"  Open {page} and choose Personal Chat. You are {you}.\n"
                f"  Type:  who knows {STORY_LEAD}\n"
                "  Then try Details, List view and Get Introduced; also: my data, opt out, help.\n"
                "  (While you edit a card's text, keep the pointer over that message: the\n"
                "  Playground redraws a card when the pointer leaves it, losing the edit.)\n"
                f"  Bot: {endpoint} (log: {bot_log}); Playground log: {pg_log}"
            )
        click.echo("Press Ctrl-C to stop.")
        while not stopping.wait(0.5):
            if bot.poll() is not None:
                raise DemoError(f"the bot stopped (code {bot.returncode}):\n{_tail(bot_log)}")
            if playground is not None and playground.poll() is not None:
                raise DemoError(f"the Agents Playground stopped (code {playground.returncode})")
    except DemoError:
        if not stopping.is_set():
            raise  # otherwise it was Ctrl-C while starting: just stop
    finally:
        stop(playground)
        stop(bot)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped the bot and the Playground.")
