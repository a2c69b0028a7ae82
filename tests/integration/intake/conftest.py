"""Fixtures of the intake tests: a running intake on the shared test configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from intake_kit import Intake, serve, write_config


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    async with serve(write_config(tmp_path), tmp_path / "store" / "crossdock.db") as running:
        yield running
