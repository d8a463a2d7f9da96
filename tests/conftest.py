"""Shared fixtures: paths to shipped resources and to ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RESOURCES = REPO / "resources"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def resources() -> Path:
    return RESOURCES


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "reference").is_dir():
        pytest.skip(f"needs ../shared/data beside the checkout ({SHARED_DATA} not found)")
    return SHARED_DATA
