"""The admin page in a real Chromium: answers awaiting approval and the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bot.server.appkeys import RUNTIME, STORE
from bot.storage.feedback import FeedbackStore
from tests.bot.server.web.conftest import XSS, Server, serve, sign_in, staff_page
from tests.conftest import TinyModels

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels
) -> AsyncIterator[Server]:
    """Answers saved by agents wait for an admin here."""
    async with serve(
        tmp_path_factory.mktemp("admin-browser"),
        tiny_models,
        answers_need_approval=True,
        cookie_secure=False,
    ) as running:
        yield running


async def test_an_admin_approves_an_answer_and_sees_it_in_the_audit_log(
    server: Server, browser: Any
) -> None:
    from playwright.async_api import expect

    question = "Do you ship to Norway?"
    pending = FeedbackStore(server.app[STORE].engine)
    await pending.add_pending("qa-norway", question, "Yes, in 3 to 5 days.", None, "ann", None)
    await pending.add_pending("qa-xss", XSS, "no", None, "ann", None)
    # A failed sign-in first, for the audit log to show.
    async with staff_page(browser, server, "nobody", "/console/admin") as page:
        await sign_in(page, server, "root", "/console/admin")

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
