from pathlib import Path

import pytest

from tests.train.helpers import tiny_home


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_home(tmp_path_factory)
