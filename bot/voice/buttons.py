"""Buttons on voice-note cards: 确认, 更正, 添加<title>, and the lead chooser's picks (via `bot.chat.clicks`).

A key names a note and the note version the card showed. The clicker is checked against the note's tenant and
author (a manager or admin of the tenant may act too: `leadservice.act` then decides whether they may touch the
lead); a click on an outdated card redraws the card as the note is now instead of acting on what it showed.
"""

from __future__ import annotations

import logging

from bot.admin.users import platform_id
from bot.chat.clicks import Click
from bot.leads import types as lt
from bot.leads.actions import Action, add_title_contact, confirm_note
from bot.leads.gates import Refusal
from bot.voice import notes
from cards.keys import BadButtonKey
from storage import redis_keys
from storage.models import Role
from storage.models import VoiceNote as NoteRow

log = logging.getLogger(__name__)

STALE = "纪要已更新，请在最新的卡片上操作。"
HOW_TO_CORRECT = (
    "请直接回复文字更正这条纪要，例如：\n预算 80万\n招标 12月3日\n竞品 金蝶\n"
    "只更正你写到的内容，其余保持不变；更正后请在纪要卡片上点「确认」。"
)
# How long a 更正 press points the rep's next typed correction at that note (else: their latest note).
CORRECTING_TTL_S = 30 * 60


def recipient(click: Click) -> str:
    return platform_id(click.clicker, click.app.platform)


async def _note(click: Click, *, current: bool = True) -> NoteRow | None:
    """The clicked note if the clicker may act on it and (with `current`) the card shows the note as it is;
    otherwise they are told why."""
    row = await NoteRow.get_or_none(id=click.key.target, tenant_id=click.clicker.tenant_id)
    if row is None:
        log.warning("click by user %d on voice note %d outside their tenant", click.clicker.id, click.key.target)
        await notes.tell(click.services, click.app, recipient(click), "找不到这条语音纪要。")
        return None
    if row.user_id != click.clicker.id and click.clicker.role is Role.REP:
        await notes.tell(click.services, click.app, recipient(click), "只有录音的销售本人可以操作这条纪要。")
        return None
    if current and click.key.version != row.version:
        await notes.redraw(click.services, row, notice=STALE, clicked=click.card)
        return None
    return row


async def _act(click: Click, row: NoteRow, action: Action) -> Refusal | None:
    return await notes.apply(click.services, row, action, click.actor, lt.EventSource.CARD)


def _confirmed_notice(row: NoteRow) -> str:
    f = notes.fields_of(row)
    applied = [label for label, value in (("预算", f.budget), ("招标日期", f.tender_date), ("竞品", f.competitors))
               if value]
    if not applied:
        return "已确认（纪要中没有预算、招标日期或竞品可更新到线索）"
    return "已确认，" + "、".join(applied) + "已更新到线索"


async def on_confirm(click: Click) -> None:
    row = await _note(click)
    if row is None:
        return
    if row.lead_id is None:
        await notes.redraw(click.services, row, notice="这条纪要还没有关联线索，无法更新到线索上。", clicked=click.card)
        return
    if not row.confirmed:
        refusal = await _act(click, row, confirm_note(notes.to_value(row)))
        if refusal is not None:
            await notes.redraw(click.services, row, notice=refusal.message, clicked=click.card)
            return
        if not await notes.bump(row, click.at, confirmed=True):  # corrected meanwhile: what was confirmed is outdated
            await row.refresh_from_db()
            await notes.redraw(click.services, row, notice=STALE, clicked=click.card)
            return
    await notes.redraw(click.services, row, notice=_confirmed_notice(row), clicked=click.card)


async def on_correct(click: Click) -> None:
    row = await _note(click)
    if row is None:
        return
    # The card is left as it is: its response code is kept for redrawing it once the correction comes in.
    await click.services.redis.set(redis_keys.voice_correcting(click.clicker.id), row.id, ex=CORRECTING_TTL_S)
    await notes.tell(click.services, click.app, recipient(click), HOW_TO_CORRECT)


async def on_add_contact(click: Click) -> None:
    row = await _note(click)
    if row is None:
        return
    title = click.key.arg
    if title not in notes.fields_of(row).titles:
        log.warning("add-contact click with a title the note did not hear (note %d)", row.id)
        return
    if row.lead_id is None:
        await notes.redraw(click.services, row, notice="这条纪要还没有关联线索。", clicked=click.card)
        return
    refusal = await _act(click, row, add_title_contact(notes.to_value(row), title))
    notice = refusal.message if refusal is not None else f"已添加联系人：{title}"
    await notes.redraw(click.services, row, notice=notice, clicked=click.card)


async def on_pick(click: Click) -> None:
    # Which lead a note is about does not depend on the fields shown: a correction meanwhile is no reason to refuse.
    row = await _note(click, current=False)
    if row is None:
        return
    try:
        lead_id = click.key.picked_lead()
    except BadButtonKey as e:
        log.warning("lead pick with a bad argument on note %d: %s", row.id, e)
        return
    if not await notes.link(row, lead_id):
        await notes.redraw(click.services, row, notice="这条纪要已关联到另一条线索。", clicked=click.card)
        return
    refusal = await notes.attach(click.services, row, click.clicker)
    if refusal is not None:
        await notes.unlink(row)
        await notes.tell(click.services, click.app, recipient(click), f"没有关联：{refusal.message}")
        return
    await notes.redraw(click.services, row, clicked=click.card)
