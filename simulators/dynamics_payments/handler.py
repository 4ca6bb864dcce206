"""The Dynamics Payments fake's HTTP side: `/WebApi/APaymentTokenApi/<Operation>` (the client's test host path),
JSON bodies, the SessionId / SiteId / MessageHash check, the request log with keys and tokens masked, scheduled
failures and the planted PAN."""

from __future__ import annotations

import hmac
import json

from simulators.base import FakeHandler, Reply, masked
from simulators.dynamics_payments.operations import OPERATIONS
from simulators.dynamics_payments.replies import (
    DynamicsError,
    bad_signature,
    failure_reply,
    invalid_format,
    reply,
    wrong_merchant,
)
from simulators.dynamics_payments.signing import HASHED_FIELDS, message_hash
from simulators.dynamics_payments.state import DynamicsState, Site
from simulators.faults import with_card_number

PREFIX = "/WebApi/APaymentTokenApi/"
SECRET_FIELDS = ("MerchantKey", "AccountToken")
# The client's card-number operations: the hub never sends a card number, so this fake has none of them.
NOT_SERVED = ("RegisterToken", "GetCustomerTokens", "DeleteCustomerToken")


def _logged(body) -> object:
    return masked(body, SECRET_FIELDS)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class DynamicsPaymentsHandler(FakeHandler):
    server_version = "Microsoft-IIS/10.0"  # an ASP.NET Web API, by its /WebApi/ path
    state: DynamicsState

    def answer(self, path: str, raw: bytes) -> Reply:
        operation = path[len(PREFIX) :] if path.startswith(PREFIX) else ""
        state = self.state
        with state.lock:
            state.requests += 1
            body, problem = self._parse(raw)
            state.recent_requests.append({"method": self.command, "path": path, "body": _logged(body)})
            if operation in NOT_SERVED:
                message = f"{operation} no está disponible en este simulador: el hub nunca envía números de tarjeta"
                return reply(404, {"Message": message})
            if operation not in OPERATIONS:
                return reply(404, {"Message": f"No HTTP resource was found that matches the request URI '{path}'."})
            if self.command != "POST" and not (self.command == "GET" and operation == "GetTransactionByID"):
                return reply(405, {"Message": f"The requested resource does not support http method '{self.command}'."})
            if fail := state.faults.due():
                return failure_reply(fail)
            try:
                if problem:
                    raise problem
                site = self._signed_in(operation, body)
                status, answer = 200, OPERATIONS[operation](state, site, body)
            except DynamicsError as error:
                status, answer = error.status, error.body
            if state.card_number_next:  # planted once: the hub must refuse an answer that carries a PAN
                answer, state.card_number_next = with_card_number(answer, state.card_number_next), None
        return reply(status, answer)

    def _signed_in(self, operation: str, body: dict) -> Site:
        """The site whose headers sign this request; 400 for a missing field, 401 for a bad signature."""
        fields = HASHED_FIELDS[operation]
        for name in fields:
            if not isinstance(body.get(name), str) or not body[name].strip():
                raise invalid_format(f"{name} es obligatorio y debe ser texto")
        site = self.state.sites.get(self.headers.get("SiteId", ""))
        if site is None or not _same(self.headers.get("SessionId", ""), site.session_id):
            raise bad_signature()
        expected = message_hash(site.secret, site.site_id, site.session_id, *(body[name] for name in fields))
        if not _same(self.headers.get("MessageHash", ""), expected):
            raise bad_signature()
        if body.get("MerchantKey") is not None and body["MerchantKey"] != site.merchant_key:
            raise wrong_merchant()
        return site

    @staticmethod
    def _parse(raw: bytes) -> tuple[dict, DynamicsError | None]:
        if not raw.strip():
            return {}, invalid_format("el cuerpo JSON está vacío")
        try:
            body = json.loads(raw)
        except ValueError:
            return {}, invalid_format("el cuerpo no es JSON válido")
        if not isinstance(body, dict):
            return {}, invalid_format("el cuerpo debe ser un objeto JSON")
        return body, None
