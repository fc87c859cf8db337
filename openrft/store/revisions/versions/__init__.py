"""Alembic revisions of the store's schema, applied in order; never edited once shipped."""
