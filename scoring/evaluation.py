"""Rolling-origin evaluation of the ranking on real mail (see docs/evaluation.md).

For each cutoff T, the aggregates are rebuilt from interactions before T only,
and every lead with a personal interaction in (T, T + horizon] is a query: the
colleagues who had that personal interaction are the relevant ones, everyone
with any interaction with the lead before T is a candidate. The product's
ranking (``scoring.ranking.rank``, the same function the bot calls) competes
with three baselines in the same run: raw count, most recent contact, random.
Addresses that are not one person (lists, aliases, shared mailboxes, automated
senders) are neither leads nor candidates, for every ranking alike: the product
never proposes them and cannot be asked about them. Ties are broken at random and
the metrics averaged over seeds, so a constant score cannot look good. Variants of
the model (other settings, for ablations) run on the same queries in the same pass;
differences to the model come with paired bootstrap intervals over the queries.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from scoring.ranking import rank
from scoring.strength import Tier, Weights
from signals.meta import StoreFacts, read_facts
from signals.models import Kind, PairStrength, Person
from signals.rebuild import rebuild_aggregates, stored_events

MODELS = ("model", "raw_count", "recency", "random")
METRICS = ("hit1", "hit5", "mrr", "ndcg5")
PERSONAL_MAX_RECIPIENTS = 5
BOOTSTRAP_SAMPLES = 2000


@dataclass
class Metrics:
    """Sums over queries, and each query's own values (for the paired bootstrap)."""

    queries: int = 0
    hit1: float = 0.0
    hit5: float = 0.0
    mrr: float = 0.0
    ndcg5: float = 0.0
    per_query: list[tuple[float, float, float, float]] = field(default_factory=list)

    def add(self, ranks: Sequence[int], relevant: int, weight: float) -> None:
        """``ranks``: 1-based ranks of the relevant candidates in one ordering."""
        first = min(ranks)
        dcg = sum(1.0 / math.log2(r + 1) for r in ranks if r <= 5)
        ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(relevant, 5) + 1))
        values = (
            weight * (first == 1),
            weight * (first <= 5),
            weight / first,
            weight * dcg / ideal,
        )
        self.hit1 += values[0]
        self.hit5 += values[1]
        self.mrr += values[2]
        self.ndcg5 += values[3]
        if len(self.per_query) < self.queries:  # the query's first ordering
            self.per_query.append(values)
        else:  # another seed of the same query
            last = self.per_query[-1]
            self.per_query[-1] = (
                last[0] + values[0],
                last[1] + values[1],
                last[2] + values[2],
                last[3] + values[3],
            )

    def as_dict(self) -> dict[str, float]:
        n = max(self.queries, 1)
        return {
            "hit1": round(self.hit1 / n, 4),
            "hit5": round(self.hit5 / n, 4),
            "mrr": round(self.mrr / n, 4),
            "ndcg5": round(self.ndcg5 / n, 4),
        }


def paired_bootstrap(
    ours: Sequence[float], theirs: Sequence[float], samples: int = BOOTSTRAP_SAMPLES
) -> dict[str, float]:
    """Mean difference ``ours - theirs`` over the same queries, with a 95% percentile
    interval from resampling the queries (with replacement, a fixed seed)."""
    diffs = [a - b for a, b in zip(ours, theirs, strict=True)]
    n = len(diffs)
    if n == 0:
        return {"diff": 0.0, "low": 0.0, "high": 0.0}
    rng = random.Random(20261202)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    return {
        "diff": round(sum(diffs) / n, 4),
        "low": round(means[int(0.025 * samples)], 4),
        "high": round(means[min(samples - 1, int(0.975 * samples))], 4),
    }


@dataclass
class TierCount:
    """Calibration: how many candidates the model put in a tier, and how many of them
    were in personal touch with the lead within the horizon."""

    candidates: int = 0
    in_touch: int = 0

    def as_dict(self) -> dict[str, float]:
        share = self.in_touch / self.candidates if self.candidates else 0.0
        return {"candidates": self.candidates, "in_touch": self.in_touch, "share": round(share, 4)}


