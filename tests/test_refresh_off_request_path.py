"""The web process never runs a full rebuild: it refreshes what an opt-out marked with a
scoped refresh, and leaves more than it should take on to the sync worker."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from bot.conversation import WhoKnowsBot
from signals import stale
from signals.models import Interaction, PairStrength, StalePair
from tests.small_store import two_messages


def _pairs(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(PairStrength).order_by(PairStrength.lead_id))]


def _mark_everything(engine: Engine) -> None:
    with engine.begin() as conn:  # every pair touched: a worker would rebuild them all
        stale.mark(conn, conn.execute(select(Interaction.id)).scalars())


def _marked(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(StalePair)) or 0)


async def test_the_bot_refreshes_scoped_one_at_a_time_never_fully(engine: Engine) -> None:
    two_messages(engine)
    before = _pairs(engine)
    _mark_everything(engine)
    bot = WhoKnowsBot(engine, dev_mode=True)
    bot.refresh_soon()
    bot.refresh_soon()  # one at a time: the second is not started
    assert len(bot._refreshing) == 1
    task = next(iter(bot._refreshing))
    await bot.settle()
    done = task.result()
    assert not done.full and not done.deferred and done.pairs
    assert _pairs(engine) == before and not _marked(engine)


def test_more_than_the_web_takes_on_is_left_to_the_worker(engine: Engine) -> None:
    two_messages(engine)
    before = _pairs(engine)
    _mark_everything(engine)
    left = stale.refresh_stale(engine, full_allowed=False, max_pairs=1)
    assert left.deferred and _marked(engine)
    done = stale.refresh_stale(engine)  # what the sync worker's run ends with
    assert done.full and _pairs(engine) == before and not _marked(engine)
