"""Text messages to the bot, on either platform: a few commands, and corrections of a voice note.

  帮助              what the bot does and what to type
  我的线索          the sender's open leads, each as a fresh lead card (the old cards stop being kept current)
  预算 80万 / 招标 12月3日 / 竞品 金蝶 …   a correction of the sender's voice note: the one they pressed 更正 on
                    in the last half hour, else their latest note of the last day
A text that is one of our button keys is a click: a platform's markdown fallback card may send the pressed
button's key as a message from the person, so it goes to the click handler, with no card on record.
Anything else gets a one-line hint; a sender who is not a user of the tenant gets a polite refusal.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.admin.apps import LoadedApp
from bot.board import access
from bot.chat import cards as cardsvc
from bot.chat import clicks
from bot.console import CONSOLE, may_use_console
from bot.jobs import services as services_of
from bot.leads import store as leadstore
from bot.platforms.base import CardClick, Inbound, InboundKind
from bot.runtime.services import Services
from bot.voice import lexicons, notes
from bot.voice.revise import apply_correction, changed_labels, found_any, names_a_field, normalize_typed
from cards.keys import BadButtonKey, ButtonKey
from cards.model import CardKind
from storage import redis_keys
from storage.models import CardInstance, User
from storage.models import Lead as LeadRow
from storage.models import VoiceNote as NoteRow

log = logging.getLogger(__name__)

HELP_WORDS = frozenset({"帮助", "help", "?", "菜单", "说明", "使用说明"})
MY_LEADS_WORDS = frozenset({"我的线索", "线索", "我的客户"})
BOARD_WORDS = frozenset({"看板", "board", "日报"})
CONSOLE_WORDS = frozenset({"控制台", "console", "管理后台"})
MAX_RESENT = 5
CORRECTION_WINDOW = timedelta(days=1)

STRANGER = "你还不是线索助手的用户，请联系管理员开通后再使用。"
HELP = (
    "线索助手可以：\n"
    "· 发送语音（60 秒以内）：拜访小结自动转成文字，提取预算、招标日期、竞品、关注点和客户职务，记入线索\n"
    "· 回复「我的线索」：重新发送你负责的进行中线索卡片\n"
    "· 回复「预算 80万」「招标 12月3日」「竞品 金蝶」：更正最近一条语音纪要\n"
    "· 经理和管理员回复「看板」：获取线索看板的登录链接\n"
    "· 管理员回复「控制台」：获取管理控制台的登录链接\n"
    "· 回复「帮助」：查看本说明"
)
HINT = "没有识别到指令。回复「帮助」查看用法，回复「我的线索」查看你的线索。"
NO_LEADS = "你目前没有进行中的线索。"
NO_NOTE = "没有找到可以更正的语音纪要（只能更正一天内的纪要）。"
UNREADABLE = "没看懂这条更正。请按「字段 内容」回复，例如：预算 80万、招标 12月3日、竞品 金蝶。"
UNCHANGED = "纪要里已经是这些内容，无需更正。"


def command_of(text: str) -> str:
    """The text as a command word: full-width folded, spaces and trailing punctuation gone, lower case."""
    return unicodedata.normalize("NFKC", text).strip().rstrip("。.!！").replace(" ", "").lower()


async def on_text(ctx: dict[str, Any], app_id: int, message: Inbound) -> None:
    services = services_of(ctx)
    app = await services.apps.require(app_id)
    user = await clicks.find_user(app, message.sender)
    if user is None:
        await notes.tell(services, app, message.sender, await clicks.stranger_text(app, message.sender, STRANGER))
        return
    text = (message.text or "").strip()
    command = command_of(text)
    if _is_button_key(text):
        click = replace(message, kind=InboundKind.CARD_CLICK, card=CardClick(card_id="", key=text))
        await clicks.handle_click(ctx, app_id, click)
    elif command in HELP_WORDS:
        await notes.tell(services, app, message.sender, HELP)
    elif command in MY_LEADS_WORDS:
        await resend_leads(services, (app, message.sender), user)
    elif command in BOARD_WORDS:
        await notes.tell(services, app, message.sender, await board_link(services, user))
    elif command in CONSOLE_WORDS:
        await notes.tell(services, app, message.sender, await console_link(services, user))
    elif names_a_field(command):
        sent = datetime.fromtimestamp(message.created_at, UTC) if message.created_at > 0 else services.clock.now()
        await correct_note(services, (app, message.sender), user, text, sent)
    else:
        await notes.tell(services, app, message.sender, HINT)


def _is_button_key(text: str) -> bool:
    try:
        ButtonKey.unpack(text)
    except BadButtonKey:
        return False
    return True


async def resend_leads(services: Services, via: tuple[LoadedApp, str], user: User) -> None:
    leads = LeadRow.filter(tenant_id=user.tenant_id, assignee_id=user.id, status__in=notes.ACTIVE)
    total = await leads.count()
    if total == 0:
        await notes.tell(services, via[0], via[1], NO_LEADS)
        return
    for row in await leads.order_by("-last_activity_at", "-id").limit(MAX_RESENT):
        lead = await leadstore.load(row.id, user.tenant_id)
        # The fresh card is the one kept current from now on; an old one left live would be redrawn as well
        # (and, where updates spend a code and none is left, re-sent as yet another card).
        await CardInstance.filter(kind=str(CardKind.LEAD), subject_id=lead.id, user_id=user.id, live=True
                                  ).update(live=False)
        card = await cardsvc.lead_card_for(lead, user, now=services.clock.now())
        await cardsvc.send_card(services, user, card, kind=CardKind.LEAD, subject_id=lead.id, version=lead.version,
                                via=via)
    if total > MAX_RESENT:
        await notes.tell(services, via[0], via[1], f"你有 {total} 条进行中的线索，以上是最近活跃的 {MAX_RESENT} 条。")


async def board_link(services: Services, user: User) -> str:
    """A one-time sign-in link to the board for a manager or admin; a rep is told it is not for them."""
    if not access.may_use_board(user):
        return "线索看板只对经理和管理员开放。"
    token = await access.issue_link_token(services.redis, user)
    minutes = int(access.LINK_TTL.total_seconds() // 60)
    return (f"线索看板登录链接（{minutes} 分钟内有效，只能用一次，请勿转发）：\n"
            f"{services.settings.base_url()}/board/login?t={token}")


async def console_link(services: Services, user: User) -> str:
    """A one-time sign-in link to the admin console for an admin; anyone else is told it is not for them."""
    if not may_use_console(user):
        return "管理控制台只对管理员开放。"
    token = await access.issue_link_token(services.redis, user, realm=CONSOLE)
    minutes = int(access.LINK_TTL.total_seconds() // 60)
    return (f"管理控制台登录链接（{minutes} 分钟内有效，只能用一次，请勿转发）：\n"
            f"{services.settings.base_url()}/console/login?t={token}")


async def note_to_correct(services: Services, user: User) -> NoteRow | None:
    marked = await services.redis.get(redis_keys.voice_correcting(user.id))
    if marked is not None:
        row = await NoteRow.get_or_none(id=int(marked), user_id=user.id, tenant_id=user.tenant_id)
        if row is not None:
            return row
    since = services.clock.now() - CORRECTION_WINDOW
    return await NoteRow.filter(user_id=user.id, tenant_id=user.tenant_id, created_at__gte=since).order_by(
        "-created_at", "-id").first()


async def correct_note(services: Services, via: tuple[LoadedApp, str], user: User, text: str,
                       sent_at: datetime) -> None:
    """Re-extract the typed text and put what it names into the note; the note then waits for 确认 again."""
    app, recipient = via
    row = await note_to_correct(services, user)
    if row is None:
        await notes.tell(services, app, recipient, NO_NOTE)
        return
    extractor = await lexicons.tenant_extractor(user.tenant_id)
    typed = extractor.extract(normalize_typed(text), sent_at)
    if not found_any(typed):
        await notes.tell(services, app, recipient, UNREADABLE)
        return
    before = notes.fields_of(row)
    after = apply_correction(before, typed)
    labels = changed_labels(before, after)
    if not labels:
        await notes.tell(services, app, recipient, UNCHANGED)
        return
    if not await notes.bump(row, services.clock.now(), fields_json=after.to_json(), confirmed=False):
        await notes.tell(services, app, recipient, "纪要刚被修改过，请再发一次更正。")
        return
    what = "、".join(labels)
    await notes.redraw(services, row, notice=f"已更正{what}，请点「确认」更新到线索")
    await notes.tell(services, app, recipient, f"已更正语音纪要的{what}。请在纪要卡片上点「确认」，更新到线索。")
    log.info("voice note %d corrected by user %d: %s", row.id, user.id, ",".join(labels))
