"""The job queue: RQ on Redis when REDIS_URL is set, else a worker thread in the app process.

Jobs carry only notification ids; everything else is read from the database when the
job runs, so a job that runs twice or late does no harm (delivery claims its rows).

- RQ: ``flask worker`` runs an RQ worker (``rq worker`` works too: the job functions,
  in app/rq_jobs.py, build the app from the environment when they find none);
  ``flask jobs run`` runs the scheduler loop beside it.
- Embedded: one daemon thread per app process delivers and runs the periodic tick
  (app/jobs.py, handed over by create_app through :func:`init_app`). It starts with
  the first request the process serves, never at import or in a CLI command: so
  `flask db upgrade` starts no thread, the reloader's watching parent (which serves
  nothing) neither, and gunicorn's forked workers each start their own. Tests
  (TESTING) never start it; they deliver explicitly.
"""
from __future__ import annotations

import atexit
import logging
import queue as stdqueue
import threading
import time
from collections.abc import Callable, Iterable

from flask import Flask

from app.common.settings import setting
from app.notifications import delivery
from app.sql import chunks

log = logging.getLogger(__name__)

# RQ names a job's function by its path; app/rq_jobs.py holds them.
JOB = "app.rq_jobs.run_delivery_job"
BOOKKEEPING_JOB = "app.rq_jobs.run_bookkeeping_job"
_WORKER = "porchlight.in_process_worker"
_TICK = "porchlight.tick"
_ENQUEUE_CLIENT = "porchlight.enqueue_redis"
_lock = threading.Lock()
_STOP = object()


def _job_size(app: Flask) -> int:
    return setting("NOTIFICATION_JOB_SIZE", app)


def enqueue_deliveries(app: Flask, ids: Iterable[int]) -> None:
    """Hand these notifications to the configured queue. Never raises for a queue outage:
    the rows stay pending and the scheduler's tick hands them over again."""
    ids = list(ids)
    if not ids:
        return
    if app.config.get("REDIS_URL"):
        _rq_enqueue(app, ids)
        return
    worker = ensure_worker(app)
    if worker is not None:
        for batch in chunks(ids, _job_size(app)):
            worker.submit(batch)


# --- RQ ------------------------------------------------------------------------------------------
# redis and rq are imported where they are used: an app without REDIS_URL never needs
# them, and they add 0.15 s to the start of every process.

def redis_connection(app: Flask):
    import redis

    return redis.Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=10)


def _enqueue_client(app: Flask):
    """The app's Redis client for enqueueing, kept between calls: connecting anew cost each
    officer's POST about 1 ms of its 1.7 ms enqueue (bench/load.py). Thread-safe (a pool);
    gunicorn builds the app after forking, so no process shares another's sockets."""
    url = app.config["REDIS_URL"]
    cached = app.extensions.get(_ENQUEUE_CLIENT)
    if cached is None or cached[0] != url:
        cached = app.extensions[_ENQUEUE_CLIENT] = (url, redis_connection(app))
    return cached[1]


def rq_queue(app: Flask, connection, *, low: bool = False):
    """The deliveries queue, or (``low``) the bookkeeping one workers turn to when it is empty."""
    import rq

    name = app.config.get("JOB_QUEUE_NAME") or "porchlight"
    return rq.Queue(f"{name}-low" if low else name, connection=connection)


def _rq_enqueue(app: Flask, ids: list[int]) -> None:
    import redis
    import rq

    connection = _enqueue_client(app)
    try:
        jobs = [rq.Queue.prepare_data(JOB, args=(batch,), result_ttl=0, failure_ttl=7 * 86400, timeout=600,
                                      description=f"deliver {len(batch)} notifications")
                for batch in chunks(ids, _job_size(app))]
        with connection.pipeline() as pipe:
            rq_queue(app, connection).enqueue_many(jobs, pipeline=pipe)
            pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not queue %d notifications (%s); the scheduler will queue them again", len(ids), exc)


def enqueue_bookkeeping(app: Flask, ask_ids: list[int]) -> None:
    """Hand asks to mark notified to the low-priority queue, which workers turn to when no delivery waits."""
    import redis

    if not ask_ids:
        return
    connection = redis_connection(app)
    try:
        rq_queue(app, connection, low=True).enqueue(BOOKKEEPING_JOB, ask_ids, result_ttl=0,
                                                     failure_ttl=7 * 86400, job_timeout=600)
    except redis.RedisError as exc:
        log.warning("could not queue ask bookkeeping (%s); the scheduler catches up", exc)
    finally:
        connection.close()


