"""A person, live, with two real browsers (Debian's headless Chromium driven by Playwright): a
staff member on the console's live page (``/staff/live``) and a patient in the website's chat
widget, each in a browser context of their own. The tests assert what each of them sees.

An open live page counts as a staff member signed in for live chats: each test signs its staff
out and marks them absent at the end (other e2e tests expect a request for a person to get the
leave-a-message flow), and ends the chats it opened. Screenshots for the README:
``docs/screenshots/staff-live.png`` and ``docs/screenshots/widget-live.png``.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import update
from sqlalchemy.engine import Engine

from actions import live, live_store, rasa_api
from actions.storage import get_engine, list_requests, utcnow
from staff.db import audit_entries
from tests.conftest import render
from tests.e2e.test_staff_api import manage
from tests.e2e.test_staff_browser import LAPTOP, SCREENSHOTS, sign_in
from tests.e2e.test_widget_browser import REFERENCE_RE, Widget, session_id

WAIT_MS = 30_000
QUIET_MS = 2_500  # a bot reply that should not come would have come by then (well under 1 s)
expect.set_options(timeout=WAIT_MS)

ASK = "i want to talk to a real person"
EMERGENCY = "worst headache of my life came on suddenly an hour ago"
REASON_ASKED = "The patient asked for a person"  # staff.context.LIVE_REASONS
RELEASED = "You're back with the clinic's assistant."  # staff.live.TEXTS
DONE_ACCEPTED = "You have the chat: the patient was told you joined."  # staff.live_views.DONE


def joined(name: str) -> str:
    return f"{name}, a member of the clinic's staff, has joined the chat."


def from_staff(name: str, text: str) -> str:
    return f"{name} (clinic staff): {text}"


@dataclass
class Cleanup:
    """What a test opened: closed, signed out, marked absent and ended after it."""

    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)

    def page(self, **options) -> Page:
        context = self.browser.new_context(**{"viewport": LAPTOP, **options})
        self.contexts.append(context)
        return context.new_page()


@pytest.fixture()
def engine(assistant) -> Engine:
    return live.ready(get_engine(assistant.database_url))


@pytest.fixture()
def cleanup(browser: Browser, engine: Engine, assistant) -> Iterator[Cleanup]:
    opened = Cleanup(browser)
    try:
        yield opened
    finally:
        for context in opened.contexts:
            for page in context.pages:  # signing out marks the staff member absent
                if "/staff/" in page.url and "/staff/login" not in page.url:
                    with contextlib.suppress(PlaywrightError):  # marked absent below
                        page.get_by_role("button", name="Sign out").click(timeout=5_000)
            context.close()
        for username in opened.staff:  # (also a console whose stream was still running)
            live_store.mark_absent(engine, username)
        for sender in opened.senders:
            end_chat_left_open(assistant, engine, sender)


def end_chat_left_open(assistant, engine: Engine, sender: str) -> None:
    """A chat a failed test left waiting or taken: ended, the conversation resumed."""
    chat = live_store.open_chat_of(engine, sender)
    if chat is None:
        return
    live_store.end_chat(engine, sender, chat.taken_by or "e2e-cleanup", "closed")
    rasa_api.append_events(sender, [rasa_api.resumed()], execute_side_effects=False,
                           base_url=assistant.rasa_url, token=assistant.api_token)


# ---- the two people --------------------------------------------------------------------------


def sign_in_as(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/staff/live")
    expect(page).to_have_url(re.compile(r"/staff/login\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/staff/live")


def open_live_page(page: Page, base: str) -> None:
    """The live page with its event stream open: from now on it updates by itself."""
    if "/staff/live" not in page.url:
        page.goto(f"{base}/staff/live")
    expect(page.get_by_role("heading", level=1)).to_have_text("Live chats")
    expect(page.locator("#presence-status")).to_have_attribute("data-available", "true")
    expect(page.locator("#live-stream-status")).to_have_attribute("data-stream", "open")


def mark_no_reload(page: Page) -> None:
    """A flag in the page's window: gone if the page is loaded again."""
    page.evaluate("() => { window.__noReload = true; }")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("() => window.__noReload === true"), "the page was reloaded"


def card_of(page: Page, sender: str) -> Locator:
    return page.locator(f'article.live-chat[data-sender="{sender}"]')


def chat_id_of(page: Page, sender: str) -> str:
    card = card_of(page, sender)
    expect(card).to_have_count(1)
    chat_id = card.get_attribute("data-chat-id")
    assert chat_id and chat_id.isdigit(), chat_id
    return chat_id


