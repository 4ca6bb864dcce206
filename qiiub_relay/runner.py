"""The relay's loop: one thread, one schedule (docs/pharmacy-relay.md).

- Every `heartbeat_every_s`: the config (If-None-Match), then the heartbeat, whose answer says whether
  this relay holds the location's lease. Not holding it, the relay only heart-beats (and sends the
  acknowledgements it still owes): it never talks to the pharmacy system.
- Every `poll_every_s`, holding the lease, with a pharmacy configured and not paused: poll the pharmacy
  system into the queue, push the changes, fetch the outbox, deliver it in order, acknowledge.
- The hub unreachable: its calls wait for a backoff (1 s doubling to 60 s, jittered) while polling goes
  on into the queue. The pharmacy system unreachable: the last error is recorded and reported, and the
  next poll tries again.

Each step commits to the store before the next one talks to anyone (store.py), so stopping, or a kill,
anywhere loses nothing. Log lines are `event=… key=value`, with codes and counts, never PHI.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from qiiub_relay.adapters.base import (
    PharmacyRefused,
    PharmacySystem,
    PharmacyUnavailable,
    ReadyPrescription,
)
from qiiub_relay.checks import error_code, key_or_none, well_formed
from qiiub_relay.hub import HubClient, HubRefused, HubUnavailable, NotActive, backoff_delay
from qiiub_relay.sealing import SealedCredentialsInvalid, open_sealed
from qiiub_relay.store import Store

log = logging.getLogger("qiiub_relay")

DEFAULT_TIMING = {"heartbeat_every_s": 30.0, "poll_every_s": 15.0}
SHORTEST_INTERVAL_S = 1.0
CHANGES_PER_PUSH = 500
OUTBOX_PAGE = 100
OUTBOX_PAGES_PER_CYCLE = 10  # a backlog drains a page at a time, without keeping the heartbeat waiting long
ACKS_PER_SEND = 500

AdapterFactory = Callable[[str, dict, dict], PharmacySystem]
Result = TypeVar("Result")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _fingerprint(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class Runner:
    def __init__(self, store: Store, hub: HubClient, private_key: X25519PrivateKey, adapter_for: AdapterFactory, *,
                 clock: Callable[[], float] = time.monotonic, now: Callable[[], str] = utc_now,
                 random_fraction: Callable[[], float] = random.random):
        self._store = store
        self._hub = hub
        self._private_key = private_key
        self._adapter_for = adapter_for
        self._clock = clock
        self._now = now
        self._random_fraction = random_fraction
        self._stopping = threading.Event()
        self._timing = dict(DEFAULT_TIMING)
        self._pharmacy: PharmacySystem | None = None
        self._pharmacy_source: tuple | None = None
        self._pharmacy_reachable: bool | None = None  # None: not known (not active, idle, not polled yet)
        self._reported_reachable: bool | None = None  # what the last heartbeat told the hub
        self._pharmacy_down_code: str | None = None
        self._unreadable_count = 0
        self._lease_heard: bool | None = None
        self._not_active_message = ""
        self._hub_failures = 0
        self._hub_retry_at = 0.0
        config, _ = store.config()
        if config is not None:
            self._apply_config(config)

    @property
    def hub_reachable(self) -> bool:
        return self._hub_failures == 0

    def stop(self) -> None:
        """Asks the loop to stop after the step under way (safe from a signal handler)."""
        self._stopping.set()

    def run_once(self) -> None:
        """One heartbeat and, holding the lease, one poll and exchange, whatever the schedule or the
        backoff says (`--once`, tests)."""
        self._hub_retry_at = 0.0
        self._heartbeat()
        if self._store.active:
            self._cycle()

    def run_forever(self) -> None:
        log.info("event=started active=%s queue_depth=%d", self._store.active, self._store.queue_depth())
        next_heartbeat = next_cycle = self._clock()
        while not self._stopping.is_set():
            now = self._clock()
            if now >= max(next_heartbeat, self._hub_retry_at):
                self._heartbeat()
                next_heartbeat = (self._hub_retry_at if self._hub_failures
                                  else now + self._jittered(self._timing["heartbeat_every_s"]))
            if self._store.active and now >= next_cycle and not self._stopping.is_set():
                self._cycle()
                next_cycle = now + self._jittered(self._timing["poll_every_s"])
                if self._pharmacy_reachable != self._reported_reachable:
                    next_heartbeat = now  # whether the pharmacy system answers is told at once, not next time
            wake_at = max(next_heartbeat, self._hub_retry_at)
            if self._store.active:
                wake_at = min(wake_at, next_cycle)
            self._stopping.wait(max(0.0, wake_at - self._clock()))
        log.info("event=stopped queue_depth=%d", self._store.queue_depth())

    # The hub: lease, config, backoff.

    def _heartbeat(self) -> None:
        self._hub_step(self._refresh_config)
        self._hub_step(self._send_heartbeat)
        if not self._store.active:
            self._hub_step(self._send_acks)

    def _hub_step(self, step: Callable[[], Result]) -> Result | None:
        """Runs one exchange with the hub, unless a failure is being waited out; what the hub answers
        decides the lease and the backoff."""
        if self._clock() < self._hub_retry_at:
            return None
        try:
            result = step()
        except NotActive as refusal:
            self._hub_answered()
            self._lease_lost(refusal.message)
        except HubRefused as refusal:
            self._hub_answered()
            log.error("event=hub_refused step=%s code=%s", step.__name__.lstrip("_"), refusal.code)
        except HubUnavailable as error:
            self._hub_failed(error)
        else:
            self._hub_answered()
            return result
        return None

    def _hub_answered(self) -> None:
        if self._hub_failures:
            log.info("event=hub_reachable after_failures=%d", self._hub_failures)
        self._hub_failures = 0
        self._hub_retry_at = 0.0

    def _hub_failed(self, error: HubUnavailable) -> None:
        self._hub_failures += 1
        delay = backoff_delay(self._hub_failures, self._random_fraction(), error.retry_after)
        self._hub_retry_at = self._clock() + delay
        level = logging.WARNING if self._hub_failures == 1 else logging.DEBUG
        log.log(level, "event=hub_unavailable code=%s failures=%d retry_in_s=%.1f", error.code, self._hub_failures,
                delay)

    def _refresh_config(self) -> None:
        cached, cached_etag = self._store.config()
        config, etag = self._hub.config(cached_etag)
        if config is None or (config, etag) == (cached, cached_etag):
            return
        self._store.save_config(config, etag)
        if config != cached:
            self._apply_config(config)

    def _jittered(self, interval: float) -> float:
        """±10 %: relays started together (a power cut, a deploy) do not stay in step at the hub."""
        return interval * (0.9 + 0.2 * self._random_fraction())

    def _send_heartbeat(self) -> None:
        config, _ = self._store.config()
        config_version = config.get("version") if config else None
        reachable = self._pharmacy_reachable
        answer = self._hub.heartbeat(self._store.queue_depth(), reachable, self._store.last_error(),
                                     config_version if isinstance(config_version, str) else None)
        self._reported_reachable = reachable
        if answer["active"] is True:
            self._lease_held(answer.get("lease_expires_at"))
        else:
            self._lease_lost("")

    def _lease_held(self, expires_at: str | None) -> None:
        self._store.set_active(True)
        if self._lease_heard is not True:
            log.info("event=relay_active lease_expires_at=%s", expires_at)
        self._lease_heard = True

    def _lease_lost(self, hub_message: str) -> None:
        self._store.set_active(False)
        self._pharmacy_reachable = None
        if self._lease_heard is not False or hub_message != self._not_active_message:
            log.warning("event=relay_not_active hub_says=%s", json.dumps(hub_message))
        self._lease_heard = False
        self._not_active_message = hub_message

    def _apply_config(self, config: dict) -> None:
        timing = config.get("timing") if isinstance(config.get("timing"), dict) else {}
        for name, default in DEFAULT_TIMING.items():
            value = timing.get(name)
            valid = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            self._timing[name] = max(SHORTEST_INTERVAL_S, float(value)) if valid else default
        source, credentials = self._pharmacy_wanted(config.get("pharmacy"))
        if source == self._pharmacy_source:
            return
        self._pharmacy_source = source
        self._pharmacy = None
        self._pharmacy_reachable = None
        if source[0] != "configured":
            log.info("event=pharmacy_idle reason=%s", source[0])
            return
        system, configuration = config["pharmacy"]["system"], config["pharmacy"].get("configuration") or {}
        try:
            self._pharmacy = self._adapter_for(system, configuration, credentials)
        except ValueError:
            self._pharmacy_error("unknown_pharmacy_system")
            return
        log.info("event=pharmacy_configured system=%s", system)

    def _pharmacy_wanted(self, pharmacy: object) -> tuple[tuple, dict]:
        """What the adapter is made from, and the credentials opened: they are compared opened, as the
        hub seals them afresh each time it sends the config."""
        if not isinstance(pharmacy, dict):
            return ("not_configured",), {}
        if pharmacy.get("paused"):
            return ("paused",), {}
        system, configuration = pharmacy.get("system"), pharmacy.get("configuration") or {}
        if not isinstance(system, str) or not isinstance(configuration, dict):
            self._pharmacy_error("pharmacy_config_malformed")
            return ("unusable",), {}
        sealed = pharmacy.get("credentials_sealed")
        try:
            credentials = open_sealed(self._private_key, sealed) if sealed else {}
        except SealedCredentialsInvalid:
            self._pharmacy_error("credentials_unreadable")
            return ("unusable",), {}
        return ("configured", system, _fingerprint(configuration), _fingerprint(credentials)), credentials

    # The pharmacy system, and the exchange with the hub while holding the lease.

    def _cycle(self) -> None:
        pharmacy_up = self._poll() if self._pharmacy is not None else False
        self._hub_step(self._push_changes)
        for _ in range(OUTBOX_PAGES_PER_CYCLE):
            if not self._store.active or self._stopping.is_set():
                return
            fetched = self._hub_step(self._fetch_outbox) if self._pharmacy is not None else None
            delivered_all = self._deliver() if pharmacy_up else False
            self._hub_step(self._send_acks)
            if fetched != OUTBOX_PAGE or not delivered_all:
                return

    def _call_pharmacy(self, action: Callable[[], Result]) -> Result:
        """An adapter's own bug must neither stop the store's relay nor put its message (which may quote
        a patient) in the log: it counts as the pharmacy system being unavailable."""
        try:
            return action()
        except (PharmacyUnavailable, PharmacyRefused):
            raise
        except Exception as error:
            log.error("event=adapter_error error=%s", type(error).__name__)
            raise PharmacyUnavailable("adapter_error") from None

    def _poll(self) -> bool:
        """Polls the pharmacy system into the queue. A fill the hub would refuse is logged (by count) and
        left as it was, so one bad fill neither holds up the others nor reads as picked up."""
        pharmacy = self._pharmacy
        try:
            listed = self._call_pharmacy(lambda: list(pharmacy.ready_prescriptions()))
            if not all(isinstance(prescription, ReadyPrescription) for prescription in listed):
                raise PharmacyUnavailable("malformed_answer")
        except PharmacyUnavailable as error:
            self._pharmacy_failed(error.code)
            return False
        readable, unreadable = [], []
        for prescription in listed:
            if well_formed(prescription):
                readable.append(prescription)
            elif key := key_or_none(prescription):
                unreadable.append(key)
        changes = self._store.record_poll(readable, unreadable)
        self._pharmacy_answered()
        if len(readable) < len(listed):
            self._store.record_error("malformed_prescription", self._now())
        if len(listed) - len(readable) != self._unreadable_count:
            self._unreadable_count = len(listed) - len(readable)
            log.warning("event=prescriptions_unreadable count=%d", self._unreadable_count)
        log.log(logging.INFO if changes else logging.DEBUG, "event=pharmacy_polled ready=%d changes=%d",
                len(readable), changes)
        return True

    def _deliver(self) -> bool:
        """Hands the fetched messages to the pharmacy system in order; False if it stopped short."""
        pharmacy = self._pharmacy
        for message in self._store.undelivered():
            if self._stopping.is_set():
                return False
            try:
                self._call_pharmacy(lambda message=message: pharmacy.deliver(message))
            except PharmacyRefused as refusal:
                code = error_code(refusal.code)
                self._store.record_ack(message.id, "refused", code)
                log.warning("event=message_refused number=%d kind=%s code=%s", message.number, message.kind, code)
                continue
            except PharmacyUnavailable as error:
                self._pharmacy_failed(error.code)
                return False
            self._store.record_ack(message.id, "delivered")
            self._pharmacy_answered()
            log.info("event=message_delivered number=%d kind=%s", message.number, message.kind)
        return True

    def _pharmacy_answered(self) -> None:
        if self._pharmacy_down_code:
            log.info("event=pharmacy_reachable")
        self._pharmacy_down_code = None
        self._pharmacy_reachable = True

    def _pharmacy_failed(self, code: str) -> None:
        """Recorded every time (the heartbeat says when it last failed), logged when it changes."""
        code = error_code(code)
        self._store.record_error(code, self._now())
        level = logging.WARNING if code != self._pharmacy_down_code else logging.DEBUG
        log.log(level, "event=pharmacy_unavailable code=%s", code)
        self._pharmacy_down_code = code
        self._pharmacy_reachable = False

    def _pharmacy_error(self, code: str) -> None:
        self._store.record_error(code, self._now())
        log.error("event=pharmacy_not_usable code=%s", code)

    def _push_changes(self) -> None:
        if self._store.snapshot_stale:
            return
        while not self._stopping.is_set():
            batch = self._store.pending_changes(CHANGES_PER_PUSH)
            if not batch:
                return
            # A complete list closes its batch: the hub applies it after the changes sent with it, so a
            # change queued after it must not travel in the same push.
            batch = next((batch[:index + 1] for index, change in enumerate(batch) if change["status"] == "complete"),
                         batch)
            try:
                answer = self._hub.push_changes(batch)
            except HubRefused as refusal:
                log.warning("event=push_refused count=%d code=%s", len(batch), refusal.code)
                self._push_one_by_one(batch, refusal)
                continue
            self._store.changes_pushed(change["message_id"] for change in batch)
            log.info("event=changes_pushed count=%d applied=%s unchanged=%s", len(batch), answer.get("applied"),
                     answer.get("unchanged"))

    def _push_one_by_one(self, batch: list[dict], refusal: HubRefused) -> None:
        """The hub applies a push whole or not at all, so one change it refuses would hold up every other:
        the batch goes again change by change. If some go through, those refused alone are the changes'
        fault and are dropped (logged by code, reported as the last error; the fill's next change goes as
        usual). If none does, the fault is not theirs: all stay queued, and the refusal stands."""
        refused = []
        for change in batch:
            if self._stopping.is_set():
                return
            try:
                self._hub.push_changes([change])
            except HubRefused as alone:
                refused.append((change["message_id"], alone.code))
                continue
            self._store.changes_pushed([change["message_id"]])
        if len(refused) == len(batch):
            raise refusal
        log.info("event=changes_pushed count=%d one_by_one=true", len(batch) - len(refused))
        for _, code in refused:
            log.error("event=change_dropped code=%s", code)
            self._store.record_error(error_code(f"change_refused_{code}"), self._now())
        self._store.changes_pushed(message_id for message_id, _ in refused)

    def _fetch_outbox(self) -> int:
        messages = self._hub.outbox(OUTBOX_PAGE)
        new = self._store.store_outbox(messages)
        if messages:
            log.info("event=outbox_fetched count=%d new=%d", len(messages), new)
        return len(messages)

    def _send_acks(self) -> None:
        while acks := self._store.unsent_acks(ACKS_PER_SEND):
            self._hub.send_acks(acks)
            self._store.acks_sent(ack["id"] for ack in acks)
            log.info("event=acks_sent count=%d", len(acks))
