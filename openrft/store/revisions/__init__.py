"""The store's Alembic migrations (`openrft.store.upgrade` runs them; `env.py` serves the
`alembic` command line, see docs/deploy.md)."""
