"""The demo page and the widget's settings in the patient's language (web/app.py)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from jinja2 import Environment, FileSystemLoader, select_autoescape

from actions.clinic import get_clinic
from web.app import WIDGET_TEXTS, page_language, widget_config
from web.settings import WEB_DIR


def request(query: dict[str, str] | None = None, accept: str = "") -> SimpleNamespace:
    headers = {"accept-language": accept} if accept else {}
    return SimpleNamespace(args=query or {}, headers=headers)


@pytest.mark.parametrize(("query", "accept", "language"), [
    ({"lang": "es"}, "", "es"),
    ({"lang": "es-US"}, "en-US,en;q=0.9", "es"),  # the link wins over the browser
    ({"lang": "en"}, "es-US,es;q=0.9", "en"),
    ({}, "es-US,es;q=0.9", "es"),
    ({}, "es", "es"),
    ({}, "en-US,en;q=0.9,es;q=0.8", "en"),  # the browser's first choice
    ({}, "fr-FR,fr;q=0.9,es;q=0.5", "es"),  # the first one the assistant speaks
    ({"lang": "xx"}, "es-MX", "es"),  # an unknown choice falls back to the browser's
    ({}, "", "en"),
    ({}, "de-DE", "en"),
])
def test_the_page_language(query, accept, language):
    assert page_language(request(query, accept)) == language


def test_every_language_has_every_widget_text():
    keys = set(WIDGET_TEXTS["en"])
    assert {"subtitle", "inputTextFieldHint", "connectingText"} <= keys
    for language, texts in WIDGET_TEXTS.items():
        assert set(texts) == keys, language
        assert all(text.strip() for text in texts.values()), language


def test_the_widget_settings_carry_the_language_and_its_texts():
    clinic = get_clinic()
    spanish = widget_config(clinic, "http://127.0.0.1:5005", "es")
    assert spanish["customData"] == {"language": "es"}
    assert spanish["initPayload"] == "/session_start"
    assert (spanish["subtitle"], spanish["inputTextFieldHint"], spanish["connectingText"]) == (
        "Dolores de cabeza, acupuntura, citas", "Escriba su pregunta",
        "Conectando con el asistente…")
    unknown = widget_config(clinic, "http://127.0.0.1:5005", "xx")
    assert unknown["customData"] == {"language": "en"}
    assert unknown["inputTextFieldHint"] == WIDGET_TEXTS["en"]["inputTextFieldHint"]


def page(language: str) -> str:
    templates = Environment(loader=FileSystemLoader(str(WEB_DIR / "templates")),
                            autoescape=select_autoescape(["html"]))
    clinic = get_clinic()
    config = widget_config(clinic, "http://127.0.0.1:5005", language)
    return templates.get_template("index.html").render(
        clinic=clinic, lang=language, config_json=json.dumps(config))


def test_the_spanish_page():
    html = page("es")
    assert '<html lang="es">' in html
    assert '<a href="/?lang=en" hreflang="en" lang="en">English</a>' in html
    assert "Dolores de cabeza, migrañas y acupuntura" in html
    # the clinic's hours in Spanish, not the English line inside the Spanish page
    clinic = get_clinic()
    assert f"<dd>{clinic.hours_text('es')}</dd>" in html
    assert clinic.hours_text("en") not in html
    assert not re.search(r"\b(Visit us|Phone|Address|Hours|Skip to)\b", html)


def test_the_english_page():
    html = page("en")
    assert '<html lang="en">' in html
    assert '<a href="/?lang=es" hreflang="es" lang="es">Español</a>' in html
    assert f"<dd>{get_clinic().hours_text('en')}</dd>" in html
