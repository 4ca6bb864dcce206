"""A worker process's deliveries in flight: sent concurrently on a pool of threads over the
threads' keep-alive connections, at most a few at once to any one receiver, and their outcomes
written in sets by one recorder thread.

A batch task hands its claimed deliveries over and returns, so a slow receiver holds a send
thread or two, never the worker. A receiver already at its limit queues its further deliveries
here, in order; one whose lease would lapse before its turn comes is given back unsent, for a
worker with room. The process holds at most EVENT_MAX_IN_FLIGHT deliveries: a batch task waits
for room before it claims, so leases never tick away in a queue of the broker's making.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, InterfaceError, connection

logger = logging.getLogger(__name__)

FLUSH_WAIT_S = 0.005  # how long the recorder waits for more outcomes to write with the first
FLUSH_MAX = 250  # outcomes per statement
RECORD_RETRY_S = 1.0  # after the database refused a write (a restart): keep the outcomes, try again


@dataclass(eq=False)
class Job:
    """One claimed delivery ready to go: `send` does the call (no database), returning the outcome."""

    key: str  # its receiver: at most `limit` sends at once per receiver in this process
    limit: int
    start_by: float  # time.monotonic() after which it must not start (its lease would lapse mid-call)
    send: Callable[[], object]
    unsent: Callable[[], object]  # the outcome of a job given back without being sent


@dataclass
class Sender:
    record: Callable[[list], None]  # writes a set of outcomes; raises to have them written again later
    threads: int
    max_in_flight: int
    _busy: Counter = field(default_factory=Counter)
    _queued: defaultdict = field(default_factory=lambda: defaultdict(deque))
    _in_flight: int = 0
    _outcomes: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)

    def __post_init__(self):
        self._room = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="event-send")
        threading.Thread(target=self._record_forever, name="event-recorder", daemon=True).start()

    def wait_for_room(self, count: int) -> None:
        """Block until the process can take `count` more deliveries (one batch always fits alone)."""
        with self._room:
            self._room.wait_for(lambda: self._in_flight == 0 or self._in_flight + count <= self.max_in_flight)

    def submit(self, jobs: list[Job]) -> None:
        starting = []
        with self._room:
            self._in_flight += len(jobs)
            for job in jobs:
                if self._busy[job.key] < job.limit:
                    self._busy[job.key] += 1
                    starting.append(job)
                else:
                    self._queued[job.key].append(job)
        for job in starting:
            self._pool.submit(self._run, job)

    def drain(self, timeout: float) -> bool:
        """Wait until every delivery handed over has its outcome written (a worker shutting down)."""
        with self._room:
            return self._room.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def _run(self, job: Job) -> None:
        try:
            outcome = job.send() if time.monotonic() <= job.start_by else job.unsent()
        except Exception:  # a defect: nothing is written, its lease lapses and the sweep resends it
            logger.exception("event.send_crashed")
            self._settled(1)
        else:
            self._outcomes.put(outcome)
        # The receiver's next delivery, in the order handed over, joins the back of the pool's queue:
        # receivers with many deliveries waiting take turns with the rest, not the threads.
        with self._room:
            waiting = self._queued.get(job.key)
            following = waiting.popleft() if waiting else None
            if following is None:
                self._queued.pop(job.key, None)
                self._busy[job.key] -= 1
                if not self._busy[job.key]:
                    del self._busy[job.key]
        if following is not None:
            self._pool.submit(self._run, following)

    def _settled(self, count: int) -> None:
        with self._room:
            self._in_flight -= count
            self._room.notify_all()

    def _record_forever(self) -> None:
        while True:
            outcomes = [self._outcomes.get()]
            deadline = time.monotonic() + FLUSH_WAIT_S
            while len(outcomes) < FLUSH_MAX:
                try:
                    outcomes.append(self._outcomes.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            while True:
                try:
                    self.record(outcomes)
                except (DatabaseError, InterfaceError):  # the database is away: the outcomes wait for it
                    logger.warning("event.record_failed", exc_info=True)
                    connection.close()  # reconnect on the next try
                    time.sleep(RECORD_RETRY_S)
                    continue
                except Exception:  # a defect: dropped unwritten, so their leases lapse and the sweep resends
                    logger.exception("event.record_crashed")
                break
            self._settled(len(outcomes))


_sender: Sender | None = None
_sender_pid: int | None = None
_sender_lock = threading.Lock()


def sender(record: Callable[[list], None]) -> Sender:
    """This process's sender, started on first use (and again in a forked child: threads do not
    survive a fork)."""
    global _sender, _sender_pid
    if _sender_pid != os.getpid():
        with _sender_lock:
            if _sender_pid != os.getpid():
                _sender = Sender(record=record, threads=settings.EVENT_SEND_THREADS,
                                 max_in_flight=settings.EVENT_MAX_IN_FLIGHT)
                _sender_pid = os.getpid()
    return _sender


def running_sender() -> Sender | None:
    """This process's sender if it has one (a worker shutting down drains it)."""
    return _sender if _sender_pid == os.getpid() else None
