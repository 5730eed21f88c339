"""Console pages benchmark: each page's latency for a tenant of a given size, beside `/healthz` in the same run.

Run: PYTHONPATH=. python bench/console.py [--people 200,2000] [--requests 50]

In this process, on the embedded setup (SQLite and the bundled Redis in a scratch directory): a tenant with N people
(a tenth of them managers), an app, 20 routing rules; a tenant admin signs in with a token like a browser (session
cookie), then each page is fetched `--requests` times in a row over HTTP. Figures: median and p95 in ms per page,
and the same for `GET /healthz` (the service's cheapest route, the floor of any page here), with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from bot.admin.platform_ids import set_id  # noqa: E402
from bot.runtime.app import create_app  # noqa: E402
from bot.runtime.config import Settings  # noqa: E402
from bot.runtime.services import open_services  # noqa: E402
from handlers.auth import token_digest  # noqa: E402
from storage.models import ApiToken, App, RoutingRule, Tenant, TokenScope, User, UserPlatformId  # noqa: E402

PAGES = ("apps", "people", "people?q=销售1", "rules", "settings", "activity")


async def seed(people: int) -> tuple[Tenant, str]:
    tenant = await Tenant.create(name=f"bench-{people}", timezone="Asia/Shanghai")
    managers = [await User.create(tenant=tenant, name=f"经理{n}", role="manager")
                for n in range(max(1, people // 10))]
    for n, manager in enumerate(managers):
        await set_id(manager, "wecom", f"m{n}")
    await User.bulk_create([
        User(tenant=tenant, name=f"销售{n}", role="rep", manager_id=managers[n % len(managers)].id,
             phone=f"+86138{n:08d}", email=f"r{n}@example.com", region="华东")
        for n in range(people - len(managers))])
    reps = await User.filter(tenant=tenant, role="rep").values_list("id", "name")
    await UserPlatformId.bulk_create([
        UserPlatformId(tenant=tenant, user_id=user_id, platform="wecom",
                       platform_user_id="r" + name.removeprefix("销售"))
        for user_id, name in reps])
    await App.create(tenant=tenant, platform="wecom", name="销售助手", identity=f"{tenant.id}:wecom:ww:1",
                     public={"corp_id": "ww", "agent_id": 1}, secrets_sealed="")
    for n in range(20):
        await RoutingRule.create(tenant=tenant, name=f"规则{n}", position=n * 10,
                                 spec={"regions": [f"区域{n}"], "strategy": "least_loaded"})
    token = "lbt_" + secrets.token_urlsafe(24)
    await ApiToken.create(tenant=tenant, name="bench", scope=TokenScope.ADMIN, token_sha256=token_digest(token))
    return tenant, token


async def timed(client: TestClient, path: str, n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(path, allow_redirects=False)
        await response.read()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, (path, response.status)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def one_size(client: TestClient, people: int, n: int) -> None:
    tenant, token = await seed(people)
    client.session.cookie_jar.clear()
    form = await (await client.get("/console/login")).text()
    pre = re.search(r'name="pre" value="([^"]+)"', form)
    assert pre is not None
    await client.post("/console/login", data={"pre": pre.group(1), "token": token})
    floor = await timed(client, "/healthz", n)
    print(f"{people:>6} people  GET /healthz                       median {floor[0]:6.1f} ms  p95 {floor[1]:6.1f} ms")
    for name in PAGES:
        median, p95 = await timed(client, f"/console/t/{tenant.id}/{name}", n)
        print(f"{people:>6} people  GET /console/t/{{id}}/{name:<14} median {median:6.1f} ms  p95 {p95:6.1f} ms"
              f"  ({median / floor[0]:5.1f}× /healthz)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", default="200,2000")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="lbc-", dir="/tmp")), database_url=None,
                        redis_url=None, public_url="http://127.0.0.1")
    print(f"backend sqlite + embedded redis; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    async with open_services(settings) as services:
        client = TestClient(TestServer(create_app(services), host="127.0.0.1"))
        await client.start_server()
        try:
            for people in (int(p) for p in args.people.split(",")):
                await one_size(client, people, args.requests)
        finally:
            await client.close()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
