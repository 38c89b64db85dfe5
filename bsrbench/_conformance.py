"""The plugin conformance checks behind :mod:`bsrbench.testing` and ``bsrbench check-plugin``.

Every registered method, composed model and kernel estimator is held to the same contract
(docs/plugins.md): the shapes, dtype, value range, device, determinism, batching, odd sizes
and grey inputs the runner relies on. The checks use tiny inputs (batches of 3 at 12×12,
one 17×23 image) so that a full check stays affordable on a CPU. Nothing here imports
pytest, so the CLI can run the checks too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError, UnknownNameError

if TYPE_CHECKING:
    from torch import Tensor

    from bsrbench.registry import Registry

__all__ = [
    "FAIL",
    "PASS",
    "SKIP",
    "CheckResult",
    "check_degradation",
    "check_estimator",
    "check_method",
    "check_plugin",
    "device_available",
    "format_results",
]

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"

# Tolerances (documented in docs/plugins.md, "The contract the checks enforce").
SR_RANGE = (-0.5, 1.5)  # SR values before the runner's clamp to [0, 1]
BATCH_ATOL = 1e-5  # a batch of N against N single calls
REPEAT_ATOL = 1e-6  # a second call with the same torch.manual_seed
KERNEL_SUM_ATOL = 1e-4  # each kernel sums to 1
SEED = 0
BATCH, SIZE, ODD_SIZE = 3, (12, 12), (17, 23)

METHOD_CHECKS = ("build", "run", "shape", "dtype", "finite", "range", "device", "kernels",
                 "deterministic", "batch", "odd-size", "grey")
ESTIMATOR_CHECKS = ("build", "run", "shape", "dtype", "finite", "kernels", "device",
                    "kernel-code", "deterministic", "batch", "odd-size", "grey")
DEGRADATION_CHECKS = ("run", "shape", "dtype", "device", "deterministic", "batch", "flat",
                      "grey")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one conformance check on one method, estimator or degradation."""

    kind: str  # "method", "estimator", "degradation" or "plugin"
    target: str  # what was checked: "bicubic", "srmd+oracle", "ikc.predictor", ...
    check: str  # which check: "shape", "batch", "metadata", ...
    status: str  # PASS, FAIL or SKIP
    scale: int | None = None  # the SR factor; None for checks that do not depend on it
    detail: str = ""  # why it failed or was skipped; empty for a plain pass
    device: str = "cpu"  # the device the check ran on

    @property
    def failed(self) -> bool:
        return self.status == FAIL


class _Failed(Exception):
    """A broken contract; its message becomes the result's detail."""


