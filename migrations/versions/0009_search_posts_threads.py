"""full-text search for blog posts and forum threads; species GIN indexes without a pending list

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00.000000

Like 0003, the indexes live beside the models (app.search.base.include_name hides them from
autogenerate): on PostgreSQL a weighted tsvector column on post (title A, summary B, body D) and
on forum_thread (title A, tags B, visible opening post D), each with a GIN index, kept current by
app/blog/search_index.py and app/forum/search_index.py; on SQLite an FTS5 table each.

Search GIN indexes are built with fastupdate off. With it on, rows written since the last vacuum
sit in a pending list that every search reads through: after a bulk load of 100,000 species the
names index scanned some 200 pending pages on each query. Writes here are few; searches are many.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

SPECIES_INDEXES = ("ix_species_search_vector", "ix_species_search_names_trgm", "ix_species_search_names_vector")

# Keep in step with app/blog/search_index.py and app/forum/search_index.py.
PG_POST_FILL = """
UPDATE post AS p SET search_vector =
      setweight(to_tsvector('english', coalesce(p.title, '')), 'A')
   || setweight(to_tsvector('english', coalesce(p.summary, '')), 'B')
   || setweight(to_tsvector('english', coalesce(p.body, '')), 'D')
"""
OPENING_POST = ("(SELECT fp.body FROM forum_post fp WHERE fp.thread_id = t.id AND fp.number = 1"
                " AND NOT fp.hidden AND fp.deleted_at IS NULL)")
PG_THREAD_FILL = f"""
UPDATE forum_thread AS t SET search_vector =
      setweight(to_tsvector('english', coalesce(t.title, '')), 'A')
   || setweight(to_tsvector('english', coalesce(t.tags::text, '')), 'B')
   || setweight(to_tsvector('english', coalesce({OPENING_POST}, '')), 'D')
"""
SQLITE_POST_FILL = "INSERT INTO post_fts (post_id, title, summary, body) SELECT p.id, p.title, p.summary, p.body FROM post p"
SQLITE_THREAD_FILL = (f"INSERT INTO forum_thread_fts (thread_id, title, tags, body) "
                      f"SELECT t.id, t.title, coalesce(t.tags, ''), coalesce({OPENING_POST}, '') FROM forum_thread t")


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for index in SPECIES_INDEXES:
            op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
            op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")
        op.add_column('post', sa.Column('search_vector', postgresql.TSVECTOR(), nullable=True))
        op.execute(PG_POST_FILL)
        op.create_index('ix_post_search_vector', 'post', ['search_vector'], unique=False,
                        postgresql_using='gin', postgresql_with={'fastupdate': 'off'})
        op.add_column('forum_thread', sa.Column('search_vector', postgresql.TSVECTOR(), nullable=True))
        op.execute(PG_THREAD_FILL)
        op.create_index('ix_forum_thread_search_vector', 'forum_thread', ['search_vector'], unique=False,
                        postgresql_using='gin', postgresql_with={'fastupdate': 'off'})
    elif dialect == "sqlite":
        op.execute("CREATE VIRTUAL TABLE IF NOT EXISTS post_fts USING fts5("
                   "post_id UNINDEXED, title, summary, body, tokenize = 'unicode61 remove_diacritics 2')")
        op.execute("DELETE FROM post_fts")
        op.execute(SQLITE_POST_FILL)
        op.execute("CREATE VIRTUAL TABLE IF NOT EXISTS forum_thread_fts USING fts5("
                   "thread_id UNINDEXED, title, tags, body, tokenize = 'unicode61 remove_diacritics 2')")
        op.execute("DELETE FROM forum_thread_fts")
        op.execute(SQLITE_THREAD_FILL)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.drop_index('ix_forum_thread_search_vector', table_name='forum_thread')
        op.drop_column('forum_thread', 'search_vector')
        op.drop_index('ix_post_search_vector', table_name='post')
        op.drop_column('post', 'search_vector')
        for index in SPECIES_INDEXES:
            op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
    elif dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS forum_thread_fts")
        op.execute("DROP TABLE IF EXISTS post_fts")
