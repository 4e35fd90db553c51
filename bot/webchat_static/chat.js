// Adempauze web chat: posts go through the gateway; staff messages arrive over Server-Sent Events.
(function () {
  "use strict";
  var body = document.body, base = body.dataset.base || "", token = body.dataset.token;
  var log = document.getElementById("log"), form = document.getElementById("composer"), input = document.getElementById("text");

  function bubble(message, mine) {
    var div = document.createElement("div");
    div.className = "msg " + (mine ? "me" : message.from_staff ? "staff" : "bot");
    div.textContent = message.text || "";
    log.appendChild(div);
    if (message.buttons && message.buttons.length) {
      var row = document.createElement("div");
      row.className = "buttons";
      message.buttons.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = b.title;
        button.addEventListener("click", function () {
          row.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
          send(b.payload, b.title);
        });
        row.appendChild(button);
      });
      log.appendChild(row);
    }
    log.scrollTop = log.scrollHeight;
  }

  function send(text, shown) {
    bubble({ text: shown || text }, true);
    return fetch(base + "/send", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: text, token: token })
    }).then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.error) { bubble({ text: "⚠ " + data.error }); return; }
        (data.replies || []).forEach(function (m) { bubble(m); });
      })
      .catch(function () { bubble({ text: "⚠ Geen verbinding. Probeer het zo nog eens. Bij gevaar: bel 112." }); });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    send(text);
  });
  document.querySelectorAll("[data-send]").forEach(function (b) {
    b.addEventListener("click", function () { send(b.dataset.send, b.dataset.title); });
  });

  fetch(base + "/history", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
    (data.messages || []).forEach(function (m) { bubble(m, m.mine); });
    var source = new EventSource(base + "/events");
    source.onmessage = function (e) { bubble(JSON.parse(e.data)); };
    if (body.dataset.new === "1" && !(data.messages || []).length) { send("/start", "Start"); }
  });
})();