def patient(cleanup: Cleanup, base: str, domain) -> tuple[Page, Widget]:
    """A patient on the clinic's page with the chat widget open and its first messages shown
    (the widget shows bot messages one by one, 400 ms apart)."""
    page = cleanup.page()
    widget = Widget(page)
    page.goto(base + "/")
    widget.open()
    widget.wait_for_bot(render(domain, "utter_privacy_notice"))
    widget.wait_for_bot(render(domain, "utter_disclaimer"))
    return page, widget


def ask_for_a_person(widget: Widget, domain) -> None:
    widget.say(ASK)
    expect(widget.reply_to(ASK)).to_have_text(render(domain, "utter_live_waiting", minutes=2))


def bot_lines(widget: Widget) -> Locator:
    return widget.page.locator(".rw-response .rw-message-text")


def expect_no_more_bot_lines(widget: Widget, count: int) -> None:
    """No bot message after the ``count`` shown, for a while (a reply would have come)."""
    widget.page.wait_for_timeout(QUIET_MS)
    assert bot_lines(widget).count() == count, bot_lines(widget).all_inner_texts()[count:]


# ---- the tests -------------------------------------------------------------------------------


def test_request_accept_talk_both_ways_emergency_and_hand_back(assistant, domain, engine,
                                                               cleanup):
    base = assistant.web_url
    staff = cleanup.page()
    cleanup.staff.append("admin")
    sign_in(staff, base)
    open_live_page(staff, base)
    mark_no_reload(staff)

    # the patient asks for a person in the widget and is told someone will join
    patient_page, widget = patient(cleanup, base, domain)
    ask_for_a_person(widget, domain)
    sender = session_id(patient_page)
    cleanup.senders.append(sender)

    # the chat appears on the staff page by itself, with the reason and the patient's message
    card = card_of(staff, sender)
    expect(card).to_have_attribute("data-status", "waiting")
    chat_id = chat_id_of(staff, sender)
    expect(card.locator(".live-reason")).to_have_text(REASON_ASKED)
    expect(card.locator(".live-status")).to_have_text("Waiting for a person")
    messages = staff.locator(f"ol#messages-{chat_id}")
    expect(messages.locator("li.msg.user").filter(has_text=ASK)).to_have_count(1)
    expect(messages.locator("li.msg.bot").last).to_contain_text(
        render(domain, "utter_live_waiting", minutes=2))
    expect(staff.locator("#live-alert")).to_have_attribute("data-kind", "waiting")
    expect(staff.locator("#live-alert")).to_be_visible()
    assert_not_reloaded(staff)

    # staff accept; the patient reads who joined
    card.get_by_role("button", name="Accept").click()
    expect(staff.locator("#live-done")).to_have_text(DONE_ACCEPTED)
    expect(card).to_have_attribute("data-status", "taken")
    expect(card).to_have_attribute("data-taken-by", "admin")
    expect(card.locator(".live-status")).to_have_text("Taken by admin (you)")
    widget.wait_for_bot(joined("Admin"))

    # staff write; the patient reads it with who wrote it
    first = "Hello, this is the front desk. How can I help?"
    staff.locator(f"#reply-text-{chat_id}").fill(first)
    staff.locator(f"#reply-{chat_id}").get_by_role("button", name="Send").click()
    expect(staff.locator("#live-done")).to_have_text("Message sent.")
    expect(messages.locator("li.msg.bot.staff").last).to_contain_text(
        from_staff("Admin", first))
    expect(messages.locator("li.msg.bot.staff").last).to_contain_text("Staff · admin")
    widget.wait_for_bot(from_staff("Admin", first))
    open_live_page(staff, base)
    mark_no_reload(staff)

    # the patient writes: it appears on the staff page by itself, and the bot does not answer
    said = "Could I move my appointment on Thursday to Friday morning?"
    shown = bot_lines(widget).count()
    widget.say(said)
    expect(messages.locator("li.msg.user").last).to_contain_text(said)
    assert_not_reloaded(staff)
    expect_no_more_bot_lines(widget, shown)

    second = "Yes, Friday at 10:00 is free. I have moved it for you."
    staff.locator(f"#reply-text-{chat_id}").fill(second)
    staff.locator(f"#reply-{chat_id}").get_by_role("button", name="Send").click()
    widget.wait_for_bot(from_staff("Admin", second))
    widget.say("Thank you very much!")
    expect(messages.locator("li.msg.user").last).to_contain_text("Thank you very much!")
    expect(widget.page.locator(".rw-group-message.rw-from-client").last).to_contain_text(
        "Thank you very much!")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # the whole page from the top (the form's redirect scrolled to #chat-N), the chat's
    # latest messages in view
    staff.evaluate("() => { window.scrollTo(0, 0); document.querySelectorAll("
                   "'ol.live-messages').forEach(l => { l.scrollTop = l.scrollHeight; }); }")
    staff.screenshot(path=str(SCREENSHOTS / "staff-live.png"))
    patient_page.screenshot(path=str(SCREENSHOTS / "widget-live.png"))

    # an emergency during the live chat: the advice at once; the staff page flags the chat
    mark_no_reload(staff)
    widget.say(EMERGENCY)
    expect(widget.reply_to(EMERGENCY)).to_have_text(render(domain, "utter_emergency"))
    expect(card).to_have_attribute("data-emergency", "true")
    expect(card.locator(".flag-emergency")).to_have_text("Emergency")
    expect(staff.locator("#live-alert")).to_have_attribute("data-kind", "emergency")
    expect(staff.locator("#live-alert")).to_be_visible()
    expect(messages.locator("li.msg.user").last).to_contain_text(EMERGENCY)
    expect(card).to_have_attribute("data-status", "taken")  # still with the staff member
    assert_not_reloaded(staff)

    # hand back: the patient is told, the chat leaves the page, and the bot answers again
    card.get_by_role("button", name="Hand back to the assistant").click()
    expect(staff.locator("#live-done")).to_have_text("The patient is back with the assistant.")
    expect(card).to_have_count(0)
    widget.wait_for_bot(RELEASED)
    assert live_store.open_chat_of(engine, sender) is None
    question = "what are your opening hours?"
    widget.say(question)
    expect(widget.reply_to(question)).to_have_text(render(domain, "utter_faq/opening_hours"))

    # what the patient saw, in order: staff lines only while staff had the chat
    texts = [" ".join(t.split()) for t in bot_lines(widget).all_inner_texts()]
    start = texts.index(render(domain, "utter_live_waiting", minutes=2))
    assert texts[start + 1:start + 4] == [joined("Admin"), from_staff("Admin", first),
                                          from_staff("Admin", second)]
    assert texts.count(joined("Admin")) == 1


