"""The Stripe fake (simulators/stripe/) over real HTTP, as the payments adapter meets it: auth, form bodies,
PaymentIntents with manual and partial capture, refunds, cancel rules, idempotency (replays, reuse, injected
failures), planted Terminal charges with payouts for reconciliation, list paging, signed webhooks and the
`card_number_in_next_answer` trap. No database."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from simulators.stripe import make_server
from simulators.stripe.webhooks import signature_header

KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
OTHER_KEY = "sk_test_51OtherAccount0000"
T0 = 1_760_000_000  # planted payments happen at T0 + …


class Stripe:
    """A client of the fake: bearer key, form bodies and a fresh Idempotency-Key on every POST unless told."""

    def __init__(self, url: str, server):
        self.url, self.server = url, server
        self.session = requests.Session()

    def post(self, path: str, data=None, *, key: str = KEY, idempotency_key: str | None = "new", **kwargs):
        headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = str(uuid.uuid4()) if idempotency_key == "new" else idempotency_key
        return self.session.post(f"{self.url}{path}", data=data, headers=headers, timeout=5, **kwargs)

    def get(self, path: str, params=None, *, key: str = KEY):
        return self.session.get(f"{self.url}{path}", params=params, headers={"Authorization": f"Bearer {key}"},
                                timeout=5)

    def control(self, **body) -> requests.Response:
        return self.session.post(f"{self.url}/_control", json=body, timeout=30)

    def state(self) -> dict:
        return self.session.get(f"{self.url}/_state", timeout=5).json()

    def intent(self, amount: int = 1000, *, capture_method: str = "manual", method: str = "pm_card_visa",
               idempotency_key: str | None = "new", **extra):
        data = {"amount": amount, "currency": "usd", "capture_method": capture_method, "confirm": "true",
                "payment_method": method, **extra}
        return self.post("/v1/payment_intents", data, idempotency_key=idempotency_key)


@pytest.fixture(scope="module")
def stripe_server():
    server = make_server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Stripe(f"http://127.0.0.1:{server.server_port}", server)
    server.shutdown()


@pytest.fixture
def stripe(stripe_server):
    stripe_server.control(reset=True).raise_for_status()
    return stripe_server


def error_of(response: requests.Response) -> dict:
    return response.json()["error"]


def test_requests_without_a_valid_key_are_refused_without_echoing_it(stripe):
    missing = stripe.session.get(f"{stripe.url}/v1/balance_transactions", timeout=5)
    assert missing.status_code == 401 and error_of(missing)["type"] == "invalid_request_error"
    assert missing.headers["Request-Id"].startswith("req_")
    wrong = stripe.get("/v1/balance_transactions", key="pk_test_notASecretKey9876")
    assert wrong.status_code == 401
    assert error_of(wrong)["message"] == "Invalid API Key provided: pk_test_****9876"
    assert stripe.control(revoked_keys=[KEY]).ok
    revoked = stripe.get("/v1/balance_transactions")
    assert revoked.status_code == 401 and error_of(revoked)["message"] == "Expired API Key provided: sk_test_****p7dc"
    assert stripe.get("/v1/balance_transactions", key=OTHER_KEY).status_code == 200
    assert KEY not in json.dumps(stripe.state())


def test_v1_posts_must_be_form_encoded_and_usd(stripe):
    as_json = stripe.post("/v1/payment_intents", json={"amount": 1000, "currency": "usd"})
    assert as_json.status_code == 400 and error_of(as_json)["type"] == "invalid_request_error"
    euros = stripe.post("/v1/payment_intents", {"amount": 1000, "currency": "eur"})
    assert euros.status_code == 400 and error_of(euros)["param"] == "currency"
    zero = stripe.post("/v1/payment_intents", {"amount": 0, "currency": "usd"})
    assert zero.status_code == 400 and error_of(zero)["param"] == "amount"
    unknown = stripe.post("/v1/payment_intents", {"amount": 5, "currency": "usd", "amout": 5})
    assert unknown.status_code == 400 and error_of(unknown)["param"] == "amout"
    assert stripe.state()["accounts"]["sk_test_****p7dc"]["payment_intents"] == 0


def test_manual_capture_in_part_then_refunds_up_to_what_was_captured(stripe):
    created = stripe.intent(1000, **{"metadata[sale]": "S-1"})
    intent = created.json()
    assert created.status_code == 200 and intent["status"] == "requires_capture"
    assert intent["amount_capturable"] == 1000 and intent["metadata"] == {"sale": "S-1"}
    charge = stripe.get(f"/v1/charges/{intent['latest_charge']}").json()
    assert charge["captured"] is False and charge["balance_transaction"] is None
    assert charge["payment_method_details"]["card"]["last4"] == "4242"

    too_much = stripe.post(f"/v1/payment_intents/{intent['id']}/capture", {"amount_to_capture": 1001})
    assert too_much.status_code == 400 and error_of(too_much)["code"] == "amount_too_large"
    captured = stripe.post(f"/v1/payment_intents/{intent['id']}/capture", {"amount_to_capture": 600}).json()
    assert (captured["status"], captured["amount_received"], captured["amount_capturable"]) == ("succeeded", 600, 0)
    charge = stripe.get(f"/v1/charges/{intent['latest_charge']}", {"expand[]": "balance_transaction"}).json()
    assert charge["captured"] is True and charge["amount_captured"] == 600
    assert charge["balance_transaction"]["fee"] == 47 and charge["balance_transaction"]["net"] == 553  # 2.9 % + 30

    refund = stripe.post("/v1/refunds", {"payment_intent": intent["id"], "amount": 200, "reason": "requested_by_customer"})
    assert refund.status_code == 200
    assert refund.json()["destination_details"]["card"]["reference"].isalnum()
    over = stripe.post("/v1/refunds", {"payment_intent": intent["id"], "amount": 500})
    assert over.status_code == 400 and error_of(over)["param"] == "amount"
    assert error_of(over)["message"] == "Refund amount ($5.00) is greater than unrefunded amount on charge ($4.00)"
    rest = stripe.post("/v1/refunds", {"charge": intent["latest_charge"]}).json()
    assert rest["amount"] == 400
    charge = stripe.get(f"/v1/charges/{intent['latest_charge']}").json()
    assert charge["amount_refunded"] == 600 and charge["refunded"] is True
    again = stripe.post("/v1/refunds", {"payment_intent": intent["id"]})
    assert error_of(again)["code"] == "charge_already_refunded"
    listed = stripe.get("/v1/refunds", {"payment_intent": intent["id"]}).json()["data"]
    assert [item["amount"] for item in listed] == [400, 200]
    refund_txn = stripe.get(f"/v1/balance_transactions/{rest['balance_transaction']}").json()
    assert (refund_txn["type"], refund_txn["amount"], refund_txn["fee"], refund_txn["net"]) == ("refund", -400, 0, -400)


def test_cancel_only_from_the_states_stripe_allows(stripe):
    waiting = stripe.intent(800).json()
    canceled = stripe.post(f"/v1/payment_intents/{waiting['id']}/cancel", {"cancellation_reason": "abandoned"}).json()
    assert (canceled["status"], canceled["amount_capturable"]) == ("canceled", 0)
    twice = stripe.post(f"/v1/payment_intents/{waiting['id']}/cancel")
    assert twice.status_code == 400 and error_of(twice)["code"] == "payment_intent_unexpected_state"
    assert "canceled" in error_of(twice)["message"]
    capture = stripe.post(f"/v1/payment_intents/{waiting['id']}/capture")
    assert capture.status_code == 400 and "status of canceled" in error_of(capture)["message"]
    paid = stripe.intent(800, capture_method="automatic").json()
    assert paid["status"] == "succeeded"
    assert stripe.post(f"/v1/payment_intents/{paid['id']}/cancel").status_code == 400
    bad_reason = stripe.post(f"/v1/payment_intents/{paid['id']}/cancel", {"cancellation_reason": "bored"})
    assert error_of(bad_reason)["param"] == "cancellation_reason"
    assert stripe.get(f"/v1/payment_intents/{paid['id']}", key=OTHER_KEY).status_code == 404  # another account


def test_a_declined_card_is_a_402_naming_the_intent(stripe):
    declined = stripe.intent(1500, method="pm_card_chargeDeclinedInsufficientFunds")
    error = error_of(declined)
    assert declined.status_code == 402
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined", "insufficient_funds")
    intent = stripe.get(f"/v1/payment_intents/{error['payment_intent']['id']}").json()
    assert intent["status"] == "requires_payment_method" and error["charge"] == intent["latest_charge"]
    unknown = stripe.intent(1500, method="pm_card_unheardOf")
    assert unknown.status_code == 400 and error_of(unknown)["code"] == "resource_missing"


def test_idempotent_replays_and_key_reuse(stripe):
    first = stripe.intent(1200, idempotency_key="order-9")
    replay = stripe.intent(1200, idempotency_key="order-9")
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = stripe.intent(1300, idempotency_key="order-9")
    assert other.status_code == 400 and error_of(other)["type"] == "idempotency_error"
    assert stripe.post("/v1/payment_intents", {"amount": 1}, idempotency_key="k" * 256).status_code == 400
    stripe.post("/v1/payment_intents", {"amount": 100, "currency": "usd"}, idempotency_key=None)
    account = stripe.state()["accounts"]["sk_test_****p7dc"]
    assert account["payment_intents"] == 2 and account["posts_without_idempotency_key"] == 1
    assert stripe.state()["recent_requests"][0]["idempotency_key"] == "order-9"
    declined = stripe.intent(100, method="pm_card_chargeDeclined", idempotency_key="declined")
    assert stripe.intent(100, method="pm_card_chargeDeclined", idempotency_key="declined").json() == declined.json()


@pytest.mark.parametrize("status", [409, 429, 503])
def test_injected_busy_answers_are_not_stored_for_the_key(stripe, status):
    assert stripe.control(fail={"status": status, "retry_after": 30}).ok
    busy = stripe.intent(1000, idempotency_key="retry-me")
    assert busy.status_code == status and busy.headers["Retry-After"] == "30"
    if status == 429:
        assert error_of(busy)["code"] == "rate_limit"
    if status == 409:
        assert error_of(busy)["code"] == "lock_timeout" and busy.headers["Stripe-Should-Retry"] == "true"
    retried = stripe.intent(1000, idempotency_key="retry-me")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers


def test_an_injected_500_is_stored_for_the_key(stripe):
    assert stripe.control(fail={"status": 500}).ok
    failed = stripe.intent(1000, idempotency_key="unlucky")
    assert failed.status_code == 500 and failed.headers["Stripe-Should-Retry"] == "false"
    assert error_of(failed)["type"] == "api_error"
    replay = stripe.intent(1000, idempotency_key="unlucky")
    assert replay.status_code == 500 and replay.headers["Idempotent-Replayed"] == "true"
    assert stripe.intent(1000, idempotency_key="a-new-key").status_code == 200


def planted(amount: int, created: int, **extra) -> dict:
    return {"amount": amount, "created": created, "brand": "visa", "last4": "4242", "authorization_code": "A1B2C3",
            "terminal": "tmr_FrontCounter", **extra}


def test_planted_terminal_charges_are_paid_out_and_listed_for_reconciliation(stripe):
    charges = [
        planted(1000, T0, payment_intent="pi_Planted1", refunds=[{"amount": 250, "created": T0 + 50}]),
        planted(2000, T0 + 100, fee=0),
        planted(3000, T0 + 200, dispute={"amount": 3000, "created": T0 + 300, "status": "lost"}),
    ]
    assert stripe.control(charges={KEY: charges}, payouts={KEY: [{"created_lte": T0 + 150, "arrival_date": T0 + 86400}]}).ok
    intent = stripe.get("/v1/payment_intents/pi_Planted1", {"expand[]": "latest_charge"}).json()
    details = intent["latest_charge"]["payment_method_details"]
    assert details["type"] == "card_present" and details["card_present"]["receipt"]["authorization_code"] == "A1B2C3"
    assert intent["metadata"]["terminal"] == "tmr_FrontCounter" and intent["latest_charge"]["amount_refunded"] == 250

    window = stripe.get("/v1/balance_transactions", {"created[gte]": T0, "created[lte]": T0 + 300}).json()
    assert [(t["type"], t["amount"], t["fee"]) for t in window["data"]] == [
        ("adjustment", -3000, 1500), ("charge", 3000, 117), ("payout", -2691, 0), ("charge", 2000, 0),
        ("refund", -250, 0), ("charge", 1000, 59),
    ]  # the payout's own transaction is made at its created_lte
    assert window["data"][0]["reporting_category"] == "dispute" and window["url"] == "/v1/balance_transactions"
    (payout,) = stripe.get("/v1/payouts", {"arrival_date[gte]": T0}).json()["data"]
    assert payout["amount"] == (1000 - 59) - 250 + 2000 and payout["status"] == "paid"
    paid = stripe.get("/v1/balance_transactions", {"payout": payout["id"], "expand[]": "data.source"}).json()["data"]
    assert [t["source"]["object"] for t in paid] == ["charge", "refund", "charge"]
    own = stripe.get(f"/v1/balance_transactions/{payout['balance_transaction']}").json()
    assert (own["type"], own["amount"]) == ("payout", -payout["amount"])
    assert stripe.get("/v1/balance_transactions", {"type": "payout"}).json()["data"][0]["source"] == payout["id"]
    events = stripe.get("/v1/events").json()["data"]
    assert {e["type"] for e in events} == {"payout.paid", "payout.reconciliation_completed"}  # planting is silent


def test_control_is_validated_whole_before_anything_changes(stripe):
    good, bad = [planted(1000, T0)], [planted(1000, T0, refunds=[{"amount": 2000}])]
    refused = stripe.control(charges={KEY: good, OTHER_KEY: bad})
    assert refused.status_code == 400 and KEY not in refused.text
    assert stripe.control(card_number_in_next_answer="4111-1111").status_code == 400
    assert stripe.control(fee_percent=-1).status_code == 400
    assert stripe.state()["accounts"] == {}


def test_lists_page_newest_first_with_cursors(stripe):
    assert stripe.control(charges={KEY: [planted(100 + n, T0 + n) for n in range(25)]}).ok
    seen, after = [], None
    while True:
        page = stripe.get("/v1/balance_transactions", {"limit": 10, **({"starting_after": after} if after else {})})
        body = page.json()
        seen += [t["amount"] for t in body["data"]]
        if not body["has_more"]:
            break
        after = body["data"][-1]["id"]
    after = body["data"][-1]["id"]
    assert seen == list(range(124, 99, -1))
    second = stripe.get("/v1/balance_transactions", {"limit": 10, "starting_after": after}).json()
    assert second["data"] == [] and second["has_more"] is False
    newest = stripe.get("/v1/balance_transactions", {"limit": 10}).json()["data"]
    back = stripe.get("/v1/balance_transactions", {"limit": 3, "ending_before": newest[5]["id"]}).json()
    assert [t["id"] for t in back["data"]] == [t["id"] for t in newest[2:5]] and back["has_more"] is True
    for limit in (0, 101):
        assert stripe.get("/v1/balance_transactions", {"limit": limit}).status_code == 400
    bad_cursor = stripe.get("/v1/balance_transactions", {"starting_after": "txn_nope"})
    assert bad_cursor.status_code == 400 and error_of(bad_cursor)["param"] == "starting_after"


class Receiver:
    """A tiny local webhook endpoint that keeps what it gets."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                return

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/stripe/webhooks"