def _expect(ok: Any, message: str) -> None:
    if not ok:
        raise _Failed(message)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, _Failed):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class _Report:
    """Collects results for one target on one device."""

    def __init__(self, kind: str, target: str, device: str) -> None:
        self.kind, self.target, self.device = kind, target, device
        self.results: list[CheckResult] = []

    def add(self, check: str, status: str, scale: int | None = None, detail: str = "") -> None:
        self.results.append(CheckResult(self.kind, self.target, check, status, scale, detail,
                                        self.device))

    def skip(self, checks: Iterable[str], scale: int | None, reason: str) -> None:
        done = {(r.check, r.scale) for r in self.results}
        for check in checks:
            if (check, scale) not in done:
                self.add(check, SKIP, scale, reason)

    def attempt(self, check: str, scale: int | None, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """Run ``fn``; record PASS (with a string it returns as detail) or FAIL."""
        try:
            value = fn()
        except Exception as exc:  # any error in a plugin is that plugin's failure
            self.add(check, FAIL, scale, _one_line(exc))
            return False, None
        self.add(check, PASS, scale, value if isinstance(value, str) else "")
        return True, value


def device_available(device: str) -> bool:
    """Whether torch can use ``device`` ("cpu", "cuda", "cuda:1", "mps") on this machine."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        return False
    if dev.type == "cpu":
        return True
    if dev.type == "cuda":
        return torch.cuda.is_available() and (dev.index or 0) < torch.cuda.device_count()
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps is not None and mps.is_available())
    return False


def _on_device(t: Tensor, device: str) -> bool:
    import torch

    want = torch.device(device)
    return t.device.type == want.type and (want.index is None or t.device.index == want.index)


def _metadata(report: _Report, specs: Sequence[Any]) -> None:
    def check() -> None:
        for spec in specs:
            for field_name in ("summary", "paper", "license"):
                value = getattr(spec, field_name)
                _expect(isinstance(value, str) and value.strip(),
                        f"{spec.name}: {field_name} is empty (cite the paper and the licence; "
                        "use '-' for paper only when nothing was published)")
            scales = spec.scales
            _expect(isinstance(scales, tuple) and scales
                    and all(isinstance(s, int) and s >= 1 for s in scales),
                    f"{spec.name}: scales must be a non-empty tuple of positive ints, "
                    f"got {scales!r}")

    report.attempt("metadata", None, check)


def _skip_reason(specs: Sequence[Any], scale: int, device: str) -> str | None:
    if not device_available(device):
        return f"device {device!r} is not available here"
    for spec in specs:
        avail = spec.weights_available
        if avail is not None and not avail(scale):
            return f"no weights for x{scale} ({spec.name}: weights_available({scale}) is False)"
    return None


# ---- inputs ---------------------------------------------------------------------------

def _images(n: int, size: tuple[int, int], device: str, seed: int, grey: bool = False) -> Tensor:
    """Image-like LR inputs: smooth random colour fields plus texture, quantised to 8 bits."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g)
    x = 0.8 * F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
    x = x + 0.2 * torch.rand(n, 3, *size, generator=g)
    if grey:
        x = x.mean(dim=1, keepdim=True).expand(n, 3, *size)
    return (x * 255).round().div(255).contiguous().to(device)


def _gt_kernels(n: int, size: int, scale: int, device: str) -> Tensor:
    import torch

    from bsrbench._builtin import GAUSSIAN8_RANGES
    from bsrbench.kernels import gaussian_kernel

    lo, hi = GAUSSIAN8_RANGES.get(scale, (1.0, 2.0))
    sigmas = [lo + (hi - lo) * i / max(n - 1, 1) for i in range(n)]
    return torch.stack([gaussian_kernel(s, size=size) for s in sigmas]).to(device)


def _lr_batch(n: int, size: tuple[int, int], scale: int, device: str, gt_size: int | None,
              seed: int = SEED, grey: bool = False) -> Any:
    from bsrbench.interfaces import LRBatch

    kernels = None if gt_size is None else _gt_kernels(n, gt_size, scale, device)
    return LRBatch(lr=_images(n, size, device, seed, grey), scale=scale, kernels=kernels)


def _item(batch: Any, i: int) -> Any:
    from bsrbench.interfaces import LRBatch

    k = None if batch.kernels is None else batch.kernels[i:i + 1]
    return LRBatch(lr=batch.lr[i:i + 1], scale=batch.scale, kernels=k)


def _items(call: Callable[[Any], Any], batch: Any, attr: str) -> list[Any]:
    """Run a method (``run``: Steps) or estimator (``estimate``: KernelEstimates), seeded."""
    import torch

    torch.manual_seed(SEED)
    with torch.inference_mode():
        items = list(call(batch))
    _expect(items, "yielded nothing (a run must yield at least one step/estimate)")
    for item in items:
        _expect(hasattr(item, attr), f"yielded {type(item).__name__}, which has no .{attr}")
    return items


def _outputs(call: Callable[[Any], Any], batch: Any, attr: str) -> list[Tensor]:
    """The SR images (``attr="sr"``) or kernels (``"kernel"``) of every step of a call."""
    return [getattr(item, attr) for item in _items(call, batch, attr)]


def _same(a: list[Tensor], b: list[Tensor], atol: float, what: str) -> str:
    _expect(len(a) == len(b), f"{what}: {len(a)} steps against {len(b)}")
    worst = 0.0
    for x, y in zip(a, b):
        _expect(x.shape == y.shape, f"{what}: shapes {tuple(x.shape)} and {tuple(y.shape)}")
        worst = max(worst, float((x.double() - y.double()).abs().max()))
    _expect(worst <= atol, f"{what}: differ by up to {worst:.3g} (tolerance {atol:g})")
    return f"max difference {worst:.1e}"


def _check_kernels(ks: Iterable[Tensor | None], n: int, size: int | None) -> str:
    seen = 0
    for k in ks:
        if k is None:
            continue
        seen += 1
        _expect(k.dim() == 3 and k.shape[0] == n and k.shape[1] == k.shape[2],
                f"kernels must be (B,k,k) = ({n},k,k), got {tuple(k.shape)}")
        if size is not None:
            _expect(k.shape[-1] == size, f"kernels are {k.shape[-1]}x{k.shape[-1]} but the "
                                         f"spec declares kernel_size={size}")
        _expect(bool(k.isfinite().all()), "kernels contain NaN or Inf")
        _expect(float(k.min()) >= 0, f"kernels have negative entries (min {float(k.min()):.3g})")
        off = float((k.double().sum(dim=(-2, -1)) - 1).abs().max())
        _expect(off <= KERNEL_SUM_ATOL, f"a kernel sums to 1{off:+.3g}, not 1 "
                                        f"(tolerance {KERNEL_SUM_ATOL:g})")
    return "" if seen else "no kernel estimates yielded"


def _check_codes(obj: Any, codes: Iterable[Tensor | None], n: int, k_size: int,
                 scale: int, device: str) -> str:
    """KernelCoder: encode_kernel gives (B,d) finite codes; yielded codes are (B,d) too."""
    encode = getattr(obj, "encode_kernel", None)
    d = None
    if encode is not None:
        import torch

        with torch.inference_mode():
            gt = encode(_gt_kernels(n, k_size, scale, device))
        _expect(gt.dim() == 2 and gt.shape[0] == n, f"encode_kernel must return (B,d), "
                                                    f"got {tuple(gt.shape)}")
        _expect(bool(gt.isfinite().all()), "encode_kernel returned NaN or Inf")
        d = gt.shape[1]
    for code in codes:
        if code is None:
            continue
        _expect(code.dim() == 2 and code.shape[0] == n, f"codes must be (B,d), "
                                                        f"got {tuple(code.shape)}")
        _expect(d is None or code.shape[1] == d,
                f"codes have d={code.shape[1]} but encode_kernel gives d={d}")
    return "" if encode is not None else "no encode_kernel (not a KernelCoder)"


# ---- methods --------------------------------------------------------------------------

def _resolve_method(registry: Registry, name: str, options: Mapping[str, Any] | None) -> Any:
    from bsrbench.compose import plan_method

    model, _, kernel = name.partition("+")
    if not kernel and name in registry.models and name not in registry.methods:
        kernel = "oracle"  # a bare model is checked composed with the ground-truth kernel
    return plan_method(registry, model, kernel or None, options)


def check_method(registry: Registry, name: str, *, device: str = "cpu",
                 scales: Sequence[int] | None = None,
                 options: Mapping[str, Any] | None = None) -> list[CheckResult]:
    """Run the method checks on a blind method, a model+estimator or a bare model.

    Args:
        registry: where ``name`` is looked up (:func:`bsrbench.registry.load_registry`).
        name: ``"bicubic"``, ``"srmd+ikc"``, or a model such as ``"srmd"``, which is
            checked composed with the ``oracle`` estimator.
        device: torch device to build and run on; an unavailable device skips the checks.
        scales: SR factors to check (default: every scale the spec declares).
        options: method options (``-O NAME=VALUE``), e.g. ``{"iterations": 1}``.

    Returns:
        One :class:`CheckResult` per check and scale. Scales without weights
        (``weights_available(scale)`` is False) are SKIP with that reason, not FAIL.

    Raises:
        UnknownNameError: ``name`` is neither a method nor a model (with a suggestion).
    """
    plan = _resolve_method(registry, name, options)
    parts = [p for p in (plan.method, plan.model, plan.estimator) if p is not None]
    report = _Report("method", plan.label, device)
    _metadata(report, parts)
    common = sorted(set.intersection(*(set(p.scales) for p in parts)))
    for scale in scales or common:
        if scale not in common:
            report.skip(METHOD_CHECKS, scale, f"{plan.label} does not declare x{scale}")
            continue
        reason = _skip_reason(parts, scale, device)
        if reason is not None:
            report.skip(METHOD_CHECKS, scale, reason)
            continue
        _method_at(report, plan, scale, device)
    return report.results


def _method_at(report: _Report, plan: Any, scale: int, device: str) -> None:
    gt = plan.estimator.kernel_size if plan.uses_ground_truth else None
    k_size = plan.estimator.kernel_size if plan.estimator else None
    ok, obj = report.attempt("build", scale, lambda: plan.build(scale, device))
    if not ok:
        return report.skip(METHOD_CHECKS, scale, "the factory failed")
    main = _lr_batch(BATCH, SIZE, scale, device, gt)
    ok, steps = report.attempt("run", scale, lambda: _items(obj.run, main, "sr"))
    if not ok:
        return report.skip(METHOD_CHECKS, scale, "the run failed")
    srs = [s.sr for s in steps]
    want = (BATCH, 3, SIZE[0] * scale, SIZE[1] * scale)

    def kernels() -> str:
        found = _check_kernels((getattr(s, "kernel", None) for s in steps), BATCH, None)
        if k_size is not None:
            _check_codes(obj, (getattr(s, "code", None) for s in steps), BATCH, k_size,
                         scale, device)
        return found

    report.attempt("shape", scale, lambda: _expect(
        all(tuple(s.shape) == want for s in srs),
        f"SR is {[tuple(s.shape) for s in srs][-1]}, expected {want} (scale × input)"))
    report.attempt("dtype", scale, lambda: _expect(
        all(s.dtype.is_floating_point and str(s.dtype) == "torch.float32" for s in srs),
        f"SR dtype is {srs[-1].dtype}, expected torch.float32"))
    report.attempt("finite", scale, lambda: _expect(
        all(bool(s.isfinite().all()) for s in srs), "SR contains NaN or Inf"))
    report.attempt("range", scale, lambda: _in_range(srs))
    report.attempt("device", scale, lambda: _expect(
        all(_on_device(s, device) for s in srs), f"SR is on {srs[-1].device}, not {device}"))
    report.attempt("kernels", scale, kernels)
    report.attempt("deterministic", scale, lambda: _same(
        srs, _outputs(obj.run, main, "sr"), REPEAT_ATOL, "two calls with the same seed"))
    report.attempt("batch", scale, lambda: _batch_vs_singles(obj.run, main, srs, "sr"))
    odd = _lr_batch(1, ODD_SIZE, scale, device, gt, seed=SEED + 1)
    report.attempt("odd-size", scale, lambda: _odd_or_grey(
        _outputs(obj.run, odd, "sr"), (1, 3, ODD_SIZE[0] * scale, ODD_SIZE[1] * scale)))
    grey = _lr_batch(2, SIZE, scale, device, gt, seed=SEED + 2, grey=True)
    report.attempt("grey", scale, lambda: _odd_or_grey(
        _outputs(obj.run, grey, "sr"), (2, 3, SIZE[0] * scale, SIZE[1] * scale)))
    return None


def _in_range(srs: list[Tensor]) -> str:
    lo = min(float(s.min()) for s in srs)
    hi = max(float(s.max()) for s in srs)
    _expect(SR_RANGE[0] <= lo and hi <= SR_RANGE[1],
            f"SR values span [{lo:.3g}, {hi:.3g}], outside [{SR_RANGE[0]}, {SR_RANGE[1]}] "
            "(images are in [0, 1]; is the output in 0..255?)")
    return f"[{lo:.3f}, {hi:.3f}]"


def _batch_vs_singles(call: Callable[[Any], Any], batch: Any, whole: list[Tensor],
                      attr: str) -> str:
    import torch

    singles = [_outputs(call, _item(batch, i), attr) for i in range(batch.lr.shape[0])]
    _expect(all(len(s) == len(whole) for s in singles),
            f"a batch yields {len(whole)} steps but single images yield "
            f"{sorted({len(s) for s in singles})}")
    joined = [torch.cat([s[j] for s in singles]) for j in range(len(whole))]
    return _same(whole, joined, BATCH_ATOL, f"a batch of {batch.lr.shape[0]} and single calls")


def _odd_or_grey(outs: list[Tensor], want: tuple[int, ...]) -> None:
    _expect(all(tuple(o.shape) == want for o in outs),
            f"output is {tuple(outs[-1].shape)}, expected {want}")
    _expect(all(bool(o.isfinite().all()) for o in outs), "output contains NaN or Inf")
    if len(want) == 4:
        _in_range(outs)


# ---- estimators -----------------------------------------------------------------------

def check_estimator(registry: Registry, name: str, *, device: str = "cpu",
                    scales: Sequence[int] | None = None,
                    options: Mapping[str, Any] | None = None) -> list[CheckResult]:
    """Run the estimator checks: kernels ``(B,k,k)`` with ``k == spec.kernel_size``,
    non-negative, summing to 1, plus the device, determinism, batching, odd-size and grey
    checks of methods. Arguments and return value as :func:`check_method`."""
    from bsrbench.specs import BuildContext, resolve_options

    spec = registry.get("estimator", name)
    opts = resolve_options(spec.options, dict(options or {}), f"estimator {name!r}")
    report = _Report("estimator", name, device)
    _metadata(report, [spec])
    gt = spec.kernel_size if spec.uses_ground_truth else None
    for scale in scales or spec.scales:
        if scale not in spec.scales:
            report.skip(ESTIMATOR_CHECKS, scale, f"{name} does not declare x{scale}")
            continue
        reason = _skip_reason([spec], scale, device)
        if reason is not None:
            report.skip(ESTIMATOR_CHECKS, scale, reason)
            continue
        ok, obj = report.attempt("build", scale,
                                 lambda s=scale: spec.factory(BuildContext(s, device, None, opts)))
        if not ok:
            report.skip(ESTIMATOR_CHECKS, scale, "the factory failed")
            continue
        main = _lr_batch(BATCH, SIZE, scale, device, gt)
        ok, ests = report.attempt("run", scale,
                                  lambda o=obj, b=main: _items(o.estimate, b, "kernel"))
        if not ok:
            report.skip(ESTIMATOR_CHECKS, scale, "the estimate failed")
            continue
        _estimator_at(report, obj, spec, scale, device, main, ests, gt)
    return report.results


def _estimator_at(report: _Report, obj: Any, spec: Any, scale: int, device: str, main: Any,
                  ests: list[Any], gt: int | None) -> None:
    k = spec.kernel_size
    ks = [e.kernel for e in ests]
    codes = [getattr(e, "code", None) for e in ests]

    report.attempt("shape", scale, lambda: _expect(
        all(tuple(x.shape) == (BATCH, k, k) for x in ks),
        f"kernels are {tuple(ks[-1].shape)}, expected (B,k,k) = {(BATCH, k, k)}"))
    report.attempt("dtype", scale, lambda: _expect(
        all(str(x.dtype) == "torch.float32" for x in ks),
        f"kernel dtype is {ks[-1].dtype}, expected torch.float32"))
    report.attempt("finite", scale, lambda: _expect(
        all(bool(x.isfinite().all()) for x in ks), "kernels contain NaN or Inf"))
    report.attempt("kernels", scale, lambda: _check_kernels(ks, BATCH, k))
    report.attempt("device", scale, lambda: _expect(
        all(_on_device(x, device) for x in ks), f"kernels are on {ks[-1].device}, not {device}"))
    report.attempt("kernel-code", scale,
                   lambda: _check_codes(obj, codes, BATCH, k, scale, device))
    report.attempt("deterministic", scale, lambda: _same(
        ks, _outputs(obj.estimate, main, "kernel"), REPEAT_ATOL, "two calls with the same seed"))
    report.attempt("batch", scale, lambda: _batch_vs_singles(obj.estimate, main, ks, "kernel"))
    odd = _lr_batch(1, ODD_SIZE, scale, device, gt, seed=SEED + 1)
    report.attempt("odd-size", scale, lambda: _check_kernels(
        _outputs(obj.estimate, odd, "kernel"), 1, k))
    grey = _lr_batch(2, SIZE, scale, device, gt, seed=SEED + 2, grey=True)
    report.attempt("grey", scale, lambda: _check_kernels(
        _outputs(obj.estimate, grey, "kernel"), 2, k))


# ---- degradations ---------------------------------------------------------------------

def check_degradation(registry: Registry, name: str, *, device: str = "cpu",
                      scales: Sequence[int] | None = None) -> list[CheckResult]:
    """Check a downsampler: float ``(B,C,H,W)`` in, uint8 ``(B,C,H/s,W/s)`` out on the same
    device, deterministic, batch-independent, flat images stay flat, grey stays grey."""
    spec = registry.get("degradation", name)
    report = _Report("degradation", name, device)
    report.attempt("metadata", None, lambda: _expect(
        isinstance(spec.summary, str) and spec.summary.strip() and callable(spec.downsample),
        "a degradation needs a summary and a callable downsample(blurred, scale)"))
    for scale in scales or (2, 3, 4):
        if not device_available(device):
            report.skip(DEGRADATION_CHECKS, scale, f"device {device!r} is not available here")
            continue
        _degradation_at(report, spec, scale, device)
    return report.results


def _degradation_at(report: _Report, spec: Any, scale: int, device: str) -> None:
    import torch
    import torch.nn.functional as F

    def down(x: Tensor) -> Tensor:
        with torch.inference_mode():
            return spec.downsample(x, scale)

    hr = F.interpolate(_images(BATCH, ODD_SIZE, device, SEED), scale_factor=scale,
                       mode="bilinear")
    ok, lr = report.attempt("run", scale, lambda: down(hr))
    if not ok:
        return report.skip(DEGRADATION_CHECKS, scale, "downsample failed")
    want = (BATCH, 3, *ODD_SIZE)
    flat = torch.full((1, 3, 4 * scale, 4 * scale), 0.5, device=device)
    grey = hr.mean(dim=1, keepdim=True).expand_as(hr).contiguous()
    report.attempt("shape", scale, lambda: _expect(
        tuple(lr.shape) == want, f"LR is {tuple(lr.shape)}, expected {want}"))
    report.attempt("dtype", scale, lambda: _expect(
        lr.dtype == torch.uint8, f"LR dtype is {lr.dtype}, expected torch.uint8"))
    report.attempt("device", scale, lambda: _expect(
        _on_device(lr, device), f"LR is on {lr.device}, not {device}"))
    report.attempt("deterministic", scale, lambda: _same([lr], [down(hr)], 0, "two calls"))
    report.attempt("batch", scale, lambda: _same(
        [lr], [torch.cat([down(hr[i:i + 1]) for i in range(BATCH)])], 0,
        "a batch and single calls"))
    report.attempt("flat", scale, lambda: _expect(
        set(down(flat).unique().tolist()) <= {127, 128},
        "a flat 0.5 image must stay flat at 127 or 128"))
    report.attempt("grey", scale, lambda: _expect(
        bool((down(grey) == down(grey)[:, :1]).all()), "a grey image (R=G=B) must stay grey"))
    return None


# ---- plugins and tables ---------------------------------------------------------------

def check_plugin(registry: Registry, name: str, *, device: str = "cpu",
                 scales: Sequence[int] | None = None,
                 options: Mapping[str, Any] | None = None) -> list[CheckResult]:
    """Check everything a plugin provides, or one method, model, estimator or degradation.

    ``name`` is first looked up as a plugin (the entry-point name ``bsrbench plugins``
    shows): its methods, models (composed with ``oracle``), estimators and degradations
    are all checked, and a plugin that failed to load is a FAIL. Otherwise ``name`` is a
    method, model, ``model+estimator``, estimator or degradation.

    Raises:
        UnknownNameError: nothing of that name is registered (with a suggestion).
    """
    plugins = {p.name: p for p in registry.plugins}
    kw: dict[str, Any] = {"device": device, "scales": scales}
    if name in plugins:
        info = plugins[name]
        out: list[CheckResult] = []
        if info.error:
            out.append(CheckResult("plugin", name, "load", FAIL, None,
                                   f"{info.distribution}: {info.error}", device))
        targets = [item.partition(":")[::2] for item in info.provides]
        declared = {t: _option_names(registry, what, t) for what, t in targets}
        unknown = sorted(set(options or {}) - set().union(set(), *declared.values()))
        if unknown:
            raise InputError(f"no part of plugin {name!r} has an option {unknown[0]!r}")
        for what, target in targets:
            opts = {k: v for k, v in (options or {}).items() if k in declared[target]}
            if what in ("method", "model"):
                out += check_method(registry, target, options=opts, **kw)
            elif what == "estimator":
                out += check_estimator(registry, target, options=opts, **kw)
            elif what == "degradation":
                out += check_degradation(registry, target, **kw)
        if not out:
            out.append(CheckResult("plugin", name, "provides", SKIP, None,
                                   "no methods, models, estimators or degradations", device))
        return out
    if "+" in name or name in registry.methods or name in registry.models:
        return check_method(registry, name, options=options, **kw)
    if name in registry.estimators:
        return check_estimator(registry, name, options=options, **kw)
    if name in registry.degradations:
        return check_degradation(registry, name, **kw)
    known = {*plugins, *registry.methods, *registry.models, *registry.estimators,
             *registry.degradations}
    raise UnknownNameError("plugin, method, model or estimator", name, known)


def _option_names(registry: Registry, what: str, name: str) -> set[str]:
    specs = {"method": [registry.methods.get(name)],
             "model": [registry.models.get(name), registry.estimators.get("oracle")],
             "estimator": [registry.estimators.get(name)]}.get(what, [])
    return {o.name for spec in specs if spec is not None for o in spec.options}


def format_results(results: Sequence[CheckResult]) -> str:
    """A fixed-width PASS/FAIL/SKIP table with a count line, as ``check-plugin`` prints.

    When every check of one target at one scale is skipped for one reason (no weights),
    that scale is shown as a single ``*`` row.
    """
    groups: dict[tuple[str, str, int | None], list[CheckResult]] = {}
    for r in results:
        groups.setdefault((r.kind, r.target, r.scale), []).append(r)
    rows = []
    for (kind, target, scale), group in groups.items():
        scale_s = f"x{scale}" if scale else "-"
        details = {r.detail for r in group}
        if len(group) > 1 and all(r.status == SKIP for r in group) and len(details) == 1:
            rows.append((kind, target, scale_s, "*", SKIP, group[0].detail))
            continue
        rows += [(kind, target, scale_s, r.check, r.status, r.detail) for r in group]
    head = ("kind", "name", "scale", "check", "result", "detail")
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[5]
             for row in [head, *rows]]
    counts = {s: sum(r.status == s for r in results) for s in (PASS, FAIL, SKIP)}
    lines.append(f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped")
    return "\n".join(line.rstrip() for line in lines)
