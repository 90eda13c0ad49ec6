"""Alembic environment: online migrations against ``sqlalchemy.url`` (set by ``db.upgrade``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from suanli.service.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "db.upgrade sets sqlalchemy.url"
connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()
