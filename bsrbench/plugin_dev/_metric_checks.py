"""The conformance checks of metric plugins (:class:`~bsrbench.specs.MetricSpec`).

The runner prepares each (SR, HR) pair once per step and hands the same two tensors to
every selected metric, so a metric must return one finite float per image, leave its
inputs alone, treat each image on its own, and score identical images best in the
direction its spec declares (``higher_better``): a metric with the wrong direction would
bold the worst method in the report and make ``compare`` call a regression a gain.

A factory that refuses with a one-line :class:`~bsrbench.errors.InputError` or
:class:`~bsrbench.errors.WeightsError` (LPIPS-style weights missing) skips the checks
with that line, as missing weights skip a method's; a refusal of several lines fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError, WeightsError
from bsrbench.plugin_dev._checks import (
    BATCH,
    BATCH_ATOL,
    FAIL,
    ODD_SIZE,
    PASS,
    REPEAT_ATOL,
    SEED,
    CheckResult,
    Report,
    device_available,
    expect,
    images,
    on_device,
    one_line,
)

if TYPE_CHECKING:
    from torch import Tensor

    from bsrbench.registry import Registry

__all__ = ["METRIC_CHECKS", "check_metric"]

METRIC_CHECKS = ("build", "run", "shape", "dtype", "finite", "device", "identical",
                 "deterministic", "batch", "inputs", "odd-size", "channels")
HR_SIZE = (32, 28)  # HR pairs before the border crop: a 26x22 prepared pair at border 3
BORDER = 3
NOISE = 10.0  # std (0..255) of the distortion the identical pair must beat
RTOL = 1e-6  # batch against singles: relative part of the tolerance (float32 metrics)


def _pair(n: int, size: tuple[int, int], device: str, seed: int,
          convention: str = "matlab-y") -> tuple[Tensor, Tensor]:
    """A prepared (SR, HR) pair as the runner makes it: a noisy SR against its HR image."""
    import torch

    from bsrbench.metrics import prepare

    hr = images(n, size, device, seed)
    g = torch.Generator().manual_seed(seed + 100)
    noise = torch.randn(hr.shape, generator=g).to(device) * (NOISE / 255)
    hr_u8 = (hr * 255).round().to(torch.uint8)
    return prepare((hr + noise).clamp(0, 1), hr_u8, border=BORDER, convention=convention)


def _scores(fn: Callable[[Any, Any], Any], x: Tensor, y: Tensor) -> Tensor:
    import torch

    torch.manual_seed(SEED)
    with torch.inference_mode():
        out = fn(x, y)
    expect(isinstance(out, torch.Tensor),
           f"returned {type(out).__name__}, expected a (B,) float tensor")
    return out


def _shape_dtype(out: Tensor, n: int) -> None:
    expect(tuple(out.shape) == (n,), f"returned shape {tuple(out.shape)}, expected ({n},): "
                                     "one value per image")
    expect(out.is_floating_point(), f"returned dtype {out.dtype}, expected a float dtype")


def _finite(out: Tensor) -> None:
    expect(bool(out.isfinite().all()),
           f"returned {out.tolist()} for distorted images: NaN or Inf")


def _close(a: Tensor, b: Tensor, atol: float, what: str) -> str:
    a, b = a.double().cpu(), b.double().cpu()
    expect(a.shape == b.shape, f"{what}: shapes {tuple(a.shape)} and {tuple(b.shape)}")
    worst = float((a - b).abs().max())
    allowed = atol + RTOL * float(b.abs().max())
    expect(worst <= allowed, f"{what}: differ by up to {worst:.3g} (tolerance {allowed:.3g})")
    return f"max difference {worst:.1e}"


def _identical_is_best(fn: Callable[[Any, Any], Any], y: Tensor, distorted: Tensor,
                       higher_better: bool) -> str:
    best = _scores(fn, y, y.clone())
    expect(tuple(best.shape) == tuple(distorted.shape) and not bool(best.isnan().any()),
           f"identical images gave {best.tolist()}")
    better = best > distorted if higher_better else best < distorted
    way = "higher" if higher_better else "lower"
    expect(bool(better.all()),
           f"identical images scored {best.tolist()} and noisy ones {distorted.tolist()}: "
           f"the spec says {way} is better (is higher_better right?)")
    return f"identical {best.tolist()[0]:.4g}, noisy {distorted.tolist()[0]:.4g}"


def _refusal(report: Report, exc: BaseException) -> None:
    text = str(exc).strip()
    if "\n" in text or not text:
        report.add("build", FAIL, None, f"the factory refused with {type(exc).__name__} but "
                   "not in one line: say what is missing and what to do, on one line")
        report.skip(METRIC_CHECKS, None, "the factory failed")
    else:
        report.skip(METRIC_CHECKS, None, f"the factory refused: {text}")


def check_metric(registry: Registry, name: str, *, device: str = "cpu") -> list[CheckResult]:
    """Run the metric checks on a registered metric.

    Args:
        registry: where ``name`` is looked up.
        name: a metric name (``"psnr"``, ``"ssim"``, a plugin's).
        device: the device the prepared pairs live on; an unavailable one skips the checks.

    Returns:
        One :class:`CheckResult` per check (``scale`` is None: metrics do not depend on
        it). A factory's one-line refusal skips the checks with that line.

    Raises:
        UnknownNameError: no metric of that name (with a suggestion).
    """
    spec = registry.get("metric", name)
    report = Report("metric", name, device)
    report.attempt("metadata", None, lambda: _metadata(spec))
    if not device_available(device):
        report.skip(METRIC_CHECKS, None, f"device {device!r} is not available here")
        return report.results
    try:
        fn = spec.build()
    except (InputError, WeightsError) as exc:
        _refusal(report, exc)
        return report.results
    except Exception as exc:  # any other error in a plugin is that plugin's failure
        report.add("build", FAIL, None, one_line(exc))
        report.skip(METRIC_CHECKS, None, "the factory failed")
        return report.results
    if not callable(fn):
        report.add("build", FAIL, None, f"build() returned {type(fn).__name__}, not a function")
        report.skip(METRIC_CHECKS, None, "the factory failed")
        return report.results
    report.add("build", PASS, None)
    _run_checks(report, fn, spec.higher_better, device)
    report.skip(METRIC_CHECKS, None, "the run failed")
    return report.results


def _metadata(spec: Any) -> None:
    expect(isinstance(spec.summary, str) and spec.summary.strip(),
           f"{spec.name}: summary is empty (say what it measures and cite its paper)")
    expect(spec.fn is not None or spec.factory is not None,
           f"{spec.name}: give fn or factory")
    expect(spec.fn is None or spec.factory is None,
           f"{spec.name}: give fn or factory, not both (build() would ignore fn)")
    for field_name in ("higher_better", "default"):
        expect(isinstance(getattr(spec, field_name), bool),
               f"{spec.name}: {field_name} must be True or False")
    expect(isinstance(spec.unit, str), f"{spec.name}: unit must be a string ('' for none)")


def _run_checks(report: Report, fn: Callable[[Any, Any], Any], higher_better: bool,
                device: str) -> None:
    x, y = _pair(BATCH, HR_SIZE, device, SEED)
    x0, y0 = x.clone(), y.clone()
    ok, out = report.attempt("run", None, lambda: _scores(fn, x, y))
    if not ok:
        return
    report.attempt("shape", None, lambda: expect(
        tuple(out.shape) == (BATCH,),
        f"returned shape {tuple(out.shape)}, expected ({BATCH},): one value per image"))
    report.attempt("dtype", None, lambda: expect(
        out.is_floating_point(), f"returned dtype {out.dtype}, expected a float dtype"))
    report.attempt("finite", None, lambda: _finite(out))
    report.attempt("device", None, lambda: expect(
        on_device(out, device), f"returned a tensor on {out.device}, not {device}"))
    report.attempt("inputs", None, lambda: expect(
        bool((x == x0).all() and (y == y0).all()),
        "changed its inputs in place: the runner hands the same pair to every metric"))
    report.attempt("identical", None,
                   lambda: _identical_is_best(fn, y0, out, higher_better))
    report.attempt("deterministic", None, lambda: _close(
        out, _scores(fn, x0.clone(), y0.clone()), REPEAT_ATOL, "two calls with the same seed"))

    def singles() -> str:
        import torch

        one = [_scores(fn, x0[i:i + 1].clone(), y0[i:i + 1].clone()) for i in range(BATCH)]
        return _close(out, torch.cat(one), BATCH_ATOL, f"a batch of {BATCH} and single calls")

    report.attempt("batch", None, singles)

    def odd() -> None:
        xo, yo = _pair(1, (ODD_SIZE[0] + 2 * BORDER, ODD_SIZE[1] + 2 * BORDER), device,
                       SEED + 1)
        got = _scores(fn, xo, yo)
        _shape_dtype(got, 1)
        _finite(got)

    def channels() -> None:
        xc, yc = _pair(2, HR_SIZE, device, SEED + 2, convention="rgb")
        got = _scores(fn, xc, yc)
        _shape_dtype(got, 2)
        _finite(got)

    report.attempt("odd-size", None, odd)
    report.attempt("channels", None, channels)

