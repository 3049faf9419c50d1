"""The console in real Chromium against the API on a real Temporal dev server.

Screenshots of the main pages are written to ``$ORDERCLOCK_CONSOLE_SCREENSHOTS`` when set
(docs/console.md shows them; its command regenerates them), else to the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.prepaid_service.models import Appointment
from models.common import Party, Role
from tests.support.console import REFUSED_EMAIL, ConsoleStack
from tests.support.fakes import DECLINE
from tests.support.samples import CUSTOMER, PROVIDER

DEALER = "dealer-1"


@pytest.fixture
async def context(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser context (its own cookies) at a laptop's width."""
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        await ctx.close()


async def sign_in(context: Any, stack: ConsoleStack, key: str, path: str = "/console") -> Any:
    page = await context.new_page()
    await page.goto(stack.base_url + path)
    await page.fill("#key", key)
    await page.click("form[action='/console/login'] button[type=submit]")
    await page.wait_for_url(re.compile(re.escape(stack.base_url + path) + r"(\?.*)?$"))
    return page


async def open_dialog(page: Any, key: str) -> Any:
    await page.click("#select-action summary")
    await page.click(f"[data-dialog='dlg-{key}']")
    dialog = page.locator(f"#dlg-{key}")
    await dialog.wait_for(state="visible")
    return dialog


async def wait_done(page: Any, action: str) -> None:
    await page.wait_for_url(re.compile(rf"done={action}"))
    await page.locator(".done").wait_for()


