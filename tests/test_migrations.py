"""Migrations: one head, named revisions, an upgrade from empty on both databases that
matches the models exactly, and a clean downgrade."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from app import create_app
from app.audit.models import GENESIS_HASH
from app.extensions import db
from tests.conftest import DATABASES, scratch_pg_database

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _scripts() -> ScriptDirectory:
    from alembic.config import Config

    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def test_single_head():
    assert len(_scripts().get_heads()) == 1


def test_every_revision_has_a_message():
    for revision in _scripts().walk_revisions():
        assert revision.doc and revision.doc.strip(), f"revision {revision.revision} has no message"
        assert not revision.doc.lower().startswith("empty message")


@pytest.fixture(params=DATABASES)
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    else:
        with scratch_pg_database("mig") as url:
            yield url


def test_upgrade_from_empty_matches_models(empty_database_url):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
            head = conn.execute(sa.text("SELECT length, last_hash FROM audit_chain_head WHERE id = 1")).one()
        assert differences == [], f"models and migrations disagree: {differences}"
        assert tuple(head) == (0, GENESIS_HASH)
        downgrade(revision="base")
        with db.engine.connect() as conn:
            remaining = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        db.engine.dispose()
