"""The ../shared reference bundle for tests: a path inside it, or skip (fail in CI).

Its own module (not conftest.py): several test folders have a conftest.py of their own,
and ``from conftest import ...`` would then reach whichever was imported last.
"""

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
