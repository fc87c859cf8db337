"""Fixtures the agent tests share: a tool server on loopback, retries that do not wait."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openrft.agent import tools
from tests.agent.tool_server import ToolServer, running


@pytest.fixture
def server() -> Iterator[ToolServer]:
    with running() as tool_server:
        yield tool_server


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "BACKOFF_S", 0.01)
