"""A crash mid-import leaves whole batches only; running it again completes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from signals.importers import import_paths
from signals.ingest import Writer
from signals.models import Interaction, PairStrength, Participant
from signals.rebuild import rebuild_aggregates
from tests.mailgen import conversation, write_mbox


class Boom(RuntimeError):
    pass


def _state(engine: Engine) -> tuple[int, int, dict[tuple[int, int], tuple[Any, ...]]]:
    with engine.connect() as conn:
        interactions = conn.scalar(select(func.count()).select_from(Interaction)) or 0
        participants = conn.scalar(select(func.count()).select_from(Participant)) or 0
        pairs = {
            (r.introducer_id, r.lead_id): (
                r.n_total,
                r.n_out_to + r.n_out_reply,
                r.n_in_to + r.n_in_reply,
                round(r.d_out_reply + r.d_in_reply, 9),
                r.last_at,
            )
            for r in conn.execute(select(PairStrength))
        }
    return interactions, participants, pairs


def test_crash_on_third_batch_then_rerun(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    mbox = write_mbox(tmp_path / "in.mbox", conversation(10))
    original = Writer._aggregate
    calls = {"n": 0}

    def failing(self: Writer, conn: Any, fresh: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # inside the third batch's transaction, after its inserts
            raise Boom("disk on fire")
        original(self, conn, fresh)

    monkeypatch.setattr(Writer, "_aggregate", failing)
    with pytest.raises(Boom):
        import_paths(engine, [mbox], batch_size=3)
    interactions, participants, _ = _state(engine)
    assert (interactions, participants) == (6, 12)  # two whole batches, nothing of the third

    monkeypatch.setattr(Writer, "_aggregate", original)
    report = import_paths(engine, [mbox], batch_size=3)
    assert (report.new_interactions, report.duplicates, report.skipped) == (4, 6, 0)
    interactions, participants, pairs = _state(engine)
    assert (interactions, participants) == (10, 20)

    rebuild_aggregates(engine)  # what a clean import of everything would have produced
    assert _state(engine)[2] == pairs
    assert sum(v[0] for v in pairs.values()) == 10