def test_two_staff_race_to_accept_and_one_wins(assistant, domain, engine, cleanup):
    base = assistant.web_url
    nurse = f"nurse.{uuid.uuid4().hex[:6]}"
    password = "a nurse's long passphrase"
    added = manage(assistant, "add-user", nurse, password=password)
    assert added.returncode == 0, added.stderr

    admin_page = cleanup.page()
    cleanup.staff.append("admin")
    sign_in(admin_page, base)
    open_live_page(admin_page, base)
    nurse_page = cleanup.page()
    cleanup.staff.append(nurse)
    sign_in_as(nurse_page, base, nurse, password)
    open_live_page(nurse_page, base)
    expect(nurse_page.locator("#available-staff")).to_contain_text("admin")

    patient_page, widget = patient(cleanup, base, domain)
    ask_for_a_person(widget, domain)
    sender = session_id(patient_page)
    cleanup.senders.append(sender)

    staff_pages = {"admin": admin_page, nurse: nurse_page}
    for page in staff_pages.values():
        expect(card_of(page, sender)).to_have_attribute("data-status", "waiting")
    chat_id = chat_id_of(admin_page, sender)
    assert chat_id_of(nurse_page, sender) == chat_id

    # both click Accept at (nearly) the same moment: the buttons are found first, then clicked
    # one right after the other (a DOM click each, no waiting in between). A page whose event
    # stream already showed the other's accept has no button any more: that one "clicked after"
    buttons = {}
    for name, page in staff_pages.items():
        button = card_of(page, sender).get_by_role("button", name="Accept")
        expect(button).to_be_enabled()
        buttons[name] = button.element_handle()
    clicked = {name: button.evaluate("b => { if (!b.isConnected) { return false; } "
                                     "b.click(); return true; }")
               for name, button in buttons.items()}
    assert any(clicked.values())
    for name, page in staff_pages.items():
        if clicked[name]:
            expect(page.locator("#live-done, #live-error")).to_be_visible()

    chat = live_store.open_chat_of(engine, sender)
    assert chat is not None and chat.status == "taken" and chat.taken_by in staff_pages
    winner = chat.taken_by
    [loser] = [name for name in staff_pages if name != winner]
    won, lost = staff_pages[winner], staff_pages[loser]

    # the winner has the chat and a reply box
    expect(won.locator("#live-done")).to_have_text(DONE_ACCEPTED)
    expect(won.locator("#live-error")).to_have_count(0)
    expect(card_of(won, sender).locator(".live-status")).to_have_text(
        f"Taken by {winner} (you)")
    expect(won.locator(f"#reply-text-{chat_id}")).to_be_visible()

    # the other is told who has it, and can neither reply nor accept nor hand back
    if clicked[loser]:
        expect(lost.locator("#live-error")).to_have_text(
            f"{winner} has already taken this conversation.")
    expect(lost.locator("#live-done")).to_have_count(0)
    lost_card = card_of(lost, sender)
    expect(lost_card).to_have_attribute("data-taken-by", winner)
    expect(lost_card.locator(".live-status")).to_have_text(f"Taken by {winner}")
    for form in ("reply", "accept", "release", "close"):
        expect(lost.locator(f"#{form}-{chat_id}")).to_have_count(0)

    # the patient reads one "has joined" line, of the one who won
    name = winner.split(".")[0].capitalize()
    widget.wait_for_bot(joined(name))
    shown = bot_lines(widget).count()
    expect_no_more_bot_lines(widget, shown)
    texts = [" ".join(t.split()) for t in bot_lines(widget).all_inner_texts()]
    assert [t for t in texts if "has joined the chat" in t] == [joined(name)]
    accepts = [e for e in audit_entries(engine, 500, action="live.accept")
               if e["target"] == sender]
    assert [e["username"] for e in accepts] == [winner]

    # the winner closes the chat: it leaves both pages
    card_of(won, sender).get_by_role("button", name="Close chat").click()
    expect(won.locator("#live-done")).to_have_text("Chat closed.")
    widget.wait_for_bot(f"{name} has ended the chat. Thank you for contacting the clinic.")
    open_live_page(lost, base)
    expect(card_of(lost, sender)).to_have_count(0)
    assert live_store.open_chat_of(engine, sender) is None


