"""DingTalkAdapter against the simulator: tokens, robot messages, cards, work notices, webhooks, media."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest

from bot.errors import (
    CardExpired,
    ConfigError,
    MediaError,
    PlatformError,
    RateLimited,
    RecipientError,
    TokenExpired,
    TransientError,
)
from bot.platforms.base import Adapter
from bot.platforms.dingtalk.adapter import derive_oapi_base

CARD = {"cardData": {"cardParamMap": {"title": "华东电网 私有化部署", "stage": "已分配"}}}


async def test_adapter_satisfies_the_platform_contract(make_adapter):
    assert isinstance(make_adapter(), Adapter)


async def test_one_token_serves_every_process(sim, make_adapter):
    first, second = make_adapter(), make_adapter()  # separate brokers, as two processes
    await first.send_text("rep1", "a")
    await second.send_text("rep2", "b")
    assert sim.token_fetches == 1
    assert [m["to"] for m in sim.messages] == ["rep1", "rep2"]


async def test_refused_token_is_refreshed_once_across_processes(sim, make_adapter):
    first, second = make_adapter(), make_adapter()
    await first.send_text("rep1", "warm-up")
    sim.expire_tokens()
    await asyncio.gather(first.send_text("rep1", "x"), second.send_text("rep2", "y"))
    assert sim.token_fetches == 2
    assert sorted(m["param"]["content"] for m in sim.messages) == ["warm-up", "x", "y"]


async def test_bad_app_secret_is_refused_without_retry_loop(sim, make_adapter):
    adapter = make_adapter(app_secret="wrong")
    with pytest.raises(PlatformError) as err:
        await adapter.send_text("rep1", "hi")
    assert err.value.errcode == "invalidClientIdOrSecret"
    assert not isinstance(err.value, TokenExpired)
    assert len(sim.requests_to("/v1.0/oauth2/accessToken")) == 1


async def test_text_and_markdown_go_out_with_msg_param_as_json_string(sim, make_adapter):
    adapter = make_adapter()
    sent = await adapter.send_text("rep1", "您好")
    await adapter.send_markdown("rep1", "线索", "**华东电网**")
    bodies = [r.body for r in sim.requests_to("/v1.0/robot/oToMessages/batchSend")]
    assert all(isinstance(b["msgParam"], str) for b in bodies)
    assert [json.loads(b["msgParam"]) for b in bodies] == [{"content": "您好"},
                                                           {"title": "线索", "text": "**华东电网**"}]
    assert [b["msgKey"] for b in bodies] == ["sampleText", "sampleMarkdown"]
    assert sent.message_id


async def test_unknown_staff_id_is_a_recipient_error(make_adapter):
    with pytest.raises(RecipientError):
        await make_adapter().send_text("nobody", "hi")


async def test_flow_controlled_recipient_is_rate_limited(sim, make_adapter):
    sim.user_flow_limit = 1
    adapter = make_adapter()
    await adapter.send_text("rep1", "one")
    with pytest.raises(RateLimited):
        await adapter.send_text("rep1", "two")


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "send.too.fast", RateLimited),
        (403, "send.byToken.tooFast", RateLimited),
        (429, "Throttling.User", RateLimited),
        (403, "Forbidden.AccessDenied.AccessTokenPermissionDenied", RecipientError),
        (503, "ServiceUnavailable", TransientError),
        (400, "invalidParameter.whatever", PlatformError),
    ],
)
async def test_platform_errors_are_mapped(sim, make_adapter, status, code, expected):
    adapter = make_adapter()
    sim.inject("/v1.0/robot/oToMessages/batchSend", status=status, code=code)
    with pytest.raises(expected) as err:
        await adapter.send_text("rep1", "hi")
    assert err.value.errcode == code
    assert err.value.http_status == status
    assert err.value.request_id


async def test_a_send_that_may_have_landed_is_not_retried(sim, make_adapter):
    sim.inject("/v1.0/robot/oToMessages/batchSend", status=500, code="system.busy", times=3)
    with pytest.raises(TransientError):
        await make_adapter().send_text("rep1", "hi")
    assert len(sim.requests_to("/v1.0/robot/oToMessages/batchSend")) == 1


async def test_idempotent_calls_ride_over_transient_errors(sim, make_adapter):
    adapter = make_adapter()
    await adapter.send_card("rep1", "lead-1-v1", CARD)
    sim.inject("/v1.0/card/instances", status=500, code="system.busy", times=2)
    await adapter.update_card("rep1", "lead-1-v1", {"cardData": {"cardParamMap": {"stage": "已联系"}}})
    assert sim.cards["lead-1-v1"].card_data["stage"] == "已联系"
    assert len([r for r in sim.requests_to("/v1.0/card/instances") if r.method == "PUT"]) == 3


async def test_a_hanging_platform_is_a_transient_error(sim, make_adapter):
    adapter = make_adapter(timeout_s=0.2)
    await adapter.access_token()
    sim.inject("/v1.0/robot/oToMessages/batchSend", hang_s=2)
    with pytest.raises(TransientError):
        await adapter.send_text("rep1", "hi")


async def test_every_call_goes_to_api_base(sim, make_adapter):
    adapter = make_adapter()
    await adapter.send_text("rep1", "hi")
    await adapter.send_work_notice(["mgr1"], "告警", "线索超时")
    assert adapter.api_base == sim.base_url and adapter.oapi_base == sim.base_url
    assert {r.path for r in sim.requests} == {"/v1.0/oauth2/accessToken", "/v1.0/robot/oToMessages/batchSend",
                                             "/topapi/message/corpconversation/asyncsend_v2"}


@pytest.mark.parametrize(
    ("api_base", "oapi_base"),
    [
        (None, "https://oapi.dingtalk.com"),
        ("https://api.dingtalk.com/", "https://oapi.dingtalk.com"),
        ("https://api.ding.example.cn", "https://oapi.ding.example.cn"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://gw.example.cn/dingtalk/", "https://gw.example.cn/dingtalk"),
    ],
)
def test_oapi_base_is_derived_from_api_base(api_base, oapi_base):
    assert derive_oapi_base(api_base) == oapi_base


async def test_card_is_created_for_http_callbacks_and_updated_by_key(sim, make_adapter):
    adapter = make_adapter()
    await adapter.send_card("rep1", "lead-7-v1", CARD)
    card = sim.cards["lead-7-v1"]
    assert (card.to, card.callback_type, card.route_key) == ("rep1", "HTTP", f"leadbot_{adapter._creds.app_key}")
    await adapter.update_card("rep1", "lead-7-v1", {
        "cardData": {"cardParamMap": {"stage": "需求确认"}},
        "privateData": {"rep1": {"cardParamMap": {"mine": "true"}}}})
    assert card.card_data == {"title": "华东电网 私有化部署", "stage": "需求确认"}
    assert card.private_data == {"rep1": {"mine": "true"}}


async def test_stream_apps_ask_for_stream_card_callbacks(sim, make_adapter):
    await make_adapter(mode="stream").send_card("rep1", "lead-8-v1", CARD)
    assert sim.cards["lead-8-v1"].callback_type == "STREAM"


async def test_sending_the_same_card_twice_is_one_card(sim, make_adapter):
    adapter = make_adapter()
    first = await adapter.send_card("rep1", "lead-9-v1", CARD)
    again = await adapter.send_card("rep1", "lead-9-v1", CARD)
    assert first.message_id == again.message_id == "lead-9-v1"
    assert list(sim.cards) == ["lead-9-v1"]


async def test_updating_an_unknown_card_asks_for_a_fresh_one(make_adapter):
    with pytest.raises(CardExpired):
        await make_adapter().update_card("rep1", "never-sent", CARD)


async def test_card_to_unknown_user_is_a_recipient_error(make_adapter):
    with pytest.raises(RecipientError):
        await make_adapter().send_card("ghost", "lead-10-v1", CARD)


async def test_cards_need_a_template(make_adapter):
    with pytest.raises(ConfigError):
        await make_adapter(card_template_id=None).send_card("rep1", "lead-11-v1", CARD)


async def test_registered_card_callback_route(sim, make_adapter):
    adapter = make_adapter()
    await adapter.register_card_callback("https://leadbot.example/dingtalk/1/card", "api-secret")
    assert sim.callbacks[f"leadbot_{adapter._creds.app_key}"] == ("https://leadbot.example/dingtalk/1/card",
                                                                  "api-secret")


async def test_work_notice_reaches_the_listed_users(sim, make_adapter):
    result = await make_adapter().send_work_notice(["mgr1", "rep2"], "线索超时", "**华东电网** 2 小时未联系")
    (notice,) = sim.notices
    assert notice["users"] == ["mgr1", "rep2"]
    assert notice["msg"] == {"msgtype": "markdown",
                             "markdown": {"title": "线索超时", "text": "**华东电网** 2 小时未联系"}}
    assert result.message_id == str(notice["task_id"])


async def test_work_notice_needs_an_agent_id(make_adapter):
    with pytest.raises(ConfigError):
        await make_adapter(agent_id=None).send_work_notice(["mgr1"], "t", "x")


async def test_oapi_token_refusal_is_refreshed(sim, make_adapter):
    adapter = make_adapter()
    await adapter.send_work_notice(["mgr1"], "t", "one")
    sim.expire_tokens()
    await adapter.send_work_notice(["mgr1"], "t", "two")
    assert len(sim.notices) == 2 and sim.token_fetches == 2


async def test_audio_is_downloaded_through_its_download_code(sim, make_adapter):
    audio = b"#!AMR\n" + bytes(range(256)) * 40
    sim.add_file("dl-code-1", audio)
    assert await make_adapter().download_media("dl-code-1", max_bytes=1 << 20) == audio
    (req,) = sim.requests_to("/v1.0/robot/messageFiles/download")
    assert req.body == {"downloadCode": "dl-code-1", "robotCode": sim.apps[req.body["robotCode"]].robot_code}


async def test_download_is_capped(sim, make_adapter):
    sim.add_file("big", b"x" * 5000)
    with pytest.raises(MediaError):
        await make_adapter().download_media("big", max_bytes=4999)


async def test_expired_download_url_is_a_media_error(sim, make_adapter):
    sim.file_url_ttl_s = 0
    sim.add_file("old", b"#!AMR\n")
    with pytest.raises(MediaError):
        await make_adapter().download_media("old", max_bytes=1 << 20)


async def test_signed_group_webhook_is_accepted(sim, make_adapter):
    url = sim.add_webhook_robot(secret="SEC0123456789abcdef")
    await make_adapter().send_group_webhook(url, "SEC0123456789abcdef",
                                            {"msgtype": "text", "text": {"content": "线索超时"}})
    (robot,) = sim.robots.values()
    assert robot.sent == [{"msgtype": "text", "text": {"content": "线索超时"}}]
    (req,) = sim.requests_to("/robot/send")
    assert set(req.query) == {"access_token", "timestamp", "sign"}


async def test_webhook_with_wrong_secret_is_refused(sim, make_adapter):
    url = sim.add_webhook_robot(secret="SECright")
    with pytest.raises(RecipientError) as err:
        await make_adapter().send_group_webhook(url, "SECwrong", {"msgtype": "text", "text": {"content": "x"}})
    assert err.value.errcode == 310000


async def test_webhook_limit_is_enforced_before_sending_across_processes(sim, make_adapter):
    url = sim.add_webhook_robot(secret="SECk")
    msg = {"msgtype": "text", "text": {"content": "x"}}
    a, b = make_adapter(), make_adapter()
    for i in range(20):
        await (a if i % 2 else b).send_group_webhook(url, "SECk", msg)
    for adapter in (a, b):
        with pytest.raises(RateLimited) as err:
            await adapter.send_group_webhook(url, "SECk", msg)
        assert 0 < err.value.retry_after_s <= 60
    assert len(sim.requests_to("/robot/send")) == 20


async def test_platform_throttle_blocks_the_robot_for_everyone(sim, make_adapter):
    sim.webhook_limit = 2  # DingTalk counts stricter than we do: its 130101 must stop us too
    url = sim.add_webhook_robot()
    msg = {"msgtype": "text", "text": {"content": "x"}}
    adapter = make_adapter()
    await adapter.send_group_webhook(url, None, msg)
    await adapter.send_group_webhook(url, None, msg)
    with pytest.raises(RateLimited) as err:
        await adapter.send_group_webhook(url, None, msg)
    assert err.value.errcode == 130101 and err.value.retry_after_s == 600
    with pytest.raises(RateLimited):
        await make_adapter().send_group_webhook(url, None, msg)
    assert len(sim.requests_to("/robot/send")) == 3


async def test_public_webhook_url_follows_oapi_base(sim, make_adapter):
    url = sim.add_webhook_robot()
    public = "https://oapi.dingtalk.com/robot/send?" + urlsplit(url).query
    await make_adapter().send_group_webhook(public, None, {"msgtype": "text", "text": {"content": "x"}})
    assert len(sim.requests_to("/robot/send")) == 1


async def test_revoked_token_is_replaced(sim, make_adapter):
    adapter = make_adapter()
    sim.revoke_token(await adapter.access_token())
    await adapter.send_markdown("rep1", "t", "x")
    assert sim.token_fetches == 2 and len(sim.messages) == 1


async def test_oapi_errcode_is_mapped_and_a_busy_send_not_repeated(sim, make_adapter):
    adapter = make_adapter()
    sim.inject("/topapi/message/corpconversation/asyncsend_v2", errcode=-1, message="系统繁忙")
    with pytest.raises(TransientError) as err:
        await adapter.send_work_notice(["mgr1"], "t", "x")
    assert err.value.errcode == -1
    assert len(sim.requests_to("/topapi/message/corpconversation/asyncsend_v2")) == 1