@dataclass
class EvalReport:
    queries: int = 0
    not_people: int = 0
    """Relevant (lead, colleague) pairs left out because one side is a list, alias,
    shared mailbox or automated sender."""
    cutoffs: list[str] = field(default_factory=list)
    models: dict[str, Metrics] = field(default_factory=lambda: {m: Metrics() for m in MODELS})
    tiers: dict[str, TierCount] = field(
        default_factory=lambda: {t.value: TierCount() for t in Tier}
    )

    def differences(self, against: str = "model") -> dict[str, dict[str, dict[str, float]]]:
        """Per other model and metric: ``against`` minus it, with its bootstrap interval."""
        base = self.models[against].per_query
        return {
            name: {
                metric: paired_bootstrap([q[i] for q in base], [q[i] for q in m.per_query])
                for i, metric in enumerate(METRICS)
            }
            for name, m in self.models.items()
            if name != against
        }

    def to_json(self) -> dict[str, object]:
        return {
            "queries": self.queries,
            "not_people": self.not_people,
            "cutoffs": self.cutoffs,
            "models": {name: m.as_dict() for name, m in self.models.items()},
            "model_minus": self.differences(),
            "tiers": {name: t.as_dict() for name, t in self.tiers.items()},
        }


def choose_cutoffs(times: Sequence[datetime], n: int, horizon: timedelta) -> list[datetime]:
    """``n`` cutoffs evenly spread over the middle of the data (by volume)."""
    if not times:
        return []
    ordered = sorted(times)
    last_allowed = ordered[-1] - horizon
    fractions = [0.5] if n == 1 else [0.3 + 0.4 * i / (n - 1) for i in range(n)]
    cutoffs = []
    for f in fractions:
        t = ordered[min(len(ordered) - 1, int(f * len(ordered)))]
        cutoffs.append(min(t, last_allowed))
    return sorted(set(cutoffs))


def personal_pairs(engine: Engine, start: datetime, end: datetime) -> dict[tuple[int, int], bool]:
    """Pairs (a, b) with a personal e-mail between them in (start, end], both orientations.

    Personal: a reply either way, or a To/Cc message with at most five human
    recipients, no list, not automated.
    """
    pairs: dict[tuple[int, int], bool] = {}
    with engine.connect() as conn:
        for e in stored_events(conn, until=end + timedelta(microseconds=1)):
            if e.at <= start or e.kind != Kind.EMAIL or e.author is None or e.ignored:
                continue
            recipients = {p for p in (*e.to, *e.cc) if p != e.author}
            if e.parent_author is not None and e.parent_author != e.author:
                pairs[(e.author, e.parent_author)] = True
                pairs[(e.parent_author, e.author)] = True
            if 0 < len(recipients) <= PERSONAL_MAX_RECIPIENTS:
                for r in recipients:
                    pairs[(e.author, r)] = True
                    pairs[(r, e.author)] = True
    return pairs


def _timestamp(when: datetime | None) -> float:
    return when.timestamp() if when is not None else 0.0


def _orderings(
    scores: dict[str, dict[int, float]], candidates: list[int], seeds: int
) -> dict[str, list[list[int]]]:
    out: dict[str, list[list[int]]] = {}
    for model, by_candidate in scores.items():
        runs = []
        for seed in range(seeds):
            rng = random.Random(seed * 7919 + len(candidates))
            tiebreak = {c: rng.random() for c in candidates}
            runs.append(
                sorted(candidates, key=lambda c: (-by_candidate.get(c, -math.inf), tiebreak[c]))
            )
        out[model] = runs
    return out


