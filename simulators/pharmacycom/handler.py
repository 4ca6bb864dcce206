"""The Rx30-mode fake's one route, `POST /PharmacyCOM.asmx`, and its operations: PharmacyCOMv1's GetRxItem, GetRxItems,
SaveRxInvoice, SaveInvoice and GetAvailableCredit, and our GetReadyRxItems extension (see the package docstring)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from simulators.base import Reply, text_reply
from simulators.pharmacycom import soap
from simulators.pharmacycom.soap import Fault, as_bool, as_decimal, as_int, child_text, element, items_of, q, required
from simulators.pharmacycom.state import PharmacyComState
from simulators.pharmacycom.steering import PharmacyFakeHandler, Prescription, spoiled

PATH = "/pharmacycom.asmx"  # IIS paths are case-insensitive
OPERATIONS = ("GetRxItem", "GetRxItems", "GetReadyRxItems", "SaveRxInvoice", "SaveInvoice", "GetAvailableCredit")
SERVICE_UNAVAILABLE = (b"<html><body><h1>Service Unavailable</h1><p>HTTP Error 503. The service is unavailable.</p>"
                       b"</body></html>")


def wire_number(rx: Prescription) -> str:
    """PharmacyCOM's RxNumber is one string; Rx30 mode writes `<rx number>-<fill number>` (our assumption)."""
    return f"{rx.rx_number}-{rx.fill_number}"


def key_of(rx_number: str) -> tuple[str, int] | None:
    rx, _, fill = rx_number.rpartition("-")
    return (rx, int(fill)) if rx and fill.isdigit() else None


class PharmacyComHandler(PharmacyFakeHandler):
    state: PharmacyComState

    def answer(self, path: str, raw: bytes) -> Reply:
        if self.command != "POST" or path.lower() != PATH:
            return text_reply(404, "Not found: the service is POST /PharmacyCOM.asmx")
        with self.state.lock:
            down = self.state.down
            spoil = None if down else self.state.malformed.due()
        if down:
            return Reply(503, SERVICE_UNAVAILABLE, "text/html; charset=utf-8")
        encryption = self.state.encryption
        reply = self._soap(encryption.decrypt(raw) if encryption else raw)
        if encryption:
            reply = reply._replace(payload=encryption.encrypt(reply.payload))
        return spoiled(reply, spoil) if spoil else reply

    def _soap(self, raw: bytes) -> Reply:
        try:
            operation, request = soap.operation_of(raw, self.headers.get("SOAPAction"), self._media_type(), OPERATIONS)
            with self.state.lock:
                response = getattr(self, f"_{operation}")(request)
        except Fault as fault:
            return soap.fault_reply(fault)
        return soap.reply(response)

    # -- lookups ------------------------------------------------------------------------------------------------------

    def _GetRxItem(self, request: ET.Element) -> ET.Element:  # named as the operations
        response = ET.Element(q("GetRxItemResponse"))
        self._rx_item(response, "GetRxItemResult", child_text(request, "rxNumber") or "")
        return response

    def _GetRxItems(self, request: ET.Element) -> ET.Element:
        """Bag checkout: the scanned fill and every other fill ready for the same patient."""
        scanned = child_text(request, "rxNumber") or ""
        response = ET.Element(q("GetRxItemsResponse"))
        result = element(response, "GetRxItemsResult")
        found = self._ready_fill(scanned)
        if found is None:
            self._rx_item(result, "RxItem", scanned)
        else:
            for rx in self.state.ready():
                if rx.patient_name == found.patient_name:
                    _ready_item(result, "RxItem", rx)
        return response

    def _GetReadyRxItems(self, request: ET.Element) -> ET.Element:
        """Our extension (to confirm with Rx30's partner spec): every fill ready for pickup, as an ArrayOfRxItem."""
        response = ET.Element(q("GetReadyRxItemsResponse"))
        result = element(response, "GetReadyRxItemsResult")
        for rx in self.state.ready():
            _ready_item(result, "RxItem", rx)
        return response

    def _GetAvailableCredit(self, request: ET.Element) -> ET.Element:
        customer_id = child_text(request, "customerId") or ""
        account = self.state.available_credit(customer_id)
        response = ET.Element(q("GetAvailableCreditResponse"))
        result = element(response, "GetAvailableCreditResult")
        element(result, "CustomerId", customer_id)
        element(result, "IsValid", account is not None)
        element(result, "Message", "success" if account else "Customer not found")
        available, balance = account or (Decimal("0"), Decimal("0"))
        element(result, "AvailableCredit", available)
        element(result, "AccountBalance", balance)
        return response

    def _rx_item(self, parent: ET.Element, name: str, scanned: str) -> None:
        rx = self._ready_fill(scanned)
        if rx is not None:
            _ready_item(parent, name, rx)
            return
        known = key_of(scanned) in self.state.prescriptions
        item = element(parent, name)
        element(item, "RxNumber", scanned)
        element(item, "RxValid", False)
        element(item, "RxAmountDue", Decimal("0"))
        element(item, "RxTaxable", False)
        messages = element(item, "RxMessages")
        why = "Rx already picked up." if known else "Item does not exist in the system!"
        element(messages, "RxMessage", Message=why, Print=False)
        element(item, "RxItemFlags")

    def _ready_fill(self, scanned: str) -> Prescription | None:
        rx = self.state.prescriptions.get(key_of(scanned))
        return rx if rx is not None and rx.status == "ready" else None

    # -- invoices -----------------------------------------------------------------------------------------------------

    def _SaveRxInvoice(self, request: ET.Element) -> ET.Element:
        invoice = request.find(q("rxInvoice"))
        if invoice is None:
            raise Fault("Client", "Server was unable to read request. ---> rxInvoice is missing.")
        number = as_int(required(invoice, "RxInvoiceNumber"), "RxInvoiceNumber")
        items = []
        for item in items_of(invoice, "RxItems", "RxItem"):
            key = key_of(required(item, "RxNumber"))
            amount = as_decimal(required(item, "RxAmountDue"), "RxAmountDue")
            messages = items_of(item, "RxMessages", "RxMessage")
            marked = any(message.get("Message") == soap.RETURN_MARKER for message in messages)
            items.append((key, amount, amount < 0 or marked))
        signatures = []
        flag_results = []
        for result in items_of(invoice, "RxItemFlagResults", "RxItemFlagResult"):
            code = as_int(result.get("Type") or "", "RxItemFlagResult Type")
            flag_results.append({"type": soap.FLAG_NAMES.get(code, str(code)),
                                 "accepted": as_bool(result.get("Accepted"), "RxItemFlagResult Accepted")})
            signature = child_text(result, "Signature")
            if signature:
                signatures.append(soap.base64_size(signature, "Signature"))
        record = {
            "via": "soap",
            "date": required(invoice, "RxInvoiceDate"),
            "total": f"{as_decimal(required(invoice, 'RxTotal'), 'RxTotal'):.2f}",
            "payments": [{"type": as_int(payment.get("Type") or "", "RxPayment Type"),
                          "amount": f"{as_decimal(payment.get('Amount') or '', 'RxPayment Amount'):.2f}"}
                         for payment in items_of(invoice, "RxPayments", "RxPayment")],
            "flag_results": flag_results,
            "signature": bool(signatures),
            "signature_bytes": max(signatures, default=0),
        }
        saved = None not in (key for key, _, _ in items) and self.state.save_rx_invoice(number, record, items)
        response = ET.Element(q("SaveRxInvoiceResponse"))
        element(response, "SaveRxInvoiceResult", bool(saved))
        return response

    def _SaveInvoice(self, request: ET.Element) -> ET.Element:
        invoice = request.find(q("invoice"))
        if invoice is None:
            raise Fault("Client", "Server was unable to read request. ---> invoice is missing.")
        number = as_int(required(invoice, "Id"), "Id")
        total = child_text(invoice, "Total")
        taxes = [as_decimal(required(tax, "Amount"), "Amount")
                 for tax in items_of(invoice, "InvoiceTaxes", "InvoiceTax")]
        record = {
            "via": "soap",
            "date": child_text(invoice, "Date"),
            "total": None if total is None else f"{as_decimal(total, 'Total'):.2f}",
            "tax_total": f"{sum(taxes, Decimal('0')):.2f}",
            "lines": [_invoice_line(line) for line in items_of(invoice, "InvoiceItems", "InvoiceItem")],
            "payments": [{"type": as_int(required(payment, "Type"), "Type"),
                          "amount": f"{as_decimal(required(payment, 'Amount'), 'Amount'):.2f}"}
                         for payment in items_of(invoice, "InvoicePayments", "InvoicePayment")],
            "signature": bool(child_text(invoice, "Signature")),
        }
        response = ET.Element(q("SaveInvoiceResponse"))
        element(response, "SaveInvoiceResult", self.state.save_invoice(number, record))
        return response


def _invoice_line(line: ET.Element) -> dict:
    return {
        "part_number": child_text(line, "PartNumber"),
        "quantity": f"{as_decimal(required(line, 'QuantitySold'), 'QuantitySold')}",
        "line_total": f"{as_decimal(required(line, 'LineExt'), 'LineExt'):.2f}",
        "taxable": as_bool(child_text(line, "Taxable"), "Taxable"),
        "rx_item": as_bool(child_text(line, "RxItem") or "false", "RxItem"),
    }


def _ready_item(parent: ET.Element, name: str, rx: Prescription) -> None:
    """An RxItem as Rx30 lets it reach the POS: the amount due, tax flag, patient name and flags; no drug detail."""
    item = element(parent, name)
    element(item, "RxNumber", wire_number(rx))
    element(item, "RxValid", True)
    element(item, "RxCustomerName", rx.patient_name)
    element(item, "RxAmountDue", rx.amount_due)
    element(item, "RxTaxable", rx.taxable)
    element(item, "RxMessages")
    flags = element(item, "RxItemFlags")
    for flag in rx.flags:
        element(flags, "RxItemFlag", Type=soap.FLAG_CODES[flag.type], Message=flag.message, Required=flag.required)
