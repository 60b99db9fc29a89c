"""The Teams app package: valid against the schema Teams publishes, with icons Teams accepts.

The schema comes from npm `@microsoft/app-manifest` (node_modules), read offline.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft4Validator, Draft7Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError
from PIL import Image, ImageChops, ImageStat
from referencing import Registry
from referencing.exceptions import NoSuchResource

from bot.extension import COMMAND_ID, QUERY_PARAMETER
from manifest.build import (
    ManifestError,
    build_package,
    check_domain,
    check_guid,
    manifest_command,
)

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_DIR = ROOT / "manifest"
SCHEMAS = ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"

APP_ID = "2f0c6f1e-8f5b-4c1d-9a57-6b1c3a1d2e4f"
BOT_ID = "7d1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b"
GRAPH_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
DOMAIN = "whoknows.contoso.com"
COMMANDS = {"who knows", "help", "my data", "opt out", "opt in"}
PERSONAL_ONLY = {"notify off", "notify on"}
CRM = "https://contoso.crm.dynamics.com"

# The schema says draft-04 but uses `const` and `if`/`then`/`else`, which the toolkit's
# validator (ajv-draft-04) enforces; plain Draft4Validator would silently ignore them.
TeamsValidator = validators.extend(
    Draft4Validator,
    {keyword: Draft7Validator.VALIDATORS[keyword] for keyword in ("const", "if")},
)


def _template_version() -> str:
    template = json.loads((MANIFEST_DIR / "manifest.template.json").read_text())
    return str(template["manifestVersion"])


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    if not SCHEMAS.is_dir():
        pytest.skip("node_modules/@microsoft/app-manifest is not installed: run `npm ci`")
    path = SCHEMAS / f"v{_template_version()}" / "MicrosoftTeams.schema.json"
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def _offline(uri: str) -> Any:
    raise NoSuchResource(uri)  # every $ref must resolve inside the bundled file


def _errors(schema: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    validator = TeamsValidator(
        schema,
        registry=Registry(retrieve=_offline),  # type: ignore[call-arg]  # attrs-made __init__
        format_checker=FormatChecker(),
    )
    found: list[ValidationError] = sorted(validator.iter_errors(manifest), key=str)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def _build(tmp_path: Path, **kwargs: Any) -> tuple[Path, dict[str, Any], dict[str, bytes]]:
    """Build the package; return its path, its manifest and every file in it."""
    out = tmp_path / "whoknows.zip"
    build_package(APP_ID, BOT_ID, DOMAIN, out, **kwargs)
    with zipfile.ZipFile(out) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return out, json.loads(files["manifest.json"]), files


def test_package_validates_against_the_bundled_schema(
    tmp_path: Path, schema: dict[str, Any]
) -> None:
    _, manifest, archive = _build(tmp_path, version="1.2.3")
    assert sorted(archive) == ["color.png", "manifest.json", "outline.png"]
    assert _errors(schema, manifest) == []
    assert manifest["id"] == APP_ID
    assert manifest["version"] == "1.2.3"
    assert manifest["validDomains"] == [DOMAIN]
    assert manifest["webApplicationInfo"] == {
        "id": BOT_ID,
        "resource": f"api://{DOMAIN}/botid-{BOT_ID}",
    }
    assert manifest["developer"]["privacyUrl"] == f"https://{DOMAIN}/privacy"
    assert manifest["developer"]["termsOfUseUrl"] == f"https://{DOMAIN}/terms"
    assert "{{" not in json.dumps(manifest)


def test_the_validator_is_not_vacuous(tmp_path: Path, schema: dict[str, Any]) -> None:
    """Mistakes Teams would reject are caught here too, including the newer keywords."""
    _, manifest, _ = _build(tmp_path)
    wrong_version = {**manifest, "manifestVersion": "1.29"}
    assert any("manifestVersion" in e for e in _errors(schema, wrong_version))
    no_privacy = json.loads(json.dumps(manifest))
    del no_privacy["developer"]["privacyUrl"]
    assert any("privacyUrl" in e for e in _errors(schema, no_privacy))
    bad_bot = json.loads(json.dumps(manifest))
    bad_bot["bots"][0]["botId"] = "not-a-guid"
    assert any(e.startswith("bots/0/botId") for e in _errors(schema, bad_bot))


def test_schema_is_the_newest_stable_one_bundled() -> None:
    if not SCHEMAS.is_dir():
        pytest.skip("node_modules/@microsoft/app-manifest is not installed: run `npm ci`")
    stable = [
        tuple(int(part) for part in d.name[1:].split("."))
        for d in SCHEMAS.iterdir()
        if d.name[1:].replace(".", "").isdigit()
    ]
    newest = ".".join(map(str, max(stable)))
    assert _template_version() == newest, f"move manifest.template.json to v{newest}"


def test_ajv_agrees(tmp_path: Path, schema: dict[str, Any]) -> None:
    """The same check the Teams toolkit runs (ajv-draft-04 with formats), in node."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    _, manifest, _ = _build(tmp_path)
    manifest_path = tmp_path / "manifest.json"
    manifest_path.write_text(json.dumps(manifest))
    schema_path = SCHEMAS / f"v{_template_version()}" / "MicrosoftTeams.schema.json"
    script = """
const path = require('path'), fs = require('fs');
const nm = path.join(process.argv[1], 'node_modules');
const Ajv = require(path.join(nm, 'ajv-draft-04'));
const addFormats = require(path.join(nm, 'ajv-formats'));
const ajv = new Ajv({ allErrors: true, strictTypes: false });
addFormats(ajv, ['uri', 'email', 'regex']);
const validate = ajv.compile(JSON.parse(fs.readFileSync(process.argv[2], 'utf8')));
const data = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
console.log(JSON.stringify(validate(data) ? [] : validate.errors));
"""
    run = subprocess.run(
        [node, "-e", script, str(ROOT), str(schema_path), str(manifest_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(run.stdout) == []


def test_bot_scopes_and_commands(tmp_path: Path) -> None:
    _, manifest, _ = _build(tmp_path)
    (bot,) = manifest["bots"]
    assert bot["botId"] == BOT_ID
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    by_scope = {tuple(cl["scopes"]): cl["commands"] for cl in bot["commandLists"]}
    assert set(by_scope) == {("personal",), ("team",), ("groupChat",)}
    for scope, commands in by_scope.items():
        extra = PERSONAL_ONLY if scope == ("personal",) else set()
        assert {c["title"] for c in commands} == COMMANDS | extra
        assert all(len(c.get("description", "")) >= 20 for c in commands)


def test_search_extension_without_a_crm_has_no_link_handler(
    tmp_path: Path, schema: dict[str, Any]
) -> None:
    _, manifest, _ = _build(tmp_path)
    assert _errors(schema, manifest) == []
    (extension,) = manifest["composeExtensions"]
    assert extension["botId"] == BOT_ID
    (command,) = extension["commands"]
    assert (command["id"], command["type"]) == (COMMAND_ID, "query")
    assert set(command["context"]) == {"compose", "commandBox"}
    assert [p["name"] for p in command["parameters"]] == [QUERY_PARAMETER]
    assert "messageHandlers" not in extension


def test_link_unfurling_for_the_dataverse_host_only(
    tmp_path: Path, schema: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_DATAVERSE_URL", CRM + "/")
    _, manifest, _ = _build(tmp_path)
    assert _errors(schema, manifest) == []
    (extension,) = manifest["composeExtensions"]
    assert extension["messageHandlers"] == [
        {
            "type": "link",
            "value": {"domains": ["contoso.crm.dynamics.com"], "supportsAnonymizedPayloads": True},
        }
    ]
    assert "*" not in json.dumps(manifest)
    # An explicit URL wins over the setting; a bad one is a clear error.
    _, other, _ = _build(tmp_path, crm_url="https://fabrikam.crm4.dynamics.com")
    domains = other["composeExtensions"][0]["messageHandlers"][0]["value"]["domains"]
    assert domains == ["fabrikam.crm4.dynamics.com"]
    with pytest.raises(ManifestError, match="WHOKNOWS_DATAVERSE_URL"):
        _build(tmp_path, crm_url="contoso.crm.dynamics.com")


def test_settings_and_options_fill_the_developer_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_APP_DEVELOPER_NAME", "Contoso IT")
    monkeypatch.setenv("WHOKNOWS_APP_PRIVACY_URL", "https://contoso.com/privacy/whoknows")
    monkeypatch.setenv("WHOKNOWS_APP_TERMS_URL", "https://contoso.com/terms")
    monkeypatch.setenv("WHOKNOWS_APP_WEBSITE_URL", "https://intranet.contoso.com/whoknows")
    _, manifest, _ = _build(tmp_path, name="Contoso Intros", graph_app_id=GRAPH_ID)
    assert manifest["developer"] == {
        "name": "Contoso IT",
        "websiteUrl": "https://intranet.contoso.com/whoknows",
        "privacyUrl": "https://contoso.com/privacy/whoknows",
        "termsOfUseUrl": "https://contoso.com/terms",
    }
    assert manifest["name"]["short"] == "Contoso Intros"
    assert manifest["description"]["full"].startswith("Contoso Intros tells you")
    assert manifest["webApplicationInfo"]["id"] == GRAPH_ID


def test_a_setting_that_is_not_https_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_APP_PRIVACY_URL", "contoso.com/privacy")
    with pytest.raises(ManifestError, match="WHOKNOWS_APP_PRIVACY_URL"):
        _build(tmp_path)
    assert not (tmp_path / "whoknows.zip").exists()


def test_package_is_reproducible(tmp_path: Path) -> None:
    first = tmp_path / "a.zip"
    second = tmp_path / "b.zip"
    build_package(APP_ID, BOT_ID, DOMAIN, first, version="1.0.0")
    build_package(APP_ID, BOT_ID, DOMAIN, second, version="1.0.0")
    assert first.read_bytes() == second.read_bytes()


# --- icons ---------------------------------------------------------------------------


def _icon(files: dict[str, bytes], name: str) -> Image.Image:
    icon = Image.open(io.BytesIO(files[name]))
    icon.load()
    return icon


def test_colour_icon(tmp_path: Path) -> None:
    _, _, archive = _build(tmp_path)
    icon = _icon(archive, "color.png")
    assert icon.format == "PNG"
    assert icon.size == (192, 192)
    rgba = icon.convert("RGBA")
    assert rgba.getchannel("A").getextrema() == (255, 255), "the colour icon is fully opaque"
    # A drawing, not a flat square: several distinct colours cover real areas.
    counts = sorted((c for c, _ in rgba.getcolors(192 * 192) or []), reverse=True)
    assert len([c for c in counts if c > 200]) >= 4


def test_outline_icon_is_white_on_transparent(tmp_path: Path) -> None:
    _, _, archive = _build(tmp_path)
    icon = _icon(archive, "outline.png")
    assert icon.format == "PNG"
    assert icon.size == (32, 32)
    assert icon.mode == "RGBA"
    raw = icon.tobytes()
    pixels = [tuple(raw[i : i + 4]) for i in range(0, len(raw), 4)]
    visible = [p for p in pixels if p[3] > 0]
    assert visible, "the outline icon draws something"
    assert all(p[:3] == (255, 255, 255) for p in visible), "only white is drawn"
    transparent = sum(1 for p in pixels if p[3] == 0)
    solid = sum(1 for p in pixels if p[3] >= 200)
    assert transparent >= 0.4 * len(pixels), "the background is transparent"
    assert solid >= 0.1 * len(pixels), "the strokes are solid enough to see"
    assert pixels[0][3] == pixels[31][3] == 0, "the top corners are empty"


def test_committed_icons_match_the_drawing_script(tmp_path: Path) -> None:
    """manifest/draw_icons.py is the source of the PNGs: regenerate and compare."""
    import runpy

    draw = runpy.run_path(str(MANIFEST_DIR / "draw_icons.py"))
    draw["main"](tmp_path)
    for name in ("color.png", "outline.png"):
        with Image.open(tmp_path / name) as f, Image.open(MANIFEST_DIR / name) as c:
            fresh, committed = f.convert("RGBA"), c.convert("RGBA")
        assert fresh.size == committed.size
        diff = ImageStat.Stat(ImageChops.difference(fresh, committed)).mean
        assert max(diff) < 1.0, f"{name} differs from draw_icons.py: rerun it"


# --- input checks and the command line -----------------------------------------------


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("https://whoknows.contoso.com", "without a scheme"),
        ("whoknows.contoso.com/api/messages", "no path or port"),
        ("whoknows.contoso.com:443", "no path or port"),
        ("10.1.2.3", "not an IP address"),
        ("localhost", "public host name"),
        ("contoso", "public host name"),
        ("who_knows.contoso.com", "not a valid host name"),
        ("-bot.contoso.com", "not a valid host name"),
        ("", "not a valid host name"),
    ],
)
def test_bad_domains(domain: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        check_domain(domain)


def test_good_domains_are_normalised() -> None:
    assert check_domain(" WhoKnows.Contoso.COM. ") == "whoknows.contoso.com"
    assert check_domain("xn--bcher-kva.example") == "xn--bcher-kva.example"
    assert check_guid("{7D1A2B3C-4D5E-4F60-8A9B-0C1D2E3F4A5B}") == BOT_ID


def _cli(*args: str) -> Any:
    return CliRunner().invoke(manifest_command, list(args))


def test_cli_builds_the_package(tmp_path: Path) -> None:
    out = tmp_path / "pkg.zip"
    result = _cli(
        "--app-id", APP_ID, "--bot-id", BOT_ID.upper(), "--domain", DOMAIN, "--out", str(out),
        "--version", "2.0.1", "--name", "Intros",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["bots"][0]["botId"] == BOT_ID
    assert (manifest["version"], manifest["name"]["short"]) == ("2.0.1", "Intros")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--app-id", "1234", "app id '1234' is not a GUID"),
        ("--bot-id", "7d1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5", "bot id"),
        ("--domain", "https://whoknows.contoso.com/", "without a scheme"),
        ("--domain", "127.0.0.1", "not an IP address"),
        ("--version", "1.0", "expected three numbers"),
        ("--name", "A name that is far too long for Teams", "longer than 30"),
        ("--graph-app-id", "graph", "Graph app id 'graph' is not a GUID"),
    ],
)
def test_cli_rejects_bad_values_with_exit_code_2(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    args = {"--app-id": APP_ID, "--bot-id": BOT_ID, "--domain": DOMAIN}
    args[option] = value
    flat = [part for pair in args.items() for part in pair]
    result = _cli(*flat, "--out", str(tmp_path / "x.zip"))
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert message in result.output
    assert not (tmp_path / "x.zip").exists()


def test_cli_requires_the_ids_and_domain(tmp_path: Path) -> None:
    result = _cli("--app-id", APP_ID, "--out", str(tmp_path / "x.zip"))
    assert result.exit_code == 2
    assert "Missing option '--bot-id'" in result.output


def test_custom_assets_are_checked(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    shutil.copytree(MANIFEST_DIR, assets)
    Image.new("RGB", (100, 100), (16, 110, 130)).save(assets / "color.png")
    result = _cli(
        "--app-id", APP_ID, "--bot-id", BOT_ID, "--domain", DOMAIN,
        "--out", str(tmp_path / "x.zip"), "--assets", str(assets),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "needs a 192x192 PNG, got 100x100" in result.output

    shutil.copy(MANIFEST_DIR / "color.png", assets / "color.png")
    template = (assets / "manifest.template.json").read_text()
    (assets / "manifest.template.json").write_text(template.replace("{{DOMAIN}}", "{{HOST}}"))
    with pytest.raises(ManifestError, match=r"\{\{HOST\}\}, which has no value"):
        build_package(APP_ID, BOT_ID, DOMAIN, tmp_path / "y.zip", assets=assets)
