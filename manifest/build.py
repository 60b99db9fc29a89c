"""The Teams app package: the manifest template filled in and zipped with the two icons.

An administrator uploads the zip to Teams. Every value is checked here, before Teams
sees it, so that a typo in an id or a domain gives a clear message instead of an
opaque upload failure.
"""

from __future__ import annotations

import ipaddress
import json
import re
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from bot import settings
from signals import sync_settings
from signals.config import Setting

__all__ = [
    "ICON_SIZES",
    "ManifestError",
    "assets_dir",
    "build_package",
    "check_domain",
    "check_guid",
    "check_version",
    "compose_extension",
    "crm_host",
    "fill_template",
    "manifest_command",
]

TEMPLATE = "manifest.template.json"
ICON_SIZES = {"color.png": (192, 192), "outline.png": (32, 32)}
DEFAULT_NAME = "Who Knows"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_VERSION = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Reproducible zips: the same inputs give the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class ManifestError(ValueError):
    """A value for the app package is invalid; the message says which and how to fix it."""


def check_guid(value: str, what: str = "id") -> str:
    """The GUID in canonical lower case, or ManifestError."""
    cleaned = value.strip().strip("{}").lower()
    if not _GUID.match(cleaned):
        raise ManifestError(
            f"{what} {value!r} is not a GUID: expected 32 hex digits as 8-4-4-4-12, "
            "e.g. 2f0c6f1e-8f5b-4c1d-9a57-6b1c3a1d2e4f"
        )
    return cleaned


def check_domain(value: str) -> str:
    """The bot's public host name in lower case, or ManifestError explaining what is wrong."""
    host = value.strip().lower().rstrip(".")
    example = "e.g. whoknows.contoso.com"
    if "://" in host:
        raise ManifestError(
            f"domain {value!r}: give the host name only, without a scheme, {example}"
        )
    if any(ch in host for ch in "/:?#@ "):
        raise ManifestError(
            f"domain {value!r}: give the host name only, no path or port, {example}"
        )
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ManifestError(
            f"domain {value!r}: Teams needs a host name, not an IP address, {example}"
        )
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ManifestError(f"domain {value!r} is not a valid host name, {example}")
    if len(labels) < 2 or host.endswith(".localhost"):
        raise ManifestError(
            f"domain {value!r}: Teams needs the bot's public host name (the one in the Azure Bot "
            f"messaging endpoint), {example}"
        )
    return host


def check_version(value: str) -> str:
    """A three-part version such as 1.4.0; Teams wants a higher one for every update."""
    if not _VERSION.match(value.strip()):
        raise ManifestError(f"version {value!r}: expected three numbers such as 1.0.0")
    return value.strip()


def _check_https(value: str, env: str) -> str:
    if not re.match(r"^https://[^/\s]+", value):
        raise ManifestError(f"{env}={value!r}: expected an https:// URL")
    return value


def _check_length(value: str, limit: int, what: str) -> str:
    if not value.strip():
        raise ManifestError(f"{what} is empty")
    if len(value) > limit:
        raise ManifestError(f"{what} {value!r} is longer than {limit} characters")
    return value


SEARCH_COMMAND = {
    "id": "whoKnows",  # bot.extension.COMMAND_ID
    "type": "query",
    "title": "Who knows",
    "description": "Colleagues who know a lead: search by name, e-mail address or company",
    "initialRun": False,
    "context": ["compose", "commandBox"],
    "parameters": [
        {
            "name": "query",  # bot.extension.QUERY_PARAMETER
            "title": "Lead",
            "description": "A lead's name, e-mail address or company, e.g. Yvonne McKay",
            "inputType": "text",
        }
    ],
}


def crm_host(url: str) -> str | None:
    """The Dynamics 365 host of ``WHOKNOWS_DATAVERSE_URL`` (links to it unfurl), or None."""
    if not url.strip():
        return None
    match = re.match(r"^https://([^/:?#\s]+)/?", url.strip())
    if match is None:
        raise ManifestError(
            f"{sync_settings.DATAVERSE_URL.env}={url!r}: expected https://<org>.crm.dynamics.com"
        )
    return check_domain(match.group(1))


