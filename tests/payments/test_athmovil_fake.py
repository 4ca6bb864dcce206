"""The ATH Móvil fake (simulators/athmovil/) over real HTTP, as the payments adapter meets it: payment → confirm in
the app → authorization with the auth_token → findPayment → refunds → the transaction report; the README's errors
and token errors, expiry, cancel, phone updates, planted transactions for reconciliation, injected failures and the
`card_number_in_next_answer` trap. No database."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

PREFIX = "/api/business-transaction/ecommerce"
PUBLIC, PRIVATE = "a66ce73d04f2087615f6320b724defc5b4eedc55", "JHEFEWP2048FNDFLKJWB2private"
OTHER_PUBLIC = "3adc528b182e50b41acff658136bd974c89604c3"
PUERTO_RICO = ZoneInfo("America/Puerto_Rico")
STAMP = "%Y-%m-%d %H:%M:%S"
EVER = {"fromDate": "2020-01-01 00:00:00", "toDate": "2020-12-31 23:59:59"}


class Ath:
    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()

    def post(self, path: str, body=None, *, method: str = "POST", headers=None) -> requests.Response:
        return self.session.request(method, f"{self.url}{PREFIX}{path}", json=body, headers=headers, timeout=5)

    def control(self, **body) -> requests.Response:
        return self.session.post(f"{self.url}/_control", json=body, timeout=30)

    def state(self) -> dict:
        return self.session.get(f"{self.url}/_state", timeout=5).json()

    def payment(self, total="12.50", public=PUBLIC, **extra) -> dict:
        body = {"publicToken": public, "total": total, "tax": "1.00", "subtotal": "11.50", "metadata1": "order-1",
                "metadata2": "store-7", "phoneNumber": "7875551234",
                "items": [{"name": "Jarabe", "description": "Tos", "quantity": "1", "price": "11.50", "tax": "1.00",
                           "metadata": None}], **extra}
        answer = self.post("/payment", body)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    def authorize(self, token: str) -> requests.Response:
        return self.post("/authorization", headers={"Authorization": f"Bearer {token}"})

    def completed(self, total="12.50", public=PUBLIC) -> dict:
        created = self.payment(total, public)
        answer = self.authorize(created["auth_token"])
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    def refund(self, reference: str, amount: str, message: str = "QIIUB refund r-1", **extra) -> requests.Response:
        return self.post("/refund", {"publicToken": PUBLIC, "privateToken": PRIVATE, "referenceNumber": reference,
                                     "amount": amount, "message": message, **extra})

    def report(self, public=PUBLIC, private=PRIVATE, **dates) -> requests.Response:
        now = datetime.now(PUERTO_RICO)
        window = {"fromDate": (now - timedelta(hours=1)).strftime(STAMP), "toDate": now.strftime(STAMP), **dates}
        return self.post("/business/transactionReport", {"publicToken": public, "privateToken": private, **window})


def error_of(answer: requests.Response) -> tuple[int, str]:
    body = answer.json()
    assert body["status"] == "error" and body["data"] is None and body["message"]
    return answer.status_code, body["errorcode"]


@pytest.fixture
def server(athmovil_fake):
    """The session's fake (tests/conftest.py), met new by each test."""
    return athmovil_fake.url


@pytest.fixture
def ath(server) -> Ath:
    client = Ath(server)
    client.control(reset=True).raise_for_status()
    return client


