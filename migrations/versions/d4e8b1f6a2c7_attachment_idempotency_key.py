"""attachments.idempotency_key: one upload per (uploader, Idempotency-Key header)

Revision ID: d4e8b1f6a2c7
Revises: c3d9a7e5f1b2
Create Date: 2026-12-01 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4e8b1f6a2c7'
down_revision = 'c3d9a7e5f1b2'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (no batch): SQLite must not rebuild a table others reference. A unique
    # index, not a constraint, for the same reason; existing rows have no key (NULL), and
    # NULLs never clash on either database.
    op.add_column('attachments', sa.Column('idempotency_key', sa.String(length=200), nullable=True))
    op.create_index(
        'uq_attachments_uploader_key', 'attachments', ['uploader_id', 'idempotency_key'], unique=True
    )


def downgrade():
    op.drop_index('uq_attachments_uploader_key', table_name='attachments')
    op.drop_column('attachments', 'idempotency_key')
