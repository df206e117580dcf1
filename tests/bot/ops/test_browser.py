"""The ops dashboard in a real Chromium (Debian's, driven by Playwright): a raised alert is
shown, acknowledged, and drilled down to its conversations; the charts are drawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from bot.server.app import create_app
from tests.bot.ops.conftest import QUICK_ALERTS, customer_turns
from tests.bot.server.web.conftest import CHROMIUM_ARGS, PASSWORD, free_port, make_user
from tests.conftest import app_config

pytestmark = pytest.mark.browser


async def test_dashboard_shows_a_raised_alert_and_acknowledges_it(
    tmp_path: Path, chromium_path: str
) -> None:
    from playwright.async_api import async_playwright, expect

    app = create_app(app_config(tmp_path, alerts=QUICK_ALERTS))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    errors: list[str] = []
    try:
        await make_user(app, "olga", "ops")
        rows = [("order_status", "neutral")] * 3 + [("payment_failed", "negative")] * 5
        await customer_turns(app, rows)

        expect.set_options(timeout=20_000)
        context = await browser.new_context()
        page = await context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(url + "/ops/")
        await page.get_by_label("Username").fill("olga")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Sentiment monitor")).to_be_visible()

        alert_row = page.locator("#alert-rows tr").first
        await expect(alert_row).to_contain_text("payments")
        await expect(alert_row).to_contain_text("High negative share")
        await expect(alert_row.get_by_role("cell", name="open", exact=True)).to_be_visible()
        # The most negative topic comes first; the charts are drawn (all topics + 2 topics).
        await expect(page.locator("#topic-rows tr").first).to_contain_text("100%")
        await expect(page.locator("#charts figure")).to_have_count(3)
        await expect(page.get_by_role("img", name="payments: 5 messages")).to_be_visible()

        await alert_row.get_by_role("button", name="Acknowledge").click()
        await expect(page.get_by_role("status")).to_contain_text("acknowledged")
        await expect(alert_row).to_contain_text("acknowledged by olga")
        await expect(alert_row.get_by_role("button", name="Acknowledge")).to_have_count(0)

        await alert_row.get_by_role("button", name="Examples for payments").click()
        await expect(page.locator("#examples li")).to_have_count(5)
        link = page.get_by_role("link", name="Open conversation").first
        assert (await link.get_attribute("href") or "").startswith("/console/conversations/")
        # No script errors, no CSP refusals, no failed requests (the browser's own favicon
        # request is not one of the page's, and shows only as a console line).
        assert [e for e in errors if not e.startswith("Failed to load resource")] == [], errors
        await link.click()
        await expect(page.get_by_role("heading", name="Conversation")).to_be_visible()
        await context.close()
    finally:
        await browser.close()
        await playwright.stop()
        await runner.cleanup()