async def test_sign_in_out_and_service_key_refused(
    context: Any, console_stack: ConsoleStack
) -> None:
    page = await context.new_page()
    await page.goto(console_stack.base_url + "/console")
    assert "/console/login" in page.url
    await page.fill("#key", console_stack.keys["service"])
    await page.click("form[action='/console/login'] button[type=submit]")
    assert "service key belongs to a backend" in await page.locator(".error").inner_text()
    await page.close()
    page = await sign_in(context, console_stack, console_stack.keys["support"])
    assert await page.locator("h1").inner_text() == "Needs attention"
    cookie = next(c for c in await context.cookies() if c["name"] == "orderclock_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    await page.click("text=Sign out")
    await page.wait_for_url(re.compile(r"/console/login"))
    assert "signed out" in await page.locator(".notice").inner_text()
    await page.goto(console_stack.base_url + "/console")
    assert "/console/login" in page.url


async def test_tabs_of_every_flow(context: Any, console_stack: ConsoleStack) -> None:
    # An order in each flow, so every flow's first tab has a row.
    views = [
        await console_stack.start(flow)
        for flow in ("dealer_order", "charge_box_installation", "shop_order", "prepaid_service")
    ]
    for view in views:
        await console_stack.recorded(view.order_id, lambda v: True, "the order")
    page = await sign_in(context, console_stack, console_stack.keys["admin"])
    from flows.catalog import FLOW_NAMES

    for flow in FLOW_NAMES:
        await page.goto(f"{console_stack.base_url}/console/flows/{flow}")
        tabs = page.locator("nav.tabs a.tab")
        count = await tabs.count()
        assert count >= 4, flow
        for i in range(count):
            tab = tabs.nth(i)
            shown = int(await tab.locator(".count").inner_text())
            await tab.click()
            await page.wait_for_load_state()
            rows = await page.locator("table.orders tbody tr").count()
            assert rows == min(shown, 25), (flow, i, shown, rows)
            assert await page.locator("nav.tabs a[aria-current=page] .count").inner_text() == str(
                shown
            )
    # A created order is on its flow's first tab, with its countdown.
    await page.goto(f"{console_stack.base_url}/console/flows/dealer_order?status=new")
    row = page.locator("tr", has=page.locator(f"text={views[0].order_id}"))
    assert "in " in await row.locator(".countdown").inner_text()


async def test_countdown_moves(context: Any, console_stack: ConsoleStack) -> None:
    view = await console_stack.start("prepaid_service")
    assert view.next_deadline is not None
    page = await sign_in(context, console_stack, console_stack.keys["support"])
    await page.clock.install(time=datetime.now(UTC))
    await page.goto(f"{console_stack.base_url}/console/orders/{view.order_id}")
    countdown = page.locator(".deadline .countdown")
    before = await countdown.inner_text()
    assert before.startswith("in 23 h") or before.startswith("in 24 h"), before
    await page.clock.fast_forward("02:00:00")
    after = await ticked(page, countdown, ("in 21 h", "in 22 h"))
    assert after.startswith("in 21 h") or after.startswith("in 22 h"), (before, after)
    await page.clock.fast_forward(25 * 3600 * 1000)
    late = await ticked(page, countdown, ("past due by",))
    assert late.startswith("past due by"), late


async def ticked(page: Any, countdown: Any, wanted: tuple[str, ...]) -> str:
    """The countdown's text after the page's clock ticks, at most five seconds of it.

    A refresh swapped in by the clock's jump shows the server's (real-time) words until
    the countdown's next tick redraws it from the page's clock.
    """
    text = ""
    for _ in range(5):
        await page.clock.run_for(1100)
        text = await countdown.inner_text()
        if text.startswith(wanted):
            break
    return text
    assert "order is cancelled automatically" in await page.locator(".consequence").inner_text()
    # A half-filled form survives the page's refreshes.
    dialog = await open_dialog(page, "cancel--support")
    await dialog.locator("textarea[name=reason]").fill("half a thought")
    refreshed = page.wait_for_event("response", lambda r: "/console/orders/" in r.url, timeout=0)
    await page.clock.run_for(40_000)
    assert await dialog.locator("textarea[name=reason]").input_value() == "half a thought"
    await dialog.locator("[data-close]").click()
    await page.clock.run_for(20_000)  # closed: the next refresh runs
    assert (await asyncio.wait_for(refreshed, 10)).ok


async def placed_dealer(stack: ConsoleStack) -> str:
    view = await stack.start("dealer_order")
    await stack.recorded(view.order_id, lambda v: v.amount_held > 0, "the card's hold")
    return view.order_id


async def test_ship_refund_and_cancel_dialogs(context: Any, console_stack: ConsoleStack) -> None:
    order_id = await placed_dealer(console_stack)
    page = await sign_in(context, console_stack, console_stack.keys["support"])
    await page.goto(f"{console_stack.base_url}/console/orders/{order_id}")
    dialog = await open_dialog(page, "accept--support")
    await dialog.locator("button[type=submit]").click()
    await wait_done(page, "accept")
    dialog = await open_dialog(page, "confirm--support")
    await dialog.locator("textarea[name=note]").fill("in stock")
    await dialog.locator("button[type=submit]").click()
    await wait_done(page, "confirm")
    dialog = await open_dialog(page, "mark_shipped--support")
    assert "Shipping captures 120.00 EUR held on the card" in await dialog.inner_text()
    await dialog.locator("textarea[name=tracking_numbers]").fill("1Z1\n1Z2")
    await dialog.locator("input[name=carrier]").fill("UPS")
    await dialog.locator("input[name=confirm]").check()
    await dialog.locator("button[type=submit]").click()
    await wait_done(page, "mark_shipped")
    assert "Shipped" in await page.locator(".badges").inner_text()
    assert "1Z1, 1Z2" in await page.locator(".flowblock").inner_text()

    dialog = await open_dialog(page, "refund--support")
    assert "Refund 120.00 EUR to the card" in await dialog.inner_text()
    await dialog.locator("textarea[name=reason]").fill("returned")
    await dialog.locator("input[name=confirm]").check()
    await dialog.locator("button[type=submit]").click()
    await wait_done(page, "refund")
    assert "refunded 120.00 EUR" in await page.locator(".badges").inner_text()
    timeline = await page.locator("ul.timeline").first.inner_text()
    assert "Refund" in timeline and "key support-" in timeline

    other = await placed_dealer(console_stack)
    await page.goto(f"{console_stack.base_url}/console/orders/{other}")
    dialog = await open_dialog(page, "cancel--support")
    await dialog.locator("input[name=confirm]").check()
    # The reason is required: the browser keeps the dialog open until it is given.
    await dialog.locator("button[type=submit]").click()
    assert await dialog.is_visible()
    await dialog.locator("textarea[name=reason]").fill("out of stock")
    await dialog.locator("button[type=submit]").click()
    await wait_done(page, "cancel")
    assert "Cancelled" in await page.locator(".badges").inner_text()


async def test_conflict_shown_in_place(context: Any, console_stack: ConsoleStack) -> None:
    order_id = await placed_dealer(console_stack)
    page = await sign_in(context, console_stack, console_stack.keys["support"])
    await page.goto(f"{console_stack.base_url}/console/orders/{order_id}")
    dialog = await open_dialog(page, "accept--support")
    # Someone else cancels the order while the dialog is open.
    await console_stack.act(order_id, "cancel", Role.provider, DEALER, reason="gone")
    await dialog.locator("button[type=submit]").click()
    error = dialog.locator(".result .error")
    await error.wait_for()
    assert (await error.inner_text()).startswith("409")
    assert await dialog.is_visible()  # the dialog stays, with the API's reason in it


async def test_csrf_missing_is_refused(context: Any, console_stack: ConsoleStack) -> None:
    order_id = await placed_dealer(console_stack)
    page = await sign_in(context, console_stack, console_stack.keys["support"])
    await page.goto(f"{console_stack.base_url}/console/orders/{order_id}")
    dialog = await open_dialog(page, "accept--support")
    await page.evaluate(
        """() => {
        document.querySelectorAll('input[name=csrf]').forEach(e => e.remove());
        document.body.removeAttribute('hx-headers');
    }"""
    )
    await dialog.locator("button[type=submit]").click()
    error = dialog.locator(".result .error")
    await error.wait_for()
    assert "403" in await error.inner_text() and "security token" in await error.inner_text()
    view = await console_stack.recorded(order_id, lambda v: True, "the order")
    assert view.dealer is not None and view.dealer.accepted_at is None


async def test_revoked_key_signed_out(context: Any, console_stack: ConsoleStack) -> None:
    name, key = console_stack.new_key("support")
    page = await sign_in(context, console_stack, key)
    console_stack.revoke(name)
    await asyncio.sleep(console_stack.settings.api_key_cache_seconds + 0.2)
    await page.reload()
    assert "/console/login" in page.url
    assert "revoked" in await page.locator(".notice").inner_text()


async def test_fulfil_now_and_schedule(context: Any, console_stack: ConsoleStack) -> None:
    first = (await console_stack.start("charge_box_installation")).order_id
    second = (await console_stack.start("charge_box_installation")).order_id
    page = await sign_in(context, console_stack, console_stack.keys["support"])
    await page.goto(f"{console_stack.base_url}/console/orders/{second}")
    dialog = await open_dialog(page, "fulfil--support")
    assert "Fulfil now or schedule" in await dialog.inner_text()
    # Scheduled in the order's zone (Europe/Copenhagen): 10:00 there is 09:00 UTC in winter.
    day = (datetime.now(UTC) + timedelta(days=40)).date()
    schedule = dialog.locator("form[action$='schedule--support']")
    await schedule.locator("input[name=at]").fill(f"{day.isoformat()}T10:00")
    await schedule.locator("button[type=submit]").click()
    await wait_done(page, "schedule")
    assert "Scheduled" in await page.locator(".badges").inner_text()
    view = await console_stack.recorded(second, lambda v: v.status == "scheduled", "scheduled")
    assert view.installation is not None and view.installation.scheduled_for is not None
    local = view.installation.scheduled_for.astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Copenhagen")
    )
    assert (local.date(), local.hour) == (day, 10)

    await page.goto(f"{console_stack.base_url}/console/orders/{first}")
    # The shortcuts the seed names are one click away.
    assert await page.locator("form.shortcut", has_text="Initiate installation").count() == 1
    await page.locator("form.shortcut button", has_text="Resend order confirmation").click()
    await wait_done(page, "resend_order_confirmation")
    dialog = await open_dialog(page, "fulfil--support")
    now_form = dialog.locator("form[action$='fulfil--support']")
    assert "Fulfilling charges 899.00 EUR" in await now_form.inner_text()
    await now_form.locator("input[name=confirm]").check()
    await now_form.locator("button[type=submit]").click()
    await wait_done(page, "fulfil")
    assert "Fulfilled" in await page.locator(".badges").inner_text()


