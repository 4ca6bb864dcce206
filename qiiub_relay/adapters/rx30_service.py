"""Rx30 mode over SOAP: the PharmacyCOMv1 contract (SOAP 1.1 document/literal, namespace
`http://services.paladinpos.com/PaladinPharmacyCOMv1`) hosted by the pharmacy system, the public analogue of Rx30's
private POS interface. simulators/pharmacycom documents the wire and our assumptions on it.

- ready_prescriptions: `GetReadyRxItems`, our one extension (PharmacyCOM is lookup only), to confirm with Rx30.
- pickup → SaveRxInvoice: the Rx line at the amount paid, RxItemFlagResults (the signer's name, each flag's answer,
  the signature as base64 PNG or JPEG as the register sent it on every accepted flag; the contract has no other place
  for a signature). The pickup body names no tender, so no RxPayments: the sale's SaveInvoice carries them.
- sale → SaveInvoice, the contract's "whole invoice" copy, every line (Rx lines with `RxItem` true and PartNumber the
  Rx's wire number), its payments and tax. SaveRxInvoice cannot carry non-Rx lines.
- return → SaveRxInvoice at a negative amount, marked with an RxMessage "RETURN" (so a $0.00 return is one too).
Invoice numbers are the outbox message's `number`; the system acknowledges a repeated number without applying it
twice. A `false` answer or a `soap:Client` fault to a delivery is PharmacyRefused; everything else that goes wrong is
PharmacyUnavailable. With the credentials' `password`, messages are sealed as PharmacyCOM's Encryption option does.
Standard library and `cryptography`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qiiub_relay.adapters.base import (
    Flag,
    OutboundMessage,
    PharmacyRefused,
    PharmacyUnavailable,
    ReadyPrescription,
)
from qiiub_relay.adapters.messages import Pickup, Return, Sale, read_message
from qiiub_relay.adapters.rx30_codes import FLAG_CODES, FLAG_NAMES, money, payment_type, split_rx_number, wire_rx_number
from qiiub_relay.adapters.transport import TIMEOUT_S, Connection, malformed

NS = "http://services.paladinpos.com/PaladinPharmacyCOMv1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
DEFAULT_PATH = "/PharmacyCOM.asmx"
RETURN_MARKER = "RETURN"
MAX_INT = 2**31 - 1  # xs:int, the invoice numbers' type
ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:xsi="{XSI}" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
    "<soap:Body>{}</soap:Body></soap:Envelope>"
)


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


def sub(parent: ET.Element, name: str, value: str | int | bool | None = None, **attributes) -> ET.Element:
    child = ET.SubElement(parent, q(name), {key: _lexical(value) for key, value in attributes.items()})
    if value is not None:
        child.text = _lexical(value)
    return child


def subs(parent: ET.Element, fields: list[tuple[str, str | int | bool | None]]) -> None:
    """Elements in the WSDL's order; None is written xsi:nil (the contract's `minOccurs="1" nillable="true"`)."""
    for name, value in fields:
        child = sub(parent, name, value)
        if value is None:
            child.set(f"{{{XSI}}}nil", "true")


def _lexical(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class MessageCipher:
    """PharmacyCOM's optional message encryption (its Encryption project, a SOAP extension): the whole SOAP message as
    UTF-16LE, AES-CBC with the key MD5(UTF-16LE password), a random IV prepended, base64. Obfuscation, not security
    (the contract publishes its default password): TLS is what protects the store's LAN."""

    def __init__(self, password: str):
        self._key = hashlib.md5(password.encode("utf-16-le"), usedforsecurity=False).digest()

    def seal(self, message: str) -> bytes:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        plain = padder.update(message.encode("utf-16-le")) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        return base64.b64encode(iv + encryptor.update(plain) + encryptor.finalize())

    def open(self, sealed: bytes) -> bytes:
        """The message as UTF-8; PharmacyUnavailable when it is not sealed with this password."""
        try:
            raw = base64.b64decode(sealed, validate=True)
        except binascii.Error:
            raise malformed() from None
        try:
            decryptor = Cipher(algorithms.AES(self._key), modes.CBC(raw[:16])).decryptor()
            unpadder = padding.PKCS7(128).unpadder()
            plain = unpadder.update(decryptor.update(raw[16:]) + decryptor.finalize()) + unpadder.finalize()
            return plain.decode("utf-16-le").encode("utf-8")
        except ValueError:
            raise PharmacyUnavailable("decrypt_failed", "the pharmacy system's answer does not open with the "
                                      "interface password") from None


