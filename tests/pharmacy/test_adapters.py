"""The relay's pharmacy adapters against the pharmacy-system fakes, served in this process and reached over real HTTP
(and a real drop folder): what the hub's ready list and outbox become at Rx30 (PharmacyCOM mode, SOAP or files) and
at PioneerRx, and how each failure reaches the relay. No database is needed."""

from __future__ import annotations

import ast
import base64
import datetime
import json
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from qiiub_relay.adapters import adapter_for
from qiiub_relay.adapters.base import Flag, OutboundMessage, PharmacyRefused, PharmacyUnavailable, ReadyPrescription
from qiiub_relay.adapters.pioneerrx import prx_signature, prx_timestamp
from qiiub_relay.adapters.rx30_file import Rx30File
from qiiub_relay.adapters.rx30_service import Rx30Service
from simulators import pharmacycom, pioneerrx

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()
PRX_CREDENTIALS = {"api_key": pioneerrx.DEFAULT_API_KEY, "shared_secret": pioneerrx.DEFAULT_SHARED_SECRET}
READY = [
    {"rx_number": "100234", "fill_number": 1, "amount_due": "12.50", "taxable": False, "patient_name": "DOE, JANE",
     "ready_at": "2026-05-01T09:30:00Z", "flags": [{"type": "hipaa", "required": True, "message": "Sign | 100%"}]},
    {"rx_number": "100300", "fill_number": 2, "amount_due": "4.5", "taxable": True,
     "patient_name": "O'NEIL | SMITH, PAT 100%", "ready_at": "2026-05-01T09:45:00Z"},
]


@dataclass
class Fake:
    server: ThreadingHTTPServer

    @property
    def port(self) -> int:
        return self.server.server_port

    @property
    def url(self) -> str:
        return f"{'https' if self.cert_path else 'http'}://127.0.0.1:{self.port}"

    @property
    def cert_path(self) -> str | None:
        return getattr(self.server, "cert_path", None)

    def control(self, **options) -> None:
        requests.post(f"{self.url}/_control", json=options, timeout=5, verify=self.cert_path or True).raise_for_status()

    def state(self) -> dict:
        return requests.get(f"{self.url}/_state", timeout=5, verify=self.cert_path or True).json()


@contextmanager
def served(server: ThreadingHTTPServer):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake = Fake(server)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        if fake.cert_path:
            shutil.rmtree(Path(fake.cert_path).parent)


@pytest.fixture(scope="module")
def rx30_fake():
    with served(pharmacycom.make_server(demo=False)) as fake:
        yield fake


@pytest.fixture
def rx30(rx30_fake) -> Fake:
    rx30_fake.control(reset=True, add=READY)
    return rx30_fake


@pytest.fixture(scope="module")
def prx_fake():
    with served(pioneerrx.make_server(demo=False)) as fake:
        yield fake


@pytest.fixture
def prx(prx_fake) -> Fake:
    prx_fake.control(reset=True, add=READY)
    return prx_fake


def rx30_service(fake: Fake, **configuration):
    return adapter_for("rx30", {"mode": "service", "server_host": "127.0.0.1", "server_port": fake.port,
                                "use_tls": False, **configuration}, {})


def pioneer(fake: Fake, credentials=PRX_CREDENTIALS, **configuration):
    return adapter_for("pioneerrx", {"base_url": fake.url, **configuration}, credentials)


def pickup(number: int, rx_number: str = "100234", fill_number: int = 1, *, amount: str = "12.50") -> OutboundMessage:
    return OutboundMessage(f"msg-{number}", number, "pickup", {
        "rx_number": rx_number, "fill_number": fill_number, "picked_up_at": "2026-05-01T10:15:00-04:00",
        "picked_up_by": {"name": "JOHN DOE", "relation": "spouse", "id_type": "drivers_license", "id_last4": "4321"},
        "flag_results": [{"type": "hipaa", "accepted": True}], "signature": {"format": "image/png", "data": PNG},
        "amount_paid": amount, "sale_id": "S-1", "register": "R1",
    })


def a_return(number: int, rx_number: str = "100234", fill_number: int = 1) -> OutboundMessage:
    return OutboundMessage(f"msg-{number}", number, "return", {
        "sale_id": "S-1", "returned_at": "2026-05-02T11:00:00-04:00", "rx_number": rx_number,
        "fill_number": fill_number, "quantity": "-1", "amount": "-12.50", "register": "R1",
    })


