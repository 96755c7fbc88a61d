"""live progress: runs.step and runs.steps (the batch within the current epoch), runs.phase (the
end-of-run work under way: final pictures, t-SNE, quality evaluation, saving the model)

Revision ID: 0004_live_progress
Revises: 0003_groups
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_live_progress"
down_revision = "0003_groups"
branch_labels = None
depends_on = None

COLUMNS = ("step", "steps", "phase")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("step", sa.Integer, nullable=True))
        batch.add_column(sa.Column("steps", sa.Integer, nullable=True))
        batch.add_column(sa.Column("phase", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