def test_payment_confirm_authorize_find_refund_and_report(ath):
    created = ath.payment("12.5")
    assert re.fullmatch(r"[0-9a-f-]{36}", created["ecommerceId"])
    header, payload, signature = created["auth_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["ecommerceId"] == created["ecommerceId"] and claims["exp"] - claims["iat"] == 600
    found = ath.post("/business/findPayment", {"ecommerceId": created["ecommerceId"], "publicToken": PUBLIC})
    assert found.json()["data"]["ecommerceStatus"] == "CONFIRM"  # auto_confirm: the customer accepted at once
    assert found.json()["data"]["referenceNumber"] == "" and found.json()["data"]["transactionDate"] == ""

    answer = ath.authorize(created["auth_token"])
    assert answer.status_code == 200
    assert '"total": 12.50' in answer.text and '"fee": 0.31' in answer.text  # two-decimal numbers, not cents
    data = answer.json()["data"]
    assert data["ecommerceStatus"] == "COMPLETED" and data["ecommerceId"] == created["ecommerceId"]
    assert re.fullmatch(r"402-\d{8}", data["referenceNumber"]) and data["dailyTransactionId"] == "0001"
    assert (data["subTotal"], data["tax"], data["fee"], data["netAmount"]) == (11.5, 1.0, 0.31, 12.19)
    assert data["totalRefundedAmount"] == 0 and data["metadata1"] == "order-1" and data["metadata2"] == "store-7"
    assert data["items"][0]["price"] == 11.5 and data["items"][0]["quantity"] == 1
    local_now = datetime.now(PUERTO_RICO).replace(tzinfo=None)
    assert abs(datetime.strptime(data["transactionDate"], STAMP) - local_now) < timedelta(minutes=1)
    assert data["phoneNumber"] == "(787) 555-1234" and data["name"] and data["email"]

    refunded = ath.refund(data["referenceNumber"], "2.00")
    assert refunded.status_code == 200, refunded.text
    refund, original = refunded.json()["data"]["refund"], refunded.json()["data"]["originalTransaction"]
    assert refund["transactionType"] == "REFUND" and refund["status"] == "COMPLETED"
    assert refund["refundedAmount"] == 2.0 and refund["message"] == "QIIUB refund r-1"
    assert refund["referenceNumber"] != data["referenceNumber"] and refund["dailyTransactionID"] == "0002"
    assert original["referenceNumber"] == data["referenceNumber"] and original["totalRefundedAmount"] == 2.0
    found = ath.post("/business/findPayment", {"ecommerceId": created["ecommerceId"], "publicToken": PUBLIC})
    assert found.json()["data"]["ecommerceStatus"] == "COMPLETED"
    assert found.json()["data"]["totalRefundedAmount"] == 2.0

    rows = ath.report().json()["data"]
    assert [row["transactionType"] for row in rows] == ["ECOMMERCE", "REFUND"]
    sale, back = rows
    assert sale["ecommerceId"] == created["ecommerceId"] and sale["total"] == 12.5 and sale["fee"] == 0.31
    assert back["originalReferenceNumber"] == data["referenceNumber"] and back["message"] == "QIIUB refund r-1"
    assert back["total"] == -2.0 and back["netAmount"] == -2.0 and back["fee"] == 0

    state = ath.state()
    assert state["refunds"][0]["message"] == "QIIUB refund r-1"
    assert state["businesses"]["…dc55"]["completed"] == 1 and state["requests"] == 6
    assert PUBLIC not in json.dumps(state) and PRIVATE not in json.dumps(state)


def test_a_payment_waits_for_the_customer_unless_auto_confirmed(ath):
    ath.control(auto_confirm=False).raise_for_status()
    created = ath.payment()
    assert error_of(ath.authorize(created["auth_token"])) == (400, "BTRA_0032")
    ath.control(confirm=[created["ecommerceId"]]).raise_for_status()
    assert ath.authorize(created["auth_token"]).json()["data"]["ecommerceStatus"] == "COMPLETED"
    assert error_of(ath.authorize(created["auth_token"])) == (400, "BTRA_0035")  # completed once only
    assert ath.control(confirm=["no-such-payment"]).status_code == 400


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"total": "0.50"}, "BTRA_0001"),
        ({"total": "1500.01"}, "BTRA_0004"),
        ({"total": "0"}, "BTRA_0013"),
        ({"total": "12.345"}, "BTRA_0020"),
        ({"total": "doce"}, "BTRA_0006"),
        ({"total": None}, "BTRA_0029"),
        ({"publicToken": None}, "BTRA_0029"),
        ({"metadata2": None}, "BTRA_0029"),
        ({"metadata1": "x" * 41}, "BTRA_0038"),
        ({"items": [{"name": "a", "price": "1.00", "metadata": "y" * 41}]}, "BTRA_0038"),
        ({"timeout": 100}, "BTRA_0006"),
        ({"timeout": "601"}, "BTRA_0006"),
        ({"phoneNumber": "123"}, "BTRA_0006"),
    ],
)
def test_payment_is_checked_as_the_readme_says(ath, change, code):
    body = {"publicToken": PUBLIC, "total": "10.00", "metadata1": "", "metadata2": "", **change}
    assert error_of(ath.post("/payment", {key: value for key, value in body.items() if value is not None})) == (
        400, code)


