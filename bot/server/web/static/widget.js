/* Frontdesk chat widget. Embed with:
 *   <script src="https://HOST/widget.js" defer data-title="Help" data-colour="#1f6f5c"
 *           data-greeting="Hi! How can we help?"></script>
 * Optional: data-open="true" opens the chat on load.
 * Plain JavaScript, no dependencies. Message text is only ever written with textContent.
 */
(function () {
  "use strict";
  if (window.__frontdeskWidget) return;
  window.__frontdeskWidget = true;

  var script =
    document.currentScript || document.querySelector('script[src*="widget.js"]');
  var base = new URL(script ? script.src : "/widget.js", window.location.href);
  var origin = base.origin;
  var data = (script && script.dataset) || {};
  var options = {
    title: data.title || "Chat with us",
    colour: data.colour || data.color || "#1f6f5c",
    greeting: data.greeting || "",
    open: data.open === "true",
  };
  var TOKEN_KEY = "frontdesk-token:" + origin;
  var OPEN_KEY = "frontdesk-open:" + origin;

  var state = {
    token: null,
    ws: null,
    lastId: 0,
    seen: {},
    outbox: {}, // client_id -> text, until the server echoes the stored turn
    order: [],
    backoff: 0,
    reconnectTimer: null,
    connecting: false,
    renewed: false,
  };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        node.setAttribute(key, attrs[key]);
      });
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function newId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      })
      .join("");
  }

  function storage(method, key, value) {
    try {
      if (method === "get") return window.localStorage.getItem(key);
      if (method === "set") window.localStorage.setItem(key, value);
      if (method === "remove") window.localStorage.removeItem(key);
    } catch (e) {
      /* private mode: the conversation lasts as long as the page */
    }
    return null;
  }

  // --- the DOM -------------------------------------------------------------------------

  var css = el("link", { rel: "stylesheet", href: origin + "/widget.css" });
  document.head.appendChild(css);

  var root = el("div", { class: "fdw", "data-frontdesk-widget": "" });
  if (window.CSS && CSS.supports && CSS.supports("color", options.colour)) {
    root.style.setProperty("--fdw-colour", options.colour);
  }
  var launcher = el("button", {
    type: "button",
    class: "fdw-launcher",
    "aria-expanded": "false",
    "aria-controls": "fdw-panel",
  });
  launcher.appendChild(el("span", { "aria-hidden": "true", class: "fdw-launcher-icon" }, "💬"));
  launcher.appendChild(el("span", { class: "fdw-launcher-text" }, "Open chat"));

  var panel = el("section", {
    id: "fdw-panel",
    class: "fdw-panel",
    role: "region",
    "aria-label": options.title,
    hidden: "",
  });
  var header = el("header", { class: "fdw-header" });
  header.appendChild(el("h2", { class: "fdw-title" }, options.title));
  var close = el("button", { type: "button", class: "fdw-close", "aria-label": "Close chat" }, "×");
  header.appendChild(close);
  var connection = el("p", { class: "fdw-connection", role: "status", "aria-live": "polite" });
  var log = el("div", {
    class: "fdw-log",
    role: "log",
    "aria-live": "polite",
    "aria-label": "Conversation",
    tabindex: "0",
  });
  var typing = el("div", { class: "fdw-typing", role: "status", hidden: "" });
  typing.appendChild(el("span", { class: "fdw-dots", "aria-hidden": "true" }, "•••"));
  typing.appendChild(el("span", { class: "fdw-visually-hidden" }, "The assistant is typing"));
  var quick = el("div", { class: "fdw-quick", role: "group", "aria-label": "Suggested replies" });
  var rating = el("fieldset", { class: "fdw-rating", hidden: "" });
  rating.appendChild(el("legend", {}, "How satisfied are you with our help? (1-5)"));
  var stars = el("div", { class: "fdw-stars" });
  for (var score = 1; score <= 5; score += 1) {
    var star = el("button", { type: "button", "aria-label": "Rate " + score + " out of 5", "data-score": String(score) }, String(score));
    stars.appendChild(star);
  }
  rating.appendChild(stars);
  var form = el("form", { class: "fdw-form" });
  var inputId = "fdw-input";
  form.appendChild(el("label", { for: inputId, class: "fdw-visually-hidden" }, "Message"));
  var input = el("input", {
    id: inputId,
    type: "text",
    autocomplete: "off",
    maxlength: "5000",
    placeholder: "Type a message…",
  });
  form.appendChild(input);
  form.appendChild(el("button", { type: "submit", class: "fdw-send" }, "Send"));

  panel.appendChild(header);
  panel.appendChild(connection);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(quick);
  panel.appendChild(rating);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(launcher);

  if (options.greeting) {
    var greeting = el("div", { class: "fdw-msg fdw-bot fdw-greeting" });
    greeting.appendChild(el("p", { class: "fdw-text" }, options.greeting));
    log.appendChild(greeting);
  }

  function setOpen(open, focus) {
    if (open) panel.removeAttribute("hidden");
    else panel.setAttribute("hidden", "");
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcher.querySelector(".fdw-launcher-text").textContent = open ? "Close chat" : "Open chat";
    storage("set", OPEN_KEY, open ? "1" : "0");
    if (open) {
      start();
      if (focus) input.focus();
      scrollDown();
    } else if (focus) {
      launcher.focus();
    }
  }

  launcher.addEventListener("click", function () {
    setOpen(panel.hasAttribute("hidden"), true);
  });
  close.addEventListener("click", function () {
    setOpen(false, true);
  });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") setOpen(false, true);
  });

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  // --- rendering -------------------------------------------------------------------------

  var LABELS = { user: "You", bot: "Assistant", agent: "Support team", system: "" };

  function renderMessage(role, text, attrs) {
    var item = el("div", Object.assign({ class: "fdw-msg fdw-" + role }, attrs || {}));
    if (LABELS[role]) item.appendChild(el("span", { class: "fdw-visually-hidden" }, LABELS[role] + ": "));
    item.appendChild(el("p", { class: "fdw-text" }, text));
    log.appendChild(item);
    scrollDown();
    return item;
  }

  function showQuickReplies(buttons) {
    quick.textContent = "";
    (buttons || []).forEach(function (button) {
      var b = el("button", { type: "button", class: "fdw-chip" }, button.title || button.payload);
      b.addEventListener("click", function () {
        send(button.payload || button.title);
      });
      quick.appendChild(b);
    });
  }

  function onTurn(turn) {
    if (state.seen[turn.id]) return;
    state.seen[turn.id] = true;
    if (turn.id > state.lastId) state.lastId = turn.id;
    if (turn.role === "user" && turn.client_id) {
      var pending = log.querySelector('[data-client-id="' + CSS.escape(turn.client_id) + '"]');
      delete state.outbox[turn.client_id];
      if (pending) {
        pending.classList.remove("fdw-pending");
        pending.setAttribute("data-turn-id", String(turn.id));
        return;
      }
    }
    var item = renderMessage(turn.role, turn.text, { "data-turn-id": String(turn.id) });
    if (turn.image) {
      var img = el("img", { src: turn.image, alt: "", class: "fdw-image" });
      item.appendChild(img);
    }
    if (turn.role === "user") showQuickReplies([]);
    else if (turn.role === "bot") showQuickReplies(turn.buttons);
    else showQuickReplies([]);
  }

  function onStatus(event) {
    if (event.rating_requested) rating.removeAttribute("hidden");
    else rating.setAttribute("hidden", "");
  }

  stars.addEventListener("click", function (event) {
    var target = event.target.closest("button[data-score]");
    if (!target) return;
    sendRaw({ type: "rating", score: Number(target.getAttribute("data-score")) });
  });

  // --- the connection --------------------------------------------------------------------

  function setConnection(text) {
    connection.textContent = text;
  }

  // The server's close codes (see bot/server/web/widget.py).
  var CLOSE_TOKEN = 4401; // unknown or expired token: start a new session
  var CLOSE_TOO_MANY = 4429; // too many sockets for this conversation or this address
  var NOTICES = {
    too_many_sockets: "Too many chat windows are open. Close one to continue here.",
  };

  function startedAfresh() {
    // The old conversation is gone (its token expired): its messages stay on screen as they
    // were, below them the new conversation begins.
    state.lastId = 0;
    state.seen = {};
    rating.setAttribute("hidden", "");
    showQuickReplies([]);
    if (log.querySelector("[data-turn-id]")) {
      renderMessage("system", "That chat has ended. Anything you write now starts a new one.", {
        "data-new-conversation": "",
      });
    }
  }

  function ensureToken() {
    var stored = storage("get", TOKEN_KEY);
    // text/plain keeps this a "simple" cross-origin request: no preflight needed.
    return fetch(origin + "/widget/session", {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(stored ? { token: stored } : {}),
    })
      .then(function (response) {
        if (!response.ok) throw new Error("session " + response.status);
        return response.json();
      })
      .then(function (body) {
        if (!body.resumed && stored) startedAfresh();
        state.token = body.token;
        storage("set", TOKEN_KEY, body.token);
        return body.token;
      });
  }

  function scheduleReconnect(notice) {
    if (state.reconnectTimer) return;
    var delay = Math.min(30000, 500 * Math.pow(2, state.backoff)) * (0.75 + Math.random() * 0.5);
    state.backoff = Math.min(state.backoff + 1, 6);
    setConnection(notice || "Connection lost. Reconnecting…");
    state.reconnectTimer = window.setTimeout(function () {
      state.reconnectTimer = null;
      connect();
    }, delay);
  }

  function connect() {
    if (state.connecting || (state.ws && state.ws.readyState <= 1)) return;
    state.connecting = true;
    ensureToken()
      .then(function (token) {
        // The token goes in the first frame, not the URL, which servers and proxies log.
        var ws = new WebSocket(origin.replace(/^http/, "ws") + "/widget/ws?after=" + state.lastId);
        var notice = null;
        state.ws = ws;
        ws.onopen = function () {
          state.connecting = false;
          ws.send(JSON.stringify({ type: "auth", token: token }));
          // Anything not yet confirmed is sent again; the server stores each client_id once.
          state.order.forEach(function (clientId) {
            if (state.outbox[clientId] !== undefined) {
              ws.send(JSON.stringify({ type: "message", text: state.outbox[clientId], client_id: clientId }));
            }
          });
          state.order = state.order.filter(function (id) {
            return state.outbox[id] !== undefined;
          });
        };
        ws.onmessage = function (message) {
          var event;
          try {
            event = JSON.parse(message.data);
          } catch (e) {
            return;
          }
          if (event.type === "status") {
            // The first status answers the auth frame: this connection is good.
            state.backoff = 0;
            state.renewed = false;
            setConnection("");
            onStatus(event);
          } else if (event.type === "turn") onTurn(event);
          else if (event.type === "typing") {
            if (event.on) typing.removeAttribute("hidden");
            else typing.setAttribute("hidden", "");
          } else if (event.type === "rated") {
            rating.setAttribute("hidden", "");
            renderMessage("system", "Thank you for your feedback!");
          } else if (event.type === "error") {
            if (event.code) {
              // The socket is being refused; onclose decides what comes next.
              notice = NOTICES[event.code] || null;
            } else if (event.retry && event.client_id && state.outbox[event.client_id] !== undefined) {
              window.setTimeout(function () {
                resend(event.client_id);
              }, 2000);
            } else {
              setConnection(event.error);
            }
          }
        };
        ws.onclose = function (event) {
          state.connecting = false;
          typing.setAttribute("hidden", "");
          if (state.ws !== ws) return;
          if (event.code === CLOSE_TOKEN && !state.renewed) {
            // ensureToken swaps the dead token for a new one: no wait, nothing to tell. Once
            // only: a new token refused again waits like any other failure.
            state.renewed = true;
            connect();
          } else {
            scheduleReconnect(event.code === CLOSE_TOO_MANY ? notice : null);
          }
        };
      })
      .catch(function () {
        state.connecting = false;
        scheduleReconnect();
      });
  }

  function sendRaw(message) {
    if (state.ws && state.ws.readyState === 1) {
      state.ws.send(JSON.stringify(message));
      return true;
    }
    connect();
    return false;
  }

  function resend(clientId) {
    var text = state.outbox[clientId];
    if (text !== undefined) sendRaw({ type: "message", text: text, client_id: clientId });
  }

  function send(text) {
    text = (text || "").trim();
    if (!text) return;
    var clientId = newId();
    state.outbox[clientId] = text;
    state.order.push(clientId);
    renderMessage("user", text, { "data-client-id": clientId, class: "fdw-msg fdw-user fdw-pending" });
    showQuickReplies([]);
    sendRaw({ type: "message", text: text, client_id: clientId });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    send(input.value);
    input.value = "";
    input.focus();
  });

  var started = false;
  function start() {
    if (started) return;
    started = true;
    connect();
  }

  function mount() {
    document.body.appendChild(root);
    var remembered = storage("get", OPEN_KEY);
    var open = remembered === null ? options.open : remembered === "1";
    if (storage("get", TOKEN_KEY)) start(); // a conversation in progress: fetch it now
    setOpen(open, false);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
