"""Command parsing is a table of pure predicates; check them on their own."""

from __future__ import annotations

import pytest

from bot.commands import Command, parse


@pytest.mark.parametrize(
    ("text", "command", "argument"),
    [
        ("who knows Yvonne McKay", Command.WHO_KNOWS, "Yvonne McKay"),
        ("<at>WhoKnows</at> Who knows Yvonne McKay?", Command.WHO_KNOWS, "Yvonne McKay"),
        (
            "WHO KNOWS: yvonne.mckay@fourthcoffee.com",
            Command.WHO_KNOWS,
            "yvonne.mckay@fourthcoffee.com",
        ),
        ("who knows anyone at Fourth Coffee?", Command.WHO_KNOWS, "Fourth Coffee"),
        ('hey, who knows "Fourth Coffee"', Command.WHO_KNOWS, "Fourth Coffee"),
        ("does anyone know Yvonne", Command.WHO_KNOWS, "Yvonne"),
        ("who knows", Command.WHO_KNOWS, ""),
        ("Help!", Command.HELP, ""),
        ("<at>Bot</at> help", Command.HELP, ""),
        ("opt out", Command.OPT_OUT, ""),
        ("Opt-Out.", Command.OPT_OUT, ""),
        ("opt in", Command.OPT_IN, ""),
        ("opt back in", Command.OPT_IN, ""),
        ("my data", Command.MY_DATA, ""),
        ("What do you know about me?", Command.MY_DATA, ""),
        ("tell me a joke", Command.UNKNOWN, "tell me a joke"),
        ("", Command.UNKNOWN, ""),
    ],
)
def test_parse(text: str, command: Command, argument: str) -> None:
    parsed = parse(text)
    assert (parsed.command, parsed.argument) == (command, argument)
