"""E-mail address and name normalisation, and what kind of sender an address is."""

from __future__ import annotations

import re
import unicodedata
from email.utils import getaddresses

from signals import settings

_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s@.'-]")


def normalise_email(raw: str) -> str | None:
    """Lower-cased bare address, or None when it is not an address."""
    value = raw.strip().strip("<>").strip().lower()
    if value.startswith("mailto:"):
        value = value[len("mailto:") :]
    if value.count("@") != 1:
        return None
    local, domain = value.split("@")
    if not local or "." not in domain or " " in value:
        return None
    return value


def domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1]


def local_part(email: str) -> str:
    return email.rsplit("@", 1)[0]


def name_key(name: str) -> str:
    """Case-, accent- and spacing-insensitive key for names."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = _NON_WORD.sub(" ", stripped.casefold()).replace("-", " ").replace("'", "")
    return _SPACES.sub(" ", cleaned).strip()


def name_from_email(email: str) -> str:
    """A readable guess at a name: 'yvonne.mckay@x' -> 'Yvonne Mckay'."""
    local = local_part(email).split("+", 1)[0]
    parts = [p for p in re.split(r"[._-]+", local) if p]
    return " ".join(p.capitalize() for p in parts) or email


def parse_address_list(values: list[str]) -> list[tuple[str, str]]:
    """(display name, normalised address) pairs from header values; junk dropped."""
    out: list[tuple[str, str]] = []
    for name, addr in getaddresses(values):
        email = normalise_email(addr)
        if email:
            out.append((name.strip().strip('"').strip(), email))
    return out


def _matches_local(local: str, parts: tuple[str, ...]) -> bool:
    for part in parts:
        if local == part:
            return True
        for sep in "-_.+":
            if local.startswith(part + sep) or local.endswith(sep + part):
                return True
    return False


def is_automated_address(email: str) -> bool:
    """noreply@, mailer-daemon@, notifications@... (setting AUTOMATED_LOCAL_PARTS)."""
    return _matches_local(local_part(email), settings.AUTOMATED_LOCAL_PARTS.get())


def is_shared_address(email: str) -> bool:
    """sales@, info@... : a shared mailbox, not one person (setting SHARED_LOCAL_PARTS)."""
    return local_part(email) in settings.SHARED_LOCAL_PARTS.get()


class DomainPolicy:
    """Decides whether an address belongs to the organisation."""

    def __init__(self, internal_domains: tuple[str, ...] | list[str] | None) -> None:
        domains = settings.INTERNAL_DOMAINS.get() if internal_domains is None else internal_domains
        self.domains = tuple(d.lower().lstrip("@") for d in domains)

    def is_internal(self, email: str) -> bool:
        domain = domain_of(email)
        return any(domain == d or domain.endswith("." + d) for d in self.domains)
