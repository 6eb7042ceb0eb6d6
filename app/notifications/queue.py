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

Media jobs (app/clips/processing.py: a clip's probe and working copy, which can take
an hour) have a queue of their own, so a transcode never holds up a notification:
with RQ the ``<name>-media`` queue, which ``flask worker`` turns to last (``--queues``
dedicates a worker to one kind); embedded, MEDIA_CONCURRENCY threads of their own.
Their jobs carry only a clip id, and the job claims the clip, so a duplicate is harmless.
"""
from __future__ import annotations

import atexit
import logging
import queue as stdqueue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from app.common.settings import setting
from app.notifications import delivery
from app.sql import chunks

log = logging.getLogger(__name__)

# RQ names a job's function by its path; app/rq_jobs.py holds them.
JOB = "app.rq_jobs.run_delivery_job"
BOOKKEEPING_JOB = "app.rq_jobs.run_bookkeeping_job"
MEDIA_JOB = "app.rq_jobs.run_media_job"
# An RQ media job outlives the child's time limit by this much before RQ kills it (the
# child is killed 30 s past the limit; storing the copy takes the rest).
MEDIA_JOB_GRACE_S = 600
_WORKER = "porchlight.in_process_worker"
_MEDIA_WORKER = "porchlight.media_worker"
_MEDIA_PROCESS = "porchlight.media_process"
_TICK = "porchlight.tick"
_ENQUEUE_CLIENT = "porchlight.enqueue_redis"
_lock = threading.Lock()
_STOP = object()


def _job_size(app: Flask) -> int:
    return setting("NOTIFICATION_JOB_SIZE", app)


def _hand_off(app: Flask, units: list, rq_jobs: Callable[[], list], *, count: int, what: str, media: bool,
              embedded: Callable[[Flask], Any]) -> None:
    """The one way work leaves the process that recorded it: RQ jobs (``rq_jobs()``, enqueued in one
    pipeline) when REDIS_URL is set, else each unit submitted to the embedded worker that
    ``embedded(app)`` returns (None: this process runs none). A Redis outage is logged, never
    raised: the rows stay pending and the scheduler's tick hands them over again."""
    if not units:
        return
    if not app.config.get("REDIS_URL"):
        worker = embedded(app)
        for unit in units if worker is not None else ():
            worker.submit(unit)
        return
    import redis

    connection = _enqueue_client(app)
    try:
        with connection.pipeline() as pipe:
            rq_queue(app, connection, media=media).enqueue_many(rq_jobs(), pipeline=pipe)
            pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not queue %d %s (%s); the scheduler will queue them again", count, what, exc)


def enqueue_deliveries(app: Flask, ids: Iterable[int]) -> None:
    """Hand these notifications to the configured queue, NOTIFICATION_JOB_SIZE to a job."""
    ids = list(ids)
    batches = list(chunks(ids, _job_size(app)))

    def jobs() -> list:
        import rq

        return [rq.Queue.prepare_data(JOB, args=(batch,), result_ttl=0, failure_ttl=7 * 86400, timeout=600,
                                      description=f"deliver {len(batch)} notifications") for batch in batches]

    _hand_off(app, batches, jobs, count=len(ids), what="notifications", media=False, embedded=ensure_worker)


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


def rq_queue(app: Flask, connection, *, low: bool = False, media: bool = False):
    """The deliveries queue, or (``low``) the bookkeeping one workers turn to when it is empty,
    or (``media``) the media jobs'."""
    import rq

    name = app.config.get("JOB_QUEUE_NAME") or "porchlight"
    return rq.Queue(f"{name}-media" if media else f"{name}-low" if low else name, connection=connection)


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


WORKER_QUEUES = ("all", "notifications", "media")


def worker_queues(app: Flask, connection, which: str = "all") -> list:
    """What a worker listens to, in priority order: deliveries first, bookkeeping when none waits,
    media jobs last (``which`` narrows it to the notification queues or the media one)."""
    notifications = [rq_queue(app, connection), rq_queue(app, connection, low=True)]
    media = [rq_queue(app, connection, media=True)]
    return {"all": notifications + media, "notifications": notifications, "media": media}[which]


