"""The sync's group pass: Entra groups that decide who may ask and who is never analysed.

WHOKNOWS_ALLOWED_GROUPS names the groups whose members may ask whoknows;
WHOKNOWS_EXCLUDED_GROUPS the groups whose members are never analysed nor proposed.
Each run, right after the directory, reads every named group's transitive members
(``/groups/{id}/transitiveMembers``, nested groups included, every page) into
``group_members``, sets ``Person.excluded`` from the excluded groups, and deletes the
stored data of excluded colleagues with the opt-out's deletion
(:func:`signals.store.forget_person`), one transaction each.

A group that cannot be read (no GroupMember.Read.All, a wrong id, Graph failing) keeps
the members stored from its last good read: an allowed group never opens up and an
excluded group never lets its members back in because of an outage. A group no longer
named loses its rows, and nobody stays excluded by it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import Engine, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from signals import db
from signals.graph.client import GraphClient
from signals.graph.errors import NotPermitted, SyncError
from signals.models import GroupMember, PairStrength, Participant, Person
from signals.store import audit, forget_person

T = TypeVar("T")
RunDb = Callable[[Callable[[], T]], Awaitable[T]]

USER_TYPE = "#microsoft.graph.user"
_GROUP_ID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_CHUNK = 5000  # ids per IN (...) list: far below both backends' parameter limits


@dataclass
class GroupsSummary:
    """What one group pass did."""

    groups_read: int = 0
    members: int = 0  # colleagues found in the groups read
    excluded: int = 0  # colleagues excluded after the pass
    forgotten: int = 0  # excluded colleagues whose stored data was deleted now
    problems: list[str] = field(default_factory=list)


async def member_ids(graph: GraphClient, group_id: str, page_size: int) -> set[str]:
    """Entra object ids of the group's users, nested groups' users included."""
    found: set[str] = set()
    async for page in graph.pages(
        f"groups/{quote(group_id)}/transitiveMembers",
        params={"$select": "id"},
        headers={"Prefer": f"odata.maxpagesize={page_size}"},
    ):
        for item in page.items:
            if item.get("@odata.type") == USER_TYPE and item.get("id"):
                found.add(str(item["id"]))
    return found


async def sync_groups(
    graph: GraphClient,
    engine: Engine,
    run_db: RunDb[Any],
    *,
    allowed: Iterable[str],
    excluded: Iterable[str],
    page_size: int,
    now: datetime,
) -> GroupsSummary:
    """Read the named groups and apply them to the store (see the module docstring)."""
    summary = GroupsSummary()
    allowed_ids = tuple(dict.fromkeys(g.strip().lower() for g in allowed if g.strip()))
    excluded_ids = tuple(dict.fromkeys(g.strip().lower() for g in excluded if g.strip()))
    read: dict[str, set[str]] = {}
    for group_id in dict.fromkeys((*allowed_ids, *excluded_ids)):
        if not _GROUP_ID.match(group_id):
            summary.problems.append(f"group {group_id!r}: not a group object id, kept as it was")
            continue
        try:
            read[group_id] = await member_ids(graph, group_id, page_size)
        except NotPermitted as exc:
            summary.problems.append(
                f"group {group_id}: not permitted ({exc.code or exc.status}; needs "
                "GroupMember.Read.All), kept as it was"
            )
        except SyncError as exc:
            summary.problems.append(f"group {group_id}: {exc}, kept as it was")
    summary.groups_read = len(read)

    def apply() -> tuple[int, set[int]]:
        with db.transaction(engine) as session:
            members = store_members(session, read, keep=(*allowed_ids, *excluded_ids))
            return members, mark_excluded(session, excluded_ids)

    summary.members, newly = await run_db(apply)
    for person_id in await run_db(partial(_with_data, engine)):
        if await run_db(partial(_forget, engine, person_id, now, person_id in newly)):
            summary.forgotten += 1
    summary.excluded = await run_db(lambda: _count_excluded(engine))
    return summary


def store_members(session: Session, read: dict[str, set[str]], *, keep: Iterable[str]) -> int:
    """Replace each read group's rows with its members the store knows; drop the rows
    of groups not in ``keep``. Inserts tolerate a concurrent worker doing the same."""
    session.execute(delete(GroupMember).where(GroupMember.group_id.not_in(list(keep))))
    total = 0
    for group_id, entra_ids in read.items():
        people: set[int] = set()
        ids = sorted(entra_ids)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            people.update(session.scalars(select(Person.id).where(Person.entra_id.in_(chunk))))
        stored = set(
            session.scalars(select(GroupMember.person_id).where(GroupMember.group_id == group_id))
        )
        gone = sorted(stored - people)
        for start in range(0, len(gone), _CHUNK):
            session.execute(
                delete(GroupMember).where(
                    GroupMember.group_id == group_id,
                    GroupMember.person_id.in_(gone[start : start + _CHUNK]),
                )
            )
        new = sorted(people - stored)
        for start in range(0, len(new), _CHUNK):
            rows = [{"group_id": group_id, "person_id": p} for p in new[start : start + _CHUNK]]
            session.execute(
                db.dialect_insert(session, GroupMember).values(rows).on_conflict_do_nothing()
            )
        total += len(people)
    return total


def mark_excluded(session: Session, excluded_groups: Iterable[str]) -> set[int]:
    """Set ``Person.excluded`` from the excluded groups' rows; returns who is newly excluded.
    Someone who left every excluded group starts afresh, as after an opt-in: nothing dated
    before this moment is stored again (``Person.stored_since``)."""
    in_groups = select(GroupMember.person_id).where(GroupMember.group_id.in_(list(excluded_groups)))
    newly = set(
        session.scalars(select(Person.id).where(Person.id.in_(in_groups), ~Person.excluded))
    )
    session.execute(
        update(Person)
        .where(Person.excluded, Person.id.not_in(in_groups))
        .values(excluded=False, stored_since=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    if newly:
        session.execute(
            update(Person)
            .where(Person.id.in_(sorted(newly)))
            .values(excluded=True)
            .execution_options(synchronize_session=False)
        )
    return newly


def _with_data(engine: Engine) -> list[int]:
    """Excluded colleagues the store still holds communication data about."""
    with engine.connect() as conn:
        return list(
            conn.scalars(
                select(Person.id).where(
                    Person.excluded,
                    or_(
                        exists().where(Participant.person_id == Person.id),
                        exists().where(PairStrength.introducer_id == Person.id),
                        exists().where(PairStrength.lead_id == Person.id),
                        Person.mailbox_analysed_at.is_not(None),
                    ),
                )
            )
        )


def _forget(engine: Engine, person_id: int, now: datetime, newly: bool) -> bool:
    """Delete one excluded colleague's data, as an opt-out does (if still excluded)."""
    with db.transaction(engine) as session:
        person = session.get(Person, person_id, with_for_update=True)
        if person is None or not person.excluded:
            return False
        forgotten = forget_person(session, person_id)
        person.mailbox_analysed_at = None
        audit(
            session,
            "sync",
            "privacy.excluded" if newly else "privacy.excluded_again",
            subject=str(person_id),
            detail=json.dumps({"at": now.isoformat(), "deleted": forgotten.__dict__}),
        )
        return True


def _count_excluded(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(Person.excluded)) or 0)
