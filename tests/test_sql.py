"""The SQL every domain writes the same way on both databases (app/sql.py)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from app.extensions import db
from app.footage.models import Ask, AskState
from app.sql import insert_rows
from tests import factories


def test_insert_rows_writes_what_an_executemany_writes_in_order(app, world):
    """One INSERT ... SELECT from a JSON array: the same values (enums, UTC timestamps from any zone,
    floats, NULLs, quotes and non-ASCII text) as an executemany, and the ids in the rows' order."""
    request = factories.footage_request(world.agency, world.officer)
    cameras = [factories.camera(world.owner, 43.0389 + i * 0.0001, -87.9065) for i in range(6)]
    db.session.flush()
    now = datetime(2026, 3, 8, 7, 59, 58, 123456, tzinfo=UTC)
    elsewhere = datetime(2026, 3, 8, 2, 0, 1, 999999, tzinfo=timezone(timedelta(hours=-6)))
    labels = ['Porch "front"', "Garage's", "Cámara 3 — 门", "", "back\\slash", "x" * 120]

    def rows(first: int) -> list[dict]:
        return [{"camera_id": camera.id, "owner_id": world.owner.id,
                 "state": AskState.DECLINED if i % 2 else AskState.QUEUED, "reply_code": f"{first + i:04d}",
                 "distance_m": 0.1 + i / 3, "camera_label": label, "answered_via": "filter" if i % 2 else None,
                 "responded_at": elsewhere if i % 2 else None, "closed_at": now if i % 2 else None}
                for i, (camera, label) in enumerate(zip(reversed(cameras), labels, strict=True))]

    insert_rows(Ask.__table__, rows(0), request_id=request.id, created_at=now)
    other = factories.footage_request(world.agency, world.officer)
    executemany = [{**row, "request_id": other.id, "created_at": now} for row in rows(10)]
    db.session.execute(sa.insert(Ask.__table__), executemany)
    db.session.commit()

    def written(request_id: int) -> list[tuple]:
        return [tuple(row) for row in db.session.execute(
            sa.select(Ask.camera_id, Ask.owner_id, Ask.state, Ask.distance_m, Ask.camera_label, Ask.answered_via,
                      Ask.responded_at, Ask.closed_at, Ask.created_at)
            .where(Ask.request_id == request_id).order_by(Ask.id))]

    assert written(request.id) == written(other.id)
    assert [camera_id for camera_id, *_ in written(request.id)] == [c.id for c in reversed(cameras)]
    assert written(request.id)[1][6] == elsewhere  # the same instant, read back in UTC


def test_insert_rows_of_nothing_writes_nothing(app, world):
    insert_rows(Ask.__table__, [], request_id=1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ask)) == 0
