"""A worker killed with SIGKILL in the middle of a job: after a new worker starts, the job finishes, once.

The kill is placed deterministically: the WeCom simulator holds the worker's call (the voice download, the alert
card's send) unanswered until the test has killed the worker.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp
import pytest
from arq.constants import default_queue_name, in_progress_key_prefix

from bot.leads import types as lt
from bot.leads.service import create_lead
from bot.runtime.services import Services
from storage.models import Alert, CardInstance, Delivery, VoiceNote
from tests.escalation.support import deadline_of
from tests.faults.conftest import REP, Team
from tests.faults.support import Fleet, eventually
from tests.sim.wecom import CallbackSender, Request, WeComSimulator
from tests.support.jobclock import fast_forward

pytestmark = pytest.mark.slow
D04 = (Path(__file__).resolve().parent.parent / "fixtures" / "voice" / "d04.amr").read_bytes()


async def lead_for_rep(services: Services, team: Team) -> int:
    """A lead routed to the rep, its card sent and its response lock armed (follow-ups run here, inline)."""
    row, _ = await create_lead(services, team.tenant.id,
                               {"company": "星海科技", "contact_name": "陈总", "external_id": uuid.uuid4().hex},
                               lt.Actor.system(team.tenant.id), inline=True)
    await row.refresh_from_db()
    assert row.assignee_id == team.rep.id
    return row.id


async def nothing_left(services: Services, prefix: str) -> bool:
    """No job whose id starts with `prefix` is queued or marked running."""
    queued = [k async for k in services.redis.zscan_iter(default_queue_name, match=prefix + "*")]
    running = [k async for k in services.redis.scan_iter(match=in_progress_key_prefix + prefix + "*")]
    return not queued and not running


def is_rep_alert_card(request: Request) -> bool:
    """An alert card to the rep. Only the rep's: the manager's morning digest is an alert card too, and a worker
    started during the tenant's working day sends it at the next cron minute."""
    body = request.body or {}
    card = body.get("template_card") or {}
    return str(card.get("task_id", "")).startswith("lbal") and REP in str(body.get("touser", "")).split("|")


async def test_a_worker_killed_mid_transcription_leaves_one_note_and_one_summary_card(
    services: Services, team: Team, sim: WeComSimulator, sender: CallbackSender, session: aiohttp.ClientSession,
    fleet: Fleet,
) -> None:
    await lead_for_rep(services, team)
    serve = await fleet.serve()
    worker = await fleet.worker()
    download = sim.hold("media/get")
    sim.add_media("media-d04", D04)

    async with session.post(serve.url + team.callback_path(), params=(signed := sender.signed(
            sender.voice(REP, "media-d04")))[0], data=signed[1]) as r:
        assert r.status == 200
    await eventually(lambda: _is_set(download.arrived), what="the worker downloading the voice", procs=[worker])
    worker.kill()  # mid-job: the download is in flight, nothing is stored yet
    download.release()
    assert await VoiceNote.filter(tenant_id=team.tenant.id).count() == 0

    await fleet.start_worker(worker)
    await eventually(lambda: CardInstance.filter(kind="voice_summary").exists(), timeout_s=60,
                     what="the summary card after the restart", procs=[worker])
    await eventually(lambda: nothing_left(services, "voice:"), what="the voice job finished", procs=[worker])

    assert await VoiceNote.filter(tenant_id=team.tenant.id).count() == 1
    assert await CardInstance.filter(kind="voice_summary").count() == 1
    summaries = [c for c in sim.cards.values() if REP in c.to and "语音纪要" in c.card["main_title"]["title"]]
    assert len(summaries) == 1
    assert len(sim.calls("media/get")) == 2  # the killed try and the one that finished


async def test_a_worker_killed_mid_alert_delivery_sends_the_alert_once(
    services: Services, team: Team, sim: WeComSimulator, fleet: Fleet,
) -> None:
    lead_id = await lead_for_rep(services, team)
    worker = await fleet.worker()
    send = sim.hold("message/send", is_rep_alert_card)
    await fast_forward(services, (await deadline_of(lead_id)).due_at)  # the response lock runs out now: the rep is reminded by an alert

    await eventually(lambda: _is_set(send.arrived), what="the worker sending the alert card", procs=[worker])
    worker.kill()  # mid-send: the attempt is claimed, nothing is recorded
    send.release()
    (alert,) = await Alert.filter(lead_id=lead_id)
    assert await Delivery.filter(alert_id=alert.id).count() == 0

    await fleet.start_worker(worker)
    await eventually(lambda: Delivery.filter(alert_id=alert.id).exists(), timeout_s=60,
                     what="the alert delivered after the restart", procs=[worker])
    await eventually(lambda: nothing_left(services, f"lb:alert:{alert.id}:0"), what="the alert job finished",
                     procs=[worker])

    rows = await Delivery.filter(alert_id=alert.id).order_by("id")
    assert [(d.channel, d.outcome) for d in rows] == [("chat", "ok")]
    alert_cards = [c for c in sim.cards.values() if REP in c.to and c.task_id.startswith("lbal")]
    assert len(alert_cards) == 1
    assert send.held == 1 and len([r for r in sim.calls("message/send") if is_rep_alert_card(r)]) == 2
    assert await Alert.filter(lead_id=lead_id).count() == 1


async def _is_set(event) -> bool:
    return event.is_set()
