"""PharmacyCOMv1 on the wire, as an ASMX service answers it: SOAP 1.1 document/literal envelopes in the namespace
`http://services.paladinpos.com/PaladinPharmacyCOMv1` (elementFormDefault qualified, attributes unqualified), the
operation named by the SOAPAction header, SOAP Faults (HTTP 500) for what it cannot take, and the contract's optional
message encryption (its Encryption project's SOAP extension).
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

from simulators.base import Reply

NS = "http://services.paladinpos.com/PaladinPharmacyCOMv1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_TYPE = "text/xml; charset=utf-8"
FLAG_CODES = {"hipaa": 1, "safety_cap": 2, "counseling": 3}
FLAG_NAMES = {code: name for name, code in FLAG_CODES.items()}
RETURN_MARKER = "RETURN"  # an RxMessage our adapter puts on a returned line, so a $0.00 return is still one
ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:xsi="{XSI}" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
    "<soap:Body>{}</soap:Body></soap:Envelope>"
)


class Fault(Exception):
    """Answered as a SOAP 1.1 Fault: `code` is Client (the request is at fault), Server or VersionMismatch."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


def element(parent: ET.Element, name: str, value=None, **attributes) -> ET.Element:
    child = ET.SubElement(parent, q(name), {key: _lexical(value) for key, value in attributes.items()})
    if value is not None:
        child.text = _lexical(value)
    return child


def _lexical(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def reply(operation_response: ET.Element) -> Reply:
    body = ET.tostring(operation_response, encoding="unicode")  # the namespace as prefix ns0: any prefix will do
    return Reply(200, ENVELOPE.format(body).encode(), XML_TYPE)


def fault_reply(fault: Fault) -> Reply:
    text = fault.args[0].replace("&", "&amp;").replace("<", "&lt;")
    body = (f"<soap:Fault><faultcode>soap:{fault.code}</faultcode><faultstring>{text}</faultstring>"
            "<detail /></soap:Fault>")
    return Reply(500, ENVELOPE.format(body).encode(), XML_TYPE)


def operation_of(raw: bytes, soap_action: str | None, media_type: str, operations) -> tuple[str, ET.Element]:
    """The operation the SOAPAction header names and its request element; a Fault when they are missing or disagree."""
    if media_type != "text/xml":
        raise Fault("Client", "SOAP 1.1 requests are sent as text/xml.")
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise Fault("Client", "Server was unable to read request. ---> DTD is prohibited in this XML document.")
    try:
        envelope = ET.fromstring(raw)
    except ET.ParseError:
        raise Fault("Client", "Server was unable to read request. ---> There is an error in XML document.") from None
    if envelope.tag != f"{{{SOAP_ENV}}}Envelope":  # SOAP 1.2's namespace included
        raise Fault("VersionMismatch", "Possible SOAP version mismatch: Envelope namespace was unexpected.")
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    action = (soap_action or "").strip().strip('"')
    operation = action.removeprefix(f"{NS}/")
    if operation not in operations or not action.startswith(f"{NS}/"):
        raise Fault("Client", f"Server did not recognize the value of HTTP Header SOAPAction: {action}.")
    request = body.find(q(operation)) if body is not None else None
    if request is None:
        raise Fault("Client", "Server was unable to read request. ---> The body does not hold that operation.")
    return operation, request


# -- reading the request's types ---------------------------------------------------------------------------------------


def child_text(parent: ET.Element, name: str) -> str | None:
    """The text of a child element; None when it is missing or xsi:nil."""
    child = parent.find(q(name))
    if child is None or child.get(f"{{{XSI}}}nil") == "true":
        return None
    return child.text or ""


def required(parent: ET.Element, name: str) -> str:
    value = child_text(parent, name)
    if value is None:
        raise _unreadable(name)
    return value


def as_int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _unreadable(name) from None


def as_decimal(value: str, name: str) -> Decimal:
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise _unreadable(name) from None
    if not amount.is_finite():
        raise _unreadable(name)
    return amount


def as_bool(value: str | None, name: str) -> bool:
    if value is None or value.strip() not in ("true", "false", "1", "0"):
        raise _unreadable(name)
    return value.strip() in ("true", "1")


def base64_size(value: str, name: str) -> int:
    try:
        return len(base64.b64decode("".join(value.split()), validate=True))
    except binascii.Error:
        raise _unreadable(name) from None


def items_of(parent: ET.Element, array: str, item: str) -> list[ET.Element]:
    holder = parent.find(q(array))
    return [] if holder is None else holder.findall(q(item))


def _unreadable(name: str) -> Fault:
    return Fault("Client", f"Server was unable to read request. ---> There is an error in XML document ({name}).")


class Encryption:
    """PharmacyCOM's Encryption option, as its PharmacyCOMEncryption.cs does it: the whole message as UTF-16LE text,
    AES-CBC (PKCS7) with the key MD5(UTF-16LE password), the IV prepended, base64."""

    def __init__(self, password: str):
        self.key = hashlib.md5(password.encode("utf-16-le"), usedforsecurity=False).digest()

    def encrypt(self, message: bytes) -> bytes:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        plain = padder.update(message.decode("utf-8").encode("utf-16-le")) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        return base64.b64encode(iv + encryptor.update(plain) + encryptor.finalize())

    def decrypt(self, sealed: bytes) -> bytes:
        """The message as UTF-8, or empty when it does not open (as the C# does; the empty request is then refused)."""
        try:
            raw = base64.b64decode(sealed, validate=True)
            decryptor = Cipher(algorithms.AES(self.key), modes.CBC(raw[:16])).decryptor()
            unpadder = padding.PKCS7(128).unpadder()
            plain = unpadder.update(decryptor.update(raw[16:]) + decryptor.finalize()) + unpadder.finalize()
            return plain.decode("utf-16-le").encode("utf-8")
        except (binascii.Error, ValueError):
            return b""
