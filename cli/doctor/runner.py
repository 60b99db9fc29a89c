"""Runs every family of checks in order; a family that breaks becomes a failure, never a
traceback."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping

from cli.doctor import configuration, endpoint, identity, microsoft365, package, store
from cli.doctor.result import Check, Options, Shared, failure


async def _guarded(family: str, work: Callable[[], Awaitable[list[Check]]]) -> list[Check]:
    try:
        return await work()
    except Exception as exc:  # a check must report, not crash the command
        return [
            failure(
                family,
                "check failed",
                f"the {family} checks stopped: {type(exc).__name__}: {exc}",
                "Fix what the message names and run `whoknows doctor` again.",
            )
        ]


async def run_checks(options: Options, environ: Mapping[str, str] | None = None) -> list[Check]:
    env = os.environ if environ is None else environ
    shared = Shared()

    async def settings_checks() -> list[Check]:
        return configuration.run(options, env)

    async def identity_checks() -> list[Check]:
        return await identity.run(env, shared, options.now)

    async def m365_checks() -> list[Check]:
        return await microsoft365.run(env, shared, options)

    async def store_checks() -> list[Check]:
        return await asyncio.to_thread(store.run, options, env)

    async def package_checks() -> list[Check]:
        return package.run(options, env)

    async def endpoint_checks() -> list[Check]:
        return await endpoint.run(options)

    families: list[tuple[str, Callable[[], Awaitable[list[Check]]]]] = [
        (configuration.FAMILY, settings_checks),
        (identity.FAMILY, identity_checks),
        (microsoft365.FAMILY, m365_checks),
        (store.FAMILY, store_checks),
    ]
    if options.package is not None:
        families.append((package.FAMILY, package_checks))
    if options.endpoint:
        families.append((endpoint.FAMILY, endpoint_checks))
    checks: list[Check] = []
    for family, work in families:
        checks += await _guarded(family, work)
        if family == microsoft365.FAMILY:
            checks = microsoft365.confirm_exchange_grants(checks, shared)
    return checks
