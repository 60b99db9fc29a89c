"""`whoknows doctor` against local stand-ins: Entra login and Graph (tests/graph_server.py),
the real bot server over TLS, real stores on both backends, real app packages."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import ssl
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from alembic import command
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from PIL import Image
from sqlalchemy import Engine, bindparam, insert

from bot.auth import AuthConfig
from bot.hosting import BotHost
from bot.server import create_app
from cli.doctor import package, png
from cli.doctor.result import Check, Options, Status
from cli.doctor.runner import run_checks
from cli.main import main
from manifest.build import build_package
from signals import db
from signals.graph.permissions import GRAPH_PERMISSIONS
from signals.models import Person, SyncState
from tests.echo_bot import EchoBot
from tests.graph_server import CLIENT_ID, CLIENT_SECRET, TENANT, GraphServer, running, sample_tenant

ROOT = Path(__file__).resolve().parent.parent
ALL_ROLES = [p.name for p in GRAPH_PERMISSIONS]
APP_ID = "2f0c6f1e-8f5b-4c1d-9a57-6b1c3a1d2e4f"


@pytest.fixture
def server() -> Iterator[GraphServer]:
    with running(sample_tenant()) as srv:
        srv.roles = list(ALL_ROLES)
        yield srv


@pytest.fixture
def installed(
    server: GraphServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> GraphServer:
    """A correct installation: single-tenant bot, its app reads Graph, a migrated store."""
    for key, value in {
        "MicrosoftAppId": CLIENT_ID,
        "MicrosoftAppPassword": CLIENT_SECRET,
        "MicrosoftAppTenantId": TENANT,
        "MicrosoftAppType": "SingleTenant",
        "WHOKNOWS_GRAPH_URL": server.graph_url,
        "WHOKNOWS_LOGIN_URL": server.base,
        "WHOKNOWS_GRAPH_CA_FILE": server.ca_file(tmp_path),
        "WHOKNOWS_INTERNAL_DOMAINS": "contoso.com",
        "WHOKNOWS_DATABASE_URL": sqlite_url,
    }.items():
        monkeypatch.setenv(key, value)
    return server


def doctor(**options: Any) -> list[Check]:
    return asyncio.run(run_checks(Options(**options)))


def find(checks: list[Check], family: str, name: str) -> Check:
    matches = [c for c in checks if c.family == family and c.name == name]
    assert matches, f"no {family}/{name} in {[(c.family, c.name) for c in checks]}"
    return matches[0]


def problems(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status is not Status.OK]


# --- a healthy installation -------------------------------------------------------------------


def test_a_correct_installation_has_nothing_to_fix(installed: GraphServer) -> None:
    result = CliRunner().invoke(main, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    statuses = {(c["family"], c["name"]): c["status"] for c in report["checks"]}
    # The only remarks: SQLite (a trial store) and no sync yet.
    assert {k for k, v in statuses.items() if v != "ok"} == {
        ("store", "backend"),
        ("store", "sync"),
    }
    assert statuses[("identity", "Bot Framework token")] == "ok"
    assert statuses[("microsoft365", "mailboxes")] == "ok"
    granted = next(c for c in report["checks"] if c["name"] == "permissions granted")
    off = ("GroupMember.Read.All", "Mail.Send")  # no groups set, the e-mail route is off
    assert granted["found"] == ", ".join(r for r in ALL_ROLES if r not in off)
    # Both tokens came from the stand-in, with the bot's credentials.
    scopes = {r["scope"] for r in installed.token_requests}
    assert scopes == {"https://api.botframework.com/.default", f"{installed.base}/.default"}
    asked = zip(installed.token_tenants, installed.token_requests, strict=True)
    assert {t for t, r in asked if "botframework" in r["scope"]} == {TENANT}  # single-tenant


def test_text_report_names_each_problem_and_its_fix(installed: GraphServer) -> None:
    installed.roles = ["User.Read.All", "Mail.ReadBasic.All"]
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    failure = next(i for i, line in enumerate(lines) if "FAILURE" in line)
    assert "Organization.Read.All is not granted" in lines[failure]
    assert lines[failure + 1].strip().startswith("fix: Entra admin center > App registrations")
    assert "failures" in lines[-1]


# --- settings ---------------------------------------------------------------------------------


def test_misspelt_variables_are_named_with_the_setting_meant(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_DATABSE_URL", "postgresql://x@y/z")
    monkeypatch.setenv("MicrosoftAppID", CLIENT_ID)
    monkeypatch.setenv("WHOKNOWS_SYNC_INTERVALL", "60")
    check = find(doctor(), "settings", "unknown variables")
    assert check.status is Status.WARNING
    assert "WHOKNOWS_DATABSE_URL (did you mean WHOKNOWS_DATABASE_URL?)" in check.found
    assert "MicrosoftAppID (did you mean MicrosoftAppId?)" in check.found
    assert "WHOKNOWS_SYNC_INTERVALL (did you mean WHOKNOWS_SYNC_INTERVAL?)" in check.found


def test_unparseable_values_fail(installed: GraphServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHOKNOWS_SYNC_INTERVAL", "often")
    check = find(doctor(), "settings", "values")
    assert check.status is Status.FAILURE and "WHOKNOWS_SYNC_INTERVAL" in check.found


@pytest.mark.parametrize(
    ("variable", "value", "name", "status", "words"),
    [
        ("MicrosoftAppPassword", "0b7e6f0a-1c2d-4e3f-8a9b-0c1d2e3f4a5b", "secret", "failure",
         "secret's ID"),
        ("MicrosoftAppType", "MultiTenant", "app type", "warning", "no longer creates"),
        ("MicrosoftAppType", "Single", "app type", "failure", "not a type"),
        ("MicrosoftAppTenantId", "contoso.onmicrosoft.com", "tenant", "failure", "not a GUID"),
        ("MicrosoftAppId", "Who Knows", "bot identity", "failure", "not a GUID"),
        ("WHOKNOWS_ALLOWED_TENANTS", "fabrikam.com", "tenant allow-list", "failure",
         "not tenant ids"),
    ],
)  # fmt: skip
def test_identity_settings_mistakes(
    installed: GraphServer,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    name: str,
    status: str,
    words: str,
) -> None:
    monkeypatch.setenv(variable, value)
    check = find(doctor(), "settings", name)
    assert (check.status, words in check.found) == (Status(status), True), check
    assert check.fix


def test_multitenant_by_default_is_flagged(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MicrosoftAppType")
    check = find(doctor(), "settings", "app type")
    assert check.status is Status.WARNING and "the default" in check.found
    assert "MicrosoftAppType=SingleTenant" in check.fix


def test_single_tenant_without_tenant_fails(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MicrosoftAppTenantId")
    checks = doctor()
    assert find(checks, "settings", "tenant").status is Status.FAILURE
    assert find(checks, "settings", "tenant allow-list").status is Status.FAILURE


def test_no_app_id_is_development_mode(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MicrosoftAppId")
    checks = doctor()
    assert "local development mode" in find(checks, "settings", "bot identity").found
    assert find(checks, "microsoft365", "not checked").status is Status.WARNING


def test_values_pasted_with_quotes_or_spaces(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MicrosoftAppPassword", f'"{CLIENT_SECRET}"')
    monkeypatch.setenv("MicrosoftAppTenantId", TENANT + "\n")
    check = find(doctor(), "settings", "pasted values")
    assert check.status is Status.FAILURE
    assert "MicrosoftAppPassword is wrapped in quotes" in check.found
    assert "MicrosoftAppTenantId has spaces or a line break" in check.found


def test_a_test_token_endpoint_left_in_production(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_BOT_OPENID_METADATA_URL", "http://127.0.0.1:9/openid")
    check = find(doctor(), "settings", "token validation")
    assert check.status is Status.WARNING and "Unset WHOKNOWS_BOT_OPENID_METADATA_URL" in check.fix


def _certificate(path: Path, *, days: int) -> str:
    """A self-signed certificate and its key in one PEM file; returns the SHA-1 thumbprint."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whoknows")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(key_pem + cert.public_bytes(serialization.Encoding.PEM))
    return cert.fingerprint(hashes.SHA1()).hex().upper()


