"""The relay's durable queue (qiiub_relay/store.py) and its sealed credentials (qiiub_relay/sealing.py):
no database of the hub's, no network. Kills are real: a child process ends itself with os._exit at the
moment a step would commit."""

from __future__ import annotations

import base64
import json
import sqlite3
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from qiiub_relay.adapters.base import Flag, OutboundMessage, ReadyPrescription
from qiiub_relay.hub import check_hub_url
from qiiub_relay.sealing import (
    SealedCredentialsInvalid,
    generate_private_key,
    load_private_key,
    open_sealed,
    public_key_b64,
    save_private_key,
    seal,
)
from qiiub_relay.store import Store, StoreLocked

ROOT = Path(__file__).resolve().parents[2]
KILLED = 9

# Runs one step against the store and dies the moment that step would commit, like a SIGKILL there.
KILL_AT_COMMIT = """
import os, sys
from pathlib import Path
from qiiub_relay.adapters.base import OutboundMessage, ReadyPrescription
from qiiub_relay.store import Store

class KilledAtCommit:
    def __init__(self, db):
        self._db = db
    def execute(self, sql, *parameters):
        if sql == "COMMIT":
            os._exit(int(sys.argv[3]))
        return self._db.execute(sql, *parameters)
    def __getattr__(self, name):
        return getattr(self._db, name)

store = Store(Path(sys.argv[1]))
store._db = KilledAtCommit(store._db)
exec(sys.argv[2])
"""


