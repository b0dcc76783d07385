/*
 * Botyard website widget: a chat button and panel for one bot, embedded with a script tag
 * whose src is this server's /widget.js, with data-key="byp_…" and async (the dashboard's
 * "Website widget" card shows the exact snippet).
 * Optional identity verification: data-user-id="…" data-user-hash="…" (made by your server).
 *
 * Plain JavaScript, no build step, nothing loaded from anywhere but this script's own server.
 * Everything is drawn inside a Shadow DOM, so the host page's CSS cannot reach it; the
 * visitor's conversation is kept in localStorage, so it survives page loads.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.getAttribute("data-key")) {
    return;
  }
  var KEY = script.getAttribute("data-key");
  var API = new URL(script.src, document.baseURI).origin + "/v1/widget";
  var USER_ID = script.getAttribute("data-user-id");
  var USER_HASH = script.getAttribute("data-user-hash");
  var STORE = "botyard-widget:" + KEY;

  var STYLE = [
    ":host { all: initial !important; position: fixed !important; z-index: 2147483000 !important;",
    "  right: 20px !important; bottom: 20px !important; display: block !important;",
    "  font-size: 15px !important; }",
    ".root, .root * { box-sizing: border-box; margin: 0; padding: 0; border: 0;",
    "  font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;",
    "  color: #111827; letter-spacing: normal; text-transform: none; text-align: left; }",
    ".launcher { display: inline-flex; align-items: center; gap: 8px; cursor: pointer;",
    "  min-height: 48px; padding: 12px 18px; border-radius: 999px; font-weight: 600;",
    "  background: var(--primary); color: var(--on-primary);",
    "  box-shadow: 0 6px 20px rgba(0,0,0,.22); }",
    ".launcher * { color: var(--on-primary); font-weight: 600; }",
    ".launcher svg { width: 20px; height: 20px; fill: currentColor; flex: none; }",
    ".launcher:focus-visible, .panel button:focus-visible, .panel textarea:focus-visible {",
    "  outline: 3px solid #f59e0b; outline-offset: 2px; }",
    ".panel { position: fixed; right: 20px; bottom: 84px; width: 370px; height: 560px;",
    "  max-height: calc(100vh - 104px); display: flex; flex-direction: column;",
    "  background: #fff; border-radius: 14px; overflow: hidden;",
    "  box-shadow: 0 12px 40px rgba(0,0,0,.28); }",
    ".panel[hidden] { display: none; }",
    ".head { display: flex; align-items: center; justify-content: space-between; gap: 8px;",
    "  padding: 12px 14px; background: var(--primary); }",
    ".head h2 { font-size: 16px; font-weight: 700; color: var(--on-primary); }",
    ".close { cursor: pointer; width: 36px; height: 36px; border-radius: 8px; font-size: 22px;",
    "  line-height: 1; background: transparent; color: var(--on-primary); }",
    ".log { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column;",
    "  gap: 8px; background: #f9fafb; }",
    ".msg { max-width: 85%; padding: 9px 12px; border-radius: 14px; white-space: pre-wrap;",
    "  overflow-wrap: anywhere; }",
    ".msg.bot { align-self: flex-start; background: #fff; border: 1px solid #e5e7eb; }",
    ".msg.user { align-self: flex-end; background: var(--primary); color: var(--on-primary); }",
    ".typing { align-self: flex-start; color: #4b5563; font-style: italic; }",
    ".notice { margin: 0 14px 8px; padding: 9px 12px; border-radius: 10px; font-size: 14px;",
    "  background: #fef2f2; color: #991b1b; border: 1px solid #fecaca; }",
    ".notice[hidden], .typing[hidden] { display: none; }",
    ".root form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e7eb; background: #fff; }",
    ".root textarea { flex: 1; resize: none; height: 44px; padding: 10px 12px; border-radius: 10px;",
    "  border: 1px solid #d1d5db; background: #fff; }",
    ".send { cursor: pointer; min-width: 64px; padding: 0 14px; border-radius: 10px;",
    "  font-weight: 600; background: var(--primary); color: var(--on-primary); }",
    ".send:disabled { opacity: .55; cursor: default; }",
    ".sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);",
    "  white-space: nowrap; }",
    "@media (max-width: 480px) {",
    "  .panel { right: 0; bottom: 0; width: 100vw; height: 100vh; height: 100dvh;",
    "    max-height: none; border-radius: 0; }",
    "  :host { right: 12px !important; bottom: 12px !important; }",
    "  .panel:not([hidden]) ~ .launcher { display: none; }",
    "}"
  ].join("\n");

  var state = load();
  var config = null;
  var busy = false;

  var host = document.createElement("botyard-widget");
  var shadow = host.attachShadow({ mode: "open" });
  var root = el("div", { "class": "root" });

  var panel = el("section", { "class": "panel", role: "dialog", "aria-modal": "false",
                              id: "botyard-panel", hidden: "" });
  var title = el("h2", { id: "botyard-title" }, "Chat");
  panel.setAttribute("aria-labelledby", "botyard-title");
  var close = el("button", { "class": "close", type: "button", "aria-label": "Close chat" }, "\u00d7");
  var log = el("div", { "class": "log", role: "log", "aria-live": "polite",
                        "aria-label": "Conversation" });
  var typing = el("p", { "class": "typing", hidden: "", "aria-live": "polite" });
  var notice = el("p", { "class": "notice", role: "alert", hidden: "" });
  var form = el("form", { "aria-label": "Send a message" });
  var label = el("label", { "class": "sr", "for": "botyard-input" }, "Your message");
  var input = el("textarea", { id: "botyard-input", rows: "1", maxlength: "4000",
                               placeholder: "Type your message…", autocomplete: "off" });
  var send = el("button", { "class": "send", type: "submit" }, "Send");
  var launcher = el("button", { "class": "launcher", type: "button", "aria-expanded": "false",
                                "aria-controls": "botyard-panel", "aria-label": "Open chat" });
  launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 ' +
    '2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
  var launcherText = el("span", {}, "Chat");
  launcher.appendChild(launcherText);

  var head = el("div", { "class": "head" });
  head.appendChild(title);
  head.appendChild(close);
  form.appendChild(label);
  form.appendChild(input);
  form.appendChild(send);
  log.appendChild(typing);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(notice);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(launcher);
  adoptStyle();
  shadow.appendChild(root);
  theme("#2563eb", "#ffffff");

  // A constructed stylesheet is not inline style, so a host page whose Content-Security-Policy
  // forbids 'unsafe-inline' styles still lets the widget draw itself.
  function adoptStyle() {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLE);
      shadow.adoptedStyleSheets = [sheet];
    } catch (e) {
      var style = document.createElement("style");
      style.textContent = STYLE;
      shadow.appendChild(style);
    }
  }

  function el(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function load() {
    try { return JSON.parse(window.localStorage.getItem(STORE)) || {}; } catch (e) { return {}; }
  }

  function save() {
    try { window.localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* private mode */ }
  }

  function theme(primary, onPrimary) {
    root.style.setProperty("--primary", primary);
    root.style.setProperty("--on-primary", onPrimary);
  }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  function problem(response, body) {
    if (!response) {
      return "The chat can't be reached right now. This site may not be allowed to use it, " +
        "or the connection failed. Please try again later.";
    }
    var code = body && body.error && body.error.code;
    if (response.status === 429) {
      var wait = parseInt(response.headers.get("Retry-After") || "", 10);
      return "You're sending messages too quickly. Please wait " +
        (wait > 0 ? wait + " seconds" : "a moment") + " and try again.";
    }
    if (code === "origin_not_allowed") { return "This chat isn't available on this site."; }
    if (code === "identity_verification_failed") {
      return "We couldn't confirm who you are. Please sign in again and reload the page.";
    }
    if (code === "bot_paused") { return "The assistant is taking a break. Please try again later."; }
    return "Something went wrong (" + response.status + "). Please try again.";
  }

  function call(method, path, body, token) {
    var headers = { "Authorization": "Bearer " + KEY };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    if (token) { headers["X-Visitor-Token"] = token; }
    return fetch(API + path, {
      method: method, headers: headers, credentials: "omit", mode: "cors",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        return { response: response, data: data };
      });
    }, function () { return { response: null, data: null }; });
  }

  function addMessage(message) {
    var bubble = el("p", { "class": "msg " + (message.role === "user" ? "user" : "bot") });
    bubble.textContent = message.text;
    var who = el("span", { "class": "sr" }, message.role === "user" ? "You: " : (config ? config.bot_name : "Bot") + ": ");
    bubble.insertBefore(who, bubble.firstChild);
    log.insertBefore(bubble, typing);
    log.scrollTop = log.scrollHeight;
  }

  function clearMessages() {
    Array.prototype.slice.call(log.querySelectorAll(".msg")).forEach(function (n) { n.remove(); });
  }

  function setBusy(value) {
    busy = value;
    send.disabled = value;
    typing.hidden = !value;
    typing.textContent = value ? (config ? config.bot_name : "The assistant") + " is typing…" : "";
  }

  function start() {
    var body = {};
    if (USER_ID) { body.external_user_id = USER_ID; body.user_hash = USER_HASH || ""; }
    return call("POST", "/conversations", body).then(function (result) {
      if (!result.response || result.response.status !== 201) {
        throw result;
      }
      state.conversation = result.data.conversation.id;
      state.token = result.data.visitor_token;
      save();
      clearMessages();
      result.data.messages.forEach(addMessage);
    });
  }

  function restore() {
    if (!state.conversation) {
      if (config) { addMessage({ role: "bot", text: config.welcome_message }); }
      return Promise.resolve();
    }
    var path = "/conversations/" + encodeURIComponent(state.conversation) + "/messages?limit=100";
    return call("GET", path, undefined, state.token).then(function (result) {
      if (result.response && result.response.status === 200) {
        clearMessages();
        result.data.data.forEach(addMessage);
        return;
      }
      if (result.response && (result.response.status === 404 || result.response.status === 400)) {
        state = { open: state.open };  // gone or not ours: start afresh on the next message
        save();
        if (config) { addMessage({ role: "bot", text: config.welcome_message }); }
        return;
      }
      showNotice(problem(result.response, result.data));
    });
  }

  function submit(event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || busy || !config) { return; }
    showNotice("");
    setBusy(true);
    var ready = state.conversation ? Promise.resolve() : start();
    ready.then(function () {
      addMessage({ role: "user", text: text });
      input.value = "";
      var path = "/conversations/" + encodeURIComponent(state.conversation) + "/messages";
      return call("POST", path, { text: text }, state.token).then(function (result) {
        if (result.response && result.response.status === 201) {
          addMessage(result.data.reply);
          return;
        }
        if (result.response && result.response.status === 404) {
          state = { open: true };
          save();
        }
        showNotice(problem(result.response, result.data));
      });
    }).catch(function (result) {
      showNotice(problem(result && result.response, result && result.data));
    }).then(function () {
      setBusy(false);
      input.focus();
    });
  }

  function toggle(open, moveFocus) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    state.open = open;
    save();
    if (open && moveFocus) { input.focus(); }
    if (!open && moveFocus) { launcher.focus(); }
  }

  launcher.addEventListener("click", function () { toggle(panel.hidden, true); });
  close.addEventListener("click", function () { toggle(false, true); });
  form.addEventListener("submit", submit);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { submit(event); }
  });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { toggle(false, true); }
  });

  function mount() {
    document.body.appendChild(host);
    call("GET", "/config").then(function (result) {
      if (!result.response || result.response.status !== 200) {
        showNotice(problem(result.response, result.data));
        send.disabled = true;
        return;
      }
      config = result.data;
      theme(config.colors.primary, config.colors.on_primary);
      title.textContent = config.bot_name;
      launcherText.textContent = config.launcher_text;
      launcher.setAttribute("aria-label", "Open chat with " + config.bot_name);
      close.setAttribute("aria-label", "Close chat with " + config.bot_name);
      if (!config.available) {
        showNotice("The assistant is taking a break. Please try again later.");
      }
      return restore();
    }).then(function () {
      if (state.open) { toggle(true, false); }
    });
  }

  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
})();
