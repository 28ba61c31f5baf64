"""The migrations build the schema from nothing and agree with the models."""
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
    downgrade(revision="0007")
    schema = inspect(db.engine)
    assert "post_fts" not in schema.get_table_names()
    assert "search_vector" not in {c["name"] for c in schema.get_columns("post")}
    upgrade()
    with app.test_request_context():
        hits, total = search_posts("pruning", 10, 0)
    assert total == 1 and hits[0].title == "Pruning roses"
