// The console's few behaviours; every page also works without them (links and forms).
(function () {
  "use strict";

  // Errors (409, 422, 503) are shown in place, in the dialog that asked: swap them too.
  if (window.htmx) {
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "[45]..", swap: true, error: false },
    ];
  }

  // "in 2 h 14 m" / "past due by 5 m": the same words api/console/present.py:countdown renders.
  function countdown(ms) {
    var seconds = Math.trunc(ms / 1000);
    var span = Math.abs(seconds);
    var days = Math.floor(span / 86400);
    var hours = Math.floor((span % 86400) / 3600);
    var minutes = Math.floor((span % 3600) / 60);
    var secs = span % 60;
    var text;
    if (days) text = days + " d " + hours + " h";
    else if (hours) text = hours + " h " + minutes + " m";
    else if (minutes) text = minutes < 10 ? minutes + " m " + secs + " s" : minutes + " m";
    else text = secs + " s";
    return seconds >= 0 ? "in " + text : "past due by " + text;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = Date.parse(el.dataset.due) - now;
      el.textContent = countdown(left);
      el.classList.toggle("overdue", left < 0);
    });
  }

  // A refresh waits while someone is filling in a form or has a dialog open.
  window.consoleBusy = function () {
    if (document.querySelector("dialog[open]")) return true;
    var active = document.activeElement;
    return !!(active && active.closest && active.closest("#live form"));
  };

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.dataset.dialog);
      if (dialog && dialog.showModal) {
        event.preventDefault();
        var menu = opener.closest("details");
        if (menu) menu.open = false;
        dialog.showModal();
        var first = dialog.querySelector("input:not([type=hidden]), select, textarea, button");
        if (first) first.focus();
      }
      return;
    }
    var closer = event.target.closest("[data-close]");
    if (closer) {
      var open = closer.closest("dialog");
      if (open && open.open) {
        event.preventDefault();
        open.close();
      }
    }
  });

  // Keyboard: "/" searches; j and k move through the rows of a list, Enter opens one.
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  var selected = -1;
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key === "/") {
      var search = document.getElementById("search");
      if (search) {
        event.preventDefault();
        search.focus();
      }
      return;
    }
    if (event.key !== "j" && event.key !== "k") return;
    var rows = Array.prototype.slice.call(document.querySelectorAll("[data-list] [data-row]"));
    if (!rows.length) return;
    selected = Math.max(0, Math.min(rows.length - 1, selected + (event.key === "j" ? 1 : -1)));
    rows.forEach(function (row, i) { row.classList.toggle("selected", i === selected); });
    var link = rows[selected].querySelector("a");
    if (link) link.focus();
  });

  // Back from a hidden tab: refresh at once rather than at the next poll.
  document.addEventListener("visibilitychange", function () {
    var live = document.getElementById("live");
    if (!document.hidden && live && live.dataset.refresh && window.htmx && !window.consoleBusy()) {
      htmx.trigger(live, "refresh-now");
    }
  });
  document.addEventListener("htmx:afterSettle", tick);
  setInterval(tick, 1000);
  tick();
})();
