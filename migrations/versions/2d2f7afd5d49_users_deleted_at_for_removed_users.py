"""users.deleted_at for removed users

Revision ID: 2d2f7afd5d49
Revises: 94dee04656c7
Create Date: 2026-11-28 14:32:15.150628

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2d2f7afd5d49'
down_revision = '94dee04656c7'
branch_labels = None
depends_on = None


def upgrade():
    # A nullable column without default: an instant ALTER on PostgreSQL and SQLite, and code
    # from before this revision keeps working on the upgraded schema (rolling upgrades).
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(), nullable=True))


def downgrade():
    # recreate="never": SQLite (3.35+) drops the column in place. A batch "move and copy"
    # would DROP TABLE users, and with foreign_keys=ON that cascades to sessions.
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('deleted_at')
