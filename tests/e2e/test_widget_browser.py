"""The website widget as a patient uses it: a real headless Chromium on the demo page.

Debian's ``chromium`` driven by Playwright (no browser download). The page, the widget bundle
and the socket.io channel are the real ones ``make run`` serves. Screenshots land in
``docs/screenshots/`` for the README.
"""

from __future__ import annotations

import functools
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Locator, Page, expect

from actions.storage import get_engine, list_requests
from tests.conftest import render

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
REFERENCE_RE = re.compile(r"\bPMR-[A-Z2-9]{6}\b")
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)  # the machine may be busy: replies can take seconds


def squash(text: str) -> str:
    return " ".join(text.split())


# The widget's controls as a patient meets them (names read by a screen reader, the message box's
# placeholder, the header's line while the connection is lost), in each language of the page.
CONTROLS = {
    "en": {"open": "Open the chat with the clinic's assistant", "close": "Close the chat",
           "message": "Your message", "placeholder": "Type your question", "send": "Send",
           "fullscreen": "Full screen", "conversation": "Conversation",
           "subtitle": "Headaches, acupuncture, appointments",
           "connecting": "Connecting to the assistant…"},
    "es": {"open": "Abrir el chat con el asistente de la clínica", "close": "Cerrar el chat",
           "message": "Su mensaje", "placeholder": "Escriba su pregunta", "send": "Enviar",
           "fullscreen": "Pantalla completa", "conversation": "Conversación",
           "subtitle": "Dolores de cabeza, acupuntura, citas",
           "connecting": "Conectando con el asistente…"},
}


class Widget:
    """The chat widget on one page, driven like a patient does; ``language``: the page's, in
    which the widget's controls are named (CONTROLS)."""

    def __init__(self, page: Page, language: str = "en") -> None:
        self.page = page
        self.language = language
        self.hosts: set[str] = set()
        page.on("request", lambda request: self.hosts.add(urlsplit(request.url).netloc))

    @property
    def words(self) -> dict[str, str]:
        return CONTROLS[self.language]

    def open(self) -> None:
        launcher = self.page.locator("button.rw-launcher")
        textarea = self.page.locator("textarea.rw-new-message")
        # The widget re-renders its launcher while it connects; a key press that lands on the
        # replaced element is lost, so try again (a patient would just press again too).
        for _attempt in range(3):
            expect(launcher).to_have_attribute("aria-label", self.words["open"])
            launcher.press("Enter")  # keyboard only: focus the button, press Enter
            try:
                expect(textarea).to_be_visible(timeout=5_000)
                return
            except AssertionError:
                continue
        expect(textarea).to_be_visible()

    def expect_controls(self) -> None:
        """The open chat's controls are named in the page's language, and no icon inside them
        reads out the widget's own English alt text ("send", "close")."""
        words, page = self.words, self.page
        box = page.get_by_role("textbox", name=words["message"], exact=True)
        expect(box).to_be_visible()
        expect(box).to_have_attribute("placeholder", words["placeholder"])
        for name in ("send", "fullscreen", "close"):
            expect(page.get_by_role("button", name=words[name], exact=True).first
                   ).to_be_visible()
        expect(page.get_by_role("log", name=words["conversation"], exact=True)).to_be_visible()
        expect(page.locator(".rw-header")).to_contain_text(words["subtitle"])
        expect(page.locator(".rw-widget-container img[alt]:not([alt=''])")).to_have_count(0)

    def reply_to(self, said: str) -> Locator:
        """The first bot message after the patient's (latest) message ``said``."""
        asked = self.page.locator(".rw-group-message.rw-from-client").filter(
            has_text=said).last
        return asked.locator(
            "xpath=following-sibling::div[contains(@class, 'rw-from-response')][1]"
        ).locator(".rw-message-text").first

    def bot_texts(self) -> list[str]:
        texts = self.page.locator(".rw-response .rw-message-text").all_inner_texts()
        return [squash(t) for t in texts]

    def wait_for_bot(self, text: str) -> None:
        expect(self.page.locator(".rw-response .rw-message-text").filter(
            has_text=squash(text)[:80])).not_to_have_count(0, timeout=WAIT_MS)

    def say(self, text: str) -> None:
        box = self.page.locator("textarea.rw-new-message")
        box.fill(text)
        box.press("Enter")

    def press_reply(self, title: str, keyboard: bool = False) -> None:
        button = self.page.get_by_role("button", name=title).last
        expect(button).to_be_visible(timeout=WAIT_MS)
        if keyboard:
            button.focus()
            self.page.keyboard.press("Enter")
        else:
            button.click()


def session_id(page: Page) -> str:
    """The widget's conversation id (kept in localStorage, sent back after a reload)."""
    value = page.evaluate("() => JSON.parse(localStorage.getItem('chat_session')).session_id")
    assert isinstance(value, str) and value
    return value


