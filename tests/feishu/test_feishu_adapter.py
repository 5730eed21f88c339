"""FeishuAdapter against the simulator: the tenant token (fetched once, shared, refreshed once when refused),
messages and cards as Feishu checks them, updates in place, voice downloads, rate limits, and errors by class."""

from __future__ import annotations

import json

import pytest

from bot.errors import CardExpired, MediaError, PlatformError, RateLimited, RecipientError, TokenExpired
from bot.platforms.feishu.adapter import FeishuAdapter
from bot.platforms.feishu.config import LARK_API_BASE
from cards import feishu as feishu_cards
from cards.keys import ButtonKey, KeyAction
from cards.model import Button, ButtonStyle, Card, CardKind
from tests.feishu.conftest import APP_ID
from tests.sim.feishu import FeishuSimulator

MESSAGES = "/open-apis/im/v1/messages"
TOKEN = "/open-apis/auth/v3/tenant_access_token/internal"


def _card(title: str = "杭州云帆科技") -> dict:
    card = Card(CardKind.LEAD, title, status="已分配",
                buttons=(Button("已联系", ButtonKey(KeyAction.ADVANCE, 7, 1, "contacted"), ButtonStyle.PRIMARY),))
    return feishu_cards.render(card, "lble7-card1")


async def test_one_token_for_many_calls_and_processes(sim: FeishuSimulator, make_adapter) -> None:
    first, second = make_adapter(), make_adapter()
    await first.send_text("ou_rep1", "你好")
    await second.send_text("ou_mgr1", "你好")
    assert sim.token_fetches == 1
    (token_call,) = sim.requests_to(TOKEN)
    assert token_call.body == {"app_id": APP_ID, "app_secret": "feishu-sim-secret-0123456789"}
    sends = sim.requests_to(MESSAGES)
    assert all(r.headers["Authorization"].startswith("Bearer t-") for r in sends)
    assert {r.query["receive_id_type"] for r in sends} == {"open_id"}
    assert json.loads(sends[0].body["content"]) == {"text": "你好"}


async def test_a_refused_token_is_dropped_and_the_call_retried_once(sim: FeishuSimulator, make_adapter) -> None:
    adapter = make_adapter()
    await adapter.send_text("ou_rep1", "1")
    sim.expire_tokens()  # Feishu answers 99991663 for the cached token
    await adapter.send_text("ou_rep1", "2")
    assert sim.token_fetches == 2
    assert len(sim.cards_to("ou_rep1")) == 0 and len(sim.messages) == 2


async def test_a_token_refused_twice_is_not_retried_forever(sim: FeishuSimulator, make_adapter) -> None:
    adapter = make_adapter()
    await adapter.send_text("ou_rep1", "1")
    sim.inject(MESSAGES, code=99991663, msg="Invalid access token", times=2)
    with pytest.raises(TokenExpired):
        await adapter.send_text("ou_rep1", "2")
    assert len(sim.requests_to(MESSAGES)) == 3


async def test_wrong_credentials_say_so_without_refetching(sim: FeishuSimulator, make_adapter) -> None:
    adapter = make_adapter(app_secret="wrong")
    with pytest.raises(PlatformError) as e:
        await adapter.verify()
    assert e.value.errcode == 10014 and not e.value.retryable
    assert len(sim.requests_to(TOKEN)) == 1


async def test_verify_fetches_a_token_and_checks_the_bot(sim: FeishuSimulator, make_adapter) -> None:
    assert await make_adapter().verify() == {"token": "ok", "mode": "http", "bot": "leadbot"}
    sim.apps[APP_ID].bot_enabled = False
    with pytest.raises(PlatformError) as e:
        await make_adapter().verify()
    assert e.value.errcode == 230006


async def test_a_card_is_sent_once_under_its_id_and_updated_in_place(sim: FeishuSimulator, make_adapter) -> None:
    adapter = make_adapter()
    sent = await adapter.send_card("ou_rep1", "lble7-card1", _card())
    again = await adapter.send_card("ou_rep1", "lble7-card1", _card())  # a job run twice
    assert sent.message_id == again.message_id and len(sim.cards_to("ou_rep1")) == 1
    (held,) = sim.cards_to("ou_rep1")
    assert held.content["header"]["title"]["content"] == "杭州云帆科技" and held.uuid == "lble7-card1"

    await adapter.update_card("ou_rep1", "lble7-card1", _card("杭州云帆科技（已联系）"))
    assert held.updates == 1 and held.content["header"]["title"]["content"] == "杭州云帆科技（已联系）"
    patch = [r for r in sim.requests if r.method == "PATCH"]
    assert patch[0].path == f"{MESSAGES}/{sent.message_id}"


async def test_a_clicks_token_updates_the_card_twice_then_the_message_is_patched(sim: FeishuSimulator,
                                                                                   make_adapter) -> None:
    adapter = make_adapter()
    sent = await adapter.send_card("ou_rep1", "lble7-card1", _card())
    token = sim.issue_card_token(sent.message_id)
    for i in range(3):
        await adapter.update_card("ou_rep1", "lble7-card1", _card(f"第{i}次"), token)
    (held,) = sim.cards_to("ou_rep1")
    assert held.updates == 3 and held.content["header"]["title"]["content"] == "第2次"
    assert len(sim.requests_to("/open-apis/interactive/v1/card/update")) == 3
    assert len([r for r in sim.requests if r.method == "PATCH"]) == 1


