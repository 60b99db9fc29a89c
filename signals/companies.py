"""Companies from e-mail domains: a domain names a company unless it is a public mail host."""

from __future__ import annotations

PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "yahoo.co.uk",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "fastmail.com",
        "hey.com",
        "qq.com",
        "163.com",
        "orange.fr",
        "free.fr",
        "btinternet.com",
        "comcast.net",
        "verizon.net",
    }
)
_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu", "ltd", "plc"}


def is_public_domain(domain: str) -> bool:
    return domain.lower() in PUBLIC_MAIL_DOMAINS


def company_label(domain: str) -> str:
    """The registrable label: 'mail.fourthcoffee.co.uk' -> 'fourthcoffee'."""
    labels = domain.lower().split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else labels[0]


def company_name_from_domain(domain: str) -> str:
    """A readable default name; CRM data or the demo generator can set a better one."""
    label = company_label(domain)
    return " ".join(part.capitalize() for part in label.replace("_", "-").split("-"))
