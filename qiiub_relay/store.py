"""The relay's durable queue (`<state-dir>/relay.sqlite3`): everything the relay has not handed on yet.

Each step the relay takes is one transaction, committed before the next step talks to anyone, so a
kill at any point loses nothing and at worst sends one step again under the same ids (the hub and
the adapters drop repeats). The database holds one relay process at a time (an exclusive lock for
as long as the store is open), and deleted rows are overwritten (secure_delete): pickups carry PHI.

What it holds:
- `snapshot`: the pharmacy system's last ready list, as keys and a digest of each fill's fields
  (no patient name at rest), to find what changed since;
- `pending_change`: changes not yet pushed to the hub, at most one per fill (the newest), each with
  the message_id made when it was first computed;
- `outbox_message`: messages fetched from the hub and not yet delivered to the pharmacy system;
- `unsent_ack`: deliveries (or refusals) not yet acknowledged to the hub;
- `last_error`: the pharmacy system's last error, for the heartbeat;
- `relay_state`: the lease as last heard, the cached config and its ETag, and whether the snapshot is
  stale (the relay lost the lease, so another relay may have pushed since).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from qiiub_relay.adapters.base import OutboundMessage, ReadyPrescription

FILE_NAME = "relay.sqlite3"
LOCK_WAIT_S = 2.0
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE snapshot (
    rx_number TEXT NOT NULL,
    fill_number INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (rx_number, fill_number)
) WITHOUT ROWID;
CREATE TABLE pending_change (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    rx_number TEXT NOT NULL,
    fill_number INTEGER NOT NULL,
    change TEXT NOT NULL,
    UNIQUE (rx_number, fill_number)
);
CREATE TABLE outbox_message (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE unsent_ack (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'refused')),
    error_code TEXT
);
CREATE TABLE last_error (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    code TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE relay_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class StoreLocked(Exception):
    """Another relay process has this state directory's database open."""


# The pending row of a complete list (one at a time: a newer one replaces it). No fill has this key.
COMPLETE_KEY = ("*", -1)


def ready_change(prescription: ReadyPrescription) -> dict:
    """The change that says this fill is waiting, in the hub's words (without its message_id)."""
    change = {
        "rx_number": prescription.rx_number,
        "fill_number": prescription.fill_number,
        "status": "ready",
        "amount_due": prescription.amount_due,
        "taxable": prescription.taxable,
        "flags": [
            {"type": flag.type, "required": flag.required, "message": flag.message} for flag in prescription.flags
        ],
        "patient_name": prescription.patient_name,
    }
    if prescription.ready_at is not None:
        change["ready_at"] = prescription.ready_at
    return change


