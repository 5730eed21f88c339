"""The whole path proven: `POST /admin/apps/{id}/test`, `leadbot apps test ID --to USER` (issue 19).

A test card with one button goes to a person mapped to the app; their click comes back through the platform's
callback like any other, is recognised by its key (`KeyAction.TEST`, the test id as target) and recorded; it
touches no lead. `status` then says "card delivered, click received 4.2 s later". The record lives in Redis for a
day (every process sees it: the CLI waits for a click that the server's worker receives).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from bot.admin.app_verify import safe_code
from bot.chat import cards as cardsvc
from bot.chat import clicks
from bot.errors import InvalidField, NotFound, PlatformError
from bot.runtime.services import Services
from cards.keys import ButtonKey, KeyAction
from cards.model import Button, ButtonStyle, Card, CardKind, Tone
from storage import redis_keys

log = logging.getLogger(__name__)

RECORD_TTL_S = 24 * 3600
CLICKED = "点击已收到：卡片送达与回调都正常。"


def _latest(app_id: int) -> str:
    return redis_keys.test_card(app_id, "latest")


def test_card(test_id: int) -> Card:
    return Card(kind=CardKind.NOTICE, title="线索助手测试卡片", subtitle="Test card",
                body="管理员在检查机器人是否可用：请点击下方按钮。\n"
                     "An admin is checking the bot: please press the button.",
                buttons=(Button("点我完成测试", ButtonKey(KeyAction.TEST, test_id), ButtonStyle.PRIMARY),),
                tone=Tone.INFO)


async def send(services: Services, app_id: int, to: str) -> dict[str, Any]:
    """Send a test card to `to` (the platform user id of an active user of the app's tenant)."""
    app = await services.apps.require(app_id)
    if await clicks.find_user(app, to) is None:
        raise InvalidField("to", f"{to!r} is not an active user of this tenant on {app.platform}: map them first")
    test_id = secrets.randbelow(2**47) + 1
    card_id = cardsvc.new_card_id("test", test_id)
    key = redis_keys.test_card(app_id, test_id)
    sent_at = services.clock.time()
    record: dict[str, Any] = {"test_id": test_id, "to": to, "card_id": card_id, "sent_at": sent_at}
    try:
        await services.adapters.get(services, app).send_card(
            to, card_id, cardsvc.render(app.platform, test_card(test_id), card_id))
        record["delivered"] = 1
    except PlatformError as e:
        record["delivered"] = 0
        record["error"] = f"{app.platform} refused the card: errcode {safe_code(e)}"
        log.warning("test card on app %d not delivered: errcode=%s", app_id, e.errcode)
    await services.redis.hset(key, mapping={k: str(v) for k, v in record.items()})
    await services.redis.expire(key, RECORD_TTL_S)
    await services.redis.set(_latest(app_id), str(test_id), ex=RECORD_TTL_S)
    return await status(services, app_id, test_id)


async def status(services: Services, app_id: int, test_id: int | None = None) -> dict[str, Any]:
    """What became of a test card (the app's latest when no id is given); NotFound when there is none."""
    if test_id is None:
        latest = await services.redis.get(_latest(app_id))
        if latest is None:
            raise NotFound(f"no test card was sent for app {app_id} in the last day")
        test_id = int(latest)
    raw = await services.redis.hgetall(redis_keys.test_card(app_id, test_id))
    if not raw:
        raise NotFound(f"test card {test_id} not found")
    rec = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
           for k, v in raw.items()}
    delivered = rec.get("delivered") == "1"
    clicked_at, _, clicked_by = rec.get("click", "").partition("|")
    after = round(float(clicked_at) - float(rec["sent_at"]), 1) if clicked_at else None
    if not delivered:
        summary = f"card not delivered: {rec.get('error', 'refused')}"
    elif after is None:
        summary = "card delivered, no click yet"
    else:
        summary = f"card delivered, click received {after} s later"
    return {"test_id": test_id, "to": rec["to"], "delivered": delivered, "clicked": after is not None,
            "click_after_s": after, "clicked_by": clicked_by or None, "summary": summary}


async def on_test_click(click: clicks.Click) -> None:
    """Record the click (the first one counts) and say so to the clicker; no lead is looked at."""
    key = redis_keys.test_card(click.app.id, click.key.target)
    if not await click.services.redis.exists(key):
        log.info("click on an unknown or expired test card %d of app %d", click.key.target, click.app.id)
        return
    # When and by whom in one field, set once: a reader never sees the time without the clicker.
    if await click.services.redis.hsetnx(key, "click", f"{click.at.timestamp()}|{click.clicker.id}"):
        log.info("test card %d of app %d clicked by user %d", click.key.target, click.app.id, click.clicker.id)
        from bot.voice.notes import tell

        await tell(click.services, click.app, clicks.recipient_of(click), CLICKED)
