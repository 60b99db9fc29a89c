"""The signal store: who communicated with whom, when, how, never what.

People are internal colleagues and external contacts alike (``internal`` tells
which), each with any number of addresses. Interactions keep metadata only.
``PairStrength`` is the per-pair aggregate that the ranking query reads; it is
kept up to date as interactions arrive (see ``signals.aggregate``) so that a
ranking never scans raw interactions.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

_parse = datetime.fromisoformat


def sqlite_datetime(value: str | None) -> datetime | None:
    """A time as SQLite keeps it (naive UTC text, "2026-11-27 09:30:00[.ffffff]") as an
    aware UTC datetime. Appending the offset and parsing once is four times quicker
    than parsing and then replacing the tzinfo; other ISO forms are read too."""
    if value is None:
        return None
    rest = value[19:]
    if len(value) >= 19 and (not rest or (rest[0] == "." and rest[1:].isdigit())):
        return _parse(value + "+00:00")  # no offset: seconds, maybe a fraction, then the end
    parsed = _parse(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def sqlite_time(value: datetime | None) -> str | None:
    """A time as SQLite keeps it: naive UTC text with microseconds (a naive value is
    taken as UTC). One ``isoformat`` call: what SQLAlchemy's conversion and its SQLite
    type's formatting give, in a fifth of the time; an import writes several times per
    interaction."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def aware_utc(value: datetime | None) -> datetime | None:
    """A driver's datetime as an aware UTC one. The store's PostgreSQL sessions run in
    UTC (``signals.db``), so the usual value passes through untouched."""
    if value is None or value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no offset: we store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return sqlite_time
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name == "sqlite":
            # One C-level parse per value instead of SQLAlchemy's parse, then ours: the
            # ranking reads five of these per colleague.
            return sqlite_datetime
        if self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype) is None:
            return aware_utc  # the driver returns datetimes: one call instead of three
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return aware_utc(value)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Kind(enum.StrEnum):
    EMAIL = "email"
    MEETING = "meeting"
    CALL = "call"
    CHAT = "chat"


class Role(enum.StrEnum):
    FROM = "from"
    SENDER = "sender"  # sent on behalf of FROM
    TO = "to"
    CC = "cc"
    BCC = "bcc"
    ORGANIZER = "organizer"
    ATTENDEE = "attendee"
    CALLER = "caller"
    CALLEE = "callee"
    MEMBER = "member"  # chat member


class Response(enum.StrEnum):
    NONE = "none"
    ACCEPTED = "accepted"
    TENTATIVE = "tentative"
    DECLINED = "declined"
    ORGANIZER = "organizer"


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str] = mapped_column(String(300), index=True)

    domains: Mapped[list[CompanyDomain]] = relationship(back_populates="company")


class CompanyDomain(Base):
    __tablename__ = "company_domains"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )

    company: Mapped[Company] = relationship(back_populates="domains")


