"""Settings of the signal store and its importers."""

from __future__ import annotations

from signals.config import declare

SECTION = "Store and import"

DATABASE_URL = declare(
    "database_url",
    "sqlite:///whoknows.db",
    "Where the signal store lives: a SQLite file (default) or `postgresql://user@host/db`.",
    section=SECTION,
)
REPLICAS = declare(
    "replicas",
    1,
    "How many processes share this store: bot containers plus sync workers. More than one "
    "needs PostgreSQL (`whoknows doctor` checks).",
    section=SECTION,
)
INTERNAL_DOMAINS = declare(
    "internal_domains",
    ("contoso.com",),
    "The organisation's own e-mail domains (comma-separated): decides colleague vs external.",
    section=SECTION,
)
STORE_SUBJECTS = declare(
    "store_subjects",
    False,
    "Keep e-mail subjects and meeting titles in the store (off: used while importing only).",
    section=SECTION,
)
RETENTION_DAYS = declare(
    "retention_days",
    1095,
    "The look-back window, in days: interactions older than this are deleted by the sync "
    "worker and `whoknows db purge`, and the scores that counted them recomputed. Recency "
    "already makes old contact weigh little; the window bounds what is kept without "
    "forgetting a long relationship after one year. Keep it at least "
    "WHOKNOWS_SYNC_BACKFILL_DAYS, or the sync reads mail the purge then deletes.",
    section=SECTION,
)

AUDIT_RETENTION_DAYS = declare(
    "audit_retention_days",
    365,
    "Audit log entries older than this many days are deleted by the sync worker and "
    "`whoknows db purge`.",
    section=SECTION,
)
HALF_LIFE_DAYS = declare(
    "half_life_days",
    90.0,
    "Half-life of a contact's weight, in days (recency). Changing it needs `whoknows db rebuild`.",
    section=SECTION,
)
MAX_AUDIENCE = declare(
    "max_audience",
    50,
    "Messages and meetings with more human recipients than this count for nothing.",
    section=SECTION,
)
LIST_MIN_SENDERS = declare(
    "list_min_senders",
    10,
    "An address that receives from this many senders and never sends is a list or alias.",
    section=SECTION,
)
AUTOMATED_LOCAL_PARTS = declare(
    "automated_local_parts",
    (
        "noreply",
        "no-reply",
        "donotreply",
        "do-not-reply",
        "mailer-daemon",
        "postmaster",
        "notifications",
        "notification",
        "newsletter",
        "news",
        "bounce",
        "bounces",
        "alerts",
        "automailer",
        "digest",
        "marketing",
        "info-noreply",
    ),
    "Local parts (or prefixes followed by - _ . +) of automated senders whose mail is ignored.",
    section=SECTION,
)
SHARED_LOCAL_PARTS = declare(
    "shared_local_parts",
    (
        "sales",
        "info",
        "support",
        "help",
        "hello",
        "contact",
        "office",
        "admin",
        "team",
        "billing",
        "accounts",
        "hr",
        "jobs",
        "careers",
        "press",
        "service",
        "orders",
    ),
    "Local parts of shared mailboxes: such an address is never proposed as an introducer.",
    section=SECTION,
)
BATCH_SIZE = declare(
    "batch_size",
    10000,
    "Interactions written per transaction while importing or syncing.",
    section=SECTION,
)
EXCLUDED_PEOPLE = declare(
    "excluded_people",
    (),
    "Colleagues (e-mail addresses) or departments (`dept:Finance`) excluded from analysis.",
    section=SECTION,
)
EXCLUDED_GROUPS = declare(
    "excluded_groups",
    (),
    "Entra security group ids (comma-separated) whose members, nested groups included, are "
    "never analysed nor proposed as introducers; their stored data is deleted at the next "
    "sync (needs GroupMember.Read.All).",
    section=SECTION,
)
ALLOWED_GROUPS = declare(
    "allowed_groups",
    (),
    "Entra security group ids (comma-separated): only their members, nested groups included, "
    "may ask whoknows. Empty: every enabled colleague may (needs GroupMember.Read.All).",
    section=SECTION,
)
