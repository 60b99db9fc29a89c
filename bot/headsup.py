"""New-lead heads-ups, the bot side: who may get one, rate limits, and sending each once.

The CRM sync claims one ``lead_heads_ups`` row per newly assigned lead
(``signals.headsup``). :class:`HeadsUpSender` runs in the bot process (``whoknows
serve``): it takes due rows in a transaction that moves each from ``pending`` to
``sending`` only if it still is ``pending`` (so two bot processes never both send one),
sends the card through the proactive path introductions use, and records the outcome.
A row found ``sending`` long after it was claimed (the process died mid-send) is marked
failed, not sent again: at most once, never twice.

Nothing is sent to a colleague who may not ask (``bot.access``), opted out, is excluded,
or typed ``notify off``; nobody opted out or excluded is named on a card.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, literal, select, update
from sqlalchemy.orm import Session

from bot import access, lookup
from bot import settings as bot_settings
from bot.turn import Card, ConversationReference, DeliveryError, Proactive, UserAddress
from bot.users import Refusal, User, primary_email, utcnow
from cards.build import build_card
from cards.views import ColleagueView, HeadsUpView
from signals import settings as signal_settings
from signals.addresses import normalise_email
from signals.db import dialect_insert
from signals.models import (
    HEADS_UP_FAILED,
    HEADS_UP_PENDING,
    HEADS_UP_SENDING,
    HEADS_UP_SENT,
    HEADS_UP_SKIPPED,
    ConversationRef,
    CrmRecord,
    HeadsUp,
    NotifyPreference,
    Person,
)

log = logging.getLogger("whoknows.bot")

BATCH = 50
"""Rows looked at per round."""
STALE_CLAIM = timedelta(minutes=10)
"""A row still ``sending`` this long after its claim was interrupted."""


@dataclass(frozen=True)
class Limits:
    per_colleague_per_day: int
    per_tenant_per_minute: int
    max_age: timedelta

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            per_colleague_per_day=bot_settings.HEADS_UP_PER_COLLEAGUE_PER_DAY.get(),
            per_tenant_per_minute=bot_settings.HEADS_UP_PER_TENANT_PER_MINUTE.get(),
            max_age=timedelta(hours=bot_settings.HEADS_UP_MAX_AGE_HOURS.get()),
        )


@dataclass(frozen=True)
class Due:
    """A claimed heads-up: where it goes and what it says."""

    row_id: int
    target: ConversationReference | UserAddress
    card: Card


@dataclass
class Round:
    """What one round did (for logs and tests)."""

    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    failed: int = 0
    claimed: list[int] = field(default_factory=list)


# -- preferences -------------------------------------------------------------------------


def set_preference(session: Session, person_id: int, on: bool) -> None:
    """``notify on`` / ``notify off``: the colleague's own choice, kept over the default."""
    values = {"heads_up": on, "updated_at": utcnow()}
    stmt = dialect_insert(session, NotifyPreference).values(person_id=person_id, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["person_id"], set_=values))


def wants_heads_up(session: Session, person_id: int) -> bool:
    choice = session.scalar(
        select(NotifyPreference.heads_up).where(NotifyPreference.person_id == person_id)
    )
    return bot_settings.HEADS_UP.get() if choice is None else bool(choice)


def is_excluded(person: Person, email: str | None) -> bool:
    """Excluded by the administrator (``WHOKNOWS_EXCLUDED_PEOPLE``: e-mails, ``dept:``)."""
    excluded: tuple[str, ...] = tuple(signal_settings.EXCLUDED_PEOPLE.get())
    emails = {e for e in (normalise_email(x) for x in excluded) if e}
    departments = {x[5:].strip().lower() for x in excluded if x.lower().startswith("dept:")}
    if email and email in emails:
        return True
    return bool(person.department and person.department.strip().lower() in departments)


def _left_out(person: Person, email: str | None) -> bool:
    """Neither told nor named: not an enabled colleague (disabled, departed, a guest, a
    list), opted out, or excluded (by group, address or department)."""
    return (
        not access.is_colleague(person)
        or person.opted_out
        or person.excluded
        or is_excluded(person, email)
    )


