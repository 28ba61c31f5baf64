"""The migrations build the schema from nothing and agree with the models."""
import uuid
from datetime import datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.extensions import db
from app.search.base import include_name


def test_migrations_built_every_model_table(app_ctx):
    tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(app_ctx):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "render_as_batch": True,
                                                         "include_name": include_name})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_search_revision_downgrades_and_upgrades_refilling_the_index(app, app_ctx):
    from flask_migrate import downgrade, upgrade

    from app.blog.service import search_posts
    from tests.factories import make_post

    make_post(title="Pruning roses")
    db.session.remove()
    downgrade(revision="0008")
    schema = inspect(db.engine)
    assert "post_fts" not in schema.get_table_names()
    assert "search_vector" not in {c["name"] for c in schema.get_columns("post")}
    upgrade()
    with app.test_request_context():
        hits, total = search_posts("pruning", 10, 0)
    assert total == 1 and hits[0].title == "Pruning roses"


def test_counts_revision_marks_earlier_results_counted(app, app_ctx):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    db.session.remove()
    downgrade(revision="0007")
    assert "counted_at" not in {c["name"] for c in inspect(db.engine).get_columns("identification")}
    with db.engine.begin() as conn:
        # Finished before the revision: its species were counted the old way, one at a time.
        for status in ("completed", "failed"):
            conn.execute(text("INSERT INTO identification (id, status, cache_key, providers, partial, is_public, "
                              "demo, from_cache, attempts, created_at, updated_at, finished_at) VALUES "
                              "(:id, :status, 'k', '[]', false, false, false, false, 1, :now, :now, :now)"),
                         {"id": uuid.uuid4().hex if conn.dialect.name == "sqlite" else uuid.uuid4(),
                          "status": status, "now": datetime.now(timezone.utc)})
    upgrade()
    with db.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT status, counted_at IS NOT NULL FROM identification")).all())
        assert conn.execute(text("SELECT count(*) FROM identification WHERE wants_health")).scalar() == 0
    assert rows == {"completed": True, "failed": False}