class Rx30Service:
    def __init__(self, host: str, port: int, *, use_tls: bool = False, ca_file: str | None = None,
                 path: str = DEFAULT_PATH, password: str | None = None, timeout_s: float = TIMEOUT_S):
        self._connection = Connection(host, port, tls=use_tls, ca_file=ca_file, timeout_s=timeout_s)
        self._path = path
        self._cipher = MessageCipher(password) if password else None

    def ready_prescriptions(self) -> list[ReadyPrescription]:
        response = self._call("GetReadyRxItems", ET.Element(q("GetReadyRxItems")), delivering=False)
        result = response.find(q("GetReadyRxItemsResult"))
        items = [] if result is None else result.findall(q("RxItem"))
        try:
            return [ready for ready in map(_ready, items) if ready is not None]
        except (AttributeError, ValueError, InvalidOperation):
            raise malformed() from None

    def deliver(self, message: OutboundMessage) -> None:
        content = read_message(message)
        if not 0 < content.number <= MAX_INT:
            raise PharmacyRefused("message_malformed", "the outbox message's number does not fit an invoice number")
        if isinstance(content, Sale):
            operation, request = "SaveInvoice", _sale_invoice(content)
        else:
            operation, request = "SaveRxInvoice", _rx_invoice(content)
        response = self._call(operation, request, delivering=True)
        if (response.findtext(q(f"{operation}Result")) or "").strip() not in ("true", "1"):
            raise PharmacyRefused("invoice_refused", "the pharmacy system did not take the invoice (an unknown Rx?)")

    def check(self) -> None:
        self.ready_prescriptions()

    def _call(self, operation: str, request: ET.Element, *, delivering: bool) -> ET.Element:
        """The operation's `<…Response>` element; a Fault or an unreadable answer raised as the module says."""
        message = ENVELOPE.format(ET.tostring(request, encoding="unicode"))  # PharmacyCOM's namespace as ns0
        payload = self._cipher.seal(message) if self._cipher else message.encode()
        answer = self._connection.request("POST", self._path, payload, {
            "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NS}/{operation}"',
        })
        if answer.status not in (200, 500) or (answer.status == 500 and "xml" not in answer.media_type):
            raise PharmacyUnavailable(f"http_{answer.status}", f"the pharmacy system answered HTTP {answer.status}")
        body = _soap_body(self._cipher.open(answer.body) if self._cipher else answer.body)
        fault = body.find(f"{{{SOAP_ENV}}}Fault")
        if fault is not None:
            code = (fault.findtext("faultcode") or "").rpartition(":")[2]
            if code == "Client" and delivering:
                raise PharmacyRefused("soap_fault_client", "the pharmacy system refused the request (Client fault)")
            raise PharmacyUnavailable(f"soap_fault_{code.lower() or 'unknown'}", "the pharmacy system answered a fault")
        response = body.find(q(f"{operation}Response"))
        if answer.status != 200 or response is None:
            raise malformed()
        return response


def _soap_body(raw: bytes) -> ET.Element:
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:  # no DTD, hence no entity expansion
        raise malformed()
    try:
        envelope = ET.fromstring(raw)
    except ET.ParseError:
        raise malformed() from None
    body = envelope.find(f"{{{SOAP_ENV}}}Body") if envelope.tag == f"{{{SOAP_ENV}}}Envelope" else None
    if body is None:
        raise malformed()
    return body


def _boolean(text: str | None) -> bool:
    value = (text or "").strip()
    if value not in ("true", "false", "1", "0"):
        raise ValueError("not an xs:boolean")
    return value in ("true", "1")


def _ready(item: ET.Element) -> ReadyPrescription | None:
    """An RxItem the system lists as valid; an invalid one (RxValid false) is not waiting for anyone."""
    if not _boolean(item.findtext(q("RxValid"))):
        return None
    key = split_rx_number(item.findtext(q("RxNumber")) or "")
    if key is None:
        raise ValueError("RxNumber is not <rx>-<fill>")
    flags = []
    for flag in item.iterfind(f"{q('RxItemFlags')}/{q('RxItemFlag')}"):
        kind = FLAG_NAMES.get(int(flag.get("Type", "")))
        if kind is not None:  # a flag type the contract may add later is not one the register can show
            flags.append(Flag(kind, _boolean(flag.get("Required")), flag.get("Message") or ""))
    amount_due = Decimal((item.findtext(q("RxAmountDue")) or "").strip())
    if not amount_due.is_finite():
        raise ValueError("RxAmountDue is not a decimal")
    return ReadyPrescription(
        rx_number=key[0], fill_number=key[1], amount_due=money(amount_due),
        taxable=_boolean(item.findtext(q("RxTaxable"))),
        patient_name=item.findtext(q("RxCustomerName")) or "",
        flags=tuple(flags),
    )