def test_faq_booking_and_reload_in_a_real_browser(assistant, browser, domain):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    widget = Widget(page)
    page.goto(assistant.web_url + "/")
    expect(page).to_have_title(re.compile("Physical Medicine & Rehabilitation"))
    widget.open()
    widget.expect_controls()
    widget.wait_for_bot(render(domain, "utter_privacy_notice"))

    widget.say("how does acupuncture help with migraines?")
    widget.wait_for_bot(render(domain, "utter_faq/acupuncture_for_headaches"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-faq.png"))

    # The answer's "Book an appointment" quick reply is a real, focusable button.
    widget.press_reply("Book an appointment", keyboard=True)
    widget.wait_for_bot(render(domain, "utter_ask_patient_name"))
    widget.say("Maria Lopez")
    widget.wait_for_bot(render(domain, "utter_ask_patient_contact"))
    widget.say("212 555 0123")
    widget.wait_for_bot(render(domain, "utter_ask_preferred_time"))
    widget.say("next tuesday afternoon")
    widget.wait_for_bot(render(domain, "utter_ask_visit_reason"))
    widget.say("migraines twice a week")
    widget.wait_for_bot(render(domain, "utter_ask_patient_status"))
    widget.press_reply("I'm a new patient")
    widget.wait_for_bot("Name: Maria Lopez")
    widget.press_reply("Yes, send it")
    expect(page.locator(".rw-response").filter(has_text=REFERENCE_RE)).not_to_have_count(
        0, timeout=WAIT_MS)
    page.screenshot(path=str(SCREENSHOTS / "widget-booking.png"))
    [done] = [t for t in widget.bot_texts() if REFERENCE_RE.search(t)]
    reference = REFERENCE_RE.search(done).group(0)

    conversation = session_id(page)
    [row] = [r for r in list_requests(get_engine(assistant.database_url))
             if r["reference"] == reference]
    assert (row["sender_id"], row["channel"], row["name"]) == (
        conversation, "socketio", "Maria Lopez")

    # A reload keeps the conversation: the same id, the earlier messages, and Rasa goes on
    # with the same tracker.
    page.reload()
    expect(page.locator(".rw-response").filter(has_text=reference)).not_to_have_count(
        0, timeout=WAIT_MS)
    assert session_id(page) == conversation
    widget.say("what are your opening hours?")
    widget.wait_for_bot(render(domain, "utter_faq/opening_hours"))

    own = urlsplit(assistant.web_url).netloc
    chat = urlsplit(assistant.rasa_url).netloc
    assert widget.hosts <= {own, chat}, f"the page called other hosts: {widget.hosts}"
    context.close()


def test_widget_on_a_phone_screen(assistant, browser, domain):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    widget = Widget(page)
    page.goto(assistant.web_url + "/")
    widget.open()
    widget.wait_for_bot(render(domain, "utter_privacy_notice"))
    widget.say("what is acupuncture?")
    widget.wait_for_bot(render(domain, "utter_faq/what_is_acupuncture"))
    box = page.locator(".rw-conversation-container").bounding_box()
    assert box is not None and box["width"] <= 390
    page.screenshot(path=str(SCREENSHOTS / "widget-phone.png"))
    context.close()


def test_page_loads_nothing_from_other_hosts(assistant):
    page = requests.get(assistant.web_url + "/", timeout=10)
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "font-src 'self' data:" in policy
    assert not re.search(r"""(src|href)=["']https?://""", page.text)
    bundle = requests.get(assistant.web_url + "/webchat.js", timeout=10)
    assert bundle.status_code == 200 and "WebChat" in bundle.text
    assert "fonts.googleapis" not in bundle.text and "@import url(http" not in bundle.text


@pytest.mark.parametrize(("origin", "accepted"), [
    ("web", True),
    ("https://another-site.example", False),
])
def test_socket_accepts_only_the_clinic_site(assistant, origin, accepted):
    origin = assistant.web_url if origin == "web" else origin
    reply = requests.get(
        f"{assistant.rasa_url}/socket.io/", params={"EIO": "4", "transport": "polling"},
        headers={"Origin": origin}, timeout=10,
    )
    assert (reply.status_code == 200) is accepted, reply.text


def test_readme_snippet_embeds_the_widget_in_another_site(assistant, browser, domain, tmp_path):
    """A clinic pastes web/snippet.html (shown in the README) into its own site."""
    snippet = (Path(__file__).resolve().parents[2] / "web" / "snippet.html").read_text()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert snippet.strip() in readme, "README must show web/snippet.html as it is"
    html = ("<!doctype html><html lang='en'><head><title>Clinic site</title></head><body>"
            "<h1>Our clinic</h1>" + snippet.replace("https://chat.yourclinic.example",
                                                    assistant.web_url) + "</body></html>")
    (tmp_path / "index.html").write_text(html)
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    with ThreadingHTTPServer(("127.0.0.1", assistant.site_port), handler) as site:
        threading.Thread(target=site.serve_forever, daemon=True).start()
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{assistant.site_port}/")
            widget = Widget(page)
            widget.open()
            widget.wait_for_bot(render(domain, "utter_privacy_notice"))
            widget.say("who is the acupuncturist?")
            widget.wait_for_bot(render(domain, "utter_faq/about_doctor"))
            context.close()
        finally:
            site.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass
