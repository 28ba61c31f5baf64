"""species search: FTS5 index on SQLite; weighted tsvector, pg_trgm and GIN indexes on PostgreSQL

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 09:00:00.000000

No model columns change here: the search index lives beside the models (a virtual table on
SQLite, two application-maintained columns on PostgreSQL), so autogenerate ignores it through
app.species.search_index.include_name.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# Keep in step with app/species/search_index.py, which maintains these rows afterwards.
PG_REINDEX_ALL = """
UPDATE species AS s SET
  search_names = lower(concat_ws(' ', s.scientific_name, n.names, s.synonyms::text)),
  search_vector =
      setweight(to_tsvector('simple', s.scientific_name), 'A')
   || setweight(to_tsvector('simple', coalesce(n.names, '') || ' ' || coalesce(s.synonyms::text, '')), 'B')
   || setweight(to_tsvector('simple', coalesce(s.family, '') || ' ' || coalesce(s.genus, '')), 'C')
   || setweight(to_tsvector('english', coalesce(s.description, '') || ' ' || coalesce(s.care_notes, '')), 'D')
FROM (SELECT sp.id, (SELECT string_agg(c.name, ' ') FROM species_common_name c WHERE c.species_id = sp.id)
      AS names FROM species sp) AS n
WHERE n.id = s.id
"""
SQLITE_REINDEX_ALL = """
INSERT INTO species_fts (species_id, scientific_name, names, taxonomy, body)
SELECT s.id, s.scientific_name,
       coalesce((SELECT group_concat(c.name, ' ') FROM species_common_name c WHERE c.species_id = s.id), '')
         || ' ' || coalesce(s.synonyms, ''),
       coalesce(s.family, '') || ' ' || coalesce(s.genus, ''),
       coalesce(s.description, '') || ' ' || coalesce(s.care_notes, '')
FROM species s
"""


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.add_column('species', sa.Column('search_names', sa.Text(), nullable=True))
        op.add_column('species', sa.Column('search_vector', postgresql.TSVECTOR(), nullable=True))
        op.create_index('ix_species_search_vector', 'species', ['search_vector'], unique=False,
                        postgresql_using='gin')
        op.create_index('ix_species_search_names_trgm', 'species', ['search_names'], unique=False,
                        postgresql_using='gin', postgresql_ops={'search_names': 'gin_trgm_ops'})
        op.execute(PG_REINDEX_ALL)
    elif dialect == "sqlite":
        op.execute("CREATE VIRTUAL TABLE IF NOT EXISTS species_fts USING fts5("
                   "species_id UNINDEXED, scientific_name, names, taxonomy, body, "
                   "tokenize = 'unicode61 remove_diacritics 2')")
        op.execute("DELETE FROM species_fts")
        op.execute(SQLITE_REINDEX_ALL)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.drop_index('ix_species_search_names_trgm', table_name='species')
        op.drop_index('ix_species_search_vector', table_name='species')
        op.drop_column('species', 'search_vector')
        op.drop_column('species', 'search_names')
    elif dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS species_fts")