def _rx_invoice(content: Pickup | Return) -> ET.Element:
    """SaveRxInvoice of one Rx line: a pickup at the amount paid, or a return at the (negative) refund."""
    returned = isinstance(content, Return)
    amount = money(content.refund if returned else content.amount_paid)
    request = ET.Element(q("SaveRxInvoice"))
    invoice = sub(request, "rxInvoice")
    subs(invoice, [
        ("RxInvoiceNumber", content.number),
        ("RxInvoiceDate", content.returned_at if returned else content.picked_up_at),
        ("RxSubTotal", amount), ("RxTaxTotal", "0.00"), ("RxTotal", amount),
    ])
    item = sub(sub(invoice, "RxItems"), "RxItem")
    # In an invoice the contract reads RxNumber, RxValid, RxCustomerName and RxAmountDue; RxTaxable is required, unread.
    subs(item, [("RxNumber", wire_rx_number(content.rx_number, content.fill_number)), ("RxValid", True),
                ("RxAmountDue", amount), ("RxTaxable", False)])
    if returned:
        sub(sub(item, "RxMessages"), "RxMessage", Message=RETURN_MARKER, Print=False)
        return request
    if content.flag_results:
        results = sub(invoice, "RxItemFlagResults")
        for kind, accepted in content.flag_results:
            result = sub(results, "RxItemFlagResult", CustomerName=content.picked_up_by.name, Type=FLAG_CODES[kind],
                         Accepted=accepted)
            if accepted and content.signature:
                sub(result, "Signature", content.signature.data)
    return request


def _sale_invoice(sale: Sale) -> ET.Element:
    """SaveInvoice: every minOccurs=1 element of the contract's Invoice, nil where the hub has no value."""
    request = ET.Element(q("SaveInvoice"))
    invoice = sub(request, "invoice")
    subs(invoice, [
        ("Id", sale.number), ("Deleted", False), ("Number", sale.number), ("Date", sale.completed_at),
        ("AccountNumber", None), ("AccountTracker", None), ("TerminalNumber", None), ("EmployeeNumber", None),
        ("Total", money(sale.total)), ("Profit", None), ("PromptPaymentDiscount", None), ("GlobalTax", None),
        ("GlobalNet", None), ("GlobalDefective", None), ("DefaultTaxOverride", None), ("InvoiceType", None),
        ("FlexTotal", None), ("StoreId", None), ("Categories", None),
    ])
    items = sub(invoice, "InvoiceItems")
    for line_number, line in enumerate(sale.lines, start=1):
        part = wire_rx_number(line.rx_number, line.fill_number) if line.rx_number else line.sku
        subs(sub(items, "InvoiceItem"), [
            ("InvoiceId", sale.number), ("LineNumber", line_number), ("InventoryId", None), ("Date", sale.completed_at),
            ("PartNumber", part), ("Description", line.description), ("DepartmentId", None),
            ("QuantitySold", str(line.quantity)), ("ReorderQuantity", None), ("RetailPrice", money(line.unit_price)),
            ("SellPrice", money(line.unit_price)), ("SoldPrice", money(line.unit_price)), ("SellThreshold", None),
            ("Taxable", line.taxable), ("Net", None), ("Defective", None), ("LineExt", money(line.line_total)),
            *((name, None) for name in ("PromptPaymentDiscount", "Profit", "CostPerUnit", "CostLineExt", "PriceType",
                                        "PricingPlanId", "SaleId", "SupplierId1", "SupplierId2", "ClassId1",
                                        "SubclassId1", "ClassId2", "SubclassId2", "ClassId3", "SubclassId3",
                                        "FlexItem", "StoreId", "Categories")),
            ("RxItem", bool(line.rx_number)),
        ])
    payments = sub(invoice, "InvoicePayments")
    for line_number, (kind, amount) in enumerate(sale.payments, start=len(sale.lines) + 1):
        subs(sub(payments, "InvoicePayment"), [
            ("InvoiceId", sale.number), ("LineNumber", line_number), ("Date", sale.completed_at),
            ("Type", payment_type(kind)), ("Amount", money(amount)), ("SaleId", None), ("Categories", None),
        ])
    subs(sub(sub(invoice, "InvoiceTaxes"), "InvoiceTax"), [
        ("Id", 1), ("InvoiceId", sale.number), ("Name", "Sales tax"), ("Type", None), ("Rate", None),
        ("Amount", money(sale.tax_total)), ("Categories", None),
    ])
    return request