def test_no_one_accepts_and_the_patient_leaves_a_message(assistant, domain, engine, cleanup):
    base = assistant.web_url
    staff = cleanup.page()
    cleanup.staff.append("admin")
    sign_in(staff, base)
    open_live_page(staff, base)
    mark_no_reload(staff)

    patient_page, widget = patient(cleanup, base, domain)
    ask_for_a_person(widget, domain)
    sender = session_id(patient_page)
    cleanup.senders.append(sender)
    expect(card_of(staff, sender)).to_have_attribute("data-status", "waiting")

    # nobody accepts and the wait runs out (the delivery worker polls every 200 ms here)
    table = live_store.live_chats_table
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.open_key == sender)
                     .values(wait_until=utcnow() - timedelta(seconds=1)))
    unavailable = render(domain, "utter_live_unavailable")
    widget.wait_for_bot(unavailable)
    widget.wait_for_bot(render(domain, "utter_ask_patient_name"))
    texts = [" ".join(t.split()) for t in bot_lines(widget).all_inner_texts()]
    assert texts[-2:] == [unavailable, render(domain, "utter_ask_patient_name")]
    # the chat leaves the staff page by itself
    expect(card_of(staff, sender)).to_have_count(0)
    expect(staff.locator("#live-empty")).to_be_visible()
    assert_not_reloaded(staff)
    assert live_store.open_chat_of(engine, sender) is None

    # the patient leaves a message for staff instead: nothing is lost
    email = f"m.{uuid.uuid4().hex[:8]}@example.com"
    message = "Please call me back about moving my appointment to next week."
    widget.say("Maria Lopez")
    expect(widget.reply_to("Maria Lopez")).to_have_text(
        render(domain, "utter_ask_patient_contact"))
    widget.say(email)
    expect(widget.reply_to(email)).to_have_text(render(domain, "utter_ask_handoff_message"))
    widget.say(message)
    done = widget.reply_to(message)
    expect(done).to_contain_text(REFERENCE_RE)
    reference = REFERENCE_RE.search(done.inner_text()).group(0)
    expect(done).to_have_text(render(domain, "utter_handoff_submitted", name="Maria Lopez",
                                     reference=reference))
    [row] = [r for r in list_requests(get_engine(assistant.database_url))
             if r["sender_id"] == sender]
    assert (row["reference"], row["kind"], row["channel"], row["email"]) == (
        reference, "handoff", "socketio", email)
    assert message in row["message"]
    # and the front desk finds it in the console's requests
    staff.goto(f"{base}/staff/requests")
    expect(staff.get_by_role("link", name=reference)).to_be_visible()
