"""Shared fixtures: the ../shared data bundle and fresh plugin registries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_dir(*parts: str) -> Path:
    """Return a path inside ../shared, skipping (or failing in CI) when it is absent.

    With ``BSRBENCH_REQUIRE_SHARED=1`` a missing bundle is a failure, so CI cannot go green
    by skipping the calibration and golden tests.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        reason = f"{path} not found: these tests need the ../shared data bundle beside the checkout"
        if os.environ.get("BSRBENCH_REQUIRE_SHARED") == "1":
            pytest.fail(reason + " (BSRBENCH_REQUIRE_SHARED=1)")
        pytest.skip(reason)
    return path


@pytest.fixture
def shared() -> Path:
    """The ../shared bundle (skip or fail as :func:`shared_dir` does)."""
    return shared_dir()
