"""edits, deletes and blocks: messages gain edited_at and deleted_at; blocks table

A deleted message stays as a tombstone (content erased, deleted_at set); blocks holds who
blocked whom, with an index for "who blocked me".

Revision ID: b7e1d2c3a4f5
Revises: 5b7e2c9d41a3
Create Date: 2026-12-02 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e1d2c3a4f5'
down_revision = '5b7e2c9d41a3'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (no batch): SQLite must not rebuild messages, which attachments reference.
    op.add_column('messages', sa.Column('edited_at', sa.DateTime(), nullable=True))
    op.add_column('messages', sa.Column('deleted_at', sa.DateTime(), nullable=True))
    op.create_table('blocks',
    sa.Column('blocker_id', sa.String(length=32), nullable=False),
    sa.Column('blocked_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['blocked_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['blocker_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('blocker_id', 'blocked_id')
    )
    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.create_index('ix_blocks_blocked', ['blocked_id', 'blocker_id'], unique=False)


def downgrade():
    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.drop_index('ix_blocks_blocked')
    op.drop_table('blocks')
    # Plain DROP COLUMN (SQLite 3.35+), as in upgrade: a rebuilt table would lose the triggers
    # of the search index and the references of attachments.
    op.drop_column('messages', 'deleted_at')
    op.drop_column('messages', 'edited_at')
