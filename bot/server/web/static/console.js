/* Frontdesk staff console: queue, conversation and user pages over the JSON APIs.
 * Everything people or models wrote is put on the page with textContent, never innerHTML.
 * The helpers shared with the other console pages (el, api, say) are common.js's.
 */
(function () {
  "use strict";

  var page = document.body.getAttribute("data-page");
  var el = Frontdesk.el;
  var textRow = Frontdesk.textRow;
  var api = Frontdesk.api;
  var say = Frontdesk.say;

  function waited(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min";
    return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
  }

  var REASONS = {
    asked_for_human: "Asked for a human",
    low_confidence: "Low confidence",
    negative_sentiment: "Negative sentiment",
    action_failed: "Action failure",
    bot_error: "Bot error",
  };

  // Live updates: one socket, re-read what changed; reconnect with backoff.
  function live(onChange) {
    var attempt = 0;
    var timer = null;
    function connect() {
      var ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/console/ws");
      ws.onopen = function () {
        attempt = 0;
        onChange(null);
      };
      ws.onmessage = function (message) {
        var event = JSON.parse(message.data);
        clearTimeout(timer);
        timer = setTimeout(function () {
          onChange(event.conversation_id);
        }, 100);
      };
      ws.onclose = function () {
        attempt = Math.min(attempt + 1, 6);
        setTimeout(connect, Math.min(30000, 500 * Math.pow(2, attempt)));
      };
    }
    connect();
  }

  // --- queue -----------------------------------------------------------------------------

  function queuePage() {
    var rows = document.getElementById("queue-rows");
    function render(data) {
      rows.textContent = "";
      data.escalations.forEach(function (item) {
        var tr = el("tr");
        tr.appendChild(el("td", {}, waited(item.waiting_s)));
        tr.appendChild(el("td", {}, REASONS[item.reason] || item.reason));
        var last = item.last_message;
        tr.appendChild(el("td", { class: "last" }, last ? last.text : ""));
        tr.appendChild(el("td", {}, item.sentiment || "–"));
        tr.appendChild(el("td", {}, item.assignee || "unassigned"));
        tr.appendChild(el("td", {}, item.status));
        var actions = el("td");
        var open = el("a", { href: "/console/conversations/" + encodeURIComponent(item.conversation_id) }, "Open");
        open.setAttribute("aria-label", "Open conversation waiting " + waited(item.waiting_s));
        actions.appendChild(open);
        if (item.status === "open") {
          var claim = el("button", { type: "button" }, "Claim");
          claim.addEventListener("click", function () {
            api("POST", "/api/escalations/" + item.id + "/claim")
              .then(function () {
                window.location.href = "/console/conversations/" + encodeURIComponent(item.conversation_id);
              })
              .catch(function (e) {
                say("queue-status", e.message);
              });
          });
          actions.appendChild(document.createTextNode(" "));
          actions.appendChild(claim);
        }
        tr.appendChild(actions);
        rows.appendChild(tr);
      });
      say(
        "queue-status",
        data.escalations.length ? data.escalations.length + " waiting or in progress" : "The queue is empty."
      );
    }
    function load() {
      api("GET", "/api/escalations").then(render).catch(function (e) {
        say("queue-status", e.message);
      });
    }
    load();
    setInterval(load, 15000);
    live(load);
  }

  // --- conversation ------------------------------------------------------------------------

  function decisionText(turn) {
    var parts = [];
    if (turn.intent) {
      parts.push("intent " + turn.intent + (turn.confidence != null ? " (" + turn.confidence.toFixed(2) + ")" : ""));
    }
    if (turn.corrected_intent) parts.push("corrected to " + turn.corrected_intent);
    if (turn.sentiment) parts.push("sentiment " + turn.sentiment);
    if (turn.route) parts.push("route " + turn.route);
    if (turn.answer_source) {
      parts.push(
        "answer " + turn.answer_source + (turn.retrieval_score != null ? " (score " + turn.retrieval_score.toFixed(2) + ")" : "")
      );
    }
    return parts.join(" · ");
  }

  var WHO = { user: "Customer", bot: "Bot", agent: "Agent", system: "System" };

  function conversationPage() {
    var id = document.body.getAttribute("data-conversation");
    var role = document.body.getAttribute("data-role");
    var canWrite = role === "agent" || role === "admin";
    var transcript = document.getElementById("transcript");
    var notes = document.getElementById("notes");
    var base = "/api/conversations/" + encodeURIComponent(id);
    var current = null;

    function turnItem(turn, intents) {
      var li = el("li", { class: "turn turn-" + turn.role, "data-turn-id": String(turn.id) });
      li.appendChild(el("span", { class: "who" }, WHO[turn.role] || turn.role));
      li.appendChild(el("p", { class: "text" }, turn.text));
      var decision = decisionText(turn);
      if (decision) li.appendChild(el("p", { class: "decision" }, decision));
      if (canWrite && turn.role === "user" && intents.length) {
        var tools = el("div", { class: "turn-tools" });
        var selectId = "intent-" + turn.id;
        tools.appendChild(el("label", { for: selectId }, "Right intent for turn " + turn.id));
        var select = el("select", { id: selectId });
        intents.forEach(function (name) {
          var option = el("option", { value: name }, name);
          if (name === (turn.corrected_intent || turn.intent)) option.selected = true;
          select.appendChild(option);
        });
        tools.appendChild(select);
        var fix = el("button", { type: "button" }, "Correct intent");
        fix.addEventListener("click", function () {
          api("POST", "/api/turns/" + turn.id + "/correction", { intent: select.value })
            .then(function () {
              say("conversation-meta", "Intent of turn " + turn.id + " corrected to " + select.value + ".");
              load();
            })
            .catch(function (e) {
              say("conversation-meta", e.message);
            });
        });
        tools.appendChild(fix);
        li.appendChild(tools);
      }
      if (canWrite && turn.role === "agent") {
        var save = el("button", { type: "button" }, "Save as answer");
        save.addEventListener("click", function () {
          api("POST", "/api/turns/" + turn.id + "/save-answer", {})
            .then(function (data) {
              var waiting = data.answer.status === "pending";
              say(
                "conversation-meta",
                (waiting ? "Saved for an admin's approval as an answer to: " : "Saved as an answer to: ") +
                  data.answer.question
              );
            })
            .catch(function (e) {
              say("conversation-meta", e.message);
            });
        });
        var tools2 = el("div", { class: "turn-tools" });
        tools2.appendChild(save);
        li.appendChild(tools2);
      }
      return li;
    }

    function render(data) {
      current = data;
      var c = data.conversation;
      var e = data.escalation;
      var meta = "Status " + c.status + " · channel " + c.channel;
      if (e) {
        meta += " · " + (REASONS[e.reason] || e.reason) + " · escalation " + e.status;
        meta += e.assignee ? " · assigned to " + e.assignee : " · unassigned";
        if (e.rating) meta += " · rated " + e.rating + "/5";
      }
      say("conversation-meta", meta);
      transcript.textContent = "";
      data.turns.forEach(function (turn) {
        transcript.appendChild(turnItem(turn, data.intents || []));
      });
      notes.textContent = "";
      data.notes.forEach(function (note) {
        var li = el("li");
        li.appendChild(el("strong", {}, note.author + ": "));
        li.appendChild(document.createTextNode(note.text));
        notes.appendChild(li);
      });
      var active = e && (e.status === "open" || e.status === "claimed");
      document.getElementById("claim").disabled = !canWrite || !active || e.status === "claimed";
      document.getElementById("resolve").disabled = !canWrite || c.status === "resolved";
      document.getElementById("handback").disabled = !canWrite || c.status === "bot";
    }

    function load() {
      return api("GET", base).then(render).catch(function (e) {
        say("conversation-meta", e.message);
      });
    }

    function act(button, path, done) {
      document.getElementById(button).addEventListener("click", function () {
        api("POST", path())
          .then(function () {
            if (done) done();
            return load();
          })
          .catch(function (e) {
            say("conversation-meta", e.message);
          });
      });
    }
    act("claim", function () {
      return "/api/escalations/" + (current && current.escalation ? current.escalation.id : 0) + "/claim";
    });
    act("resolve", function () {
      return base + "/resolve";
    });
    act("handback", function () {
      return base + "/handback";
    });

    document.getElementById("reply-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var box = document.getElementById("reply");
      var text = box.value;
      if (!text.trim()) return;
      api("POST", base + "/reply", { text: text })
        .then(function () {
          box.value = "";
          return load();
        })
        .catch(function (e) {
          say("conversation-meta", e.message);
        });
    });
    document.getElementById("note-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var box = document.getElementById("note");
      if (!box.value.trim()) return;
      api("POST", base + "/notes", { text: box.value })
        .then(function () {
          box.value = "";
          return load();
        })
        .catch(function (e) {
          say("conversation-meta", e.message);
        });
    });
    if (!canWrite) {
      document.getElementById("reply-form").hidden = true;
      document.getElementById("note-form").hidden = true;
    }
    load();
    live(function (changed) {
      if (!changed || changed === id) load();
    });
  }

  // --- users (admin) -----------------------------------------------------------------------

  function adminPage() {
    var rows = document.getElementById("user-rows");
    function load() {
      api("GET", "/api/admin/users")
        .then(function (data) {
          rows.textContent = "";
          data.users.forEach(function (user) {
            var tr = el("tr");
            tr.appendChild(el("td", {}, user.username));
            var roleCell = el("td");
            var selectId = "role-" + user.id;
            roleCell.appendChild(el("label", { for: selectId, class: "visually-hidden" }, "Role for " + user.username));
            var select = el("select", { id: selectId });
            ["agent", "ops", "admin"].forEach(function (name) {
              var option = el("option", { value: name }, name);
              if (name === user.role) option.selected = true;
              select.appendChild(option);
            });
            select.addEventListener("change", function () {
              change(user, { role: select.value });
            });
            roleCell.appendChild(select);
            tr.appendChild(roleCell);
            tr.appendChild(el("td", {}, user.active ? "yes" : "no"));
            var actions = el("td");
            var toggle = el("button", { type: "button" }, (user.active ? "Disable " : "Enable ") + user.username);
            toggle.addEventListener("click", function () {
              change(user, { active: !user.active });
            });
            actions.appendChild(toggle);
            tr.appendChild(actions);
            rows.appendChild(tr);
          });
        })
        .catch(function (e) {
          say("admin-status", e.message);
        });
    }
    function change(user, body) {
      api("PATCH", "/api/admin/users/" + user.id, body)
        .then(function (data) {
          say("admin-status", "Updated " + data.user.username + ".");
          load();
          loadAudit();
        })
        .catch(function (e) {
          say("admin-status", e.message);
          load();
        });
    }
    document.getElementById("add-user").addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {
        username: document.getElementById("new-username").value,
        password: document.getElementById("new-password").value,
        role: document.getElementById("new-role").value,
      };
      api("POST", "/api/admin/users", body)
        .then(function (data) {
          say("admin-status", "Added " + data.user.username + ".");
          event.target.reset();
          load();
          loadAudit();
        })
        .catch(function (e) {
          say("admin-status", e.message);
        });
    });
    load();
    loadPending();
    loadAudit();
  }

  // Answers awaiting approval: an admin puts each into the index or throws it away.
  function loadPending() {
    var list = document.getElementById("pending-answers");
    if (!list) return;
    api("GET", "/api/answers/pending")
      .then(function (data) {
        list.textContent = "";
        data.answers.forEach(function (answer) {
          var li = el("li", { class: "pending-answer" });
          li.appendChild(el("p", { class: "question" }, "Q: " + answer.question));
          li.appendChild(el("p", { class: "answer" }, "A: " + answer.answer));
          li.appendChild(el("p", { class: "muted" }, "Saved by " + answer.author + (answer.intent ? " · intent " + answer.intent : "")));
          [
            ["approve", "Approve"],
            ["reject", "Reject"],
          ].forEach(function (pair) {
            var button = el("button", { type: "button" }, pair[1]);
            button.setAttribute("aria-label", pair[1] + " the answer to: " + answer.question);
            button.addEventListener("click", function () {
              api("POST", "/api/answers/" + answer.id + "/" + pair[0])
                .then(function (done) {
                  say("pending-status", (pair[0] === "approve" ? "Approved" : "Rejected") + " the answer to: " + done.answer.question);
                })
                .catch(function (e) {
                  say("pending-status", e.message);
                })
                .then(function () {
                  loadPending();
                  loadAudit();
                });
            });
            li.appendChild(button);
            li.appendChild(document.createTextNode(" "));
          });
          list.appendChild(li);
        });
        if (!data.answers.length) say("pending-status", "No answers are waiting.");
      })
      .catch(function (e) {
        say("pending-status", e.message);
      });
  }

  function detailsText(details) {
    return Object.keys(details || {})
      .map(function (key) {
        return key + ": " + details[key];
      })
      .join(", ");
  }

  // The latest audit events; the full log is the JSON-lines download below the table.
  function loadAudit() {
    var rows = document.getElementById("audit-rows");
    if (!rows) return;
    api("GET", "/api/admin/audit?limit=50")
      .then(function (data) {
        rows.textContent = "";
        data.events.forEach(function (event) {
          rows.appendChild(
            textRow([
              new Date(event.at).toLocaleString(),
              event.actor || "–",
              event.action,
              event.target || "",
              event.client || "",
              detailsText(event.details),
            ])
          );
        });
        say("audit-status", data.events.length ? "The latest " + data.events.length + " events." : "Nothing recorded yet.");
      })
      .catch(function (e) {
        say("audit-status", e.message);
      });
  }

  if (page === "queue") queuePage();
  else if (page === "conversation") conversationPage();
  else if (page === "admin") adminPage();
})();
