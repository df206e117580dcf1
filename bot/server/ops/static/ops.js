/* Frontdesk ops dashboard: alerts, most negative topics, trend charts and examples.
 * Charts are inline SVG drawn here; nothing is loaded from elsewhere. Text from customers or
 * models goes on the page with textContent only. The helpers shared with the console pages
 * (el, api, say) are /static/common.js's, which the page layout loads first.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var el = Frontdesk.el;
  var textRow = Frontdesk.textRow;
  var api = Frontdesk.api;
  var percent = Frontdesk.percent;
  var RULES = { negative_share: "Negative share", surge: "Surge", shift: "Shift" };

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    return node;
  }

  function say(text) {
    Frontdesk.say("ops-status", text);
  }

  function topicName(topic) {
    return topic === "*" ? "All topics" : topic;
  }

  function when(iso) {
    var date = new Date(iso);
    return date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  // Alerts --------------------------------------------------------------------------

  function loadAlerts() {
    var filter = document.getElementById("alert-filter").value;
    var path = "/api/alerts" + (filter ? "?state=" + encodeURIComponent(filter) : "");
    return api("GET", path).then(function (data) {
      var rows = document.getElementById("alert-rows");
      rows.textContent = "";
      if (!data.alerts.length) {
        var empty = el("tr");
        empty.appendChild(el("td", { colspan: "5" }, "No alerts."));
        rows.appendChild(empty);
      }
      data.alerts.forEach(function (alert) {
        var tr = el("tr", { "data-alert": String(alert.id), class: "alert-" + alert.state });
        tr.appendChild(el("td", {}, when(alert.opened_at)));
        tr.appendChild(el("td", {}, topicName(alert.topic)));
        var what = el("td");
        what.appendChild(el("strong", {}, (RULES[alert.rule] || alert.rule) + ": "));
        what.appendChild(document.createTextNode(alert.message));
        tr.appendChild(what);
        var state = alert.state;
        if (alert.acknowledged_by && state === "acknowledged") state += " by " + alert.acknowledged_by;
        if (alert.resolved_by && state === "resolved") state += " by " + alert.resolved_by;
        tr.appendChild(el("td", {}, state));
        var actions = el("td", { class: "actions" });
        if (alert.state === "open") actions.appendChild(action("Acknowledge", "ack", alert));
        if (alert.state !== "resolved") actions.appendChild(action("Resolve", "resolve", alert));
        var examples = el("button", { type: "button" }, "Examples");
        examples.setAttribute("aria-label", "Examples for " + topicName(alert.topic));
        examples.addEventListener("click", function () {
          loadExamples(alert.topic);
        });
        actions.appendChild(examples);
        tr.appendChild(actions);
        rows.appendChild(tr);
      });
    });
  }

  function action(label, verb, alert) {
    var button = el("button", { type: "button" }, label);
    button.addEventListener("click", function () {
      button.disabled = true;
      api("POST", "/api/alerts/" + alert.id + "/" + verb)
        .then(function (data) {
          say("Alert " + data.alert.id + " " + data.alert.state + ".");
          return loadAlerts();
        })
        .catch(function (e) {
          button.disabled = false;
          say(e.message);
        });
    });
    return button;
  }

  // Most negative topics now --------------------------------------------------------

  function loadTopics() {
    return api("GET", "/api/sentiment/topics").then(function (data) {
      var rows = document.getElementById("topic-rows");
      rows.textContent = "";
      if (!data.topics.length) {
        var empty = el("tr");
        empty.appendChild(el("td", { colspan: "4" }, "No messages in the last " + Math.round(data.window_s / 60) + " minutes."));
        rows.appendChild(empty);
      }
      data.topics.forEach(function (row) {
        var tr = el("tr");
        tr.appendChild(el("td", {}, row.topic));
        tr.appendChild(el("td", {}, percent(row.share)));
        tr.appendChild(el("td", {}, row.volume));
        var cell = el("td");
        var button = el("button", { type: "button" }, "Examples");
        button.setAttribute("aria-label", "Examples for " + row.topic);
        button.addEventListener("click", function () {
          loadExamples(row.topic);
        });
        cell.appendChild(button);
        tr.appendChild(cell);
        rows.appendChild(tr);
      });
    });
  }

  // Drill-down ----------------------------------------------------------------------

  function loadExamples(topic) {
    var path = "/api/sentiment/examples?limit=20";
    if (topic && topic !== "*") path += "&topic=" + encodeURIComponent(topic);
    return api("GET", path)
      .then(function (data) {
        document.getElementById("examples-caption").textContent =
          "Latest negative messages in " + topicName(topic) + " (last 24 hours).";
        var list = document.getElementById("examples");
        list.textContent = "";
        if (!data.examples.length) list.appendChild(el("li", {}, "None."));
        data.examples.forEach(function (example) {
          var item = el("li");
          item.appendChild(el("q", {}, example.text));
          item.appendChild(
            el("span", { class: "muted" }, " " + (example.intent || "?") + " · " + example.channel + " · " + when(example.at) + " ")
          );
          item.appendChild(el("a", { href: example.url }, "Open conversation"));
          list.appendChild(item);
        });
        document.getElementById("examples-title").scrollIntoView({ block: "nearest" });
      })
      .catch(function (e) {
        say(e.message);
      });
  }

  // Charts --------------------------------------------------------------------------

  function chart(series, bucket) {
    var width = 560;
    var height = 150;
    var pad = { left: 36, right: 36, top: 10, bottom: 22 };
    var points = series.points;
    var inner = { w: width - pad.left - pad.right, h: height - pad.top - pad.bottom };
    var maxVolume = Math.max(1, Math.max.apply(null, points.map(function (p) { return p.volume; })));
    var step = inner.w / Math.max(1, points.length);
    var total = 0;
    var negatives = 0;
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, class: "chart", role: "img" });
    // Grid and axes: 0%, 50%, 100% for the share; the volume scale on the left.
    [0, 0.5, 1].forEach(function (level) {
      var y = pad.top + inner.h * (1 - level);
      root.appendChild(svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, stroke: "#e4e6e9" }));
      var label = svg("text", { x: width - pad.right + 4, y: y + 4, "font-size": "10", fill: "#a61b1b" });
      label.textContent = Math.round(level * 100) + "%";
      root.appendChild(label);
    });
    var top = svg("text", { x: 2, y: pad.top + 8, "font-size": "10", fill: "#445" });
    top.textContent = String(maxVolume);
    root.appendChild(top);
    var line = [];
    points.forEach(function (p, i) {
      total += p.volume;
      negatives += p.negative;
      var x = pad.left + i * step;
      if (p.volume) {
        var h = (inner.h * p.volume) / maxVolume;
        var bar = svg("rect", {
          x: x + step * 0.1,
          y: pad.top + inner.h - h,
          width: Math.max(1, step * 0.8),
          height: h,
          fill: "#c9d6e3",
        });
        var tip = svg("title", {});
        tip.textContent = when(p.t) + ": " + p.volume + " messages, " + percent(p.share) + " negative";
        bar.appendChild(tip);
        root.appendChild(bar);
        line.push((x + step / 2).toFixed(1) + "," + (pad.top + inner.h * (1 - p.share)).toFixed(1));
      }
    });
    if (line.length) {
      root.appendChild(svg("polyline", { points: line.join(" "), fill: "none", stroke: "#a61b1b", "stroke-width": "2" }));
      line.forEach(function (xy) {
        var parts = xy.split(",");
        root.appendChild(svg("circle", { cx: parts[0], cy: parts[1], r: "2", fill: "#a61b1b" }));
      });
    }
    if (points.length) {
      var first = svg("text", { x: pad.left, y: height - 6, "font-size": "10", fill: "#445" });
      first.textContent = when(points[0].t);
      root.appendChild(first);
      var last = svg("text", { x: width - pad.right, y: height - 6, "font-size": "10", fill: "#445", "text-anchor": "end" });
      last.textContent = when(points[points.length - 1].t);
      root.appendChild(last);
    }
    var summary =
      topicName(series.topic) + ": " + total + " messages, " + percent(total ? negatives / total : null) + " negative, per " + bucket;
    root.setAttribute("aria-label", summary);
    var figure = el("figure", { class: "chart-box" });
    figure.appendChild(el("figcaption", {}, summary));
    figure.appendChild(root);
    return figure;
  }

  function loadCharts() {
    var choice = document.getElementById("range").value.split(":");
    var path = "/api/sentiment/series?since=" + encodeURIComponent(choice[0]) + "&bucket=" + encodeURIComponent(choice[1]);
    return api("GET", path).then(function (data) {
      var box = document.getElementById("charts");
      box.textContent = "";
      var shown = data.series.filter(function (s, i) {
        return i === 0 || s.points.some(function (p) { return p.volume; });
      });
      shown.forEach(function (series) {
        box.appendChild(chart(series, data.bucket));
      });
    });
  }

  // The learning loop's review queue: misunderstood messages per day, newest first.
  function loadReview() {
    return api("GET", "/api/review/counts?days=14").then(function (data) {
      var rows = document.getElementById("review-rows");
      rows.textContent = "";
      data.days.slice().reverse().forEach(function (day) {
        rows.appendChild(textRow([day.day, day.misunderstood, day.reviewed]));
      });
      document.getElementById("review-length").textContent =
        data.queue_length === 1 ? "1 message waits for review." : data.queue_length + " messages wait for review.";
    });
  }

  function refresh() {
    return Promise.all([loadAlerts(), loadTopics(), loadCharts(), loadReview()])
      .then(function () {
        say("Updated " + new Date().toLocaleTimeString() + ".");
      })
      .catch(function (e) {
        say(e.message);
      });
  }

  document.getElementById("alert-filter").addEventListener("change", loadAlerts);
  document.getElementById("range").addEventListener("change", loadCharts);
  refresh();
  setInterval(refresh, 15000);
})();