def test_payment_limits_and_empty_body(ath):
    assert ath.payment("1.00") and ath.payment("1500.00") and ath.payment(12, timeout=120)
    empty = ath.post("/payment", None)
    assert error_of(empty) == (400, "BTRA_0006") and empty.json()["message"] == "Required request body is missing"


def test_authorization_token_errors(ath):
    created = ath.payment(timeout="120")
    missing = ath.post("/authorization", {"ecommerceId": created["ecommerceId"]})
    assert error_of(missing) == (401, "token.invalid.header")
    assert missing.json()["message"] == "No authorization header present."
    assert error_of(ath.authorize("not-a-jwt")) == (401, "token.invalid.header")
    header, payload, signature = created["auth_token"].split(".")
    forged = f"{header}.{payload}.{signature[:-2]}xx"
    assert error_of(ath.authorize(forged)) == (401, "token.invalid.header")
    ath.control(advance_s=121).raise_for_status()
    expired = ath.authorize(created["auth_token"])
    assert error_of(expired) == (401, "token.expired")
    assert re.fullmatch(r"The Token has expired on \w{3} \w{3} \d\d \d\d:\d\d:\d\d AST \d{4}\.", expired.json()["message"])


def test_a_payment_not_completed_in_time_is_cancelled(ath):
    created = ath.payment(timeout=120)
    ath.control(advance_s=119).raise_for_status()
    lookup = {"ecommerceId": created["ecommerceId"], "publicToken": PUBLIC}
    assert ath.post("/business/findPayment", lookup).json()["data"]["ecommerceStatus"] == "CONFIRM"
    ath.control(advance_s=2).raise_for_status()
    assert ath.post("/business/findPayment", lookup).json()["data"]["ecommerceStatus"] == "CANCEL"


def test_cancel_before_completion_only(ath):
    created = ath.payment()
    lookup = {"ecommerceId": created["ecommerceId"], "publicToken": PUBLIC}
    assert ath.post("/business/cancel", lookup).json() == {"status": "success", "data": "Payment Cancelled."}
    assert ath.post("/business/cancel", lookup).json()["data"] == "Payment Cancelled."  # again: same answer
    assert ath.post("/business/findPayment", lookup).json()["data"]["ecommerceStatus"] == "CANCEL"
    assert error_of(ath.authorize(created["auth_token"])) == (400, "BTRA_0035")
    done = ath.completed()
    refused = ath.post("/business/cancel", {"ecommerceId": done["ecommerceId"], "publicToken": PUBLIC})
    assert error_of(refused) == (400, "BTRA_0035")


def test_find_payment_errors_and_revoked_tokens(ath):
    created = ath.payment()
    assert error_of(ath.post("/business/findPayment", {"ecommerceId": "nope", "publicToken": PUBLIC})) == (
        400, "BTRA_0031")
    other = ath.post("/business/findPayment", {"ecommerceId": created["ecommerceId"], "publicToken": OTHER_PUBLIC})
    assert error_of(other) == (400, "BTRA_0043")
    ath.control(revoked_tokens=[PUBLIC]).raise_for_status()
    lookup = {"ecommerceId": created["ecommerceId"], "publicToken": PUBLIC}
    assert error_of(ath.post("/business/findPayment", lookup)) == (401, "BTRA_0401")
    assert error_of(ath.authorize(created["auth_token"])) == (401, "BTRA_0401")


