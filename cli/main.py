"""The `whoknows` command line: one click group, one module per family of commands."""

from __future__ import annotations

import importlib

import click

from cli.common import db_option, dispose_at_exit, open_store_or_exit
from signals import db
from signals.config import all_settings, settings_markdown

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("cli.init", "init_command"),
    "import": ("cli.importing", "import_command"),
    "ask": ("cli.ask", "ask_command"),
    "eval": ("cli.ask", "eval_command"),
    "cards": ("cli.cards", "cards_command"),
    "serve": ("cli.serve", "serve_command"),
    "sync": ("cli.sync", "sync_command"),
    "privacy": ("cli.privacy", "privacy_group"),
    "manifest": ("manifest.build", "manifest_command"),
    "demo": ("cli.demo", "demo_command"),
    "doctor": ("cli.doctor.command", "doctor_command"),
}
"""Each command family in its own module, imported only when used (the bot SDK is slow
to import, and `whoknows ask` doesn't need it)."""


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs or help lists it."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name]
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="whoknows")
def main() -> None:
    """whoknows: which colleagues know a lead, how well, and a warm introduction."""


@main.group("db")
def db_group() -> None:
    """Create, migrate and rebuild the signal store."""


@db_group.command("upgrade")
@db_option
def db_upgrade(db_url: str | None) -> None:
    """Create the store or bring its schema up to date."""
    from signals.store import create_store

    engine = create_store(db_url)
    dispose_at_exit(engine)
    click.echo(
        f"store at {engine.url.render_as_string(hide_password=True)} is at schema "
        f"{db.current_revision(engine)}"
    )


@db_group.command("rebuild")
@db_option
def db_rebuild(db_url: str | None) -> None:
    """Recompute every connection from the stored interactions (after changing the half-life)."""
    from signals.meta import facts_from_settings, read_facts
    from signals.rebuild import rebuild_aggregates
    from signals.store import set_facts

    engine = open_store_or_exit(db_url)
    with engine.connect() as conn:
        mode = read_facts(conn).pair_mode
    set_facts(engine, facts_from_settings(mode))
    pairs = rebuild_aggregates(engine)
    click.echo(f"rebuilt {pairs} connections")


@db_group.command("purge")
@db_option
def db_purge(db_url: str | None) -> None:
    """Delete interactions and audit entries past their retention (the sync worker does it
    once per run): WHOKNOWS_RETENTION_DAYS, WHOKNOWS_AUDIT_RETENTION_DAYS."""
    from signals.retention import purge

    engine = open_store_or_exit(db_url)
    click.echo(purge(engine).line())


@main.command("settings")
@click.option(
    "--markdown", is_flag=True, help="Print the reference as Markdown (docs/settings.md)."
)
def settings_command(markdown: bool) -> None:
    """List every setting with its environment variable, default and meaning."""
    if markdown:
        click.echo(settings_markdown(), nl=False)
        return
    for s in all_settings():
        click.echo(f"{s.env}={'(secret)' if s.secret else s.describe_default()}\n    {s.help}")
