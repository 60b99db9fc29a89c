"""Settings declared once: name, default, environment variable and help.

Every package declares its own settings in its ``settings`` module with
:func:`declare`; the declarations are the single source for reading values
(:meth:`Setting.get`), for ``whoknows settings`` and for ``docs/settings.md``
(a test keeps that file in sync).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


class SettingError(ValueError):
    """A setting has a value that cannot be parsed."""


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise SettingError(f"expected true/false, got {raw!r}")


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.replace(";", ",").split(",") if part.strip())


PARSERS: dict[type, Callable[[str], object]] = {
    bool: _parse_bool,
    int: int,
    float: float,
    str: str,
    tuple: _parse_list,
}


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One configurable value. ``env`` is the environment variable that sets it."""

    name: str
    default: T
    env: str
    help: str
    section: str
    kind: type = str
    secret: bool = False

    def get(self, environ: Mapping[str, str] | None = None) -> T:
        """The value from the environment, else the default."""
        source = os.environ if environ is None else environ
        raw = source.get(self.env)
        if raw is None or (raw == "" and self.kind is not str):
            return self.default
        try:
            return PARSERS[self.kind](raw)  # type: ignore[return-value]
        except (ValueError, SettingError) as exc:
            raise SettingError(f"{self.env}: {exc}") from exc

    def describe_default(self) -> str:
        if isinstance(self.default, tuple):
            return ", ".join(self.default) or "(empty)"
        if self.default == "" or self.default is None:
            return "(empty)"
        return str(self.default)


@dataclass
class Registry:
    settings: dict[str, Setting[object]] = field(default_factory=dict)

    def add(self, setting: Setting[T]) -> Setting[T]:
        if setting.name in self.settings:
            raise ValueError(f"setting {setting.name} declared twice")
        self.settings[setting.name] = setting  # type: ignore[assignment]
        return setting


REGISTRY = Registry()


def declare(
    name: str,
    default: T,
    help: str,
    *,
    section: str,
    env: str | None = None,
    kind: type | None = None,
    secret: bool = False,
) -> Setting[T]:
    """Declare a setting; its environment variable defaults to WHOKNOWS_<NAME>."""
    setting: Setting[T] = Setting(
        name=name,
        default=default,
        env=env or f"WHOKNOWS_{name.upper()}",
        help=help,
        section=section,
        kind=kind or type(default),
        secret=secret,
    )
    return REGISTRY.add(setting)


def all_settings() -> list[Setting[object]]:
    """Every declared setting, importing each package's settings module first."""
    import importlib

    for module in (
        "signals.settings",
        "signals.sync_settings",
        "scoring.settings",
        "cards.settings",
        "bot.settings",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a package without settings yet
            if exc.name != module:
                raise
    return sorted(REGISTRY.settings.values(), key=lambda s: (s.section, s.name))


def settings_markdown() -> str:
    """The settings reference, as written to docs/settings.md."""
    lines = [
        "# Settings",
        "",
        "Generated from the declarations by `whoknows settings --markdown`; do not edit by hand.",
        "Every setting is read from its environment variable.",
        "",
    ]
    section = None
    for s in all_settings():
        if s.section != section:
            if section is not None:
                lines.append("")
            section = s.section
            lines += [
                f"## {section}",
                "",
                "| variable | default | meaning |",
                "| --- | --- | --- |",
            ]
        default = "(secret)" if s.secret and s.default else s.describe_default()
        default = default.replace("\n", "\\n").replace("|", "\\|")
        lines.append(f"| `{s.env}` | `{default}` | {s.help} |")
    return "\n".join(lines) + "\n"
