// The onboarding page, live: each "change" event from the server swaps in the fresh state,
// diagram and timeline, and the actions the new state allows (unless a reason is being typed).
// Every page works without this script; it only saves a reload.
"use strict";
(function () {
  function typing(actions) {
    if (actions.contains(document.activeElement)) { return true; }
    return Array.prototype.some.call(
      actions.querySelectorAll("input[name=reason]"), function (field) { return field.value !== ""; }
    );
  }

  function swap(html) {
    var fresh = document.createElement("template");
    fresh.innerHTML = html;
    ["live-state", "live-actions"].forEach(function (id) {
      var old = document.getElementById(id);
      var next = fresh.content.getElementById(id);
      if (!old || !next || (id === "live-actions" && typing(old))) { return; }
      old.replaceWith(next);
    });
  }

  function follow(live) {
    var source = new EventSource(live.dataset.events);
    var busy = false;
    source.addEventListener("ready", function () { live.dataset.connected = "1"; });
    source.addEventListener("change", function () {
      if (busy) { return; }
      busy = true;
      fetch(live.dataset.fragment, { credentials: "same-origin" })
        .then(function (reply) { return reply.ok ? reply.text() : null; })
        .then(function (html) {
          if (html !== null) { swap(html); live.dataset.updated = String(Date.now()); }
        })
        .catch(function () { /* the next change tries again */ })
        .finally(function () { busy = false; });
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var live = document.getElementById("live");
    if (live && live.dataset.events && window.EventSource) { follow(live); }
  });
})();