def a_sale(number: int) -> OutboundMessage:
    return OutboundMessage(f"msg-{number}", number, "sale", {
        "sale_id": "S-1", "completed_at": "2026-05-01T10:16:00-04:00", "lines": [
            {"rx_number": "100234", "fill_number": 1, "sku": "RX", "description": "Prescription", "quantity": "1",
             "unit_price": "12.50", "line_total": "12.50", "taxable": False},
            {"sku": "SKU-7", "description": "Bandages", "quantity": "2", "unit_price": "3.00", "line_total": "6.00",
             "taxable": True},
        ], "subtotal": "18.50", "tax_total": "0.69", "total": "19.19",
        "payments": [{"kind": "card", "amount": "10.00"}, {"kind": "cash", "amount": "9.19"}], "register": "R1",
    })


def expected_ready(*, ready_at: bool) -> list[ReadyPrescription]:
    return [
        ReadyPrescription("100234", 1, "12.50", False, "DOE, JANE", (Flag("hipaa", True, "Sign | 100%"),),
                          "2026-05-01T09:30:00Z" if ready_at else None),
        ReadyPrescription("100300", 2, "4.50", True, "O'NEIL | SMITH, PAT 100%", (),
                          "2026-05-01T09:45:00Z" if ready_at else None),
    ]


def eventually(check, seconds: float = 5):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def no_phi(state: dict) -> None:
    shown = json.dumps(state)
    assert "DOE" not in shown and "SMITH" not in shown and PNG not in shown


# -- Rx30 mode over SOAP (PharmacyCOM) ---------------------------------------------------------------------------------


def test_rx30_ready_list_is_mapped(rx30):
    assert rx30_service(rx30).ready_prescriptions() == expected_ready(ready_at=False)


def test_rx30_pickup_is_applied_once_and_leaves_the_ready_list(rx30):
    adapter = rx30_service(rx30)
    adapter.deliver(pickup(41))
    adapter.deliver(pickup(41))

    state = rx30.state()
    invoice = state["rx_invoices"]["41"]
    assert invoice["items"] == [{"rx_number": "100234", "fill_number": 1, "amount": "12.50", "return": False}]
    assert invoice["flag_results"] == [{"type": "hipaa", "accepted": True}]
    assert (invoice["signature"], invoice["signature_bytes"]) == (True, len(base64.b64decode(PNG)))
    assert list(state["rx_invoices"]) == ["41"] and state["repeats"] == 1
    assert [rx.key for rx in adapter.ready_prescriptions()] == [("100300", 2)]
    no_phi(state)


def test_rx30_return_is_recorded_but_the_fill_stays_picked_up(rx30):
    adapter = rx30_service(rx30)
    adapter.deliver(pickup(41))
    adapter.deliver(a_return(42))

    state = rx30.state()
    assert state["returns"] == [{"invoice": 42, "rx_number": "100234", "fill_number": 1, "amount": "-12.50",
                                 "still_picked_up": True}]
    assert state["picked_up"] == [{"rx_number": "100234", "fill_number": 1, "returned": True}]
    assert ("100234", 1) not in [rx.key for rx in adapter.ready_prescriptions()]
    rx30.control(reset_pickup=[{"rx_number": "100234", "fill_number": 1}])  # staff, by hand in Rx30
    assert ("100234", 1) in [rx.key for rx in adapter.ready_prescriptions()]


def test_rx30_sale_goes_as_the_whole_invoice(rx30):
    rx30_service(rx30).deliver(a_sale(43))

    invoice = rx30.state()["invoices"]["43"]
    assert invoice["lines"] == [
        {"part_number": "100234-1", "quantity": "1", "line_total": "12.50", "taxable": False, "rx_item": True},
        {"part_number": "SKU-7", "quantity": "2", "line_total": "6.00", "taxable": True, "rx_item": False},
    ]
    assert invoice["payments"] == [{"type": 3, "amount": "10.00"}, {"type": 1, "amount": "9.19"}]
    assert (invoice["total"], invoice["tax_total"]) == ("19.19", "0.69")
    assert len(rx30.state()["ready"]) == 2  # a copy of the sale changes no prescription


def test_rx30_unknown_rx_is_refused(rx30):
    with pytest.raises(PharmacyRefused) as refused:
        rx30_service(rx30).deliver(pickup(44, rx_number="999999"))
    assert refused.value.code == "invoice_refused" and "999999" not in str(refused.value)
    assert rx30.state()["rx_invoices"] == {}


@pytest.mark.fault
def test_rx30_down_is_unavailable_until_it_is_back(rx30):
    adapter = rx30_service(rx30)
    rx30.control(down=True)
    with pytest.raises(PharmacyUnavailable) as unavailable:
        adapter.ready_prescriptions()
    assert unavailable.value.code == "http_503"
    with pytest.raises(PharmacyUnavailable):
        adapter.deliver(pickup(41))
    rx30.control(down=False)
    adapter.deliver(pickup(41))
    assert list(rx30.state()["rx_invoices"]) == ["41"]


