"""Who may ask: the one place that decides whether a Teams user sees connection data.

Answers go to an enabled, internal colleague the directory knows: not a guest (Entra
``userType`` Guest), not disabled, not departed. With WHOKNOWS_ALLOWED_GROUPS set, only
the transitive members of those groups (synced with the directory into
``group_members``) may ask. The checks read the store on every turn and every click,
so a change in the directory holds from the next sync on.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, true
from sqlalchemy.orm import InstrumentedAttribute

from signals import settings as store_settings
from signals.models import GroupMember, Person


def is_colleague(person: Person) -> bool:
    """An enabled, internal directory colleague who is a person (may answer a request)."""
    return (
        person.internal
        and person.enabled
        and person.departed_at is None
        and not person.guest
        and not person.is_list
        and not person.is_shared
        and not person.is_automated
    )


def allowed_groups() -> list[str]:
    """WHOKNOWS_ALLOWED_GROUPS as stored by the sync (object ids, lower case)."""
    configured: tuple[str, ...] = store_settings.ALLOWED_GROUPS.get()
    return sorted({g.strip().lower() for g in configured} - {""})


def in_allowed_groups(
    person_id: ColumnElement[int] | InstrumentedAttribute[int],
) -> ColumnElement[bool]:
    """Member of a WHOKNOWS_ALLOWED_GROUPS group; true when that setting is empty. A
    column, so that the user's lookup reads it in the same statement (one round trip)."""
    groups = allowed_groups()
    if not groups:
        return true()
    return exists().where(GroupMember.person_id == person_id, GroupMember.group_id.in_(groups))


def may_ask(person: Person, in_groups: bool) -> bool:
    """Whether this person may see who knows whom (answers, details, introductions)."""
    return is_colleague(person) and in_groups