def test_update_phone_number_is_a_put_while_open(ath):
    ath.control(auto_confirm=False).raise_for_status()
    created = ath.payment()
    body = {"ecommerceId": created["ecommerceId"], "phoneNumber": "7866575255", "publicToken": PUBLIC}
    assert ath.post("/business/updatePhoneNumber", body, method="PUT").json()["data"] == "Update Phone Number"
    assert ath.post("/business/updatePhoneNumber", body).status_code == 405
    bad = {**body, "phoneNumber": "12"}
    assert error_of(ath.post("/business/updatePhoneNumber", bad, method="PUT")) == (400, "BTRA_0006")
    ath.control(confirm=[created["ecommerceId"]]).raise_for_status()
    ath.authorize(created["auth_token"])
    lookup = {"ecommerceId": created["ecommerceId"], "publicToken": PUBLIC}
    assert ath.post("/business/findPayment", lookup).json()["data"]["phoneNumber"] == "(786) 657-5255"
    assert error_of(ath.post("/business/updatePhoneNumber", body, method="PUT")) == (400, "BTRA_0035")


def test_refund_errors(ath):
    sale = ath.completed("10.00")
    reference = sale["referenceNumber"]
    assert error_of(ath.refund(reference, "10.01")) == (400, "BTRA_0004")  # more than is left
    assert error_of(ath.refund(reference, "0.00")) == (400, "BTRA_0013")
    assert error_of(ath.refund(reference, "-1.00")) == (400, "BTRA_0028")
    assert error_of(ath.refund(reference, "1.00", message="m" * 51)) == (400, "BTRA_0040")
    assert error_of(ath.refund("402-0000000000", "1.00")) == (400, "BTRA_0053")
    assert error_of(ath.refund(reference, "1.00", privateToken="another-private-token")) == (401, "BTRA_0403")
    assert error_of(ath.post("/refund", {"publicToken": PUBLIC, "referenceNumber": reference, "amount": "1.00"})) == (
        400, "BTRA_0029")
    first = ath.refund(reference, "4.00").json()["data"]["refund"]
    again = ath.refund(reference, "4.00").json()["data"]["refund"]  # no idempotency key: a second refund
    assert first["referenceNumber"] != again["referenceNumber"]
    assert error_of(ath.refund(reference, "2.01")) == (400, "BTRA_0004")
    assert error_of(ath.refund(first["referenceNumber"], "1.00")) == (400, "BTRA_0021")
    other_sale = ath.completed("5.00", public=OTHER_PUBLIC)
    assert error_of(ath.refund(other_sale["referenceNumber"], "1.00")) == (400, "BTRA_0008")
    assert len(ath.state()["refunds"]) == 2


def test_accounts_bind_the_private_token(ath):
    ath.control(accounts=[{"public_token": PUBLIC, "private_token": "registered-private"}]).raise_for_status()
    sale = ath.completed()
    assert error_of(ath.refund(sale["referenceNumber"], "1.00")) == (401, "BTRA_0403")
    assert ath.refund(sale["referenceNumber"], "1.00", privateToken="registered-private").status_code == 200


def test_planted_transactions_and_the_report_window(ath):
    day = [{"transactionType": "PAYMENT", "date": f"2020-03-02 {hour:02d}:{minute:02d}:00", "total": "10.00",
            "metadata1": "pos"} for hour in range(24) for minute in range(0, 60, 2)]  # 720 app payments
    planted = [
        {"transactionType": "ECOMMERCE", "date": "2020-03-01 23:59:59", "total": "20.00", "fee": "0.50",
         "referenceNumber": "402-1000000001"},
        {"transactionType": "REFUND", "date": "2020-03-02 00:00:00", "total": "5.00",
         "originalReferenceNumber": "402-1000000001", "message": "QIIUB refund r-9"},
        *day,
    ]
    started = time.monotonic()
    ath.control(transactions={PUBLIC: planted}).raise_for_status()
    assert time.monotonic() - started < 5
    rows = ath.report(fromDate="2020-03-02 00:00:00", toDate="2020-03-02 23:59:59").json()["data"]
    assert len(rows) == 721 and rows[0]["transactionType"] == "REFUND" and rows[0]["total"] == -5.0
    assert rows[0]["message"] == "QIIUB refund r-9" and rows[0]["originalReferenceNumber"] == "402-1000000001"
    assert [row["date"] for row in rows] == sorted(row["date"] for row in rows)
    assert rows[1]["fee"] == 0.25 and rows[1]["netAmount"] == 9.75  # 2.5 % unless planted
    assert (rows[0]["dailyTransactionId"], rows[1]["dailyTransactionId"]) == ("0001", "0002")  # per business-day
    edges = ath.report(fromDate="2020-03-01 23:59:59", toDate="2020-03-02 00:00:00").json()["data"]
    assert [row["transactionType"] for row in edges] == ["ECOMMERCE", "REFUND", "PAYMENT"]  # both ends inclusive
    assert edges[0]["totalRefundedAmount"] == 5.0 and edges[0]["fee"] == 0.5
    planted_sale = ath.post("/business/findPayment", {"ecommerceId": edges[0]["ecommerceId"], "publicToken": PUBLIC})
    assert planted_sale.json()["data"]["ecommerceStatus"] == "COMPLETED"
    assert ath.refund("402-1000000001", "15.00").status_code == 200
    assert ath.report(public=OTHER_PUBLIC, **EVER).json()["data"] == []  # another business's ledger


