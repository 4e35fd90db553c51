// Adempauze web chat: posts go into the gateway; every answer arrives over Server-Sent Events.
(function () {
  "use strict";
  var body = document.body, base = body.dataset.base || "", token = body.dataset.token;
  var log = document.getElementById("log"), form = document.getElementById("composer"), input = document.getElementById("text");
  var typing = document.createElement("div");
  typing.className = "typing";
  typing.textContent = "Adempauze typt…";

  function scroll() { log.scrollTop = log.scrollHeight; }

  function bubble(message, mine) {
    if (typing.parentNode) { typing.parentNode.removeChild(typing); }
    var div = document.createElement("div");
    div.className = "msg " + (mine ? "me" : message.from_staff ? "staff" : "bot");
    div.textContent = message.text || "";
    if (message.text) { log.appendChild(div); }
    if (message.buttons && message.buttons.length) {
      var row = document.createElement("div");
      row.className = "buttons";
      message.buttons.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = b.title;
        button.addEventListener("click", function () {
          row.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
          send(b.payload, b.title, true);
        });
        row.appendChild(button);
      });
      log.appendChild(row);
    }
    scroll();
  }

  function send(text, shown, isButton) {
    bubble({ text: shown || text }, true);
    return fetch(base + "/send", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: text, token: token, button: !!isButton })
    }).then(function (r) { return r.json(); })
      .then(function (data) { if (data.error) { bubble({ text: "⚠ " + data.error }); } })
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
    var history = data.messages || [];
    history.forEach(function (m) { bubble(m, m.mine); });
    var source = new EventSource(base + "/events");
    var started = false;
    source.onopen = function () {
      body.classList.remove("offline");
      if (!started && body.dataset.new === "1" && !history.length) { started = true; send("/start", "Start"); }
      started = true;
    };
    source.onerror = function () { body.classList.add("offline"); };
    source.onmessage = function (e) {
      var item = JSON.parse(e.data);
      if (item.typing) { log.appendChild(typing); scroll(); return; }
      if (item.clear_keyboards) { log.querySelectorAll(".buttons button").forEach(function (x) { x.disabled = true; }); return; }
      bubble(item);
    };
  });
})();