async def test_resolve_claim(context: Any, console_stack: ConsoleStack) -> None:
    # An appointment about to start (one in the past is refused at creation), confirmed and
    # paid before it does, so the provider may mark it done once it has started.
    start = datetime.now(UTC) + timedelta(seconds=15)
    view = await console_stack.start(
        "prepaid_service",
        appointment=Appointment(start=start, duration_minutes=60, time_zone="Europe/Berlin"),
    )
    order_id = view.order_id
    await console_stack.act(order_id, "confirm", Role.provider, PROVIDER.id)
    await console_stack.act(order_id, "pay", Role.customer, CUSTOMER.id, payment_method="pm_x")
    await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.5)
    await console_stack.act(order_id, "mark_done", Role.provider, PROVIDER.id)
    claimed = await console_stack.act(
        order_id, "open_claim", Role.customer, CUSTOMER.id, reason="did not show up"
    )
    assert claimed.status == "claim_open"
    page = await sign_in(context, console_stack, console_stack.keys["support"])
    await page.goto(f"{console_stack.base_url}/console/orders/{order_id}")
    dialog = await open_dialog(page, "resolve_claim--support")
    assert "up to 120.00 EUR is refundable" in await dialog.inner_text()
    await dialog.locator("select[name=outcome]").select_option("partial_refund")
    await dialog.locator("input[name=amount]").fill("30.00")
    await dialog.locator("input[name=confirm]").check()
    await dialog.locator("button[type=submit]").click()
    await wait_done(page, "resolve_claim")
    assert "Closed" in await page.locator(".badges").inner_text()
    assert "refunded 30.00 EUR" in await page.locator(".badges").inner_text()


