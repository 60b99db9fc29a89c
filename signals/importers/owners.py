"""Whose mailbox a set of imported messages came from.

A mailbox's owner is on (nearly) every message in it: as a recipient in the inbox,
as the author in sent items. Knowing the owner matters beyond coverage: an inbox-only
export shows its owner receiving from many senders and never sending, which is
exactly what a mailing list looks like, and the owner must not be taken for one.
"""

from __future__ import annotations

from collections import Counter

from signals.models import Kind
from signals.records import InteractionRecord

MIN_MESSAGES = 20
MIN_SHARE = 0.5


class OwnerGuess:
    def __init__(self) -> None:
        self.seen: dict[str, Counter[str]] = {}
        self.sizes: Counter[str] = Counter()

    def add(self, mailbox: str, rec: InteractionRecord) -> None:
        if rec.kind != Kind.EMAIL:
            return
        people = {p.email for p in (*rec.to, *rec.cc, *rec.bcc)}
        if rec.author is not None:
            people.add(rec.author.email)
        self.seen.setdefault(mailbox, Counter()).update(people)
        self.sizes[mailbox] += 1

    def owners(self) -> set[str]:
        """The address on more than half the messages of each mailbox big enough to tell."""
        found: set[str] = set()
        for mailbox, counts in self.seen.items():
            total = self.sizes[mailbox]
            if total < MIN_MESSAGES or not counts:
                continue
            address, n = counts.most_common(1)[0]
            if n > MIN_SHARE * total:
                found.add(address)
        return found
