"""Exactly once across a worker crash (issue 23): a worker SIGKILLed after WeCom took its card update but before it
heard the answer and recorded it.

WeCom carries the update out (the click's single-use code is spent, the card shows 已联系) and the simulator then
holds its answer until the test has killed the worker. When a worker runs again: the click's job is run again and
must not reuse the spent code nor tell the rep 「卡片已过期」; the outbox row of the card update is handed on at
once (its worker is dead), not after its two-minute claim, and must recognise the update as done: one card, no
second one, no error.
"""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest

from bot.leads import types as lt
from bot.leads.service import create_lead
from bot.runtime.services import Services
from storage.models import CardInstance, LeadEvent, Outbox
from storage.models import Lead as LeadRow
from tests.faults.conftest import REP, Team
from tests.faults.support import Fleet, eventually
from tests.sim.wecom import CallbackSender, Request, WeComSimulator

pytestmark = pytest.mark.slow
# Well under the outbox claim (120 s) a crashed row used to wait out before anyone ran it again.
HANDED_ON_WITHIN_S = 45


def lead_cards_to_rep(sim: WeComSimulator) -> list:
    return [c for c in sim.cards.values() if REP in c.to and c.task_id.startswith("lble")]


@pytest.mark.parametrize("used_code_errcode", [42022, 40150])
async def test_a_worker_killed_after_wecom_took_the_update_leaves_one_card_and_no_error(
    services: Services, team: Team, sim: WeComSimulator, sender: CallbackSender, session: aiohttp.ClientSession,
    fleet: Fleet, used_code_errcode: int,
) -> None:
    sim.USED_CODE_ERRCODE = used_code_errcode
    row, _ = await create_lead(services, team.tenant.id, {"company": "星海科技", "external_id": uuid.uuid4().hex},
                               lt.Actor.system(team.tenant.id), inline=True)
    [card] = lead_cards_to_rep(sim)
    contacted = next(b["key"] for b in card.card["button_list"] if b["text"] == "已联系")
    serve = await fleet.serve()
    worker = await fleet.worker()

    def rep_card_update(request: Request) -> bool:
        return REP in (request.body or {}).get("userids", [])

    update = sim.hold("message/update_template_card", rep_card_update, applied=True)
    params, body = sender.signed(sender.click(REP, card.task_id, contacted))
    async with session.post(serve.url + team.callback_path(), params=params, data=body) as r:
        assert r.status == 200
    await eventually(lambda: _is_set(update.arrived), what="the worker updating the rep's card", procs=[worker])
    worker.kill()  # WeCom took the update; the worker never heard so, nor recorded it
    update.release()
    assert card.updates and "已联系" in json.dumps(card.shown, ensure_ascii=False)  # the card shows it at WeCom
    log_from = len(worker.log())

    await fleet.start_worker(worker)

    async def settled() -> bool:
        lead = await LeadRow.get(id=row.id)
        [instance] = await CardInstance.filter(kind="lead", subject_id=row.id, live=True)
        pending = await Outbox.filter(lead_id=row.id, done_at=None).exists()
        return not pending and instance.version == lead.version

    await eventually(settled, timeout_s=HANDED_ON_WITHIN_S, what="the card update handed on and settled",
                     procs=[worker, serve])

    assert len(lead_cards_to_rep(sim)) == 1  # no second card
    assert await CardInstance.filter(kind="lead", subject_id=row.id).count() == 1
    assert (await LeadRow.get(id=row.id)).status == "contacted"
    assert await LeadEvent.filter(lead_id=row.id, action="advance").count() == 1
    # after the crash: the spent code tried once, answered "used", and taken for the update it was
    retries = [r for r in sim.calls("message/update_template_card") if rep_card_update(r)][1:]
    assert len(retries) <= 1 and len(card.updates) == 1
    said = json.dumps([d.message for d in sim.inbox(REP)] + card.updates, ensure_ascii=False)
    assert "过期" not in said  # no false "the card expired"
    after = worker.log()[log_from:]
    assert "Traceback" not in after and " ERROR " not in after, after


async def _is_set(event) -> bool:
    return event.is_set()
