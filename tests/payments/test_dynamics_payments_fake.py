"""The Dynamics Payments fake (simulators/dynamics_payments/) over real HTTP, as the payments adapter meets it:
the SessionId / SiteId / MessageHash signature, authorize → mark → batch close → settled batches → batch rows →
refund, voids before and after the close, declines, the documented refusals, planted settled batches for
reconciliation, injected failures and the `card_number_in_next_answer` trap. No database."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from simulators.dynamics_payments import DEMO_SITE, message_hash
from simulators.dynamics_payments.signing import HASHED_FIELDS

API = "/WebApi/APaymentTokenApi/"
MK = DEMO_SITE["merchant_key"]
OTHER_SITE = {"site_id": "FARMACIA-2", "session_id": "s-2", "secret": "other-secret", "merchant_key": "MK-FARMACIA-2"}
PUERTO_RICO = ZoneInfo("America/Puerto_Rico")
DEMO_SITE_HEADERS = {"SiteId": DEMO_SITE["site_id"], "SessionId": DEMO_SITE["session_id"]}


class Dynamics:
    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()

    def call(self, operation: str, body: dict, *, site: dict = DEMO_SITE, method: str = "POST",
             headers: dict | None = None) -> requests.Response:
        fields = [str(body.get(name, "")) for name in HASHED_FIELDS.get(operation, ())]
        signed = {"SiteId": site["site_id"], "SessionId": site["session_id"],
                  "MessageHash": message_hash(site["secret"], site["site_id"], site["session_id"], *fields)}
        return self.session.request(method, f"{self.url}{API}{operation}", json=body,
                                    headers={**signed, **(headers or {})}, timeout=5)

    def control(self, **body) -> requests.Response:
        return self.session.post(f"{self.url}/_control", json=body, timeout=30)

    def state(self) -> dict:
        return self.session.get(f"{self.url}/_state", timeout=5).json()

    def authorize(self, amount: str = "20.00", token: str = "tok_visa_4242", reserve: bool = True, **extra) -> dict:
        body = {"MerchantKey": MK, "AccountToken": token, "Amount": amount, "Currency": "USD", "Tax": "0.00",
                "Invoice": "INV-1", "Transaction_Detail": "", "ReserveFunds": reserve, **extra}
        answer = self.call("AuthorizeToken", body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def by_id(self, operation: str, transaction_id: str, **extra) -> dict:
        return self.call(operation, {"MerchantKey": MK, "IDTransaction": transaction_id, **extra}).json()

    def close(self) -> dict:
        return self.call("CloseBatch", {"MerchantKey": MK}).json()

    def batches(self, start: str, end: str) -> list:
        return self.call("GetSettledBatches", {"MerchantKey": MK, "FromDate": start, "ToDate": end}).json()

    def rows(self, batch_code: str):
        return self.call("GetBatchTransactions", {"MerchantKey": MK, "BatchCode": batch_code}).json()


def today() -> str:
    return datetime.now(PUERTO_RICO).date().isoformat()


@pytest.fixture
def server(dynamics_fake):
    """The session's fake (tests/conftest.py), met new by each test."""
    return dynamics_fake.url


@pytest.fixture
def dp(server) -> Dynamics:
    client = Dynamics(server)
    client.control(reset=True).raise_for_status()
    return client


def test_message_hash_is_base64_sha256_of_the_concatenation():
    expected = base64.b64encode(hashlib.sha256("sécretSITESESSMK-1tok_visa_424212.34USD".encode()).digest()).decode()
    assert message_hash("sécret", "SITE", "SESS", "MK-1", "tok_visa_4242", "12.34", "USD") == expected


