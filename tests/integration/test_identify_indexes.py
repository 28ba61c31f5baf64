"""On PostgreSQL, EXPLAIN shows each hot identification query using its index."""
import uuid

import pytest
from sqlalchemy import text

from app.extensions import db
from app.identify import service
from app.identify.models import Identification
from app.species.models import Species


@pytest.fixture
def pg(app_ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("EXPLAIN plans are checked on PostgreSQL (set TEST_DATABASE_URL)")
    owner = __import__("tests.factories", fromlist=["make_user"]).make_user()
    for i in range(30):
        db.session.add(Identification(owner_id=owner.id, status="completed", cache_key=f"k{i}",
                                      confidence=i / 30))
        db.session.add(Species(scientific_name=f"Genus species{i}", slug=f"genus-species{i}",
                               identification_count=i))
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    # The tables are tiny, so the planner would rightly prefer a scan; forbid it to see the index.
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    yield owner
    db.session.rollback()


def _plan(statement) -> str:
    compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    return "\n".join(row[0] for row in db.session.execute(text(f"EXPLAIN {compiled}")))


def test_history_query_uses_owner_created_index(pg):
    from sqlalchemy import select
    statement = (select(Identification).where(Identification.owner_id == pg.id)
                 .order_by(Identification.created_at.desc(), Identification.id.desc()).limit(21))
    assert "ix_identification_owner_created" in _plan(statement)


def test_high_confidence_query_uses_confidence_created_index(pg):
    from sqlalchemy import select
    statement = (select(Identification).where(Identification.confidence >= service.HIGH_CONFIDENCE)
                 .order_by(Identification.confidence.desc(), Identification.created_at.desc()).limit(20))
    assert "ix_identification_confidence_created" in _plan(statement)


def test_popular_species_query_uses_identification_count_index(pg):
    from sqlalchemy import select
    statement = select(Species).order_by(Species.identification_count.desc()).limit(10)
    assert "ix_species_identification_count" in _plan(statement)


def test_service_history_matches_explained_shape(pg):
    page = service.history(pg.id, None)
    assert len(page.items) == 20 and page.next_cursor
    assert uuid.UUID(page.next_cursor.rsplit("_", 1)[1])
