"""Long questions: a clear "too long" answer, bounded work, never a database error."""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cards.choice import no_match_card
from cards.views import NoMatchView
from cli.main import main
from scoring.resolve import MAX_QUERY_CHARS, Resolver
from signals.directory import DirectoryPerson, upsert_people


def _words(n: int, seed: int = 3) -> str:
    rng = random.Random(seed)
    return " ".join(
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8)))
        for _ in range(n)
    )


@pytest.mark.parametrize("length", [5_000, 10_000, 200_000])
def test_a_question_longer_than_a_name_is_not_looked_up(engine: Engine, length: int) -> None:
    question = "who knows " + _words(length)[:length]
    with Session(engine) as session:
        res = Resolver(session).resolve(question)
    assert res.too_long and not res.matches and len(res.cleaned) <= MAX_QUERY_CHARS


def test_many_short_words_under_the_cap_never_hit_the_expression_limit(engine: Engine) -> None:
    """Up to MAX_QUERY_CHARS of two-letter words: the fuzzy search uses a few of them."""
    upsert_people(
        engine,
        [
            DirectoryPerson(emails=[f"p{i}@example.org"], display_name=f"Ab Cd{i}")
            for i in range(30)
        ],
    )
    question = " ".join(["ab", "cd", "ef", "gh", "ij", "kl"] * 40)[:MAX_QUERY_CHARS]
    with Session(engine) as session:
        res = Resolver(session).resolve(question)
    assert not res.too_long


def test_cli_ask_says_too_long_without_a_traceback(store_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["ask", "who knows " + _words(2000), "--db", store_url])
    assert result.exit_code == 0, result.output
    assert "longer than a name" in result.output and "Traceback" not in result.output


def test_the_card_says_too_long() -> None:
    card = no_match_card(NoMatchView(query="x" * MAX_QUERY_CHARS, too_long=MAX_QUERY_CHARS))
    assert "longer than a name" in str(card)