def test_authorize_mark_close_settle_and_refund(dp):
    sale = dp.authorize("20.00")
    assert (sale["ResponseCode"], sale["DesicionResponseCode"], sale["Message"]) == ("00", "100", "APROBADA")
    assert sale["Status"] == "Aprobada - Pendiente Marcar" and sale["Account"] == "403178XXXXXX4242"
    assert sale["IDTransaction"].isdigit() and sale["BatchCode"] == "001" and sale["AcquirerName"] == "Bridge Pay"
    assert len(sale["AuthNumber"]) == 6 and sale["AuthNumber"].isdigit() and sale["CardHolderName"] == ""
    assert len(sale["HostDate"]) == 4 and len(sale["HostTime"]) == 6 and sale["Reference_Code"]
    assert (sale["Amount"], sale["Invoice"], sale["AccountToken"]) == ("20.00", "INV-1", "tok_visa_4242")
    marked = dp.by_id("MarkByID", sale["IDTransaction"], Amount="15.00")  # a partial capture
    assert marked["Status"] == "Marcada - Pendiente Cierre" and marked["Amount"] == "15.00"

    closed = dp.close()
    assert closed["ResponseCode"] == "00" and closed["BatchCode"] == "001" and closed["TransactionCount"] == 1
    assert (closed["GrossAmount"], closed["Fees"], closed["NetAmount"]) == ("15.00", "0.51", "14.49")  # 2.75 % + .10
    assert closed["CloseDate"].startswith(today())
    batches = dp.batches(today(), today())
    assert [batch["BatchCode"] for batch in batches] == ["001"] and batches[0]["DepositDate"] > today()
    (row,) = dp.rows("001")
    assert row["IDTransaction"] == sale["IDTransaction"] and row["Type"] == "Venta" and row["Status"] == "Liquidada"
    assert (row["Amount"], row["Fee"], row["Net"], row["CardBrand"]) == ("15.00", "0.51", "14.49", "Visa")
    assert row["AuthNumber"] == sale["AuthNumber"] and row["Account"] == "403178XXXXXX4242" and row["TerminalId"]
    assert row["TransactionDate"].startswith(today()) and row["Invoice"] == "INV-1"

    refund = dp.by_id("RefundByID", sale["IDTransaction"], Amount="5.00", Reference_Code="hub-refund-1")
    assert refund["Status"] == "Reembolso - Pendiente Cierre" and refund["OriginalIDTransaction"] == sale["IDTransaction"]
    assert refund["IDTransaction"] != sale["IDTransaction"] and refund["BatchCode"] == "002"
    looked_up = dp.call("GetTransactionByID", {"IDTransaction": sale["IDTransaction"]}, method="GET").json()
    assert looked_up["Status"] == "Liquidada" and looked_up["AuthorizedAmount"] == "20.00"
    assert looked_up["Refunds"] == [{"IDTransaction": refund["IDTransaction"], "Amount": "5.00",
                                     "Reference_Code": "hub-refund-1", "Status": "Reembolso - Pendiente Cierre"}]
    assert dp.close()["BatchCode"] == "002"
    (back,) = dp.rows("002")
    assert (back["Type"], back["Amount"], back["Fee"], back["Net"]) == ("Reembolso", "-5.00", "0.00", "-5.00")
    assert back["Status"] == "Reembolso Liquidado" and back["OriginalIDTransaction"] == sale["IDTransaction"]
    assert dp.batches(today(), today())[1]["NetAmount"] == "-5.00"


def test_a_sale_in_one_step_and_declines(dp):
    sale = dp.authorize("9.99", "tok_mastercard_5454", reserve=False)
    assert sale["Status"] == "Marcada - Pendiente Cierre" and sale["Account"] == "545454XXXXXX5454"
    declined = dp.authorize("9.99", "tok_declined_0002")
    assert (declined["ResponseCode"], declined["DesicionResponseCode"]) == ("05", "200")
    assert (declined["Status"], declined["Message"], declined["BatchCode"]) == ("Declinada", "DECLINADA", "")
    assert dp.authorize("1.00", "tok_amex_0005")["Account"] == "371449XXXXX0005"
    unknown = dp.call("AuthorizeToken", {"MerchantKey": MK, "AccountToken": "4111111111111111", "Amount": "1.00",
                                         "Currency": "USD"})
    assert unknown.status_code == 200 and unknown.json()["ResponseCode"] == "14"
    dp.control(tokens={"cust-77-card": {"brand": "discover", "last4": "1117"}}).raise_for_status()
    assert dp.authorize("1.00", "cust-77-card")["CardBrand"] == "Discover"
    assert dp.by_id("MarkByID", declined["IDTransaction"])["ResponseCode"] == "12"


