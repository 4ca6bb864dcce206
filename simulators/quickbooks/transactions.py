"""Journal entries and sales receipts, created as QuickBooks Online checks them, with `requestid` idempotency."""

from __future__ import annotations

import json
from datetime import date, datetime

from simulators.base import FakeHandler, Rejected, Reply
from simulators.quickbooks.replies import (
    UNSUPPORTED,
    amount_ok,
    cents,
    date_ok,
    fault_reply,
    inactive_account,
    json_reply,
    missing,
    qbo_time,
    ref_value,
    unknown_account,
)
from simulators.quickbooks.state import QuickBooksState

REQUESTID_MAX = 50


class Transactions(FakeHandler):
    """The create endpoints, called with the state lock held; `QuickBooksHandler` mixes them in."""

    state: QuickBooksState

    def _create(self, realm: str, entity: str, raw: bytes) -> Reply:
        """Creates a journal entry or sales receipt; a repeated requestid gets the original answer back."""
        requestid = self.params.get("requestid") or None
        if requestid and len(requestid) > REQUESTID_MAX:
            detail = f"requestid must be at most {REQUESTID_MAX} characters"
            return fault_reply(400, "ValidationFault", "2010", UNSUPPORTED, detail)
        if requestid and (realm, requestid) in self.state.answers:
            self.state.replays += 1
            return self.state.answers[(realm, requestid)]
        try:
            if entity == "journalentry":
                reply = self._journal_entry(realm, requestid, raw)
            else:
                reply = self._sales_receipt(realm, requestid, raw)
        except Rejected as rejected:
            reply = rejected.reply
        if requestid:
            self.state.answers[(realm, requestid)] = reply  # faults too: QBO replays whatever it answered first
        return reply

    def _body(self, raw: bytes) -> dict:
        if self._media_type() != "application/json":
            detail = "Content-Type must be application/json"
            raise Rejected(fault_reply(400, "ValidationFault", "2010", UNSUPPORTED, detail))
        try:
            body = json.loads(raw)
        except ValueError:
            raise missing("request body (JSON)") from None
        if not isinstance(body, dict):
            raise missing("request body (JSON object)")
        if not isinstance(body.get("Line"), list) or not body["Line"]:
            raise missing("Line")
        if "TxnDate" in body and not date_ok(body["TxnDate"]):
            raise missing("TxnDate (YYYY-MM-DD)")
        return body

    def _journal_entry(self, realm: str, requestid: str | None, raw: bytes) -> Reply:
        body = self._body(raw)
        postings = []  # (side, cents, account)
        for index, line in enumerate(body["Line"]):
            where = f"Line[{index}]"
            if not isinstance(line, dict) or line.get("DetailType") != "JournalEntryLineDetail":
                raise missing(f"{where}.DetailType")
            if not amount_ok(line.get("Amount")):
                raise missing(f"{where}.Amount")
            detail = line.get("JournalEntryLineDetail")
            if not isinstance(detail, dict) or detail.get("PostingType") not in ("Debit", "Credit"):
                raise missing(f"{where}.JournalEntryLineDetail.PostingType")
            if not (account := ref_value(detail.get("AccountRef"))):
                raise missing(f"{where}.JournalEntryLineDetail.AccountRef.value")
            postings.append((detail["PostingType"], cents(line["Amount"]), account))
        chart = self.state.chart(realm)
        for _, _, account in postings:
            if account not in chart:
                raise unknown_account(account)
            if not chart[account]["Active"]:
                raise inactive_account(chart[account]["Name"])
        debits = sum(amount for side, amount, _ in postings if side == "Debit")
        credits = sum(amount for side, amount, _ in postings if side == "Credit")
        if debits != credits:
            totals = f"debits {debits / 100:.2f}, credits {credits / 100:.2f}"
            detail = f"Business Validation Error: Transaction must balance ({totals})."
            message = "A business validation error has occurred while processing your request"
            return fault_reply(400, "ValidationFault", "6000", message, detail)
        return self._save(realm, requestid, "JournalEntry", body, self.state.journal_entries)

    def _sales_receipt(self, realm: str, requestid: str | None, raw: bytes) -> Reply:
        body = self._body(raw)
        items = 0
        for index, line in enumerate(body["Line"]):
            if not isinstance(line, dict):
                raise missing(f"Line[{index}]")
            if line.get("DetailType") == "SalesItemLineDetail":
                if not amount_ok(line.get("Amount")):
                    raise missing(f"Line[{index}].Amount")
                items += 1
        if not items:
            raise missing("Line (a SalesItemLineDetail line)")
        if "DepositToAccountRef" in body:
            if not (account := ref_value(body["DepositToAccountRef"])):
                raise missing("DepositToAccountRef.value")
            if account not in self.state.chart(realm):
                raise unknown_account(account)
            if not self.state.chart(realm)[account]["Active"]:
                raise inactive_account(self.state.chart(realm)[account]["Name"])
        return self._save(realm, requestid, "SalesReceipt", body, self.state.sales_receipts)

    def _save(self, realm: str, requestid: str | None, kind: str, body: dict, records: list[dict]) -> Reply:
        self.state.ids[realm] = self.state.ids.get(realm, 0) + 1
        id_ = str(self.state.ids[realm])
        txn_date = body.get("TxnDate") or date.today().isoformat()  # QBO dates an undated transaction today
        records.append(
            {
                "realm": realm,
                "requestid": requestid,
                "Id": id_,
                "TxnDate": txn_date,
                "lines": body["Line"],
                "body": body,
            }
        )
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        created = {
            **body,
            "TxnDate": txn_date,
            "Id": id_,
            "SyncToken": "0",
            "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
        }
        return json_reply(200, {kind: created, "time": qbo_time()})
