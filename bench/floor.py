"""The floor of bench/load.py: a request's own SQL, captured from the app, replayed through bare psycopg.

A scenario's floor is what PostgreSQL and the driver alone can do of the work one request
asks of them: the exact statements the app issued for a real request (captured here with
SQLAlchemy's cursor events on the app under test, parameters and all), replayed on as many
connections as the app has (gunicorn workers × threads, as processes × threads here), with
no Flask, no ORM and no serialisation of our own. Everything the driver does for the app it
does for the floor too: the same statements (psycopg prepares them after a few uses either
way), the same bound parameters and JSON adaptation, every row fetched, the pool's pre-ping
(``SELECT 1`` at each checkout), the same commits and rollbacks.

Writes must really write, so a replayed request gets fresh values where the database would
refuse the captured ones or where repeating them would do less work (a row already updated):

- values named by the scenario (an ask, its owner, its request, the owner's session key) are
  replaced wherever they occur, in JSON parameters too;
- an id the database gave the app (a new request's, from ``RETURNING``) is replaced by what
  the replayed statement returned, row for row;
- the audit chain's head hands out sequence numbers and the previous hash: the replay takes
  its own, and hashes each event (SHA-256) onto the chain, as the app does.

Identities must be distinctive for this to be sound (an ask id that equals a LIMIT would be
replaced too): bench/load.py starts the sequences of users, requests and asks in ranges of
their own. And every replayed write is checked: an INSERT, UPDATE or DELETE that touches a
different number of rows than the app's did counts as an error, so a substitution that went
wrong shows up rather than flattering the floor.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Json, Jsonb

_AUDIT_INSERT = re.compile(r"^\s*INSERT INTO audit_events\b")
_AUDIT_HEAD_BUMP = re.compile(r"^\s*UPDATE audit_chain_head SET length=.*RETURNING", re.S)
_CHAIN_PARAM = re.compile(r"^(seq|prev_hash|hash)(?:__(\d+))?$")
_DML = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.I)
# Ids learnt from returned rows are replaced only when they cannot be mistaken for anything else.
DISTINCTIVE_INT = 1_000_000


@dataclass
class Statement:
    sql: str
    params: Any  # a dict, or a list of dicts for executemany
    rowcount: int
    returned: list[tuple] | None  # the rows the app got (a SELECT's or a RETURNING clause's)


@dataclass
class Request:
    """What one request did to the database: checkouts (pre-ping), statements, commits, rollbacks."""
    steps: list[Statement | str] = field(default_factory=list)

    def describe(self) -> str:
        statements = [s for s in self.steps if isinstance(s, Statement)]
        return (f"{len(statements)} statements, {self.steps.count('checkout')} checkouts, "
                f"{self.steps.count('commit')} commits, {self.steps.count('rollback')} rollbacks")


class Capture:
    """Records the SQL an engine's connections run while ``recording`` (one request at a time)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.pre_ping = bool(engine.pool._pre_ping)
        self._current: Request | None = None
        sa.event.listen(engine, "after_cursor_execute", self._after)
        sa.event.listen(engine, "commit", lambda _conn: self._step("commit"))
        sa.event.listen(engine, "rollback", lambda _conn: self._step("rollback"))
        sa.event.listen(engine.pool, "checkout", lambda *_args: self._step("checkout"))

    def _step(self, step: str) -> None:
        if self._current is not None:
            self._current.steps.append(step)

    def _after(self, _conn, cursor, statement, parameters, _context, _executemany) -> None:
        if self._current is None:
            return
        returned = None
        if cursor.description is not None and not isinstance(parameters, list):
            # A client-side psycopg cursor holds the whole result: read it, then rewind it for SQLAlchemy.
            returned = [tuple(row) for row in cursor.fetchall()]
            if returned:
                cursor.scroll(0, mode="absolute")
        self._current.steps.append(Statement(statement, parameters, cursor.rowcount, returned))

    def record(self, make_request: Callable[[], Any]) -> tuple[Any, Request]:
        self._current = Request()
        try:
            result = make_request()
            return result, self._current
        finally:
            self._current = None


# --- replay ----------------------------------------------------------------------------------------

def _substitute(value: Any, values: dict) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, str)):
        return values.get(value, value)
    if isinstance(value, Jsonb):
        return Jsonb(_substitute(value.obj, values))
    if isinstance(value, Json):
        return Json(_substitute(value.obj, values))
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_substitute(v, values) for v in value)
    return value


