"""Outbound calls end within their timeouts and retry only inside a budget: the login
endpoint (msal) and Graph sendMail, against a local stand-in that hangs or fails."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.mailer import GraphMailer, MailError
from signals.graph.auth import TOKEN_ATTEMPTS, Credentials, TokenProvider
from signals.graph.client import GraphClient
from signals.graph.errors import AuthError, RetryBudgetExhausted
from tests.graph_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT,
    GraphServer,
    running,
    sample_tenant,
)


@pytest.fixture
def server() -> Iterator[GraphServer]:
    with running(sample_tenant()) as srv:
        yield srv


OPENED: list[TokenProvider] = []


@pytest.fixture(autouse=True)
def _close_tokens(server: GraphServer) -> Iterator[None]:
    """Each provider's requests session keeps a connection open: close it after the test."""
    yield
    while OPENED:
        OPENED.pop().close()


def _tokens(server: GraphServer, tmp_path: Path, timeout: float) -> TokenProvider:
    creds = Credentials(
        client_id=CLIENT_ID,
        tenant_id=TENANT,
        client_secret=CLIENT_SECRET,
        login_url=server.base,
        ca_file=server.ca_file(tmp_path),
    )
    OPENED.append(TokenProvider(creds, timeout=timeout))
    return OPENED[-1]


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def test_a_hung_login_endpoint_is_an_error_after_a_few_timed_out_attempts(
    server: GraphServer, tmp_path: Path
) -> None:
    tokens = _tokens(server, tmp_path, timeout=0.3)
    tokens.token_sync(f"{server.base}/.default")  # discovery and a first token work
    server.token_delay = 1.0
    with pytest.raises(AuthError, match=f"after {TOKEN_ATTEMPTS} attempts"):
        tokens.token_sync("https://other.example/.default")  # not cached: asks the endpoint
    assert len(server.token_requests) == 1  # the held ones had not been answered
    tokens.close()
    server.token_delay = 0.0
    while server.token_held:  # let the held answers go before the server stops
        await asyncio.sleep(0.05)


async def test_mailer_retries_throttling_within_its_budget(
    server: GraphServer, tmp_path: Path
) -> None:
    server.mail_answers = [503, 429]
    sleeps = Sleeps()
    mailer = GraphMailer(
        server.graph_url, _tokens(server, tmp_path, 5), server.ca_file(tmp_path), sleep=sleeps
    )
    await mailer.send(sender="tricia.potter@contoso.com", to="x@y.example", subject="s", body="b")
    assert server.mail_requests == 3 and len(server.sent_mail) == 1
    assert sleeps.delays == [0.0, 0.0]  # Retry-After: 0


async def test_mailer_gives_up_on_a_hung_graph_after_its_attempts(
    server: GraphServer, tmp_path: Path
) -> None:
    """Graph accepts the connection and never answers: each attempt times out."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        mailer = GraphMailer(
            f"http://127.0.0.1:{silent.getsockname()[1]}/v1.0",
            _tokens(server, tmp_path, 5),
            timeout=0.3,
            attempts=2,
            sleep=Sleeps(),
        )
        with pytest.raises(MailError, match=r"within its budget.*network error"):
            await mailer.send(sender="a@contoso.com", to="x@y.example", subject="s", body="b")


async def test_mailer_does_not_retry_a_refusal(server: GraphServer, tmp_path: Path) -> None:
    server.mail_answers = [403]
    mailer = GraphMailer(
        server.graph_url, _tokens(server, tmp_path, 5), server.ca_file(tmp_path), sleep=Sleeps()
    )
    with pytest.raises(MailError, match="403"):
        await mailer.send(sender="a@contoso.com", to="x@y.example", subject="s", body="b")
    assert server.mail_requests == 1


async def test_graph_client_times_out_and_retries_only_within_its_budget() -> None:
    """A Graph (or Dataverse) endpoint that accepts and never answers: every request
    times out, is retried (as a network error) within the budget, then gives up."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        sleeps = Sleeps()

        async def token() -> str:
            return "t"

        client = GraphClient(
            base_url=f"http://127.0.0.1:{silent.getsockname()[1]}/v1.0",
            token=token,
            retry_budget=2,
            request_timeout=0.3,
            sleep=sleeps,
        )
        try:
            with pytest.raises(RetryBudgetExhausted) as failed:
                await client.get_json("users/delta")
        finally:
            await client.close()
    assert failed.value.attempts == 3 and failed.value.status == 0
    assert client.stats.requests == 3 and len(sleeps.delays) == 2