def _model_scores(
    session: Session,
    lead: int,
    now: datetime,
    weights: Weights | None,
    facts: StoreFacts,
    tiers: dict[int, Tier] | None = None,
) -> dict[int, float]:
    """The product's ranking of every candidate, as numbers that sort as it does;
    ``tiers`` (when given) receives the tier of each candidate the product would list."""
    ranked, requester = rank(
        session, [lead], now=now, weights=weights, facts=facts, include_zero=True
    )
    everyone = [*ranked, *([requester] if requester is not None else [])]
    if tiers is not None:
        floor = (weights or Weights.from_settings()).min_score
        tiers.update((c.person.id, c.tier) for c in everyone if c.best.strength.counted >= floor)
    return {c.person.id: c.best.strength.rank_value for c in everyone}


def evaluate(
    engine: Engine,
    *,
    cutoffs: int = 5,
    horizon_days: int = 30,
    seeds: int = 20,
    weights: Weights | None = None,
    progress: Callable[[str], None] | None = None,
    cutoff_times: Sequence[datetime] | None = None,
    variants: Mapping[str, Weights] | None = None,
) -> EvalReport:
    """Run the protocol on a store that already holds the mail to evaluate on.

    ``variants``: other settings of the model, ranked on the same queries (ablations)."""
    horizon = timedelta(days=horizon_days)
    report = EvalReport()
    variants = dict(variants or {})
    for name in variants:
        report.models[name] = Metrics()
    with engine.connect() as conn:
        facts = read_facts(conn)
        internal = set(conn.scalars(select(Person.id).where(Person.internal)))
        not_people = set(
            conn.scalars(
                select(Person.id).where(or_(Person.is_list, Person.is_shared, Person.is_automated))
            )
        )
        times = [e.at for e in stored_events(conn) if e.kind == Kind.EMAIL]
    everyone = facts.pair_mode == "all"
    chosen = list(cutoff_times) if cutoff_times else choose_cutoffs(times, cutoffs, horizon)
    for cutoff in chosen:
        report.cutoffs.append(cutoff.isoformat())
        if progress:
            progress(f"cutoff {cutoff.date()}")
        rebuild_aggregates(engine, until=cutoff, facts=facts)
        future = personal_pairs(engine, cutoff, cutoff + horizon)
        relevant: dict[int, set[int]] = defaultdict(set)
        for introducer, lead in future:
            if not (everyone or (introducer in internal and lead not in internal)):
                continue
            if introducer in not_people or lead in not_people:
                report.not_people += 1
                continue
            relevant[lead].add(introducer)
        with Session(engine) as session:
            rows = session.scalars(
                select(PairStrength).where(PairStrength.lead_id.in_(list(relevant)))
            ).all()
            by_lead: dict[int, dict[int, PairStrength]] = defaultdict(dict)
            for row in rows:
                by_lead[row.lead_id][row.introducer_id] = row
            for lead, wanted in relevant.items():
                candidates = sorted(set(by_lead.get(lead, {})) - not_people)
                hits = wanted.intersection(candidates)
                if not hits:
                    continue
                pairs = by_lead[lead]
                listed: dict[int, Tier] = {}
                scores = {
                    "model": _model_scores(session, lead, cutoff, weights, facts, listed),
                    "raw_count": {c: float(pairs[c].n_total) for c in candidates},
                    "recency": {c: _timestamp(pairs[c].last_at) for c in candidates},
                    "random": {c: 0.0 for c in candidates},
                }
                for name, variant in variants.items():
                    scores[name] = _model_scores(session, lead, cutoff, variant, facts)
                report.queries += 1
                for candidate, tier in listed.items():
                    report.tiers[tier.value].candidates += 1
                    report.tiers[tier.value].in_touch += candidate in wanted
                for model, runs in _orderings(scores, candidates, seeds).items():
                    metrics = report.models[model]
                    metrics.queries += 1
                    for order in runs:
                        position = {c: i + 1 for i, c in enumerate(order)}
                        metrics.add([position[c] for c in hits], len(hits), 1.0 / seeds)
    return report
