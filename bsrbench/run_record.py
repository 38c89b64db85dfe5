"""What run.json records about one run: versions, device, command, the method and its
options, the weights with their sha256 and a label for every row, what bundled weights are,
the metrics with their directions, and the test set with its content hash.

The runner calls :func:`run_metadata` once everything that can be checked up front has been;
:mod:`bsrbench.results.provenance` stores it. ``cfg`` below is a
:class:`bsrbench.runner.RunConfig` (not imported: the runner imports this module).
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bsrbench.results import git_commit

__all__ = ["bundled_notes", "run_metadata", "weights_label", "weights_sha256"]


def _files_sha256(given: Path) -> dict[str, str]:
    from bsrbench.weights import file_sha256

    files = [given] if given.is_file() else sorted(
        p for p in given.iterdir() if p.suffix in {".pth", ".pt", ".safetensors"})
    return {str(p): file_sha256(p) for p in files}


def _parts(cfg: Any) -> list[tuple[Any, Path | None]]:
    plan = cfg.plan
    return [(spec, given) for spec, given in ((plan.method, cfg.weights),
                                              (plan.model, cfg.weights),
                                              (plan.estimator, cfg.kernel_weights))
            if spec is not None]


def weights_sha256(cfg: Any, scale: int) -> dict[str, str]:
    """sha256 of the weights a run uses, per file: the files given with --weights (the
    method's or model's) and --kernel-weights (the estimator's), and for a part given none
    the pins its spec declares for its bundled weights (``bundled_pins``)."""
    out: dict[str, str] = {}
    for spec, given in _parts(cfg):
        if given is not None:
            out.update(_files_sha256(given))
        elif spec.bundled_pins is not None:
            out.update(spec.bundled_pins(scale))
    return out


def bundled_notes(cfg: Any) -> list[str]:
    """The notes of the parts that ran with their bundled weights (what those weights are
    and how far from the paper), each once."""
    notes: list[str] = []
    for spec, given in _parts(cfg):
        if given is None and spec.bundled_note and spec.bundled_note not in notes:
            notes.append(spec.bundled_note)
    return notes


def weights_label(cfg: Any, hashes: Mapping[str, str]) -> str:
    """Which weights ran, for every row: ``bundled``, ``file:<sha256[:8]>`` of a user's
    file or folder, ``none`` for parts without weights; ``model+estimator`` parts joined
    with ``+`` where both have weights."""
    import hashlib

    labels = []
    for spec, given in _parts(cfg):
        if given is not None:
            mine = sorted(v for k, v in hashes.items() if k.startswith(str(given)))
            digest = mine[0] if len(mine) == 1 else hashlib.sha256(
                "".join(mine).encode()).hexdigest()
            labels.append(f"file:{digest[:8]}")
        elif spec.weights_available is None:
            labels.append("none")
        else:
            labels.append("bundled")
    if len(labels) > 1 and labels[-1] == "none":
        labels = labels[:-1]
    return "+".join(labels)


def run_metadata(cfg: Any, registry: Any, ts: Any, scorer: Any,
                  run_id: str) -> dict[str, Any]:
    import torch

    from bsrbench import __version__

    plan = cfg.plan
    hashes = weights_sha256(cfg, ts.settings.scale)
    return {
        "run_id": run_id,
        "bsrbench_version": __version__,
        "plugins": [{"name": p.name, "distribution": p.distribution, "version": p.version,
                     "error": p.error} for p in registry.plugins],
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": cfg.device,
        "git_commit": git_commit(),
        "command": cfg.command,
        "method": plan.label,
        "model": plan.model.name if plan.model else None,
        "estimator": plan.estimator.name if plan.estimator else None,
        "upper_bound": plan.uses_ground_truth,
        "noise_known": plan.uses_noise_level,
        "kernel_conversion": plan.model.kernel_conversion if plan.model else None,
        "options": {k: dict(v) for k, v in plan.options.items()},
        "weights": str(cfg.weights) if cfg.weights else "bundled",
        "kernel_weights": (str(cfg.kernel_weights) if cfg.kernel_weights else "bundled")
        if plan.estimator else None,
        "weights_sha256": hashes,
        "weights_label": weights_label(cfg, hashes),
        "bundled_notes": bundled_notes(cfg),
        "convention": cfg.convention,
        "metrics": scorer.describe(),
        "batch_size": cfg.batch_size,
        "tile": None if cfg.tile is None else {"size": cfg.tile, "overlap": cfg.tile_overlap},
        "max_memory_mb": cfg.max_memory_mb,
        # the subset of the test set's images this run covers (an executor's shard)
        "images": None if cfg.images is None else list(cfg.images),
        "dataset": {"file": str(cfg.dataset), "label": ts.label,
                    "content_hash": ts.content_hash, **ts.attrs},
    }
