"""The Turnstile fake's routes: the widget's script, the token it hands the widget, and siteverify."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from simulators.base import FakeHandler, Reply, json_reply, text_reply
from simulators.turnstile.state import TurnstileState

JAVASCRIPT = "application/javascript; charset=utf-8"
NO_STORE = {"Cache-Control": "no-store"}  # a fresh token on every page load

# Renders each .cf-turnstile element: a hidden input for the token and a line of status, then asks this server
# for a token with a script of its own (the page's Content-Security-Policy allows scripts from this origin).
API_JS = """(function () {
  var origin = %(origin)s, widgets = [];
  window.qiiubTurnstileAnswer = function (index, token, error) {
    var widget = widgets[index];
    if (!widget) { return; }
    widget.input.value = token || "";
    widget.status.textContent = token ? "Success!" : "Error: " + error;
    widget.element.setAttribute("data-state", token ? "solved" : "error");
  };
  function render(element) {
    var input = document.createElement("input"), status = document.createElement("span");
    input.type = "hidden";
    input.name = element.getAttribute("data-response-field-name") || "cf-turnstile-response";
    status.className = "cf-turnstile-status";
    status.textContent = "Verifying…";
    element.appendChild(input);
    element.appendChild(status);
    var index = widgets.push({element: element, input: input, status: status}) - 1;
    var query = new URLSearchParams({sitekey: element.getAttribute("data-sitekey") || "",
      action: element.getAttribute("data-action") || "", hostname: location.hostname, widget: String(index)});
    var script = document.createElement("script");
    script.src = origin + "/turnstile/v0/challenge.js?" + query.toString();
    document.head.appendChild(script);
  }
  function renderAll() { document.querySelectorAll(".cf-turnstile").forEach(render); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", renderAll); }
  else { renderAll(); }
})();
"""


class TurnstileHandler(FakeHandler):
    state: TurnstileState

    def answer(self, path: str, raw: bytes) -> Reply:
        route = (self.command, path)
        if route == ("GET", "/turnstile/v0/api.js"):
            origin = f"http://{self.headers.get('Host', '127.0.0.1')}"
            return Reply(200, (API_JS % {"origin": json.dumps(origin)}).encode(), JAVASCRIPT, NO_STORE)
        if route == ("GET", "/turnstile/v0/challenge.js"):
            return self._challenge()
        if route == ("POST", "/turnstile/v0/siteverify"):
            return self._siteverify(raw)
        return text_reply(404, "Not Found")

    def _challenge(self) -> Reply:
        widget = self.params.get("widget", "")
        widget = int(widget) if widget.isdigit() else 0
        with self.state.lock:
            if self.params.get("sitekey") != self.state.site_key:
                token, error = None, "invalid sitekey (110100)"
            else:
                token = self.state.issue(action=self.params.get("action", ""), hostname=self.params.get("hostname", ""))
                error = None
        script = f"window.qiiubTurnstileAnswer({widget}, {json.dumps(token)}, {json.dumps(error)});\n"
        return Reply(200, script.encode(), JAVASCRIPT, NO_STORE)

    def _siteverify(self, raw: bytes) -> Reply:
        with self.state.lock:
            fail = self.state.faults.due()
        if fail is not None:
            return text_reply(fail.status, "error code: 1101")
        if self._media_type() == "application/json":
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return json_reply(400, {"success": False, "error-codes": ["bad-request"], "messages": []})
            fields = {key: str(value) for key, value in body.items() if isinstance(value, str)}
        else:
            fields = {key: values[-1] for key, values in parse_qs(raw.decode(errors="replace")).items()}
        with self.state.lock:
            answer = self.state.verify(secret=fields.get("secret", ""), token=fields.get("response", ""),
                                       remoteip=fields.get("remoteip", ""))
        return json_reply(200, answer)
