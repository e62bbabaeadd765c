/* LLS dashboard: the little JavaScript it has. Everything works without it;
   with it, the overview refreshes its figures without a page reload. */
(function () {
  "use strict";

  function poll(box) {
    var url = box.getAttribute("data-poll");
    var seconds = Math.max(1, parseFloat(box.getAttribute("data-poll-s")) || 5);
    var busy = false;
    var failures = 0;

    function tick() {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(url, { credentials: "same-origin", cache: "no-store", redirect: "manual" })
        .then(function (response) {
          if (response.status === 401 || response.type === "opaqueredirect") {
            // The session ended: reload, which leads to the sign-in page.
            window.location.reload();
            return null;
          }
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (html) {
          if (html === null || html === undefined) { return; }
          failures = 0;
          box.classList.remove("stale");
          var focused = document.activeElement;
          var keepFocus = focused && box.contains(focused) && focused.getAttribute("href");
          box.innerHTML = html;
          if (keepFocus) {
            var again = box.querySelector('[href="' + keepFocus.replace(/"/g, "") + '"]');
            if (again) { again.focus(); }
          }
        })
        .catch(function () {
          failures += 1;
          if (failures >= 2) { box.classList.add("stale"); }
        })
        .then(function () { busy = false; });
    }

    window.setInterval(tick, seconds * 1000);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { tick(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var boxes = document.querySelectorAll("[data-poll]");
    for (var i = 0; i < boxes.length; i += 1) { poll(boxes[i]); }
  });
})();
