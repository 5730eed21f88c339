"""The board in a real headless browser (Playwright driving Debian's chromium): sign in with the chat link, see the
overdue list, open a lead, take a screenshot; a manager of another team is refused the lead.

Skipped with a reason when chromium or playwright is missing on a developer's machine; under CI (`CI` set) their
absence is a failure, so the browser test cannot silently stop running.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.runtime.app import create_app
from bot.runtime.config import Settings
from tests.board.support import Teams, link_token, make_teams

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"{CHROMIUM} not installed (apt-get install -y --no-install-recommends chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


@pytest.fixture
def browser_ready() -> None:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Served over plain http on 127.0.0.1 here: the cookie is then not Secure, as the service decides."""
    return settings.model_copy(update={"public_url": "http://127.0.0.1"})


@pytest.fixture
async def server(services) -> AsyncIterator[TestServer]:
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def chromium(browser_ready) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM)
                                          else shutil.which("chromium"), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def test_manager_signs_in_sees_overdue_opens_lead(world, server: TestServer, chromium, tmp_path: Path) -> None:
    teams: Teams = await make_teams(world)
    base = str(server.make_url("")).rstrip("/")
    context = await chromium.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = await context.new_page()
    await page.goto(f"{base}/board/login?t={await link_token(world, world.manager)}&next=/board")
    await page.click("#sign-in")
    await page.wait_for_url(f"{base}/board")
    overdue = page.locator("#overdue")
    assert "宁波海曙机电" in await overdue.inner_text()
    assert "合肥新站光电" not in await page.content()
    assert await page.locator("#charts svg").count() == 4
    await overdue.get_by_text("宁波海曙机电").click()
    await page.wait_for_url(f"{base}/board/leads/{teams.overdue_lead}")
    assert await page.locator("#lead-title").inner_text() == "宁波海曙机电"
    assert "分配" in await page.locator("#history").inner_text()
    shot = tmp_path / "lead.png"
    await page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
    await page.click("#take-over")
    await page.wait_for_url(f"{base}/board/leads/{teams.overdue_lead}?taken=1")
    assert "已由您接手" in await page.locator("#notice").inner_text()
    await context.close()

    # 赵经理 (another team) signs in on their own link and is refused 王经理's lead.
    other = await chromium.new_context()
    page = await other.new_page()
    await page.goto(f"{base}/board/login?t={await link_token(world, teams.other_manager)}")
    await page.click("#sign-in")
    await page.wait_for_url(f"{base}/board")
    assert "宁波海曙机电" not in await page.content()
    response = await page.goto(f"{base}/board/leads/{teams.overdue_lead}")
    assert response is not None and response.status == 404
    assert "不属于您的团队" in await page.content()
    await other.close()
