/* Frontdesk console pages: the helpers every page script shares, as window.Frontdesk.
 * pages.layout() loads this first (deferred scripts run in document order), so console.js,
 * review.js and ops.js can rely on it. A file of its own, not inline: the CSP allows
 * scripts from 'self' only.
 */
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  // Text goes in with textContent, never innerHTML: customers and models wrote it.
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // A table row of plain text cells.
  function textRow(values) {
    var tr = el("tr");
    values.forEach(function (value) {
      tr.appendChild(el("td", {}, value));
    });
    return tr;
  }

  // JSON in and out with the session's CSRF token; a lapsed session goes to the sign-in page
  // and comes back here, and an error's message is the API's own.
  function api(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      if (response.status === 401) {
        window.location.href = "/console/login?next=" + encodeURIComponent(location.pathname);
        throw new Error("signed out");
      }
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.error || "request failed (" + response.status + ")");
        return data;
      });
    });
  }

  // Into a page's status line (a role="status" live region, so screen readers hear it).
  function say(target, text) {
    var node = document.getElementById(target);
    if (node) node.textContent = text;
  }

  function percent(share) {
    return share === null || share === undefined ? "–" : Math.round(share * 100) + "%";
  }

  window.Frontdesk = Object.freeze({ el: el, textRow: textRow, api: api, say: say, percent: percent });
})();
