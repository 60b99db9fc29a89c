"""`whoknows demo`: starts the bot (and the Playground when Node.js is there), says what to
do, and stops everything on Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cli import demo
from signals.demo.build import build_demo
from signals.store import create_store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    engine = create_store(url)
    try:
        build_demo(engine, "tiny", today=date.today())
    finally:
        engine.dispose()
    return url


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (other than this test's own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


class Demo:
    """`whoknows demo` as a user runs it, with its output read line by line."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from cli.main import main; main()", "demo", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []

    def read_until(self, marker: str) -> str:
        """Lines up to the one containing ``marker`` (fails if the demo exits first)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if marker in line:
                return "".join(self.output)
        raise AssertionError(f"demo exited ({self.proc.wait()}) before {marker!r}:\n{self.text}")

    @property
    def text(self) -> str:
        return "".join(self.output)

    def finish(self, sig: int) -> int:
        self.proc.send_signal(sig)
        out, _ = self.proc.communicate(timeout=30)
        self.output.append(out)
        return self.proc.returncode


@pytest.fixture
def run_demo(tmp_path: Path) -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def _env(path: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHOKNOWS_")}
    if path is not None:
        env["PATH"] = path
    return env


def _get_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


@pytest.mark.parametrize("sdk", ["botbuilder", "agents"])
def test_without_node_the_bot_runs_and_the_demo_says_how_to_talk_to_it(
    tiny_store: str, tmp_path: Path, run_demo: list[Demo], sdk: str
) -> None:
    port = demo.free_port()
    no_node = str(Path(sys.executable).parent)  # the venv's bin: python, no node
    env = _env(no_node) | {"WHOKNOWS_BOT_SDK": sdk}
    d = Demo(["--db", tiny_store, "--port", str(port)], env, tmp_path)
    run_demo.append(d)
    text = d.read_until("Press Ctrl-C")
    assert "needs Node.js" in text
    assert f"curl -s http://127.0.0.1:{port}/api/messages" in text
    assert '"text": "who knows Yvonne McKay"' in text
    assert _listening(port)
    assert _get_json(f"http://127.0.0.1:{port}/healthz")["sdk"] == sdk
    # The request the demo suggests gets the same answer whichever SDK hosts the bot.
    curl = re.search(r"-d '(\{.*?\})'", text, re.DOTALL)
    assert curl, text
    answer = _get_json(f"http://127.0.0.1:{port}/api/messages", json.loads(curl.group(1)))
    [reply] = answer["activities"]
    card = json.dumps(reply["attachments"][0]["content"])
    assert card.index("Tricia Potter") < card.index("Priya Raman")
    assert "Ray Tanaka" not in card  # one-way contact: Weak, below the top five
    assert d.finish(signal.SIGINT) == 0
    assert "stopped" in d.text
    assert not _listening(port)
    assert _processes_mentioning(f"--port {port}") == []


def test_demo_starts_bot_and_playground_and_ctrl_c_stops_both(
    tiny_store: str, tmp_path: Path, run_demo: list[Demo]
) -> None:
    if demo.find_playground([ROOT]) is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail("Node.js and `npm ci` are needed for the demo's Playground")
        pytest.skip("Node.js or node_modules missing")
    port, wanted = demo.free_port(), demo.free_port()
    d = Demo(
        ["--db", tiny_store, "--port", str(port), "--playground-port", str(wanted)],
        _env(),
        tmp_path,
    )
    run_demo.append(d)
    text = d.read_until("Press Ctrl-C")
    match = re.search(r"Open http://localhost:(\d+) ", text)
    assert match, text
    page = int(match.group(1))
    assert page == wanted
    assert "You are Blaine Carmack" in text
    assert "who knows Yvonne McKay" in text
    assert _listening(port) and _listening(page)
    config = (tmp_path / ".cache" / "playground" / demo.PLAYGROUND_CONFIG).read_text()
    assert 'name: "Blaine Carmack"' in config and 'name: "Tricia Potter"' in config
    endpoint = f"http://127.0.0.1:{port}/api/messages"
    assert _processes_mentioning(endpoint)
    assert d.finish(signal.SIGINT) == 0
    assert not _listening(port) and not _listening(page)
    assert _processes_mentioning(endpoint) == []
    assert _processes_mentioning(f"--port {port}") == []


def test_sigterm_stops_it_too(tiny_store: str, tmp_path: Path, run_demo: list[Demo]) -> None:
    port = demo.free_port()
    d = Demo(["--db", tiny_store, "--port", str(port), "--no-playground"], _env(), tmp_path)
    run_demo.append(d)
    text = d.read_until("Press Ctrl-C")
    assert "needs Node.js" not in text
    assert d.finish(signal.SIGTERM) == 0
    assert not _listening(port)
    assert _processes_mentioning(f"--port {port}") == []


def test_the_playground_users_are_blaine_and_who_knows_yvonne_best(tiny_store: str) -> None:
    from signals.db import open_store

    engine = open_store(tiny_store)
    try:
        people = demo.playground_users(engine, demo.DEMO_USER)
        nobody = demo.playground_users(engine, "no.one@contoso.com")
    finally:
        engine.dispose()
    assert people is not None
    me, others = people
    assert me.name == "Blaine Carmack"
    # Ray's thirty unanswered e-mails no longer make him the second best connection.
    assert [o.name for o in others][:2] == ["Tricia Potter", "Priya Raman"]
    assert len(others) == demo.PLAYGROUND_USERS
    assert len({o.aad_object_id for o in others} | {me.aad_object_id}) == 6
    assert nobody is None
    config = demo.playground_config(me, others, chat_id="chat")
    assert f'  id: "{me.aad_object_id}"' in config
    assert 'personalChat:\n  id: "chat@test.user"' in config
    with pytest.raises(ValueError):
        demo.playground_config(me, others[:4])
