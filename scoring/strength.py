"""Relationship strength of one pair, from its stored aggregate (pure functions).

    Out, In = sum of channel weight x decayed, audience-weighted sums
    R       = 2 min(Out, In) / (Out + In)              (reciprocity)
    S       = ((Out + In) (beta + (1 - beta) R) + w_ignored x Ignored) x feedback

Meetings, calls and chats count half each way. A colleague who never heard from
the lead (no mail, reply, meeting, call or chat from the lead's side) is at most
Weak and, under the default ``one_way`` rule, ranked below everyone who did.
See docs/scoring.md.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from scoring import settings

ONE_WAY_RULES = ("gate", "cap", "factor")


class Tier(enum.StrEnum):
    STRONG = "Strong"
    MODERATE = "Moderate"
    WEAK = "Weak"


@dataclass(frozen=True)
class Weights:
    to: float
    cc: float
    reply: float
    thread: float
    meeting: float
    call: float
    chat: float
    ignored: float
    beta: float
    strong_score: float
    strong_reciprocity: float
    strong_recent_days: int
    moderate_score: float
    min_score: float
    one_way: str = "gate"

    @classmethod
    def from_settings(cls, environ: Mapping[str, str] | None = None) -> Weights:
        """From the environment, or from ``environ`` (the evaluation's variants)."""
        s = settings
        return cls(
            to=s.WEIGHT_TO.get(environ),
            cc=s.WEIGHT_CC.get(environ),
            reply=s.WEIGHT_REPLY.get(environ),
            thread=s.WEIGHT_THREAD.get(environ),
            meeting=s.WEIGHT_MEETING.get(environ),
            call=s.WEIGHT_CALL.get(environ),
            chat=s.WEIGHT_CHAT.get(environ),
            ignored=s.WEIGHT_IGNORED.get(environ),
            beta=s.RECIPROCITY_BETA.get(environ),
            strong_score=s.STRONG_SCORE.get(environ),
            strong_reciprocity=s.STRONG_RECIPROCITY.get(environ),
            strong_recent_days=s.STRONG_RECENT_DAYS.get(environ),
            moderate_score=s.MODERATE_SCORE.get(environ),
            min_score=s.MIN_SCORE.get(environ),
            one_way=one_way_rule(s.ONE_WAY.get(environ)),
        )


def one_way_rule(value: str) -> str:
    """The ``one_way`` setting, checked: a typo must not silently change the ranking."""
    rule = value.strip().lower()
    if rule not in ONE_WAY_RULES:
        raise ValueError(f"WHOKNOWS_ONE_WAY must be one of {', '.join(ONE_WAY_RULES)}: {value!r}")
    return rule


class PairRow(Protocol):
    """The columns of signals.models.PairStrength that scoring reads."""

    d_out_to: float
    d_out_cc: float
    d_out_reply: float
    d_out_thread: float
    d_in_to: float
    d_in_cc: float
    d_in_reply: float
    d_in_thread: float
    d_meeting: float
    d_call: float
    d_chat: float
    d_ignored: float
    last_out_at: datetime | None
    last_in_at: datetime | None
    last_mutual_at: datetime | None
    feedback_factor: float


# The weighted sums of the formula, as (stored column, weight) in the order they are
# added. The ranking query has the database add them (scoring.ranking); pairs
# aggregated elsewhere add them in Python (:func:`weighted`). One order for both
# gives the same floats.
OUT_TERMS = (
    ("d_out_to", "to"),
    ("d_out_cc", "cc"),
    ("d_out_reply", "reply"),
    ("d_out_thread", "thread"),
)
IN_TERMS = (
    ("d_in_to", "to"),
    ("d_in_cc", "cc"),
    ("d_in_reply", "reply"),
    ("d_in_thread", "thread"),
)
SHARED_TERMS = (("d_meeting", "meeting"), ("d_call", "call"), ("d_chat", "chat"))
IGNORED_TERMS = (("d_ignored", "ignored"),)
SUMS = {
    "out_mail": OUT_TERMS,
    "in_mail": IN_TERMS,
    "shared": SHARED_TERMS,
    "left_out": IGNORED_TERMS,
}


def weighted(row: PairRow, terms: tuple[tuple[str, str], ...], w: Weights) -> float:
    """One of :data:`SUMS` for a stored row, undecayed."""
    total = 0.0
    for column, weight in terms:
        total += getattr(w, weight) * getattr(row, column)
    return total


class Strength(NamedTuple):
    score: float
    out: float
    in_: float
    reciprocity: float
    tier: Tier
    heard: bool = True
    """The lead has written to, met, called or chatted with the colleague."""
    counted: float = 0.0
    """The score without left-out mail: a pair is listed on this alone."""
    first: bool = True
    """Ranked in the first group: heard from the lead, or the rule is not 'gate'."""

    @property
    def rank_value(self) -> float:
        """One number that sorts as the ranking does (the gate first, then the score)."""
        return self.score + (RANK_GROUP if self.first else 0.0)


# Above any score a pair can reach: colleagues the lead answered come first.
RANK_GROUP = 1e9


def two_way_at(row: PairRow) -> datetime | None:
    """When contact last went both ways: a reply, a meeting or call, or mail each way."""
    both = None
    if row.last_out_at is not None and row.last_in_at is not None:
        both = min(row.last_out_at, row.last_in_at)
    if row.last_mutual_at is None:
        return both
    return row.last_mutual_at if both is None else max(both, row.last_mutual_at)


def strength_of(
    out_mail: float,
    in_mail: float,
    shared: float,
    feedback: float,
    last_two_way: datetime | None,
    decay: float,
    now: datetime,
    w: Weights,
    *,
    left_out: float = 0.0,
    heard: bool = True,
) -> Strength:
    """A pair's strength at ``now`` from its :data:`SUMS` (undecayed) and its last
    two-way contact; ``decay`` is the store's ``DecayClock.decay(now)``. ``heard``:
    the lead ever wrote to, met, called or chatted with the colleague."""
    out = (out_mail + 0.5 * shared) * decay
    in_ = (in_mail + 0.5 * shared) * decay
    total = out + in_
    reciprocity = 2.0 * min(out, in_) / total if total > 0 else 0.0
    counted = total * (w.beta + (1.0 - w.beta) * reciprocity) * feedback
    score = counted + w.ignored * left_out * decay * feedback
    tier = tier_of(counted, reciprocity, last_two_way, now, w)
    if not heard and w.one_way != "factor":
        tier = Tier.WEAK  # thirty e-mails never answered are no connection to vouch for
    first = heard or w.one_way != "gate"
    return Strength(score, out, in_, reciprocity, tier, heard, counted, first)


def tier_of(
    score: float, reciprocity: float, last_two_way: datetime | None, now: datetime, w: Weights
) -> Tier:
    """Absolute cut-offs, not percentiles: a lead who mailed everyone once has no Strong tie."""
    if (
        score >= w.strong_score
        and reciprocity >= w.strong_reciprocity
        and last_two_way is not None
        and now - last_two_way <= timedelta(days=w.strong_recent_days)
    ):
        return Tier.STRONG
    if score >= w.moderate_score:
        return Tier.MODERATE
    return Tier.WEAK
