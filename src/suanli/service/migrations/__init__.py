"""Alembic migrations of the service database (run by ``suanli.service.db.upgrade``)."""