class Person(Base):
    """A colleague (``internal``) or an external contact, all addresses merged."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)  # no index: it would
    # lure SQLite's planner away from pair_strength's lead index in the ranking query
    display_name: Mapped[str] = mapped_column(String(300), default="")
    name_key: Mapped[str] = mapped_column(String(300), default="", index=True)
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), index=True
    )
    # Colleagues only.
    title: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(64))
    entra_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    upn: Mapped[str | None] = mapped_column(String(320))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    departed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Entra ``userType`` Guest: a B2B account, never a colleague who may ask.
    guest: Mapped[bool] = mapped_column(Boolean, default=False)
    # A member of a WHOKNOWS_EXCLUDED_GROUPS group (set by the sync's group pass): never
    # analysed, never proposed; their stored data is deleted.
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when they opt back in: nothing of theirs dated before it is stored again
    # (signals.privacy). None: no such limit.
    stored_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mailbox_analysed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Addresses that are not one human: mailing lists, aliases, shared mailboxes,
    # automated senders. Never an introducer, never a lead by name.
    is_list: Mapped[bool] = mapped_column(Boolean, default=False)
    is_shared: Mapped[bool] = mapped_column(Boolean, default=False)
    is_automated: Mapped[bool] = mapped_column(Boolean, default=False)

    addresses: Mapped[list[Address]] = relationship(back_populates="person")
    company: Mapped[Company | None] = relationship()


class GroupMember(Base):
    """A colleague in an Entra group named by WHOKNOWS_ALLOWED_GROUPS or
    WHOKNOWS_EXCLUDED_GROUPS, transitive members included (synced with the directory)."""

    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Address(Base):
    __tablename__ = "addresses"
    # By person, then id: a person's first address (their primary e-mail, shown
    # with every ranked colleague) is one index entry, with no sort.
    __table_args__ = (Index("ix_addresses_person_first", "person_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    display_name: Mapped[str | None] = mapped_column(String(300))
    # Counters for list/alias detection: distinct senders seen writing to it,
    # and how many messages it sent itself.
    sent_count: Mapped[int] = mapped_column(Integer, default=0)

    person: Mapped[Person] = relationship(back_populates="addresses")


class CrmRecord(Base):
    """A Dynamics 365 lead or contact, linked to the person it describes."""

    __tablename__ = "crm_records"
    __table_args__ = (UniqueConstraint("source", "crm_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # "lead" or "contact"
    crm_id: Mapped[str] = mapped_column(String(100))
    full_name: Mapped[str] = mapped_column(String(300), default="")
    name_key: Mapped[str] = mapped_column(String(300), default="", index=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    company_name: Mapped[str | None] = mapped_column(String(300))
    topic: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(64))
    owner_email: Mapped[str | None] = mapped_column(String(320))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    """The colleague the record is assigned to in the CRM (its ``ownerid``)."""


HEADS_UP_PENDING = "pending"
HEADS_UP_SENDING = "sending"
HEADS_UP_SENT = "sent"
HEADS_UP_SKIPPED = "skipped"
HEADS_UP_FAILED = "failed"


class HeadsUp(Base):
    """A lead newly assigned to a colleague: one row per (lead record, owner), claimed when
    the CRM sync sees the assignment, so that the owner hears about it at most once."""

    __tablename__ = "lead_heads_ups"
    __table_args__ = (UniqueConstraint("crm_record_id", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    crm_record_id: Mapped[int] = mapped_column(ForeignKey("crm_records.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(20), default=HEADS_UP_PENDING, index=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class NotifyPreference(Base):
    """A colleague's own choice about new-lead heads-ups (``notify off`` / ``notify on``);
    without a row the administrator's default applies."""

    __tablename__ = "notify_preferences"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    heads_up: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Interaction(Base):
    __tablename__ = "interactions"
    # By thread, and by the message replied to: what a scoped refresh of the
    # aggregates looks up around a removed or late message (signals.stale).
    __table_args__ = (
        Index("ix_interactions_thread", "thread_key"),
        Index("ix_interactions_parent", "parent_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    # Message-ID, a content hash, or event UID + recurrence id: makes imports idempotent.
    source_key: Mapped[str] = mapped_column(String(500), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    thread_key: Mapped[str | None] = mapped_column(String(500))
    parent_key: Mapped[str | None] = mapped_column(String(500))
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    bulk: Mapped[bool] = mapped_column(Boolean, default=False)
    is_list: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(Text)  # only with WHOKNOWS_STORE_SUBJECTS
    origin: Mapped[str] = mapped_column(String(40), default="import")


class Participant(Base):
    __tablename__ = "participants"

    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(12), primary_key=True)
    response: Mapped[str] = mapped_column(String(12), default=Response.NONE.value)


class ThreadMember(Base):
    """Who has written in a thread: lets a later message count as 'same thread'."""

    __tablename__ = "thread_members"

    thread_key: Mapped[str] = mapped_column(String(500), primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )


class StalePair(Base):
    """A pair whose aggregate no longer matches its interactions (one of them was
    removed, or its thread changed under it): recomputed by ``signals.stale``."""

    __tablename__ = "stale_pairs"

    introducer_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    lead_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )


class StaleThread(Base):
    """A thread whose messages no longer add up to the stored aggregates (a message
    was removed from it or arrived after a later one): see ``signals.stale``."""

    __tablename__ = "stale_threads"

    thread_key: Mapped[str] = mapped_column(String(500), primary_key=True)


# The features the aggregate keeps per pair. Each has a decayed, audience-weighted
# sum ``d_<feature>`` (against the store's epoch, see signals.aggregate) and a plain
# count ``n_<feature>``. "out" is introducer -> lead, "in" is lead -> introducer.
FEATURES: tuple[str, ...] = (
    "out_to",
    "out_cc",
    "out_reply",
    "out_thread",
    "in_to",
    "in_cc",
    "in_reply",
    "in_thread",
    "meeting",
    "call",
    "chat",
)


class PairStrength(Base):
    """Per (introducer, lead) aggregate: one row per candidate pair, whatever the volume."""

    __tablename__ = "pair_strength"
    # Keyed by lead first: a ranking reads one lead's pairs, which then sit together
    # (on SQLite the table is its key's B-tree; on PostgreSQL a full rebuild writes
    # them in key order, and free room in each page keeps an updated row in its page).
    # Migration 0004 says why.
    __table_args__ = (
        PrimaryKeyConstraint("lead_id", "introducer_id"),
        {"sqlite_with_rowid": False, "postgresql_with": {"fillfactor": 80}},
    )

    introducer_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    lead_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    d_out_to: Mapped[float] = mapped_column(Float, default=0.0)
    d_out_cc: Mapped[float] = mapped_column(Float, default=0.0)
    d_out_reply: Mapped[float] = mapped_column(Float, default=0.0)
    d_out_thread: Mapped[float] = mapped_column(Float, default=0.0)
    d_in_to: Mapped[float] = mapped_column(Float, default=0.0)
    d_in_cc: Mapped[float] = mapped_column(Float, default=0.0)
    d_in_reply: Mapped[float] = mapped_column(Float, default=0.0)
    d_in_thread: Mapped[float] = mapped_column(Float, default=0.0)
    d_meeting: Mapped[float] = mapped_column(Float, default=0.0)
    d_call: Mapped[float] = mapped_column(Float, default=0.0)
    d_chat: Mapped[float] = mapped_column(Float, default=0.0)
    n_out_to: Mapped[int] = mapped_column(Integer, default=0)
    n_out_cc: Mapped[int] = mapped_column(Integer, default=0)
    n_out_reply: Mapped[int] = mapped_column(Integer, default=0)
    n_out_thread: Mapped[int] = mapped_column(Integer, default=0)
    n_in_to: Mapped[int] = mapped_column(Integer, default=0)
    n_in_cc: Mapped[int] = mapped_column(Integer, default=0)
    n_in_reply: Mapped[int] = mapped_column(Integer, default=0)
    n_in_thread: Mapped[int] = mapped_column(Integer, default=0)
    n_meeting: Mapped[int] = mapped_column(Integer, default=0)
    n_call: Mapped[int] = mapped_column(Integer, default=0)
    n_chat: Mapped[int] = mapped_column(Integer, default=0)
    # Every interaction between the two, automated and bulk included (raw-count baseline).
    n_total: Mapped[int] = mapped_column(Integer, default=0)
    # Everything left out of the score: automated, bulk and list mail, mail or meetings
    # beyond the audience cap, declined or cancelled meetings, calls under a minute.
    n_ignored: Mapped[int] = mapped_column(Integer, default=0)
    # Left-out mail as weak evidence (audience-weighted, decayed; migration 0011).
    d_ignored: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # Of n_ignored: automated, bulk or list mail; mail or meetings beyond the audience cap.
    n_bulk: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    n_crowd: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Last reply either way, accepted meeting or connected call.
    last_mutual_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Lowered when the introducer answers "I don't know them well".
    feedback_factor: Mapped[float] = mapped_column(Float, default=1.0)


class StoreMeta(Base):
    """Key/value facts about the store: decay epoch and half-life, pair mode."""

    __tablename__ = "store_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SyncState(Base):
    """Progress of one sync source (e.g. a mailbox folder); leased by one worker at a time."""

    __tablename__ = "sync_state"
    __table_args__ = (UniqueConstraint("source", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))  # users, mail:inbox, calendar, calls, dataverse
    scope: Mapped[str] = mapped_column(String(200))  # mailbox id, or "" for tenant-wide
    delta_link: Mapped[str | None] = mapped_column(Text)
    next_link: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    items_total: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # in a row
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # backoff: not before


class GraphItem(Base):
    """Maps a Graph item id to the interaction it became, for updates and @removed."""

    __tablename__ = "graph_items"

    item_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )


REQUEST_OPEN = "sent"
"""The state of a request awaiting the colleague's answer (then accepted, declined or
not_known)."""


class Introduction(Base):
    """A request for a warm introduction, and the colleague's answer."""

    __tablename__ = "introductions"
    __table_args__ = (Index("ix_introductions_open", "requester_id", "introducer_id", "lead_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    introducer_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    lead_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(
        String(20), default="sent"
    )  # sent/accepted/declined/not_known
    note: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(20), default="teams")  # teams/email/link
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    request_activity_id: Mapped[str | None] = mapped_column(String(200))
    requester_conversation: Mapped[str | None] = mapped_column(Text)


class ConversationRef(Base):
    """The bot's conversation with a user (JSON reference), for proactive messages."""

    __tablename__ = "conversation_refs"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    reference: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BotConversation(Base):
    """A conversation the bot is part of (personal, group chat or channel): welcomed once."""

    __tablename__ = "bot_conversations"

    conversation_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    conversation_type: Mapped[str | None] = mapped_column(String(30))
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    welcomed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who did what, when: introductions, answers, opt-outs, deletions."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(320), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