def _reason_not_to_send(session: Session, owner: Person, email: str | None) -> str | None:
    if _left_out(owner, email):
        return "owner opted out, disabled or excluded"
    if not session.scalar(select(access.in_allowed_groups(literal(owner.id)))):
        return "owner may not ask (not in WHOKNOWS_ALLOWED_GROUPS)"
    if not wants_heads_up(session, owner.id):
        return "owner turned heads-ups off"
    return None


# -- what to send, and where ---------------------------------------------------------------


def _fallback_address(session: Session) -> tuple[str | None, str]:
    """Tenant and connector address for a colleague without a stored conversation: those of
    the newest stored conversation, else the settings."""
    stored = session.scalar(
        select(ConversationRef.reference).order_by(ConversationRef.updated_at.desc()).limit(1)
    )
    reference = json.loads(stored) if stored else {}
    tenant = reference.get("tenant_id") or bot_settings.MICROSOFT_APP_TENANT_ID.get() or None
    service_url = reference.get("service_url") or bot_settings.TEAMS_SERVICE_URL.get()
    return tenant, service_url


def _target(session: Session, owner: Person) -> ConversationReference | UserAddress | None:
    stored = session.scalar(
        select(ConversationRef.reference).where(ConversationRef.person_id == owner.id)
    )
    if stored:
        return ConversationReference.from_dict(json.loads(stored))
    tenant, service_url = _fallback_address(session)
    if owner.entra_id and tenant:
        return UserAddress(owner.entra_id, tenant, service_url)
    return None


def _named(session: Session, colleagues: tuple[ColleagueView, ...]) -> ColleagueView | None:
    """The strongest colleague who may be named (the ranking already leaves out opt-outs;
    exclusions are checked again here)."""
    for colleague in colleagues:
        person = session.get(Person, colleague.person_id)
        if person is not None and not _left_out(person, colleague.email or None):
            return colleague
    return None


def heads_up_view(session: Session, record: CrmRecord, owner: User) -> HeadsUpView | None:
    """The card's view: the lead and who knows them best, ranked for the owner."""
    if record.person_id is None:
        return None
    try:
        answer = lookup.answer_for(session, "person", record.person_id, owner)
    except Refusal:
        return None
    look = lookup.lookup_views(session, answer, owner)
    others = tuple(c for c in look.colleagues if c.person_id != owner.person_id)
    return HeadsUpView(
        lead=look.lead,
        colleague=_named(session, others),
        today=look.today,
        owner_knows_lead=answer.requester is not None,
    )


# -- claiming ------------------------------------------------------------------------------


def _count_since(session: Session, since: datetime, *conds: Any) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(HeadsUp)
            .where(
                HeadsUp.state.in_((HEADS_UP_SENT, HEADS_UP_SENDING)),
                HeadsUp.claimed_at >= since,
                *conds,
            )
        )
        or 0
    )


def _close(session: Session, row: HeadsUp, state: str, detail: str) -> None:
    row.state = state
    row.detail = detail[:500]


