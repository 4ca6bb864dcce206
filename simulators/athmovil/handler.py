"""The ATH Móvil fake's HTTP side: the README's paths under `/api/business-transaction/ecommerce` (the payments host
and the refund host alike), JSON bodies, the request log with tokens masked, scheduled failures and the planted PAN."""

from __future__ import annotations

import json
from collections.abc import Callable

from simulators.athmovil import operations
from simulators.athmovil.replies import AthError, failure_reply, reply, success
from simulators.athmovil.state import AthMovilState
from simulators.base import FakeHandler, Reply, masked
from simulators.faults import with_card_number

PREFIX = "/api/business-transaction/ecommerce"
SECRET_FIELDS = ("publicToken", "privateToken")
Operation = Callable[["AthMovilHandler", AthMovilState, dict], object]
ROUTES: dict[str, tuple[str, Operation]] = {
    "/payment": ("POST", lambda handler, state, body: operations.create_payment(state, body)),
    "/authorization": ("POST", lambda handler, state, body: operations.authorize(state, handler.bearer, body)),
    "/business/findPayment": ("POST", lambda handler, state, body: operations.find_payment(state, body)),
    "/business/cancel": ("POST", lambda handler, state, body: operations.cancel(state, body)),
    "/business/updatePhoneNumber": (
        "PUT",
        lambda handler, state, body: operations.update_phone(state, handler.bearer, body),
    ),
    "/refund": ("POST", lambda handler, state, body: operations.refund(state, body)),
    "/business/transactionReport": ("POST", lambda handler, state, body: operations.transaction_report(state, body)),
}


def _error(status: int, message: str) -> dict:
    return {"status": "error", "message": message, "errorcode": str(status), "data": None}


def _logged(body) -> object:
    return masked(body, SECRET_FIELDS)


class AthMovilHandler(FakeHandler):
    server_version = "AthMovilSimulator/1.0"
    state: AthMovilState

    def do_PUT(self):  # updatePhoneNumber is a PUT
        self._handle()

    @property
    def bearer(self) -> str | None:
        return self.headers.get("Authorization")

    def answer(self, path: str, raw: bytes) -> Reply:
        route = path[len(PREFIX) :] if path.startswith(f"{PREFIX}/") else None
        state = self.state
        with state.lock:
            state.requests += 1
            parsed, problem = self._parse(raw)
            state.recent_requests.append({"method": self.command, "path": path, "body": _logged(parsed)})
            if route not in ROUTES:
                return reply(404, _error(404, "Not Found"))
            method, operation = ROUTES[route]
            if self.command != method:
                return reply(405, _error(405, f"Request method '{self.command}' not supported"))
            if fail := state.faults.due():
                return failure_reply(fail)
            try:
                if problem:
                    raise problem
                status, answer = 200, success(operation(self, state, parsed))
            except AthError as error:
                status, answer = error.status, error.body
            if state.card_number_next:  # planted once: the hub must refuse an answer that carries a PAN
                answer, state.card_number_next = with_card_number(answer, state.card_number_next), None
        return reply(status, answer)

    @staticmethod
    def _parse(raw: bytes) -> tuple[dict, AthError | None]:
        """The JSON object sent ({} for no body: each route decides whether it needs one)."""
        if not raw.strip():
            return {}, None
        try:
            body = json.loads(raw)
        except ValueError:
            return {}, AthError("BTRA_0006", "Invalid format: the body is not valid JSON")
        if not isinstance(body, dict):
            return {}, AthError("BTRA_0006", "Invalid format: the body must be a JSON object")
        return body, None
