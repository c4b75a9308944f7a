"""attachments.alt: the sender's description of an image (its alt text)

Revision ID: c3d9a7e5f1b2
Revises: b7e1d2c3a4f5
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3d9a7e5f1b2'
down_revision = 'b7e1d2c3a4f5'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (no batch): SQLite must not rebuild a table others reference.
    op.add_column('attachments', sa.Column('alt', sa.String(length=1000), nullable=True))


def downgrade():
    op.drop_column('attachments', 'alt')