def claim_due(
    session: Session, worker: str, now: datetime, limits: Limits, report: Round
) -> list[Due]:
    """Move due rows from pending to sending (each only once, whoever else is looking) and
    return them with their cards; rows that must not be sent are closed as skipped."""
    session.execute(
        update(HeadsUp)
        .where(HeadsUp.state == HEADS_UP_SENDING, HeadsUp.claimed_at < now - STALE_CLAIM)
        .values(state=HEADS_UP_FAILED, detail="interrupted while sending; not sent again")
    )
    rows = session.scalars(
        select(HeadsUp)
        .where(HeadsUp.state == HEADS_UP_PENDING)
        .order_by(HeadsUp.created_at, HeadsUp.id)
        .limit(BATCH)
    ).all()
    due: list[Due] = []
    for row in rows:
        if now - row.created_at > limits.max_age:
            _close(session, row, HEADS_UP_SKIPPED, "too old: held back by the rate limits")
            report.skipped += 1
            continue
        owner = session.get(Person, row.owner_id)
        record = session.get(CrmRecord, row.crm_record_id)
        if owner is None or record is None:
            _close(session, row, HEADS_UP_SKIPPED, "lead or owner gone")
            report.skipped += 1
            continue
        email = primary_email(session, owner.id)
        if reason := _reason_not_to_send(session, owner, email):
            _close(session, row, HEADS_UP_SKIPPED, reason)
            report.skipped += 1
            continue
        target = _target(session, owner)
        if target is None:
            _close(session, row, HEADS_UP_SKIPPED, "no Teams conversation or Entra id")
            report.skipped += 1
            continue
        tenant = target.tenant_id
        if (
            _count_since(session, now - timedelta(minutes=1), HeadsUp.tenant_id == tenant)
            >= limits.per_tenant_per_minute
        ):
            report.deferred += 1
            break  # the tenant's budget for this minute is spent
        if (
            _count_since(session, now - timedelta(days=1), HeadsUp.owner_id == owner.id)
            >= limits.per_colleague_per_day
        ):
            report.deferred += 1
            continue
        user = User(owner.id, owner.display_name, email, owner.upn, owner.entra_id, False)
        view = heads_up_view(session, record, user)
        if view is None:
            _close(session, row, HEADS_UP_SKIPPED, "the lead is no longer in the store")
            report.skipped += 1
            continue
        won = session.execute(  # type: ignore[attr-defined]  # a CursorResult
            update(HeadsUp)
            .where(HeadsUp.id == row.id, HeadsUp.state == HEADS_UP_PENDING)
            .values(state=HEADS_UP_SENDING, claimed_by=worker, claimed_at=now, tenant_id=tenant)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won == 1:
            due.append(Due(row.id, target, build_card(view)))
            report.claimed.append(row.id)
    return due


def _finish(session: Session, row_id: int, state: str, detail: str) -> None:
    values: dict[str, Any] = {"state": state, "detail": detail[:500]}
    if state == HEADS_UP_SENT:
        values["sent_at"] = utcnow()
    session.execute(update(HeadsUp).where(HeadsUp.id == row_id).values(**values))


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class HeadsUpSender:
    """Sends due heads-ups from the bot process, one round at a time."""

    def __init__(
        self, engine: Engine, *, worker: str | None = None, limits: Limits | None = None
    ) -> None:
        self.engine = engine
        self.worker = worker or default_worker()
        self.limits = limits

    async def _db(self, fn: Any, *args: Any) -> Any:
        def work() -> Any:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                return fn(session, *args)

        return await asyncio.to_thread(work)

    async def deliver(self, proactive: Proactive, *, now: datetime | None = None) -> Round:
        """One round: claim what is due, send it, record each outcome."""
        report = Round()
        limits = self.limits or Limits.from_settings()
        due: list[Due] = await self._db(claim_due, self.worker, now or utcnow(), limits, report)
        for item in due:
            try:
                delivery = await proactive.send_to_user(item.target, item.card)
            except DeliveryError as exc:
                log.info("heads-up %s not delivered: %s", item.row_id, exc)
                await self._db(_finish, item.row_id, HEADS_UP_FAILED, str(exc))
                report.failed += 1
                continue
            await self._db(_finish, item.row_id, HEADS_UP_SENT, delivery.activity_id)
            report.sent += 1
        return report

    async def run_forever(self, proactive: Proactive) -> None:
        """Deliver every ``WHOKNOWS_HEADS_UP_INTERVAL_SECONDS`` until cancelled."""
        while True:
            try:
                done = await self.deliver(proactive)
                if done.sent or done.failed:
                    log.info(
                        "heads-ups: %d sent, %d failed, %d skipped, %d held back",
                        done.sent, done.failed, done.skipped, done.deferred,
                    )  # fmt: skip
            except Exception:
                log.exception("sending heads-ups failed; trying again later")
            await asyncio.sleep(bot_settings.HEADS_UP_INTERVAL_SECONDS.get())
