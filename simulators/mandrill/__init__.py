"""A local fake of Mandrill's transactional API (Mailchimp Transactional), for the tests and a manual demo.

Followed from Mandrill's API reference (v1.0): `POST /api/1.0/messages/send.json` takes a JSON body
`{"key": <API key>, "message": {...}}`; the message has `to` (a list of {email, name, type}), `from_email`,
`subject` and at least one of `text` and `html`; a success is HTTP 200 with one
`{email, status, _id, reject_reason}` per recipient (status sent, queued, rejected or invalid); every error
is HTTP 500 with `{"status": "error", "code": <int>, "name": <name>, "message": <text>}`, e.g. -1
`Invalid_Key` ("Invalid API key"), -2 `ValidationError`, -1 `GeneralError`. `POST /api/1.0/users/ping.json`
answers `"PONG!"` to a valid key.

Inferred: the fake answers "sent" at once (Mandrill may answer "queued"); a recipient listed in `reject` is
"rejected" with reject_reason "hard-bounce" and no `_id`.

Steering (`POST /_control`): reset, keys [valid API keys] (default: `mandrill-test-key`), reject [addresses],
fail {status 500/502/503, count} (500 answers a GeneralError; 502 and 503 a proxy's HTML page), delay_s.
`GET /_state` shows the messages accepted (subject, from, to, text, html, tags, tracking) and the count of
refused calls by error name; a key is never shown. Standard library only.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import ThreadingHTTPServer

from simulators.base import FakeHandler, Reply, json_reply, serve, text_reply
from simulators.faults import Faults

PORT, NAME = 8781, "Mandrill"
DEFAULT_KEY = "mandrill-test-key"
SEND = "/api/1.0/messages/send.json"
PING = "/api/1.0/users/ping.json"

__all__ = ["DEFAULT_KEY", "NAME", "PORT", "make_server"]


def mandrill_error(code: int, name: str, message: str) -> Reply:
    return json_reply(500, {"status": "error", "code": code, "name": name, "message": message})


class MandrillState:
    def __init__(self):
        self.lock = threading.Lock()
        self.faults = Faults((500, 502, 503), retry_after=False)
        self._reset()

    def _reset(self) -> None:
        self.keys = {DEFAULT_KEY}
        self.rejected_addresses: set[str] = set()
        self.messages: list[dict] = []
        self.refused: dict[str, int] = {}
        self.faults.scheduled = None

    def control(self, body: dict) -> None:
        fail = self.faults.parse(body)
        keys, reject = body.get("keys"), body.get("reject")
        for name, value in (("keys", keys), ("reject", reject)):
            if value is not None and not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
                raise ValueError(f"{name} must be a list of strings")
        if body.get("reset"):
            self._reset()
        if keys is not None:
            self.keys = set(keys)
        if reject is not None:
            self.rejected_addresses = {address.lower() for address in reject}
        if "fail" in body:
            self.faults.scheduled = fail

    def snapshot(self) -> dict:
        return {"messages": self.messages, "refused": self.refused}


def _message_problem(message) -> str:
    """What Mandrill's ValidationError would say of this message ("" when it is well formed)."""
    if not isinstance(message, dict):
        return "Validation error: {\"message\":\"Please enter an array\"}"
    to = message.get("to")
    if not isinstance(to, list) or not to or not all(isinstance(item, dict) and item.get("email") for item in to):
        return "Validation error: {\"message\":{\"to\":\"Please enter an array\"}}"
    if not message.get("from_email"):
        return "Validation error: {\"message\":{\"from_email\":\"An email address must contain a single @\"}}"
    if not (message.get("text") or message.get("html")):
        return "Validation error: {\"message\":\"A message needs a text or an html part\"}"
    return ""


class MandrillHandler(FakeHandler):
    server_version = "MandrillSimulator/1.0"
    state: MandrillState

    def answer(self, path: str, raw: bytes) -> Reply:
        if self.command != "POST" or path not in (SEND, PING):
            return mandrill_error(-1, "GeneralError", "Unknown method")
        with self.state.lock:
            if fail := self.state.faults.due():
                return (mandrill_error(-1, "GeneralError", "An unexpected error occurred") if fail.status == 500
                        else text_reply(fail.status, "<html><body>Bad gateway</body></html>"))
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return self._refused(-1, "GeneralError", "You must specify a key value")
            key = body.get("key") if isinstance(body, dict) else None
            if key not in self.state.keys:
                return self._refused(-1, "Invalid_Key", "Invalid API key")
            if path == PING:
                return json_reply(200, "PONG!")
            problem = _message_problem(body.get("message"))
            if problem:
                return self._refused(-2, "ValidationError", problem)
            return json_reply(200, self._accept(body["message"]))

    def _refused(self, code: int, name: str, message: str) -> Reply:
        self.state.refused[name] = self.state.refused.get(name, 0) + 1
        return mandrill_error(code, name, message)

    def _accept(self, message: dict) -> list[dict]:
        kept = {name: message.get(name) for name in (
            "subject", "from_email", "from_name", "to", "text", "html", "tags", "track_opens", "track_clicks")}
        self.state.messages.append(kept)
        results = []
        for recipient in message["to"]:
            email = recipient["email"]
            if email.lower() in self.state.rejected_addresses:
                results.append({"email": email, "status": "rejected", "reject_reason": "hard-bounce"})
            else:
                results.append({"email": email, "status": "sent", "_id": uuid.uuid4().hex, "reject_reason": None})
        return results


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve(MandrillHandler, MandrillState(), host, port)
