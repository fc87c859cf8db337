"""The OpenAI-compatible HTTP server: `create_app(settings)` builds it (see `app.py`).

Importing this package imports FastAPI, never torch: models load on first use.
"""

from openrft.server.app import create_app
from openrft.server.config import Settings

__all__ = ["Settings", "create_app"]