def run_worker(app: Flask, *, burst: bool = False, which: str = "all") -> None:
    """Work the app's RQ queues in this process (SimpleWorker: no fork per job)."""
    from rq import SimpleWorker

    connection = redis_connection(app)
    try:
        with delivery.shared_resources(app):
            worker = SimpleWorker(worker_queues(app, connection, which), connection=connection)
            worker.work(burst=burst, with_scheduler=False)
    finally:
        connection.close()


def enqueue_media(app: Flask, clip_ids: Iterable[int]) -> None:
    """Hand these clips to the media queue, one job each."""
    clip_ids = list(clip_ids)

    def jobs() -> list:
        import rq

        timeout = setting("MEDIA_TIME_LIMIT_SECONDS", app) + MEDIA_JOB_GRACE_S
        return [rq.Queue.prepare_data(MEDIA_JOB, args=(clip_id,), result_ttl=0, failure_ttl=7 * 86400,
                                      timeout=timeout, description=f"working copy of clip {clip_id}")
                for clip_id in clip_ids]

    _hand_off(app, clip_ids, jobs, count=len(clip_ids), what="media jobs", media=True, embedded=ensure_media_worker)


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


class MediaWorker:
    """MEDIA_CONCURRENCY threads that make working copies, apart from the notification thread.

    A clip waiting here is not handed over twice; the job itself claims the clip, so one
    also queued by another process is made once.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.process: Callable[[int], object] = app.extensions[_MEDIA_PROCESS]
        self.size = max(1, setting("MEDIA_CONCURRENCY", app))
        self._queue: stdqueue.Queue = stdqueue.Queue()
        self._waiting: set[int] = set()
        self._waiting_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> MediaWorker:
        self.app.extensions[_MEDIA_WORKER] = self
        for n in range(self.size):
            thread = threading.Thread(target=self._run, name=f"porchlight-media-{n + 1}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def submit(self, clip_id: int) -> None:
        with self._waiting_lock:
            if clip_id in self._waiting:
                return
            self._waiting.add(clip_id)
        self._queue.put(clip_id)

    def stop(self, timeout: float = 10) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        if self.app.extensions.get(_MEDIA_WORKER) is self:
            del self.app.extensions[_MEDIA_WORKER]

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            with self._waiting_lock:
                self._waiting.discard(item)
            try:
                with self.app.app_context():
                    self.process(item)
            except Exception:
                # The clip stays pending or processing; the tick hands it over again.
                log.exception("media worker: clip %s failed", item)


def ensure_media_worker(app: Flask) -> MediaWorker | None:
    """The process's media threads, started on first need; None when not embedded."""
    worker = app.extensions.get(_MEDIA_WORKER)
    if worker is not None and worker.alive:
        return worker
    if app.config.get("REDIS_URL") or not app.config.get("RUN_IN_PROCESS_WORKER") or app.testing \
            or _MEDIA_PROCESS not in app.extensions:
        return None
    with _lock:
        worker = app.extensions.get(_MEDIA_WORKER)
        if worker is None or not worker.alive:
            worker = MediaWorker(app).start()
            atexit.register(worker.stop, 10)
            log.info("started %d in-process media worker thread(s) (no REDIS_URL)", worker.size)
    return worker


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


def init_app(app: Flask, tick: Callable[[], object], media_job: Callable[[int], object]) -> None:
    """Give the embedded workers the app's periodic ``tick`` and the media job (a clip id in);
    start the notification worker with the first request served."""
    app.extensions[_TICK] = tick
    app.extensions[_MEDIA_PROCESS] = media_job
    if app.config.get("REDIS_URL") or not app.config.get("RUN_IN_PROCESS_WORKER") or app.config.get("TESTING"):
        return

    @app.before_request
    def _embedded_worker() -> None:
        if _WORKER not in app.extensions:
            ensure_worker(app)
