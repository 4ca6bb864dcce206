"""`make run`'s supervisor: starts child processes, each in its own process group with its own log,
and keeps them running. A child that exits is logged and started again after a short backoff (1, 2,
4 … up to MAX_BACKOFF_S seconds) while the others run on; one that exits MAX_QUICK_EXITS times within
QUICK_EXIT_WINDOW_S is given up with a message naming its log (GaveUp). `stop()` ends them all."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAX_QUICK_EXITS = 5  # a child that keeps dying is broken (a port taken, a bad migration): say so
QUICK_EXIT_WINDOW_S = 60.0
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 10.0
STOP_GRACE_S = 10.0


class GaveUp(Exception):
    """A child exited too often in too short a time to be worth starting again."""


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    # What a restart runs, if not argv (a one-time step such as an enrollment is not repeated).
    restart_argv: Sequence[str] | None = None
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = None
    exits: deque[float] = field(default_factory=deque)  # monotonic times of its recent exits
    restart_at: float | None = None


class Supervisor:
    def __init__(self, *, cwd: Path, log_dir: Path, say: Callable[[str], None] = print,
                 max_quick_exits: int = MAX_QUICK_EXITS, quick_exit_window_s: float = QUICK_EXIT_WINDOW_S,
                 first_backoff_s: float = FIRST_BACKOFF_S, max_backoff_s: float = MAX_BACKOFF_S):
        self.cwd, self.log_dir, self.say = cwd, log_dir, say
        self.max_quick_exits, self.quick_exit_window_s = max_quick_exits, quick_exit_window_s
        self.first_backoff_s, self.max_backoff_s = first_backoff_s, max_backoff_s
        self.children: list[Child] = []

    def start(self, name: str, *argv: str, restart_argv: Sequence[str] | None = None,
              env: dict[str, str] | None = None) -> Child:
        child = Child(name=name, argv=argv, restart_argv=restart_argv, env=env)
        self._spawn(child, argv)
        self.children.append(child)
        return child

    def _spawn(self, child: Child, argv: Sequence[str]) -> None:
        with open(self.log_dir / f"{child.name}.log", "ab") as log:
            child.process = subprocess.Popen(argv, cwd=self.cwd, env=child.env, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)

    def check(self) -> None:
        """One pass: note the children that exited, start again those whose backoff is over."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is None and child.process.poll() is not None:
                self._exited(child, now)
            elif child.restart_at is not None and now >= child.restart_at:
                child.restart_at = None
                self._spawn(child, child.restart_argv or child.argv)
                self.say(f"{child.name} started again (pid {child.process.pid}).")

    def _exited(self, child: Child, now: float) -> None:
        # Its workers may outlive it (a Celery worker's pool after a kill -9 of the main process).
        _kill_group(child.process.pid, signal.SIGKILL)
        child.exits.append(now)
        while child.exits and now - child.exits[0] > self.quick_exit_window_s:
            child.exits.popleft()
        if len(child.exits) >= self.max_quick_exits:
            raise GaveUp(f"{child.name} exited {len(child.exits)} times within {self.quick_exit_window_s:.0f} s; "
                         f"not starting it again (see {self.log_dir / child.name}.log).")
        backoff = min(self.max_backoff_s, self.first_backoff_s * 2 ** (len(child.exits) - 1))
        child.restart_at = now + backoff
        self.say(f"{child.name} exited with status {child.process.returncode}; starting it again in {backoff:g} s "
                 f"(see {self.log_dir / child.name}.log).")

    def run_forever(self, interval_s: float = 0.5) -> None:
        while True:
            self.check()
            time.sleep(interval_s)

    def stop(self) -> None:
        """SIGTERM to every child's process group, SIGKILL to those still there after STOP_GRACE_S."""
        running = [child for child in self.children if child.process.poll() is None]
        for child in running:
            _kill_group(child.process.pid, signal.SIGTERM)
        for child in running:
            try:
                child.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _kill_group(child.process.pid, signal.SIGKILL)
                child.process.wait()


def _kill_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass  # the whole group is gone already
