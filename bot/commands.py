"""What a typed message asks for: a table of patterns, each a pure predicate on the text.

Tolerant of case, punctuation, a leading @mention (``<at>WhoKnows</at>``) and
polite padding ("please", "hey"). Unknown text maps to ``help``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Command(enum.StrEnum):
    WHO_KNOWS = "who_knows"
    HELP = "help"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    MY_DATA = "my_data"
    NOTIFY_OFF = "notify_off"
    NOTIFY_ON = "notify_on"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Parsed:
    command: Command
    argument: str = ""


_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_PADDING = re.compile(r"^(?:(?:hey|hi|hello|please|pls|ok|so)[\s,!:]+)+", re.IGNORECASE)

_PATTERNS: tuple[tuple[re.Pattern[str], Command], ...] = (
    (
        re.compile(r"^who\s*knows\b[\s:,-]*(?P<arg>.*)$", re.IGNORECASE | re.DOTALL),
        Command.WHO_KNOWS,
    ),
    (
        re.compile(r"^(?:does\s+)?any(?:one|body)\s+know\b[\s:,-]*(?P<arg>.*)$", re.IGNORECASE),
        Command.WHO_KNOWS,
    ),
    (re.compile(r"^(?:help|\?|what can you do|commands)$", re.IGNORECASE), Command.HELP),
    (re.compile(r"^opt[\s-]*out(?:\s+of\s+.*)?$", re.IGNORECASE), Command.OPT_OUT),
    (re.compile(r"^(?:opt[\s-]*in|opt\s+back\s+in)(?:\s+.*)?$", re.IGNORECASE), Command.OPT_IN),
    (
        re.compile(
            r"^(?:my\s+data|what\s+do\s+you\s+(?:know|have|store)\s+about\s+me)$", re.IGNORECASE
        ),
        Command.MY_DATA,
    ),
    (
        re.compile(r"^(?:notify|notifications?|heads[\s-]*ups?)\s+off$", re.IGNORECASE),
        Command.NOTIFY_OFF,
    ),
    (
        re.compile(r"^(?:notify|notifications?|heads[\s-]*ups?)\s+on$", re.IGNORECASE),
        Command.NOTIFY_ON,
    ),
)


def normalise(text: str) -> str:
    """Strip mentions, markup, padding and trailing punctuation; fold spaces."""
    text = _MENTION.sub(" ", text or "")
    text = _TAGS.sub(" ", text).replace("&nbsp;", " ")
    text = re.sub(r"\s+", " ", text).strip()
    text = _PADDING.sub("", text).strip()
    return text.rstrip("?!. ").strip()


def parse(text: str) -> Parsed:
    cleaned = normalise(text)
    for pattern, command in _PATTERNS:
        match = pattern.match(cleaned)
        if match:
            arg = match.groupdict().get("arg") or ""
            arg = re.sub(r"^(?:any(?:one|body)\s+(?:at|from)\s+)", "", arg.strip(), flags=re.I)
            return Parsed(command, arg.strip().strip("\"'“”").strip())
    return Parsed(Command.UNKNOWN, cleaned)
