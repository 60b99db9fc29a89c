"""Commands refuse an unusable store with a message that says what to do."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text

from cli.main import main
from signals import db


def test_commands_refuse_a_store_without_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(main, ["ask", "who knows Yvonne", "--db", url])
    assert result.exit_code == 1
    assert "whoknows db upgrade" in result.output
    assert "Traceback" not in result.output


def test_commands_refuse_an_outdated_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--db", url]).exit_code == 0
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    result = runner.invoke(main, ["ask", "who knows Yvonne", "--db", url])
    assert result.exit_code == 1
    assert "is at schema 0000" in result.output and "whoknows db upgrade" in result.output


def test_upgrade_then_ask_works_on_both_backends(store_url: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--db", store_url]).exit_code == 0
    result = runner.invoke(main, ["ask", "who knows Yvonne", "--db", store_url, "--json"])
    assert result.exit_code == 0, result.output
    assert '"lead": null' in result.output
