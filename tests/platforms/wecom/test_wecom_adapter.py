from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.errors import CardExpired, MediaError, PlatformError, RateLimited, RecipientError, TransientError
from bot.platforms.base import Adapter
from bot.platforms.wecom.adapter import WeComAdapter, mask_user, new_task_id
from bot.platforms.wecom.config import WeComCredentials
from bot.platforms.wecom.errors import FrequencyLimited
from bot.platforms.wecom.events import parse_inbound
from tests.platforms.wecom.conftest import AGENT_ID, SECRET, UNLICENSED
from tests.sim.wecom import CallbackSender, WeComSimulator

MakeAdapter = Callable[..., WeComAdapter]
AMR = b"#!AMR\n" + bytes(range(256)) * 40


def card(*keys: str) -> dict[str, Any]:
    return {
        "card_type": "button_interaction",
        "main_title": {"title": "新线索 · 华东制造", "desc": "预算 80-100 万"},
        "button_list": [{"text": k, "style": 1, "key": f"lead:1:{k}"} for k in keys or ("contacted", "lost")],
    }


def test_the_adapter_satisfies_the_protocol(adapter: WeComAdapter) -> None:
    assert isinstance(adapter, Adapter)


async def test_send_text(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    result = await adapter.send_text("alice", "您有一条新线索")
    assert [d.message["text"] for d in sim.inbox("alice")] == [{"content": "您有一条新线索"}]
    body = sim.calls("message/send")[0].body
    assert (body["touser"], body["agentid"], body["msgtype"]) == ("alice", AGENT_ID, "text")
    assert result.message_id and result.response_code is None


async def test_send_markdown_puts_the_title_first(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    await adapter.send_markdown("bob", "日报", "- 新线索 **3**")
    assert sim.inbox("bob")[0].message["markdown"] == {"content": "**日报**\n- 新线索 **3**"}


async def test_send_card_wraps_the_rendered_card(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    task_id = new_task_id("lead_1")
    result = await adapter.send_card("alice", task_id, card())
    sent = sim.cards[(AGENT_ID, task_id)]
    assert sent.card["task_id"] == task_id and sent.card["button_list"] == card()["button_list"]
    assert result.response_code and result.response_code in sim.codes


async def test_a_card_carrying_another_task_id_is_a_programming_error(adapter: WeComAdapter) -> None:
    with pytest.raises(ValueError):
        await adapter.send_card("alice", "lead-2", {**card(), "task_id": "lead-1"})


async def test_update_with_the_send_code_then_the_code_is_spent(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    task_id = new_task_id("lead")
    sent = await adapter.send_card("alice", task_id, card())
    await adapter.update_card("alice", task_id, card("won"), sent.response_code)
    assert sim.cards[(AGENT_ID, task_id)].updates[0]["template_card"]["button_list"][0]["key"] == "lead:1:won"
    with pytest.raises(CardExpired) as e:
        await adapter.update_card("alice", task_id, card("lost"), sent.response_code)
    assert e.value.errcode == 42022


async def test_click_then_update_with_the_clicked_code(
    adapter: WeComAdapter, sim: WeComSimulator, sender: CallbackSender
) -> None:
    task_id = new_task_id("lead")
    await adapter.send_card("alice", task_id, card())
    click = parse_inbound(sender.click("alice", task_id, "lead:1:contacted"))
    assert click.card is not None and click.card.card_id == task_id
    await adapter.update_card("alice", click.card.card_id, card("demo"), click.card.response_code)
    assert len(sim.cards[(AGENT_ID, task_id)].updates) == 1


async def test_a_code_older_than_24h_is_expired(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    task_id = new_task_id("lead")
    sent = await adapter.send_card("alice", task_id, card())
    sim.clock.advance(24 * 3600 + 1)
    with pytest.raises(CardExpired):
        await adapter.update_card("alice", task_id, card("won"), sent.response_code)


async def test_no_code_at_all_is_expired_without_a_call(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    with pytest.raises(CardExpired):
        await adapter.update_card("alice", "lead-x", card(), None)
    assert not sim.calls("message/update_template_card")


async def test_replace_button(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    task_id = new_task_id("lead")
    sent = await adapter.send_card("alice", task_id, card())
    await adapter.replace_button("alice", sent.response_code, "已联系")
    assert sim.cards[(AGENT_ID, task_id)].updates[0]["button"] == {"replace_name": "已联系"}


async def test_the_token_is_fetched_once_and_shared(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    for _ in range(3):
        await adapter.send_text("alice", "x")
    assert sim.gettoken_calls[AGENT_ID] == 1


async def test_a_revoked_token_is_refreshed_once_by_two_workers_at_once(
    make_adapter: MakeAdapter, sim: WeComSimulator, redis_url: str
) -> None:
    second_redis = Redis.from_url(redis_url)  # a second worker: its own connection and broker
    try:
        first, second = make_adapter(), make_adapter(redis=second_redis)
        await first.send_text("alice", "warm-up")
        await second.send_text("bob", "warm-up")
        assert sim.gettoken_calls[AGENT_ID] == 1
        sim.revoke_tokens()
        await asyncio.gather(first.send_text("alice", "a"), second.send_text("bob", "b"), first.send_text("carol", "c"))
        assert sim.gettoken_calls[AGENT_ID] == 2
        assert [d.message["text"]["content"] for d in sim.inbox("alice")] == ["warm-up", "a"]
    finally:
        await second_redis.aclose()


async def test_a_token_expired_on_the_platform_side_is_refreshed(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    await adapter.send_text("alice", "x")
    sim.clock.advance(sim.TOKEN_LIFETIME_S)  # the broker's own clock has not moved: only WeCom knows (42001)
    await adapter.send_text("alice", "y")
    assert sim.gettoken_calls[AGENT_ID] == 2
    assert [r.body["touser"] for r in sim.calls("message/send")] == ["alice", "alice", "alice"]


async def test_a_token_refused_twice_is_not_retried_forever(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    sim.inject("message/send", errcode=40014, times=5)
    with pytest.raises(PlatformError) as e:
        await adapter.send_text("alice", "x")
    assert e.value.errcode == 40014
    assert len(sim.calls("message/send")) == 2


async def test_a_wrong_secret_is_not_a_stale_token(
    make_adapter: MakeAdapter, creds: WeComCredentials, sim: WeComSimulator
) -> None:
    bad = make_adapter(credentials=creds.model_copy(update={"secret": "wrong"}))
    with pytest.raises(PlatformError) as e:
        await bad.send_text("alice", "x")
    assert type(e.value) is PlatformError and e.value.errcode == 40001
    assert len(sim.calls("gettoken")) == 1 and not sim.calls("message/send")


async def test_45009_backs_off_and_succeeds(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    sim.inject("message/send", errcode=45009, times=2)
    await adapter.send_text("alice", "x")
    assert len(sim.calls("message/send")) == 3
    assert len(sim.inbox("alice")) == 1


async def test_45009_gives_up_after_the_bounded_attempts(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    sim.inject("message/send", errcode=45009, times=10)
    with pytest.raises(FrequencyLimited) as e:
        await adapter.send_text("alice", "x")
    assert isinstance(e.value, RateLimited) and e.value.retry_after_s > 0
    assert len(sim.calls("message/send")) == 3


async def test_the_simulator_frequency_limit_is_45009(make_adapter: MakeAdapter, sim: WeComSimulator) -> None:
    sim.api_limit_per_minute = 2
    adapter = make_adapter(backoff_attempts=1)
    await adapter.send_text("alice", "1")
    await adapter.send_text("bob", "2")
    with pytest.raises(FrequencyLimited):
        await adapter.send_text("carol", "3")


@pytest.mark.parametrize("errcode", [81013, 60020, 60011, 48002])
async def test_recipient_errors(adapter: WeComAdapter, sim: WeComSimulator, errcode: int) -> None:
    sim.inject("message/send", errcode=errcode)
    with pytest.raises(RecipientError) as e:
        await adapter.send_text("alice", "x")
    assert e.value.errcode == errcode and e.value.request_id  # the hint in errmsg


async def test_an_unknown_member_is_81013(adapter: WeComAdapter) -> None:
    with pytest.raises(RecipientError) as e:
        await adapter.send_text("mallory", "x")
    assert e.value.errcode == 81013


async def test_errcode_0_naming_our_only_recipient_is_a_recipient_error(
    adapter: WeComAdapter, sim: WeComSimulator
) -> None:
    with pytest.raises(RecipientError) as e:
        await adapter.send_text(UNLICENSED, "x")
    assert e.value.errcode == 0
    assert not sim.inbox(UNLICENSED)


async def test_a_partial_failure_lists_who_was_refused(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    result = await adapter.send_text(f"alice|mallory|{UNLICENSED}", "x")
    assert result.invalid_recipients == [UNLICENSED, "mallory"]
    assert len(sim.inbox("alice")) == 1


@pytest.mark.parametrize(
    "fault",
    [{"status": 500}, {"status": 502}, {"status": 200}, {"hang_s": 5.0}, {"errcode": -1}],
    ids=["500", "502", "html page with 200", "hang", "busy"],
)
async def test_server_errors_and_timeouts_are_transient(
    make_adapter: MakeAdapter, sim: WeComSimulator, fault: dict[str, Any]
) -> None:
    adapter = make_adapter(timeout_s=0.3)
    await adapter.send_text("alice", "warm-up")  # token fetched, so the fault hits message/send
    sim.inject("message/send", **fault)
    with pytest.raises(TransientError) as e:
        await adapter.send_text("alice", "x")
    assert e.value.retryable


async def test_an_unreachable_api_base_is_transient(make_adapter: MakeAdapter) -> None:
    adapter = make_adapter(api_base="http://127.0.0.1:9")
    with pytest.raises(TransientError):
        await adapter.send_text("alice", "x")


@pytest.mark.parametrize("suffix", ["", "/", "//"])
async def test_api_base_is_honoured_with_or_without_a_slash(
    make_adapter: MakeAdapter, sim: WeComSimulator, suffix: str
) -> None:
    await make_adapter(api_base=sim.url + suffix).send_text("alice", "x")
    assert [r.api for r in sim.requests] == ["gettoken", "message/send"]


async def test_the_per_member_window_is_enforced_before_wecom_drops(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    for i in range(30):
        await adapter.send_text("alice", str(i))
    with pytest.raises(RateLimited) as e:
        await adapter.send_text("alice", "31st")
    assert 0 < e.value.retry_after_s <= 60
    await adapter.send_text("bob", "another member is not affected")
    assert len(sim.calls("message/send")) == 31  # the 31st to alice never left
    sim.clock.advance(60)
    await adapter.send_text("alice", "next minute")
    assert not [d for d in sim.deliveries if d.dropped]


async def test_the_window_is_shared_by_two_workers(
    make_adapter: MakeAdapter, sim: WeComSimulator, redis_url: str
) -> None:
    second_redis = Redis.from_url(redis_url)
    try:
        first, second = make_adapter(), make_adapter(redis=second_redis)
        results = await asyncio.gather(
            *[(first if i % 2 else second).send_text("alice", str(i)) for i in range(40)], return_exceptions=True
        )
        assert sum(isinstance(r, RateLimited) for r in results) == 10
        assert len(sim.inbox("alice")) == 30
    finally:
        await second_redis.aclose()


async def test_a_refused_send_gives_its_slot_back(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    sim.inject("message/send", errcode=40058, times=5)
    for _ in range(5):
        with pytest.raises(PlatformError):
            await adapter.send_text("alice", "bad")
    for i in range(30):
        await adapter.send_text("alice", str(i))
    assert len(sim.inbox("alice")) == 30


async def test_download_media(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    sim.add_media("voice-1", AMR)
    assert await adapter.download_media("voice-1", max_bytes=len(AMR)) == AMR


async def test_an_unknown_media_id_is_a_media_error_not_audio(adapter: WeComAdapter) -> None:
    with pytest.raises(MediaError) as e:
        await adapter.download_media("nope", max_bytes=10_000)
    assert e.value.errcode == 40007


async def test_media_expires_after_three_days(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    sim.add_media("voice-1", AMR)
    sim.clock.advance(3 * 24 * 3600)
    with pytest.raises(MediaError):
        await adapter.download_media("voice-1", max_bytes=len(AMR))


async def test_a_json_error_sent_as_audio_is_still_an_error(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    sim.add_media("voice-2", b'{"errcode":40007,"errmsg":"invalid media_id"}', content_type="audio/amr")
    with pytest.raises(MediaError):
        await adapter.download_media("voice-2", max_bytes=10_000)


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream"])
async def test_a_json_error_with_any_content_type_is_an_error(
    adapter: WeComAdapter, sim: WeComSimulator, content_type: str
) -> None:
    sim.add_media("m", b'{"errcode":40007,"errmsg":"invalid media_id"}', content_type=content_type)
    with pytest.raises(MediaError) as e:
        await adapter.download_media("m", max_bytes=10_000)
    assert e.value.errcode == 40007


async def test_a_plain_text_file_is_media(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    sim.add_media("notes", "客户关注数据安全".encode(), content_type="text/plain")
    assert await adapter.download_media("notes", max_bytes=10_000) == "客户关注数据安全".encode()


async def test_media_over_the_cap(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    sim.add_media("voice-1", AMR)
    with pytest.raises(MediaError):
        await adapter.download_media("voice-1", max_bytes=len(AMR) - 1)


async def test_media_over_the_cap_without_content_length(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    # A chunked answer declares no size: the cap must hold while streaming.
    sim.add_media("voice-1", AMR)
    sim.chunked_media = True
    with pytest.raises(MediaError):
        await adapter.download_media("voice-1", max_bytes=len(AMR) - 1)
    assert await adapter.download_media("voice-1", max_bytes=len(AMR)) == AMR


async def test_media_with_a_revoked_token_refreshes(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    sim.add_media("voice-1", AMR)
    await adapter.send_text("alice", "warm-up")
    sim.revoke_tokens()
    assert await adapter.download_media("voice-1", max_bytes=len(AMR)) == AMR
    assert sim.gettoken_calls[AGENT_ID] == 2


async def test_media_server_error_is_transient(adapter: WeComAdapter, sim: WeComSimulator) -> None:
    await adapter.send_text("alice", "warm-up")
    sim.inject("media/get", status=503)
    with pytest.raises(TransientError):
        await adapter.download_media("voice-1", max_bytes=10)


async def test_no_secret_or_token_in_logs(
    make_adapter: MakeAdapter, sim: WeComSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = make_adapter(timeout_s=0.3)
    await adapter.send_text("alice", "x")
    sim.revoke_tokens()
    await adapter.send_text("alice", "y")
    sim.inject("message/send", hang_s=5.0)
    with pytest.raises(TransientError) as e:
        await adapter.send_text("alice", "z")
    tokens = [r.query["access_token"] for r in sim.calls("message/send")]
    text = caplog.text + str(e.value)
    assert caplog.records  # the refresh was logged
    for secret in [SECRET, *tokens]:
        assert secret not in text


def test_new_task_id() -> None:
    ids = {new_task_id("lead_42") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9A-Za-z_\-@]{1,128}", i) and i.startswith("lead_42-") for i in ids)


@pytest.mark.parametrize("prefix", ["lead 42", "线索", "x" * 128, "a/b"])
def test_new_task_id_refuses_a_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValueError):
        new_task_id(prefix)


@pytest.mark.parametrize(
    "userid, masked",
    [("13812345678", "138****78"), ("li.lei@example.com", "l***@example.com"), ("zhangsan", "zhangsan")],
)
def test_mask_user(userid: str, masked: str) -> None:
    assert mask_user(userid) == masked
