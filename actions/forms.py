"""The booking and hand-off forms: extracting and validating what the patient tells us.

Each ``extract_<slot>`` reads every message while the form is active, so a patient can give
several fields at once ("I'm Maria Lopez, 212 555 0123, next Tuesday afternoon") or correct one
later ("actually my number is ..."). Each ``validate_<slot>`` checks a value and, when it is the
slot just asked for and the value is unusable, sends a specific re-ask; after three failures on
the same slot it also offers the clinic's phone.
"""

from __future__ import annotations

import logging
import re
from abc import abstractmethod
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import appointments
from actions.clinic import Clinic, get_clinic
from actions.clinic import reply_language as language_of
from actions.contact import (
    find_email,
    find_phone,
    format_phone,
    looks_like_phone_attempt,
    without_contact,
)
from actions.slots import Slot, wish_from_text
from actions.when import (
    Parsed,
    Preferred,
    Problem,
    day_text,
    next_open_days,
    parse_preferred,
)

logger = logging.getLogger(__name__)

FORM_NAME = "booking_form"
MAX_FAILURES = 3
MAX_REASON_CHARS = 1000

# Slots that belong to one appointment request; cleared after submitting or cancelling.
BOOKING_SLOTS = (
    "patient_name",
    "patient_contact",
    "patient_phone",
    "patient_email",
    "preferred_time",
    "preferred_time_data",
    "visit_reason",
    "patient_status",
    "booking_confirmed",
    "booking_change_requested",
    "booking_failures",
    "channel_phone_declined",
    "appointment_slot",
    "appointment_offer",
    "appointment_matched",
    "appointment_page",
    "appointment_uid",
    "appointment_reference",
    "reschedule_reference",  # moving this calendar appointment (actions/followups.py)
    "reschedule_previous",
)
HANDOFF_SLOTS = ("handoff_message",)

# Messages with these intents never fill a slot: the form steps aside and a rule answers them
# (emergency advice first, cancelling, the hand-off to a person, "in English please").
INTERRUPTIONS = {"emergency", "cancel_form", "request_human", "request_forget_me",
                 "cancel_appointment", "other_language", "switch_language"}

# Intents that are something other than an answer to the form's question when phrased as one.
NOT_ANSWERS = {"faq", "out_of_scope", "bot_challenge", "help", "greet", "goodbye", "thank",
               "book_appointment", "ask_other_medical"}
_QUESTION_RE = re.compile(
    r"\?\s*$|^(what|how|why|when|where|who|which|is|are|do|does|can|could|will|would|should)\b"
    r"|^\s*¿|^(qué|cómo|cuándo|dónde|quién|cuál|cuánto|cuánta|por qué|puedo|puede|hay)\b",
    re.I,
)
_NAME_PREFIX_RE = re.compile(
    r"^\s*(?:(?:hi|hello|hey|ok|okay|sure|yes|yeah|hola|buenas|s[ií]|claro|bueno)[,.!\s]+)?"
    r"(?:(?:actually|sorry|perd[oó]n|disculpe)[,\s]+)?"
    r"(?:my (?:full )?name is|my name's|name is|name:|i am|i'm|im|it's|its|this is|call me|"
    r"me llamo|mi nombre (?:completo )?es|mi nombre:|nombre:|soy|le habla|habla)\s+",
    re.I,
)
_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '.-]+[^\W\d_]+)*\.?$")
_NAME_CUE_RE = re.compile(r"\bname\b|\bi am\b|\bi'm\b|\bthis is\b|\bme llamo\b|"
                          r"\bmi nombre\b|\bsoy\b", re.I)
# A name stated anywhere in a message: "..., I'm Liam Connor", "sorry, my name is actually ...".
_STATED_NAME_RE = re.compile(
    r"(?:\bmy (?:full )?name is|\bmy name's|\bname is|\bname:|\bi am|\bi'm|\bim|\bthis is|"
    r"\bcall me|\bme llamo|\bmi nombre (?:completo )?es|\bsoy)\s+"
    r"(?:actually\s+|en realidad\s+)?(?P<name>[^\W\d_]+(?:[ '-][^\W\d_]+){0,5})", re.I)
