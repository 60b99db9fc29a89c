"""Relationship strength of one pair, from its stored aggregate (pure functions).

    Out, In = sum of channel weight x decayed, audience-weighted sums
    R       = 2 min(Out, In) / (Out + In)              (reciprocity)
    S       = (Out + In) (beta + (1 - beta) R) x feedback

Meetings, calls and chats count half each way. See docs/scoring.md.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from scoring import settings
from signals.aggregate import DecayClock


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
    beta: float
    strong_score: float
    strong_reciprocity: float
    strong_recent_days: int
    moderate_score: float
    min_score: float

    @classmethod
    def from_settings(cls) -> Weights:
        s = settings
        return cls(
            to=s.WEIGHT_TO.get(),
            cc=s.WEIGHT_CC.get(),
            reply=s.WEIGHT_REPLY.get(),
            thread=s.WEIGHT_THREAD.get(),
            meeting=s.WEIGHT_MEETING.get(),
            call=s.WEIGHT_CALL.get(),
            chat=s.WEIGHT_CHAT.get(),
            beta=s.RECIPROCITY_BETA.get(),
            strong_score=s.STRONG_SCORE.get(),
            strong_reciprocity=s.STRONG_RECIPROCITY.get(),
            strong_recent_days=s.STRONG_RECENT_DAYS.get(),
            moderate_score=s.MODERATE_SCORE.get(),
            min_score=s.MIN_SCORE.get(),
        )


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
    last_out_at: datetime | None
    last_in_at: datetime | None
    last_mutual_at: datetime | None
    feedback_factor: float


@dataclass(frozen=True)
class Strength:
    score: float
    out: float
    in_: float
    reciprocity: float
    tier: Tier


def two_way_at(row: PairRow) -> datetime | None:
    """When contact last went both ways: a reply, a meeting or call, or mail each way."""
    both = None
    if row.last_out_at is not None and row.last_in_at is not None:
        both = min(row.last_out_at, row.last_in_at)
    if row.last_mutual_at is None:
        return both
    return row.last_mutual_at if both is None else max(both, row.last_mutual_at)


def strength(row: PairRow, now: datetime, clock: DecayClock, w: Weights) -> Strength:
    decay = clock.decay(now)
    shared = 0.5 * (w.meeting * row.d_meeting + w.call * row.d_call + w.chat * row.d_chat)
    out = (
        w.to * row.d_out_to
        + w.cc * row.d_out_cc
        + w.reply * row.d_out_reply
        + w.thread * row.d_out_thread
        + shared
    ) * decay
    in_ = (
        w.to * row.d_in_to
        + w.cc * row.d_in_cc
        + w.reply * row.d_in_reply
        + w.thread * row.d_in_thread
        + shared
    ) * decay
    total = out + in_
    reciprocity = 2.0 * min(out, in_) / total if total > 0 else 0.0
    score = total * (w.beta + (1.0 - w.beta) * reciprocity) * row.feedback_factor
    return Strength(
        score, out, in_, reciprocity, tier_of(score, reciprocity, two_way_at(row), now, w)
    )


def tier_of(
    score: float, reciprocity: float, last_two_way: datetime | None, now: datetime, w: Weights
) -> Tier:
    """Absolute cut-offs, not percentiles: a lead who mailed everyone once has no Strong tie."""
    recent = last_two_way is not None and now - last_two_way <= timedelta(days=w.strong_recent_days)
    if score >= w.strong_score and reciprocity >= w.strong_reciprocity and recent:
        return Tier.STRONG
    if score >= w.moderate_score:
        return Tier.MODERATE
    return Tier.WEAK