def test_void_while_the_batch_is_open_refund_after(dp):
    voided = dp.authorize("7.00")
    assert dp.by_id("VoidByID", voided["IDTransaction"])["Status"] == "Anulada - Pendiente Cierre"
    assert dp.by_id("VoidByID", voided["IDTransaction"])["ResponseCode"] == "12"
    kept = dp.authorize("8.00", reserve=False)
    early = dp.by_id("RefundByID", kept["IDTransaction"], Amount="1.00")
    assert early["ResponseCode"] == "12" and "VoidByID" in early["Message"]
    carried = dp.authorize("3.00")  # never marked: moves to the next batch
    closed = dp.close()
    assert closed["TransactionCount"] == 1 and closed["GrossAmount"] == "8.00"
    assert [row["IDTransaction"] for row in dp.rows(closed["BatchCode"])] == [kept["IDTransaction"]]
    assert dp.call("GetTransactionByID", {"IDTransaction": voided["IDTransaction"]}).json()["Status"] == "Anulada"
    late = dp.by_id("VoidByID", kept["IDTransaction"])
    assert late["ResponseCode"] == "12" and "RefundByID" in late["Message"]
    moved = dp.by_id("VoidByID", carried["IDTransaction"])
    assert moved["Status"] == "Anulada - Pendiente Cierre" and moved["BatchCode"] == "002"
    assert dp.by_id("RefundByID", kept["IDTransaction"], Amount="8.01")["ResponseCode"] == "13"
    assert dp.by_id("RefundByID", kept["IDTransaction"], Amount="8.00")["Status"] == "Reembolso - Pendiente Cierre"
    assert dp.by_id("RefundByID", kept["IDTransaction"], Amount="0.01")["ResponseCode"] == "13"


def test_mark_rules_and_unknown_transactions(dp):
    sale = dp.authorize("10.00")
    assert dp.by_id("MarkByID", sale["IDTransaction"], Amount="10.01")["ResponseCode"] == "13"
    assert dp.by_id("MarkByID", sale["IDTransaction"], Amount="0.00")["ResponseCode"] == "13"
    assert dp.by_id("MarkByID", sale["IDTransaction"])["Amount"] == "10.00"
    assert dp.by_id("MarkByID", sale["IDTransaction"])["ResponseCode"] == "12"  # marked already
    assert dp.by_id("GetTransactionByID", "999999999")["ResponseCode"] == "12"
    dp.control(sites=[OTHER_SITE]).raise_for_status()
    foreign = dp.call("GetTransactionByID", {"IDTransaction": sale["IDTransaction"]}, site=OTHER_SITE)
    assert foreign.status_code == 200 and foreign.json()["ResponseCode"] == "12"  # another merchant's: not found


def test_signature_failures(dp):
    body = {"MerchantKey": MK, "AccountToken": "tok_visa_4242", "Amount": "5.00", "Currency": "USD"}
    for headers in ({"MessageHash": "AAAA"}, {"SiteId": "NOPE"}, {"SessionId": "other-session"}):
        refused = dp.call("AuthorizeToken", body, headers=headers)
        assert refused.status_code == 401 and refused.json() == {"ResponseCode": "98", "Message": "MessageHash inválido"}
    signed_for_less = dp.call("AuthorizeToken", body).request.headers["MessageHash"]
    tampered = dp.session.post(f"{dp.url}{API}AuthorizeToken", json={**body, "Amount": "500.00"}, timeout=5,
                               headers={**DEMO_SITE_HEADERS, "MessageHash": signed_for_less})
    assert tampered.status_code == 401
    dp.control(sites=[OTHER_SITE]).raise_for_status()
    wrong_merchant = dp.call("AuthorizeToken", {**body, "MerchantKey": OTHER_SITE["merchant_key"]})
    assert wrong_merchant.status_code == 403 and wrong_merchant.json()["ResponseCode"] == "03"
    assert dp.call("AuthorizeToken", {**body, "MerchantKey": OTHER_SITE["merchant_key"]}, site=OTHER_SITE).ok