async def test_a_card_that_cannot_be_updated_is_expired(sim: FeishuSimulator, make_adapter, redis) -> None:
    adapter = make_adapter()
    with pytest.raises(CardExpired):  # never sent (or its message id was lost with Redis)
        await adapter.update_card("ou_rep1", "lble7-unknown", _card())
    sent = await adapter.send_card("ou_rep1", "lble7-card1", _card())
    sim.messages[sent.message_id].recalled = True
    with pytest.raises(CardExpired):
        await adapter.update_card("ou_rep1", "lble7-card1", _card())


async def test_recipients_feishu_will_not_reach_are_recipient_errors(sim: FeishuSimulator, make_adapter) -> None:
    sim.add_user("ou_gone", visible=False)
    adapter = make_adapter()
    with pytest.raises(RecipientError) as e:
        await adapter.send_text("ou_gone", "x")
    assert e.value.errcode == 230013 and e.value.request_id
    with pytest.raises(PlatformError) as e:
        await adapter.send_text("ou_nobody", "x")
    assert e.value.errcode == 230001


async def test_a_user_id_app_addresses_people_by_user_id(sim: FeishuSimulator, make_adapter) -> None:
    await make_adapter(receive_id_type="user_id").send_text("rep1", "x")
    assert sim.requests_to(MESSAGES)[-1].query["receive_id_type"] == "user_id"
    assert [m.to for m in sim.messages.values()] == ["ou_rep1"]


async def test_voice_is_downloaded_through_its_message(sim: FeishuSimulator, make_adapter) -> None:
    ogg = b"OggS" + bytes(range(256)) * 10
    sim.add_file("om_voice1", "file_v3_k1", ogg)
    adapter = make_adapter()
    assert await adapter.download_media("om_voice1/file_v3_k1", 1 << 20) == ogg
    (r,) = sim.requests_to("/open-apis/im/v1/messages/om_voice1/resources/file_v3_k1")
    assert r.query == {"type": "file"}
    with pytest.raises(MediaError):
        await adapter.download_media("om_voice1/file_v3_k1", 100)  # over the cap
    with pytest.raises(PlatformError) as e:
        await adapter.download_media("om_voice1/file_v3_other", 1 << 20)
    assert e.value.errcode == 234003


async def test_the_per_person_limit_is_kept_on_our_side(sim: FeishuSimulator, make_adapter) -> None:
    adapter = make_adapter()
    for i in range(5):
        await adapter.send_text("ou_rep1", str(i))
    with pytest.raises(RateLimited):
        await adapter.send_text("ou_rep1", "6")
    assert len(sim.requests_to(MESSAGES)) == 5  # refused before it left
    await adapter.send_text("ou_mgr1", "another person is not held up")


async def test_feishus_frequency_answers(sim: FeishuSimulator, make_adapter) -> None:
    adapter = make_adapter()
    # Refused, so not sent: a short throttle is waited out here, even for a send.
    sim.inject(MESSAGES, status=429, code=99991400, msg="request trigger frequency limit")
    await adapter.send_text("ou_rep1", "x")
    assert len(sim.requests_to(MESSAGES)) == 2 and len(sim.messages) == 1
    # A per-chat throttle on Feishu's side goes back to the caller after the bounded tries.
    sim.inject(MESSAGES, code=230020, msg="frequency limit", times=5)
    with pytest.raises(RateLimited) as e:
        await adapter.send_text("ou_mgr1", "y")
    assert e.value.errcode == 230020


async def test_users_by_any_id(sim: FeishuSimulator, make_adapter) -> None:
    adapter = make_adapter()
    assert (await adapter.get_user("rep1", "user_id"))["open_id"] == "ou_rep1"
    assert (await adapter.get_user("ou_rep1"))["name"] == "张三"
    with pytest.raises(ValueError):
        await adapter.get_user("x", "email")


def test_lark_is_the_same_platform_on_its_own_host(make_adapter) -> None:
    adapter: FeishuAdapter = make_adapter(lark=True, api_base=None)
    assert adapter.api_base == LARK_API_BASE
    assert make_adapter(api_base=None).api_base == "https://open.feishu.cn"
    assert make_adapter(lark=True, api_base="https://feishu.private.example/").api_base == \
        "https://feishu.private.example"


async def test_the_directory_is_read_page_by_page_with_managers(sim: FeishuSimulator, make_adapter) -> None:
    from bot.platforms.feishu.diagnose import directory

    sim.add_department("od_sales", leader_open_id="ou_mgr1")
    sim.users["ou_mgr1"].department = "od_sales"
    for i in range(60):  # more than one page of 50
        sim.add_user(f"ou_rep{i:03d}", name=f"销售{i}", department="od_sales", mobile="+8613800000000",
                     resigned=i == 7)
    people = {p.user_id: p for p in await directory(make_adapter())}
    assert len(people) == 62  # the root's rep1 too
    assert people["ou_rep001"].manager_user_id == "ou_mgr1" and people["ou_mgr1"].manager_user_id is None
    assert not people["ou_rep007"].active and people["ou_rep001"].active
    assert people["ou_rep001"].mobile == "+8613800000000"
    by_user_id = {p.user_id for p in await directory(make_adapter(receive_id_type="user_id"))}
    assert "mgr1" in by_user_id
