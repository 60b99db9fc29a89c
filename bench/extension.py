"""How long a search-extension query and a link unfurl take against a demo store.

Teams gives a message-extension query five seconds. This builds (or reuses) a demo
organisation, then times ``bot.extension.search`` and ``bot.extension.unfurl`` (the store
work of one invoke, in one session, as the bot runs them) for names, e-mail addresses,
companies, several-match and no-match queries, and prints the median and worst times.

    .venv/bin/python -m bench.extension [--size small] [--db sqlite:///bench.db] [--runs 5]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot import extension
from bot.users import User
from signals.db import open_store
from signals.demo.build import build_demo
from signals.models import CrmRecord, Person
from signals.store import create_store

CRM = "https://contoso.crm.dynamics.com"


def _asker(session: Session) -> User:
    """A colleague who may ask: the bench times answers, not the refusal."""
    person = session.scalars(
        select(Person).where(Person.internal, Person.enabled, Person.opted_out.is_(False)).limit(1)
    ).one()
    return User(
        person.id,
        person.display_name,
        None,
        None,
        person.entra_id,
        False,
        colleague=True,
        may_ask=True,
    )


def _queries(session: Session) -> dict[str, str]:
    lead = session.scalars(
        select(CrmRecord).where(CrmRecord.source == "lead", CrmRecord.email.is_not(None))
    ).first()
    assert lead is not None and lead.email
    return {
        "name": lead.full_name,
        "e-mail": lead.email,
        "company": lead.company_name or lead.full_name,
        "first name (several)": lead.full_name.split()[0],
        "no match": "Zebulon Quux",
    }


def _time(fn: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def measure(engine: Engine, runs: int) -> None:
    with Session(engine) as session:
        asker = _asker(session)
        queries = _queries(session)
        record = session.scalars(select(CrmRecord).where(CrmRecord.source == "lead")).first()
        assert record is not None
        url = f"{CRM}/main.aspx?pagetype=entityrecord&etn=lead&id={record.crm_id}"
    for label, text in queries.items():
        value = {"commandId": "whoKnows", "parameters": [{"name": "query", "value": text}]}

        def search(value: dict[str, Any] = value, label: str = label) -> None:
            with Session(engine) as session:
                found = extension.search(session, value, asker, "29:bench")
            listed = found["composeExtension"].get("attachments", [])
            assert label == "no match" or listed, f"{label}: no leads found"

        times = _time(search, runs)
        print(
            f"query {label:22} median {statistics.median(times):7.1f} ms  max {max(times):7.1f} ms"
        )

    def unfurl() -> None:
        with Session(engine) as session:
            extension.unfurl(session, {"url": url}, asker, CRM)

    times = _time(unfurl, runs)
    print(
        f"unfurl lead link{'':13} median {statistics.median(times):7.1f} ms  "
        f"max {max(times):7.1f} ms"
    )


@click.command()
@click.option("--size", default="small", show_default=True, help="Demo size to build.")
@click.option("--db", "db_url", default=None, help="An existing demo store to use instead.")
@click.option("--runs", default=5, show_default=True)
def main(size: str, db_url: str | None, runs: int) -> None:
    if db_url:
        engine = open_store(db_url)
    else:
        path = Path(tempfile.mkdtemp(prefix="whoknows-bench-")) / "demo.db"
        engine = create_store(f"sqlite:///{path}")
        started = time.perf_counter()
        build_demo(engine, size, seed=7, today=date.today())
        print(f"built the {size} demo in {time.perf_counter() - started:.0f} s")
    measure(engine, runs)
    engine.dispose()


if __name__ == "__main__":
    main()
