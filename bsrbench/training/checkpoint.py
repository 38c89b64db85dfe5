"""Checkpoint files: written atomically, read without unpickling code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bsrbench.errors import InputError


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically: to a temporary file beside ``path``, then rename.

    A crash mid-write leaves the previous checkpoint intact.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` (no code is ever unpickled).

    Raises:
        InputError: The file cannot be read as plain tensors and containers.
    """
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError for a truncated file
        # torch's own message is many lines and suggests weights_only=False: keep neither
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(
            f"{path} is not a bsrbench training checkpoint ({type(exc).__name__}"
            f"{': ' + first[:120] if first else ''}): delete it, or pass another --out, "
            "to start over"
        ) from None
