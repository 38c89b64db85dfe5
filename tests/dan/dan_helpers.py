"""Helpers for the DAN tests: the seeded goldens and checkpoints written from them."""

from __future__ import annotations

from pathlib import Path

from shared_bundle import shared_dir

GOLDENS = {  # golden file -> (version, scale, setting)
    "golden_danv1_x4_s1.pt": (1, 4, 1),
    "golden_danv1_x2_s1.pt": (1, 2, 1),
    "golden_danv2_x4_s1.pt": (2, 4, 1),
}


def load_golden(name: str) -> dict:
    import torch

    return torch.load(shared_dir("reference", "dan", name), weights_only=True)


def write_checkpoint(state: dict, path: Path, prefix: str = "") -> Path:
    """Save ``state`` as upstream's ``save_network`` does: a flat dict of tensors."""
    from collections import OrderedDict

    import torch

    torch.save(OrderedDict((prefix + k, v) for k, v in state.items()), path)
    return path

