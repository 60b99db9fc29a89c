"""App package checks (`--package app.zip`): the manifest validates, its ids match the
settings, its valid domains hold the endpoint's host, and the icons are what Teams takes."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot import settings as bs
from cli.doctor import png
from cli.doctor.result import Check, Options, failure, ok, warning
from signals import sync_settings as ss

FAMILY = "package"
ICONS = {"color": (192, 192), "outline": (32, 32)}
SCHEMAS = Path("node_modules") / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"
WHITE = 240
LISTED = 5


def schema_file(version: str) -> Path | None:
    """The Teams manifest schema bundled by npm `@microsoft/app-manifest`, when present
    (a source checkout after `npm ci`); offline, as Teams' own tooling validates."""
    roots = [Path(__file__).resolve().parents[2], Path.cwd()]
    for root in roots:
        path = root / SCHEMAS / f"v{version}" / "MicrosoftTeams.schema.json"
        if path.is_file():
            return path
    return None


def schema_errors(manifest: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Validation errors as ``path: message``.

    The schema declares draft-04 but uses ``const`` and ``if``/``then``/``else``, which
    Teams' own validator (ajv) enforces: they are added to the draft-04 validator.
    """
    from jsonschema import Draft4Validator, Draft7Validator, FormatChecker, validators
    from referencing import Registry
    from referencing.exceptions import NoSuchResource

    def offline(uri: str) -> Any:
        raise NoSuchResource(uri)  # every $ref must resolve inside the bundled file

    validator_class = validators.extend(
        Draft4Validator,
        {keyword: Draft7Validator.VALIDATORS[keyword] for keyword in ("const", "if")},
    )
    validator = validator_class(
        schema,
        registry=Registry(retrieve=offline),  # type: ignore[call-arg]  # attrs-made __init__
        format_checker=FormatChecker(),
    )
    return sorted(
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in validator.iter_errors(manifest)
    )


def _validation(manifest: dict[str, Any]) -> Check:
    name = "manifest schema"
    version = str(manifest.get("manifestVersion", ""))
    path = schema_file(version)
    try:
        import jsonschema  # noqa: F401 - only to learn whether it is installed
    except ImportError:
        path = None
    if path is None:
        return warning(
            FAMILY,
            name,
            f"the Teams schema v{version} is not available here, so the manifest was checked "
            "for ids, domains and icons only",
            "To validate fully, run from a source checkout after `npm ci` and "
            "`pip install jsonschema`.",
        )
    errors = schema_errors(manifest, json.loads(path.read_text(encoding="utf-8")))
    if errors:
        more = f" and {len(errors) - LISTED} more" if len(errors) > LISTED else ""
        return failure(
            FAMILY,
            name,
            f"{len(errors)} schema errors: " + "; ".join(errors[:LISTED]) + more,
            "Rebuild the package with `whoknows manifest` (it fills the template correctly).",
        )
    return ok(FAMILY, name, f"validates against the Teams manifest schema v{version}")


def _ids(manifest: dict[str, Any], environ: Mapping[str, str]) -> list[Check]:
    app_id = bs.MICROSOFT_APP_ID.get(environ).strip().lower()
    bots = [b for b in manifest.get("bots", []) if isinstance(b, dict)]
    checks = []
    if not bots:
        return [
            failure(
                FAMILY,
                "bot id",
                "the manifest declares no bot",
                "Build the package with `whoknows manifest --bot-id <MicrosoftAppId>`.",
            )
        ]
    ids = {str(b.get("botId", "")).lower() for b in bots}
    ids |= {
        str(e.get("botId", "")).lower()
        for e in manifest.get("composeExtensions", [])
        if isinstance(e, dict) and e.get("botId")
    }
    if not app_id:
        checks.append(
            warning(
                FAMILY,
                "bot id",
                f"bot {', '.join(sorted(ids))}; MicrosoftAppId is not set",
                "Set MicrosoftAppId to the bot id of the package.",
            )
        )
    elif ids != {app_id}:
        checks.append(
            failure(
                FAMILY,
                "bot id",
                f"the package's bot id {', '.join(sorted(ids))} is not MicrosoftAppId {app_id}: "
                "Teams would send messages to another bot",
                f"Rebuild with `whoknows manifest --bot-id {app_id} ...` (same --app-id, "
                "higher --version) and upload it as an update.",
            )
        )
    else:
        checks.append(ok(FAMILY, "bot id", f"bot {app_id} = MicrosoftAppId"))
    web_app = manifest.get("webApplicationInfo")
    graph_app = (ss.GRAPH_CLIENT_ID.get(environ).strip() or app_id).lower()
    if isinstance(web_app, dict) and graph_app and str(web_app.get("id", "")).lower() != graph_app:
        checks.append(
            warning(
                FAMILY,
                "webApplicationInfo",
                f"webApplicationInfo.id {web_app.get('id')} is not the Graph app {graph_app}: the "
                "app cannot install itself for colleagues (TeamsAppInstallation."
                "ReadWriteSelfForUser.All covers only this app)",
                f"Rebuild with `whoknows manifest --graph-app-id {graph_app} ...`.",
            )
        )
    return checks


def _domains(manifest: dict[str, Any], endpoint: str | None) -> Check:
    domains = [str(d).lower() for d in manifest.get("validDomains", [])]
    if not endpoint:
        return ok(
            FAMILY,
            "valid domains",
            f"{', '.join(domains) or '(none)'} (give --endpoint to check the bot's host)",
        )
    host = (
        urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}").hostname or ""
    ).lower()
    matched = any(
        d == host
        or (d.startswith("*.") and host.endswith(d[1:]) and host.count(".") == d.count("."))
        for d in domains
    )
    if not matched:
        return failure(
            FAMILY,
            "valid domains",
            f"validDomains ({', '.join(domains) or 'none'}) does not hold the endpoint's host "
            f"{host}",
            f"Rebuild with `whoknows manifest --domain {host} ...` (higher --version) and upload "
            "it as an update.",
        )
    return ok(FAMILY, "valid domains", f"{host} is in validDomains")


def _icons(manifest: dict[str, Any], archive: zipfile.ZipFile) -> list[Check]:
    icons = manifest.get("icons", {})
    checks = []
    for role, (width, height) in ICONS.items():
        name = f"{role} icon"
        file = str(icons.get(role, "")) if isinstance(icons, dict) else ""
        try:
            data = archive.read(file)
        except KeyError:
            checks.append(
                failure(
                    FAMILY,
                    name,
                    f"{file or 'no file'} is not in the package",
                    "Rebuild the package with `whoknows manifest`.",
                )
            )
            continue
        try:
            image = png.read(data)
        except png.PngError as exc:
            checks.append(failure(FAMILY, name, f"{file}: {exc}", f"Use a {width}x{height} PNG."))
            continue
        if (image.width, image.height) != (width, height):
            checks.append(
                failure(
                    FAMILY,
                    name,
                    f"{file} is {image.width}x{image.height}; Teams needs {width}x{height}",
                    f"Use a {width}x{height} PNG (`whoknows manifest --assets DIR`).",
                )
            )
            continue
        if role == "outline" and image.pixels is not None:
            opaque = [p for p in image.pixels if p[3] > 0]
            if len(opaque) == len(image.pixels):
                checks.append(
                    failure(
                        FAMILY,
                        name,
                        f"{file} has no transparent background",
                        "The outline icon must be white on a transparent background.",
                    )
                )
                continue
            coloured = [p for p in opaque if min(p[:3]) < WHITE]
            if coloured:
                checks.append(
                    failure(
                        FAMILY,
                        name,
                        f"{file} has {len(coloured)} pixels that are not white",
                        "The outline icon must be white (#FFFFFF) on a transparent background.",
                    )
                )
                continue
        checks.append(ok(FAMILY, name, f"{file} {width}x{height}"))
    return checks


def run(options: Options, environ: Mapping[str, str]) -> list[Check]:
    path = options.package
    assert path is not None
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
            except KeyError:
                return [
                    failure(
                        FAMILY,
                        "manifest",
                        f"{path} has no manifest.json at its root",
                        "Zip manifest.json and the icons without a folder around them.",
                    )
                ]
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                return [
                    failure(
                        FAMILY,
                        "manifest",
                        f"manifest.json is not valid JSON: {exc}",
                        "Rebuild the package with `whoknows manifest`.",
                    )
                ]
            if not isinstance(manifest, dict):
                return [
                    failure(
                        FAMILY,
                        "manifest",
                        "manifest.json is not an object",
                        "Rebuild the package with `whoknows manifest`.",
                    )
                ]
            return [
                _validation(manifest),
                *_ids(manifest, environ),
                _domains(manifest, options.endpoint),
                *_icons(manifest, archive),
            ]
    except (OSError, zipfile.BadZipFile) as exc:
        return [
            failure(
                FAMILY,
                "package",
                f"{path} cannot be read as a zip: {exc}",
                "Give the .zip written by `whoknows manifest`.",
            )
        ]