_EXPLICIT_NAME_RE = re.compile(r"\bname(?: is|'s|:)|\bme llamo\b|\bmi nombre (?:completo )?es",
                               re.I)
# Words that end a stated name ("I'm Tom Becker and my number is ...", "I'm a new patient").
_NOT_NAME_WORDS = frozenset("""
    a an the and or but with from at on in of for to my me your i so very just not no yes
    new returning patient looking calling writing interested having suffering trying here
    phone number cell mobile email e-mail contact please thanks thank sorry would like want
    need can could wondering hoping still also again really next this today tomorrow
    monday tuesday wednesday thursday friday saturday sunday morning afternoon evening
    january february march april may june july august september october november december
    dr doctor pain ache headache headaches migraine back neck head
    y o pero con para por que mi su un una paciente nuevo nueva número numero
    teléfono telefono celular correo cita quiero quisiera necesito gracias hoy mañana manana
    lunes martes miércoles miercoles jueves viernes sábado sabado domingo tarde noche
    doctor doctora dolor cabeza espalda cuello migraña migrana favor tengo estoy""".split())
_NEW_RE = re.compile(
    r"\b(new|first[- ]time|first visit|never been|haven'?t been|have not been|not been|"
    r"never visited|nuevo|nueva|primera vez|primera visita|nunca (?:he|hemos) (?:ido|venido|"
    r"estado)|no (?:he|hemos) (?:ido|venido|estado)|nunca fui|nunca vine)\b", re.I)
_STATUS_SAID_RE = re.compile(
    r"\b(?:(?P<new>new patient|first[- ]time patient|my first visit)|"
    r"(?P<returning>returning patient|existing patient|i've been before|i have been before)|"
    r"(?P<nuevo>paciente nuev[oa]|mi primera (?:vez|visita))|"
    r"(?P<regresa>ya soy paciente|ya (?:he|hemos) (?:ido|venido|estado) antes|"
    r"paciente (?:regular|de la cl[ií]nica)))\b",
    re.I)
_RETURNING_RE = re.compile(
    r"\b(returning|existing|been before|been there|been here|visited before|come before|"
    r"came before|regular|seen (?:dr|him|the doctor)|ya (?:he|hemos) (?:ido|venido|estado)|"
    r"ya fui|ya vine|ya estuve|(?:he|hemos) (?:ido|venido|estado) antes|ya soy paciente|"
    r"soy paciente|de regreso|me ha (?:visto|atendido))\b", re.I)


# "new patient" / "returning patient" as the read-back shows it, per reply language
STATUS_TEXT = {"en": ("returning patient", "new patient"),
               "es": ("paciente que ya ha venido", "paciente nuevo")}


def reply_language(tracker: Tracker) -> str:
    """The language the patient is answered in (the ``language`` slot): en or es."""
    return language_of(tracker.get_slot("language"))


def latest_intent(tracker: Tracker) -> str:
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message.get("text") or "").strip()


def is_answer(tracker: Tracker) -> bool:
    """Whether the latest message answers the form's question, rather than asking something."""
    intent = latest_intent(tracker)
    return not (intent in NOT_ANSWERS and _QUESTION_RE.search(latest_text(tracker)))


def mentions_contact(text: str) -> bool:
    """A phone number or e-mail in the message: a contact detail, not an answer to another slot."""
    return bool(find_phone(text, get_clinic().country) or find_email(text))


def is_bare_contact(tracker: Tracker) -> bool:
    """The answer to "what is the best phone number or e-mail address?" is just that: an address
    such as "forget.me@example.com" or "stop.smith@..." can look like "cancel" to the classifier,
    but a message that is a contact detail and at most two other words is an answer, not a
    request to stop. Emergencies are never overridden (the caller checks the intent first)."""
    if latest_intent(tracker) == "emergency" or \
            tracker.get_slot("requested_slot") != "patient_contact":
        return False
    text = latest_text(tracker)
    email = find_email(text)
    phone = find_phone(text, get_clinic().country)
    if not (email or phone):
        return False
    rest = re.sub(re.escape(email), " ", text, flags=re.I) if email else text
    return len(re.findall(r"[^\W\d_]+", rest)) <= 2  # words; a phone number's digits are none


