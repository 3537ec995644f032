"""Runs last (file name): the logs of the whole end-to-end session carry no patient data.

Every other end-to-end test has talked to the same servers by now (REST, socket.io in a real
browser, SMS, the staff console), with names, phone numbers, e-mail addresses and symptoms. At the
default INFO level none of that may appear in any server's log.
"""

from __future__ import annotations

import re

PATIENT_DATA = [
    "Maria Lopez",  # the booking tests' patient
    "212 555 0123", "2125550123", "(212) 555-0123",
    "migraines twice a week",
    "what are your opening hours",
    "how does acupuncture help with migraines",
    "worst headache of my life",
    "I want to talk to a person",
]
PHONE_RE = re.compile(r"\+1555010\d{4}")  # the SMS tests' patients
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
CLINIC_ADDRESSES = {"frontdesk@clinic.example", "assistant@clinic.example"}


def test_logs_hold_no_message_text_names_phones_or_emails(assistant):
    logs = sorted(assistant.log_dir.glob("*.log"))
    assert {p.name for p in logs} >= {"rasa-server.log", "action-server.log", "web-server.log",
                                      "delivery-worker.log"}
    for path in logs:
        content = path.read_text(encoding="utf-8", errors="replace")
        assert content, f"{path.name} is empty: is the server logging at all?"
        for secret in PATIENT_DATA:
            assert secret.lower() not in content.lower(), f"{secret!r} in {path.name}"
        assert not PHONE_RE.search(content), f"a patient's phone number in {path.name}"
        emails = set(EMAIL_RE.findall(content)) - CLINIC_ADDRESSES
        assert not emails, f"e-mail addresses in {path.name}: {sorted(emails)[:3]}"
