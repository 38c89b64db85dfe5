"""Shared fixtures: the ../shared data bundle and fresh plugin registries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from shared_bundle import SHARED, shared_dir  # noqa: F401 (re-exported for tests)

# The Ray tests start a local instance: keep every connection of it on 127.0.0.1 (Ray's
# single-machine mode; by default it talks to the machine's own network address). Set
# before anything imports ray, which reads it once.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture
def shared() -> Path:
    """The ../shared bundle (skip or fail as :func:`shared_dir` does)."""
    return shared_dir()


@pytest.fixture
def registry():
    """A fresh registry with every installed plugin (built per test, never global)."""
    from bsrbench.registry import load_registry

    return load_registry()


@pytest.fixture
def hr_dir(tmp_path: Path) -> Path:
    """A folder with two small HR images: a colour one and a grey one (48x40 and 40x44)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "hr"
    folder.mkdir()
    y, x = np.mgrid[0:48, 0:40]
    smooth = (127 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0)).astype(np.float64)
    rgb = np.stack([smooth, smooth[::-1], smooth[:, ::-1]], axis=2)
    rgb = np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(folder / "colour.png")
    grey = np.clip(smooth[:40, :] .T + rng.normal(0, 8, (40, 40)), 0, 255).astype(np.uint8)
    Image.fromarray(np.pad(grey, ((0, 0), (0, 4)), mode="edge")).save(folder / "grey.png")
    return folder