@pytest.mark.parametrize("kind", ["broken", "oversized"])
def test_rx30_malformed_answer_is_unavailable_and_the_next_call_works(rx30, kind):
    adapter = rx30_service(rx30)
    rx30.control(malformed={"count": 1, "kind": kind})
    with pytest.raises(PharmacyUnavailable) as unavailable:
        adapter.ready_prescriptions()
    assert unavailable.value.code == "malformed_answer"
    assert adapter.ready_prescriptions() == expected_ready(ready_at=False)


@pytest.mark.fault
def test_rx30_slow_answer_times_out(rx30):
    rx30.control(delay_s=1)
    try:
        with pytest.raises(PharmacyUnavailable) as unavailable:
            Rx30Service("127.0.0.1", rx30.port, timeout_s=0.3).ready_prescriptions()
        assert unavailable.value.code == "timeout"
    finally:
        rx30.control(delay_s=0)


def test_rx30_over_tls_trusts_the_store_certificate_only_when_told():
    with served(pharmacycom.make_server(tls=True)) as fake:
        configuration = {"mode": "service", "server_host": "localhost", "server_port": fake.port, "use_tls": True}
        trusting = adapter_for("rx30", {**configuration, "ca_file": fake.cert_path}, {})
        assert len(trusting.ready_prescriptions()) == 3  # the demo fills
        with pytest.raises(PharmacyUnavailable) as unavailable:
            adapter_for("rx30", configuration, {}).ready_prescriptions()
        assert unavailable.value.code == "tls_certificate_refused"


def test_rx30_encrypted_messages_need_the_interface_password():
    with served(pharmacycom.make_server(password="store-secret")) as fake:
        service = {"mode": "service", "server_host": "127.0.0.1", "server_port": fake.port, "use_tls": False}
        adapter = adapter_for("rx30", service, {"password": "store-secret"})
        assert len(adapter.ready_prescriptions()) == 3  # the demo fills
        adapter.deliver(pickup(41, rx_number="600123"))
        assert fake.state()["rx_invoices"]["41"]["signature"] is True
        with pytest.raises(PharmacyUnavailable) as unavailable:
            adapter_for("rx30", service, {"password": "not-it"}).ready_prescriptions()
        assert unavailable.value.code == "decrypt_failed" and "not-it" not in str(unavailable.value)


# -- Rx30 mode through a drop folder -----------------------------------------------------------------------------------


@pytest.fixture
def drop(tmp_path):
    with served(pharmacycom.make_server(demo=False, drop_folder=tmp_path)) as fake:
        yield fake


def test_file_mode_round_trip(drop, tmp_path):
    drop.control(add=READY)
    adapter = adapter_for("rx30", {"mode": "file", "drop_folder": str(tmp_path)}, {})
    assert adapter.ready_prescriptions() == expected_ready(ready_at=True)

    adapter.deliver(pickup(41))
    assert eventually(lambda: "41" in drop.state()["rx_invoices"])
    assert (tmp_path / "outbound" / "done" / "0000000041.txt").exists()
    assert [rx.key for rx in adapter.ready_prescriptions()] == [("100300", 2)]
    invoice = drop.state()["rx_invoices"]["41"]
    assert (invoice["via"], invoice["signature_bytes"]) == ("file", len(base64.b64decode(PNG)))

    adapter.deliver(pickup(41))
    assert eventually(lambda: drop.state()["repeats"] == 1)
    adapter.deliver(a_return(42))
    adapter.deliver(a_sale(43))
    assert eventually(lambda: drop.state()["files"] == {"applied": 4, "rejected": 0})
    state = drop.state()
    assert state["returns"][0]["still_picked_up"] is True
    assert state["invoices"]["43"]["payments"] == [{"type": 3, "amount": "10.00"}, {"type": 1, "amount": "9.19"}]
    adapter.check()
    no_phi(state)


@pytest.mark.fault
def test_file_mode_down_stops_the_sweep_and_check_sees_it(drop, tmp_path):
    drop.control(add=READY)
    adapter = Rx30File(str(tmp_path), stale_after_s=0.2)
    drop.control(down=True, remove=[{"rx_number": "100300", "fill_number": 2}])
    adapter.deliver(pickup(41))
    time.sleep(1.2)  # two sweeps' time
    assert (tmp_path / "outbound" / "0000000041.txt").exists()
    assert len(adapter.ready_prescriptions()) == 2  # not exported while down
    with pytest.raises(PharmacyUnavailable) as unavailable:
        adapter.check()
    assert unavailable.value.code == "drop_folder_not_swept"

    drop.control(down=False)
    assert eventually(lambda: "41" in drop.state()["rx_invoices"])
    assert adapter.ready_prescriptions() == []
    adapter.check()


