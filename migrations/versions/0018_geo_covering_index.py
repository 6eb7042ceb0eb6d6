"""the geo index carries each camera's id and status (PostgreSQL)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 00:10:00.000000

- ``ix_cameras_geo`` on PostgreSQL becomes ``(lat_band, longitude, latitude) INCLUDE
  (id, status)``: a radius search reads ``id``, ``latitude`` and ``longitude`` (and the
  officer's ``status``), so with them in the index PostgreSQL answers it by an
  index-only scan instead of fetching every candidate row from the table
  (docs/BENCHMARKS.md, "Geo search": metro p50 1.1-2 ms to under 1 ms).
- SQLite: nothing changes. ``cameras.id`` is its rowid, which every SQLite index holds
  already, so the search is answered from the index alone ("USING COVERING INDEX")
  as it is; ``status`` only matters to the officer's search, which reads
  ``camera_shares`` per candidate anyway, and a fourth key column would make every
  camera's insert and update dearer for no measured gain.

The index is rebuilt inside the migration's transaction, which holds writes to
``cameras`` while it builds (about a second per 100,000 cameras).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_index('ix_cameras_geo', table_name='cameras')
    op.create_index('ix_cameras_geo', 'cameras', ['lat_band', 'longitude', 'latitude'], unique=False,
                    postgresql_include=['id', 'status'])


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_index('ix_cameras_geo', table_name='cameras')
    op.create_index('ix_cameras_geo', 'cameras', ['lat_band', 'longitude', 'latitude'], unique=False)
