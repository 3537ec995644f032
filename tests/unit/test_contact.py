"""Phone numbers are normalised; e-mails are checked."""

from __future__ import annotations

import pytest

from actions.contact import find_email, find_phone, format_phone, looks_like_phone_attempt


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("212 555 0123", "+12125550123"),
        ("my number is (646) 555-0187 thanks", "+16465550187"),
        ("+44 20 7946 0958", "+442079460958"),
        ("call 917.555.0142", "+19175550142"),
        ("12345", None),
        ("555 0123", None),
        ("no number here", None),
    ],
)
def test_find_phone_normalises_to_e164(text, expected):
    assert find_phone(text, "US") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Maria.Lopez@Example.org", "maria.lopez@example.org"),
        ("email me at j_carter+clinic@mail.example.com please", "j_carter+clinic@mail.example.com"),
        ("maria@example", None),
        ("maria..lopez@example.com", None),
        ("@example.com", None),
        ("<script>@x.com", None),
    ],
)
def test_find_email(text, expected):
    assert find_email(text) == expected


def test_format_phone_for_reading_back():
    assert format_phone("+12125550123", "US") == "(212) 555-0123"
    assert format_phone("+442079460958", "US") == "+44 20 7946 0958"


def test_digit_heavy_text_counts_as_a_phone_attempt():
    assert looks_like_phone_attempt("555-01")
    assert not looks_like_phone_attempt("next tuesday")
