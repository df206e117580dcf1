"""The review page in a real Chromium: an agent labels a group of misunderstood messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.server.appkeys import STORE
from bot.storage.feedback import FeedbackStore
from bot.storage.records import Understanding
from tests.bot.server.web.conftest import XSS, Server, staff_page

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


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
    async with staff_page(browser, server, "ann", "/console/review") as page:
        await expect(page.get_by_role("link", name="To review")).to_be_visible()
        status = page.locator("#review-status")
        await expect(status).to_have_text("4 messages to review in 3 groups.")
        # Shown as text; staff_page fails the test if it ever ran as script.
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

    async with staff_page(browser, server, "olga", "/ops/") as page:
        await expect(page.get_by_role("heading", name="Misunderstood messages")).to_be_visible()
        await expect(page.locator("#review-length")).to_have_text("0 messages wait for review.")
        today = page.locator("#review-rows tr").first
        day = datetime.now(UTC).date().isoformat()
        await expect(today.locator("td")).to_have_text([day, "4", "4"])
        assert await page.locator("#review-rows tr").count() == 14

        await page.get_by_role("link", name="To review").click()
        await expect(page.locator("#review-status")).to_have_text("Nothing to review.")
