"""Punchcard's fake (docs/adding-a-connector.md, step 3): checks the API key and answers as the
vendor would, 401 included. Built on simulators/base.py."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from simulators.base import FakeHandler, json_reply, serve

API_KEY = "pk_test_punchcard"


@dataclass
class PunchcardState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    program: str = "colmado-rewards"
    members: list[dict] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def control(self, body: dict) -> None:
        if body.get("reset"):
            self.members.clear()
            self.requests.clear()
        self.members.extend(body.get("members", []))

    def snapshot(self) -> dict:
        return {"requests": list(self.requests), "members": len(self.members)}


class PunchcardHandler(FakeHandler):
    def answer(self, path: str, raw: bytes):
        with self.state.lock:
            self.state.requests.append(f"{self.command} {path}")
            if self.headers.get("X-Api-Key") != API_KEY:
                return json_reply(401, {"error": "invalid_api_key"})
            if (self.command, path) == ("GET", "/v1/account"):
                return json_reply(200, {"program": self.state.program})
            if (self.command, path) == ("GET", "/v1/members"):
                since = self.params.get("since", "")
                return json_reply(200, {"members": [member for member in self.state.members
                                                    if member["joined_at"] > since]})
        return json_reply(404, {"error": "not_found"})


def make_server(port: int = 0):
    return serve(PunchcardHandler, PunchcardState(), "127.0.0.1", port)