class Fresh:
    """The values one replayed request uses instead of the captured ones."""

    def __init__(self, values: dict | None = None) -> None:
        self.values: dict = {}
        for old, new in (values or {}).items():
            self.values[old] = new
            if isinstance(old, int) and not isinstance(old, bool):
                self.values[str(old)] = str(new)  # audit target ids are ids as text
        self.seq_offset = 0

    def params(self, statement: Statement) -> Any:
        params = _substitute(statement.params, self.values)
        if _AUDIT_INSERT.match(statement.sql) and isinstance(params, dict):
            self._chain(statement.params, params)
        return params

    def _chain(self, captured: dict, params: dict) -> None:
        """Renumber the events from this replay's head and hash each onto the chain, in order."""
        events: dict[int, dict[str, str]] = {}
        for name in captured:
            match = _CHAIN_PARAM.match(name)
            if match:
                events.setdefault(int(match.group(2) or 0), {})[match.group(1)] = name
        for index in sorted(events):
            names = events[index]
            params[names["seq"]] = captured[names["seq"]] + self.seq_offset
            previous = self.values.get(captured[names["prev_hash"]], captured[names["prev_hash"]])
            params[names["prev_hash"]] = previous
            new_hash = hashlib.sha256(f"{previous}{captured[names['hash']]}".encode()).hexdigest()
            params[names["hash"]] = self.values[captured[names["hash"]]] = new_hash

    def learn(self, statement: Statement, rows: list[tuple]) -> None:
        if _AUDIT_HEAD_BUMP.match(statement.sql):
            (old_length, old_hash), (new_length, new_hash) = statement.returned[0], rows[0]
            self.seq_offset = new_length - old_length
            self.values[old_hash] = new_hash
            return
        for old_row, new_row in zip(statement.returned or [], rows, strict=False):
            for old, new in zip(old_row, new_row, strict=True):
                if isinstance(old, int) and not isinstance(old, bool) and old >= DISTINCTIVE_INT and old != new:
                    self.values[old], self.values[str(old)] = new, str(new)


class ReplayError(Exception):
    pass


def replay(connection, request: Request, fresh: Fresh, pre_ping: bool) -> None:
    """One request's SQL on a psycopg connection, as the app's engine ran it."""
    cursor = connection.cursor()
    try:
        for step in request.steps:
            if step == "checkout":
                if pre_ping:
                    cursor.execute("SELECT 1")  # SQLAlchemy's pre-ping on psycopg
                    cursor.fetchall()
            elif step == "commit":
                connection.commit()
            elif step == "rollback":
                connection.rollback()
            else:
                params = fresh.params(step)
                if isinstance(params, list):
                    cursor.executemany(step.sql, params)
                else:
                    cursor.execute(step.sql, params)
                rows = cursor.fetchall() if cursor.description is not None else None
                if step.returned is not None:
                    fresh.learn(step, rows)
                if _DML.match(step.sql) and not isinstance(params, list) and cursor.rowcount != step.rowcount:
                    raise ReplayError(f"{step.sql.split()[0:3]} touched {cursor.rowcount} rows, the app's "
                                      f"{step.rowcount}")
    except Exception:
        connection.rollback()
        raise
    finally:
        cursor.close()


# --- the run ---------------------------------------------------------------------------------------

# next_request(process, thread, n) -> (the captured request, its fresh values), or None when the
# scenario has run out of fresh rows (approvals); it runs in the forked processes.
NextRequest = Callable[[int, int, int], "tuple[Request, Fresh] | None"]


def _thread(dsn: str, pre_ping: bool, next_request: NextRequest, process: int, thread: int,
            start_at: float, stop_at: float, out: dict) -> None:
    import psycopg

    latencies, errors, exhausted = [], [], False
    with psycopg.connect(dsn) as connection:
        while time.time() < start_at:
            time.sleep(0.001)
        n = 0
        while time.time() < stop_at:
            item = next_request(process, thread, n)
            n += 1
            if item is None:
                exhausted = True
                break
            request, fresh = item
            started = time.perf_counter()
            try:
                replay(connection, request, fresh, pre_ping)
            except Exception as exc:  # counted, as a non-2xx answer of the app's would be
                if len(errors) < 5:
                    errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
                out["error_count"] = out.get("error_count", 0) + 1
                continue
            latencies.append(time.perf_counter() - started)
    out.update(latencies=latencies, errors=errors, exhausted=exhausted, ended=time.time())


def _process(dsn, pre_ping, next_request, process, threads, start_at, stop_at, queue) -> None:
    outs = [{} for _ in range(threads)]
    try:
        workers = [threading.Thread(target=_thread, args=(dsn, pre_ping, next_request, process, t, start_at,
                                                          stop_at, outs[t])) for t in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        queue.put(outs)
    except Exception:
        queue.put([{"latencies": [], "errors": [traceback.format_exc()], "error_count": 1, "exhausted": False,
                    "ended": time.time()}])


def run(dsn: str, next_request: NextRequest, *, processes: int, threads: int, duration: float,
        pre_ping: bool) -> dict:
    """Replay requests on processes × threads connections for ``duration`` seconds; throughput and latency."""
    context = multiprocessing.get_context("fork")  # next_request is a closure: inherited, never pickled
    queue = context.Queue()
    start_at = time.time() + 1.0  # every connection open before the clock starts
    stop_at = start_at + duration
    children = [context.Process(target=_process, args=(dsn, pre_ping, next_request, p, threads, start_at,
                                                       stop_at, queue)) for p in range(processes)]
    for child in children:
        child.start()
    outs = [out for _ in children for out in queue.get(timeout=duration + 120)]
    for child in children:
        child.join()
    latencies = sorted(x for out in outs for x in out.get("latencies", []))
    errors = sum(out.get("error_count", 0) for out in outs)
    exhausted = any(out.get("exhausted") for out in outs)
    # A scenario that ran out of fresh rows stopped early: its rate is over the time it ran.
    elapsed = (max(out["ended"] for out in outs) - start_at) if exhausted else duration

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else 0.0

    return {"requests": len(latencies), "rps": round(len(latencies) / elapsed, 1), "errors": errors,
            "error_samples": [e for out in outs for e in out.get("errors", [])][:5], "exhausted": exhausted,
            "seconds": round(elapsed, 2), "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
            "max_ms": round(latencies[-1] * 1000, 2) if latencies else 0.0}
