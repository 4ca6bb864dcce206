"""A local fake of PioneerRx's POS Universal API, for the tests and `make run`.

What PioneerRx documents (support.pioneerrx.com/apidoc, vendors-wave2.md §1.4) it does as documented: two functions,
RxQuery (prescriptions ready for a patient) and RxComplete (the POS reports a sale, with root-level `Status`,
`Signature` data, `PickedUpBy` data and `electronicPatientEducation`); Rx data carries `totalThirdPartyAmountPaid`;
"No Results for Method" is answered with HTTP **500**; every request carries `prx-api-key`, `prx-timestamp` (UTC,
`yyyy-MM-ddTHH:mm:ss.ffffffZ`) and `prx-signature` = Base64(SHA-512(UTF-16LE(timestamp + shared secret))), and a
wrong or missing one, or a timestamp more than 5 minutes off, is answered 401 `{"Message": "Authorization has been
denied for this request."}`; unknown fields are ignored; HTTPS with a self-issued certificate (`tls=True`).

The public page does not show the rest; what this fake chose is marked [inf] (smallest guess, to confirm with
PioneerRx). As ASP.NET Web API answers: errors are `{"Message": "…"}` and property names match case-insensitively.

- [inf] `POST <base>/api/RxQuery` and `POST <base>/api/RxComplete` (PioneerRx's partner APIs use `/api/<Method>`);
  JSON only here (the real API takes XML too).
- RxQuery request `{"patientId": "…"}` [inf]; **without a patient it lists every ready prescription of the store
  [inf]: our extension, the hub keeps a store-wide ready list**. Linked patients are not modelled. Answer 200
  `{"patients": [{"patientId", "firstName", "lastName", "rxs": [{"rxNumber", "fillNumber", "patientPayAmount",
  "totalThirdPartyAmountPaid", "taxable", "readyDate", "flags": [{"flagType": "HIPAA" | "SafetyCap" | "Counseling",
  "required", "message"}]}]}]}`: every name but totalThirdPartyAmountPaid is [inf]; amounts are JSON numbers; no drug.
  Nothing ready: 500 `{"Message": "No Results for Method"}`.
- RxComplete request `{"transactionId", "status": "PickedUp" | "Returned", "completedDate", "rxs": [{"rxNumber",
  "fillNumber", "amountPaid"}], "signature": {"image": base64, "imageFormat": "image/png" | "image/jpeg",
  "acknowledgements": [{"flagType", "accepted"}]}, "pickedUpBy": {"name", "relationship", "idType", "idLast4"},
  "electronicPatientEducation": false}`: `status`, `signature`, `pickedUpBy` and `electronicPatientEducation` are
  documented names (their contents [inf]); `transactionId` [inf] makes it idempotent (a repeat answers 200 again and
  is counted in `repeats`, not applied); "Returned" [inf] puts the fill back in the will-call bin (ready again).
  pickedUpBy.name is required for a pickup (the doc's "conditional"). Answer 200 `{"success": true, "transactionId"}`
  [inf]; an unknown Rx 500 "No Results for Method" (nothing kept); a malformed request 400 `{"Message": "The request
  is invalid."}`.

Steering, `POST /_control`: `{"reset": true}`, `{"add": [{"rx_number", "fill_number", "amount_due", "taxable",
"patient_name" ("LAST, FIRST"), "flags", "ready_at"?}]}`, `{"remove": [{"rx_number", "fill_number"}]}`, `{"down": true}`
(every API call answers 503), `{"malformed": {"count": N, "kind": "broken" | "oversized"}}` (the next N signed calls are
carried out, their answers cut in half, or padded with whitespace past 6 MB), `{"delay_s": 5}`. `GET /_state`:
`{"ready": [{rx_number, fill_number, amount_due, taxable, flags}], "picked_up": [{rx_number, fill_number}],
"completions": {"<transaction id>": {status, completed_date, rxs: [{rx_number, fill_number, amount_paid}],
acknowledgements: [{type, accepted}], signature, signature_bytes, picked_up_by: {relationship, id_type, id_last4
(bool)}, electronic_patient_education}}, "returns": [{transaction_id, rx_number, fill_number, amount}], "repeats",
"auth_failures", "down", "malformed_pending"}` (no patient names, no signature data). `state` holds its memory,
`handler` the routes and the signature check.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

from simulators.base import serve
from simulators.pharmacycom.steering import parse_prescriptions, serve_tls
from simulators.pioneerrx.handler import PioneerRxHandler
from simulators.pioneerrx.state import PioneerRxState

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "PIONEERRX_BASE_URL", 8771, "PioneerRx"

DEFAULT_API_KEY = "qiiub-dev-prx-api-key"
DEFAULT_SHARED_SECRET = "qiiub-dev-prx-shared-secret"
DEMO = [
    {"rx_number": "7104455", "fill_number": 0, "amount_due": "8.00", "taxable": False, "patient_name": "ORTIZ, MARIA",
     "flags": [{"type": "hipaa", "required": True, "message": "Notice of privacy practices"}]},
    {"rx_number": "7104460", "fill_number": 2, "amount_due": "23.75", "taxable": False, "patient_name": "ORTIZ, MARIA"},
    {"rx_number": "7104512", "fill_number": 1, "amount_due": "4.99", "taxable": True, "patient_name": "VEGA, JOSE",
     "flags": [{"type": "counseling", "required": True, "message": "New medication"}]},
]

__all__ = ["NAME", "PORT", "SERVES", "make_server"]


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str = DEFAULT_API_KEY,
    shared_secret: str = DEFAULT_SHARED_SECRET,
    tls: bool = False,
    demo: bool = True,
) -> ThreadingHTTPServer:
    """`demo` starts (and resets to) three ready fills; with `tls` it serves HTTPS and `server.cert_path` is the
    certificate to trust (the store's self-issued one)."""
    state = PioneerRxState(parse_prescriptions(DEMO) if demo else [], api_key, shared_secret)
    server = serve(PioneerRxHandler, state, host, port)
    if tls:
        serve_tls(server)
    return server
