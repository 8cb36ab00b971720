// The onboarding page, live: each "change" event from the server swaps in the fresh live part.
// Every page works without this script; it only saves a reload.
"use strict";
(function () {
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
          if (html !== null) { live.innerHTML = html; live.dataset.updated = String(Date.now()); }
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
