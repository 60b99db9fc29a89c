"""The Teams user behind a turn, their conversations, and the first welcome.

All of ``bot.users``, ``bot.lookup``, ``bot.introductions`` and ``bot.privacy`` are
plain synchronous functions on a Session: the async layer (``bot.conversation``) runs
them in a worker thread, so the event loop never waits on the database. Nothing in them
trusts card data: ids are looked up again every time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import access
from bot import settings as bot_settings
from cards import texts
from cards.views import (
    PersonRef,
)
from signals.db import dialect_insert
from signals.models import (
    Address,
    BotConversation,
    ConversationRef,
    Person,
)


class Refusal(Exception):
    """A request the user may not make; the message says why, politely."""


@dataclass(frozen=True)
class User:
    """The person behind a Teams user, when the directory knows them.

    ``colleague``: an enabled, internal, non-guest colleague (may answer a request);
    ``may_ask``: also allowed to see connection data (``bot.access``)."""

    person_id: int
    name: str
    email: str | None
    upn: str | None
    entra_id: str | None
    opted_out: bool
    colleague: bool = False
    may_ask: bool = False

    @property
    def ref(self) -> PersonRef:
        return PersonRef(self.name, self.email, self.person_id, self.upn or self.email)


def check_asker(user: User | None) -> User:
    """The one check before an answer names anyone (chat-free surfaces call it: the search
    extension, link unfurling): the asker must be a colleague in the directory who may ask
    (enabled, not a guest, in the allowed groups when they are set: ``bot.access``)."""
    if user is None or not user.may_ask:
        raise Refusal(texts.SEARCH_NOT_A_COLLEAGUE)
    return user


def utcnow() -> datetime:
    return datetime.now(UTC)


def primary_email(session: Session, person_id: int) -> str | None:
    return session.scalar(
        select(Address.email).where(Address.person_id == person_id).order_by(Address.id).limit(1)
    )


def find_user(session: Session, aad_object_id: str | None, dev_mode: bool) -> User | None:
    """Map a Teams user to a colleague: by Entra object id; in local development, the
    configured stand-in (``WHOKNOWS_DEV_USER``)."""
    found = None
    in_groups = access.in_allowed_groups(Person.id)
    if aad_object_id:
        found = session.execute(
            select(Person, in_groups).where(Person.entra_id == aad_object_id, Person.internal)
        ).first()
    if found is None and dev_mode and bot_settings.DEV_USER.get():
        found = session.execute(
            select(Person, in_groups)
            .join(Address, Address.person_id == Person.id)
            .where(Address.email == bot_settings.DEV_USER.get().strip().lower())
        ).first()
    if found is None:
        return None
    person, member = found
    email = primary_email(session, person.id)
    return User(
        person.id,
        person.display_name,
        email,
        person.upn,
        person.entra_id,
        person.opted_out,
        colleague=access.is_colleague(person),
        may_ask=access.may_ask(person, bool(member)),
    )


def remember_conversation(session: Session, person_id: int, reference: dict[str, Any]) -> None:
    """Keep the user's 1:1 conversation so that requests can reach them later.

    An upsert: Teams sends installationUpdate and conversationUpdate at once, and two
    turns inserting the same row would make one of them fail."""
    values = {"reference": json.dumps(reference), "updated_at": utcnow()}
    stmt = dialect_insert(session, ConversationRef).values(person_id=person_id, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["person_id"], set_=values))


def stored_conversation(session: Session, person_id: int) -> dict[str, Any] | None:
    """The user's 1:1 conversation with the bot, as :func:`remember_conversation` kept it."""
    row = session.get(ConversationRef, person_id)
    if row is None:
        return None
    reference = json.loads(row.reference)
    return reference if isinstance(reference, dict) else None


def first_welcome(
    session: Session, conversation_id: str, conversation_type: str | None, tenant_id: str | None
) -> bool:
    """True exactly once per conversation: the caller sends the welcome card then.

    Concurrent install turns race here; the insert that wins sends the welcome."""
    inserted = session.execute(
        dialect_insert(session, BotConversation)
        .values(
            conversation_id=conversation_id,
            conversation_type=conversation_type,
            tenant_id=tenant_id,
            welcomed_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["conversation_id"])
        .returning(BotConversation.conversation_id)
    ).scalar()
    if inserted is not None:
        return True
    row = session.get(BotConversation, conversation_id, with_for_update=True)
    if row is None:
        return False
    if row.welcomed_at is None:
        row.welcomed_at = utcnow()
        return True
    return False
