"""`whoknows doctor`: check an installation and say how to fix what is wrong."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from cli.common import db_option
from cli.doctor.result import Check, Options, Status, blocking
from cli.doctor.runner import run_checks

LABELS = {Status.OK: "ok", Status.WARNING: "WARNING", Status.FAILURE: "FAILURE"}


def render(checks: list[Check]) -> list[str]:
    """The report as text: one family after another, a fix under each problem."""
    lines: list[str] = []
    family = None
    for c in checks:
        if c.family != family:
            if family is not None:
                lines.append("")
            family = c.family
            lines.append(family)
        lines.append(f"  {LABELS[c.status]:<8} {c.name}: {c.found}")
        if c.fix:
            lines.append(f"  {'':<8} fix: {c.fix}")
    failures = sum(c.status is Status.FAILURE for c in checks)
    warnings = sum(c.status is Status.WARNING for c in checks)
    lines.append("")
    if failures:
        lines.append(f"{failures} failures, {warnings} warnings: fix the failures first.")
    else:
        lines.append(f"nothing blocks ({warnings} warnings).")
    return lines


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--endpoint",
    default=None,
    metavar="URL",
    help="The bot's public URL (e.g. https://whoknows.contoso.com/api/messages): checks "
    "HTTPS, DNS, /healthz and /api/messages.",
)
@click.option(
    "--package",
    "package_path",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A Teams app package (.zip) to check against the settings and the endpoint.",
)
@click.option(
    "--sample",
    default=20,
    show_default=True,
    type=click.IntRange(min=1, max=200),
    help="How many of the directory's mailboxes to try reading.",
)
@db_option
def doctor_command(
    as_json: bool,
    endpoint: str | None,
    package_path: Path | None,
    sample: int,
    db_url: str | None,
) -> None:
    """Check the installation (settings, sign-in, permissions, Microsoft 365, store,
    app package, endpoint) and print what is wrong and how to fix it.

    Exit code 0 when nothing blocks, 1 otherwise.
    """
    options = Options(endpoint=endpoint, package=package_path, db_url=db_url, sample=sample)
    checks = asyncio.run(run_checks(options))
    if as_json:
        report = {"ok": not blocking(checks), "checks": [c.as_dict() for c in checks]}
        click.echo(json.dumps(report, indent=2))
    else:
        for line in render(checks):
            click.echo(line)
    if blocking(checks):
        raise click.exceptions.Exit(1)
