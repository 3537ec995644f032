"""The website widget for a Spanish-speaking patient: a real headless Chromium on the demo page.

The page is in Spanish for ``?lang=es`` (its language link) or a browser that prefers Spanish;
the widget's controls are then named in Spanish and the conversation starts in Spanish (the
page sends its language to the assistant with the start of the conversation). The replies
follow what the patient writes: a Spanish question gets the Spanish answer, "in English please"
switches to English, a Spanish red flag gets the Spanish emergency advice first. The expected
texts are the Spanish variations of ``domain.yml``'s responses, as Rasa chooses them.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Route, WebSocketRoute, expect

from actions.clinic import get_clinic
from channels.limits import REPLIES
from tests.conftest import render, variation
from tests.e2e.test_widget_browser import (
    SCREENSHOTS,
    WAIT_MS,
    QuietHandler,
    Widget,
    session_id,
    squash,
)

ES = {"language": "es", "booking_mode": "request"}  # the assistant fixture: no calendar
STARTED_IN_PAGE_LANGUAGE = (
    "the conversation did not start in the page's language: the widget sends it as "
    "customData, which the socket.io channel must read as the message's metadata "
    "(credentials.yml: metadata_key: customData)"
)
RED_FLAG = "se me duerme un lado de la cara y no puedo hablar bien"


def spanish(domain, response: str, **values) -> str:
    return render(domain, response, slots=ES, **values)


def english(domain, response: str, **values) -> str:
    return render(domain, response, slots={"language": "en"}, **values)


def domain_buttons(domain, response: str) -> list[str]:
    """The titles of the quick replies under a response's Spanish variation."""
    return [button["title"] for button in variation(domain, response, ES).get("buttons", [])]


@pytest.fixture()
def context(browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no conversation kept) whose language is US English."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    yield context
    context.close()


def expect_page_language(page: Page, language: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", language)
    heading = {"es": "Dolores de cabeza, migrañas y acupuntura",
               "en": "Headaches, migraines and acupuncture"}[language]
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    # the link to the other language, named in that language
    other, name = ("en", "English") if language == "es" else ("es", "Español")
    link = page.get_by_role("link", name=name, exact=True)
    expect(link).to_have_attribute("lang", other)
    expect(link).to_have_attribute("href", f"/?lang={other}")


def expect_opening(widget: Widget, domain, language: str) -> None:
    """The first bot messages of a new conversation: the privacy notice, then the disclaimer,
    in ``language``."""
    say = spanish if language == "es" else english
    messages = widget.page.locator(".rw-response .rw-message-text")
    expect(messages.nth(0), STARTED_IN_PAGE_LANGUAGE).to_have_text(
        squash(say(domain, "utter_privacy_notice")))
    expect(messages.nth(1)).to_have_text(squash(say(domain, "utter_disclaimer")))


def expect_reply(widget: Widget, said: str, text: str) -> None:
    """What the patient sees as the first answer to the message ``said``."""
    expect(widget.reply_to(said)).to_have_text(squash(text))


def ask(widget: Widget, said: str, text: str) -> None:
    widget.say(said)
    expect_reply(widget, said, text)


@pytest.mark.parametrize(("path", "locale"), [
    ("/?lang=es", "en-US"),  # the page's language link
    ("/", "es-US"),  # a browser that prefers Spanish (Accept-Language), no query
], ids=["lang-query", "browser-locale"])
def test_a_spanish_page_has_the_widget_and_the_conversation_in_spanish(
        assistant, browser, domain, path, locale):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale=locale)
    page = context.new_page()
    page.goto(assistant.web_url + path)
    expect_page_language(page, "es")
    expect(page).to_have_title(re.compile("pregunte a nuestro asistente"))
    # the clinic's hours as a Spanish reader reads them
    expect(page.locator(".facts")).to_contain_text(get_clinic().hours_text("es"))

    widget = Widget(page, "es")
    widget.open()
    widget.expect_controls()
    expect_opening(widget, domain, "es")

    ask(widget, "¿La acupuntura duele?", spanish(domain, "utter_faq/does_it_hurt"))
    ask(widget, "¿Qué es la acupuntura?", spanish(domain, "utter_faq/what_is_acupuncture"))
    [button] = domain_buttons(domain, "utter_faq/what_is_acupuncture")
    expect(page.get_by_role("button", name=button, exact=True)).to_be_visible()
    if path == "/?lang=es":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "widget-spanish.png"))
    # the answer's Spanish quick reply ("Pedir una cita") starts the booking in Spanish
    widget.press_reply(button, keyboard=True)
    expect_reply(widget, button, spanish(domain, "utter_booking_start"))
    widget.wait_for_bot(spanish(domain, "utter_ask_patient_name"))
    context.close()