def test_malformed_requests(dp):
    for body in ({"MerchantKey": MK, "AccountToken": "tok_visa_4242", "Amount": 5, "Currency": "USD"},
                 {"MerchantKey": MK, "AccountToken": "tok_visa_4242", "Amount": "5.0", "Currency": "USD"},
                 {"MerchantKey": MK, "Amount": "5.00", "Currency": "USD"},
                 {"MerchantKey": MK, "AccountToken": "tok_visa_4242", "Amount": "5.00", "Currency": "EUR"}):
        refused = dp.call("AuthorizeToken", body)
        assert refused.status_code == 400 and refused.json()["ResponseCode"] == "30", body
        assert refused.json()["Message"].startswith("Formato inválido")
    garbled = dp.session.post(f"{dp.url}{API}CloseBatch", data=b"{not json", headers=DEMO_SITE_HEADERS, timeout=5)
    assert garbled.status_code == 400 and garbled.json()["ResponseCode"] == "30"
    assert dp.call("GetSettledBatches", {"MerchantKey": MK, "FromDate": "2024-13-01", "ToDate": "2024-12-01"}
                   ).status_code == 400
    zero = dp.call("AuthorizeToken", {"MerchantKey": MK, "AccountToken": "tok_visa_4242", "Amount": "0.00",
                                      "Currency": "USD"})
    assert zero.status_code == 200 and zero.json()["ResponseCode"] == "13"
    assert dp.call("RegisterToken", {"CreditCard": "4111111111111111"}).status_code == 404
    assert dp.call("AuthorizeToken", {}, method="GET").status_code == 405
    assert dp.call("Nothing", {}).status_code == 404


def test_empty_close_and_unknown_batches(dp):
    assert dp.close()["Message"] == "Lote sin transacciones para cerrar" and dp.batches(today(), today()) == []
    assert dp.rows("001")["ResponseCode"] == "12"  # still open
    assert dp.rows("777")["ResponseCode"] == "12"


def test_close_at_a_given_time_decides_the_settlement_day(dp):
    dp.authorize("4.00", reserve=False)
    dp.control(close_batch={"merchant_key": MK, "at": "2024-05-03T23:59:59"}).raise_for_status()  # a Friday
    dp.authorize("6.00", reserve=False)
    dp.control(close_batch={"merchant_key": MK, "at": "2024-05-04T00:00:00"}).raise_for_status()
    friday, saturday = dp.batches("2024-05-03", "2024-05-03"), dp.batches("2024-05-04", "2024-05-04")
    assert [batch["GrossAmount"] for batch in friday] == ["4.00"] and friday[0]["DepositDate"] == "2024-05-06"
    assert [batch["GrossAmount"] for batch in saturday] == ["6.00"]
    assert [batch["CloseDate"] for batch in dp.batches("2024-05-01", "2024-05-31")] == [
        "2024-05-03T23:59:59", "2024-05-04T00:00:00"]


