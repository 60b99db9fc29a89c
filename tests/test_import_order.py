"""Importing mailboxes in any order gives the connections of one chronological import.

Two people's exports of one thread: importing the later messages first used to
leave the earlier ones' thread and reply credit wrong for good. The import now
marks what a late message changes and recomputes it at the end.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from signals.importers.run import import_paths
from signals.models import PairStrength, ThreadMember
from signals.rebuild import rebuild_aggregates
from tests.mailgen import T0, TRICIA, YVONNE, message

BOB = "Bob Kelly <bob.kelly@contoso.com>"


def _thread() -> list[bytes]:
    """Yvonne, Bob (Cc Tricia), Yvonne to Bob alone, Tricia, then Yvonne to both."""
    turns = [
        ("r0", YVONNE, (TRICIA,), ()),
        ("r1", BOB, (YVONNE,), (TRICIA,)),
        ("r2", YVONNE, (BOB,), ()),
        ("r3", TRICIA, (YVONNE,), ()),
        ("r4", YVONNE, (TRICIA, BOB), ()),
    ]
    out: list[bytes] = []
    refs: list[str] = []
    for i, (mid, sender, to, cc) in enumerate(turns):
        extra = (
            [("In-Reply-To", f"<{refs[-1]}@x>"), ("References", f"<{refs[0]}@x>")] if refs else []
        )
        out.append(
            message(
                msgid=f"{mid}@x",
                sender=sender,
                to=to,
                cc=cc,
                date=T0 + timedelta(hours=i),
                extra=extra,
                from_line=True,
            )
        )
        refs.append(mid)
    return out


def _mbox(path: Path, messages: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(messages))
    return path


def _state(engine: Engine) -> tuple[dict[Any, tuple[Any, ...]], set[Any]]:
    with engine.connect() as conn:
        pairs = {
            (r.introducer_id, r.lead_id): tuple(r)
            for r in conn.execute(select(PairStrength.__table__))
        }
        members = {(t, p) for t, p in conn.execute(select(ThreadMember.__table__))}
    return pairs, members


def test_later_messages_first_end_as_one_chronological_import(
    engine: Engine, tmp_path: Path
) -> None:
    thread = _thread()
    later = _mbox(tmp_path / "yvonne-later.mbox", [thread[2], thread[4]])
    earlier = _mbox(tmp_path / "tricia-earlier.mbox", [thread[0], thread[1], thread[3]])
    first = import_paths(engine, [later], internal_domains=["contoso.com"])
    second = import_paths(engine, [earlier], internal_domains=["contoso.com"])
    assert (first.new_interactions, second.new_interactions) == (2, 3)
    pass
    imported = _state(engine)
    rebuild_aggregates(engine)
    assert imported == _state(engine)
    assert len(imported[0]) == 2  # Tricia and Bob, each with Yvonne
