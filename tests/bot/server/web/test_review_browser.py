"""The review page in a real Chromium: an agent labels a group of misunderstood messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from bot.server.app import create_app
from bot.server.appkeys import RUNTIME, STORE
from bot.storage.feedback import FeedbackStore
from bot.storage.records import Understanding
from tests.bot.server.web.conftest import PASSWORD, make_user, web_config
from tests.bot.server.web.test_browser import CHROMIUM_ARGS, XSS, Server, free_port
from tests.conftest import TinyModels

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels
) -> AsyncIterator[Server]:
    config = web_config(tmp_path_factory.mktemp("review-browser"), tiny_models)
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
    await make_user(app, "ann", "agent")
    await make_user(app, "olga", "ops")
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


async def test_an_agent_labels_a_group_of_similar_messages_from_the_review_page(
    server: Server, browser: Any
) -> None:
    from playwright.async_api import expect

    store = server.app[STORE]
    for number, text in enumerate(
        ["where has my parcel gone", "where did my parcel go", XSS, "tell me a joke please"]
    ):
        conversation = await store.conversation_for("rest", f"browser-{number}")
        turn, _ = await store.add_user_turn(conversation.id, text)
        await store.record_reply(
            conversation.id,
            turn.id,
            [],
            route="fallback",
            understanding=Understanding(intent="nlu_fallback", confidence=0.1),
        )
    context = await browser.new_context()
    try:
        page = await context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        await page.goto(server.url + "/console/review")
        await page.get_by_label("Username").fill("ann")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()

        await expect(page.get_by_role("link", name="To review")).to_be_visible()
        status = page.locator("#review-status")
        await expect(status).to_have_text("4 messages to review in 3 groups.")
        await expect(page.get_by_text(XSS, exact=True).first).to_be_visible()
        group = page.locator(".review-group").filter(has_text="2 similar messages")
        await expect(
            group.get_by_text("Fell back · intent nlu_fallback (10%)").first
        ).to_be_visible()
        await group.get_by_label("Intent for these 2 messages").fill("order_status")
        await group.get_by_role("button", name="Label").click()
        await expect(status).to_have_text("2 messages to review in 2 groups.")

        joke = page.locator(".review-group").filter(has_text="tell me a joke please")
        await joke.get_by_role("button", name="Out of scope").click()
        await expect(status).to_have_text("1 message to review in 1 group.")

        last = page.locator(".review-group").filter(has_text=XSS)
        await last.get_by_label("Or an answer from the index (its id)").fill("qa-nope")
        await last.get_by_role("button", name="Link answer").click()
        await expect(status).to_have_text("field 'qa_id': no answer 'qa-nope' in the index")
        await last.get_by_label("Or an answer from the index (its id)").fill("qa-gift-wrap")
        await last.get_by_role("button", name="Link answer").click()
        await expect(status).to_have_text("Nothing to review.")
        assert dialogs == [], "nothing a customer wrote ran as script"
    finally:
        await context.close()
    corrections = await FeedbackStore(store.engine).corrections()
    assert sorted((c.text, c.intent) for c in corrections) == [
        ("tell me a joke please", "out_of_scope"),
        ("where did my parcel go", "order_status"),
        ("where has my parcel gone", "order_status"),
    ]


async def test_the_ops_page_counts_misunderstood_and_reviewed_messages_per_day(
    server: Server, browser: Any
) -> None:
    """Runs after the agent's labels above: 4 misunderstood today, all reviewed."""
    from playwright.async_api import expect

    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(server.url + "/ops/")
        await page.get_by_label("Username").fill("olga")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()

        await expect(page.get_by_role("heading", name="Misunderstood messages")).to_be_visible()
        await expect(page.locator("#review-length")).to_have_text("0 messages wait for review.")
        today = page.locator("#review-rows tr").first
        day = datetime.now(UTC).date().isoformat()
        await expect(today.locator("td")).to_have_text([day, "4", "4"])
        assert await page.locator("#review-rows tr").count() == 14

        await page.get_by_role("link", name="To review").click()
        await expect(page.locator("#review-status")).to_have_text("Nothing to review.")
    finally:
        await context.close()
