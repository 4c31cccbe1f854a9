"""Sign-in pages stored with two cores: each page is prepared in a parsing process while the caller
writes the pages before it.

Preparing a page (db.signin_ingest.prepare_signins: mapping, compression, the index's rows) is Python
work that holds the interpreter lock, about half of the ingest; the other half is the database's own
work. One interpreter does them one after the other, so a second process prepares the next pages
meanwhile: it gets each page's body as Graph sent it and returns plain rows (bench/ingest.py measures
the gain). A thread would not do: the driver releases the lock around each row it writes and waits for
it back, so a busy parsing thread slows the writer down more than it helps (measured).

Everything else stays in the caller: pages are written in the order they were submitted, each in its
own transaction (db.signin_ingest.write_prepared), and a page whose sign-ins were partly stored before
(the collectors' overlap re-reads) is prepared again here without them, as db.store.ingest_signin_page
does. A database without a compression dictionary gets its first pages written here too, the first
of them training it (db.signin_raw). If the parsing process fails or dies, its pages are prepared here
instead: the pipeline is only ever faster, never different.

    start_parsers()                                 # once per process, optional
    with SigninPipeline(engine) as pipeline:
        handle = pipeline.submit(tenant_id, body)   # a page's bytes (db.rows.decode_signin_page)
        ...
        pipeline.drain()                            # every submitted page written
        stored, skipped, newest = handle.result()
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path
from types import TracebackType

from sqlalchemy import Dialect, Engine

from db.engine import write_transaction
from db.rows import cyclic_gc_paused, decode_signin_page
from db.signin_ingest import PreparedSignins, prepare_signins, store_signins, stored_ids_of, write_prepared
from db.signin_raw import add_dictionary, dictionary_body, newest_loaded

log = logging.getLogger(__name__)

PageResult = tuple[int, int, datetime | None]
"""(sign-ins offered, malformed ones skipped, newest createdDateTime) of one page, as
db.store.ingest_signin_page returns it."""

DEPTH = 4  # pages prepared ahead of the writer: enough to keep every process busy, little memory
PARSERS = 2  # parsing processes: preparing a page takes longer than writing it (bench/ingest.py)
PARENT_CHECK_SECONDS = 1.0  # how soon a parsing process notices its parent is gone


_dialects: dict[type[Dialect], Dialect] = {}


def prepare_page(
    dialect_class: type[Dialect], tenant_id: str, body: bytes, dict_id: int, dictionary: bytes | None
) -> PreparedSignins:
    """In a parsing process: a page's body → what the writer sends to the driver (a dialect of the
    writer's class converts the values as the writer's would)."""
    dialect = _dialects.get(dialect_class)
    if dialect is None:
        dialect = _dialects[dialect_class] = dialect_class()
    add_dictionary(dict_id, dictionary)
    with cyclic_gc_paused():
        return prepare_signins(dialect, tenant_id, decode_signin_page(body).value, dict_id)


def prepare_spooled_page(
    dialect_class: type[Dialect], tenant_id: str, path: str, dict_id: int, dictionary: bytes | None
) -> PreparedSignins:
    """In a parsing process: :func:`prepare_page` of a body the writer spooled to ``path`` (read, then
    removed: the file is this process's from now on)."""
    try:
        with open(path, "rb") as spooled:
            body = spooled.read()
    finally:
        os.unlink(path)
    return prepare_page(dialect_class, tenant_id, body, dict_id, dictionary)


class _Page:
    __slots__ = ("tenant_id", "body", "pool", "spooled", "prepared", "result")

    def __init__(self, tenant_id: str, body: bytes) -> None:
        self.tenant_id, self.body = tenant_id, body
        self.pool: ProcessPoolExecutor | None = None
        self.spooled: str | None = None  # the body's file, until the parsing process removes it
        self.prepared: Future[PreparedSignins] | None = None  # None: prepared by the writer
        self.result: Future[PageResult] = Future()


# The parsing processes: one pool for the whole process (the worker lives for weeks and runs a cycle
# every few minutes; starting the pool costs a second of CPU per process), shared by its pipelines.
_pool_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
# Page bodies go to the parsing processes as files in memory (/dev/shm where there is one): a body of
# 1,000 sign-ins is ~1-4 MB, and pickled through the pool's pipe it cost the parsing process ~7 ms a
# page of reading (measured: ~10 % of the whole ingest's CPU), a file ~1 ms. Private (0700) to this user.
_spool_dir: str | None = None
_spooled = 0


def _parser_started(parent: int) -> None:
    """In each parsing process: Ctrl-C is the parent's to handle (it reaches the whole process group),
    and the process ends once its parent is gone, however it went (a killed worker leaves no orphan)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="perimeter-parent-watch", daemon=True).start()


def parsers() -> ProcessPoolExecutor:
    """The process's parsing processes, started on first use (and again after they broke)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawn: a fresh interpreter, nothing inherited from a process with threads and sockets
            _pool = ProcessPoolExecutor(
                max_workers=PARSERS,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_parser_started,
                initargs=(os.getpid(),),
            )
        return _pool


def start_parsers() -> None:
    """Start the parsing processes now (each takes a second to import), not with the first pages."""
    pool = parsers()
    for started in [pool.submit(int) for _ in range(PARSERS)]:
        started.result()


def stop_parsers() -> None:
    """Stop the parsing processes (the worker, as it stops); the next page would start new ones."""
    global _pool, _spool_dir
    with _pool_lock:
        pool, _pool = _pool, None
        spool, _spool_dir = _spool_dir, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
    if spool is not None:
        shutil.rmtree(spool, ignore_errors=True)


def spooled_bodies() -> list[str]:
    """The page bodies handed to the parsing processes and not read by them yet (files)."""
    spool = _spool_dir
    return [] if spool is None or not os.path.isdir(spool) else os.listdir(spool)


def _spool(body: bytes) -> str:
    """A page's body as a new file of the spool, for a parsing process to read (and remove)."""
    global _spool_dir, _spooled
    with _pool_lock:
        if _spool_dir is None:
            memory = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
            _spool_dir = tempfile.mkdtemp(prefix="perimeter-signins-", dir=memory)
            atexit.register(shutil.rmtree, _spool_dir, ignore_errors=True)  # a process that never stops them
        _spooled += 1
        path = os.path.join(_spool_dir, f"{os.getpid()}-{_spooled}")
    with open(path, "wb") as spooled:
        spooled.write(body)
    return path


def _discard(pool: ProcessPoolExecutor) -> None:
    """Drop a broken pool: the next page starts new processes."""
    global _pool
    with _pool_lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


class SigninPipeline:
    """One writer's pages of one database's sign-ins, prepared by the parsing processes and written by
    the caller, in order. Not shared between threads: each has its own (they share the processes)."""

    def __init__(self, engine: Engine, depth: int = DEPTH) -> None:
        self.engine = engine
        self.depth = depth
        self._pending: deque[_Page] = deque()
        self._dict_id: int | None = None  # the dictionary pages are compressed with, once known
        self.parsed_elsewhere = 0  # pages the parsing processes prepared (the others: the writer)

    def submit(self, tenant_id: str, body: bytes) -> Future[PageResult]:
        """Queue a page (its body as Graph sent it, already checked by db.rows.decode_signin_page);
        writes the oldest pending pages while more than ``depth`` wait. The future is done once the
        page is written (its result, or the error that failed its transaction)."""
        page = _Page(tenant_id, body)
        dict_id = self._dictionary()
        if dict_id is not None:
            pool = page.pool = parsers()
            try:  # the dictionary goes with every page (~100 KB, copied once): any process takes any page
                page.spooled = _spool(body)
                page.prepared = pool.submit(
                    prepare_spooled_page,
                    type(self.engine.dialect),
                    tenant_id,
                    page.spooled,
                    dict_id,
                    dictionary_body(dict_id),
                )
            except RuntimeError:  # the pool broke (a process died): this page is prepared here
                _discard(pool)
            except OSError as error:  # the spool is full or gone: this page is prepared here
                log.warning("cannot hand a sign-in page to the parsing processes: %s", error)
        self._pending.append(page)
        while len(self._pending) > self.depth:
            self._write(self._pending.popleft())
        return page.result

    def drain(self) -> None:
        """Write every pending page; the next pages read the newest dictionary again."""
        while self._pending:
            self._write(self._pending.popleft())
        self._dict_id = None

    def discard(self) -> None:
        """Forget the pending pages, unwritten (their futures are cancelled)."""
        while self._pending:
            page = self._pending.popleft()
            if page.prepared is not None and page.prepared.cancel() and page.spooled is not None:
                Path(page.spooled).unlink(missing_ok=True)
            page.result.cancel()

    def __enter__(self) -> SigninPipeline:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.drain()
        else:  # the caller failed: its pending pages are not written
            self.discard()

    def _dictionary(self) -> int | None:
        """The newest dictionary's id, None while the database has none (its first page trains it)."""
        if self._dict_id is None:
            with self.engine.connect() as conn:
                self._dict_id = newest_loaded(conn)
        return self._dict_id

    def _write(self, page: _Page) -> None:
        prepared = None
        if page.prepared is not None:
            try:
                with cyclic_gc_paused():
                    prepared = page.prepared.result()
                self.parsed_elsewhere += 1
            except BrokenProcessPool:  # a parsing process died: new ones for the next pages
                log.warning("a sign-in parsing process died; its pages are prepared in the writer")
                if page.pool is not None:
                    _discard(page.pool)
            except Exception:  # noqa: BLE001 - failed there: prepared here (raising here too, if it must)
                log.warning("sign-in parsing failed; preparing the page in the writer", exc_info=True)
        if page.spooled is not None and prepared is None:  # not read there: nobody else removes it
            Path(page.spooled).unlink(missing_ok=True)
        try:
            with cyclic_gc_paused(), write_transaction(self.engine) as conn:
                if prepared is None:
                    result = store_signins(conn, page.tenant_id, decode_signin_page(page.body).value)
                else:
                    stored = stored_ids_of(conn, prepared)
                    if stored:
                        signins = decode_signin_page(page.body).value
                        prepared = prepare_signins(
                            conn.dialect, page.tenant_id, signins, prepared.dict_id, stored
                        )
                    result = write_prepared(conn, prepared)
        except Exception as error:  # noqa: BLE001 - handed to the page's submitter
            page.result.set_exception(error)
            return
        page.result.set_result(result)
