"""The demo organisation: colleagues, external companies and contacts, CRM records.

Everything comes from one seeded :class:`random.Random`; the same seed and
size give the same organisation. The story's people (see
:mod:`signals.demo.story`) are placed first, then generated people fill the
departments up to the size asked for.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from signals.crm import CrmEntry
from signals.demo import names, story
from signals.directory import DirectoryPerson
from signals.records import Party

DOMAIN = "contoso.com"


@dataclass(frozen=True)
class DemoSize:
    """How big the generated organisation is; ``volume`` scales every activity rate."""

    name: str
    employees: int
    companies: int
    contacts: int
    crm_records: int
    volume: float


SIZES: dict[str, DemoSize] = {
    "tiny": DemoSize("tiny", employees=40, companies=25, contacts=160, crm_records=40, volume=0.5),
    "small": DemoSize(
        "small", employees=300, companies=260, contacts=3000, crm_records=400, volume=1.0
    ),
    "large": DemoSize(
        "large", employees=5000, companies=4000, contacts=50000, crm_records=4000, volume=7.0
    ),
}

# Department: (share of employees, titles, how many external relationships a member keeps).
DEPARTMENTS: dict[str, tuple[float, tuple[str, ...], float]] = {
    "Sales": (
        0.19,
        (
            "Account Executive",
            "Senior Account Executive",
            "Key Account Manager",
            "Sales Development Representative",
            "Sales Manager",
        ),
        26.0,
    ),
    "Customer Success": (
        0.12,
        ("Customer Success Manager", "Senior Customer Success Manager", "Support Engineer"),
        20.0,
    ),
    "Marketing": (
        0.09,
        ("Marketing Manager", "Content Marketer", "Events Manager", "Product Marketing Manager"),
        8.0,
    ),
    "Engineering": (
        0.28,
        ("Software Engineer", "Senior Software Engineer", "Solutions Engineer", "QA Engineer"),
        1.5,
    ),
    "Operations": (
        0.11,
        ("Service Technician", "Logistics Coordinator", "Operations Manager", "Buyer"),
        7.0,
    ),
    "Finance": (0.08, ("Accountant", "Billing Specialist", "Financial Analyst"), 4.0),
    "Legal": (0.04, ("Counsel", "Paralegal", "Contracts Manager"), 3.0),
    "HR": (0.05, ("HR Business Partner", "Recruiter", "People Operations Specialist"), 0.5),
    "Executive": (0.04, ("Vice President", "Director", "Chief of Staff"), 10.0),
}
AREA_CODES = ("425", "206", "312", "646", "415", "512", "617", "303")


@dataclass(slots=True)
class Colleague:
    index: int
    name: str
    email: str
    department: str
    title: str
    phone: str
    entra_id: str
    analysed: bool = True
    opted_out: bool = False
    departed_at: datetime | None = None
    shared: bool = False
    team: tuple[int, ...] = ()
    story_key: str | None = None

    @property
    def party(self) -> Party:
        return Party(self.email, self.name)

    @property
    def active(self) -> bool:
        """Generates signals: not opted out, mailbox analysed."""
        return self.analysed and not self.opted_out and not self.shared


@dataclass(slots=True)
class Company:
    index: int
    name: str
    domain: str
    contacts: list[int] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)  # colleagues who look after the account


@dataclass(slots=True)
class Contact:
    index: int
    name: str
    email: str
    company: int
    title: str
    phone: str
    personal_email: str | None = None
    story_key: str | None = None

    @property
    def party(self) -> Party:
        return Party(self.email, self.name)


@dataclass
class Org:
    size: DemoSize
    today: date
    colleagues: list[Colleague]
    companies: list[Company]
    contacts: list[Contact]
    crm: list[CrmEntry]
    story_colleagues: dict[str, Colleague]
    story_contacts: dict[str, Contact]

    @property
    def start(self) -> datetime:
        """A year before ``today``: where the generated signals begin."""
        return datetime.combine(self.today - timedelta(days=365), time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.today, time(), tzinfo=UTC)

    def directory(self) -> list[DirectoryPerson]:
        return [
            DirectoryPerson(
                emails=[c.email],
                display_name=c.name,
                title=c.title,
                department=c.department,
                phone=c.phone,
                entra_id=c.entra_id,
                upn=c.email,
                enabled=c.departed_at is None,
                departed_at=c.departed_at,
                is_shared=c.shared,
            )
            for c in self.colleagues
        ]


class _Addresses:
    """firstname.lastname@domain, with a digit on a collision (jane.doe2@...)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def make(self, first: str, last: str, domain: str) -> str:
        base = f"{names.slug(first)}.{names.slug(last)}"
        candidate, n = f"{base}@{domain}", 1
        while candidate in self.taken:
            n += 1
            candidate = f"{base}{n}@{domain}"
        self.taken.add(candidate)
        return candidate


