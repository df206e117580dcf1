/* Frontdesk review queue: misunderstood messages, grouped; staff label a group at once.
 * Everything customers or models wrote is put on the page with textContent, never innerHTML.
 * The helpers shared with the other console pages (el, api, say) are common.js's.
 */
(function () {
  "use strict";

  if (document.body.getAttribute("data-page") !== "review") return;
  var el = Frontdesk.el;
  var api = Frontdesk.api;
  var percent = Frontdesk.percent;
  var canLabel = document.body.getAttribute("data-role") !== "ops";
  var REASONS = {
    fallback: "Fell back",
    handoff: "Handed off after misunderstanding",
    rated_badly: "Rated badly",
    low_confidence: "Low confidence",
  };

  function say(text) {
    Frontdesk.say("review-status", text);
  }

  function decision(item) {
    var parts = [REASONS[item.reason] || item.reason];
    if (item.intent) {
      var confidence = item.confidence === null ? "" : " (" + percent(item.confidence) + ")";
      parts.push("intent " + item.intent + confidence);
    }
    if (item.route) parts.push("route " + item.route);
    return parts.join(" · ");
  }

  function labelForm(group) {
    var ids = group.items.map(function (item) {
      return item.turn_id;
    });
    var form = el("form", { class: "review-label" });
    var inputId = "intent-" + group.id;
    form.appendChild(el("label", { for: inputId }, "Intent for " + (ids.length === 1 ? "this message" : "these " + ids.length + " messages")));
    var input = el("input", { id: inputId, list: "review-intents", name: "intent", autocomplete: "off" });
    form.appendChild(input);
    var buttons = el("div", { class: "review-buttons" });
    var save = el("button", { type: "submit" }, "Label");
    var oos = el("button", { type: "button" }, "Out of scope");
    var dismiss = el("button", { type: "button" }, "Bot was right");
    [save, oos, dismiss].forEach(function (button) {
      buttons.appendChild(button);
    });
    form.appendChild(buttons);
    var answerId = "answer-" + group.id;
    var answerRow = el("div", { class: "review-answer" });
    answerRow.appendChild(el("label", { for: answerId }, "Or an answer from the index (its id)"));
    var answerInput = el("input", { id: answerId, name: "qa_id", autocomplete: "off", placeholder: "qa-0042" });
    answerRow.appendChild(answerInput);
    var answer = el("button", { type: "button" }, "Link answer");
    answerRow.appendChild(answer);
    form.appendChild(answerRow);

    function send(body, done) {
      body.turn_ids = ids;
      api("POST", "/api/review/labels", body)
        .then(function (data) {
          say(done + " (" + data.labels.length + (data.labels.length === 1 ? " message)." : " messages)."));
          load();
        })
        .catch(function (e) {
          say(e.message);
        });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var intent = input.value.trim();
      if (!intent) {
        say("Type or choose an intent first.");
        input.focus();
        return;
      }
      send({ kind: "intent", intent: intent }, "Labelled " + intent);
    });
    oos.addEventListener("click", function () {
      send({ kind: "out_of_scope" }, "Marked out of scope");
    });
    dismiss.addEventListener("click", function () {
      send({ kind: "dismissed" }, "Dismissed");
    });
    answer.addEventListener("click", function () {
      var qaId = answerInput.value.trim();
      if (!qaId) {
        say("Type the answer's id first.");
        answerInput.focus();
        return;
      }
      send({ kind: "answer", qa_id: qaId }, "Linked answer " + qaId);
    });
    return form;
  }

  function render(data) {
    var list = document.getElementById("review-groups");
    var intents = document.getElementById("review-intents");
    intents.textContent = "";
    data.intents.concat(["out_of_scope"]).forEach(function (name) {
      intents.appendChild(el("option", { value: name }));
    });
    list.textContent = "";
    data.groups.forEach(function (group) {
      var li = el("li", { class: "review-group", "data-group": String(group.id) });
      var title = el("h2", { id: "group-" + group.id }, group.text);
      li.setAttribute("aria-labelledby", "group-" + group.id);
      li.appendChild(title);
      li.appendChild(el("p", { class: "muted" }, group.size === 1 ? "1 message" : group.size + " similar messages"));
      var items = el("ul", { class: "review-items" });
      group.items.forEach(function (item) {
        var row = el("li", { class: "review-item" });
        row.appendChild(el("p", { class: "text" }, item.text));
        row.appendChild(el("p", { class: "decision" }, decision(item)));
        if (item.reply) row.appendChild(el("p", { class: "muted" }, "Bot: " + item.reply));
        var open = el("a", { href: "/console/conversations/" + encodeURIComponent(item.conversation_id) }, "Conversation");
        row.appendChild(open);
        items.appendChild(row);
      });
      li.appendChild(items);
      if (canLabel) li.appendChild(labelForm(group));
      list.appendChild(li);
    });
    say(
      data.total
        ? data.total + (data.total === 1 ? " message" : " messages") + " to review in " + data.groups.length + (data.groups.length === 1 ? " group." : " groups.")
        : "Nothing to review."
    );
  }

  function load() {
    api("GET", "/api/review")
      .then(render)
      .catch(function (e) {
        say(e.message);
      });
  }

  load();
})();
