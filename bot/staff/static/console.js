// Adempauze staff console: live updates over Server-Sent Events, fragments rendered by the server.
(function () {
  "use strict";
  var body = document.body;
  var base = body.dataset.base || "";
  var live = document.getElementById("live");

  function stream(url, onEvent) {
    var source = new EventSource(url), opened = false;
    var types = ["queued", "claimed", "message", "transferred", "cancelled", "closed", "forgotten", "update"];
    types.forEach(function (type) { source.addEventListener(type, function (e) { onEvent(type, JSON.parse(e.data)); }); });
    source.onopen = function () {
      if (live) { live.classList.remove("offline"); live.textContent = "● live"; }
      if (opened) { onEvent("reconnected", {}); }  // catch up on what happened while reconnecting
      opened = true;
    };
    source.onerror = function () { if (live) { live.classList.add("offline"); live.textContent = "○ verbinding herstellen…"; } };
    return source;
  }

  function swap(url, id) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        if (r.redirected || r.status === 401) { window.location.href = base + "/login"; throw new Error("logged out"); }
        if (!r.ok) { throw new Error(r.status); }
        return r.text();
      })
      .then(function (html) { var el = document.getElementById(id); if (el) { el.innerHTML = html; } return el; });
  }

  if (body.dataset.live === "queue") {
    var refreshQueue = function () { swap(base + "/queue", "queue-rows"); };
    stream(base + "/events", function () {
      refreshQueue();
      if (document.hidden) { document.title = "● Nieuwe aanvraag — Adempauze"; }
    });
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { document.title = "Wachtrij — Adempauze console"; } });
    refreshQueue();
    setInterval(refreshQueue, 30000);  // waiting times move on even when nothing happens
  }

  if (body.dataset.live === "handoff") {
    var id = body.dataset.handoff;
    var scrollDown = function (el) { if (el) { el.scrollTop = el.scrollHeight; } };
    var refreshMessages = function () { return swap(base + "/h/" + id + "/messages", "messages").then(scrollDown); };
    scrollDown(document.getElementById("messages"));
    stream(base + "/h/" + id + "/events", function (type, event) {
      if (type === "message" || type === "reconnected") { refreshMessages(); return; }
      if (event.status && event.status !== body.dataset.status) {
        var text = document.querySelector("#send-form textarea");
        if (!text || !text.value) { window.location.reload(); } else { refreshMessages(); }
      }
    });
    var form = document.getElementById("send-form");
    if (form) {
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var data = new FormData(form);
        var button = form.querySelector("button");
        button.disabled = true;
        fetch(form.action, { method: "POST", body: data, credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
          .then(function (r) {
            if (!r.ok) { throw new Error("Versturen mislukt (" + r.status + ")"); }
            form.querySelector("textarea").value = "";
            return refreshMessages();
          })
          .catch(function (err) { alert(err.message); })
          .finally(function () { button.disabled = false; form.querySelector("textarea").focus(); });
      });
      form.querySelector("textarea").addEventListener("keydown", function (e) {
        if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
      });
    }
  }
})();
