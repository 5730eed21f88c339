"""`leadbot webhooks add|list|show|disable|enable|test|redeliver|attempts` from the shell, on the test's database,
with `--tenant` keeping one tenant's subscriptions out of another's sight."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from storage.models import DeliveryState, Tenant, WebhookDelivery
from tests.conftest import MASTER_KEY

pytestmark = pytest.mark.slow  # each command is a fresh process


@pytest.fixture
def cli_env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBOT_")}
    env.update(LEADBOT_DATA_DIR=str(settings.data_dir), LEADBOT_MASTER_KEY=MASTER_KEY,
               LEADBOT_ALLOW_PRIVATE_URLS="true")
    if settings.database_url:
        env["LEADBOT_DATABASE_URL"] = settings.database_url
    return env


async def _leadbot(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    # asynchronous, so the receiver in this event loop can answer while the command runs
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


# Two dozen commands, each a fresh process importing the service (1-2 s of CPU each): on a loaded two-core CI machine
# the suite's 300 s per test was not enough (a failure by timeout, not by behaviour).
@pytest.mark.timeout(900)
async def test_webhook_operations_from_the_shell(services, cli_env, receiver) -> None:
    acme, globex = await Tenant.create(name="acme"), await Tenant.create(name="globex")
    code, out, err = await _leadbot(cli_env, "webhooks", "add", "--tenant", str(acme.id), "--url", receiver.url,
                                    "--events", "lead.created, lead.status_changed", "--description", "CRM")
    assert code == 0, err
    sub = json.loads(out)
    assert sub["secret"].startswith("whsec_") and sub["event_types"] == ["lead.created", "lead.status_changed"]
    receiver.secret = sub["secret"]
    sid = str(sub["id"])

    code, out, _ = await _leadbot(cli_env, "webhooks", "list", "--tenant", str(globex.id))
    assert json.loads(out) == []
    code, out, _ = await _leadbot(cli_env, "webhooks", "list", "--tenant", str(acme.id))
    listed = json.loads(out)
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
    for command in ("show", "test"):
        code, _, err = await _leadbot(cli_env, "webhooks", command, sid, "--tenant", str(globex.id))
        assert (code, err.strip()) == (1, f"leadbot: webhook subscription {sid} not found"), command
    assert receiver.received == []

    code, out, err = await _leadbot(cli_env, "webhooks", "test", sid, "--tenant", str(acme.id))
    assert code == 0, err
    ping = json.loads(out)
    assert ping["ok"] and [(r.event_id, r.signed) for r in receiver.received] == [(ping["event_id"], True)]

    code, out, _ = await _leadbot(cli_env, "webhooks", "attempts", sid)
    assert [(a["event_type"], a["outcome"]) for a in json.loads(out)] == [("webhook.test", "delivered")]

    code, out, _ = await _leadbot(cli_env, "webhooks", "disable", sid)
    assert json.loads(out)["enabled"] is False
    receiver.answer = lambda r: 502
    code, out, _ = await _leadbot(cli_env, "webhooks", "test", sid)  # a disabled subscription can still be tested
    assert code == 1 and json.loads(out)["status_code"] == 502
    code, out, _ = await _leadbot(cli_env, "webhooks", "enable", sid)
    assert json.loads(out)["enabled"] is True

    # replaying a delivered ping by its event id queues it again for the workers
    code, out, err = await _leadbot(cli_env, "webhooks", "redeliver", sid, "--event", ping["event_id"])
    assert (code, json.loads(out)) == (0, {"queued": 1}), err
    delivery = await WebhookDelivery.get(event__event_id=ping["event_id"])
    assert delivery.state == DeliveryState.PENDING
    code, _, err = await _leadbot(cli_env, "webhooks", "redeliver", sid)
    assert code == 2 and "event_id or since" in err
