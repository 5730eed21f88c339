"""The DingTalk simulator refuses what DingTalk refuses on the wire (issue 23): a body not sent as JSON, not a JSON
object or too large, and a token anywhere but where that API generation reads it."""

from __future__ import annotations

import aiohttp
import pytest

from tests.platforms.dingtalk.support import APP_KEY, APP_SECRET
from tests.sim.dingtalk import DingTalkSimulator


async def _token(session: aiohttp.ClientSession, sim: DingTalkSimulator) -> str:
    async with session.post(f"{sim.base_url}/v1.0/oauth2/accessToken",
                            json={"appKey": APP_KEY, "appSecret": APP_SECRET}) as r:
        return (await r.json())["accessToken"]


SEND = {"robotCode": APP_KEY, "userIds": ["user1"], "msgKey": "sampleText", "msgParam": '{"content": "hi"}'}


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        (lambda t: ("/v1.0/robot/oToMessages/batchSend", {"data": {"robotCode": APP_KEY},
                                                          "headers": {"x-acs-dingtalk-access-token": t}}),
         400, "InvalidParameter.ContentType"),
        (lambda t: ("/v1.0/robot/oToMessages/batchSend", {"data": b"[]", "headers": {
            "x-acs-dingtalk-access-token": t, "Content-Type": "application/json"}}), 400, "InvalidParameter"),
        (lambda t: ("/v1.0/robot/oToMessages/batchSend", {"json": SEND, "params": {"access_token": t}}),
         400, "AuthenticationFailed.MissingParameter"),  # a v1.0 token in the query is not read
        (lambda t: ("/v1.0/robot/oToMessages/batchSend", {"json": SEND | {"pad": "x" * (1 << 20)},
                                                          "headers": {"x-acs-dingtalk-access-token": t}}),
         413, "RequestTooLarge"),
        (lambda t: ("/topapi/message/corpconversation/asyncsend_v2",
                    {"data": "agent_id=4242", "params": {"access_token": t},
                     "headers": {"Content-Type": "application/x-www-form-urlencoded"}}), 200, 43004),
        (lambda t: ("/topapi/message/corpconversation/asyncsend_v2",
                    {"json": {"agent_id": 4242}, "headers": {"x-acs-dingtalk-access-token": t}}), 200, 40014),
    ],
    ids=["v1-form", "v1-not-object", "v1-token-in-query", "v1-too-large", "oapi-form", "oapi-token-in-header"],
)
async def test_simulator_refuses_what_dingtalk_refuses_on_the_wire(sim: DingTalkSimulator, call, status: int,
                                                                   code) -> None:
    async with aiohttp.ClientSession() as session:
        path, kwargs = call(await _token(session, sim))
        async with session.post(sim.base_url + path, **kwargs) as r:
            answer = await r.json()
    assert r.status == status
    assert (answer.get("code") if isinstance(code, str) else answer.get("errcode")) == code
    assert sim.messages == [] and sim.notices == []
