"""`make run`'s supervisor (scripts/supervisor.py) with real child processes: one killed with -9
comes back while the others run on; one that keeps dying is given up; stop() ends them all."""

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from scripts.supervisor import GaveUp, Supervisor

pytestmark = [pytest.mark.fault]

# A long-running child that, like a Celery worker, has a process of its own under it.
WITH_A_WORKER = [sys.executable, "-c",
                 "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
                 "time.sleep(600)"]


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (a zombie waiting to be reaped does not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _check_until(supervisor: Supervisor, condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        supervisor.check()
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def supervisor(tmp_path):
    said: list[str] = []
    supervisor = Supervisor(cwd=tmp_path, log_dir=tmp_path, say=said.append, max_quick_exits=3,
                            first_backoff_s=0.2, max_backoff_s=1)
    supervisor.said = said
    yield supervisor
    supervisor.stop()


def test_a_child_killed_with_9_is_started_again_while_the_others_run_on(supervisor):
    worker = supervisor.start("worker", *WITH_A_WORKER)
    portal = supervisor.start("portal", sys.executable, "-c", "import time; time.sleep(600)")
    killed_pid, portal_pid = worker.process.pid, portal.process.pid
    time.sleep(0.5)  # the worker's own process has started
    assert _group_alive(killed_pid)

    os.kill(killed_pid, signal.SIGKILL)

    assert _check_until(supervisor, lambda: worker.process.pid != killed_pid and worker.process.poll() is None)
    assert not _group_alive(killed_pid)  # the dead worker's own process went with it
    assert portal.process.pid == portal_pid and portal.process.poll() is None
    assert any(line.startswith("worker exited with status -9; starting it again in 0.2 s") for line in supervisor.said)
    assert f"worker started again (pid {worker.process.pid})." in supervisor.said


def test_a_child_that_keeps_dying_is_given_up_with_a_message_naming_its_log(supervisor, tmp_path):
    supervisor.start("beat", sys.executable, "-c", "import sys; print('no broker'); sys.exit(3)")

    with pytest.raises(GaveUp) as gave_up:
        _check_until(supervisor, lambda: False)

    assert str(gave_up.value) == f"beat exited 3 times within 60 s; not starting it again (see {tmp_path}/beat.log)."
    assert (tmp_path / "beat.log").read_text().count("no broker") == 3


def test_stop_ends_every_child_and_the_processes_under_them(supervisor):
    children = [supervisor.start(name, *WITH_A_WORKER) for name in ("worker", "beat")]
    time.sleep(0.5)

    supervisor.stop()

    assert all(child.process.poll() is not None and not _group_alive(child.process.pid) for child in children)
