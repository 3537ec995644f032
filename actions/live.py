"""A person, live: the assistant's side (docs/live-chat.md).

* :func:`start_live_chat` - the patient asked for a person (``action_offer_handoff``): when live
  chat is on, the clinic is open and a staff member is signed in and available, a live chat is
  opened (``actions.live_store``), the patient is told someone will join, and the conversation is
  paused (Rasa's ``ConversationPaused``: no bot replies until it is resumed, except emergencies,
  ``components/rasa_changes.py``).
* :func:`expire_waits` - the delivery worker's pass: a waiting chat no one accepted in time is
  resumed and given the leave-a-message flow through Rasa's API: the intent ``request_human``
  with the entity ``live_chat`` = ``unavailable``, so ``action_offer_handoff`` says no one is free
  (``utter_live_unavailable``) and the existing hand-off rule goes on to the message for staff
  (no new rule, no policy retraining).
* alert e-mails (``actions.live_alerts``) when no one is signed in at live-chat time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.engine import Engine

from actions import live_store, rasa_api
from actions.clinic import Clinic, get_clinic
from actions.forms import reply_language
from actions.settings import Settings, get_settings
from actions.storage import get_engine, utcnow

logger = logging.getLogger(__name__)

LIVE_ENTITY, UNAVAILABLE = "live_chat", "unavailable"
_TABLES_READY: set[str] = set()


def ready(engine: Engine) -> Engine:
    """``engine`` with the live-chat tables created (checked once per database per process)."""
    key = str(engine.url)
    if key not in _TABLES_READY:
        live_store.ensure_tables(engine)
        _TABLES_READY.add(key)
    return engine


def clinic_open(clinic: Clinic, now: datetime) -> bool:
    """Whether ``now`` (aware) is within the clinic's opening hours, in its time zone."""
    local = now.astimezone(clinic.tz)
    hours = clinic.hours_on(local.weekday())
    return hours is not None and hours[0] <= local.time().replace(tzinfo=None) < hours[1]


def live_chat_now(settings: Settings, clinic: Clinic, engine: Engine,
                  now: datetime | None = None) -> tuple[bool, list[str]]:
    """(can a live chat start now, the staff signed in and available). Live chat is off: (False,
    []); outside opening hours (unless LIVE_CHAT_HOURS=always): (False, [])."""
    if not settings.live_chat:
        return False, []
    now = now or utcnow()
    if settings.live_chat_hours != "always" and not clinic_open(clinic, now):
        return False, []
    staff = live_store.available_staff(engine, now)
    return bool(staff), staff


def live_chat_time(settings: Settings, clinic: Clinic, now: datetime) -> bool:
    """Live chat is on and it is live-chat time (opening hours, or always)."""
    return settings.live_chat and (settings.live_chat_hours == "always"
                                   or clinic_open(clinic, now))


def alert_if_no_one(settings: Settings, kind: str, sender_id: str,
                    now: datetime | None = None) -> bool:
    """At live-chat time with no one signed in and available, queue the alert e-mail
    (actions.live_alerts; once per conversation and kind). True when queued now."""
    from actions import live_alerts

    now = now or utcnow()
    if not settings.live_alerts or \
            not live_chat_time(settings, get_clinic(settings.clinic_config), now):
        return False
    engine = ready(get_engine(settings.database_url))
    if live_store.available_staff(engine, now):
        return False
    return live_alerts.queue_alert(engine, kind, sender_id, now)


async def alert_emergency(tracker: Tracker) -> None:
    """``action_emergency``: the conversation was flagged emergency; e-mail the clinic when no
    one is signed in (never fails the emergency reply)."""
    settings = get_settings()
    if not settings.live_chat or not settings.live_alerts:
        return
    try:
        await asyncio.to_thread(alert_if_no_one, settings, "emergency", tracker.sender_id)
    except Exception as exc:  # noqa: BLE001 - the advice has been given already
        logger.warning("Could not queue the emergency alert (%s)", type(exc).__name__)