def without_final_period(text: Any) -> str:
    """A time for the middle of a sentence that ends after it: "... a 12:00 p. m." without its
    abbreviation's period, so that "{wish}." does not end in "p. m.." (Spanish writes one)."""
    return str(text or "").rstrip().removesuffix(".")


def free_text(value: Any) -> str | None:
    """A reason or message with its whitespace tidied, or None when empty or too long."""
    text = " ".join(str(value or "").split())
    if sum(ch.isalpha() for ch in text) >= 2 and len(text) <= MAX_REASON_CHARS:
        return text
    return None


def entity_texts(tracker: Tracker, *labels: str) -> list[str]:
    return [
        str(e.get("value"))
        for e in tracker.latest_message.get("entities") or []
        if e.get("entity") in labels and e.get("value")
    ]


def clean_name(text: str) -> str:
    name = _NAME_PREFIX_RE.sub("", text).strip(" \t.,!;:")
    name = " ".join(name.split())
    if name and name == name.lower():
        name = " ".join(part.capitalize() for part in name.split(" "))
    return name


def stated_name(text: str) -> str | None:
    """The name after "my name is" / "I'm" / "this is" anywhere in the message, if it has at
    least two words before a word that cannot be part of a name."""
    for match in _STATED_NAME_RE.finditer(text):
        words = []
        for word in match.group("name").split():
            if word.lower() in _NOT_NAME_WORDS:
                break
            words.append(word)
        if len(words) >= 2:
            return clean_name(" ".join(words))
    return None


_SEGMENT_NAME_RE = re.compile(r"^[A-Z][^\W\d_]+(?:[ '-][A-Z][^\W\d_]+){1,3}$")


def name_segment(text: str) -> str | None:
    """"I'd like to book, Helen Ward, 718 555 0126": a part of the message between commas (or
    before "here") that is two to four capitalised words and nothing else."""
    for part in re.split(r"[,;.!?]| here\b", text):
        part = part.strip()
        if _SEGMENT_NAME_RE.match(part) and \
                not any(word.lower() in _NOT_NAME_WORDS for word in part.split()):
            return part
    return None


def name_before_contact(text: str) -> str | None:
    """"Marcus Reed, marcus.reed@example.com" / "Sofia Rossi 312 555 0199": the words before
    the contact detail, when the message gives both at once."""
    before = re.split(r"[\d+(]|\S+@", text, maxsplit=1)[0]
    name = clean_name(before)
    return name or None


def corrects_name(text: str) -> bool:
    """"Sorry, my name is actually John Smyth": a name given while the form asks for
    something else is a correction, not an answer to that question."""
    return bool(_EXPLICIT_NAME_RE.search(text)) and stated_name(text) is not None


def valid_name(name: str, clinic: Clinic) -> bool:
    words = name.split()
    return (
        2 <= len(words) <= 6
        and len(name) <= 100
        and bool(_NAME_RE.match(name))
        and clinic.practitioner.lower().replace("dr. ", "") not in name.lower()
        # "soy paciente nuevo", "I'm new patient": words that are never a whole name
        and not all(word.lower() in _NOT_NAME_WORDS for word in words)
    )


def patient_status_from(text: str, intent: str) -> str | None:
    """'new' or 'returning' from an answer to "Have you been to the clinic before?"."""
    if _NEW_RE.search(text):
        return "new"
    if _RETURNING_RE.search(text):
        return "returning"
    if intent == "affirm":
        return "returning"
    if intent == "deny":
        return "new"
    return None


