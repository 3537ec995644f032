// Starts the rasa-webchat widget and makes it usable with a keyboard and a screen reader (the
// widget's own controls lack labels and its quick-reply buttons are plain <div>s).
// Settings: the JSON in #webchat-config (the demo page), or, on a clinic's own site, the
// assistant's /widget-config.json named by this script tag's data-config-url (README snippet).
(function () {
  "use strict";
  var script = document.currentScript;
  var config;

  // The controls' names in the page's language (<html lang>; English otherwise).
  var WORDS = {
    en: { close: "Close the chat", open: "Open the chat with the clinic's assistant",
          message: "Your message", send: "Send", fullscreen: "Full screen",
          conversation: "Conversation" },
    es: { close: "Cerrar el chat", open: "Abrir el chat con el asistente de la clínica",
          message: "Su mensaje", send: "Enviar", fullscreen: "Pantalla completa",
          conversation: "Conversación" }
  };
  var pageLanguage = (document.documentElement.lang || "en").slice(0, 2).toLowerCase();
  var words = WORDS[pageLanguage] || WORDS.en;

  var LABELS = [
    [".rw-launcher", function (el) {
      return el.querySelector(".rw-close-launcher") ? words.close : words.open;
    }],
    ["textarea.rw-new-message", function () { return words.message; }],
    ["button.rw-send", function () { return words.send; }],
    ["button.rw-close-button", function () { return words.close; }],
    ["button.rw-toggle-fullscreen-button", function () { return words.fullscreen; }]
  ];

  function activate(event) {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      event.currentTarget.click();
    }
  }

  function enhance(root) {
    LABELS.forEach(function (pair) {
      root.querySelectorAll(pair[0]).forEach(function (el) {
        var label = pair[1](el);
        if (el.getAttribute("aria-label") !== label) {
          el.setAttribute("aria-label", label);
        }
      });
    });
    // The icons inside the labelled buttons carry the widget's English alt texts ("send",
    // "close", "toggle fullscreen"): the button's label names them, the icon is decoration.
    root.querySelectorAll(".rw-widget-container button img[alt]:not([alt=''])")
      .forEach(function (img) { img.setAttribute("alt", ""); });
    // "Connecting to the assistant..." in the header when the connection is lost: announced.
    root.querySelectorAll(".rw-loading:not([role])").forEach(function (el) {
      el.setAttribute("role", "status");
    });
    root.querySelectorAll(".rw-reply:not([role])").forEach(function (el) {
      el.setAttribute("role", "button");
      el.setAttribute("tabindex", "0");
      el.addEventListener("keydown", activate);
    });
    var log = root.querySelector("#rw-messages");
    if (log && !log.getAttribute("role")) {
      log.setAttribute("role", "log");
      log.setAttribute("aria-live", "polite");
      log.setAttribute("aria-label", words.conversation);
    }
    root.querySelectorAll(".rw-conversation-container:not([role])").forEach(function (el) {
      el.setAttribute("role", "dialog");
      el.setAttribute("aria-label", config.title);
    });
  }

  // The widget keeps its connecting text with the conversation (localStorage) and shows the kept
  // one on the next page: after the page's language link it would stay in the other language.
  function refreshStoredTexts(settings) {
    var storage = settings.params && settings.params.storage === "session"
      ? window.sessionStorage : window.localStorage;
    try {
      var saved = JSON.parse(storage.getItem("chat_session"));
      if (saved && saved.params && settings.connectingText &&
          saved.params.connectingText !== settings.connectingText) {
        saved.params.connectingText = settings.connectingText;
        storage.setItem("chat_session", JSON.stringify(saved));
      }
    } catch (error) {
      // no storage (private mode) or nothing kept yet: the widget starts with the settings
    }
  }

  function start(settings) {
    config = settings;
    if (!document.getElementById("webchat")) {
      var holder = document.createElement("div");
      holder.id = "webchat";
      document.body.appendChild(holder);
    }
    config.selector = "#webchat";
    refreshStoredTexts(config);
    // Short, steady pause between the bot's messages so they arrive in order and readably.
    config.customMessageDelay = function () { return 400; };
    window.WebChat.default(config, null);
    var target = document.body;
    enhance(target);
    new MutationObserver(function () { enhance(target); })
      .observe(target, { childList: true, subtree: true });
  }

  var inline = document.getElementById("webchat-config");
  if (inline) {
    start(JSON.parse(inline.textContent));
  } else if (script && script.dataset.configUrl) {
    // the settings in the page's language (the assistant's first replies too)
    var url = new URL(script.dataset.configUrl, document.baseURI);
    if (WORDS[pageLanguage] && !url.searchParams.has("lang")) {
      url.searchParams.set("lang", pageLanguage);
    }
    fetch(url.toString(), { credentials: "omit" })
      .then(function (reply) { return reply.json(); })
      .then(start);
  }
})();