@pytest.mark.parametrize(
    ("days", "right_thumbprint", "status", "words"),
    [
        (365, True, "ok", "valid until"),
        (10, True, "warning", "expires on"),
        (-1, True, "failure", "expired on"),
        (365, False, "failure", "not the certificate's"),
    ],
)
def test_graph_certificate(
    installed: GraphServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    days: int,
    right_thumbprint: bool,
    status: str,
    words: str,
) -> None:
    thumbprint = _certificate(tmp_path / "app.pem", days=days)
    monkeypatch.setenv("WHOKNOWS_GRAPH_CERTIFICATE_PATH", str(tmp_path / "app.pem"))
    monkeypatch.setenv(
        "WHOKNOWS_GRAPH_CERTIFICATE_THUMBPRINT", thumbprint if right_thumbprint else "AB" * 20
    )
    check = find(doctor(), "settings", "Graph certificate")
    assert check.status is Status(status) and words in check.found, check


def test_a_missing_certificate_file(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WHOKNOWS_GRAPH_CERTIFICATE_PATH", str(tmp_path / "none.pem"))
    monkeypatch.setenv("WHOKNOWS_GRAPH_CERTIFICATE_THUMBPRINT", "AB" * 20)
    checks = doctor()
    assert "cannot be read" in find(checks, "settings", "Graph certificate").found
    graph = find(checks, "identity", "Graph token")
    assert graph.status is Status.FAILURE and "See the settings checks" in graph.fix


def test_a_managed_identity_bot(installed: GraphServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MicrosoftAppType", "UserAssignedMSI")
    monkeypatch.delenv("MicrosoftAppPassword")
    checks = doctor()
    app_type = find(checks, "settings", "app type")
    assert app_type.status is Status.WARNING and "WHOKNOWS_GRAPH_CLIENT_SECRET" in app_type.fix
    assert not [c for c in checks if c.name == "secret"]  # a managed identity has none
    assert "not checked from here" in find(checks, "identity", "Bot Framework token").found


def test_a_check_that_breaks_is_reported_not_raised(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.doctor import microsoft365

    async def broken(*_args: Any) -> list[Check]:
        raise RuntimeError("unexpected answer")

    monkeypatch.setattr(microsoft365, "run", broken)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1 and not isinstance(result.exception, RuntimeError)
    assert "the microsoft365 checks stopped: RuntimeError: unexpected answer" in result.output
    assert "store" in result.output  # the families after it still ran


# --- identity -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words", "fix"),
    [
        ({"MicrosoftAppPassword": "not-the-secret"}, "secret is wrong", "not its Secret ID"),
        ({"MicrosoftAppTenantId": "0b7e6f0a-1c2d-4e3f-8a9b-0c1d2e3f4a5b"}, "does not exist",
         "Directory (tenant) ID"),
        ({"MicrosoftAppId": "0b7e6f0a-1c2d-4e3f-8a9b-0c1d2e3f4a5b"}, "is not found in tenant",
         "Application (client) ID"),
    ],
)  # fmt: skip
def test_sign_in_failures_are_explained(
    installed: GraphServer,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, str],
    words: str,
    fix: str,
) -> None:
    for key, value in change.items():
        monkeypatch.setenv(key, value)
    checks = doctor()
    for name in ("Bot Framework token", "Graph token"):
        check = find(checks, "identity", name)
        assert check.status is Status.FAILURE and words in check.found, check
        assert fix in check.fix
    assert find(checks, "microsoft365", "not checked").status is Status.WARNING


def test_an_expired_secret_says_so(installed: GraphServer) -> None:
    installed.secret_expired = True
    check = find(doctor(), "identity", "Graph token")
    assert check.status is Status.FAILURE
    assert "has expired (AADSTS7000222)" in check.found
    assert "New client secret" in check.fix


def test_a_multitenant_bot_gets_its_token_from_the_bot_framework_tenant(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MicrosoftAppType", "MultiTenant")
    check = find(doctor(), "identity", "Bot Framework token")
    assert check.status is Status.OK and "botframework.com" in check.found
    asked = list(zip(installed.token_tenants, installed.token_requests, strict=True))
    bot_framework = [t for t, r in asked if r["scope"] == "https://api.botframework.com/.default"]
    assert bot_framework == ["botframework.com"]


def test_each_missing_permission_names_the_feature_it_blocks(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed.roles = ["User.Read.All", "Mail.Read"]
    monkeypatch.setenv("WHOKNOWS_INTRO_EMAIL", "true")
    monkeypatch.setenv("WHOKNOWS_SYNC_CALL_RECORDS", "false")
    checks = doctor()
    by_name = {c.name: c for c in checks if c.family == "identity"}
    org = by_name["permission Organization.Read.All"]
    assert org.status is Status.FAILURE
    assert "blocks telling colleagues from outsiders" in org.found
    assert "verified domains" in org.fix and "Grant admin consent" in org.fix
    # Mail.Read covers Mail.ReadBasic.All, but grants more: flagged.
    assert "permission Mail.ReadBasic.All" not in by_name
    assert "Mail.Read" in by_name["broader permissions"].found
    # Exchange-scopable: a warning that says how the mailbox check decides.
    send = by_name["permission Mail.Send"]
    assert send.status is Status.WARNING and "Exchange RBAC" in send.found
    assert "Application Mail.Send" in send.fix
    calendars = by_name["permission Calendars.ReadBasic.All"]
    assert calendars.status is Status.WARNING
    # Call records are switched off: not asked for.
    assert "permission CallRecords.Read.All" not in by_name
    install = by_name["permission TeamsAppInstallation.ReadWriteSelfForUser.All"]
    assert install.status is Status.WARNING and "never opened the app" in install.found


def test_no_admin_consent_at_all(installed: GraphServer) -> None:
    installed.roles = []
    checks = doctor()
    assert find(checks, "identity", "admin consent").status is Status.FAILURE
    assert find(checks, "identity", "permission User.Read.All").status is Status.FAILURE
    organisation = find(checks, "microsoft365", "organisation")
    assert organisation.status is Status.FAILURE and "Organization.Read.All" in organisation.fix
    mailboxes = find(checks, "microsoft365", "mailboxes")
    assert mailboxes.status is Status.FAILURE and "cannot list the directory" in mailboxes.found


def test_grants_through_exchange_rbac_are_confirmed_by_reading(installed: GraphServer) -> None:
    """Scoped the way docs/admin-install.md says: mail and calendars through Exchange only."""
    installed.roles = ["User.Read.All", "Organization.Read.All", "CallRecords.Read.All"]
    installed.exchange_grants = {"Mail.ReadBasic.All", "Calendars.Read"}
    installed.denied_mailboxes = {"u-finn"}
    checks = doctor()
    for permission in ("Mail.ReadBasic.All", "Calendars.ReadBasic.All"):
        check = find(checks, "identity", f"permission {permission}")
        assert check.status is Status.OK and "Exchange RBAC" in check.found
    assert find(checks, "microsoft365", "mailboxes").found.startswith("4 of 5 sampled")
    # Not granted anywhere: the mailbox check fails and the warning stays.
    installed.exchange_grants = set()
    checks = doctor()
    assert find(checks, "microsoft365", "mailboxes").status is Status.FAILURE
    mail = find(checks, "identity", "permission Mail.ReadBasic.All")
    assert mail.status is Status.WARNING and "not granted in Entra ID" in mail.found


@pytest.mark.parametrize(
    ("days", "status", "words"),
    [(200, "ok", "valid until"), (12, "warning", "expires on"), (None, "warning", "not among")],
)
def test_secret_expiry_when_the_app_may_read_its_registration(
    installed: GraphServer, days: int | None, status: str, words: str
) -> None:
    installed.roles = [*ALL_ROLES, "Application.Read.All"]
    if days is not None:
        installed.secret_expires = datetime.now(UTC) + timedelta(days=days)
    check = find(doctor(), "identity", "secret expiry")
    assert check.status is Status(status) and words in check.found, check


def test_secret_expiry_without_the_permission_says_where_to_look(installed: GraphServer) -> None:
    check = find(doctor(), "identity", "secret expiry")
    assert check.status is Status.OK and "Application.Read.All" in check.found
    assert "Certificates & secrets" in check.fix
    assert not installed.requests_for("applications")  # not even tried


def test_opaque_tokens_are_reported_not_guessed(installed: GraphServer) -> None:
    installed.roles = None  # the stand-in's plain tokens: not JWTs
    check = find(doctor(), "identity", "permissions")
    assert check.status is Status.WARNING and "not a readable JWT" in check.found


# --- Microsoft 365 ------------------------------------------------------------------------------


def test_rbac_scoping_reports_how_many_mailboxes_are_reachable(installed: GraphServer) -> None:
    installed.denied_mailboxes = {"u-olivia", "u-finn"}
    check = find(doctor(), "microsoft365", "mailboxes")
    assert check.status is Status.OK
    assert check.found.startswith(
        "3 of 5 sampled mailboxes readable (every one of the directory's 5 mailboxes)"
    )
    assert "2 denied" in check.found and "Test-ServicePrincipalAuthorization" in check.fix
    probed = {s.mailbox for s in installed.served if s.path.endswith("/messages")}
    assert probed == {"u-tricia", "u-bob", "u-alex", "u-olivia", "u-finn"}  # no guest
    sampled = find(doctor(sample=3), "microsoft365", "mailboxes")
    assert "sampled mailboxes readable (a sample of the directory's 5 mailboxes" in sampled.found


def test_every_mailbox_denied_fails(installed: GraphServer) -> None:
    installed.denied_mailboxes = set(installed.tenant.users)
    check = find(doctor(sample=2), "microsoft365", "mailboxes")
    assert check.status is Status.FAILURE
    assert check.found.startswith("0 of 2 sampled mailboxes readable")
    assert "Application Mail.ReadBasic" in check.fix


def test_internal_domains_not_matching_the_tenant(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_INTERNAL_DOMAINS", "fabrikam.com")
    check = find(doctor(), "microsoft365", "organisation")
    assert check.status is Status.WARNING
    assert check.fix == "Set WHOKNOWS_INTERNAL_DOMAINS=contoso.com"


def test_dataverse_answers_or_says_what_is_wrong(
    installed: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_DATAVERSE_URL", installed.dataverse_url)
    assert find(doctor(), "microsoft365", "Dataverse").status is Status.OK
    monkeypatch.setenv("WHOKNOWS_DATAVERSE_URL", installed.base + "/elsewhere")
    wrong = find(doctor(), "microsoft365", "Dataverse")
    assert wrong.status is Status.FAILURE and "WHOKNOWS_DATAVERSE_URL" in wrong.fix


# --- store --------------------------------------------------------------------------------------


def test_a_store_behind_on_migrations(store_url: str) -> None:
    engine = db.make_engine(store_url)
    head = db.head_revision(engine)
    command.downgrade(db.alembic_config(engine), "-1")
    behind = db.current_revision(engine)
    engine.dispose()
    checks = doctor(db_url=store_url)
    schema = find(checks, "store", "schema")
    assert schema.status is Status.FAILURE
    assert f"at migration {behind}, this version of whoknows needs {head}" in schema.found
    assert "whoknows db upgrade" in schema.fix


def test_a_store_that_does_not_answer() -> None:
    url = "postgresql://nobody@127.0.0.1:9/none"  # the discard port: refused at once
    check = find(doctor(db_url=url), "store", "database")
    assert check.status is Status.FAILURE and "does not answer" in check.found


def test_several_processes_need_postgresql(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHOKNOWS_REPLICAS", "3")
    check = find(doctor(db_url=store_url), "store", "backend")
    if store_url.startswith("sqlite"):
        assert check.status is Status.FAILURE and "WHOKNOWS_REPLICAS=3" in check.found
    else:
        assert check.status is Status.OK


def test_sqlite_shared_by_two_sync_workers_is_caught(sqlite_url: str) -> None:
    engine = db.open_store(sqlite_url)
    with engine.begin() as conn:
        conn.execute(
            insert(SyncState),
            [
                {"source": "mail:inbox", "scope": "a", "lease_owner": "host-a:10:abc"},
                {"source": "mail:inbox", "scope": "b", "lease_owner": "host-b:11:def"},
            ],
        )
    engine.dispose()
    check = find(doctor(db_url=sqlite_url), "store", "backend")
    assert check.status is Status.FAILURE and "2 different processes" in check.found


def test_sync_freshness_and_failing_mailboxes(engine: Engine, store_url: str) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Person),
            [{"display_name": "Bob", "entra_id": "u-bob", "upn": "bob@contoso.com"}],
        )
        conn.execute(
            insert(SyncState).values(
                source=bindparam("source"),
                scope=bindparam("scope"),
                last_success_at=bindparam("at"),
                last_error=bindparam("e"),
            ),
            [
                # every row names the same columns: an executemany takes the first row's
                {"source": "directory", "scope": "", "at": now - timedelta(minutes=5), "e": None},
                {"source": "calls", "scope": "", "at": now - timedelta(days=3), "e": None},
                {"source": "mail:inbox", "scope": "u-alex", "at": now, "e": None},
                {
                    "source": "mail:inbox",
                    "scope": "u-bob",
                    "at": now - timedelta(days=2),
                    "e": "NotPermitted: 403 ErrorAccessDenied",
                },
            ],
        )
    checks = doctor(db_url=store_url)
    assert find(checks, "store", "sync directory").status is Status.OK
    calls = find(checks, "store", "sync calls")
    assert calls.status is Status.WARNING and "3 days ago" in calls.found
    inbox = find(checks, "store", "sync mail:inbox")
    assert inbox.status is Status.WARNING and inbox.found.startswith("1 of 2 up to date")
    failing = find(checks, "store", "failing sources")
    assert "mail:inbox bob@contoso.com: NotPermitted: 403" in failing.found


# --- app package --------------------------------------------------------------------------------


def _package(tmp_path: Path, bot_id: str = CLIENT_ID, assets: Path | None = None) -> Path:
    out = tmp_path / "whoknows.zip"
    build_package(APP_ID, bot_id, "whoknows.contoso.com", out, version="1.0.0", assets=assets)
    return out


def test_a_matching_package_passes(installed: GraphServer, tmp_path: Path) -> None:
    path = _package(tmp_path)
    checks = [c for c in doctor(package=path) if c.family == "package"]
    assert problems(checks) == []
    assert find(checks, "package", "manifest schema").found.startswith("validates against")
    assert "give --endpoint" in find(checks, "package", "valid domains").found


def test_package_for_another_bot_and_another_host(installed: GraphServer, tmp_path: Path) -> None:
    path = _package(tmp_path, bot_id="7d1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b")
    endpoint = "https://bot.fabrikam.example/api/messages"  # never resolved: package only
    checks = package.run(Options(package=path, endpoint=endpoint), os.environ)
    bot = find(checks, "package", "bot id")
    assert bot.status is Status.FAILURE and "is not MicrosoftAppId" in bot.found
    assert f"--bot-id {CLIENT_ID}" in bot.fix
    domains = find(checks, "package", "valid domains")
    assert domains.status is Status.FAILURE and "bot.fabrikam.example" in domains.found


def test_an_invalid_manifest_fails_the_schema(installed: GraphServer, tmp_path: Path) -> None:
    good = _package(tmp_path)
    with zipfile.ZipFile(good) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    manifest = json.loads(files["manifest.json"])
    del manifest["developer"]["privacyUrl"]
    files["manifest.json"] = json.dumps(manifest).encode()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    check = find(doctor(package=bad), "package", "manifest schema")
    assert check.status is Status.FAILURE and "privacyUrl" in check.found


def test_icons_teams_would_refuse(installed: GraphServer, tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "manifest.template.json").write_bytes(
        (ROOT / "manifest" / "manifest.template.json").read_bytes()
    )
    (assets / "color.png").write_bytes((ROOT / "manifest" / "color.png").read_bytes())
    Image.new("RGBA", (32, 32), (16, 110, 130, 255)).save(assets / "outline.png")
    checks = doctor(package=_package(tmp_path, assets=assets))
    outline = find(checks, "package", "outline icon")
    assert outline.status is Status.FAILURE and "no transparent background" in outline.found
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    image.putpixel((3, 3), (200, 0, 0, 255))
    image.save(assets / "outline.png")
    outline = find(doctor(package=_package(tmp_path, assets=assets)), "package", "outline icon")
    assert outline.status is Status.FAILURE and "1 pixels that are not white" in outline.found


def test_not_a_package(installed: GraphServer, tmp_path: Path) -> None:
    path = tmp_path / "app.zip"
    path.write_text("not a zip")
    check = find(doctor(package=path), "package", "package")
    assert check.status is Status.FAILURE and "cannot be read as a zip" in check.found


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "LA", "L", "P"])
def test_png_reader_agrees_with_pillow(tmp_path: Path, mode: str) -> None:
    source = Image.open(ROOT / "manifest" / "color.png").convert("RGBA").resize((40, 30))
    converted = source.convert(mode)
    path = tmp_path / f"{mode}.png"
    converted.save(path)
    image = png.read(path.read_bytes())
    assert (image.width, image.height) == (40, 30)
    rgba = Image.open(path).convert("RGBA").tobytes()
    expected = [tuple(rgba[i : i + 4]) for i in range(0, len(rgba), 4)]
    assert image.pixels == expected


# --- endpoint -----------------------------------------------------------------------------------


@pytest.fixture
async def bot_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, trustme.CA]]:
    """The real bot server on https://localhost:<port>, its CA trusted by the doctor."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    echo = EchoBot()
    auth = AuthConfig(app_id=CLIENT_ID, app_password=CLIENT_SECRET, app_tenant_id=TENANT)
    runner = web.AppRunner(create_app(echo, host=BotHost(echo, auth)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    yield f"https://localhost:{port}", ca
    await runner.cleanup()


async def endpoint_checks(url: str) -> dict[str, Check]:
    from cli.doctor import endpoint

    return {c.name: c for c in await endpoint.run(Options(endpoint=url))}


async def test_the_bot_endpoint_answers(bot_over_tls: tuple[str, trustme.CA]) -> None:
    base, _ = bot_over_tls
    checks = await endpoint_checks(base + "/api/messages")
    assert checks["/healthz"].status is Status.OK
    assert checks["/api/messages"].status is Status.OK
    assert "refuses a request without a Bot Framework token" in checks["/api/messages"].found
    assert checks["host name"].status is Status.WARNING  # localhost is not a public name


async def test_an_untrusted_certificate(
    bot_over_tls: tuple[str, trustme.CA], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base, _ = bot_over_tls
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "other.pem"))
    checks = await endpoint_checks(base)
    assert checks["TLS"].status is Status.FAILURE and "not trusted" in checks["TLS"].found


async def test_an_unauthenticated_bot_is_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    echo = EchoBot()
    runner = web.AppRunner(create_app(echo, host=BotHost(echo, AuthConfig())))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    try:
        checks = await endpoint_checks(f"https://localhost:{port}")
    finally:
        await runner.cleanup()
    assert checks["/api/messages"].status is Status.FAILURE
    assert "without MicrosoftAppId" in checks["/api/messages"].found


@pytest.mark.parametrize(
    ("url", "name", "words"),
    [
        ("http://whoknows.contoso.com/api/messages", "HTTPS", "not HTTPS"),
        ("https://localhost:1/api/message", "messaging path", "/api/messages"),
    ],
)
async def test_endpoint_url_mistakes(url: str, name: str, words: str) -> None:
    checks = await endpoint_checks(url)
    assert checks[name].status is Status.FAILURE and words in checks[name].found + checks[name].fix


async def test_a_host_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*_args: Any, **_kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)  # a resolver that knows nothing
    checks = await endpoint_checks("https://whoknows.contoso.com")
    assert checks["DNS"].status is Status.FAILURE and "does not resolve" in checks["DNS"].found


# --- documentation ------------------------------------------------------------------------------


def test_admin_guide_lists_the_declared_permissions_in_order() -> None:
    guide = (ROOT / "docs" / "admin-install.md").read_text()
    permissions = guide.split("\n## 3.", 1)[1].split("\n## 4.", 1)[0]
    table = re.findall(r"^\| `([A-Za-z.]+)`", permissions, flags=re.MULTILINE)
    assert table == [p.name for p in GRAPH_PERMISSIONS]
    assert guide.count("whoknows doctor") >= 4  # after each step
    readme = (ROOT / "README.md").read_text()
    summary = readme[readme.index("**Graph application permissions**") :]
    summary = summary[: summary.index("Narrow mailbox access")]
    assert re.findall(r"`([A-Za-z]+\.[A-Za-z.]+)`", summary) == [p.name for p in GRAPH_PERMISSIONS]
