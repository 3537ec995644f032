"""Patients' contact details: phone numbers (normalised with ``phonenumbers``) and e-mails."""

from __future__ import annotations

import logging
import re

import phonenumbers

logger = logging.getLogger(__name__)

# A pragmatic address check (RFC 5322 in full accepts far more than patients type by mistake).
EMAIL_RE = re.compile(
    r"(?<![\w.+-])([A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24})(?![\w-])"
)


def find_email(text: str) -> str | None:
    """The first e-mail address in ``text``, lower-cased, or None."""
    match = EMAIL_RE.search(text)
    if not match:
        return None
    email = match.group(1).lower()
    local, _, domain = email.partition("@")
    if local.startswith(".") or local.endswith(".") or ".." in email:
        return None
    return email


def find_phone(text: str, region: str) -> str | None:
    """The first valid phone number in ``text`` in E.164 form (+15550100123), or None.

    ``region`` is the clinic's country (e.g. "US") for numbers written without a country code.
    """
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    for match in matcher:
        return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


def without_contact(text: str, region: str) -> str:
    """The text with its phone numbers and e-mail addresses blanked out, so that the digits of
    "212-555-0123" are not read as a date or a time."""
    text = EMAIL_RE.sub(lambda m: " " * len(m.group(0)), text)
    for match in phonenumbers.PhoneNumberMatcher(text, region,
                                                 leniency=phonenumbers.Leniency.POSSIBLE):
        text = text[:match.start] + " " * (match.end - match.start) + text[match.end:]
    return text


def looks_like_phone_attempt(text: str) -> bool:
    """True when the text has enough digits to be a (mistyped) phone number."""
    return sum(ch.isdigit() for ch in text) >= 5


def format_phone(e164: str, region: str) -> str:
    """A stored E.164 number as people read it in the clinic's country."""
    number = phonenumbers.parse(e164, region)
    if phonenumbers.region_code_for_number(number) == region:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
