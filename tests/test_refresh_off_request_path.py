"""The web process never runs a full rebuild: what would need one stays for the worker."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from bot.conversation import WhoKnowsBot
from signals import stale
from signals.models import Interaction, PairStrength, StalePair
from tests.small_store import two_messages


def _pairs(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(PairStrength).order_by(PairStrength.lead_id))]


async def test_a_change_needing_a_full_rebuild_is_left_to_the_worker(engine: Engine) -> None:
    two_messages(engine)
    before = _pairs(engine)
    with engine.begin() as conn:  # every pair touched: more than a scoped refresh takes
        stale.mark(conn, conn.execute(select(Interaction.id)).scalars())
    bot = WhoKnowsBot(engine, dev_mode=True)
    bot.refresh_soon()
    bot.refresh_soon()  # one at a time: the second is not started
    assert len(bot._refreshing) == 1
    task = next(iter(bot._refreshing))
    await bot.settle()
    assert task.result().deferred
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(StalePair))  # still marked
    done = stale.refresh_stale(engine)  # what the sync worker's run ends with
    assert done.full and done.pairs
    assert _pairs(engine) == before
    with engine.connect() as conn:
        assert not conn.scalar(select(func.count()).select_from(StalePair))
