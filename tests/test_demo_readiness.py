"""`make demo` says it is ready only when what it started answers, else what went wrong."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli import demo


class _Handler(BaseHTTPRequestHandler):
    status = 503

    def do_GET(self) -> None:
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def alive() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_bot_whose_database_is_not_ready_is_not_ready(
    web: ThreadingHTTPServer, alive: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    log = tmp_path / "bot.log"
    log.write_text("starting\ndatabase unreachable\n")
    url = f"http://127.0.0.1:{web.server_address[1]}/readyz"
    _Handler.status = 503
    assert demo.answers(url) and not demo.answers(url, ok_only=True)
    with pytest.raises(demo.DemoError, match="did not answer") as failed:
        demo.wait_for_http(url, alive, log=log, what="the bot", timeout=0.3, ok_only=True)
    assert "database unreachable" in str(failed.value)  # the log's last lines
    _Handler.status = 200
    demo.wait_for_http(url, alive, log=log, what="the bot", timeout=5, ok_only=True)


def test_no_listening_line_is_an_error_with_the_output_not_a_guessed_port(
    alive: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    output = tmp_path / "playground.log"
    output.write_text("Starting the Playground\nError: something is odd\n")
    with pytest.raises(demo.DemoError, match="did not say it listens") as failed:
        demo.listening_port(output, alive, wanted=56150, timeout=0.3)
    assert "something is odd" in str(failed.value)
    output.write_text("Listening on 56151\n")
    assert demo.listening_port(output, alive, wanted=56150, timeout=5) == 56151


def test_a_playground_that_exits_says_so(tmp_path: Path) -> None:
    output = tmp_path / "playground.log"
    output.write_text("EADDRINUSE\n")
    done = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    done.wait()
    with pytest.raises(demo.DemoError, match="exited with code 3") as failed:
        demo.listening_port(output, done, wanted=56150, timeout=5)
    assert "EADDRINUSE" in str(failed.value)
