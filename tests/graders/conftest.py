"""Fixtures the grader tests share: a scripted judge on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.graders.scripted_judge import ScriptedJudge
from tests.support.loopback import serve


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ScriptedJudge, str]]:
    """A scripted judge and its `/v1` base URL, one per test module (reset it per test)."""
    judge = ScriptedJudge()
    with serve(judge.app) as url:
        yield judge, f"{url}/v1"
