"""Whose mailbox a set of imported messages came from.

A mailbox's owner is on most messages in it: as a recipient in the inbox, as the
author in sent items. Knowing the owner matters beyond coverage: an inbox-only export
shows its owner receiving from many senders and never sending, which is exactly what
a mailing list looks like, and the owner must not be taken for one.

Real mailboxes are untidy (mail through aliases and lists, the owner under two
addresses, a newsletter that writes daily), so the owner is the address that is a
recipient at least once and is on clearly more messages than any other: at least
30 % of them, and 1.2 times the runner-up.
"""

from __future__ import annotations

from collections import Counter

from signals.models import Kind
from signals.records import InteractionRecord

MIN_MESSAGES = 20
MIN_SHARE = 0.3
MIN_LEAD = 1.2
SENT_SHARE = 0.02  # below this share of its own mailbox, an owner is not seen sending


class OwnerGuess:
    def __init__(self) -> None:
        self.received: dict[str, Counter[str]] = {}
        self.sent: dict[str, Counter[str]] = {}
        self.sizes: Counter[str] = Counter()

    def add(self, mailbox: str, rec: InteractionRecord) -> None:
        if rec.kind != Kind.EMAIL:
            return
        recipients = {p.email for p in (*rec.to, *rec.cc, *rec.bcc)}
        self.received.setdefault(mailbox, Counter()).update(recipients)
        if rec.author is not None and rec.author.email not in recipients:
            self.sent.setdefault(mailbox, Counter())[rec.author.email] += 1
        self.sizes[mailbox] += 1

    def owner_of(self, mailbox: str) -> str | None:
        total = self.sizes[mailbox]
        received = self.received.get(mailbox, Counter())
        if total < MIN_MESSAGES or not received:
            return None
        sent = self.sent.get(mailbox, Counter())
        on = sorted(((received[a] + sent[a], a) for a in received), reverse=True)
        best, address = on[0]
        runner_up = on[1][0] if len(on) > 1 else 0
        if best >= MIN_SHARE * total and best >= MIN_LEAD * runner_up:
            return address
        return None

    def owners(self) -> set[str]:
        found = {self.owner_of(mailbox) for mailbox in self.sizes}
        return {address for address in found if address is not None}

    def sent_items_missing(self) -> bool:
        """True when the owners are (almost) never the author in their own mailboxes: an
        inbox-only export, where "never sends" says nothing about being a list."""
        owned = [(mailbox, self.owner_of(mailbox)) for mailbox in self.sizes]
        shares = [
            self.sent.get(mailbox, Counter())[owner] / self.sizes[mailbox]
            for mailbox, owner in owned
            if owner is not None
        ]
        return bool(shares) and sum(share < SENT_SHARE for share in shares) >= 0.8 * len(shares)
