"""Who may ask: the one place that decides whether a Teams user sees connection data.

Answers go to an enabled, internal colleague the directory knows: not a guest (Entra
``userType`` Guest), not disabled, not departed. With WHOKNOWS_ALLOWED_GROUPS set, only
the transitive members of those groups (synced with the directory into
``group_members``) may ask. The checks read the store on every turn and every click,
so a change in the directory holds from the next sync on.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

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


def in_allowed_groups(session: Session, person_id: int) -> bool:
    """Member of a WHOKNOWS_ALLOWED_GROUPS group; True when that setting is empty."""
    groups = sorted({g.strip().lower() for g in store_settings.ALLOWED_GROUPS.get()} - {""})
    if not groups:
        return True
    found = session.scalar(
        select(GroupMember.person_id)
        .where(GroupMember.person_id == person_id, GroupMember.group_id.in_(groups))
        .limit(1)
    )
    return found is not None


def may_ask(session: Session, person: Person) -> bool:
    """Whether this person may see who knows whom (answers, details, introductions)."""
    return is_colleague(person) and in_allowed_groups(session, person.id)
