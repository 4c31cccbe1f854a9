"""One collecting worker per database: a lock the worker holds for its whole life.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock(WORKER_LOCK_KEY)``) held on one
dedicated connection. Advisory locks belong to one database, so Perimeter databases sharing a server
do not contend. The server releases it when that session ends: a clean exit, a SIGKILL (the kernel
closes the socket), or a host that vanished (once TCP keepalive notices; see README).

SQLite: ``fcntl.flock`` on ``<database file>.worker.lock`` beside the database. The kernel releases it
when the holder's file descriptor closes, which includes the process dying in any way. flock is only
meaningful between processes on one machine, as is SQLite itself.

Either way the holder records who it is (pid, host, since when): in the lock file on SQLite, as the
lock session's ``application_name`` on PostgreSQL, so a waiting worker can say who it waits for.
"""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from db.engine import is_sqlite

# pg_try_advisory_lock's bigint key, fixed and documented (README, "Running more than one process"):
# the ASCII bytes of "PERI". Below 2**32, so pg_locks shows it as classid 0, objid WORKER_LOCK_KEY.
WORKER_LOCK_KEY = 0x50455249
LOCK_FILE_SUFFIX = ".worker.lock"
_HOLDER_NAME_PREFIX = "perimeter-worker"
_PG_HOLDER = text(
    "SELECT a.pid, a.application_name, a.client_addr, a.backend_start AT TIME ZONE 'UTC' AS backend_start "
    "FROM pg_locks l "
    "JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key "
    "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
_PG_HELD_HERE = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() "
    "AND classid = 0 AND objid = :key AND objsubid = 1"
)


def holder_description() -> str:
    """'pid 1234 on host-a': who this process is, as a holder."""
    return f"pid {os.getpid()} on {socket.gethostname()}"


class WorkerLock:
    """``try_acquire()`` until True, then hold until ``release()`` (or the process ends)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._fd: int | None = None  # SQLite: the locked file
        self._conn: Connection | None = None  # PostgreSQL: the session holding the advisory lock
        database = engine.url.database
        self.path: str | None = None
        if is_sqlite(engine) and database and database != ":memory:":
            self.path = database + LOCK_FILE_SUFFIX
        # An in-memory SQLite database is private to its process: nothing to contend for.
        self._private = is_sqlite(engine) and self.path is None
        self._held_private = False

    @property
    def held(self) -> bool:
        return self._fd is not None or self._conn is not None or self._held_private

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits."""
        if self.held:
            return True
        if self._private:
            self._held_private = True
            return True
        if self.path is not None:
            return self._try_file()
        return self._try_advisory()

    def holder(self) -> str:
        """Who holds the lock now, as far as can be told (for the waiting worker's log line)."""
        if self.path is not None:
            try:
                with open(self.path, encoding="utf-8") as file:
                    recorded = file.read().strip()
            except OSError:
                recorded = ""
            return recorded or f"another process (no details in {self.path})"
        with self.engine.connect() as conn:
            row = conn.execute(_PG_HOLDER, {"key": WORKER_LOCK_KEY}).first()
        if row is None:
            return "nobody any more"
        name = row.application_name or ""
        # Without pg_read_all_stats another role's session shows no details: say what is known.
        details = name[len(_HOLDER_NAME_PREFIX) :].strip() if name.startswith(_HOLDER_NAME_PREFIX) else ""
        where = f", client {row.client_addr}" if row.client_addr else ""
        since = f" since {row.backend_start:%Y-%m-%d %H:%M:%SZ}" if row.backend_start else ""
        return f"{details or 'a session'}{since} (PostgreSQL backend pid {row.pid}{where})"

    def still_held(self) -> bool:
        """Whether the lock is still ours: on PostgreSQL the session may have been cut (server restart,
        network), which releases it. A file lock cannot be lost while the process lives."""
        if self._conn is None:
            return self.held
        try:
            return bool(self._conn.execute(_PG_HELD_HERE, {"key": WORKER_LOCK_KEY}).scalar())
        except Exception:  # noqa: BLE001 - a dead session is exactly the answer "no"
            return False

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)  # no stale holder shown to the next waiter
            finally:
                os.close(fd)  # closing the descriptor releases the flock
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": WORKER_LOCK_KEY})
            except Exception:  # noqa: BLE001 - closing the session below releases it anyway
                pass
            finally:
                conn.invalidate()  # never back into the pool with a changed application_name
                conn.close()
        self._held_private = False

    # --- per database ------------------------------------------------------------------------------

    def _try_file(self) -> bool:
        assert self.path is not None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        os.pwrite(fd, f"{holder_description()} since {since}".encode(), 0)
        self._fd = fd
        return True

    def _try_advisory(self) -> bool:
        # Autocommit: the session holds the lock, not a transaction left open for days.
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": WORKER_LOCK_KEY}).scalar()
            )
            if taken:
                name = f"{_HOLDER_NAME_PREFIX} {holder_description()}"[:63]  # NAMEDATALEN - 1
                conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": name})
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        if not taken:
            conn.close()
            return False
        self._conn = conn
        return True
