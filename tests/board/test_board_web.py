"""The /board routes over HTTP: one-time sign-in, the signed session cookie, team scoping, CSRF on take-over."""

from __future__ import annotations

import re

import pytest

from bot.board import access
from bot.chat import commands
from storage.models import LeadEvent
from tests.board.support import Teams, assignee_of, link_token, make_teams


@pytest.fixture
async def teams(world) -> Teams:
    return await make_teams(world)


async def sign_in(client, token: str, nxt: str = "/board") -> str:
    """The cookie header value a successful sign-in sets."""
    r = await client.post("/board/login", data={"t": token, "next": nxt}, allow_redirects=False)
    assert r.status == 303, await r.text()
    assert r.headers["Location"] == nxt
    raw = r.headers["Set-Cookie"]
    assert "HttpOnly" in raw and "Secure" in raw and "SameSite=Lax" in raw and "Path=/board" in raw
    return raw.split(";", 1)[0]


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def test_a_link_signs_in_once_and_previews_spend_nothing(client, teams: Teams) -> None:
    token = await link_token(teams.world, teams.world.manager)
    for _ in range(2):  # a chat link preview, then the person
        r = await client.get(f"/board/login?t={token}&next=/board")
        assert r.status == 200 and 'id="sign-in"' in await r.text()
    cookie = await sign_in(client, token)
    again = await client.post("/board/login", data={"t": token, "next": "/board"}, allow_redirects=False)
    assert again.status == 404 and "Set-Cookie" not in again.headers
    # The spent link in a browser that is signed in goes on to where it pointed.
    r = await client.get(f"/board/login?t={token}&next=/board/leads/1", headers={"Cookie": cookie},
                         allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/board/leads/1"
    assert (await client.get(f"/board/login?t={token}")).status == 404


@pytest.mark.parametrize("nxt", ["https://evil.example/", "//evil.example/board", "/admin/apps", "/\\evil"])
async def test_sign_in_never_leaves_the_board(client, teams: Teams, nxt: str) -> None:
    token = await link_token(teams.world, teams.world.manager)
    r = await client.post("/board/login", data={"t": token, "next": nxt}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/board"


async def test_manager_sees_own_team_only(client, teams: Teams) -> None:
    cookie = await sign_in(client, await link_token(teams.world, teams.world.manager))
    page = await (await client.get("/board", headers={"Cookie": cookie})).text()
    overdue = page.split('id="overdue"')[1].split("</section>")[0]
    assert "宁波海曙机电" in overdue and "张三" in overdue and "合肥新站光电" not in page
    assert "王经理团队" in page and "<svg" in page and "钱五" not in page
    r = await client.get(f"/board/leads/{teams.overdue_lead}", headers={"Cookie": cookie})
    assert r.status == 200 and "宁波海曙机电" in await r.text()
    before = await LeadEvent.filter(lead_id=teams.other_lead).count()
    assert (await client.get(f"/board/leads/{teams.other_lead}", headers={"Cookie": cookie})).status == 404
    page = await (await client.get(f"/board/leads/{teams.overdue_lead}", headers={"Cookie": cookie})).text()
    r = await client.post(f"/board/leads/{teams.other_lead}/take", data={"csrf": csrf_of(page)},
                          headers={"Cookie": cookie}, allow_redirects=False)
    assert r.status == 404
    assert await assignee_of(teams.other_lead) == teams.other_rep.id
    assert await LeadEvent.filter(lead_id=teams.other_lead).count() == before
    assert (await client.get("/board/leads/999999", headers={"Cookie": cookie})).status == 404
    assert (await client.get("/board/leads/abc", headers={"Cookie": cookie})).status == 404


async def test_admin_sees_the_tenant(client, teams: Teams) -> None:
    cookie = await sign_in(client, await link_token(teams.world, teams.admin))
    page = await (await client.get("/board", headers={"Cookie": cookie})).text()
    assert "宁波海曙机电" in page and "钱五" in page
    assert (await client.get(f"/board/leads/{teams.other_lead}", headers={"Cookie": cookie})).status == 200


async def test_take_over_needs_the_session_csrf_token(client, teams: Teams) -> None:
    cookie = await sign_in(client, await link_token(teams.world, teams.world.manager))
    url = f"/board/leads/{teams.overdue_lead}"
    for data in ({}, {"csrf": "forged"}):
        r = await client.post(url + "/take", data=data, headers={"Cookie": cookie}, allow_redirects=False)
        assert r.status == 403
    assert await assignee_of(teams.overdue_lead) == teams.world.rep.id
    page = await (await client.get(url, headers={"Cookie": cookie})).text()
    r = await client.post(url + "/take", data={"csrf": csrf_of(page)}, headers={"Cookie": cookie},
                          allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == url + "?taken=1"
    assert await assignee_of(teams.overdue_lead) == teams.world.manager.id
    event = await LeadEvent.filter(lead_id=teams.overdue_lead).order_by("-seq").first()
    assert (event.action, event.source, event.actor_id) == ("claim", "web", teams.world.manager.id)


async def test_refusals(client, teams: Teams) -> None:
    assert (await client.get("/board")).status == 401
    assert (await client.get("/board", headers={"Cookie": f"{access.COOKIE}=forged.value"})).status == 401
    rep_token = await link_token(teams.world, teams.world.rep)
    r = await client.post("/board/login", data={"t": rep_token}, allow_redirects=False)
    assert r.status == 403 and "Set-Cookie" not in r.headers
    # A manager who loses the role is signed out at their next request.
    cookie = await sign_in(client, await link_token(teams.world, teams.other_manager))
    assert (await client.get("/board", headers={"Cookie": cookie})).status == 200
    teams.other_manager.role = "rep"
    await teams.other_manager.save()
    assert (await client.get("/board", headers={"Cookie": cookie})).status == 403
    teams.other_manager.role = "manager"
    await teams.other_manager.save()
    assert (await client.get("/board", headers={"Cookie": cookie})).status == 401


async def test_logout_ends_the_session(client, teams: Teams) -> None:
    cookie = await sign_in(client, await link_token(teams.world, teams.world.manager))
    page = await (await client.get("/board", headers={"Cookie": cookie})).text()
    assert (await client.post("/board/logout", data={"csrf": "x"}, headers={"Cookie": cookie})).status == 403
    assert (await client.post("/board/logout", data={"csrf": csrf_of(page)}, headers={"Cookie": cookie})).status == 200
    assert (await client.get("/board", headers={"Cookie": cookie})).status == 401


async def test_chat_command_gives_managers_a_link(client, teams: Teams) -> None:
    services = teams.world.services
    assert "只对经理和管理员开放" in await commands.board_link(services, teams.world.rep)
    text = await commands.board_link(services, teams.world.manager)
    url = re.search(r"https://leadbot.test(/board/login\?t=\S+)", text).group(1)
    r = await client.get(url)
    assert r.status == 200 and 'id="sign-in"' in await r.text()


async def test_the_board_is_reused_for_a_minute_but_not_after_a_take_over(client, teams: Teams) -> None:
    cookie = await sign_in(client, await link_token(teams.world, teams.world.manager))

    def overdue(page: str) -> str:
        return page.split('id="overdue"')[1].split("</section>")[0]

    def holder(page: str) -> str:
        return overdue(page).split("宁波海曙机电</a></td><td>")[1].split("<")[0]

    first = await (await client.get("/board", headers={"Cookie": cookie})).text()
    assert holder(first) == "张三"
    url = f"/board/leads/{teams.overdue_lead}"
    page = await (await client.get(url, headers={"Cookie": cookie})).text()
    r = await client.post(url + "/take", data={"csrf": csrf_of(page)}, headers={"Cookie": cookie},
                          allow_redirects=False)
    assert r.status == 303
    after = await (await client.get("/board", headers={"Cookie": cookie})).text()
    # The manager's own take-over shows at once, not a minute later: the lead is theirs with a fresh response lock
    # (written with the take-over), so it has left the overdue list where 张三 held it.
    assert "宁波海曙机电" not in overdue(after)
    assert await assignee_of(teams.overdue_lead) == teams.world.manager.id