def _killed_during(path: Path, step: str) -> None:
    command = [sys.executable, "-c", KILL_AT_COMMIT, str(path), step, str(KILLED)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == KILLED, result.stderr.decode()


def _rx(rx_number: str = "RX1001", fill_number: int = 1, amount_due: str = "12.50", **fields) -> ReadyPrescription:
    return ReadyPrescription(rx_number=rx_number, fill_number=fill_number, amount_due=amount_due,
                             taxable=fields.pop("taxable", False), patient_name=fields.pop("patient_name", "Ada Byron"),
                             ready_at=fields.pop("ready_at", "2025-03-04T10:00:00-05:00"), **fields)


def _message(number: int, message_id: str | None = None) -> OutboundMessage:
    return OutboundMessage(id=message_id or str(uuid.uuid4()), number=number, kind="pickup",
                           body={"rx_number": "RX1001", "fill_number": 1})


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "relay.sqlite3"


@pytest.fixture
def store(path):
    store = Store(path)
    yield store
    store.close()


def _by_rx(changes: list[dict]) -> dict[tuple[str, int], dict]:
    return {(change["rx_number"], change["fill_number"]): change for change in changes}


def test_the_database_is_durable_wal_with_full_sync(store):
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_poll_queues_new_and_changed_fills_as_ready_and_gone_ones_as_withdrawn(store):
    counseling = (Flag(type="counseling", required=True, message="Offer counseling"),)
    assert store.record_poll([_rx("RX1"), _rx("RX2"), _rx("RX3")]) == 4  # and the first complete list
    store.changes_pushed(change["message_id"] for change in store.pending_changes(500))

    assert store.record_poll([_rx("RX1"), _rx("RX2", amount_due="9.99", flags=counseling), _rx("RX4")]) == 3
    changes = _by_rx(store.pending_changes(500))

    assert set(changes) == {("RX2", 1), ("RX3", 1), ("RX4", 1)}
    assert changes["RX2", 1]["status"] == "ready"
    assert changes["RX2", 1]["amount_due"] == "9.99"
    assert changes["RX2", 1]["flags"] == [{"type": "counseling", "required": True, "message": "Offer counseling"}]
    assert changes["RX2", 1]["patient_name"] == "Ada Byron"
    assert changes["RX3", 1] == {"message_id": changes["RX3", 1]["message_id"], "rx_number": "RX3", "fill_number": 1,
                                 "status": "withdrawn"}
    assert changes["RX4", 1]["status"] == "ready"
    assert len({change["message_id"] for change in changes.values()}) == 3

    store.changes_pushed(change["message_id"] for change in changes.values())
    assert store.record_poll([_rx("RX1"), _rx("RX2", amount_due="9.99", flags=counseling), _rx("RX4")]) == 0
    assert store.pending_changes(500) == []


def test_a_newer_change_of_a_fill_replaces_the_unpushed_one(store):
    store.record_poll([_rx("RX1", amount_due="5.00"), _rx("RX2")])
    store.record_poll([_rx("RX1", amount_due="6.00"), _rx("RX2")])
    store.record_poll([_rx("RX2")])

    changes = store.pending_changes(500)
    assert [(change["rx_number"], change["status"]) for change in changes] == [
        ("RX2", "ready"), ("*", "complete"), ("RX1", "withdrawn")]


def test_a_fill_listed_but_unreadable_is_neither_changed_nor_withdrawn(store):
    store.record_poll([_rx("RX1"), _rx("RX2")])
    store.changes_pushed(change["message_id"] for change in store.pending_changes(500))

    assert store.record_poll([_rx("RX2")], unreadable=[("RX1", 1)]) == 0
    assert store.record_poll([_rx("RX2")]) == 1
    assert [(change["rx_number"], change["status"]) for change in store.pending_changes(500)] == [("RX1", "withdrawn")]


def test_a_fill_without_a_ready_time_says_none(store):
    store.record_poll([_rx("RX1", ready_at=None)])
    (change, _complete) = store.pending_changes(500)
    assert "ready_at" not in change


def test_pending_changes_keep_their_message_ids_across_a_reopen_in_batches(path):
    store = Store(path)
    store.record_poll([_rx(f"RX{number:04}") for number in range(7)])
    first_batch = store.pending_changes(5)
    store.close()

    store = Store(path)
    assert store.pending_changes(5) == first_batch
    store.changes_pushed(change["message_id"] for change in first_batch)
    rest = store.pending_changes(5)
    store.close()

    assert [change["rx_number"] for change in rest] == ["RX0005", "RX0006", "*"]
    assert not {change["message_id"] for change in rest} & {change["message_id"] for change in first_batch}


def test_a_kill_before_a_poll_commits_queues_nothing_and_the_next_poll_finds_the_same_changes(path):
    store = Store(path)
    store.record_poll([_rx("RX1"), _rx("RX2")])
    store.changes_pushed(change["message_id"] for change in store.pending_changes(500))
    store.close()

    _killed_during(path, "store.record_poll([ReadyPrescription('RX2', 1, '1.00', False, 'A B'),"
                         " ReadyPrescription('RX3', 1, '1.00', False, 'A B')])")

    store = Store(path)
    assert store.pending_changes(500) == []
    assert store.record_poll([_rx("RX2", amount_due="1.00", patient_name="A B", ready_at=None),
                              _rx("RX3", amount_due="1.00", patient_name="A B", ready_at=None)]) == 3
    store.close()


def test_a_kill_after_a_push_before_it_is_recorded_resends_the_same_ids_and_no_more(path):
    store = Store(path)
    store.record_poll([_rx("RX1"), _rx("RX2")])
    sent = store.pending_changes(500)
    store.close()

    _killed_during(path, "store.changes_pushed(change['message_id'] for change in store.pending_changes(500))")

    store = Store(path)
    assert store.pending_changes(500) == sent
    assert store.record_poll([_rx("RX1"), _rx("RX2")]) == 0
    assert store.pending_changes(500) == sent
    store.close()


def test_a_kill_between_delivery_and_its_ack_delivers_the_same_message_again_and_acks_it_once(path):
    message = _message(1)
    store = Store(path)
    store.store_outbox([message])
    store.close()

    _killed_during(path, f"store.record_ack({message.id!r}, 'delivered')")

    store = Store(path)
    assert store.undelivered() == [message]
    assert store.unsent_acks(500) == []
    store.record_ack(message.id, "delivered")
    store.close()

    _killed_during(path, "store.acks_sent(ack['id'] for ack in store.unsent_acks(500))")

    store = Store(path)
    assert store.unsent_acks(500) == [{"id": message.id, "outcome": "delivered"}]
    assert store.store_outbox([message]) == 0  # the hub lists it until the ack arrives
    assert store.undelivered() == []
    store.close()


def test_fetched_messages_wait_in_number_order_and_a_refusal_keeps_its_code(store):
    second, first, third = _message(2), _message(1), _message(3)
    assert store.store_outbox([second, first]) == 2
    assert store.store_outbox([first, second, third]) == 1
    assert [message.number for message in store.undelivered()] == [1, 2, 3]

    store.record_ack(first.id, "delivered")
    store.record_ack(second.id, "refused", "unknown_rx")
    assert store.unsent_acks(500) == [{"id": first.id, "outcome": "delivered"},
                                      {"id": second.id, "outcome": "refused", "error_code": "unknown_rx"}]
    store.acks_sent([first.id, second.id])
    assert store.unsent_acks(500) == []
    assert store.undelivered() == [third]


def test_queue_depth_counts_pending_changes_undelivered_messages_and_unsent_acks(store):
    assert store.queue_depth() == 0
    store.record_poll([_rx("RX1"), _rx("RX2")])
    acked = _message(2)
    store.store_outbox([_message(1), acked])
    store.record_ack(acked.id, "delivered")
    assert store.queue_depth() == 2 + 1 + 1 + 1  # two changes and the complete list, a message, an ack

    store.changes_pushed(change["message_id"] for change in store.pending_changes(500))
    store.acks_sent([acked.id])
    assert store.queue_depth() == 1


def test_losing_the_lease_drops_undelivered_messages_and_the_next_poll_sends_every_fill_again(path):
    store = Store(path)
    assert store.set_active(True)
    store.record_poll([_rx("RX1"), _rx("RX2")])
    store.changes_pushed(change["message_id"] for change in store.pending_changes(500))
    store.store_outbox([_message(1)])

    assert store.set_active(False)
    assert not store.set_active(False)
    store.close()

    store = Store(path)
    assert not store.active
    assert store.undelivered() == []
    assert store.snapshot_stale
    assert store.record_poll([_rx("RX1")]) == 3
    changes = store.pending_changes(500)
    assert [(change["rx_number"], change["status"]) for change in changes] == [
        ("RX1", "ready"), ("RX2", "withdrawn"), ("*", "complete")]
    assert changes[-1]["listed"] == [{"rx_number": "RX1", "fill_number": 1}]
    assert not store.snapshot_stale
    store.close()


def test_no_patient_name_rests_in_the_database_once_the_changes_are_pushed(path):
    store = Store(path)
    store.record_poll([_rx("RX1", patient_name="Zebulon Quixote")])
    store.changes_pushed(change["message_id"] for change in store.pending_changes(500))
    store.close()

    dump = "\n".join(sqlite3.connect(path).iterdump())
    assert "RX1" in dump
    assert "Zebulon" not in dump


def test_the_last_error_and_the_config_survive_a_reopen(path):
    store = Store(path)
    assert store.last_error() is None
    assert store.config() == (None, None)
    store.record_error("timeout", "2025-03-04T15:00:00+00:00")
    store.record_error("connection_refused", "2025-03-04T15:01:00+00:00")
    store.save_config({"version": 3, "pharmacy": None}, '"v3"')
    store.close()

    store = Store(path)
    assert store.last_error() == {"code": "connection_refused", "at": "2025-03-04T15:01:00+00:00"}
    assert store.config() == ({"version": 3, "pharmacy": None}, '"v3"')
    store.close()


def test_a_second_relay_process_cannot_open_the_same_queue(store, path):
    with pytest.raises(StoreLocked):
        Store(path)


# Sealed credentials.


def test_credentials_sealed_to_the_relay_key_open_with_it():
    private_key = generate_private_key()
    credentials = {"username": "relay", "password": "s3cr3t-ü", "port": 4100}

    sealed = seal(public_key_b64(private_key), credentials)

    assert open_sealed(private_key, sealed) == credentials
    assert len(base64.b64decode(public_key_b64(private_key))) == 32
    assert "s3cr3t" not in sealed


def _tampered(sealed: str) -> str:
    raw = bytearray(base64.b64decode(sealed))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(("damage", "another_relays_key"), [
    pytest.param(lambda sealed: sealed, True, id="another relay's key"),
    pytest.param(_tampered, False, id="tampered"),
    pytest.param(lambda sealed: sealed[:40], False, id="truncated"),
    pytest.param(lambda sealed: "not base64!", False, id="not base64"),
])
def test_credentials_that_do_not_open_fail_cleanly(damage, another_relays_key):
    private_key = generate_private_key()
    sealed = seal(public_key_b64(private_key), {"password": "s3cr3t"})
    opener = generate_private_key() if another_relays_key else private_key

    with pytest.raises(SealedCredentialsInvalid) as raised:
        open_sealed(opener, damage(sealed))
    assert "s3cr3t" not in str(raised.value)


def test_a_sealed_value_that_is_not_an_object_is_refused():
    private_key = generate_private_key()
    with pytest.raises(SealedCredentialsInvalid):
        open_sealed(private_key, seal(public_key_b64(private_key), ["not", "an", "object"]))


def test_the_private_key_file_is_the_owner_s_alone_and_loads_back(tmp_path):
    private_key = generate_private_key()
    key_path = tmp_path / "relay.key"
    save_private_key(key_path, private_key)

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert public_key_b64(load_private_key(key_path)) == public_key_b64(private_key)
    assert [path.name for path in tmp_path.iterdir()] == ["relay.key"]


@pytest.mark.parametrize("url", ["http://hub.example.com", "http://10.0.0.5:8000", "ftp://hub.example.com",
                                 "https://user:pw@hub.example.com", "hub.example.com"])
def test_the_hub_is_reached_over_tls_unless_it_is_on_this_machine(url):
    with pytest.raises(ValueError):
        check_hub_url(url)


@pytest.mark.parametrize("url", ["https://hub.example.com/", "http://localhost:8000", "http://127.0.0.1:8000",
                                 "http://[::1]:8000"])
def test_https_and_loopback_hubs_are_accepted(url):
    assert check_hub_url(url) == url.rstrip("/")


def test_changes_are_json_the_hub_can_take(store):
    store.record_poll([_rx("RX1", taxable=True)])
    (change, _complete) = store.pending_changes(500)
    assert json.loads(json.dumps(change)) == change
    assert set(change) == {"message_id", "rx_number", "fill_number", "status", "amount_due", "taxable", "flags",
                           "patient_name", "ready_at"}


def test_the_first_poll_and_a_poll_after_a_lost_lease_end_with_the_complete_list_unreadable_fills_included(path):
    store = Store(path)
    store.record_poll([_rx("RX1")], unreadable=[("RX9", 2)])
    complete = store.pending_changes(500)[-1]
    assert complete["status"] == "complete"
    assert complete["listed"] == [{"rx_number": "RX1", "fill_number": 1}, {"rx_number": "RX9", "fill_number": 2}]
    store.changes_pushed(change["message_id"] for change in store.pending_changes(500))

    store.record_poll([_rx("RX1"), _rx("RX2")])  # an ordinary poll: changes only
    assert [change["status"] for change in store.pending_changes(500)] == ["ready"]
    store.close()


def test_the_relay_holds_back_a_fill_the_hub_would_refuse():
    from qiiub_relay.checks import error_code, well_formed

    assert well_formed(_rx("RX1", amount_due="12.50"))
    assert not well_formed(_rx("RX1", amount_due="-12.50"))  # the hub takes no negative amount due
    assert not well_formed(_rx("RX 1"))
    assert error_code("HTTP 503: Service Unavailable") == "http_503:_service_unavailable"
