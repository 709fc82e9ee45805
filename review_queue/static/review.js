// Keyboard shortcuts and live counts for the review queue. No inline script: the page's
// Content-Security-Policy allows only this file.
(function () {
  "use strict";

  // A field that takes letters: shortcuts must not fire there (a ticked checkbox is not one).
  function typing(el) {
    if (!el) { return false; }
    if (el.tagName === "INPUT") { return ["checkbox", "radio", "button", "submit", "reset"].indexOf(el.type) < 0; }
    return el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable;
  }

  function click(id) {
    var el = document.getElementById(id);
    if (el) { el.click(); return true; }
    return false;
  }

  function follow(id) {
    var el = document.getElementById(id);
    if (el && el.href) { window.location.href = el.href; return true; }
    return false;
  }

  function focusField(id) {
    var el = document.getElementById(id);
    if (!el) { return false; }
    el.focus();
    if (el.setSelectionRange) { el.setSelectionRange(el.value.length, el.value.length); }
    return true;
  }

  // ---- queue page: j/k move a selection, Enter opens it; clicking a row opens it.
  function queueKeys() {
    var rows = Array.prototype.slice.call(document.querySelectorAll("tr.row"));
    var at = -1;
    function select(i) {
      if (!rows.length) { return; }
      at = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach(function (r, n) { r.classList.toggle("selected", n === at); });
      rows[at].scrollIntoView({ block: "nearest" });
    }
    rows.forEach(function (row) {
      row.addEventListener("click", function (e) {
        if (e.target.tagName !== "A") { window.location.href = row.dataset.href; }
      });
    });
    return function (e) {
      if (e.key === "j") { select(at + 1); return true; }
      if (e.key === "k") { select(at - 1); return true; }
      if (e.key === "Enter" && at >= 0) { window.location.href = rows[at].dataset.href; return true; }
      return false;
    };
  }

  // g ticks (or unticks) every near-duplicate offered for this decision
  function toggleNear() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll(".members .near input[type=checkbox]"));
    if (!boxes.length) { return false; }
    var tick = boxes.some(function (b) { return !b.checked; });
    boxes.forEach(function (b) { b.checked = tick; });
    return true;
  }

  // ---- item page: a approve, e edit, r reject (Enter in the reason rejects), c claim, j/k next/previous.
  function itemKeys() {
    var form = document.getElementById("decide-form");  // Ctrl+Enter anywhere in it approves
    if (form) {
      form.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); click("approve"); }
      });
    }
    var box = document.getElementById("final_answer");
    var note = document.getElementById("edited-note");
    if (box && note) {  // say as soon as the answer differs that approving saves the edit
      var update = function () { note.hidden = box.value.trim() === (box.dataset.original || "").trim(); };
      box.addEventListener("input", update);
      update();
    }
    return function (e) {
      switch (e.key) {
        case "a": return click("approve");
        case "e": return focusField("final_answer");
        case "r": return focusField("reason");
        case "c": return click("claim");
        case "g": return toggleNear();
        case "j": return follow("next");
        case "k": return follow("prev");
        default: return false;
      }
    };
  }

  // ---- live counts: poll a small JSON endpoint every few seconds.
  function pollCounts() {
    var box = document.getElementById("counts");
    if (!box || !window.fetch) { return; }
    function refresh() {
      fetch(box.dataset.url, { credentials: "same-origin", headers: { accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          Object.keys(data.counts).forEach(function (status) {
            var el = box.querySelector('[data-count="' + status + '"]');
            if (el) { el.textContent = String(data.counts[status]); }
          });
        })
        .catch(function () {});
    }
    setInterval(refresh, 5000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var page = document.body.dataset.page;
    var handler = page === "queue" ? queueKeys() : page === "item" ? itemKeys() : null;
    if (page === "queue") { pollCounts(); }
    if (!handler) { return; }
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && typing(document.activeElement)) { document.activeElement.blur(); return; }
      if (typing(document.activeElement) || e.ctrlKey || e.metaKey || e.altKey) { return; }
      if (handler(e)) { e.preventDefault(); }
    });
  });
})();