def compose_extension(bot_id: str, link_host: str | None) -> dict[str, Any]:
    """The search command, and link unfurling for the organisation's own Dynamics 365 host
    only (never a wildcard over domains it does not control)."""
    extension: dict[str, Any] = {
        "botId": bot_id,
        "composeExtensionType": "botBased",
        "commands": [json.loads(json.dumps(SEARCH_COMMAND))],
    }
    if link_host:
        extension["messageHandlers"] = [
            {"type": "link", "value": {"domains": [link_host], "supportsAnonymizedPayloads": True}}
        ]
    return extension


def _default_version() -> str:
    """This package's version, so that every release uploads as an update."""
    try:
        return check_version(metadata.version("whoknows"))
    except (metadata.PackageNotFoundError, ManifestError):
        return "1.0.0"


def assets_dir() -> Path:
    """Where the template and icons are: beside this module (package data)."""
    here = Path(__file__).resolve().parent
    if (here / TEMPLATE).is_file():
        return here
    raise ManifestError(f"{TEMPLATE} not found in {here}; reinstall whoknows or pass --assets DIR")


def fill_template(template: Any, values: dict[str, str]) -> Any:
    """Replace {{NAME}} in every string of the parsed template; unknown names are an error."""
    if isinstance(template, dict):
        return {key: fill_template(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [fill_template(item, values) for item in template]
    if isinstance(template, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise ManifestError(f"the template uses {{{{{name}}}}}, which has no value")
            return values[name]

        return _PLACEHOLDER.sub(replace, template)
    return template


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG header, without an imaging library."""
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _read_icon(directory: Path, name: str) -> bytes:
    path = directory / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"icon {path} cannot be read: {exc.strerror}") from exc
    size = _png_size(data)
    want = ICON_SIZES[name]
    if size != want:
        got = "not a PNG" if size is None else f"{size[0]}x{size[1]}"
        raise ManifestError(f"icon {path}: Teams needs a {want[0]}x{want[1]} PNG, got {got}")
    return data


def build_package(
    app_id: str,
    bot_id: str,
    domain: str,
    out_path: Path | str,
    *,
    version: str | None = None,
    name: str = DEFAULT_NAME,
    graph_app_id: str | None = None,
    developer_name: str | None = None,
    website_url: str | None = None,
    privacy_url: str | None = None,
    terms_url: str | None = None,
    assets: Path | None = None,
    crm_url: str | None = None,
) -> dict[str, Any]:
    """Write the Teams app package to ``out_path`` and return its manifest.

    ``app_id`` is the Teams app's own id (keep it for every update); ``bot_id`` is the
    Azure Bot's Microsoft App ID; ``graph_app_id`` is the Entra app that calls Graph
    (default: the bot's), which lets the app install itself for colleagues it must
    message. URLs and the developer name default to the settings, then to the domain.
    ``crm_url`` (default ``WHOKNOWS_DATAVERSE_URL``) adds link unfurling for its host.
    """
    host = check_domain(domain)
    bot = check_guid(bot_id, "bot id")
    values = {
        "APP_ID": check_guid(app_id, "app id"),
        "BOT_ID": bot,
        "GRAPH_APP_ID": check_guid(graph_app_id, "Graph app id") if graph_app_id else bot,
        "DOMAIN": host,
        "VERSION": check_version(version) if version else _default_version(),
        "APP_NAME": _check_length(name, 30, "app name"),
        "DEVELOPER_NAME": _check_length(
            developer_name or settings.APP_DEVELOPER_NAME.get(),
            32,
            f"developer name ({settings.APP_DEVELOPER_NAME.env})",
        ),
        "WEBSITE_URL": _url(website_url, settings.APP_WEBSITE_URL, f"https://{host}/"),
        "PRIVACY_URL": _url(privacy_url, settings.APP_PRIVACY_URL, f"https://{host}/privacy"),
        "TERMS_URL": _url(terms_url, settings.APP_TERMS_URL, f"https://{host}/terms"),
    }
    source = assets or assets_dir()
    try:
        template = json.loads((source / TEMPLATE).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{source / TEMPLATE} cannot be read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{source / TEMPLATE} is not valid JSON: {exc}") from exc
    manifest: dict[str, Any] = fill_template(template, values)
    link_host = crm_host(sync_settings.DATAVERSE_URL.get() if crm_url is None else crm_url)
    manifest["composeExtensions"] = [compose_extension(bot, link_host)]
    icons = {icon: _read_icon(source, icon) for icon in ICON_SIZES}

    out = Path(out_path)
    body = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    tmp = out.with_name(out.name + ".part")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            _add(archive, "manifest.json", body.encode("utf-8"))
            for icon, data in icons.items():
                _add(archive, icon, data)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ManifestError(f"cannot write {out}: {exc.strerror}") from exc
    return manifest


def _url(explicit: str | None, setting: Setting[str], fallback: str) -> str:
    if explicit:
        return _check_https(explicit, "URL")
    configured = setting.get()
    return _check_https(configured, setting.env) if configured else fallback


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def _validated(check: Callable[[str], str]) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback that turns ManifestError into a usage error (exit code 2)."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            return check(value)
        except ManifestError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc

    return callback


@click.command("manifest")
@click.option(
    "--app-id",
    required=True,
    callback=_validated(lambda v: check_guid(v, "app id")),
    help="The Teams app's id: a GUID you generate once and keep for every update.",
)
@click.option(
    "--bot-id",
    required=True,
    callback=_validated(lambda v: check_guid(v, "bot id")),
    help="The Azure Bot's Microsoft App ID (MicrosoftAppId).",
)
@click.option(
    "--domain",
    required=True,
    callback=_validated(check_domain),
    help="The bot's public host name, as in its messaging endpoint (e.g. whoknows.contoso.com).",
)
@click.option(
    "--out",
    "out_path",
    default="whoknows.zip",
    show_default=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the package.",
)
@click.option(
    "--version",
    "app_version",
    default=None,
    callback=_validated(check_version),
    help="App version, three numbers; raise it for every update (default: this release's).",
)
@click.option(
    "--name",
    default=DEFAULT_NAME,
    show_default=True,
    callback=_validated(lambda v: _check_length(v, 30, "app name")),
    help="The app's name in Teams (at most 30 characters).",
)
@click.option(
    "--graph-app-id",
    default=None,
    callback=_validated(lambda v: check_guid(v, "Graph app id")),
    help="The Entra app that calls Microsoft Graph, when it is not the bot's (default: bot id).",
)
@click.option(
    "--assets",
    default=None,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A folder with your own manifest.template.json, color.png and outline.png.",
)
def manifest_command(
    app_id: str,
    bot_id: str,
    domain: str,
    out_path: Path,
    app_version: str | None,
    name: str,
    graph_app_id: str | None,
    assets: Path | None,
) -> None:
    """Build the Teams app package (manifest and icons) to upload to Teams."""
    try:
        manifest = build_package(
            app_id,
            bot_id,
            domain,
            out_path,
            version=app_version,
            name=name,
            graph_app_id=graph_app_id,
            assets=assets,
        )
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from exc
    handlers = manifest["composeExtensions"][0].get("messageHandlers", [])
    links = ", ".join(d for h in handlers for d in h["value"]["domains"]) or "none"
    click.echo(
        f"wrote {out_path}: {manifest['name']['short']} {manifest['version']} "
        f"(app {manifest['id']}, bot {bot_id}, domain {domain}, unfurls links to {links})\n"
        "Upload it in the Teams admin center: Teams apps > Manage apps > Upload new app."
    )