def test_file_mode_unreadable_or_missing_files(tmp_path):
    adapter = Rx30File(str(tmp_path))
    with pytest.raises(PharmacyUnavailable) as missing:
        adapter.ready_prescriptions()
    assert missing.value.code == "ready_file_missing"
    (tmp_path / "ready.txt").write_text("QIIUB-RX30-READY|1|2\nR|100234|1|12.50|N|DOE, JANE|\n")  # one of two
    with pytest.raises(PharmacyUnavailable) as truncated:
        adapter.ready_prescriptions()
    assert truncated.value.code == "malformed_answer" and "DOE" not in str(truncated.value)
    with pytest.raises(PharmacyUnavailable) as no_folder:
        Rx30File(str(tmp_path / "unmounted")).deliver(pickup(41))
    assert no_folder.value.code == "drop_folder_missing"


# -- PioneerRx (POS Universal API) -------------------------------------------------------------------------------------


def test_pioneerrx_ready_list_is_mapped(prx):
    assert pioneer(prx).ready_prescriptions() == expected_ready(ready_at=True)


def test_pioneerrx_no_results_is_an_empty_list_not_an_error(prx):
    prx.control(reset=True)
    timestamp = prx_timestamp(datetime.datetime.now(datetime.UTC))
    answer = requests.post(f"{prx.url}/api/RxQuery", json={}, timeout=5, headers={
        "prx-api-key": PRX_CREDENTIALS["api_key"], "prx-timestamp": timestamp,
        "prx-signature": prx_signature(timestamp, PRX_CREDENTIALS["shared_secret"])})
    assert (answer.status_code, answer.json()) == (500, {"Message": "No Results for Method"})
    assert pioneer(prx).ready_prescriptions() == []


def test_pioneerrx_pickup_is_applied_once(prx):
    adapter = pioneer(prx)
    adapter.deliver(pickup(41))
    adapter.deliver(pickup(41))

    state = prx.state()
    completion = state["completions"]["msg-41"]
    assert completion["status"] == "PickedUp"
    assert completion["rxs"] == [{"rx_number": "100234", "fill_number": 1, "amount_paid": "12.50"}]
    assert completion["acknowledgements"] == [{"type": "hipaa", "accepted": True}]
    assert (completion["signature"], completion["signature_bytes"]) == (True, len(base64.b64decode(PNG)))
    assert completion["picked_up_by"] == {"relationship": "spouse", "id_type": "drivers_license", "id_last4": True}
    assert state["repeats"] == 1 and list(state["completions"]) == ["msg-41"]
    assert [rx.key for rx in adapter.ready_prescriptions()] == [("100300", 2)]
    no_phi(state)


def test_pioneerrx_return_puts_the_fill_back_in_the_bin(prx):
    adapter = pioneer(prx)
    adapter.deliver(pickup(41))
    adapter.deliver(a_return(42))
    assert prx.state()["returns"] == [{"transaction_id": "msg-42", "rx_number": "100234", "fill_number": 1,
                                       "amount": "-12.50"}]
    assert ("100234", 1) in [rx.key for rx in adapter.ready_prescriptions()]


@pytest.mark.fault
def test_pioneerrx_sale_is_acknowledged_without_a_call(prx):
    prx.control(down=True)
    try:
        pioneer(prx).deliver(a_sale(43))
    finally:
        prx.control(down=False)
    assert prx.state()["completions"] == {}


def test_pioneerrx_unknown_rx_is_refused(prx):
    with pytest.raises(PharmacyRefused) as refused:
        pioneer(prx).deliver(pickup(44, rx_number="999999"))
    assert refused.value.code == "rx_unknown" and "999999" not in str(refused.value)


@pytest.mark.security
def test_pioneerrx_wrong_secret_is_an_auth_error_and_nothing_is_lost(prx):
    adapter = pioneer(prx, credentials={**PRX_CREDENTIALS, "shared_secret": "not-the-secret"})
    with pytest.raises(PharmacyUnavailable) as unavailable:
        adapter.ready_prescriptions()
    assert unavailable.value.code == "auth_failed" and "not-the-secret" not in str(unavailable.value)
    with pytest.raises(PharmacyUnavailable) as undelivered:  # unavailable, not refused: the message is kept
        adapter.deliver(pickup(41))
    assert undelivered.value.code == "auth_failed"
    state = prx.state()
    assert state["auth_failures"] == 2 and state["completions"] == {}


