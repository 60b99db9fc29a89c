"""The conversation: typed commands and card clicks routed through two tables.

Commands come from ``bot.commands`` (patterns to :class:`Command`); card clicks
are Action.Execute invokes whose verb (``cards.verbs``) picks a handler. Whoever may
not ask (``bot.access``) gets the no-access card for every question and every click
whose access level (:data:`ACCESS`) is not theirs. Every handler gets the user (the
colleague behind the Teams account, or None) and the card data, does its store work
in a worker thread (``bot.users``, ``bot.lookup``, ``bot.introductions``,
``bot.privacy``), and returns the next card, which replaces the clicked one.
Refusals become a short message; anything unexpected becomes the error card with a
reference id that is also in the log. In a channel or group chat, where everyone reads
what the bot posts, typed commands are answered in the asker's 1:1 chat with the bot and
the shared conversation gets a note that names nobody (:func:`shared`); card clicks need
nothing of the kind, as Teams shows the card an invoke returns to the clicker alone.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot import extension, headsup, introductions, lookup, privacy, users
from bot import settings as bot_settings
from bot.auth import AuthConfig
from bot.commands import Command, Parsed, normalise, parse
from bot.mailer import Mailer, mailer_from_settings
from bot.turn import (
    Bot,
    ConversationReference,
    DeliveryError,
    InvokeResult,
    Proactive,
    Reply,
    Turn,
    UserAddress,
)
from bot.users import Refusal, User
from cards import texts, verbs
from cards.build import View, build_card
from cards.views import (
    ErrorView,
    HelpView,
    IntroductionView,
    NoAccessView,
    NoticeView,
    PersonRef,
    PrivacyView,
    SharedResultView,
)
from signals import stale
from signals import sync_settings as sync_settings

log = logging.getLogger("whoknows.bot")
T = TypeVar("T")

Handler = Callable[["WhoKnowsBot", Turn, Reply, User | None, dict[str, Any]], Awaitable[View]]
VERBS: dict[str, Handler] = {}

# Who may click a verb, checked on every click before its handler runs (``bot.access``).
ASKER = "asker"  # reveals connection data: a colleague who may ask
COLLEAGUE = "colleague"  # the asked colleague answers a request: any enabled colleague
SELF = "self"  # about the user alone (help, my data, opt out and in): anyone
ACCESS: dict[str, str] = {}


def on_verb(*names: str, access: str = ASKER) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            VERBS[name] = fn
            ACCESS[name] = access
        return fn

    return register


def allowed(user: User | None, access: str) -> bool:
    """Whether ``user`` (None: unknown to the directory) may do what ``access`` names."""
    if access == SELF:
        return True
    if user is None:
        return False
    return user.may_ask if access == ASKER else user.colleague


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool):
        raise Refusal(texts.BAD_ACTION)
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Refusal(texts.BAD_ACTION) from None
    if number < 0 or number > 2**62:
        raise Refusal(texts.BAD_ACTION)
    return number


def _lead(data: dict[str, Any]) -> tuple[str, int]:
    if "company" in data:
        return "company", _int(data, "company")
    return "person", _int(data, "lead")


class WhoKnowsBot(Bot):
    def __init__(self, engine: Engine, *, dev_mode: bool, mailer: Mailer | None = None) -> None:
        self.engine = engine
        self.dev_mode = dev_mode
        self.mailer = mailer
        self._background: set[asyncio.Task[Any]] = set()
        self._refreshing: set[asyncio.Task[Any]] = set()

    def refresh_soon(self) -> None:
        """Recompute stale aggregates (an opt-out leaves some) once the answer is sent.

        Off the turn, one at a time, and scoped only (never a full rebuild, which holds
        every pair in memory and locks the aggregates): more stale pairs than
        ``stale.SCOPED_MAX_PAIRS`` are left marked for the sync worker or the next
        import. The marks are committed, so work cut short by a shutdown is done there
        too.
        """
        if any(not t.done() for t in self._refreshing):
            return  # the running refresh, or the worker, picks the new marks up
        task = asyncio.create_task(
            asyncio.to_thread(stale.refresh_stale, self.engine, full_allowed=False)
        )
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("refreshing the connections failed: %r", task.exception())

    async def run_background(self, proactive: Proactive) -> None:
        """Send new-lead heads-ups while the server runs (``bot.headsup``)."""
        await headsup.HeadsUpSender(self.engine).run_forever(proactive)

    async def settle(self) -> None:
        """Wait for the background work started so far."""
        await asyncio.gather(*self._background, return_exceptions=True)

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(session, *args)`` in a worker thread, in one transaction."""

        def work() -> T:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                return fn(session, *args)

        return await asyncio.to_thread(work)

    async def user_of(self, turn: Turn) -> User | None:
        user = await self.db(users.find_user, turn.from_aad_object_id, self.dev_mode)
        if user is not None and turn.conversation_type in (None, "personal"):
            await self.db(users.remember_conversation, user.person_id, turn.reference().to_dict())
        return user

    # -- messages ------------------------------------------------------------------

    @staticmethod
    def no_access() -> NoAccessView:
        """The one answer for whoever may not ask, whatever they asked."""
        return NoAccessView(contact=bot_settings.ACCESS_CONTACT.get().strip() or None)

    async def on_message(self, turn: Turn, io: Reply) -> None:
        """Answer a typed command; a slow answer is acknowledged first, then replaces it."""
        if _inserted_card(turn):
            return
        parsed = parse(turn.text)
        user = await self.user_of(turn)
        if parsed.command == Command.WHO_KNOWS and not allowed(user, ASKER):
            await io.send(build_card(self.no_access()))
            return
        if shared(turn):
            await self._answer_in_private(parsed, turn, user, io)
            return
        task = asyncio.ensure_future(self._answer(parsed, turn, user))
        done, _ = await asyncio.wait({task}, timeout=bot_settings.ACK_AFTER_SECONDS.get())
        if task in done:
            await io.send(_card_or_text(task.result()))
            return
        ack = await io.send(build_card(NoticeView(parsed.argument or turn.text, working=True)))
        content = await task
        await io.update(
            ack, build_card(NoticeView(content) if isinstance(content, str) else content)
        )

    async def _answer_in_private(
        self, parsed: Parsed, turn: Turn, user: User | None, io: Reply
    ) -> None:
        """A channel or group chat: every member sees what the bot posts there, so the
        answer goes to the asker's 1:1 chat with the bot and the chat gets a note that
        names nobody. Help names nobody and stays in the chat."""
        if parsed.command in (Command.HELP, Command.UNKNOWN):
            await io.send(build_card(HelpView(welcome=False)))
            return
        content = _card_or_text(await self._answer(parsed, turn, user))
        delivered = await self._send_to_asker(turn, user, io, content)
        await io.send(texts.SENT_PRIVATELY if delivered else texts.ASK_PRIVATELY)

    async def _send_to_asker(
        self, turn: Turn, user: User | None, io: Reply, content: dict[str, Any] | str
    ) -> bool:
        """Send ``content`` to the asker's 1:1 chat with the bot, the way introductions reach
        a colleague: the stored conversation, else a new one created for their Entra id
        (remembered for next time). False when Teams could not take it."""
        targets: list[ConversationReference | UserAddress] = []
        if user is not None:
            stored = await self.db(users.stored_conversation, user.person_id)
            if stored is not None:
                targets.append(ConversationReference.from_dict(stored))
        if turn.from_aad_object_id and turn.tenant_id:
            bot_id = turn.recipient_id if turn.recipient_id.startswith("28:") else None
            targets.append(
                UserAddress(turn.from_aad_object_id, turn.tenant_id, turn.service_url, bot_id)
            )
        for target in targets:
            try:
                delivery = await io.send_to_user(target, content)
            except DeliveryError as exc:
                log.info("answer not delivered to the asker's 1:1 chat: %s", exc)
                continue
            if user is not None and isinstance(target, UserAddress):
                await self.db(
                    users.remember_conversation, user.person_id, delivery.reference.to_dict()
                )
            return True
        return False

    async def _answer(self, parsed: Parsed, turn: Turn, user: User | None) -> View | str:
        try:
            if parsed.command == Command.WHO_KNOWS:
                if not parsed.argument:
                    return texts.ASK_FOR_NAME
                return await self.db(lookup.who_knows, parsed.argument, user)
            if parsed.command == Command.OPT_OUT:
                return await self._opt_out_prompt(user)
            if parsed.command == Command.OPT_IN:
                return await self._opt_in(user)
            if parsed.command == Command.MY_DATA:
                return await self._my_data(user)
            if parsed.command in (Command.NOTIFY_OFF, Command.NOTIFY_ON):
                on = parsed.command == Command.NOTIFY_ON
                await self.db(headsup.set_preference, users.check_asker(user).person_id, on)
                return texts.NOTIFY_ON_DONE if on else texts.NOTIFY_OFF_DONE
            return HelpView(welcome=False, user_name=turn.from_name or None)
        except Refusal as refusal:
            return str(refusal)

    async def on_install(self, turn: Turn, io: Reply) -> None:
        if turn.conversation_type in (None, "personal"):
            await self.user_of(turn)
        first = await self.db(
            users.first_welcome, turn.conversation_id, turn.conversation_type, turn.tenant_id
        )
        if first:
            name = None if shared(turn) else turn.from_name or None  # greets nobody there
            await io.send(build_card(HelpView(welcome=True, user_name=name)))

    # -- card clicks ---------------------------------------------------------------

    async def on_invoke(self, turn: Turn, io: Reply) -> InvokeResult:
        if turn.name in extension.NAMES:
            return InvokeResult(200, await self._extension(turn))
        if turn.name != "adaptiveCard/action":
            return InvokeResult.error(400, "BadRequest", texts.UNSUPPORTED_INVOKE)
        handler = VERBS.get(turn.verb or "")
        if handler is None:
            return InvokeResult.message(texts.BAD_ACTION)
        user = await self.user_of(turn)
        if not allowed(user, ACCESS[turn.verb or ""]):
            return InvokeResult.card(build_card(self.no_access()))
        try:
            view = await handler(self, turn, io, user, turn.action_data)
        except Refusal as refusal:
            return InvokeResult.message(str(refusal))
        except Exception:
            reference = uuid.uuid4().hex[:8]
            log.exception("card action %s failed (reference %s)", turn.verb, reference)
            view = ErrorView(reference=reference)
        return InvokeResult.card(build_card(view))

    async def _extension(self, turn: Turn) -> dict[str, Any]:
        """Search and link unfurling (``bot.extension``); the user is looked up again, and
        no conversation is remembered (the invoke comes from whatever chat they type in)."""
        value = turn.value if isinstance(turn.value, dict) else {}
        crm_url = sync_settings.DATAVERSE_URL.get()
        if turn.name == extension.ANONYMOUS_QUERY_LINK:
            return extension.anonymous_unfurl(value, crm_url)
        user = await self.db(users.find_user, turn.from_aad_object_id, self.dev_mode)
        if turn.name == extension.QUERY:
            return await self.db(extension.search, value, user, turn.from_id)
        return await self.db(extension.unfurl, value, user, crm_url)

    async def _opt_out_prompt(self, user: User | None) -> View:
        if user is None:
            raise Refusal(texts.NOTHING_STORED)
        counts = await self.db(privacy.data_counts, user.person_id)
        return PrivacyView(state="confirm", counts=counts)

    async def _opt_in(self, user: User | None) -> View:
        if user is None:
            raise Refusal(texts.NOT_A_COLLEAGUE)
        await self.db(privacy.opt_in, user)
        return PrivacyView(state="opted_in")

    async def _my_data(self, user: User | None) -> View:
        if user is None:
            raise Refusal(texts.NOTHING_STORED)
        return await self.db(privacy.my_data, user)