# Channels whose conversation id is the patient's phone number (Twilio's ``From``).
PHONE_CHANNELS = frozenset({"twilio"})
_E164_RE = re.compile(r"^\+[1-9]\d{7,14}$")  # Twilio's From: the number as the network gave it
_THIS_NUMBER_RE = re.compile(
    r"\b(this|that|same|my|the) (number|phone|cell|one)\b|\bthis one\b|\buse (it|this)\b|"
    r"\btexting from\b|\b(este|ese|el mismo|mismo|mi) (n[uú]mero|tel[eé]fono|celular)\b|"
    r"\bel mismo\b|\bdesde (el que|este)\b|\b[uú]selo\b|\bese mismo\b", re.I)


def channel_phone(tracker: Tracker) -> str | None:
    """The number an SMS or WhatsApp patient writes from, in E.164 form, or None."""
    if tracker.get_latest_input_channel() not in PHONE_CHANNELS:
        return None
    number = (tracker.sender_id or "").removeprefix("whatsapp:")
    return number if _E164_RE.match(number) else None


def now_utc() -> datetime:
    """The current time; tests replace it to check dates against a fixed clock."""
    return datetime.now(timezone.utc)


class PatientDetailsValidation(FormValidationAction):
    """Name and contact details, shared by the booking and the hand-off forms."""

    @abstractmethod
    def name(self) -> str:
        """validate_<form name>"""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if self.interrupts(tracker):
            return []  # nothing extracted: the form is rejected and a rule answers instead
        return await super().run(dispatcher, tracker, domain)

    def interrupts(self, tracker: Tracker) -> bool:
        """Whether the latest message steps out of the form (see :data:`INTERRUPTIONS`)."""
        return latest_intent(tracker) in INTERRUPTIONS and not is_bare_contact(tracker)

    # ---------------------------------------------------------------- extraction

    async def extract_patient_name(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        clinic = get_clinic()
        text = latest_text(tracker)
        requested = tracker.get_slot("requested_slot") == "patient_name"
        stated = stated_name(text)
        if not stated and not tracker.get_slot("patient_name"):
            stated = name_segment(text)
        if requested and is_answer(tracker):
            if not mentions_contact(text) and not looks_like_phone_attempt(text):
                name = clean_name(text)
                if valid_name(name, clinic) or not (stated and valid_name(stated, clinic)):
                    return {"patient_name": name}
            else:
                name = name_before_contact(text)
                if name and valid_name(name, clinic):
                    return {"patient_name": name}
        # Anywhere in the form: "..., I'm Liam Connor", "sorry, my name is actually ...".
        if stated and valid_name(stated, clinic):
            return {"patient_name": stated}
        # Elsewhere in the form: a full name spaCy recognises, e.g. "Maria Lopez here, ...".
        if tracker.get_slot("patient_name") and not _NAME_CUE_RE.search(text):
            return {}
        for person in entity_texts(tracker, "PERSON"):
            # spaCy's English model calls Spanish words a PERSON ("Hola, quiero pedir una
            # cita": "pedir una cita"): a word that is never part of a name rules it out
            if valid_name(clean_name(person), clinic) and \
                    not any(word.lower() in _NOT_NAME_WORDS for word in person.split()):
                return {"patient_name": clean_name(person)}
        return {}

    async def extract_patient_contact(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        # The raw text; validate_patient_contact reads the phone and e-mail out of it.
        text = latest_text(tracker)
        if find_phone(text, get_clinic().country) or find_email(text):
            return {"patient_contact": text}
        if tracker.get_slot("requested_slot") == "patient_contact" and is_answer(tracker) and \
                not corrects_name(text):  # "me llamo Carmen Díaz": the name, not a contact
            # Offered the number they text from (action_ask_patient_contact): yes takes it.
            own = channel_phone(tracker)
            if own and not tracker.get_slot("channel_phone_declined") and \
                    (latest_intent(tracker) == "affirm" or _THIS_NUMBER_RE.search(text)):
                return {"patient_contact": own}
            return {"patient_contact": text}
        return {}

    # ---------------------------------------------------------------- validation

    def _failed(
        self, slot: str, response: str, dispatcher: CollectingDispatcher, tracker: Tracker,
        **values: Any,
    ) -> dict[str, Any]:
        """Reject a value: say why (only for the slot just asked), count, offer the phone."""
        if tracker.get_slot("requested_slot") != slot:
            return {slot: None}  # picked up in passing and unusable: dropped without a word
        failures = dict(tracker.get_slot("booking_failures") or {})
        failures[slot] = int(failures.get(slot, 0)) + 1
        dispatcher.utter_message(response=response, **values)
        if failures[slot] >= MAX_FAILURES:
            dispatcher.utter_message(response="utter_booking_call_instead")
        logger.info("Form: %s rejected (%s, failure %d)", slot, response, failures[slot])
        return {slot: None, "booking_failures": failures}

    def validate_patient_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if isinstance(value, str) and valid_name(value, get_clinic()):
            return {"patient_name": value}
        return self._failed("patient_name", "utter_invalid_patient_name", dispatcher, tracker)

    def validate_patient_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        clinic = get_clinic()
        own = channel_phone(tracker)
        if own and text == own:  # the number the patient texts from, as the network gave it
            return {"patient_contact": format_phone(own, clinic.country), "patient_phone": own,
                    "patient_email": tracker.get_slot("patient_email")}
        found_phone, found_email = find_phone(text, clinic.country), find_email(text)
        if found_phone or found_email:
            # A correction of one keeps the other ("actually my number is ...").
            phone = found_phone or tracker.get_slot("patient_phone")
            email = found_email or tracker.get_slot("patient_email")
            shown = [format_phone(phone, clinic.country)] if phone else []
            shown += [email] if email else []
            return {"patient_contact": " / ".join(shown), "patient_phone": phone,
                    "patient_email": email}
        if own and not tracker.get_slot("channel_phone_declined") and \
                latest_intent(tracker) == "deny" and \
                tracker.get_slot("requested_slot") == "patient_contact":
            # "No" to the number they text from: ask for another, without an error message
            return {"patient_contact": None, "channel_phone_declined": True}
        if "@" in text:
            response = "utter_invalid_email"
        elif looks_like_phone_attempt(text):
            response = "utter_invalid_phone"
        else:
            response = "utter_invalid_patient_contact"
        return self._failed("patient_contact", response, dispatcher, tracker)


class ValidateBookingForm(PatientDetailsValidation):
    """The appointment request: preferred time, reason, new or returning, confirmation; in
    calendar mode also the slot, held at once (``actions/appointments.py``)."""

    def name(self) -> str:
        return "validate_booking_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> list[str]:
        slots = list(domain_slots)
        if appointments.calendar_enabled() and "appointment_slot" not in slots:
            slots.insert(slots.index("booking_confirmed"), "appointment_slot")
        return slots

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        if not appointments.calendar_enabled() or self.interrupts(tracker):
            return events
        extra = self._offer_if_due(dispatcher, tracker, events)
        if any(e.get("name") == "requested_slot" for e in extra):
            # Rasa asks the first requested_slot it is given: the calendar failed, so not the
            # slot question that validation chose before
            events = [e for e in events if e.get("name") != "requested_slot"]
        return events + extra

    def _offer_if_due(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                      events: list[EventType]) -> list[EventType]:
        """Read the calendar when the slot question is next and nothing is on offer: the
        offer for action_ask_appointment_slot, or request mode when the calendar fails."""
        state = {**tracker.slots, **{e["name"]: e["value"] for e in events
                                     if e.get("event") == "slot"}}
        if not state.get("patient_status") or state.get("appointment_slot") or \
                state.get("appointment_offer"):
            return []
        if any(not state.get(slot) for slot in ("patient_name", "patient_contact",
                                                 "preferred_time", "visit_reason")):
            return []
        clinic = get_clinic()
        try:
            offered, matched = appointments.prepare_offer(
                clinic, appointments.wish_of(state.get("preferred_time_data")),
                state["patient_status"], now_utc(), int(state.get("appointment_page") or 0))
        except appointments.CalendarUnavailable:
            dispatcher.utter_message(response="utter_calendar_unavailable")
            return [SlotSet("appointment_slot", appointments.REQUEST_MODE),
                    SlotSet("requested_slot", "booking_confirmed")]
        if not offered:
            dispatcher.utter_message(response="utter_no_free_slots")
            return [SlotSet("appointment_slot", appointments.REQUEST_MODE),
                    SlotSet("requested_slot", "booking_confirmed")]
        return [SlotSet("appointment_offer", offered), SlotSet("appointment_matched", matched)]

    async def extract_appointment_slot(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "appointment_slot":
            return {}
        return {"appointment_slot": latest_text(tracker)}

    def validate_appointment_slot(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        if text == appointments.REQUEST_MODE or tracker.get_slot("requested_slot") != \
                "appointment_slot":
            return {"appointment_slot": value}
        clinic = get_clinic()
        offered = tracker.get_slot("appointment_offer") or []
        again = {"appointment_slot": None, "appointment_offer": None}
        language = reply_language(tracker)
        chosen = appointments.choice_from(text, offered, clinic, language=language)
        if chosen is None:
            if appointments.wants_call(text):
                return {"appointment_slot": appointments.REQUEST_MODE}
            if appointments.wants_more(text):
                return {**again, "appointment_page": int(tracker.get_slot("appointment_page")
                                                         or 0) + 1}
            parsed = self._parse(text, tracker)
            if parsed.value is not None:  # "what about Friday morning?"
                return {**again, "appointment_page": 0,
                        "preferred_time": parsed.value.describe(language=language),
                        "preferred_time_data": parsed.value.as_dict()}
            return self._failed("appointment_slot", "utter_invalid_appointment_slot",
                                dispatcher, tracker)
        try:
            held = appointments.hold_choice(clinic, chosen, tracker.get_slot("patient_status"),
                                            tracker.get_slot("visit_reason"),
                                            tracker.get_slot("patient_name"),
                                            tracker.get_slot("reschedule_reference"))
        except appointments.CalendarUnavailable:
            dispatcher.utter_message(response="utter_calendar_unavailable")
            return {"appointment_slot": appointments.REQUEST_MODE}
        if held is None:
            dispatcher.utter_message(response="utter_slot_taken")
            return {**again, "appointment_page": 0}
        uid, reference = held
        appointments.release(tracker.get_slot("appointment_uid"))  # a slot held before
        return {"appointment_slot": chosen.start.isoformat(), "appointment_uid": uid,
                "appointment_reference": reference,
                "preferred_time": chosen.describe(clinic.tz, language=language)}

    async def extract_preferred_time(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        requested = tracker.get_slot("requested_slot") == "preferred_time"
        mentioned = entity_texts(tracker, "DATE", "TIME")
        if requested and is_answer(tracker) and not mentions_contact(latest_text(tracker)) \
                and not corrects_name(latest_text(tracker)):
            return {"preferred_time": latest_text(tracker)}
        if mentioned:
            # Only a usable time is taken from a message that was about something else; its
            # phone number or e-mail is blanked out first ("212-555-0123, next Tuesday at 3").
            text = " ".join(without_contact(latest_text(tracker), get_clinic().country).split())
            parsed = self._parse(text, tracker)
            if parsed.value is not None:
                return {"preferred_time": text}
        return {}

    async def extract_visit_reason(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = latest_text(tracker)
        requested = tracker.get_slot("requested_slot") == "visit_reason"
        if requested and is_answer(tracker) and not mentions_contact(text) and \
                not corrects_name(text):
            return {"visit_reason": text}
        return {}

    async def extract_patient_status(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "patient_status":
            # Said in passing ("Hi, I'm Samuel Ortiz, returning patient, ..."): only plain words.
            said = _STATUS_SAID_RE.search(latest_text(tracker))
            if said and not tracker.get_slot("patient_status"):
                new = said.group("new") or said.group("nuevo")
                return {"patient_status": "new" if new else "returning"}
            return {}
        if not is_answer(tracker):
            return {}
        status = patient_status_from(latest_text(tracker), latest_intent(tracker))
        return {"patient_status": status or latest_text(tracker)}

    async def extract_booking_confirmed(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "booking_confirmed":
            return {}
        intent = latest_intent(tracker)
        if intent == "affirm":
            return {"booking_confirmed": True}
        if intent == "deny":
            return {"booking_confirmed": False}
        return {}

    @staticmethod
    def _parse(text: str, tracker: Tracker) -> Parsed:
        return parse_preferred(text, get_clinic(), now_utc(), language=reply_language(tracker))

    def validate_preferred_time(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        language = reply_language(tracker)
        parsed = self._parse(str(value or ""), tracker)
        if parsed.value is not None:
            return {"preferred_time": parsed.value.describe(language=language),
                    "preferred_time_data": parsed.value.as_dict()}
        clinic = get_clinic()
        wish = wish_from_text(str(value or ""), clinic, now_utc(), language=language) \
            if appointments.calendar_enabled() else None
        if wish is not None:  # "as soon as possible", "any morning this week"
            return {"preferred_time": wish.describe(language=language), "preferred_time_data":
                    {"wish": wish.as_dict()}}
        values: dict[str, Any] = {}
        if parsed.problem in (Problem.CLOSED_DAY, Problem.OUTSIDE_HOURS) and parsed.day:
            values["day"] = day_text(parsed.day, language)
            hours = clinic.hours_on(parsed.day.weekday())
            values["hours"] = without_final_period(
                Preferred(parsed.day, hours[0], hours[1], exact=False)
                .describe(language=language).split(", ")[1] if hours else ""
            )
            values["alternatives"] = (" o " if language == "es" else " or ").join(
                next_open_days(clinic, parsed.day, language=language))
        problem = parsed.problem or Problem.NO_DATE
        return self._failed("preferred_time", f"utter_invalid_preferred_time_{problem.value}",
                            dispatcher, tracker, **values)

    def validate_visit_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = free_text(value)
        if text is not None:
            return {"visit_reason": text}
        too_long = len(" ".join(str(value or "").split())) > MAX_REASON_CHARS
        response = "utter_invalid_visit_reason" + ("_too_long" if too_long else "")
        return self._failed("visit_reason", response, dispatcher, tracker)

    def validate_patient_status(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value in ("new", "returning"):
            return {"patient_status": value}
        return self._failed("patient_status", "utter_invalid_patient_status", dispatcher, tracker)

    def validate_booking_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is True:
            return {"booking_confirmed": True}
        # "No": ask what to change; the summary is shown again after the change.
        return {"booking_confirmed": None, "booking_change_requested": True}


class ValidateHandoffForm(PatientDetailsValidation):
    """A message for the clinic's staff, from a patient who asked for a person."""

    def name(self) -> str:
        return "validate_handoff_form"

    def interrupts(self, tracker: Tracker) -> bool:
        # Asking for a person here ("yes, I'd like to leave a message, I'm ...", "please call
        # me back about ...") is what this form is for: an answer, not a reason to leave it.
        if latest_intent(tracker) == "request_human":
            return False
        # Whatever the patient writes for the staff is the message, unless it is an
        # emergency, "stop" or "in English please" ("I need to move my appointment, please
        # e-mail me" is a message).
        if tracker.get_slot("requested_slot") == "handoff_message" and \
                latest_intent(tracker) not in {"emergency", "cancel_form", "switch_language"}:
            return False
        return super().interrupts(tracker)

    async def extract_handoff_message(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = latest_text(tracker)
        requested = tracker.get_slot("requested_slot") == "handoff_message"
        if requested and is_answer(tracker) and not mentions_contact(text):
            return {"handoff_message": text}
        return {}

    def validate_handoff_message(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = free_text(value)
        if text is not None:
            return {"handoff_message": text}
        return self._failed("handoff_message", "utter_invalid_handoff_message", dispatcher,
                            tracker)


class ActionAskBookingConfirmed(Action):
    """Read the request back and ask the patient to confirm it."""

    def name(self) -> str:
        return "action_ask_booking_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("booking_change_requested"):
            dispatcher.utter_message(response="utter_booking_what_to_change")
            return [SlotSet("booking_change_requested", False)]
        status = tracker.get_slot("patient_status")
        held = tracker.get_slot("appointment_uid") and tracker.get_slot("appointment_slot") \
            not in (None, appointments.REQUEST_MODE)
        if held and tracker.get_slot("reschedule_reference"):
            dispatcher.utter_message(response="utter_reschedule_summary",
                                     reference=tracker.get_slot("reschedule_reference"),
                                     when=tracker.get_slot("preferred_time"),
                                     previous=tracker.get_slot("reschedule_previous"))
            return []
        dispatcher.utter_message(
            response="utter_booking_summary_slot" if held else "utter_booking_summary",
            name=tracker.get_slot("patient_name"),
            contact=tracker.get_slot("patient_contact"),
            when=tracker.get_slot("preferred_time"),
            reason=tracker.get_slot("visit_reason"),
            status=STATUS_TEXT[reply_language(tracker)][status == "new"],
        )
        return []


class ActionAskPatientContact(Action):
    """Ask for a phone number or e-mail; on SMS and WhatsApp, first offer the number the
    patient writes from (both forms ask with this action)."""

    def name(self) -> str:
        return "action_ask_patient_contact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        own = channel_phone(tracker)
        if own and not tracker.get_slot("channel_phone_declined"):
            dispatcher.utter_message(response="utter_ask_use_channel_phone",
                                     phone=format_phone(own, get_clinic().country))
        else:
            dispatcher.utter_message(response="utter_ask_patient_contact")
        return []


def carries_booking_details(tracker: Tracker) -> bool:
    """Whether a message has something the booking form keeps: a phone number or e-mail, a
    stated name, or a day and time the clinic could offer."""
    text = latest_text(tracker)
    clinic = get_clinic()
    if mentions_contact(text) or stated_name(text) or name_segment(text):
        return True
    if entity_texts(tracker, "DATE", "TIME"):
        cleaned = " ".join(without_contact(text, clinic.country).split())
        return parse_preferred(cleaned, clinic, now_utc(),
                               language=reply_language(tracker)).value is not None
    return False


class ActionBookingDetailsOutsideForm(Action):
    """"Hi, I'm Maria Lopez, 212 555 0123, next Tuesday afternoon" with no form running: the
    patient wants an appointment, so the booking form starts and keeps what it can read.
    Anything else classified as ``inform`` (a bare symptom) gets the rephrase request."""

    def name(self) -> str:
        return "action_booking_details_outside_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("pending_change_reference"):
            # the phone or e-mail asked for to cancel an appointment (actions/followups.py)
            from actions.followups import ActionRecordAppointmentChange

            return await ActionRecordAppointmentChange().run(dispatcher, tracker, domain)
        if not carries_booking_details(tracker):
            dispatcher.utter_message(response="utter_default")
            return []
        dispatcher.utter_message(response="utter_booking_start")
        return [FollowupAction(FORM_NAME)]


# The two choices under the offered times, per reply language (actions/appointments.py reads
# the replies: MORE_RE, CALL_RE).
OFFER_CHOICES = {"en": ("Other times", "Please call me instead"),
                 "es": ("Otras horas", "Prefiero que me llamen")}


class ActionAskAppointmentSlot(Action):
    """Offer the free slots ``validate_booking_form`` read from the calendar, as buttons
    (numbered replies on SMS), with "other times" and "please call me instead"."""

    def name(self) -> str:
        return "action_ask_appointment_slot"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        clinic = get_clinic()
        offered = [Slot.from_dict(raw) for raw in tracker.get_slot("appointment_offer") or []]
        language = reply_language(tracker)
        titles = [appointments.slot_title(s, clinic, language=language) for s in offered]
        buttons = [{"title": title, "payload": title} for title in titles]
        buttons += [{"title": title, "payload": title.lower()}
                    for title in OFFER_CHOICES.get(language, OFFER_CHOICES["en"])]
        matched = tracker.get_slot("appointment_matched") is not False
        dispatcher.utter_message(
            response="utter_offer_slots" if matched else "utter_offer_alternatives",
            buttons=buttons, wish=without_final_period(tracker.get_slot("preferred_time")))
        return []