def test_events_are_delivered_signed_to_webhook_endpoints(stripe):
    receiver, secret = Receiver(), "whsec_test_secret"
    try:
        assert stripe.control(webhook_endpoints={KEY: [{"url": receiver.url, "secret": secret}]}).ok
        paid = stripe.intent(2500, capture_method="automatic", idempotency_key="sale-77").json()
        deadline = time.monotonic() + 5
        while not stripe.state()["accounts"]["sk_test_****p7dc"]["webhook_deliveries"][0]["status"]:
            assert time.monotonic() < deadline, "the event was not delivered"
            time.sleep(0.02)
    finally:
        receiver.server.shutdown()
    ((headers, body),) = receiver.received
    event = json.loads(body)
    assert event["type"] == "payment_intent.succeeded" and event["data"]["object"]["id"] == paid["id"]
    assert event["request"]["idempotency_key"] == "sale-77" and event["api_version"] == "2025-03-31.basil"
    timestamp = int(headers["stripe-signature"].split(",")[0].removeprefix("t="))
    assert headers["stripe-signature"] == signature_header(body, secret, timestamp)
    assert abs(time.time() - timestamp) < 300 and headers["content-type"].startswith("application/json")
    delivery = stripe.state()["accounts"]["sk_test_****p7dc"]["webhook_deliveries"][0]
    assert (delivery["type"], delivery["url"], delivery["status"]) == ("payment_intent.succeeded", receiver.url, 200)
    listed = stripe.get("/v1/events", {"type": "payment_intent.*"}).json()["data"]
    assert [e["id"] for e in listed] == [event["id"]] and listed[0]["pending_webhooks"] == 0


def test_card_number_in_next_answer_lands_in_one_answer_only(stripe):
    assert stripe.control(charges={KEY: [planted(500, T0), planted(600, T0 + 1)]}).ok
    assert stripe.control(card_number_in_next_answer="4111111111111111").ok
    armed = stripe.get("/v1/balance_transactions").json()
    assert armed["card_number"] == "4111111111111111"
    assert all(t["card_number"] == "4111111111111111" for t in armed["data"])
    assert "card_number" not in stripe.get("/v1/balance_transactions").json()


@pytest.mark.slow
def test_a_page_of_100_out_of_50000_answers_in_a_few_ms(stripe):
    assert stripe.control(charges={KEY: [planted(100, T0 + n) for n in range(50_000)]}).ok
    stripe.get("/v1/balance_transactions", {"limit": 100})
    started = time.perf_counter()
    page = stripe.get("/v1/balance_transactions", {"limit": 100, "created[lt]": T0 + 25_000})
    assert time.perf_counter() - started < 0.05  # a few ms on a developer machine; generous for CI
    assert page.json()["data"][0]["created"] == T0 + 24_999 and len(page.json()["data"]) == 100