# -- verb handlers ----------------------------------------------------------------------


@on_verb(verbs.SUMMARY, verbs.CHOOSE)
async def _summary(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    kind, lead_id = _lead(data)

    def work(session: Session) -> View:
        answer = lookup.answer_for(session, kind, lead_id, user)
        return lookup.result_view(session, answer, user)

    return await bot.db(work)


@on_verb(verbs.SHARED)
async def _shared(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    """A shared summary refreshed for one viewer: their own state, their own buttons."""
    viewer = users.check_asker(user)
    kind, lead_id = _lead(data)

    def work(session: Session) -> View:
        answer = lookup.answer_for(session, kind, lead_id, viewer)
        view = lookup.result_view(session, answer, viewer)
        return SharedResultView(view, (turn.from_id,) if turn.from_id else ())

    return await bot.db(work)


@on_verb(verbs.DETAILS)
async def _details(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    kind, lead_id = _lead(data)
    return await bot.db(lookup.details, kind, lead_id, _int(data, "colleague"), user)


@on_verb(verbs.LIST)
async def _list(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    kind, lead_id = _lead(data)
    page = _int(data, "page") if "page" in data else 1
    return await bot.db(lookup.list_page, kind, lead_id, page, user)


@on_verb(verbs.INTRODUCE)
async def _introduce(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    return await bot.db(introductions.compose, user, _int(data, "lead"), _int(data, "colleague"))


@on_verb(verbs.CANCEL)
async def _cancel(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    draft = await bot.db(introductions.compose, user, _int(data, "lead"), _int(data, "colleague"))
    return IntroductionView(
        state="cancelled",
        requester=draft.requester,
        colleague=PersonRef(
            draft.colleague.name,
            draft.colleague.email,
            draft.colleague.person_id,
            draft.colleague.upn,
        ),
        lead=draft.lead,
        today=users.utcnow().date(),
    )


@on_verb(verbs.SEND)
async def _send(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    note = data.get(verbs.NOTE_INPUT)
    outcome = await bot.db(
        introductions.create_request,
        user,
        _int(data, "lead"),
        _int(data, "colleague"),
        note if isinstance(note, str) else "",
    )
    if isinstance(outcome, introductions.Existing):
        return outcome.status
    target: ConversationReference | UserAddress | None = None
    if outcome.target is not None:
        target = ConversationReference.from_dict(outcome.target)
    elif outcome.entra_id and turn.tenant_id:
        target = UserAddress(outcome.entra_id, turn.tenant_id, turn.service_url)
    email_available = bot.mailer is not None
    if target is None:
        return await bot.db(
            introductions.undeliverable,
            outcome.request_id,
            "no Teams conversation or Entra id",
            email_available,
        )
    try:
        delivery = await io.send_to_user(target, build_card(outcome.request_view))
    except DeliveryError as exc:
        log.info("request %s not delivered: %s", outcome.request_id, exc)
        return await bot.db(
            introductions.undeliverable, outcome.request_id, str(exc), email_available
        )
    colleague_id = _int(data, "colleague")
    await bot.db(
        introductions.delivered,
        outcome.request_id,
        delivery.activity_id,
        delivery.reference.to_dict(),
        colleague_id,
    )
    return outcome.status


@on_verb(verbs.SEND_EMAIL)
async def _send_email(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    if bot.mailer is None:
        raise Refusal(texts.EMAIL_NOT_CONFIGURED)
    request_id = _int(data, "request")
    intro, sender, recipient = await bot.db(introductions.request_for_email, user, request_id)
    await bot.mailer.send(
        sender=sender, to=recipient, subject=texts.email_subject(), body=intro.note
    )
    return await bot.db(introductions.sent_by_email, request_id)


@on_verb(verbs.ACCEPT, verbs.DECLINE, verbs.NOT_KNOWN, access=COLLEAGUE)
async def _answer(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    verb = turn.verb or ""
    answered = await bot.db(introductions.answer_request, user, _int(data, "request"), verb)
    if answered.requester_target is not None:
        try:
            await io.send_to_user(
                ConversationReference.from_dict(answered.requester_target),
                build_card(answered.notice),
            )
        except DeliveryError as exc:
            log.info("answer notice not delivered: %s", exc)
    return answered.colleague_card


@on_verb(verbs.OPT_OUT, access=SELF)
async def _opt_out(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    return await bot._opt_out_prompt(user)


@on_verb(verbs.OPT_OUT_CONFIRM, access=SELF)
async def _opt_out_confirm(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    if user is None:
        raise Refusal(texts.NOTHING_STORED)
    counts, _forgotten = await bot.db(privacy.opt_out, user)
    bot.refresh_soon()
    return PrivacyView(state="opted_out", counts=counts)


@on_verb(verbs.OPT_OUT_CANCEL, verbs.HELP, access=SELF)
async def _help(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    return HelpView(welcome=False, user_name=turn.from_name or None)


@on_verb(verbs.OPT_IN, access=SELF)
async def _opt_in_verb(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    return await bot._opt_in(user)


@on_verb(verbs.MY_DATA, access=SELF)
async def _my_data_verb(
    bot: WhoKnowsBot, turn: Turn, io: Reply, user: User | None, data: dict[str, Any]
) -> View:
    return await bot._my_data(user)


def shared(turn: Turn) -> bool:
    """A conversation other people see (a channel, a group chat, or a type Teams may add):
    nothing naming colleagues or showing personal data is posted there."""
    return turn.conversation_type not in (None, "personal")


def _inserted_card(turn: Turn) -> bool:
    """A card the user inserted from the search extension or a link unfurl and sent: Teams
    posts it with only a placeholder for text. It is for the people in the chat; no answer."""
    return turn.value is None and bool(turn.raw.get("attachments")) and not normalise(turn.text)


def _card_or_text(content: View | str) -> dict[str, Any] | str:
    return content if isinstance(content, str) else build_card(content)


def build_bot(engine: Engine) -> WhoKnowsBot:
    """The bot `whoknows serve` runs."""
    config = AuthConfig.from_settings()
    return WhoKnowsBot(engine, dev_mode=config.dev_mode, mailer=mailer_from_settings())
