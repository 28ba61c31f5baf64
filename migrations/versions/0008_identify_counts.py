"""identification counts and health: each identification records when it was counted; and whether a health check was asked, and its answer

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:00:00.000000

Before this revision every finished identification updated its species' counters in its own
transaction (a hot row for popular species, and a species-page cache flush per identification).
Now a periodic job adds the finished, uncounted ones in one batch. The rows finished before this
revision were already counted, so they are marked counted here.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('identification') as batch:
        batch.add_column(sa.Column('counted_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('wants_health', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('health', sa.JSON(), nullable=True))
    op.execute("UPDATE identification SET counted_at = COALESCE(finished_at, updated_at) "
               "WHERE status IN ('completed', 'partial')")
    op.create_index('ix_identification_uncounted', 'identification', ['finished_at'], unique=False,
                    postgresql_where=sa.text('counted_at IS NULL'), sqlite_where=sa.text('counted_at IS NULL'))


def downgrade():
    op.drop_index('ix_identification_uncounted', table_name='identification')
    with op.batch_alter_table('identification') as batch:
        batch.drop_column('health')
        batch.drop_column('wants_health')
        batch.drop_column('counted_at')