def test_planted_settled_batches(dp):
    sales = [{"Type": "Venta", "Amount": "10.00", "AuthNumber": f"{n:06d}", "last4": "4242", "brand": "visa",
              "TransactionDate": "2024-06-10T12:00:00", "TerminalId": "T-9", "Invoice": f"F-{n}"} for n in range(3000)]
    planted = [*sales,
               {"Type": "Reembolso", "Amount": "4.00", "IDTransaction": "REF-1", "OriginalIDTransaction": "X-1"},
               {"Type": "Contracargo", "Amount": "10.00", "brand": "ath", "last4": "0001"},
               {"Type": "Ajuste", "Amount": "-1.50", "Fee": "0.00"}]
    started = time.monotonic()
    dp.control(settled_batches={MK: [{"close_date": "2024-06-10T23:00:00", "items": planted}]}).raise_for_status()
    assert time.monotonic() - started < 5
    (batch,) = dp.batches("2024-06-10", "2024-06-10")
    assert batch["TransactionCount"] == 3003 and batch["DepositDate"] == "2024-06-11"
    assert (batch["GrossAmount"], batch["Fees"]) == ("29984.50", "1140.00")  # 3000 sales × 0.38 fee (2.75 % + .10)
    rows = dp.rows(batch["BatchCode"])
    assert rows[0]["Fee"] == "0.38" and rows[0]["Net"] == "9.62" and rows[0]["TerminalId"] == "T-9"
    assert [(row["Type"], row["Amount"], row["Net"]) for row in rows[-3:]] == [
        ("Reembolso", "-4.00", "-4.00"), ("Contracargo", "-10.00", "-10.00"), ("Ajuste", "-1.50", "-1.50")]
    assert rows[-3]["OriginalIDTransaction"] == "X-1" and rows[-2]["Account"] == "021502XXXXXX0001"
    refund = dp.by_id("RefundByID", rows[0]["IDTransaction"], Amount="10.00")
    assert refund["Status"] == "Reembolso - Pendiente Cierre"
    later = {MK: [{"close_date": "2024-06-12T23:00:00", "items": [
        {"Type": "Reembolso", "Amount": "2.00", "OriginalIDTransaction": rows[1]["IDTransaction"]}]}]}
    dp.control(settled_batches=later).raise_for_status()
    linked = dp.call("GetTransactionByID", {"IDTransaction": rows[1]["IDTransaction"]}).json()
    assert [made["Status"] for made in linked["Refunds"]] == ["Reembolso Liquidado"]
    duplicate = {MK: [{"close_date": "2024-06-11T23:00:00", "items": [{"Type": "Venta", "Amount": "1.00",
                                                                       "IDTransaction": "REF-1"}]}]}
    assert dp.control(settled_batches=duplicate).status_code == 400
    assert dp.batches("2024-06-11", "2024-06-11") == []


def test_injected_failures_with_retry_after(dp):
    dp.control(fail={"status": 503, "count": 2, "retry_after": 30}).raise_for_status()
    for _ in range(2):
        failed = dp.call("CloseBatch", {"MerchantKey": MK})
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "30"
    assert dp.close()["ResponseCode"] == "00"
    dp.control(fail={"status": 429, "retry_after": 2}).raise_for_status()
    limited = dp.call("CloseBatch", {"MerchantKey": MK})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"


def test_card_number_in_next_answer(dp):
    dp.control(card_number_in_next_answer="4111111111111111").raise_for_status()
    assert dp.authorize()["card_number"] == "4111111111111111"
    assert "card_number" not in dp.authorize()  # once only
    dp.authorize(reserve=False)
    dp.close()
    dp.control(card_number_in_next_answer="4111111111111111").raise_for_status()
    assert [batch["card_number"] for batch in dp.batches(today(), today())] == ["4111111111111111"]
    assert dp.control(card_number_in_next_answer="4111 1111").status_code == 400


def test_state_counts_and_masks_secrets(dp):
    dp.authorize()
    state = dp.state()
    assert state["requests"] == 1 and state["recent_requests"][0]["path"] == f"{API}AuthorizeToken"
    assert state["merchants"]["…DEMO"]["transactions_by_status"] == {"Aprobada - Pendiente Marcar": 1}
    text = json.dumps(state, ensure_ascii=False)
    assert all(secret not in text for secret in ("demo-secret", "demo-session", "MK-DEMO", "tok_visa_4242"))
    for bad in ({"unknown": True}, {"sites": [{"site_id": "x"}]}, {"fee_percent": -1},
                {"close_batch": {"at": "2024-01-01T00:00:00"}}, {"tokens": {"t": {"brand": "diners", "last4": "1"}}}):
        assert dp.control(**bad).status_code == 400, bad