def _open(settings: Settings, tracker: Tracker, now: datetime) -> tuple[int | None, int]:
    """Runs in a worker thread: (the open chat's id or None, staff available)."""
    clinic = get_clinic(settings.clinic_config)
    engine = ready(get_engine(settings.database_url))
    possible, staff = live_chat_now(settings, clinic, engine, now)
    if not possible:
        if not staff and live_chat_time(settings, clinic, now):  # e-mail the clinic instead
            alert_if_no_one(settings, "waiting", tracker.sender_id, now)
        return None, len(staff)
    channel = tracker.get_latest_input_channel() or "unknown"
    chat, _ = live_store.open_chat(engine, tracker.sender_id, channel, reply_language(tracker),
                                   "asked", timedelta(minutes=settings.live_wait_minutes), now)
    return chat.id, len(staff)


def wait_ran_out(tracker: Tracker) -> bool:
    """The delivery worker handed this conversation back: no one accepted the live chat."""
    return any(entity.get("entity") == LIVE_ENTITY and entity.get("value") == UNAVAILABLE
               for entity in tracker.latest_message.get("entities") or [])


async def start_live_chat(dispatcher: CollectingDispatcher,
                          tracker: Tracker) -> list[EventType] | None:
    """Open a live chat and pause the conversation, when one can start now; None otherwise (or
    when the clinic database fails: the patient then gets the leave-a-message flow)."""
    settings = get_settings()
    if not settings.live_chat or wait_ran_out(tracker):
        return None
    if not rasa_api.addressable(tracker.sender_id):  # staff could neither reply nor resume it
        logger.info("Live chat not offered: the conversation id cannot reach Rasa's API")
        return None
    try:
        opened, staff = await asyncio.to_thread(_open, settings, tracker, utcnow())
    except Exception as exc:  # noqa: BLE001 - the message for staff still works
        logger.warning("Could not open a live chat (%s); offering a message for staff",
                       type(exc).__name__)
        return None
    if opened is None:
        logger.info("Live chat not available now (%d staff available)", staff)
        return None
    dispatcher.utter_message(response="utter_live_waiting", minutes=settings.live_join_minutes)
    # (never the conversation's id in the log: an SMS conversation's id is a phone number)
    logger.info("Live chat %d opened; waiting for staff (%d available)", opened, staff)
    # action_listen first: the patient's messages while paused follow a listen, as Rasa logs
    # them, so the dialogue goes on normally once the conversation is resumed.
    return [SlotSet("flag_handoff", True), ActionExecuted("action_listen"), ConversationPaused()]


def _has_open_chat(settings: Settings, sender_id: str) -> bool:
    engine = ready(get_engine(settings.database_url))
    return live_store.open_chat_of(engine, sender_id) is not None


async def pause_if_live(sender_id: str) -> list[EventType]:
    """``action_session_start``: Rasa's ``SessionStarted`` clears the pause, so a conversation
    with an open live chat (waiting or taken) is paused again; [] otherwise or on failure."""
    settings = get_settings()
    if not settings.live_chat:
        return []
    try:
        live = await asyncio.to_thread(_has_open_chat, settings, sender_id)
    except Exception as exc:  # noqa: BLE001 - the session starts as before
        logger.warning("Could not check for a live chat (%s)", type(exc).__name__)
        return []
    return [ConversationPaused()] if live else []


def expire_waits(engine: Engine, settings: Settings, now: datetime | None = None,
                 api: Any = rasa_api) -> int:
    """The delivery worker's pass: every waiting chat whose wait ran out is marked expired and
    its conversation resumed with the leave-a-message flow. Returns how many were handed back.

    The hand-back is claimed in the database (``live_store.claim_hand_backs``) and recorded
    when Rasa took it, so one that failed (Rasa unreachable) or whose worker stopped is tried
    again on a later pass, by this worker or another."""
    live_store.expire_waiting(engine, now)
    handed_back = 0
    for chat in live_store.claim_hand_backs(engine, now):
        if live_store.open_chat_of(engine, chat.sender_id):  # staff took it up again since
            live_store.mark_handed_back(engine, chat.id, now)
            continue
        try:
            api.append_events(chat.sender_id, [api.resumed()], execute_side_effects=False)
            api.trigger_intent(chat.sender_id, "request_human",
                               entities={LIVE_ENTITY: UNAVAILABLE})
        except rasa_api.RasaApiError:  # already logged, without message text
            logger.warning("Live chat %d: its wait ran out but it could not be handed back "
                           "yet; trying again in %d s", chat.id,
                           live_store.HAND_BACK_LEASE.total_seconds())
            continue
        live_store.mark_handed_back(engine, chat.id, now)
        handed_back += 1
        logger.info("Live chat %d: the wait ran out; leave-a-message offered", chat.id)
    return handed_back