def _digest(change: dict) -> str:
    return hashlib.sha256(json.dumps(change, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Store:
    def __init__(self, path: Path):
        # One thread at a time uses it, though not always the one that opened it (a loop in a test's thread).
        self._db = sqlite3.connect(path, isolation_level=None, timeout=LOCK_WAIT_S, check_same_thread=False)
        try:
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA secure_delete=ON")
            with self._transaction("EXCLUSIVE"):
                if self._db.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for statement in SCHEMA.split(";")[:-1]:  # executescript would commit the transaction
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self._active = self._state("active") == "1"
        except sqlite3.OperationalError as error:
            self._db.close()
            if "locked" in str(error):
                raise StoreLocked(f"{path} is in use by another relay process") from None
            raise

    @classmethod
    def in_directory(cls, state_dir: Path) -> Store:
        return cls(state_dir / FILE_NAME)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[None]:
        self._db.execute(f"BEGIN {mode}")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _state(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM relay_state WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _set_state(self, name: str, value: str | None) -> None:
        if value is None:
            self._db.execute("DELETE FROM relay_state WHERE name = ?", (name,))
        else:
            self._db.execute("INSERT OR REPLACE INTO relay_state (name, value) VALUES (?, ?)", (name, value))

    # The pharmacy system's ready list and the changes it makes.

    def record_poll(self, prescriptions: Iterable[ReadyPrescription],
                    unreadable: Iterable[tuple[str, int]] = ()) -> int:
        """Compares a poll with the snapshot and queues what changed (new or changed: ready; gone:
        withdrawn), replacing an unpushed change of the same fill. Fills the pharmacy system listed
        but the relay could not read (`unreadable`) are left as they were: not gone, not changed.
        After a lost lease every fill is queued again, since another relay may have pushed something
        else meanwhile, followed by the complete list (also after the first poll of a new relay), so
        the hub withdraws fills nobody still lists. Returns how many changes were queued."""
        current = {prescription.key: ready_change(prescription) for prescription in prescriptions}
        with self._transaction():
            rows = self._db.execute("SELECT rx_number, fill_number, digest FROM snapshot")
            known = {(rx_number, fill_number): digest for rx_number, fill_number, digest in rows}
            resend_all = self._state("snapshot_stale") == "1"
            changes = []
            for key, change in current.items():
                digest = _digest(change)
                if resend_all or known.get(key) != digest:
                    changes.append(change)
                    self._db.execute("INSERT OR REPLACE INTO snapshot VALUES (?, ?, ?)", (*key, digest))
            for rx_number, fill_number in known.keys() - current.keys() - set(unreadable):
                changes.append({"rx_number": rx_number, "fill_number": fill_number, "status": "withdrawn"})
                self._db.execute(
                    "DELETE FROM snapshot WHERE rx_number = ? AND fill_number = ?", (rx_number, fill_number)
                )
            if resend_all or self._state("complete_sent") is None:
                # After the changes: the whole list, so the hub withdraws what no relay told it about.
                listed = sorted({*current, *(tuple(key) for key in unreadable)})
                changes.append({"rx_number": COMPLETE_KEY[0], "fill_number": COMPLETE_KEY[1], "status": "complete",
                                "listed": [{"rx_number": rx, "fill_number": fill} for rx, fill in listed]})
                self._set_state("complete_sent", "1")
            for change in changes:
                key = (change["rx_number"], change["fill_number"])
                self._db.execute("DELETE FROM pending_change WHERE rx_number = ? AND fill_number = ?", key)
                self._db.execute(
                    "INSERT INTO pending_change (message_id, rx_number, fill_number, change) VALUES (?, ?, ?, ?)",
                    (str(uuid.uuid4()), *key, json.dumps(change)),
                )
            self._set_state("snapshot_stale", None)
        return len(changes)

    @property
    def snapshot_stale(self) -> bool:
        """Whether pending changes may be older than what the hub has: push nothing until a poll."""
        return self._state("snapshot_stale") == "1"

    def pending_changes(self, limit: int) -> list[dict]:
        rows = self._db.execute("SELECT message_id, change FROM pending_change ORDER BY seq LIMIT ?", (limit,))
        return [{"message_id": message_id, **json.loads(change)} for message_id, change in rows]

    def changes_pushed(self, message_ids: Iterable[str]) -> None:
        with self._transaction():
            self._db.executemany(
                "DELETE FROM pending_change WHERE message_id = ?", ((id_,) for id_ in message_ids)
            )

    # The hub's outbox and the acknowledgements.

    def store_outbox(self, messages: Iterable[OutboundMessage]) -> int:
        """Keeps fetched messages until delivered; one delivered but not yet acknowledged (the hub
        still lists it) is not kept again. Returns how many were new."""
        new = 0
        with self._transaction():
            for message in messages:
                new += self._db.execute(
                    "INSERT OR IGNORE INTO outbox_message (id, number, kind, body) SELECT ?, ?, ?, ?"
                    " WHERE NOT EXISTS (SELECT 1 FROM unsent_ack WHERE message_id = ?)",
                    (message.id, message.number, message.kind, json.dumps(message.body), message.id),
                ).rowcount
        return new

    def undelivered(self) -> list[OutboundMessage]:
        rows = self._db.execute("SELECT id, number, kind, body FROM outbox_message ORDER BY number, id")
        return [
            OutboundMessage(id=id_, number=number, kind=kind, body=json.loads(body)) for id_, number, kind, body in rows
        ]

    def record_ack(self, message_id: str, outcome: str, error_code: str | None = None) -> None:
        """The message has been handed to the pharmacy system (or refused by it): from now on it is an
        acknowledgement to send."""
        with self._transaction():
            self._db.execute("DELETE FROM outbox_message WHERE id = ?", (message_id,))
            self._db.execute(
                "INSERT OR IGNORE INTO unsent_ack (message_id, outcome, error_code) VALUES (?, ?, ?)",
                (message_id, outcome, error_code),
            )

    def unsent_acks(self, limit: int) -> list[dict]:
        rows = self._db.execute(
            "SELECT message_id, outcome, error_code FROM unsent_ack ORDER BY seq LIMIT ?", (limit,)
        )
        return [
            {"id": message_id, "outcome": outcome, **({"error_code": error_code} if error_code else {})}
            for message_id, outcome, error_code in rows
        ]

    def acks_sent(self, message_ids: Iterable[str]) -> None:
        with self._transaction():
            self._db.executemany("DELETE FROM unsent_ack WHERE message_id = ?", ((id_,) for id_ in message_ids))

    def queue_depth(self) -> int:
        """What the relay still has to hand on, for the heartbeat."""
        return self._db.execute(
            "SELECT (SELECT count(*) FROM pending_change) + (SELECT count(*) FROM outbox_message)"
            " + (SELECT count(*) FROM unsent_ack)"
        ).fetchone()[0]

    # The last error, the lease and the config.

    def record_error(self, code: str, at: str) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO last_error (only_row, code, at) VALUES (1, ?, ?)", (code, at))

    def last_error(self) -> dict | None:
        row = self._db.execute("SELECT code, at FROM last_error").fetchone()
        return {"code": row[0], "at": row[1]} if row else None

    @property
    def active(self) -> bool:
        """Whether the hub's last word was that this relay holds the location's lease."""
        return self._active

    def set_active(self, active: bool) -> bool:
        """Records the lease as heard; returns whether that changed it. Losing it drops the messages
        not yet delivered (the hub keeps them for the relay that holds the lease) and makes the
        snapshot stale."""
        if active == self._active:
            return False
        with self._transaction():
            self._set_state("active", "1" if active else "0")
            if not active:
                self._db.execute("DELETE FROM outbox_message")
                self._set_state("snapshot_stale", "1")
        self._active = active
        return True

    def config(self) -> tuple[dict | None, str | None]:
        """The last config the hub sent and its ETag, so a restart while the hub is down carries on."""
        config = self._state("config")
        return (json.loads(config) if config else None), self._state("config_etag")

    def save_config(self, config: dict, etag: str | None) -> None:
        with self._transaction():
            self._set_state("config", json.dumps(config))
            self._set_state("config_etag", etag)
