"""The Accounting API resources the Xero fake answers once a call is through the gate: Organisation, Accounts and
ManualJournals (read, and created with `Idempotency-Key` replays and `summarizeErrors`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from simulators.base import FakeHandler, Rejected, Reply, json_reply
from simulators.oauth import Access
from simulators.xero.state import XeroState
from simulators.xero.wire import (
    amount_ok,
    cents,
    is_number,
    journal_date,
    money,
    ms_date,
    ms_date_offset,
    post_data_invalid,
    problem,
    validation_reply,
)

PROVIDER_NAME = "QIIUB"  # Xero puts the app's name in every Accounting response
SETTINGS_READ = frozenset({"accounting.settings", "accounting.settings.read"})  # /Organisation, /Accounts
TRANSACTIONS_READ = frozenset({"accounting.transactions", "accounting.transactions.read"})
TRANSACTIONS = frozenset({"accounting.transactions"})
IDEMPOTENCY_KEY_MAX = 128
LINE_AMOUNT_TYPES = ("NoTax", "Exclusive", "Inclusive")
CREATE_STATUSES = ("DRAFT", "POSTED")
ACCOUNT_CLASSES = {"BANK": "ASSET", "CURRENT": "ASSET", "REVENUE": "REVENUE", "CURRLIAB": "LIABILITY",
                   "EXPENSE": "EXPENSE"}
ACCOUNT_IDS = uuid.UUID("6c0a4b9e-7f3d-4b8e-9a51-2f7d0c3e1a77")  # namespace: an account's id is stable per tenant


def account_id(tenant: str, code: str) -> str:
    return str(uuid.uuid5(ACCOUNT_IDS, f"{tenant}:{code}"))


class AccountingResources(FakeHandler):
    """The resources, called with the state lock held; `XeroHandler` mixes them in."""

    state: XeroState

    def _route(self, access: Access, resource: str) -> Callable[[str, bytes], Reply]:
        parts = resource.strip("/").split("/")
        entity, item = parts[0].lower(), (parts[1] if len(parts) == 2 else None)
        if len(parts) > 2:
            entity = ""
        match (self.command, entity, item):
            case ("GET", "organisation", None):
                scopes, handler = SETTINGS_READ, self._organisation
            case ("GET", "accounts", None):
                scopes, handler = SETTINGS_READ, self._accounts
            case ("GET", "manualjournals", _):
                scopes, handler = TRANSACTIONS_READ, lambda tenant, raw: self._get_journals(tenant, item)
            case ("PUT" | "POST", "manualjournals", None):
                scopes, handler = TRANSACTIONS, self._create_journals
            case _:
                raise Rejected(problem(404, "Not Found", "The resource you're looking for cannot be found"))
        if not scopes & access.grant.scopes():  # the token's scope does not cover this endpoint
            raise Rejected(problem(401, "Unauthorized", "AuthorizationUnsuccessful"))
        return handler

    def _envelope(self, key: str, items: list[dict]) -> dict:
        return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": PROVIDER_NAME,
                "DateTimeUTC": ms_date(datetime.now(UTC)), key: items}

    def _organisation(self, tenant: str, raw: bytes) -> Reply:
        name = self.state.tenants.get(tenant, "")
        organisation = {"OrganisationID": tenant, "Name": name, "LegalName": name, "BaseCurrency": "USD",
                        "CountryCode": "PR", "OrganisationType": "COMPANY", "OrganisationStatus": "ACTIVE",
                        "IsDemoCompany": False}
        return json_reply(200, self._envelope("Organisations", [organisation]))

    def _accounts(self, tenant: str, raw: bytes) -> Reply:
        accounts = []
        for code, fields in sorted(self.state.chart(tenant).items()):  # archived ones too, as Xero lists them
            kind = fields["Type"]
            account = {"AccountID": account_id(tenant, code), "Code": code, "Name": fields["Name"], "Type": kind,
                       "Status": fields["Status"], "TaxType": "NONE", "Class": ACCOUNT_CLASSES.get(kind, "ASSET"),
                       "EnablePaymentsToAccount": False, "ShowInExpenseClaims": False,
                       "UpdatedDateUTC": ms_date_offset(datetime.now(UTC))}
            if kind == "BANK":
                account.update(BankAccountType="BANK", CurrencyCode="USD")
            accounts.append(account)
        return json_reply(200, self._envelope("Accounts", accounts))

    def _get_journals(self, tenant: str, journal_id: str | None) -> Reply:
        journals = [journal for owner, journal in self.state.journals.values() if owner == tenant]
        if journal_id is not None:
            journals = [j for j in journals if j["ManualJournalID"].lower() == journal_id.lower()]
            if not journals:
                return problem(404, "Not Found", "The resource you're looking for cannot be found")
        return json_reply(200, self._envelope("ManualJournals", journals))

    def _create_journals(self, tenant: str, raw: bytes) -> Reply:
        """PUT or POST /ManualJournals; a repeated Idempotency-Key gets the original answer back."""
        key = self.headers.get("Idempotency-Key") or None
        if key and len(key) > IDEMPOTENCY_KEY_MAX:
            return problem(400, "Bad Request", f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX} characters")
        if key and (tenant, key) in self.state.answers:
            self.state.replays += 1
            return self.state.answers[(tenant, key)]
        try:
            reply = self._journals(tenant, key, raw)
        except Rejected as rejected:
            reply = rejected.reply
        if key:
            self.state.answers[(tenant, key)] = reply  # errors too: Xero replays whatever it answered first
        return reply

    def _journals(self, tenant: str, key: str | None, raw: bytes) -> Reply:
        if self._media_type() != "application/json":
            raise post_data_invalid("Content-Type must be application/json (this simulator reads no XML)")
        try:
            body = json.loads(raw)
        except ValueError as error:
            raise post_data_invalid(f"Invalid JSON: {error}") from None
        journals = body.get("ManualJournals") if isinstance(body, dict) else None
        if not isinstance(journals, list) or not journals or not all(isinstance(j, dict) for j in journals):
            raise post_data_invalid("The body must be {\"ManualJournals\": [ {…}, … ]}")
        summarize = self.params.get("summarizeErrors", "true").lower() != "false"
        checked = [(journal, self._journal_errors(tenant, journal)) for journal in journals]
        if summarize and any(errors for _, errors in checked):
            elements = [{**journal, "ValidationErrors": [{"Message": m} for m in errors]}
                        for journal, errors in checked]
            return validation_reply(elements)
        answered = []
        for journal, errors in checked:
            if errors:  # summarizeErrors=false: each element reports its own outcome
                answered.append({**journal, "StatusAttributeString": "ERROR",
                                 "ValidationErrors": [{"Message": m} for m in errors]})
            else:
                answered.append(self._save(tenant, key, journal, summarize))
        return json_reply(200, self._envelope("ManualJournals", answered))

    def _journal_errors(self, tenant: str, journal: dict) -> list[str]:
        errors = []
        narration = journal.get("Narration")
        if not isinstance(narration, str) or not narration.strip():
            errors.append("Narration is required")
        if "Date" in journal and journal_date(journal["Date"]) is None:
            errors.append("Date must be a valid date (YYYY-MM-DD)")
        line_amount_types = journal.get("LineAmountTypes", "NoTax")
        if line_amount_types not in LINE_AMOUNT_TYPES:
            errors.append(f"LineAmountTypes must be one of {', '.join(LINE_AMOUNT_TYPES)}")
        if journal.get("Status", "DRAFT") not in CREATE_STATUSES:
            errors.append("Status must be DRAFT or POSTED for a new manual journal")
        if "ManualJournalID" in journal:
            errors.append("This simulator only creates manual journals: ManualJournalID is not accepted")
        lines = journal.get("JournalLines")
        if not isinstance(lines, list) or len(lines) < 2 or not all(isinstance(line, dict) for line in lines):
            errors.append("A manual journal must have at least two journal lines")
            return errors
        chart = self.state.chart(tenant)
        by_id = {account_id(tenant, code): code for code in chart}
        amounts, bad_codes, archived = [], [], []
        for line in lines:
            amount = line.get("LineAmount")
            if is_number(amount) and amount == 0:
                errors.append("Journal lines must have a non-zero LineAmount")
            elif not amount_ok(amount):
                errors.append("LineAmount must be a number with at most 2 decimal places")
            else:
                amounts.append(cents(amount))
            code = line.get("AccountCode")
            if code is None and isinstance(line.get("AccountID"), str):
                code = by_id.get(line["AccountID"].lower(), line["AccountID"])
            code = "" if code is None else str(code)
            if code not in chart and code not in bad_codes:
                bad_codes.append(code)
            elif code in chart and chart[code]["Status"] == "ARCHIVED" and code not in archived:
                archived.append(code)
            tax_type = line.get("TaxType", "NONE")
            if line_amount_types != "NoTax" and tax_type != "NONE":
                errors.append("This simulator computes no tax: use LineAmountTypes NoTax or TaxType NONE")
        errors += [f"Account code '{code}' is not a valid code for this document." for code in bad_codes]
        errors += [f"Account code '{code}' has been archived, or has been deleted. Each line item must reference a "
                   "valid account." for code in archived]
        if len(amounts) == len(lines):
            debits = sum(a for a in amounts if a > 0)
            credits = sum(a for a in amounts if a < 0)
            if debits + credits != 0:
                errors.append(f"The total debits ({money(debits)}) must equal total credits ({money(credits)})")
        return errors

    def _save(self, tenant: str, key: str | None, journal: dict, summarize: bool) -> dict:
        state = self.state
        chart = state.chart(tenant)
        by_id = {account_id(tenant, code): code for code in chart}
        when = journal_date(journal.get("Date")) or datetime.now(UTC).date()  # Xero dates an undated journal today
        midnight = datetime.combine(when, datetime.min.time(), tzinfo=UTC)
        journal_id = str(uuid.uuid4())
        lines = []
        for line in journal["JournalLines"]:
            code = line.get("AccountCode")
            code = str(code) if code is not None else by_id[line["AccountID"].lower()]
            lines.append({**line, "LineAmount": line["LineAmount"], "AccountCode": code,
                          "AccountID": account_id(tenant, code), "TaxType": line.get("TaxType", "NONE"),
                          "TaxAmount": 0.0, "IsBlank": False})
        status = journal.get("Status", "DRAFT")
        answered = {
            **journal,
            "Date": ms_date_offset(midnight),
            "Status": status,
            "LineAmountTypes": journal.get("LineAmountTypes", "NoTax"),
            "JournalLines": lines,
            "ShowOnCashBasisReports": journal.get("ShowOnCashBasisReports", True),
            "HasAttachments": False,
            "UpdatedDateUTC": ms_date_offset(datetime.now(UTC)),
            "ManualJournalID": journal_id,
        }
        if not summarize:
            answered["StatusAttributeString"] = "OK"
        state.journals[journal_id] = (tenant, answered)
        state.manual_journals.append({
            "tenant": tenant,
            "idempotency_key": key,
            "ManualJournalID": journal_id,
            "Date": when.isoformat(),
            "Narration": journal["Narration"],
            "Status": status,
            "lines": journal["JournalLines"],
            "body": journal,
        })
        return answered
