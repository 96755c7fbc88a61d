"""outbox: when each queued run's message was sent; embedded runs' host and pid; last checkpoint

Revision ID: 0002_outbox
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_outbox"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("queued_at", "sent_at", "sends", "host", "pid", "checkpoint_epoch")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("queued_at", sa.DateTime))
        batch.add_column(sa.Column("sent_at", sa.DateTime))
        batch.add_column(sa.Column("sends", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("host", sa.String(255)))
        batch.add_column(sa.Column("pid", sa.Integer))
        batch.add_column(sa.Column("checkpoint_epoch", sa.Integer))
    # Runs queued before this revision: their message was sent when they were queued.
    op.execute("UPDATE runs SET queued_at = created_at, sent_at = created_at, sends = 1 WHERE status = 'queued'")


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
