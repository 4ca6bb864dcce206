"""A local fake of a pharmacy system in "Rx30 mode", for the tests and `make run`.

Rx30's own POS protocol is private, so Rx30 mode is an analogue, not Rx30's wire format: it answers the public Paladin
PharmacyCOMv1 SOAP contract (github.com/PaladinPOS/PharmacyCOMv1, `PharmacyCOM.wsdl`) and behaves as Rx30 is
documented to (vendors-wave2.md §1.2). `POST /PharmacyCOM.asmx`, SOAP 1.1 document/literal, namespace
`http://services.paladinpos.com/PaladinPharmacyCOMv1`, `SOAPAction: "<namespace>/<operation>"`, errors as SOAP Faults
(HTTP 500; `soap:Client` when the request is at fault); with a `password` (`--password`) every message, both ways, is
encrypted as the contract's optional Encryption SOAP extension does (obfuscation: its default password is public):

- GetRxItem(rxNumber) → RxItem; GetRxItems(rxNumber) → ArrayOfRxItem (bag checkout: every fill ready for the same
  patient); SaveRxInvoice(rxInvoice) → boolean; SaveInvoice(invoice) → boolean; GetAvailableCredit(customerId) →
  AvailableCreditResponse (house charge, Rx30's A/R module).
- **GetReadyRxItems() → ArrayOfRxItem: our extension, to confirm with Rx30's partner spec.** PharmacyCOM is lookup only;
  the hub keeps a ready list per store, so this one operation, in the contract's style (request element
  `<GetReadyRxItems/>`, answer `<GetReadyRxItemsResponse><GetReadyRxItemsResult>` holding `RxItem`s), lists every fill
  waiting for pickup.
- RxNumber on the wire is `<rx number>-<fill number>` (PharmacyCOM has no fill number; our assumption).
- Rx30's ways: an RxItem carries RxNumber, RxValid, RxCustomerName, RxAmountDue, RxTaxable and RxItemFlags (Type 1
  HIPAA, 2 safety cap, 3 counselling): no drug detail, no address. SaveRxInvoice is idempotent on RxInvoiceNumber (a
  repeat is answered true and counted in /_state `repeats`, not applied twice) and false for an unknown Rx. A line is a
  return when its RxAmountDue is negative or it carries `<RxMessage Message="RETURN" Print="false"/>` (our adapter sends
  both, so a $0.00 copay return is still one): the return is recorded, but the fill stays picked up, as in Rx30, until
  staff reset it by hand (`reset_pickup` below). A picked-up fill leaves the ready list. SaveInvoice (the whole sale,
  every line) is a copy, idempotent on its Id, and changes no prescription.

**File-drop mode** ("Mode 2", `--drop-folder DIR` / `make_server(drop_folder=…)`). Both files are UTF-8 text, one
record a line, lines ended by LF, fields separated by `|`. In a text field (names, messages, descriptions) the
characters `%`, `|`, CR and LF are written `%25`, `%7C`, `%0D`, `%0A`, and a reader percent-decodes every text field;
nothing else is escaped. Amounts are decimals with a `.` (`12.50`, `-12.50`); Y/N fields are `Y` or `N`. A record
whose type letter a reader does not know is skipped (a later version may add records); a known record with another
number of fields makes the file unreadable. Flag types are PharmacyCOM's codes: 1 HIPAA, 2 safety cap, 3 counselling.

`DIR/ready.txt`, written by the pharmacy system (here: this fake) whenever its ready list changes, as a temporary file
renamed over the old one, so a reader never sees half a list::

    QIIUB-RX30-READY|1|<number of R records>
    R|<rx number>|<fill number>|<amount due>|<taxable Y/N>|<patient name>|<ready at, ISO 8601, or empty>
    F|<flag type 1-3>|<required Y/N>|<message>        (0 or more, each belongs to the R record above it)

`DIR/outbound/<message number, 10 digits>.txt`, written by the relay (temporary name starting with `.`, then
renamed), one outbox message a file. The pharmacy system applies it (idempotently: the message number is the
invoice number) and moves it to `outbound/done/`, or to `outbound/rejected/` when it cannot read it or does not
know the Rx::

    QIIUB-RX30-CONFIRM|1|<PICKUP, RETURN or SALE>|<message number>|<picked up / returned / completed at, ISO 8601>
    P|<rx number>|<fill number>|<amount paid>|<picked up by: name>|<relation>|<ID type>|<ID last 4>   PICKUP, once
    K|<flag type 1-3>|<accepted Y/N>                                                   PICKUP, 0 or more
    S|<image/png or image/jpeg>|<signature, base64 on one line>                        PICKUP, 0 or 1
    X|<rx number>|<fill number>|<quantity, negative>|<amount refunded, negative>       RETURN, once
    L|<rx number or empty>|<fill number or empty>|<sku>|<description>|<quantity>|<unit price>|<line total>|<taxable Y/N>
                                                                                      SALE, 1 or more
    T|<subtotal>|<tax total>|<total>                                                   SALE, once
    Y|<PharmacyCOM payment type: 1 cash, 2 charge, 3 credit card, 4 check>|<amount>    SALE, 0 or more

While `down`, ready.txt is not rewritten and outbound/ is not swept (as if the pharmacy system were off); it is swept
every half second otherwise.

Steering, `POST /_control` (each key optional, applied in this order after all are checked):
`{"reset": true}` back to the start; `{"add": [{"rx_number", "fill_number", "amount_due", "taxable", "patient_name",
"flags": [{"type": "hipaa" | "safety_cap" | "counseling", "required", "message"}], "ready_at"?}]}` (replaces a fill of
the same key); `{"remove": [{"rx_number", "fill_number"}]}`; `{"reset_pickup": [{…}]}` (staff set a picked-up fill
back to ready); `{"down": true | false}` (every SOAP call answers 503, and the file sweep stops);
`{"malformed": {"count": N, "kind": "broken" | "oversized"}}` (the next N SOAP calls are carried out, their answers
cut in half, or padded with whitespace past 6 MB);
`{"credit": {"<customer id>": {"available", "balance"}}}`; `{"delay_s": 5}`.
`GET /_state`: `{"ready": [{rx_number, fill_number, amount_due, taxable, flags: [{type, required}]}], "picked_up":
[{rx_number, fill_number, returned}], "rx_invoices": {"<number>": {via, date, total, items: [{rx_number, fill_number,
amount, return}], payments: [{type, amount}], flag_results: [{type, accepted}], signature, signature_bytes}},
"invoices": {"<id>": {via, date, total, tax_total, lines: [{part_number, quantity, line_total, taxable, rx_item}],
payments, signature}}, "returns": [{invoice, rx_number, fill_number, amount, still_picked_up}], "repeats", "down",
"malformed_pending", "drop_folder", "files": {applied, rejected}}` (no patient names, no signature data).
`state` holds its memory, `steering` what both pharmacy fakes share (test steering, HTTPS), `soap` the envelopes,
`handler` the operations, `dropfolder` the files. Standard library and `cryptography` (HTTPS, message encryption).
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer
from pathlib import Path

from simulators.base import serve
from simulators.pharmacycom.handler import PharmacyComHandler
from simulators.pharmacycom.state import PharmacyComState
from simulators.pharmacycom.steering import parse_prescriptions, serve_tls

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "PHARMACYCOM_BASE_URL", 8770, "Rx30 (PharmacyCOM mode)"

DEMO = [
    {"rx_number": "600123", "fill_number": 1, "amount_due": "12.50", "taxable": False, "patient_name": "RIVERA, ANA",
     "flags": [{"type": "hipaa", "required": True, "message": "HIPAA first time signature"}]},
    {"rx_number": "600124", "fill_number": 3, "amount_due": "0.00", "taxable": False, "patient_name": "RIVERA, ANA"},
    {"rx_number": "600301", "fill_number": 1, "amount_due": "45.10", "taxable": True, "patient_name": "COLON, LUIS",
     "flags": [{"type": "counseling", "required": True, "message": "Pharmacist consult"},
               {"type": "safety_cap", "required": False, "message": "No safety cap"}]},
]

__all__ = ["NAME", "PORT", "SERVES", "make_server"]


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    drop_folder: str | Path | None = None,
    tls: bool = False,
    password: str | None = None,
    demo: bool = True,
) -> ThreadingHTTPServer:
    """`demo` starts (and resets to) three ready fills; with `tls` it serves HTTPS and `server.cert_path` is the
    certificate to trust; with `password` SOAP messages are encrypted as PharmacyCOM's Encryption option does."""
    state = PharmacyComState(parse_prescriptions(DEMO) if demo else [], Path(drop_folder) if drop_folder else None,
                             password)
    server = serve(PharmacyComHandler, state, host, port)
    server.service_actions = state.sweep  # serve_forever calls it every poll (half a second)
    if tls:
        serve_tls(server)
    return server
