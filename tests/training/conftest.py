"""The tiny build every training test reads, made once per module."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.train_fixture import write_tiny


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("tiny"))
