"""The background worker: APScheduler in its own process (never inside Streamlit, where it would
duplicate itself on cache clears and across replicas).

One worker collects per database: at start it takes the database's worker lock (db.worker_lock); a
second worker started by mistake logs who holds it, waits, and takes over when the holder stops or dies.
Only the holder answers "collect now" (the collect_requests table), so requests made from any dashboard
replica are served by whichever worker collects."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine, update

from alerts.delivery import deliver_due
from alerts.reports import queue_weekly_reports
from alerts.state import evaluate_alerts, purge_alert_history
from collectors.run import collect_once, purge, refresh_statistics
from connectors.auth import close_credentials
from db import write_transaction
from db.models import CollectRequest
from db.queries import pending_collect_request
from db.signin_pipeline import start_parsers, stop_parsers
from db.worker_lock import WorkerLock
from graphjson.times import utcnow
from settings import Settings

log = logging.getLogger("perimeter.worker")

REQUEST_POLL_SECONDS = 5
FULL_JOB = "full"
COLLECT_NOW_JOB = "collect-now"
ALERTS_JOB = "alert-delivery"
LOCK_POLL_SECONDS = 5  # a waiting worker tries the lock this often
LOCK_CHECK_SECONDS = 30  # the holder checks this often that its PostgreSQL session still holds it
EXIT_LOCK_LOST = 1  # the holder lost the lock to another worker: a supervisor restarts it as a waiter


class Worker:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.scheduler = BlockingScheduler(
            # Collection jobs share one thread, so two cycles never race on a tenant's watermark;
            # polling for "collect now" has its own, so it is never stuck behind a long cycle.
            # Alert delivery has its own thread too: a message is never held up by a collection.
            executors={
                "default": ThreadPoolExecutor(1),
                "poll": ThreadPoolExecutor(1),
                "alerts": ThreadPoolExecutor(1),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            timezone=UTC,
        )
        self.lock = WorkerLock(engine)
        self._stopping = threading.Event()
        self.lock_lost = False

    def full_cycle(self) -> None:
        started = utcnow()
        try:
            report = collect_once(self.settings, self.engine)
            result = f"{report.runs_ok} sources collected, {len(report.errors)} errors"
            log.info(
                "full cycle: %d tenants, %d ok, %d errors, %d sign-ins",
                report.tenants,
                report.runs_ok,
                len(report.errors),
                report.signins_stored,
            )
        except Exception as error:  # noqa: BLE001 - the worker keeps running
            log.exception("full cycle failed")
            result = f"failed: {error}"
        # Requests picked up before this cycle started are answered by it.
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(CollectRequest)
                .where(CollectRequest.done_at.is_(None), CollectRequest.picked_at <= started)
                .values(done_at=utcnow(), result=result)
            )
        self.alerts_after_cycle()

    def alerts_after_cycle(self) -> None:
        """Alerts judge the data the cycle just stored; weekly reports are queued when due. Both only
        write the database (the outbox): the delivery job sends, so a worker killed here loses nothing."""
        now = utcnow()
        try:
            log.info("alerts: %s", evaluate_alerts(self.engine, self.settings, now))
            queued = queue_weekly_reports(self.engine, self.settings, now)
            if queued:
                log.info("weekly reports queued for %d audience(s)", queued)
        except Exception:  # noqa: BLE001 - the worker keeps collecting
            log.exception("alert evaluation failed")

    def deliver_alerts(self) -> None:
        result = deliver_due(self.engine, self.settings, utcnow())
        if result["sent"] or result["failed"]:
            log.info("alerts delivered: %s", result)

    def signin_cycle(self) -> None:
        report = collect_once(self.settings, self.engine, signins_only=True)
        log.info("sign-in cycle: %d sign-ins, %d errors", report.signins_stored, len(report.errors))

    def retention(self) -> None:
        log.info("retention purge: %s", purge(self.settings, self.engine))
        refresh_statistics(self.engine)
        with write_transaction(self.engine) as conn:
            before = utcnow() - timedelta(days=self.settings.run_history_days)
            log.info("alert history purged: %d rows", purge_alert_history(conn, before))

    def answer_collect_requests(self) -> None:
        """ "Collect now" from the dashboard queues one extra full cycle.

        A separate one-off job rather than moving the periodic job's next run: a periodic job that
        is still running would be skipped (max_instances) and the request lost. The single
        collection thread runs it as soon as any running cycle ends."""
        with self.engine.connect() as conn:
            request = pending_collect_request(conn)
        if request is None or request.picked_at is not None:
            return
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(CollectRequest).where(CollectRequest.picked_at.is_(None)).values(picked_at=utcnow())
            )
        self.scheduler.add_job(self.full_cycle, id=COLLECT_NOW_JOB, replace_existing=True)
        log.info("collect-now requested by %s", request.requested_by)

    def wait_for_lock(self) -> bool:
        """Take the worker lock, waiting as long as another worker holds it. False: stopped while
        waiting (SIGTERM), nothing collected."""
        if self.lock.try_acquire():
            return True
        log.warning(
            "another worker already collects into this database (%s): this one waits and takes over "
            "when it stops (checking every %ss)",
            self.lock.holder(),
            LOCK_POLL_SECONDS,
        )
        while not self._stopping.wait(LOCK_POLL_SECONDS):
            try:
                if self.lock.try_acquire():
                    log.info("the other worker stopped: this worker holds the lock and collects now")
                    return True
            except Exception as error:  # noqa: BLE001 - e.g. the database restarting: keep waiting
                log.warning("cannot try the worker lock yet: %s", error)
        return False

    def check_lock(self) -> None:
        """The PostgreSQL session holding the lock can be cut (server restart, network) and the lock
        with it: take it again, or stop collecting if another worker has it by now."""
        if self.lock.still_held():
            return
        self.lock.release()
        try:
            if self.lock.try_acquire():
                log.warning("the worker lock's database session was lost; the lock is taken again")
                return
            holder = self.lock.holder()
        except Exception as error:  # noqa: BLE001 - the database is away: try again at the next check
            log.warning("the worker lock's database session was lost and cannot be renewed yet: %s", error)
            return
        log.error("another worker took the lock (%s): this worker stops collecting", holder)
        self.lock_lost = True
        self.scheduler.shutdown(wait=False)

    def run(self) -> int:
        """Collect until SIGTERM/SIGINT; the process's exit status (EXIT_LOCK_LOST when another worker
        took over)."""

        def stop(*_: object) -> None:
            # Ctrl-C reaches the whole process group and the launcher then sends SIGTERM too.
            self._stopping.set()
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if not self.wait_for_lock():
            log.info("worker stopped while waiting for the lock")
            return 0
        try:
            start_parsers()  # the sign-in parsing processes live as long as the worker (db.signin_pipeline)
            self._schedule_and_run()
        finally:
            stop_parsers()
            self.lock.release()
        return EXIT_LOCK_LOST if self.lock_lost else 0

    def _schedule_and_run(self) -> None:
        now = datetime.now(UTC)
        s = self.settings
        self.scheduler.add_job(
            self.full_cycle, "interval", seconds=s.collect_interval_seconds, next_run_time=now, id=FULL_JOB
        )
        self.scheduler.add_job(self.signin_cycle, "interval", seconds=s.signin_interval_seconds, id="signins")
        self.scheduler.add_job(
            self.answer_collect_requests,
            "interval",
            seconds=REQUEST_POLL_SECONDS,
            id="requests",
            executor="poll",
        )
        self.scheduler.add_job(self.retention, "interval", hours=6, next_run_time=now, id="purge")
        self.scheduler.add_job(
            self.deliver_alerts,
            "interval",
            seconds=s.alert_delivery_interval_seconds,
            next_run_time=now,
            id=ALERTS_JOB,
            executor="alerts",
        )
        self.scheduler.add_job(
            self.check_lock, "interval", seconds=LOCK_CHECK_SECONDS, id="lock", executor="poll"
        )
        # APScheduler logs every run of every job at INFO (the poll job runs every 5 s).
        logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
        if self._stopping.is_set():  # SIGTERM just as the lock was taken
            return
        log.info(
            "worker started: full every %ss, sign-ins every %ss",
            s.collect_interval_seconds,
            s.signin_interval_seconds,
        )
        self.scheduler.start()
        # Stopped: the credentials kept for the process's life (connectors.auth) let go of their
        # sessions. A cycle still running in the collection thread only loses its remaining tokens.
        asyncio.run(close_credentials())
        log.info("worker stopped")
