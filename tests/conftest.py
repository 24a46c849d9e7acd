from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def sample() -> Path:
    return SAMPLE