def worker_queues(app: Flask, connection) -> list:
    """What a worker listens to, in priority order: deliveries first, bookkeeping when none waits."""
    return [rq_queue(app, connection), rq_queue(app, connection, low=True)]


def run_worker(app: Flask, *, burst: bool = False) -> None:
    """Work the app's RQ queue in this process (SimpleWorker: no fork per job)."""
    from rq import SimpleWorker

    connection = redis_connection(app)
    try:
        with delivery.shared_resources(app):
            worker = SimpleWorker(worker_queues(app, connection), connection=connection)
            worker.work(burst=burst, with_scheduler=False)
    finally:
        connection.close()


# --- embedded ------------------------------------------------------------------------------------

class InProcessWorker:
    """Delivers batches handed to it and runs the app's tick every SCHEDULER_INTERVAL_SECONDS."""

    def __init__(self, app: Flask, *, scheduler: bool = True) -> None:
        self.app = app
        self.scheduler = scheduler
        self.tick: Callable[[], object] = app.extensions[_TICK]
        self.interval = max(1, setting("SCHEDULER_INTERVAL_SECONDS", app))
        self._queue: stdqueue.Queue = stdqueue.Queue()
        self._reached: list[int] = []  # asks to mark notified when no delivery waits
        self._thread: threading.Thread | None = None

    def start(self) -> InProcessWorker:
        """Start the thread; from now on the app's enqueues (the tick's too) come here."""
        self._thread = threading.Thread(target=self._run, name="porchlight-worker", daemon=True)
        self.app.extensions[_WORKER] = self
        self._thread.start()
        return self

    def submit(self, ids: list[int]) -> None:
        self._queue.put(list(ids))

    def stop(self, timeout: float = 30) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None
        if self.app.extensions.get(_WORKER) is self:
            del self.app.extensions[_WORKER]

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        with delivery.shared_resources(self.app):
            next_tick = time.monotonic()  # at once: pick up what a previous process left
            while True:
                if self._queue.empty() and self._reached:
                    reached, self._reached = self._reached, []
                    self._guarded(lambda ids=reached: delivery.mark_asks_notified(ids))
                wait = max(0.0, next_tick - time.monotonic()) if self.scheduler else None
                try:
                    item = self._queue.get(timeout=wait)
                except stdqueue.Empty:
                    item = None
                stop = item is _STOP
                ids = [] if stop or not item else list(item)
                # Everything waiting goes out as one delivery, whose batches overlap.
                while not stop and len(ids) < 2000:
                    try:
                        more = self._queue.get_nowait()
                    except stdqueue.Empty:
                        break
                    stop = more is _STOP
                    ids += [] if stop else more
                if ids:
                    self._guarded(lambda ids=ids: self._deliver(ids))
                if stop:
                    return
                if self.scheduler and time.monotonic() >= next_tick:
                    self._guarded(self.tick)
                    next_tick = time.monotonic() + self.interval

    def _guarded(self, work) -> None:
        try:
            with self.app.app_context():
                work()
        except Exception:
            # The rows stay pending or sending; the next tick recovers them.
            log.exception("in-process worker: a job failed")

    def _deliver(self, ids: list[int]) -> None:
        report = delivery.deliver(ids, mark_asks=False)
        self._reached += report.reached
        for batch in chunks(report.follow_up, _job_size(self.app)):
            self._queue.put(batch)


def ensure_worker(app: Flask) -> InProcessWorker | None:
    """The process's running in-process worker, started on first need; None when not embedded."""
    worker = app.extensions.get(_WORKER)
    if worker is not None and worker.alive:
        return worker
    if app.config.get("REDIS_URL") or not app.config.get("RUN_IN_PROCESS_WORKER") or app.testing:
        return None
    with _lock:
        worker = app.extensions.get(_WORKER)
        if worker is None or not worker.alive:
            worker = InProcessWorker(app).start()
            atexit.register(worker.stop, 10)
            log.info("started the in-process notification worker (no REDIS_URL)")
    return worker


def init_app(app: Flask, tick: Callable[[], object]) -> None:
    """Give the embedded worker the app's periodic ``tick``; start it with the first request served."""
    app.extensions[_TICK] = tick
    if app.config.get("REDIS_URL") or not app.config.get("RUN_IN_PROCESS_WORKER") or app.config.get("TESTING"):
        return

    @app.before_request
    def _embedded_worker() -> None:
        if _WORKER not in app.extensions:
            ensure_worker(app)
