"""Every setting is documented, from its one declaration (docs/settings.md)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from signals.config import all_settings, settings_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_settings_reference_is_current() -> None:
    assert DOCS.read_text() == settings_markdown(), (
        "docs/settings.md is stale: run `whoknows settings --markdown > docs/settings.md`"
    )


def test_every_setting_has_help_and_a_unique_variable() -> None:
    settings = all_settings()
    assert all(s.help.strip() for s in settings)
    envs = [s.env for s in settings]
    assert len(envs) == len(set(envs))


def test_settings_command_lists_them() -> None:
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    assert "WHOKNOWS_DATABASE_URL" in result.output and "MicrosoftAppId" in result.output


def test_every_command_loads_and_documents_itself() -> None:
    runner = CliRunner()
    from cli.main import COMMANDS

    for name in [*COMMANDS, "db", "settings"]:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "--help" in result.output
