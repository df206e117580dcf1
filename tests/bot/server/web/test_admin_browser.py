"""The admin page in a real Chromium: answers awaiting approval and the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from bot.server.app import create_app
from bot.server.appkeys import RUNTIME, STORE
from bot.storage.feedback import FeedbackStore
from tests.bot.server.web.conftest import PASSWORD, make_user, web_config
from tests.bot.server.web.test_browser import CHROMIUM_ARGS, XSS, Server, free_port
from tests.conftest import TinyModels

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels
) -> AsyncIterator[Server]:
    config = web_config(
        tmp_path_factory.mktemp("admin-browser"),
        tiny_models,
        answers_need_approval=True,
        cookie_secure=False,
    )
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
    await make_user(app, "root", "admin")
    try:
        yield Server(f"http://127.0.0.1:{port}", app)
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=20_000)
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        await browser.close()
        await playwright.stop()


async def test_an_admin_approves_an_answer_and_sees_it_in_the_audit_log(
    server: Server, browser: Any
) -> None:
    from playwright.async_api import expect

    question = "Do you ship to Norway?"
    pending = FeedbackStore(server.app[STORE].engine)
    await pending.add_pending("qa-norway", question, "Yes, in 3 to 5 days.", None, "ann", None)
    await pending.add_pending("qa-xss", XSS, "no", None, "ann", None)
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(server.url + "/console/admin")
        await page.get_by_label("Username").fill("nobody")
        await page.get_by_label("Password").fill("wrong password")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_label("Username").fill("root")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()

        await expect(page.get_by_role("heading", name="Answers awaiting approval")).to_be_visible()
        # What staff wrote is shown as text, never as markup.
        await expect(page.get_by_text("Q: " + XSS)).to_be_visible()
        log = page.get_by_role("table", name="Audit log")
        await expect(log.get_by_role("row").filter(has_text="login_failed")).to_contain_text(
            "nobody"
        )
        await expect(log.get_by_role("row").filter(has_text="root")).not_to_have_count(0)

        await page.get_by_role("button", name="Approve the answer to: " + question).click()
        await expect(page.get_by_text("Approved the answer to: " + question)).to_be_visible()
        await expect(
            page.get_by_role("button", name="Approve the answer to: " + question)
        ).to_have_count(0)
        await expect(log.get_by_role("row").filter(has_text="answer_approved")).to_contain_text(
            "qa-norway"
        )
        await page.get_by_role("button", name="Reject the answer to: " + XSS).click()
        await expect(page.get_by_text("No answers are waiting.")).to_be_visible()
        await expect(log.get_by_role("row").filter(has_text="answer_rejected")).to_contain_text(
            "qa-xss"
        )
        index = server.app[RUNTIME].get().index
        assert index is not None
        assert index.search(question)[0].answer == "Yes, in 3 to 5 days."
    finally:
        await context.close()