@pytest.mark.security
def test_pioneerrx_refuses_a_timestamp_more_than_five_minutes_off(prx):
    def rx_query(moment: datetime.datetime) -> requests.Response:
        timestamp = prx_timestamp(moment)
        return requests.post(f"{prx.url}/api/RxQuery", json={}, timeout=5, headers={
            "prx-api-key": PRX_CREDENTIALS["api_key"], "prx-timestamp": timestamp,
            "prx-signature": prx_signature(timestamp, PRX_CREDENTIALS["shared_secret"])})

    now = datetime.datetime.now(datetime.UTC)
    stale = rx_query(now - datetime.timedelta(minutes=6))
    assert (stale.status_code, stale.json()) == (401, {"Message": "Authorization has been denied for this request."})
    assert rx_query(now - datetime.timedelta(minutes=4)).status_code == 200


@pytest.mark.fault
def test_pioneerrx_down_is_unavailable(prx):
    prx.control(down=True)
    try:
        with pytest.raises(PharmacyUnavailable) as unavailable:
            pioneer(prx).deliver(pickup(41))
        assert unavailable.value.code == "http_503"
    finally:
        prx.control(down=False)


@pytest.mark.parametrize("kind", ["broken", "oversized"])
def test_pioneerrx_malformed_answer_is_unavailable_and_the_next_call_works(prx, kind):
    adapter = pioneer(prx)
    prx.control(malformed={"count": 1, "kind": kind})
    with pytest.raises(PharmacyUnavailable) as unavailable:
        adapter.ready_prescriptions()
    assert unavailable.value.code == "malformed_answer"
    assert adapter.ready_prescriptions() == expected_ready(ready_at=True)


def test_pioneerrx_over_https_with_the_store_certificate():
    with served(pioneerrx.make_server(tls=True)) as fake:
        assert fake.url.startswith("https://")
        assert len(pioneer(fake, ca_file=fake.cert_path).ready_prescriptions()) == 3  # the demo fills


# -- settings ----------------------------------------------------------------------------------------------------------


@pytest.mark.security
@pytest.mark.parametrize("system, configuration", [
    ("rx30", {"mode": "service", "server_host": "192.168.1.20", "server_port": 8080, "use_tls": False}),
    ("rx30", {"mode": "service", "server_host": "rx30-server", "server_port": 8080, "use_tls": False}),
    ("pioneerrx", {"base_url": "http://pharmacy-server:8443/"}),
])
def test_plain_http_off_the_loopback_is_refused(system, configuration):
    with pytest.raises(ValueError, match="loopback"):
        adapter_for(system, configuration, PRX_CREDENTIALS)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1"])
def test_plain_http_on_the_loopback_is_allowed(host):
    adapter_for("rx30", {"mode": "service", "server_host": host, "server_port": 8770, "use_tls": False}, {})


def test_rx30_uses_tls_unless_told_otherwise():
    adapter_for("rx30", {"mode": "service", "server_host": "10.0.0.5", "server_port": 5000}, {})  # not refused


@pytest.mark.parametrize("system, configuration, credentials, named", [
    ("liberty", {}, {}, "unknown pharmacy system"),
    ("rx30", {"mode": "socket"}, {}, "mode"),
    ("rx30", {"mode": "service", "server_host": "127.0.0.1", "server_port": 0}, {}, "server_port"),
    ("rx30", {"mode": "service", "server_host": "10.0.0.5", "server_port": 8080, "use_tls": "no"}, {}, "use_tls"),
    ("rx30", {"mode": "file"}, {}, "drop_folder"),
    ("pioneerrx", {"base_url": "https://pharmacy-server/"}, {"api_key": "k"}, "shared_secret"),
    ("pioneerrx", {"base_url": "ftp://pharmacy-server/"}, PRX_CREDENTIALS, "base_url"),
])
def test_bad_settings_are_a_clear_value_error(system, configuration, credentials, named):
    with pytest.raises(ValueError, match=named):
        adapter_for(system, configuration, credentials)


def test_the_adapters_import_only_the_standard_library_cryptography_and_the_relay():
    """The relay runs at the store, apart from the hub."""
    for source in (Path(__file__).resolve().parents[2] / "qiiub_relay" / "adapters").glob("*.py"):
        tree = ast.parse(source.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        allowed = sys.stdlib_module_names | {"cryptography", "qiiub_relay"}
        outside = {name for name in imported if name.split(".")[0] not in allowed}
        assert outside == set(), source.name
