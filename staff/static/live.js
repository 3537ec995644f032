// Live chats page: updates without reloading, from the server-sent events of
// /staff/live/events. The page works without this script (plain forms, reload); this only adds
// new patients, new messages, who took which chat, and an alert (sound, title) for a patient
// waiting or an emergency. No third-party code; no inline script (the console's CSP).
(function () {
  "use strict";
  var queue = document.getElementById("live-queue");
  if (!queue || !window.EventSource) { return; }
  var list = document.getElementById("live-chats");
  var empty = document.getElementById("live-empty");
  var alertBox = document.getElementById("live-alert");
  var statusLine = document.getElementById("live-stream-status");
  var baseTitle = document.title;
  var audio = null;

  function cardOf(sender) {
    var cards = list.querySelectorAll("article.live-chat");
    for (var i = 0; i < cards.length; i++) {
      if (cards[i].getAttribute("data-sender") === sender) { return cards[i]; }
    }
    return null;
  }

  function updateEmpty() {
    empty.hidden = list.querySelector("article.live-chat") !== null;
  }

  function beep() {
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) { return; }
      audio = audio || new Context();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.15;
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.25);
    } catch (e) { /* no sound: the title and the banner still say it */ }
  }

  function alertStaff(kind) {
    var text = kind === "emergency" ? "Emergency in a live chat" : "A patient is waiting for a person";
    alertBox.textContent = text + ".";
    alertBox.hidden = false;
    alertBox.setAttribute("data-kind", kind);
    document.title = (kind === "emergency" ? "\u26a0 Emergency \u00b7 " : "\u25cf Patient waiting \u00b7 ") + baseTitle;
    beep();
  }

  function clearAlert() {
    document.title = baseTitle;
    alertBox.hidden = true;
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { setTimeout(clearAlert, 4000); }
  });
  alertBox.addEventListener("click", clearAlert);

  var zone = queue.getAttribute("data-tz") || undefined;
  function timeText(iso) {  // the clinic's time zone, like the times the server writes
    if (!iso) { return ""; }
    var d = new Date(iso);
    try {
      return d.toLocaleTimeString("en-GB", {timeZone: zone, hour12: false});
    } catch (e) {
      return d.toLocaleTimeString("en-GB", {hour12: false});
    }
  }

  function scrollDown(messages) { messages.scrollTop = messages.scrollHeight; }

  function messageItem(item) {
    var li = document.createElement("li");
    li.className = "msg " + item.kind + (item.staff ? " staff" : "");
    if (item.event_id) { li.setAttribute("data-event-id", String(item.event_id)); }
    var meta = document.createElement("div");
    meta.className = "meta";
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = item.kind === "user" ? "Patient" : (item.staff ? "Staff \u00b7 " + item.staff : "Assistant");
    var time = document.createElement("time");
    time.setAttribute("datetime", item.at || "");
    time.textContent = timeText(item.at);
    meta.appendChild(who);
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(time);
    var text = document.createElement("p");
    text.className = "text";
    text.textContent = item.text || "";
    li.appendChild(meta);
    li.appendChild(text);
    return li;
  }

  function addMessage(card, item) {
    var messages = card.querySelector("ol.live-messages");
    if (!messages) { return; }
    if (item.event_id && messages.querySelector('[data-event-id="' + item.event_id + '"]')) { return; }
    var atEnd = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
    messages.appendChild(messageItem(item));
    if (atEnd) { scrollDown(messages); }
  }

  function replaceCard(old, html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;  // rendered and escaped by the server (Jinja autoescape)
    var fresh = holder.querySelector("article.live-chat");
    if (!fresh) { return null; }
    if (old) {
      var typed = old.querySelector("textarea[name=text]");
      var box = fresh.querySelector("textarea[name=text]");
      if (typed && box) { box.value = typed.value; }
      var hadFocus = typed && document.activeElement === typed;
      old.parentNode.replaceChild(fresh, old);
      if (hadFocus && box) { box.focus(); }
    } else {
      list.appendChild(fresh);
    }
    var messages = fresh.querySelector("ol.live-messages");
    if (messages) { scrollDown(messages); }
    return fresh;
  }

  function onChat(data) {
    var card = cardOf(data.sender_id);
    if (!card || card.getAttribute("data-state") !== data.state) {
      card = replaceCard(card, data.html);
    } else {
      (data.messages || []).forEach(function (item) { addMessage(card, item); });
    }
    updateEmpty();
  }

  function parse(event) {
    try { return JSON.parse(event.data); } catch (e) { return null; }
  }

  Array.prototype.forEach.call(list.querySelectorAll("ol.live-messages"), scrollDown);

  var source = new EventSource(queue.getAttribute("data-events"));
  source.addEventListener("open", function () {
    statusLine.textContent = "Live updates on: new patients and messages appear by themselves.";
    statusLine.setAttribute("data-stream", "open");
  });
  source.addEventListener("chat", function (e) { var d = parse(e); if (d) { onChat(d); } });
  source.addEventListener("message", function (e) {
    var d = parse(e);
    var card = d && cardOf(d.sender_id);
    if (card) { addMessage(card, d.item); }
  });
  source.addEventListener("ended", function (e) {
    var d = parse(e);
    var card = d && cardOf(d.sender_id);
    if (card) { card.parentNode.removeChild(card); }
    updateEmpty();
  });
  source.addEventListener("alert", function (e) { var d = parse(e); if (d) { alertStaff(d.kind); } });
  source.addEventListener("presence", function (e) {
    var d = parse(e);
    var line = document.getElementById("presence-status");
    if (d && line) { line.setAttribute("data-available", d.available ? "true" : "false"); }
  });
  source.addEventListener("signed_out", function () {
    source.close();
    statusLine.textContent = "You were signed out: reload the page to sign in again.";
    statusLine.setAttribute("data-stream", "closed");
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      statusLine.textContent = "Live updates stopped: reload the page.";
      statusLine.setAttribute("data-stream", "closed");
    } else {
      statusLine.textContent = "Reconnecting\u2026";
      statusLine.setAttribute("data-stream", "reconnecting");
    }
  });
}());