async def test_resend_failed_email(context: Any, console_stack: ConsoleStack) -> None:
    view = await console_stack.start(
        "prepaid_service", customer=Party(id="cus-bounce2", name="Bo", email=REFUSED_EMAIL)
    )
    await console_stack.recorded(
        view.order_id, lambda v: any(n.status == "failed" for n in v.notifications), "failure"
    )
    page = await sign_in(context, console_stack, console_stack.keys["support"])
    await page.goto(console_stack.base_url + "/console")
    row = page.locator("table.queue tr", has=page.locator(f"text={view.order_id}"))
    assert "email created failed" in await row.inner_text()
    await page.goto(f"{console_stack.base_url}/console/orders/{view.order_id}")
    resend = page.locator("tr.mail-failed button", has_text="Resend")
    console_stack.fakes.refused_addresses.discard(REFUSED_EMAIL)
    try:
        await resend.first.click()
        await wait_done(page, "resend_email")
        await console_stack.recorded(
            view.order_id,
            lambda v: any(
                n.status == "sent" and n.recipient_role == "customer" for n in v.notifications
            ),
            "the resent email",
        )
    finally:
        console_stack.fakes.refused_addresses.add(REFUSED_EMAIL)
    await page.reload()
    assert await page.locator("tr.mail-sent", has_text="customer").count() >= 1


async def test_keyboard_and_phone(browser: Any, console_stack: ConsoleStack) -> None:
    order_id = await placed_dealer(console_stack)
    ctx = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = await sign_in(ctx, console_stack, console_stack.keys["admin"])
        await page.goto(f"{console_stack.base_url}/console/flows/dealer_order")
        await page.keyboard.press("j")
        assert await page.locator("tr.selected").count() == 1
        await page.keyboard.press("/")
        assert await page.evaluate("document.activeElement.id") == "search"
        await page.keyboard.type(order_id)
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(rf"/console/orders/{order_id}$"))
        # Nothing wider than the phone's screen.
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, width
        assert await page.locator("a", has_text="Open in the Temporal Web UI").count() == 1
    finally:
        await ctx.close()


async def test_screenshots(context: Any, console_stack: ConsoleStack, tmp_path: Path) -> None:
    """The main pages, for docs/console.md (ORDERCLOCK_CONSOLE_SCREENSHOTS=docs/console)."""
    target = Path(os.environ.get("ORDERCLOCK_CONSOLE_SCREENSHOTS") or tmp_path)
    await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True)
    order_id = await placed_dealer(console_stack)
    # The queue's kinds of rows: a deadline within the horizon, a flagged order, an email
    # that failed.
    soon = (await console_stack.start("charge_box_installation")).order_id
    at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    await console_stack.act(soon, "schedule", Role.support, None, at=at)
    flagged = (await console_stack.start("charge_box_installation")).order_id
    await console_stack.act(
        flagged, "update_payment_method", Role.customer, CUSTOMER.id, payment_method=DECLINE
    )
    at = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    await console_stack.act(flagged, "schedule", Role.support, None, at=at)
    bounced = await console_stack.start(
        "prepaid_service", customer=Party(id="cus-bounce3", name="Bo", email=REFUSED_EMAIL)
    )
    await console_stack.recorded(flagged, lambda v: v.needs_attention, "the flag")
    await console_stack.recorded(
        bounced.order_id, lambda v: any(n.status == "failed" for n in v.notifications), "failure"
    )
    page = await context.new_page()
    await page.goto(console_stack.base_url + "/console/login")
    await page.screenshot(path=str(target / "sign-in.png"))
    await page.close()
    page = await sign_in(context, console_stack, console_stack.keys["admin"])
    shots = {
        "needs-attention.png": "/console",
        "dealer-tabs.png": "/console/flows/dealer_order",
        "order.png": f"/console/orders/{order_id}",
        "customer.png": f"/console/customers/{CUSTOMER.id}",
    }
    for name, path in shots.items():
        await page.goto(console_stack.base_url + path)
        await page.screenshot(path=str(target / name), full_page=True)
    await page.goto(f"{console_stack.base_url}/console/orders/{order_id}")
    await open_dialog(page, "cancel--support")
    await page.screenshot(path=str(target / "cancel-dialog.png"))
    for name in [*shots, "sign-in.png", "cancel-dialog.png"]:
        assert (target / name).stat().st_size > 10_000
