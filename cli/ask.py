"""`whoknows ask` and `whoknows eval`: the ranking from the command line."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from bot.views import evidence_view, freshness_view
from cards import texts
from cli.common import UsageFailure, db_option, open_store_or_exit
from scoring import settings as scoring_settings
from scoring.answer import Answer, ask
from scoring.evaluation import evaluate
from scoring.resolve import MAX_QUERY_CHARS
from scoring.strength import Weights


def render_table(answer: Answer, limit: int | None) -> str:
    lines: list[str] = []
    res = answer.resolution
    if answer.lead is None:
        if len(res.matches) > 1:
            lines.append(f"Several matches for {res.cleaned!r}; ask again with one of:")
            for m in res.matches:
                extra = ", ".join(
                    x for x in (m.company if m.kind == "person" else "company", m.email) if x
                )
                lines.append(f"  - {m.name} ({extra})")
        elif res.too_long:
            lines.append(texts.too_long_title(MAX_QUERY_CHARS) + ". " + texts.TOO_LONG_HINT)
        else:
            lines.append(f"No one matches {res.cleaned!r}.")
            if res.suggestions:
                lines.append("Did you mean: " + ", ".join(res.suggestions) + "?")
        return "\n".join(lines)
    lead = answer.lead
    today = answer.now.date()
    header = lead.name
    if lead.kind == "person":
        first_email = answer.lead_emails[0] if answer.lead_emails else None
        header += "".join(f" · {x}" for x in (lead.company, first_email) if x)
    else:
        header += " (company)"
    lines.append(header)
    if lead.topic:
        lines.append(f"Topic: {lead.topic}")
    if answer.requester is not None:
        lines.append(f"You know them yourself ({answer.requester.tier.value}).")
    if not answer.colleagues:
        lines.append("No colleague has been in touch with them.")
    else:
        shown = answer.colleagues if limit is None else answer.colleagues[:limit]
        width = max(len(c.person.display_name) for c in shown)
        lines.append("")
        lines.append(f"  #  {'Colleague'.ljust(width)}  Strength  Score  Evidence")
        for i, c in enumerate(shown, 1):
            lines.append(
                f"{i:>3}  {c.person.display_name.ljust(width)}  {c.tier.value:<8}  "
                f"{c.score:5.1f}  {texts.evidence_line(evidence_view(c.best.evidence), today)}"
            )
        if limit is not None and answer.total > limit:
            lines.append(f"  ... and {answer.total - limit} more (--all shows everyone)")
    cov = answer.coverage
    if cov is not None:
        lines.append("")
        lines.append(
            texts.coverage_line(cov.mailboxes_analysed, cov.mailboxes_total, cov.opted_out) + "."
        )
    if (fresh := freshness_view(answer.freshness, answer.now)) is not None:
        lines.append(texts.freshness_line(fresh) + ".")
    return "\n".join(lines)


def answer_json(answer: Answer, limit: int | None) -> dict[str, Any]:
    """``Answer.to_json`` with the cards' words: each colleague's "why" lines and the
    freshness line, so that scripts show what the cards show."""
    data = answer.to_json(limit)
    today = answer.now.date()
    lead_name = answer.lead.name if answer.lead is not None else ""
    shown = answer.colleagues if limit is None else answer.colleagues[:limit]
    for out, c in zip(data["colleagues"], shown, strict=True):
        out["why"] = texts.why_lines(evidence_view(c.best.evidence), c.tier.value, lead_name, today)
    if data["freshness"] is not None and (fresh := freshness_view(answer.freshness, answer.now)):
        data["freshness"]["line"] = texts.freshness_line(fresh)
    return data


@click.command("ask")
@click.argument("question", nargs=-1, required=True)
@click.option("--as", "as_email", metavar="EMAIL", help="Ask as this colleague.")
@click.option("--all", "show_all", is_flag=True, help="Everyone who knows the lead, not the top.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@db_option
def ask_command(
    question: tuple[str, ...],
    as_email: str | None,
    show_all: bool,
    as_json: bool,
    db_url: str | None,
) -> None:
    """Who knows a lead: `whoknows ask "who knows Yvonne McKay"` (name, e-mail or company)."""
    engine = open_store_or_exit(db_url)
    text = " ".join(question)
    limit = None if show_all else scoring_settings.TOP_N.get()
    with Session(engine) as session:
        answer = ask(session, text, requester_email=as_email, now=datetime.now(UTC))
        if as_json:
            click.echo(json.dumps(answer_json(answer, limit), indent=2))
        else:
            click.echo(render_table(answer, limit))


@click.command("eval")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--internal-domain",
    "domains",
    multiple=True,
    metavar="DOMAIN",
    help="The organisation's domain (repeatable). Without it, everyone is both "
    "lead and introducer.",
)
@click.option("--cutoffs", default=5, show_default=True, help="Number of cutoffs.")
@click.option("--horizon-days", default=30, show_default=True, help="Days after each cutoff.")
@click.option("--seeds", default=20, show_default=True, help="Random tie-breaks averaged.")
@click.option(
    "--variant",
    "variant_specs",
    multiple=True,
    metavar="NAME:VAR=VALUE[,VAR=VALUE]",
    help="Also rank with these settings, on the same queries (an ablation), e.g. "
    "factor:WHOKNOWS_ONE_WAY=factor. Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def eval_command(
    paths: tuple[Path, ...],
    domains: tuple[str, ...],
    cutoffs: int,
    horizon_days: int,
    seeds: int,
    variant_specs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Measure the ranking on real mail against raw count, recency and random."""
    from signals.importers import import_paths
    from signals.store import create_store

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageFailure(f"no such file or folder: {', '.join(missing)}")
    variants = parse_variants(variant_specs)
    with tempfile.TemporaryDirectory(prefix="whoknows-eval-") as tmp:
        engine = create_store(
            f"sqlite:///{tmp}/eval.db", pair_mode="internal" if domains else "all"
        )
        imported = import_paths(engine, list(paths), internal_domains=list(domains))
        if not as_json:
            click.echo(
                f"imported {imported.new_interactions} interactions ({imported.skipped} skipped)",
                err=True,
            )
        report = evaluate(
            engine,
            cutoffs=cutoffs,
            horizon_days=horizon_days,
            seeds=seeds,
            progress=None if as_json else (lambda m: click.echo(m, err=True)),
            variants=variants,
        )
        engine.dispose()
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    click.echo(f"{report.queries} queries over {len(report.cutoffs)} cutoffs")
    width = max(len(name) for name in report.models)
    click.echo(f"{'model':<{width}} {'hit@1':>6} {'hit@5':>6} {'MRR':>6} {'NDCG@5':>7}")
    for name, metrics in report.models.items():
        m = metrics.as_dict()
        click.echo(
            f"{name:<{width}} {m['hit1']:>6.3f} {m['hit5']:>6.3f} {m['mrr']:>6.3f} "
            f"{m['ndcg5']:>7.3f}"
        )
    click.echo("model minus each, with 95% paired bootstrap intervals:")
    for name, diffs in report.differences().items():
        cells = "  ".join(
            f"{metric} {d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
            for metric, d in diffs.items()
        )
        click.echo(f"  {name:<{width}}  {cells}")
    click.echo("tiers (candidates the product would list; share in touch within the horizon):")
    for tier, count in report.tiers.items():
        c = count.as_dict()
        click.echo(f"  {tier:<8} {c['candidates']:>6}  {c['share']:.0%}")


def parse_variants(specs: tuple[str, ...]) -> dict[str, Weights]:
    """``NAME:VAR=VALUE,...`` into the model's weights under those settings."""
    import os

    variants: dict[str, Weights] = {}
    for spec in specs:
        name, _, assignments = spec.partition(":")
        pairs = [a.partition("=") for a in assignments.split(",") if a.strip()]
        if not name.strip() or not pairs or any(not sep or not k.strip() for k, sep, _ in pairs):
            raise UsageFailure(f"--variant {spec!r}: expected NAME:VAR=VALUE[,VAR=VALUE]")
        environ = dict(os.environ) | {k.strip(): v.strip() for k, _, v in pairs}
        try:
            variants[name.strip()] = Weights.from_settings(environ)
        except ValueError as exc:
            raise UsageFailure(f"--variant {spec!r}: {exc}") from exc
    return variants
