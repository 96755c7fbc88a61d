"""The SQL run store: runs, metrics, artifacts and events (SQLAlchemy 2.0, Alembic)."""
