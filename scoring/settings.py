"""Parameters of the relationship strength model (see docs/scoring.md)."""

from __future__ import annotations

from signals.config import declare

SECTION = "Relationship strength"

WEIGHT_TO = declare(
    "weight_to", 1.0, "Weight of an e-mail with the other side in To.", section=SECTION
)
WEIGHT_CC = declare(
    "weight_cc", 0.5, "Weight of an e-mail with the other side in Cc.", section=SECTION
)
WEIGHT_REPLY = declare(
    "weight_reply", 1.0, "Weight of an explicit reply to the other side's message.", section=SECTION
)
WEIGHT_THREAD = declare(
    "weight_thread",
    0.25,
    "Weight of a message in a thread the other side wrote in, without addressing them.",
    section=SECTION,
)
WEIGHT_MEETING = declare(
    "weight_meeting",
    1.5,
    "Weight of a meeting both attended (half counts each way).",
    section=SECTION,
)
WEIGHT_CALL = declare(
    "weight_call",
    1.5,
    "Weight of a connected call of a minute or more (half each way).",
    section=SECTION,
)
WEIGHT_CHAT = declare(
    "weight_chat", 0.5, "Weight of a chat conversation-day (half each way).", section=SECTION
)
WEIGHT_IGNORED = declare(
    "weight_ignored",
    0.1,
    "Weight of automated, bulk or list mail and mail to crowds, as weak evidence: it orders "
    "colleagues who have nothing else, but never lists one by itself (0 = ignore it).",
    section=SECTION,
)
RECIPROCITY_BETA = declare(
    "reciprocity_beta",
    1.0,
    "Share of the score a lopsided contact keeps at reciprocity 0 (1 = no reciprocity factor: "
    "one-way contact is handled by WHOKNOWS_ONE_WAY; 0.25 was the factor before the gate).",
    section=SECTION,
)
ONE_WAY = declare(
    "one_way",
    "gate",
    "How contact the lead never answered counts: 'gate' (at most Weak, listed below everyone "
    "the lead has written to, met or called), 'cap' (at most Weak) or 'factor' (only the "
    "reciprocity factor).",
    section=SECTION,
)
STRONG_SCORE = declare(
    "strong_score", 4.0, "Score from which a connection can be Strong.", section=SECTION
)
STRONG_RECIPROCITY = declare(
    "strong_reciprocity",
    0.3,
    "Least reciprocity (0 one-way .. 1 balanced) for a Strong connection.",
    section=SECTION,
)
STRONG_RECENT_DAYS = declare(
    "strong_recent_days",
    180,
    "A Strong connection needs a two-way contact within this many days.",
    section=SECTION,
)
MODERATE_SCORE = declare(
    "moderate_score",
    1.0,
    "Score from which a connection is Moderate (below: Weak).",
    section=SECTION,
)
MIN_SCORE = declare(
    "min_score",
    0.01,
    "Connections scoring below this (e.g. only newsletters, or long forgotten) are not shown.",
    section=SECTION,
)
NOT_KNOWN_FACTOR = declare(
    "not_known_factor",
    0.5,
    "Multiplier applied to a connection when the colleague answers 'I don't know them well'.",
    section=SECTION,
)
TOP_N = declare(
    "top_n", 5, "Colleagues on the summary card and in `whoknows ask`.", section=SECTION
)
