"""groups: runs.group_name, the named group a sweep's runs belong to

Revision ID: 0003_groups
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_groups"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("group_name", sa.String(64), nullable=True))
        batch.create_index("ix_runs_group_name", ["group_name"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_group_name")
        batch.drop_column("group_name")
