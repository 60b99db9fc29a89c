"""The reference story, as the product tells it (issue 3): ranking on the demo organisation."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from cli.main import main
from scoring.answer import ask
from signals.demo.build import DEFAULT_TODAY, build_demo
from signals.store import create_store

NOW = datetime.combine(DEFAULT_TODAY, time(12), tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    engine = create_store(url)
    build_demo(engine, size="tiny")
    engine.dispose()
    return url


def test_tricia_first_and_strong_ray_below(demo_url: str) -> None:
    engine = create_store(demo_url)
    with Session(engine) as session:
        answer = ask(
            session, "who knows Yvonne McKay", requester_email="blaine.carmack@contoso.com", now=NOW
        )
    names = [c.person.display_name for c in answer.colleagues]
    tiers = {c.person.display_name: c.tier.value for c in answer.colleagues}
    assert names[0] == "Tricia Potter" and tiers["Tricia Potter"] == "Strong"
    ray = answer.colleagues[names.index("Ray Tanaka")]
    # Thirty e-mails, never answered: Weak, and below everyone she has written to or met.
    assert tiers["Ray Tanaka"] == "Weak" and not ray.best.evidence.heard
    two_way = [c.person.display_name for c in answer.colleagues if c.best.evidence.heard]
    assert {"Priya Raman", "Marcus Webb", "Hector Ruiz"} <= set(two_way)
    assert names[: len(two_way)] == two_way and names.index("Ray Tanaka") >= len(two_way)
    tricia = answer.colleagues[0]
    assert ray.best.raw_count > tricia.best.evidence.emails_to  # more mail, weaker tie
    assert len(answer.colleagues) >= 6
    assert "Blaine Carmack" not in names and answer.requester is not None
    for never in ("Grant Holloway", "Contoso Sales"):  # departed; shared mailbox
        assert never not in names
    assert answer.coverage is not None and answer.coverage.opted_out > 0


def test_ask_table_says_never_answered_and_how_fresh(demo_url: str) -> None:
    result = CliRunner().invoke(main, ["ask", "who knows Yvonne McKay", "--all", "--db", demo_url])
    assert result.exit_code == 0, result.output
    ray = next(line for line in result.output.splitlines() if "Ray Tanaka" in line)
    assert "Weak" in ray and "30 e-mails sent, never answered" in ray
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(("Mail up to", "Stale: mail up to"))


def test_ask_json_shape(demo_url: str) -> None:
    result = CliRunner().invoke(
        main,
        [
            "ask",
            "who knows Yvonne McKay",
            "--json",
            "--db",
            demo_url,
            "--as",
            "blaine.carmack@contoso.com",
        ],
    )
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.output)
    assert set(data) >= {"query", "lead", "matches", "colleagues", "total", "coverage"}
    assert data["lead"]["name"] == "Yvonne McKay"
    assert "yvonne.mckay@fourthcoffee.com" in data["lead"]["emails"]
    assert data["lead"]["company"] == "Fourth Coffee"
    assert data["freshness"]["source"] == "import" and "line" in data["freshness"]
    assert all(c["why"][0].startswith("Counted: ") for c in data["colleagues"])
    assert len(data["colleagues"]) == 5 and data["total"] >= 6
    first = data["colleagues"][0]
    assert (first["name"], first["tier"]) == ("Tricia Potter", "Strong")
    assert set(first["evidence"]) >= {
        "emails_to_lead",
        "emails_from_lead",
        "meetings",
        "last_two_way_contact",
        "first_contact",
    }


def test_ask_table_and_company(demo_url: str) -> None:
    runner = CliRunner()
    table = runner.invoke(main, ["ask", "who", "knows", "yvonne mckay", "--db", demo_url])
    assert table.exit_code == 0, table.output
    assert "Tricia Potter" in table.output and "Strong" in table.output
    assert "Based on" in table.output
    company = runner.invoke(
        main, ["ask", "who knows Fourth Coffee", "--json", "--all", "--db", demo_url]
    )
    data = __import__("json").loads(company.output)
    assert data["lead"]["kind"] == "company" and data["total"] >= 2


@pytest.mark.parametrize("typed", ["Yvone McKay", "yvonne  MCKAY", "Yvonne", "ymckay@outlook.com"])
def test_resolution_forgives(demo_url: str, typed: str) -> None:
    engine = create_store(demo_url)
    with Session(engine) as session:
        answer = ask(session, f"who knows {typed}", now=NOW)
    assert answer.lead is not None and answer.lead.name == "Yvonne McKay"


def test_no_match_suggests(demo_url: str, tmp_path: Path) -> None:
    engine = create_store(demo_url)
    with Session(engine) as session:
        answer = ask(session, "who knows Zzyzx Qwerty", now=NOW)
    assert answer.lead is None and answer.resolution.matches == []


def test_cards_gallery_from_the_demo_validates(demo_url: str, tmp_path: Path) -> None:
    import json as json_module

    import adaptive_cards
    import jsonschema
    from adaptive_cards.card import AdaptiveCard
    from adaptive_cards.validation import CardValidatorFactory

    result = CliRunner().invoke(main, ["cards", "--out", str(tmp_path), "--db", demo_url])
    assert result.exit_code == 0, result.output
    schemas = {
        version: json_module.loads(
            (
                Path(adaptive_cards.__file__).parent / "schemas" / f"schema-{version}.json"
            ).read_text()
        )
        for version in ("1.3", "1.5")  # 1.3: unfurled links
    }
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) >= 30
    result_card = json_module.loads((tmp_path / "result.json").read_text())
    assert "Tricia Potter" in json_module.dumps(result_card)  # filled from the store
    for path in files:
        card = json_module.loads(path.read_text())
        schema = schemas[card["version"]]
        assert not list(jsonschema.Draft6Validator(schema).iter_errors(card)), path.name
        validator = CardValidatorFactory.create_validator_microsoft_teams()
        # adaptive-cards-py types refresh.action as a string; the schema above checks it.
        model = AdaptiveCard.model_validate({k: v for k, v in card.items() if k != "refresh"})
        ok = validator.validate(model, debug=False).is_ok()
        assert ok, (path.name, [(f.message, f.message_additional) for f in validator.details()])
