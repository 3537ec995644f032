"""The staff console in a real headless Chromium (Debian's, driven by Playwright).

Signs in with the keyboard, opens the transcript of a conversation made over REST, changes a
request's status, and saves the README screenshots to ``docs/screenshots/staff-*.png``.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_booking_rest import book
from tests.e2e.test_staff_api import served_domain

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
TABLET = {"width": 800, "height": 1100}
ADMIN_PASSWORD = "correct horse battery staple"
HOSTILE = '<img src=x onerror="alert(1)"> <script>alert(2)</script> what is acupuncture?'
expect.set_options(timeout=30_000)


def opened(assistant, prefix: str) -> str:
    sender = f"{prefix}-{uuid.uuid4().hex[:10]}"
    assert len(assistant.send(sender, "/session_start")) == 2
    return sender


@pytest.fixture(scope="module")
def made_over_rest(assistant) -> dict[str, str]:
    """A few conversations so the list has something to show, and one booking to follow."""
    faq = opened(assistant, "web")
    assistant.texts(faq, "does acupuncture hurt?")
    hostile = opened(assistant, "web")
    assistant.texts(hostile, HOSTILE)
    emergency = opened(assistant, "web")
    assistant.texts(emergency, "I have the worst headache of my life, it came on suddenly")
    booking = opened(assistant, "web")
    reference = book(assistant, booking, served_domain())
    return {"booking": booking, "reference": reference, "hostile": hostile}


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/staff/conversations")
    expect(page).to_have_url(re.compile(r"/staff/login\?next="))
    page.get_by_label("Username").focus()
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/staff/conversations")


def test_staff_console_in_a_browser(assistant, browser, made_over_rest):
    base = assistant.web_url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # a wrong password shows a clear message and keeps the username; then sign in (keyboard)
    page.goto(f"{base}/staff/login")
    expect(page.get_by_label("Username")).to_be_focused()
    page.screenshot(path=str(SCREENSHOTS / "staff-login.png"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.get_by_label("Username")).to_have_value("admin")
    expect(page.get_by_label("Password")).to_be_focused()
    sign_in(page, base)

    # the list, newest first, with flags
    booking, reference = made_over_rest["booking"], made_over_rest["reference"]
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=booking))
    expect(row).to_contain_text("Appointment requested")
    expect(row).to_contain_text(reference)
    expect(page.locator("tbody tr").first).to_contain_text(booking)
    page.screenshot(path=str(SCREENSHOTS / "staff-conversations.png"))

    # filter, then open the transcript
    page.get_by_label("Flag").select_option("appointment")
    page.get_by_label("Search messages").fill("I'd like to book")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"flag=appointment"))
    page.get_by_role("link", name=booking).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(booking)
    transcript = page.locator("ol.transcript")
    expect(transcript).to_contain_text("I'd like to book an appointment")
    expect(transcript).to_contain_text("book_appointment")
    expect(transcript).to_contain_text("action_submit_booking")
    expect(transcript).to_contain_text(f"booking_reference = {reference}")
    expect(page.locator(".facts")).to_contain_text("Appointment requested")
    page.screenshot(path=str(SCREENSHOTS / "staff-transcript.png"))

    # mark a message as misunderstood (a <details> form, no script)
    message = page.locator("li.msg.user").filter(has_text="next tuesday afternoon")
    message.get_by_text("Mark as misunderstood").click()
    message.get_by_label("Right intent").select_option("inform")
    message.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Correction saved.")
    expect(page.locator("li.msg.user").filter(has_text="next tuesday afternoon")).to_contain_text(
        "right intent inform")

    # change the request's status; the change shows who and when
    page.get_by_role("link", name=reference).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    page.get_by_label("Status").select_option("contacted")
    page.get_by_label("Note").fill("Called back, left a voicemail")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    history = page.locator("ol.history li").first
    expect(history).to_contain_text("admin")
    expect(history).to_contain_text("new → contacted")
    expect(history).to_contain_text("Called back, left a voicemail")
    expect(page.locator(".facts .status")).to_have_text("contacted")
    page.screenshot(path=str(SCREENSHOTS / "staff-request.png"))

    # untrusted text is shown as text, never run
    hostile = made_over_rest["hostile"]
    page.goto(f"{base}/staff/conversations/{hostile}")
    expect(page.locator("li.msg.user").filter(has_text="what is acupuncture?")).to_contain_text(
        '<img src=x onerror="alert(1)"> <script>alert(2)</script>')
    assert dialogs == []
    assert not [e for e in errors if "Content Security Policy" in e]

    # a tablet: same session, narrower layout
    tablet = context.new_page()
    tablet.set_viewport_size(TABLET)
    tablet.goto(f"{base}/staff/conversations")
    expect(tablet.get_by_role("link", name=booking)).to_be_visible()
    tablet.screenshot(path=str(SCREENSHOTS / "staff-conversations-tablet.png"))

    # sign out: the pages need signing in again
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/staff/login\?signed_out=1"))
    page.goto(f"{base}/staff/requests")
    expect(page).to_have_url(re.compile(r"/staff/login"))
    context.close()
