"""search performance: a names-only weighted tsvector on species with its own GIN index

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00.000000

PostgreSQL only, and outside the models like 0003's columns (app.species.search_index.include_name
hides it from autogenerate). Name look-ups ("philo", "snake plant") used the whole-document vector
with a weight filter (`:*ABC`), which the GIN index cannot check, so PostgreSQL re-read thousands of
rows that matched only in descriptions; a vector of the names alone answers them from the index.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# Keep in step with app/species/search_index.py, which maintains the column afterwards.
PG_FILL = """
UPDATE species AS s SET search_names_vector =
      setweight(to_tsvector('simple', s.scientific_name), 'A')
   || setweight(to_tsvector('simple', coalesce(n.names, '') || ' ' || coalesce(s.synonyms::text, '')), 'B')
   || setweight(to_tsvector('simple', coalesce(s.family, '') || ' ' || coalesce(s.genus, '')), 'C')
FROM (SELECT sp.id, (SELECT string_agg(c.name, ' ') FROM species_common_name c WHERE c.species_id = sp.id)
      AS names FROM species sp) AS n
WHERE n.id = s.id
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.add_column('species', sa.Column('search_names_vector', postgresql.TSVECTOR(), nullable=True))
        op.execute(PG_FILL)
        op.create_index('ix_species_search_names_vector', 'species', ['search_names_vector'], unique=False,
                        postgresql_using='gin')


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index('ix_species_search_names_vector', table_name='species')
        op.drop_column('species', 'search_names_vector')