def _phone(rng: random.Random) -> str:
    # 555-0100..0199 are reserved for fiction.
    return f"+1 {rng.choice(AREA_CODES)} 555 01{rng.randrange(100):02d}"


def _entra_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _colleagues(
    rng: random.Random, size: DemoSize, today: date, addrs: _Addresses
) -> list[Colleague]:
    out: list[Colleague] = []
    for sc in story.STORY_COLLEAGUES:
        first, last = sc.name.split(" ", 1)
        email = sc.email or addrs.make(first, last, DOMAIN)
        addrs.taken.add(email)
        departed = (
            datetime.combine(today - timedelta(days=sc.departed_days_ago), time(17), tzinfo=UTC)
            if sc.departed_days_ago is not None
            else None
        )
        out.append(
            Colleague(
                index=len(out),
                name=sc.name,
                email=email,
                department=sc.department,
                title=sc.title,
                phone=_phone(rng),
                entra_id=_entra_id(rng),
                departed_at=departed,
                shared=sc.shared,
                story_key=sc.key,
            )
        )
    depts = list(DEPARTMENTS)
    shares = [DEPARTMENTS[d][0] for d in depts]
    while len(out) < size.employees:
        first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
        dept = rng.choices(depts, shares)[0]
        out.append(
            Colleague(
                index=len(out),
                name=f"{first} {last}",
                email=addrs.make(first, last, DOMAIN),
                department=dept,
                title=rng.choice(DEPARTMENTS[dept][1]),
                phone=_phone(rng),
                entra_id=_entra_id(rng),
            )
        )
    generated = [c for c in out if c.story_key is None]
    # A few opted out, a few left during the year, ~20% of mailboxes not analysed.
    special = rng.sample(generated, len(generated) * 4 // 10)
    n_opted = max(1, min(5, len(generated) // 75 + 2))
    n_departed = max(1, len(generated) // 50)
    for c in special[:n_opted]:
        c.opted_out = True
        c.analysed = False
    for c in special[n_opted : n_opted + n_departed]:
        c.departed_at = datetime.combine(
            today - timedelta(days=rng.randrange(20, 330)), time(17), tzinfo=UTC
        )
    n_unanalysed = len(out) // 5 - n_opted
    for c in special[n_opted + n_departed : n_opted + n_departed + n_unanalysed]:
        c.analysed = False
    # Teams: a handful of close colleagues in the same department (who get Cc'd).
    by_dept: dict[str, list[int]] = {}
    for c in out:
        if not c.shared:
            by_dept.setdefault(c.department, []).append(c.index)
    for c in out:
        peers = [i for i in by_dept.get(c.department, []) if i != c.index]
        c.team = tuple(rng.sample(peers, min(len(peers), rng.randrange(2, 6))))
    return out


def _companies(rng: random.Random, size: DemoSize) -> list[Company]:
    out = [Company(i, n, d) for i, (n, d) in enumerate(names.SAMPLE_COMPANIES)]
    seen = {c.name for c in out}
    while len(out) < size.companies:
        name = f"{rng.choice(names.COMPANY_STEMS)} {rng.choice(names.COMPANY_TRADES)}"
        if name in seen:
            name = f"{name} {rng.choice(('North', 'South', 'East', 'West', 'Bay', 'City'))}"
            if name in seen:
                continue
        seen.add(name)
        out.append(Company(len(out), name, names.domain_for(name)))
    return out


def _contacts(
    rng: random.Random, size: DemoSize, companies: list[Company], addrs: _Addresses
) -> list[Contact]:
    out: list[Contact] = []
    by_domain = {c.domain: c for c in companies}
    for sc in story.STORY_CONTACTS:
        company = by_domain[sc.domain]
        first, last = sc.name.split(" ", 1)
        email = addrs.make(first, last, sc.domain)
        contact = Contact(
            len(out),
            sc.name,
            email,
            company.index,
            sc.title,
            _phone(rng),
            personal_email=sc.personal_email,
            story_key=sc.key,
        )
        if sc.personal_email:
            addrs.taken.add(sc.personal_email)
        company.contacts.append(contact.index)
        out.append(contact)
    # Company sizes are skewed: a few big accounts, many small ones.
    weights = [1.0 / (rank + 1) ** 0.7 for rank in range(len(companies))]
    rng.shuffle(weights)
    weights[0] = min(weights)  # Fourth Coffee is a small business: a few people
    total = sum(weights)
    for company, w in zip(companies, weights, strict=True):
        n = max(2, round(size.contacts * w / total))
        for _ in range(n):
            first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
            email = addrs.make(first, last, company.domain)
            personal = None
            if rng.random() < 0.06:
                personal = addrs.make(first, last, rng.choice(names.PERSONAL_DOMAINS))
            contact = Contact(
                len(out),
                f"{first} {last}",
                email,
                company.index,
                rng.choice(names.JOB_TITLES_EXTERNAL),
                _phone(rng),
                personal_email=personal,
            )
            company.contacts.append(contact.index)
            out.append(contact)
    return out


def _assign_owners(
    rng: random.Random, colleagues: list[Colleague], companies: list[Company]
) -> None:
    """Each account is looked after by a salesperson and often a customer success manager."""
    sales = [c.index for c in colleagues if c.department == "Sales" and c.active]
    success = [c.index for c in colleagues if c.department == "Customer Success" and c.active]
    for company in companies:
        if sales:
            company.owners.append(rng.choice(sales))
        if success and rng.random() < 0.7:
            company.owners.append(rng.choice(success))


def _crm(
    rng: random.Random,
    size: DemoSize,
    colleagues: list[Colleague],
    companies: list[Company],
    contacts: list[Contact],
) -> list[CrmEntry]:
    """Leads and contacts; contacts with a personal address list both (merged identities)."""
    entries: list[CrmEntry] = []
    by_key = {c.story_key: c for c in contacts if c.story_key}
    by_colleague = {c.story_key: c for c in colleagues if c.story_key}
    for sc in story.STORY_CONTACTS:
        if sc.crm_source is None:
            continue
        contact = by_key[sc.key]
        owner = by_colleague[sc.crm_owner] if sc.crm_owner else None
        entries.append(
            CrmEntry(
                source=sc.crm_source,
                crm_id=_entra_id(rng),
                full_name=contact.name,
                emails=[
                    contact.email,
                    *([contact.personal_email] if contact.personal_email else []),
                ],
                company_name=companies[contact.company].name,
                topic=sc.topic,
                phone=contact.phone,
                owner_email=owner.email if owner else None,
            )
        )
    sellers = [c for c in colleagues if c.department in ("Sales", "Customer Success") and c.active]
    story_keys = {sc.key for sc in story.STORY_CONTACTS}
    pool = [c for c in contacts if c.story_key not in story_keys]
    with_personal = [c for c in pool if c.personal_email]
    others = [c for c in pool if not c.personal_email]
    n_others = max(0, size.crm_records - len(entries) - len(with_personal))
    chosen = with_personal + rng.sample(others, min(len(others), n_others))
    for contact in chosen:
        is_lead = rng.random() < 0.45
        owner = rng.choice(sellers) if sellers else None
        entries.append(
            CrmEntry(
                source="lead" if is_lead else "contact",
                crm_id=_entra_id(rng),
                full_name=contact.name,
                emails=[
                    contact.email,
                    *([contact.personal_email] if contact.personal_email else []),
                ],
                company_name=companies[contact.company].name,
                topic=rng.choice(names.LEAD_TOPICS) if is_lead else None,
                phone=contact.phone,
                owner_email=owner.email if owner else None,
            )
        )
    return entries


def build_org(rng: random.Random, size: DemoSize, today: date) -> Org:
    addrs = _Addresses()
    colleagues = _colleagues(rng, size, today, addrs)
    companies = _companies(rng, size)
    contacts = _contacts(rng, size, companies, addrs)
    _assign_owners(rng, colleagues, companies)
    crm = _crm(rng, size, colleagues, companies, contacts)
    return Org(
        size=size,
        today=today,
        colleagues=colleagues,
        companies=companies,
        contacts=contacts,
        crm=crm,
        story_colleagues={c.story_key: c for c in colleagues if c.story_key},
        story_contacts={c.story_key: c for c in contacts if c.story_key},
    )
