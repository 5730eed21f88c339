"""Stream mode end to end: frames from a local gateway (speaking the real protocol to the official client's frame
classes) through this process's supervisor, queued in Redis, run by a real worker.

ACK only once queued: a frame whose job could not be queued is not acknowledged, so the gateway redelivers it; a
connection killed in the middle of it all loses nothing and runs nothing twice.
"""

from __future__ import annotations

from bot.platforms.base import InboundKind
from bot.platforms.dingtalk.stream import TOPIC_ROBOT
from bot.runtime.queue import job_id_for
from bot.runtime.worker import drain
from storage import redis_keys
from tests.e2e_dingtalk.conftest import redis_down
from tests.parity.support import eventually, new_lead, route_everything_to
from tests.sim.dingtalk import robot_message


async def remembered(services, app_id: int, msg_id: str) -> bool:
    """Whether the app's de-dup set holds the delivery (its member is the job id of the delivery's key)."""
    member = job_id_for(redis_keys.dedup("dingtalk", app_id, msg_id))
    return await services.redis.zscore(redis_keys.dedup_set("dingtalk", app_id), member) is not None


def _text(msg_id: str, text: str, sender: str = "rep1") -> dict:
    return robot_message(msg_id, sender, text=text, robot_code="dingparityapp01")


async def test_a_message_is_acked_only_once_its_job_is_queued(stream, stream_team, services, recorder) -> None:
    assert await stream.push(TOPIC_ROBOT, _text("s-0001", "下周三演示")) == 200
    # No worker is running: whatever was acknowledged must be waiting in Redis.
    assert await services.queue.depth() == 1
    assert await remembered(services, stream_team.app_id, "s-0001")

    await drain(services)
    assert [(m.sender, m.text) for m in recorder.of(InboundKind.TEXT)] == [("rep1", "下周三演示")]


async def test_the_same_message_on_two_frames_is_processed_once(stream, stream_team, services, recorder) -> None:
    assert await stream.push(TOPIC_ROBOT, _text("s-0002", "hi")) == 200
    assert await stream.push(TOPIC_ROBOT, _text("s-0002", "hi")) == 200
    await drain(services)
    assert len(recorder.of(InboundKind.TEXT)) == 1


async def test_redis_down_means_no_ack_and_the_redelivery_is_processed_once(stream, stream_team, services,
                                                                            recorder) -> None:
    gw = stream.gateway
    async with redis_down(services):
        message_id = await gw.push_callback(stream.APP_KEY, TOPIC_ROBOT, _text("s-0003", "合同已寄出"))
        await gw.wait_for(lambda: gw.deliveries[message_id] >= 3)  # sent, not acknowledged, sent again...
        assert not any(a.get("code") == 200 for a in gw.acks[message_id])
        assert not await remembered(services, stream_team.app_id, "s-0003")

    await gw.wait_acked(message_id)
    await drain(services)
    assert [m.text for m in recorder.of(InboundKind.TEXT)] == ["合同已寄出"]


async def test_a_connection_killed_mid_message_loses_nothing(stream, stream_team, services, recorder) -> None:
    gw = stream.gateway
    sent = []
    for i in range(6):
        # The third frame goes out and the connection dies under it (no close frame): its ACK may be lost.
        sent.append(await gw.push_callback(stream.APP_KEY, TOPIC_ROBOT, _text(f"s-1{i:03d}", f"第{i}条"),
                                           kill_after_send=i == 2))
    for message_id in sent:
        await gw.wait_acked(message_id)
    assert gw.connections_made[stream.APP_KEY] >= 2

    await drain(services)
    assert sorted(m.text for m in recorder.of(InboundKind.TEXT)) == [f"第{i}条" for i in range(6)]


async def test_cards_of_a_stream_app_call_back_on_the_stream(stream, stream_team, services, worker) -> None:
    await route_everything_to(stream_team.tenant_id, stream_team.rep.id)
    lead = await new_lead(services, stream_team.tenant_id)
    card = await eventually(lambda: next(iter(stream.lead_cards_of(stream_team.rep, lead.id)), None),
                            what="the lead card")
    (create,) = [r.body for r in stream.sim.requests_to("/v1.0/card/instances/createAndDeliver")]
    assert create["callbackType"] == "STREAM" and "callbackRouteKey" not in create
    assert stream.sim.callbacks == {}  # a Stream app registers no callback URL

    assert await stream.click(stream_team.rep, card, "已联系") == 200
    await eventually(lambda: any(c.status == "已联系" for c in stream.lead_cards_of(stream_team.rep, lead.id)),
                     what="the card after the click")
    frames = [f for c in stream.gateway.opens for f in c["subscriptions"]]
    assert {"type": "CALLBACK", "topic": "/v1.0/card/instances/callback"} in frames