def test_the_language_link_and_in_english_please(assistant, context, domain):
    """An English page, the patient follows "Español" before opening the chat: the chat starts
    in Spanish; "in English please" switches the replies; the "English" link brings the page
    back to English with the same conversation, which goes on in English."""
    page = context.new_page()
    page.goto(assistant.web_url + "/")
    expect_page_language(page, "en")
    expect(page.locator("button.rw-launcher")).to_have_attribute(
        "aria-label", Widget(page).words["open"])

    page.get_by_role("link", name="Español", exact=True).click()
    expect(page).to_have_url(re.compile(r"/\?lang=es$"))
    expect_page_language(page, "es")
    widget = Widget(page, "es")
    widget.open()
    widget.expect_controls()
    expect_opening(widget, domain, "es")
    ask(widget, "¿La acupuntura duele?", spanish(domain, "utter_faq/does_it_hurt"))

    ask(widget, "in English please", english(domain, "utter_language_switched"))
    ask(widget, "is acupuncture safe?", english(domain, "utter_faq/is_it_safe"))
    conversation = session_id(page)

    page.get_by_role("link", name="English", exact=True).click()
    expect(page).to_have_url(re.compile(r"/\?lang=en$"))
    expect_page_language(page, "en")
    widget = Widget(page, "en")
    widget.expect_controls()  # the chat stays open, its controls now in English
    assert session_id(page) == conversation
    expect_reply(widget, "¿La acupuntura duele?", spanish(domain, "utter_faq/does_it_hurt"))
    ask(widget, "who is the acupuncturist?", english(domain, "utter_faq/about_doctor"))


@pytest.mark.parametrize("path", ["/?lang=es", "/"], ids=["spanish-page", "english-page"])
def test_a_spanish_red_flag_gets_the_spanish_emergency_advice_first(
        assistant, context, domain, path):
    """On the Spanish page, and on the English page where a Spanish-speaking patient writes
    in Spanish from the first message."""
    page = context.new_page()
    page.goto(assistant.web_url + path)
    language = "es" if path == "/?lang=es" else "en"
    widget = Widget(page, language)
    widget.open()
    expect_opening(widget, domain, language)
    widget.say(RED_FLAG)
    expect_reply(widget, RED_FLAG, spanish(domain, "utter_emergency"))


class Connection:
    """The widget's connection to the assistant, which a test cuts like a lost network and
    brings back (socket.io's websocket and its HTTP long-polling both)."""

    def __init__(self, page: Page, rasa_url: str) -> None:
        self.up = True
        self.sockets: list[WebSocketRoute] = []
        page.route_web_socket(re.compile(r"/socket\.io/"), self._socket)
        page.route(f"{rasa_url}/socket.io/**", self._polling)

    def _socket(self, socket: WebSocketRoute) -> None:
        if not self.up:
            socket.close()
            return
        socket.connect_to_server()
        self.sockets.append(socket)

    def _polling(self, route: Route) -> None:
        if self.up:
            route.continue_()
        else:
            route.abort("internetdisconnected")

    def cut(self) -> None:
        self.up = False
        for socket in self.sockets:
            socket.close()
        self.sockets.clear()

    def restore(self) -> None:
        self.up = True


def test_a_lost_connection_is_told_in_spanish(assistant, context, domain):
    """A conversation started on the English page, continued on the Spanish page (its
    language link): while the connection is lost the header says so in Spanish, and once it
    is back the chat goes on."""
    page = context.new_page()
    connection = Connection(page, assistant.rasa_url)
    page.goto(assistant.web_url + "/")
    widget = Widget(page, "en")
    widget.open()
    expect_opening(widget, domain, "en")

    page.get_by_role("link", name="Español", exact=True).click()
    expect_page_language(page, "es")
    widget = Widget(page, "es")
    widget.expect_controls()
    connection.cut()
    status = page.get_by_role("status")
    expect(status).to_have_text(widget.words["connecting"], timeout=WAIT_MS)
    expect(page.get_by_role("textbox", name=widget.words["message"])).to_be_disabled()
    expect(page.locator(".rw-widget-container")).not_to_contain_text("Waiting for server")

    connection.restore()
    expect(status).to_have_count(0, timeout=WAIT_MS)
    ask(widget, "¿Dónde está la clínica?", spanish(domain, "utter_faq/location"))


def test_a_spanish_clinic_site_with_the_readme_snippet(assistant, context, domain, tmp_path):
    """A clinic's own Spanish site (``<html lang="es">``) pastes web/snippet.html: the widget
    takes the page's language, whatever the browser's."""
    snippet = (Path(__file__).resolve().parents[2] / "web" / "snippet.html").read_text()
    html = ("<!doctype html><html lang='es'><head><title>Clínica</title></head><body>"
            "<h1>Nuestra clínica</h1>" + snippet.replace("https://chat.yourclinic.example",
                                                         assistant.web_url) + "</body></html>")
    (tmp_path / "index.html").write_text(html, encoding="utf-8")
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    with ThreadingHTTPServer(("127.0.0.1", assistant.site_port), handler) as site:
        threading.Thread(target=site.serve_forever, daemon=True).start()
        try:
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{assistant.site_port}/")
            widget = Widget(page, "es")
            widget.open()
            widget.expect_controls()
            expect_opening(widget, domain, "es")
            ask(widget, "¿Quién es el acupunturista?", spanish(domain, "utter_faq/about_doctor"))
        finally:
            site.shutdown()


def test_a_too_long_message_is_answered_in_spanish(assistant, context, domain):
    """The widget's channel answers an over-long message itself (it never reaches the model),
    in the conversation's language."""
    page = context.new_page()
    page.goto(assistant.web_url + "/?lang=es")
    widget = Widget(page, "es")
    widget.open()
    expect_opening(widget, domain, "es")
    too_long = "Me duele la cabeza todos los días desde hace meses. " * 60  # over 2,000 chars
    widget.say(too_long)
    expect_reply(widget, squash(too_long), REPLIES["too_long"]["es"])
