"""The widget and the console in a real Chromium (Debian's, driven by Playwright).

The server and the browser are the module's (``conftest.py``). Locators are the accessible
names people and screen readers use.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.server.appkeys import STORE
from bot.storage.escalations import EscalationStore
from tests.bot.server.web.conftest import PASSWORD, XSS, Server, serve, sign_in
from tests.conftest import TinyModels

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

PHONE = {"width": 375, "height": 740}


async def send(page: Any, text: str) -> None:
    await page.get_by_label("Message").fill(text)
    await page.get_by_role("button", name="Send").click()


async def escalations_waiting_on(store: EscalationStore, text: str) -> list[Any]:
    """The queued escalations whose last customer message is ``text``. The widget shows a
    message as it is sent, before the server has stored it, so this waits (up to 10 s) for the
    store to catch up: on a busy machine it can lag the page."""
    for _ in range(100):
        found = [
            i
            for i in await store.queue()
            if i.last_customer_message and i.last_customer_message.text == text
        ]
        if found:
            return found
        await asyncio.sleep(0.1)
    return []


async def test_customer_hands_off_agent_replies_resolves_and_customer_rates(
    server: Server, browser: Any
) -> None:
    from playwright.async_api import expect

    customer_context = await browser.new_context(viewport=PHONE)
    agent_context = await browser.new_context()
    try:
        customer = await customer_context.new_page()
        await customer.goto(server.url + "/")
        log = customer.get_by_role("log")
        await expect(log).to_contain_text("Ask me about orders")  # the data-greeting
        panel = await customer.get_by_role("region", name="Northwind Goods help").bounding_box()
        assert panel is not None and panel["x"] >= 0 and panel["x"] + panel["width"] <= 375

        await send(customer, "hello there")
        await expect(customer.get_by_role("button", name="Talk to a person")).to_be_visible()
        await customer.get_by_role("button", name="Talk to a person").click()
        await expect(log).to_contain_text("connecting you")

        agent = await agent_context.new_page()
        await sign_in(agent, server, "ann")
        await expect(agent.get_by_role("heading", name="Escalation queue")).to_be_visible()
        await expect(agent.get_by_role("cell", name="Asked for a human")).to_be_visible()
        await agent.get_by_role("button", name="Claim").click()
        await expect(agent.get_by_role("log")).to_contain_text("I want to talk to a human")
        await expect(agent.get_by_text("intent human_handoff")).to_be_visible()

        await agent.get_by_label("Reply").fill("Hi, this is Ann from Northwind.")
        await agent.get_by_role("button", name="Send reply").click()
        await expect(log).to_contain_text("Hi, this is Ann from Northwind.")

        await agent.get_by_role("button", name="Resolve").click()
        await expect(customer.get_by_text("How satisfied are you")).to_be_visible()
        await customer.get_by_role("button", name="Rate 5 out of 5").click()
        await expect(log).to_contain_text("Thank you for your feedback!")
        await expect(agent.get_by_text("rated 5/5")).to_be_visible()

        # A reload keeps the conversation: the token lives in localStorage.
        await customer.reload()
        log = customer.get_by_role("log")
        await expect(log).to_contain_text("Hi, this is Ann from Northwind.")
        await expect(log).to_contain_text("hello there")
        assert await log.get_by_text("hello there", exact=True).count() == 1
    finally:
        await customer_context.close()
        await agent_context.close()


async def test_html_is_shown_as_text_in_widget_and_console(server: Server, browser: Any) -> None:
    from playwright.async_api import expect

    customer_context = await browser.new_context()
    agent_context = await browser.new_context()
    dialogs: list[str] = []
    try:
        customer = await customer_context.new_page()
        customer.on("dialog", lambda dialog: dialogs.append(dialog.message))
        await customer.goto(server.url + "/")
        await send(customer, "I want to talk to a human")
        await expect(customer.get_by_role("log")).to_contain_text("connecting you")
        await send(customer, XSS)
        await expect(customer.get_by_role("log")).to_contain_text(XSS)
        assert await customer.locator(".fdw-log img").count() == 0

        store = EscalationStore(server.app[STORE].engine)
        [item] = await escalations_waiting_on(store, XSS)
        agent = await agent_context.new_page()
        agent.on("dialog", lambda dialog: dialogs.append(dialog.message))
        await sign_in(agent, server, "ann", f"/console/conversations/{item.conversation.id}")
        transcript = agent.get_by_role("log")
        await expect(transcript).to_contain_text(XSS)
        assert await agent.locator("#transcript img").count() == 0
        await expect(agent.get_by_role("cell", name=XSS)).to_have_count(0)

        await agent.get_by_label("Reply").fill("<b>bold?</b> " + XSS)
        await agent.get_by_role("button", name="Send reply").click()
        await expect(customer.get_by_role("log")).to_contain_text("<b>bold?</b> " + XSS)
        assert await customer.locator(".fdw-log b, .fdw-log img").count() == 0
        assert dialogs == []
    finally:
        await customer_context.close()
        await agent_context.close()


async def test_login_redirects_and_roles_in_the_browser(server: Server, browser: Any) -> None:
    from playwright.async_api import expect

    context = await browser.new_context()
    try:
        page = await context.new_page()
        # No session: every console page sends people to the login page.
        for path in ("/console/", "/console/admin"):
            await page.goto(server.url + path)
            assert page.url.startswith(server.url + "/console/login?next=")
            await expect(page.get_by_label("Username")).to_be_visible()

        await page.get_by_label("Username").fill("ann")
        await page.get_by_label("Password").fill("wrong password")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")

        # An agent lands on the page they asked for, but admin pages are closed to them.
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        [session] = [c for c in await context.cookies() if c["name"] == "frontdesk_session"]
        assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Strict"
        response = await page.goto(server.url + "/console/admin")
        assert response is not None and response.status == 403
        await page.goto(server.url + "/console/")
        await expect(page.get_by_role("link", name="Users")).to_have_count(0)
        await page.get_by_role("button", name="Log out").click()
        await expect(page.get_by_label("Username")).to_be_visible()
        await page.goto(server.url + "/console/")
        assert "/console/login" in page.url

        # An admin manages users on the admin page.
        await sign_in(page, server, "root", "/console/admin")
        await expect(page.get_by_role("heading", name="Users")).to_be_visible()
        await page.get_by_label("New username").fill("bea")
        await page.get_by_label("New password").fill("a long password")
        await page.get_by_label("Role", exact=True).select_option("ops")
        await page.get_by_role("button", name="Add user").click()
        await expect(page.get_by_role("status")).to_contain_text("Added bea.")
        await expect(page.get_by_label("Role for bea")).to_have_value("ops")
        await page.get_by_role("button", name="Disable bea").click()
        await expect(page.get_by_role("button", name="Enable bea")).to_be_visible()
    finally:
        await context.close()


async def test_widget_reconnects_after_a_dropped_connection_and_loses_nothing(
    server: Server, browser: Any
) -> None:
    import re

    from playwright.async_api import expect

    sockets: list[Any] = []

    def through(route: Any) -> None:
        # Pass the real connection through, keeping a handle to cut it.
        route.connect_to_server()
        sockets.append(route)

    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.route_web_socket(re.compile(r"/widget/ws"), through)
        await page.goto(server.url + "/")
        log = page.get_by_role("log")
        await send(page, "hello there")
        await expect(page.get_by_role("button", name="Talk to a person")).to_be_visible()
        assert len(sockets) == 1

        await sockets[0].close(code=1006, reason="network dropped")
        await send(page, "thank you so much")  # typed while the connection is down
        for _ in range(200):
            if len(sockets) > 1:
                break
            await asyncio.sleep(0.1)
        assert len(sockets) > 1, "the widget did not reconnect"
        await expect(log).to_contain_text("thank you so much")
        await expect(log.get_by_text("thank you so much", exact=True)).to_have_count(1)
        # ... and answered (a "thanks" template), once.
        await expect(log.get_by_text(re.compile("You.re welcome|Happy to help"))).to_have_count(1)
        await expect(log.get_by_text("hello there", exact=True)).to_have_count(1)
        store = server.app[STORE]
        stored = [t for t in await _user_turns(store) if t.text == "thank you so much"]
        assert len(stored) == 1, "the resent message was stored once"
    finally:
        await context.close()


async def test_widget_starts_a_new_conversation_when_its_token_expires(
    tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels, browser: Any
) -> None:
    import re

    from playwright.async_api import expect

    sockets: list[str] = []
    # 0.15 minutes: a token lasts 9 seconds, long enough for one exchange on a busy machine.
    async with serve(
        tmp_path_factory.mktemp("expiring"), tiny_models, widget_token_minutes=0.15
    ) as short:
        context = await browser.new_context()
        try:
            page = await context.new_page()
            page.on("websocket", lambda ws: sockets.append(ws.url))
            await page.goto(short.url + "/")
            log = page.get_by_role("log")
            await send(page, "hello there")
            await expect(page.get_by_role("button", name="Talk to a person")).to_be_visible()
            first = await page.evaluate(
                "localStorage.getItem('frontdesk-token:' + location.origin)"
            )

            # The server closes the socket at expiry; the widget swaps in a new session.
            note = log.get_by_text("That chat has ended. Anything you write now starts a new one.")
            await expect(note.first).to_be_visible(timeout=30_000)
            second = await page.evaluate(
                "localStorage.getItem('frontdesk-token:' + location.origin)"
            )
            assert second and second != first
            await expect(log.get_by_text("hello there", exact=True)).to_have_count(1)
            await expect(page.get_by_role("button", name="Talk to a person")).to_have_count(0)
            await expect(page.get_by_role("status").filter(has_text="Connection")).to_have_count(0)

            await send(page, "thank you so much")
            await expect(log.get_by_text(re.compile("You.re welcome|Happy to help"))).to_have_count(
                1
            )
            stored = await _user_turns(short.app[STORE])
            conversations = {t.text: t.conversation_id for t in stored}
            assert conversations["hello there"] != conversations["thank you so much"]
            assert all("token" not in url for url in sockets), "the token stays out of URLs"
        finally:
            await context.close()


async def _user_turns(store: Any) -> list[Any]:
    from sqlalchemy import select

    from bot.storage.schema import turns
    from bot.storage.store import turn_from_row

    async with store.engine.connect() as conn:
        rows = await conn.execute(select(turns).where(turns.c.role == "user"))
        return [turn_from_row(row) for row in rows]