def test_report_errors(ath):
    assert error_of(ath.report(fromDate="yesterday")) == (400, "BTRA_0023")
    assert error_of(ath.report(toDate="2020-13-01 00:00:00")) == (400, "BTRA_0024")
    assert error_of(ath.report(fromDate="2020-02-01 00:00:00", toDate="2020-01-01 00:00:00")) == (400, "BTRA_0025")
    future = (datetime.now(PUERTO_RICO) + timedelta(days=2)).strftime(STAMP)
    assert error_of(ath.report(fromDate=future, toDate=future)) == (400, "BTRA_0047")
    ath.report().raise_for_status()  # binds PRIVATE to the business
    assert error_of(ath.report(private="wrong-private")) == (401, "BTRA_0403")


def test_bad_control_changes_nothing(ath):
    good = {"transactionType": "PAYMENT", "date": "2020-01-01 10:00:00", "total": "1.00"}
    for bad in ({"unknown": 1}, {"transactions": {PUBLIC: [good, {**good, "total": "1.001"}]}},
                {"transactions": {PUBLIC: [{**good, "transactionType": "REFUND"}]}},
                {"card_number_in_next_answer": "4111-1111"}, {"fee_percent": 101}, {"advance_s": -1},
                {"fail": {"status": 404}}):
        assert ath.control(**bad).status_code == 400, bad
    assert ath.report(**EVER).json()["data"] == []


def test_injected_failures_with_retry_after(ath):
    ath.control(fail={"status": 503, "count": 2, "retry_after": 30}).raise_for_status()
    for _ in range(2):
        failed = ath.post("/payment", {"publicToken": PUBLIC, "total": "5.00", "metadata1": "", "metadata2": ""})
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "30"
        assert failed.json()["status"] == "error"
    assert ath.payment()
    ath.control(fail={"status": 429}).raise_for_status()
    limited = ath.report()
    assert limited.status_code == 429 and "Retry-After" not in limited.headers
    assert ath.report().status_code == 200


def test_slow_answers(ath):
    ath.control(delay_s=0.3).raise_for_status()
    started = time.monotonic()
    ath.report()
    assert time.monotonic() - started >= 0.3


def test_card_number_in_next_answer(ath):
    ath.control(card_number_in_next_answer="4111111111111111").raise_for_status()
    created = ath.post("/payment", {"publicToken": PUBLIC, "total": "5.00", "metadata1": "", "metadata2": ""})
    assert created.json()["card_number"] == "4111111111111111" and "card_number" not in created.json()["data"]
    ath.authorize(created.json()["data"]["auth_token"])
    assert "card_number" not in ath.report().json()  # once only
    ath.control(card_number_in_next_answer="4111111111111111").raise_for_status()
    report = ath.report().json()
    assert report["card_number"] == "4111111111111111"
    assert [row["card_number"] for row in report["data"]] == ["4111111111111111"]


def test_unknown_routes(ath):
    assert ath.post("/nothing", {}).status_code == 404
    assert ath.session.get(f"{ath.url}{PREFIX}/payment", timeout=5).status_code == 405
    assert ath.session.get(f"{ath.url}/health", timeout=5).json() == {"ok": True}
