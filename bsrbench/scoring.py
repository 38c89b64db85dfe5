"""Scoring one step: every selected metric on the same prepared pair, and kernel errors.

The runner prepares each (SR, HR) pair once under the run's convention (SR rounded to
uint8, Y of BT.601 or RGB, a border of ``scale`` pixels cropped, float64 in 0..255) and
calls every metric the run selected on it; each becomes a column of results.csv. Metrics
come from the registry (``bsrbench_metrics``), the built-in PSNR and SSIM included, and
the scorer knows nothing about any one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError, UnknownNameError

if TYPE_CHECKING:
    from torch import Tensor

    from bsrbench.registry import Registry
    from bsrbench.specs import MetricSpec

__all__ = ["CPU_PIECE_PIXELS", "Scorer", "kernel_errors", "select_metrics"]

# the most SR pixels scored in one metric call on a CPU (benchmarks/test_bench_speed.py)
CPU_PIECE_PIXELS = 1 << 18


def select_metrics(registry: Registry, names: Sequence[str] | None = None) -> list[MetricSpec]:
    """The metrics a run scores: ``names`` (``--metrics``) in that order, else every
    registered metric whose spec says ``default``.

    Raises:
        UnknownNameError: a name no plugin registers.
        InputError: an empty selection or a name given twice.
    """
    if names is None:
        chosen = [m for m in registry.metrics.values() if m.default]
    else:
        if not names:
            raise InputError("--metrics is empty: name at least one metric (e.g. psnr,ssim)")
        dup = sorted({n for n in names if list(names).count(n) > 1})
        if dup:
            raise InputError(f"--metrics names {dup[0]!r} twice")
        chosen = []
        for name in names:
            if name not in registry.metrics:
                raise UnknownNameError("metric", name, registry.metrics)
            chosen.append(registry.metrics[name])
    return chosen


@dataclass(frozen=True)
class _Built:
    name: str
    fn: Any


class Scorer:
    """Scores SR batches with the selected metrics under one convention.

    Building it builds every metric (a metric's factory may load weights or refuse in one
    line), so a run fails before any work when a metric cannot run on this machine.
    """

    def __init__(self, metrics: Sequence[MetricSpec], *, convention: str, scale: int) -> None:
        from bsrbench.metrics import CONVENTIONS

        if convention not in CONVENTIONS:
            raise UnknownNameError("metric convention", convention, CONVENTIONS)
        self.specs = list(metrics)
        self.built = [_Built(m.name, m.build()) for m in self.specs]
        self.convention, self.scale = convention, scale

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.specs)

    def describe(self) -> list[dict[str, Any]]:
        """The metrics as run.json records them (report and compare read the direction)."""
        return [{"name": m.name, "summary": m.summary, "higher_better": m.higher_better,
                 "unit": m.unit} for m in self.specs]

    def score(self, sr: Tensor, hr_u8: Tensor) -> dict[str, list[float]]:
        """Per-item values of every metric for SR ``(B,3,H,W)`` in [0,1] and uint8 HR.

        On a CPU the batch is scored in pieces of at most :data:`CPU_PIECE_PIXELS` pixels
        (at least one image): the float64 images of a whole batch outgrow the caches, and
        scoring 8 SR images of a 512x512 HR in one call took longer than one at a time.
        """
        out: dict[str, list[float]] = {m.name: [] for m in self.built}
        for lo, hi in self._pieces(sr):
            for name, values in self._score(sr[lo:hi], hr_u8).items():
                out[name] += values
        return out

    @staticmethod
    def _pieces(sr: Tensor) -> list[tuple[int, int]]:
        count = sr.shape[0]
        if sr.device.type != "cpu":
            return [(0, count)]
        step = max(1, CPU_PIECE_PIXELS // max(1, sr.shape[-2] * sr.shape[-1]))
        return [(lo, min(lo + step, count)) for lo in range(0, count, step)]

    def _score(self, sr: Tensor, hr_u8: Tensor) -> dict[str, list[float]]:
        from bsrbench.metrics import prepare

        sr_c, hr_c = prepare(sr, hr_u8, border=self.scale, convention=self.convention)
        out: dict[str, list[float]] = {}
        for m in self.built:
            values = m.fn(sr_c, hr_c)
            values = values.tolist() if hasattr(values, "tolist") else list(values)
            if len(values) != sr.shape[0]:
                raise InputError(f"metric {m.name!r} returned {len(values)} values for "
                                 f"{sr.shape[0]} images")
            out[m.name] = [float(v) for v in values]
        return out


def kernel_errors(kernel: Tensor | None, code: Tensor | None, gt_kernels: Tensor | None,
                  encode: Any) -> tuple[list[float] | None, list[float] | None]:
    """Kernel PSNR of a step's kernel against the ground truth and the L2 distance of the
    step's code to the ground truth's code in the same space (``encode``), each per item,
    or None where not measurable.

    Kernel PSNR is taken after the documented centre alignment of
    :func:`bsrbench.kernels.kernel_psnr_aligned` (both zero-padded to one grid, the estimate
    moved by the whole-pixel shift that brings its centre of mass nearest the ground
    truth's), so kernels of different sizes and centre conventions compare; for centred
    kernels of one size it equals the plain kernel PSNR.
    """
    from bsrbench.kernels import kernel_psnr_aligned

    if kernel is None or gt_kernels is None:
        return None, None
    kpsnr = kernel_psnr_aligned(kernel.float(), gt_kernels.float()).tolist()
    code_l2 = None
    if code is not None and encode is not None:
        try:
            gt_codes = encode(gt_kernels)
        except InputError:  # ground truth outside the code space (another kernel size)
            return kpsnr, None
        code_l2 = (code.float() - gt_codes.float()).norm(dim=1).tolist()
    return kpsnr, code_l2
