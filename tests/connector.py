"""A local stand-in for the Bot Connector: records everything the bot sends.

It speaks the parts of the Bot Connector REST API the bot uses: send and reply
(``POST v3/conversations/{id}/activities[/{activityId}]``), update (``PUT``) and
createConversation (``POST v3/conversations``). Tests read :attr:`Connector.records`
directly; other processes ``GET /_recorded``. :meth:`Connector.refuse` makes chosen
conversations or users unreachable (e.g. 403 MessageWritesBlocked).

Use as ``async with Connector() as connector: ... connector.service_url``.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Recorded:
    """One call the bot made."""

    kind: str  # "send", "reply", "update" or "create"
    conversation_id: str
    activity_id: str | None
    body: dict[str, Any]
    authorization: str | None

    @property
    def text(self) -> str | None:
        value = self.body.get("text")
        return value if isinstance(value, str) else None

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards attached to a sent or updated activity."""
        return [
            a["content"]
            for a in self.body.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "conversation_id": self.conversation_id,
            "activity_id": self.activity_id,
            "body": self.body,
            "authorization": self.authorization,
        }


@dataclass
class Connector:
    """The recording server; ``refused`` maps conversation or member ids to (status, code)."""

    host: str = "127.0.0.1"
    port: int = 0
    records: list[Recorded] = field(default_factory=list)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    refusals_left: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition | None = None

    @property
    def service_url(self) -> str:
        """The serviceUrl to put in activities (with the trailing slash Teams uses)."""
        return f"http://{self.host}:{self.port}/"

    def refuse(
        self,
        target: str,
        status: int = 403,
        code: str = "MessageWritesBlocked",
        times: int | None = None,
    ) -> None:
        """Make a conversation id, or a user (aadObjectId / id in createConversation), fail;
        ``times`` limits how often (e.g. two 429s, then success)."""
        self.refused[target] = (status, code)
        if times is not None:
            self.refusals_left[target] = times

    def of_kind(self, kind: str) -> list[Recorded]:
        return [r for r in self.records if r.kind == kind]

    def in_conversation(self, conversation_id: str) -> list[Recorded]:
        return [r for r in self.records if r.conversation_id == conversation_id]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Recorded]:
        """Wait until at least ``count`` calls are recorded (for work done after a response)."""
        assert self._changed is not None, "connector not started"
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.records) >= count), timeout
            )
        return list(self.records)

    def clear(self) -> None:
        self.records.clear()

    async def _record(self, item: Recorded) -> None:
        self.records.append(item)
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _refusal(self, *targets: str | None) -> web.Response | None:
        for target in targets:
            if target and target in self.refused:
                status, code = self.refused[target]
                if target in self.refusals_left:
                    self.refusals_left[target] -= 1
                    if self.refusals_left[target] <= 0:
                        del self.refused[target], self.refusals_left[target]
                return web.json_response(
                    {"error": {"code": code, "message": f"refused by the test ({code})"}},
                    status=status,
                )
        return None

    async def _activity(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation_id"]
        replied_to = request.match_info.get("activity_id")
        refusal = self._refusal(conversation_id)
        if refusal is not None:
            return refusal
        body = await request.json()
        kind = "reply" if replied_to else "send"
        await self._record(
            Recorded(kind, conversation_id, replied_to, body, request.headers.get("Authorization"))
        )
        return web.json_response({"id": f"activity-{next(self._ids)}"})

    async def _update(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation_id"]
        activity_id = request.match_info["activity_id"]
        refusal = self._refusal(conversation_id)
        if refusal is not None:
            return refusal
        body = await request.json()
        await self._record(
            Recorded(
                "update", conversation_id, activity_id, body, request.headers.get("Authorization")
            )
        )
        return web.json_response({"id": activity_id})

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        members = body.get("members") or []
        ids = [m.get("id") for m in members] + [m.get("aadObjectId") for m in members]
        refusal = self._refusal(*ids)
        if refusal is not None:
            return refusal
        conversation_id = f"a:created-{next(self._ids)}"
        await self._record(
            Recorded("create", conversation_id, None, body, request.headers.get("Authorization"))
        )
        return web.json_response({"id": conversation_id}, status=201)

    async def _recorded(self, _request: web.Request) -> web.Response:
        return web.json_response([r.as_json() for r in self.records])

    def app(self) -> web.Application:
        app = web.Application()
        base = "/v3/conversations"
        app.router.add_post(base, self._create)
        app.router.add_post(base + "/{conversation_id}/activities", self._activity)
        app.router.add_post(base + "/{conversation_id}/activities/{activity_id}", self._activity)
        app.router.add_put(base + "/{conversation_id}/activities/{activity_id}", self._update)
        app.router.add_get("/_recorded", self._recorded)
        return app

    async def start(self) -> Connector:
        self._changed = asyncio.Condition()
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Connector:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()
