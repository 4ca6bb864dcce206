"""`python -m qiiub_relay`: enroll once, then run until stopped (docs/pharmacy-relay.md).

    python -m qiiub_relay --hub https://hub.example.com --state-dir /var/lib/qiiub-relay --enroll CODE --name NAME
    python -m qiiub_relay --hub https://hub.example.com --state-dir /var/lib/qiiub-relay [--once]

Exit codes:
    0  stopped by SIGTERM or SIGINT, or `--once` done with the hub reachable
    1  crashed on an unexpected error (the queue is intact: restart)
    2  usage: bad arguments, plain http:// to a hub not on this machine, not enrolled yet, or
       --enroll in a state directory that is enrolled already
    3  the hub refused the enrollment (a wrong, used or expired code)
    4  the hub no longer knows this relay's token: enroll again with a new code
    5  the hub could not be reached (the enrollment, or the `--once` pass)
    6  another relay process uses this state directory
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

from qiiub_relay import __version__
from qiiub_relay.adapters import adapter_for
from qiiub_relay.hub import HubClient, HubError, HubUnavailable, TokenRevoked, check_hub_url
from qiiub_relay.runner import Runner
from qiiub_relay.sealing import (
    generate_private_key,
    load_private_key,
    public_key_b64,
    save_private_key,
    write_private_file,
)
from qiiub_relay.store import Store, StoreLocked

log = logging.getLogger("qiiub_relay")

KEY_FILE = "relay.key"
TOKEN_FILE = "relay.token"

EXIT_OK = 0
EXIT_CRASHED = 1
EXIT_USAGE = 2
EXIT_ENROLLMENT_REFUSED = 3
EXIT_TOKEN_REVOKED = 4
EXIT_HUB_UNAVAILABLE = 5
EXIT_STATE_DIR_IN_USE = 6


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qiiub_relay",
        description="The QIIUB store relay: carries prescriptions between the pharmacy system and the hub.",
    )
    parser.add_argument("--hub", required=True, help="the hub's URL, https:// (http:// only on this machine)")
    parser.add_argument("--state-dir", required=True, type=Path, help="where the key, token and queue live")
    parser.add_argument("--enroll", metavar="CODE", help="the one-time code of the location's Pharmacy page")
    parser.add_argument("--name", help="this relay's name, shown in the portal (with --enroll)")
    parser.add_argument("--once", action="store_true", help="one heartbeat and one poll and exchange, then exit")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--version", action="version", version=f"qiiub-relay {__version__}")
    return parser


def _refuse(message: str) -> int:
    print(f"qiiub-relay: {message}", file=sys.stderr)
    return EXIT_USAGE


def _enroll(hub_url: str, state_dir: Path, code: str, name: str) -> int:
    """Makes the key pair (kept if an earlier enrollment did not finish), trades the code for the token
    and keeps both in the state directory, each written whole before the next step."""
    key_path, token_path = state_dir / KEY_FILE, state_dir / TOKEN_FILE
    if token_path.exists():
        return _refuse(f"{state_dir} holds an enrolled relay already: run without --enroll (or use a new state "
                       "directory to enroll another relay)")
    if key_path.exists():
        private_key = load_private_key(key_path)
    else:
        private_key = generate_private_key()
        save_private_key(key_path, private_key)
    hub = HubClient(hub_url)
    try:
        answer = hub.enroll(code, name, public_key_b64(private_key))
    except HubUnavailable as error:
        log.error("event=enrollment_failed code=%s", error.code)
        print("qiiub-relay: the hub could not be reached; nothing was enrolled, try again", file=sys.stderr)
        return EXIT_HUB_UNAVAILABLE
    except HubError as refusal:
        log.error("event=enrollment_refused code=%s hub_says=%s", refusal.code, json.dumps(refusal.message))
        print(f"qiiub-relay: the hub refused the enrollment: {refusal.message or refusal.code}", file=sys.stderr)
        return EXIT_ENROLLMENT_REFUSED
    finally:
        hub.close()
    write_private_file(token_path, answer["token"].encode())
    relay = answer["relay"] if isinstance(answer["relay"], dict) else {}
    log.info("event=enrolled relay_id=%s", relay.get("id"))
    return EXIT_OK


def _run(hub_url: str, state_dir: Path, once: bool) -> int:
    key_path, token_path = state_dir / KEY_FILE, state_dir / TOKEN_FILE
    if not token_path.exists() or not key_path.exists():
        return _refuse(f"{state_dir} holds no enrolled relay: run once with --enroll CODE --name NAME (the code "
                       "is on the location's Pharmacy page in the portal)")
    try:
        store = Store.in_directory(state_dir)
    except StoreLocked:
        log.error("event=state_dir_in_use state_dir=%s", state_dir)
        return EXIT_STATE_DIR_IN_USE
    hub = HubClient(hub_url, token_path.read_text().strip())
    runner = Runner(store, hub, load_private_key(key_path), adapter_for)

    def stop(signum, frame):
        """Finish the step under way, then stop; a second signal ends the process at once (safe too:
        everything is in the store)."""
        runner.stop()
        for name in ("SIGTERM", "SIGINT"):
            signal.signal(getattr(signal, name), signal.SIG_DFL)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if once:
            runner.run_once()
            return EXIT_OK if runner.hub_reachable else EXIT_HUB_UNAVAILABLE
        runner.run_forever()
        return EXIT_OK
    except TokenRevoked:
        log.error("event=token_revoked action=stopping hint=enroll_again_with_a_new_code")
        print("qiiub-relay: the hub no longer knows this relay's token; enroll it again with a new code "
              f"(the queue in {state_dir} is kept)", file=sys.stderr)
        return EXIT_TOKEN_REVOKED
    finally:
        hub.close()
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.enroll and not arguments.name:
        parser.error("--enroll needs --name")
    logging.basicConfig(level=arguments.log_level, format="ts=%(asctime)s level=%(levelname)s %(message)s")
    try:
        hub_url = check_hub_url(arguments.hub)
    except ValueError as error:
        return _refuse(str(error))
    os.umask(0o077)  # the key, the token and the queue (PHI) are this user's alone, WAL files included
    state_dir: Path = arguments.state_dir
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if arguments.enroll:
            outcome = _enroll(hub_url, state_dir, arguments.enroll, arguments.name)
            if outcome != EXIT_OK:
                return outcome
        return _run(hub_url, state_dir, arguments.once)
    except Exception as error:
        frames = "".join(traceback.format_tb(error.__traceback__))
        log.critical("event=crashed error=%s\n%s", type(error).__name__, frames)  # without its message: PHI
        return EXIT_CRASHED


if __name__ == "__main__":
    sys.exit(main())
