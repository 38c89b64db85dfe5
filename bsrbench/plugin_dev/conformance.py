"""The plugin conformance checks behind the pytest plugin and ``bsrbench check-plugin``.

Every registered method, composed model and kernel estimator is held to the same contract
(docs/plugins.md): the shapes, dtype, value range, device, determinism, batching, odd sizes
and grey inputs the runner relies on. Degradations and metrics (:func:`check_metric`, in
its own module) have checks of their own. The checks use tiny inputs (batches of 3 at 12×12,
one 17×23 image) so that a full check stays affordable on a CPU. Nothing here imports
pytest, so the CLI can run the checks too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError, UnknownNameError
from bsrbench.plugin_dev._checks import (
    BATCH,
    DEGRADATION_CHECKS,
    ESTIMATOR_CHECKS,
    FAIL,
    METHOD_CHECKS,
    ODD_SIZE,
    PASS,
    REPEAT_ATOL,
    SEED,
    SKIP,
    CheckResult,
    Report,
    as_runner,
    batch_vs_singles,
    check_codes,
    check_kernels,
    device_available,
    expect,
    format_results,
    images,
    in_range,
    lr_batch,
    metadata,
    odd_or_grey,
    on_device,
    outputs,
    same,
    sized_run,
    skip_reason,
)
from bsrbench.plugin_dev._metric_checks import check_metric

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
    "check_metric",
    "check_plugin",
    "device_available",
    "format_results",
]


# ---- methods --------------------------------------------------------------------------

def _resolve_method(registry: Registry, name: str, options: Mapping[str, Any] | None) -> Any:
    from bsrbench.compose import plan_method

    model, _, kernel = name.partition("+")
    if not kernel and name in registry.models and name not in registry.methods:
        kernel = "oracle"  # a bare model is checked composed with the ground-truth kernel
    return plan_method(registry, model, kernel or None, options)


def check_method(registry: Registry, name: str, *, device: str = "cpu",
                 scales: Sequence[int] | None = None,
                 options: Mapping[str, Any] | None = None,
                 weights: Path | None = None) -> list[CheckResult]:
    """Run the method checks on a blind method, a model+estimator or a bare model.

    Args:
        registry: where ``name`` is looked up (:func:`bsrbench.registry.load_registry`).
        name: ``"bicubic"``, ``"srmd+ikc"``, or a model such as ``"srmd"``, which is
            checked composed with the ``oracle`` estimator.
        device: torch device to build and run on; an unavailable device skips the checks.
        scales: SR factors to check (default: every scale the spec declares).
        options: method options (``-O NAME=VALUE``), e.g. ``{"iterations": 1}``.
        weights: a weights file or folder (``--weights``; for a composition, the model's),
            checked even where ``weights_available`` is False; None: the bundled weights.

    Returns:
        One :class:`CheckResult` per check and scale. Scales without weights
        (``weights_available(scale)`` is False) are SKIP with that reason, not FAIL.

    Raises:
        UnknownNameError: ``name`` is neither a method nor a model (with a suggestion).
    """
    plan = _resolve_method(registry, name, options)
    parts = [p for p in (plan.method, plan.model, plan.estimator) if p is not None]
    report = Report("method", plan.label, device)
    metadata(report, parts)
    common = sorted(set.intersection(*(set(p.scales) for p in parts)))
    for scale in scales or common:
        if scale not in common:
            report.skip(METHOD_CHECKS, scale, f"{plan.label} does not declare x{scale}")
            continue
        given = parts[:1] if weights is not None else []  # the method, or the model
        reason = skip_reason([p for p in parts if p not in given], scale, device)
        if reason is not None:
            report.skip(METHOD_CHECKS, scale, reason)
            continue
        _method_at(report, plan, scale, device, weights)
    return report.results


def _method_at(report: Report, plan: Any, scale: int, device: str, weights: Path | None
               ) -> None:
    gt = plan.estimator.kernel_size if plan.uses_ground_truth else None
    k_size = plan.estimator.kernel_size if plan.estimator else None
    ok, obj = report.attempt("build", scale, lambda: plan.build(scale, device, weights))
    if not ok:
        return report.skip(METHOD_CHECKS, scale, "the factory failed")
    # as the runner: a blind method that declares needs_grad runs with autograd, the rest
    # (compositions switch their estimator's mode themselves) under inference_mode
    run = as_runner(obj.run, bool(getattr(plan, "needs_grad", False) and plan.method))
    got = sized_run(report, scale, run, lambda size: lr_batch(BATCH, size, scale, device, gt),
                    "sr")
    if got is None:
        return report.skip(METHOD_CHECKS, scale, "the run failed")
    steps, main, size, odd_size = got
    srs = [s.sr for s in steps]
    want = (BATCH, 3, size[0] * scale, size[1] * scale)

    def kernels() -> str:
        found = check_kernels((getattr(s, "kernel", None) for s in steps), BATCH, None)
        if k_size is not None:
            check_codes(obj, (getattr(s, "code", None) for s in steps), BATCH, k_size,
                        scale, device)
        return found

    report.attempt("shape", scale, lambda: expect(
        all(tuple(s.shape) == want for s in srs),
        f"SR is {[tuple(s.shape) for s in srs][-1]}, expected {want} (scale × input)"))
    report.attempt("dtype", scale, lambda: expect(
        all(str(s.dtype) == "torch.float32" for s in srs),
        f"SR dtype is {srs[-1].dtype}, expected torch.float32"))
    report.attempt("finite", scale, lambda: expect(
        all(bool(s.isfinite().all()) for s in srs), "SR contains NaN or Inf"))
    report.attempt("range", scale, lambda: in_range(srs))
    report.attempt("device", scale, lambda: expect(
        all(on_device(s, device) for s in srs), f"SR is on {srs[-1].device}, not {device}"))
    report.attempt("kernels", scale, kernels)
    report.attempt("deterministic", scale, lambda: same(
        srs, outputs(run, main, "sr"), REPEAT_ATOL, "two calls with the same seed"))
    report.attempt("batch", scale, lambda: batch_vs_singles(run, main, srs, "sr"))
    odd = lr_batch(1, odd_size, scale, device, gt, seed=SEED + 1)
    report.attempt("odd-size", scale, lambda: odd_or_grey(
        outputs(run, odd, "sr"), (1, 3, odd_size[0] * scale, odd_size[1] * scale)))
    grey = lr_batch(2, size, scale, device, gt, seed=SEED + 2, grey=True)
    report.attempt("grey", scale, lambda: odd_or_grey(
        outputs(run, grey, "sr"), (2, 3, size[0] * scale, size[1] * scale)))
    return None


# ---- estimators -----------------------------------------------------------------------

def check_estimator(registry: Registry, name: str, *, device: str = "cpu",
                    scales: Sequence[int] | None = None,
                    options: Mapping[str, Any] | None = None,
                    weights: Path | None = None) -> list[CheckResult]:
    """Run the estimator checks: kernels ``(B,k,k)`` with ``k == spec.kernel_size``,
    non-negative, summing to 1, plus the device, determinism, batching, odd-size and grey
    checks of methods. Arguments and return value as :func:`check_method`."""
    from bsrbench.specs import BuildContext, resolve_options

    spec = registry.get("estimator", name)
    opts = resolve_options(spec.options, dict(options or {}), f"estimator {name!r}")
    report = Report("estimator", name, device)
    metadata(report, [spec])
    for scale in scales or spec.scales:
        if scale not in spec.scales:
            report.skip(ESTIMATOR_CHECKS, scale, f"{name} does not declare x{scale}")
            continue
        reason = skip_reason([spec] if weights is None else [], scale, device)
        if reason is not None:
            report.skip(ESTIMATOR_CHECKS, scale, reason)
            continue
        _estimator_at(report, spec, BuildContext(scale, device, weights, opts))
    return report.results


def _estimator_at(report: Report, spec: Any, ctx: Any) -> None:
    scale, device = ctx.scale, ctx.device
    gt = spec.kernel_size if spec.uses_ground_truth else None
    ok, obj = report.attempt("build", scale, lambda: spec.factory(ctx))
    if not ok:
        return report.skip(ESTIMATOR_CHECKS, scale, "the factory failed")
    estimate = as_runner(obj.estimate, bool(getattr(spec, "needs_grad", False)))
    got = sized_run(report, scale, estimate,
                    lambda size: lr_batch(BATCH, size, scale, device, gt), "kernel")
    if got is None:
        return report.skip(ESTIMATOR_CHECKS, scale, "the estimate failed")
    ests, main, size, odd_size = got
    k = spec.kernel_size
    ks = [e.kernel for e in ests]
    codes = [getattr(e, "code", None) for e in ests]
    report.attempt("shape", scale, lambda: expect(
        all(tuple(x.shape) == (BATCH, k, k) for x in ks),
        f"kernels are {tuple(ks[-1].shape)}, expected (B,k,k) = {(BATCH, k, k)}"))
    report.attempt("dtype", scale, lambda: expect(
        all(str(x.dtype) == "torch.float32" for x in ks),
        f"kernel dtype is {ks[-1].dtype}, expected torch.float32"))
    report.attempt("finite", scale, lambda: expect(
        all(bool(x.isfinite().all()) for x in ks), "kernels contain NaN or Inf"))
    report.attempt("kernels", scale, lambda: check_kernels(ks, BATCH, k))
    report.attempt("device", scale, lambda: expect(
        all(on_device(x, device) for x in ks), f"kernels are on {ks[-1].device}, not {device}"))
    report.attempt("kernel-code", scale,
                   lambda: check_codes(obj, codes, BATCH, k, scale, device))
    report.attempt("deterministic", scale, lambda: same(
        ks, outputs(estimate, main, "kernel"), REPEAT_ATOL, "two calls with the same seed"))
    report.attempt("batch", scale, lambda: batch_vs_singles(estimate, main, ks, "kernel"))
    odd = lr_batch(1, odd_size, scale, device, gt, seed=SEED + 1)
    report.attempt("odd-size", scale, lambda: check_kernels(
        outputs(estimate, odd, "kernel"), 1, k))
    grey = lr_batch(2, size, scale, device, gt, seed=SEED + 2, grey=True)
    report.attempt("grey", scale, lambda: check_kernels(
        outputs(estimate, grey, "kernel"), 2, k))
    return None


# ---- degradations ---------------------------------------------------------------------

def check_degradation(registry: Registry, name: str, *, device: str = "cpu",
                      scales: Sequence[int] | None = None) -> list[CheckResult]:
    """Check a downsampler: float ``(B,C,H,W)`` in, uint8 ``(B,C,H/s,W/s)`` out on the same
    device, deterministic, batch-independent, flat images stay flat, grey stays grey."""
    spec = registry.get("degradation", name)
    report = Report("degradation", name, device)
    report.attempt("metadata", None, lambda: expect(
        isinstance(spec.summary, str) and spec.summary.strip() and callable(spec.downsample),
        "a degradation needs a summary and a callable downsample(blurred, scale)"))
    for scale in scales or (2, 3, 4):
        if not device_available(device):
            report.skip(DEGRADATION_CHECKS, scale, f"device {device!r} is not available here")
            continue
        _degradation_at(report, spec, scale, device)
    return report.results


def _degradation_at(report: Report, spec: Any, scale: int, device: str) -> None:
    import torch
    import torch.nn.functional as F

    def down(x: Tensor) -> Tensor:
        with torch.inference_mode():
            return spec.downsample(x, scale)

    hr = F.interpolate(images(BATCH, ODD_SIZE, device, SEED), scale_factor=scale,
                       mode="bilinear")
    ok, lr = report.attempt("run", scale, lambda: down(hr))
    if not ok:
        return report.skip(DEGRADATION_CHECKS, scale, "downsample failed")
    want = (BATCH, 3, *ODD_SIZE)
    flat = torch.full((1, 3, 4 * scale, 4 * scale), 0.5, device=device)
    grey = hr.mean(dim=1, keepdim=True).expand_as(hr).contiguous()
    report.attempt("shape", scale, lambda: expect(
        tuple(lr.shape) == want, f"LR is {tuple(lr.shape)}, expected {want}"))
    report.attempt("dtype", scale, lambda: expect(
        lr.dtype == torch.uint8, f"LR dtype is {lr.dtype}, expected torch.uint8"))
    report.attempt("device", scale, lambda: expect(
        on_device(lr, device), f"LR is on {lr.device}, not {device}"))
    report.attempt("deterministic", scale, lambda: same([lr], [down(hr)], 0, "two calls"))
    report.attempt("batch", scale, lambda: same(
        [lr], [torch.cat([down(hr[i:i + 1]) for i in range(BATCH)])], 0,
        "a batch and single calls"))
    report.attempt("flat", scale, lambda: expect(
        set(down(flat).unique().tolist()) <= {127, 128},
        "a flat 0.5 image must stay flat at 127 or 128"))
    report.attempt("grey", scale, lambda: expect(
        bool((down(grey) == down(grey)[:, :1]).all()), "a grey image (R=G=B) must stay grey"))
    return None


# ---- plugins and tables ---------------------------------------------------------------

def check_plugin(registry: Registry, name: str, *, device: str = "cpu",
                 scales: Sequence[int] | None = None,
                 options: Mapping[str, Any] | None = None,
                 weights: Path | None = None) -> list[CheckResult]:
    """Check everything a plugin provides, or one method, model, estimator, degradation or
    metric.

    ``name`` is first looked up as a plugin (the entry-point name ``bsrbench plugins``
    shows): its methods, models (composed with ``oracle``), estimators, degradations and
    metrics are all checked, and a plugin that failed to load is a FAIL. Otherwise
    ``name`` is a method, model, ``model+estimator``, estimator, degradation or metric.

    Raises:
        UnknownNameError: nothing of that name is registered (with a suggestion).
    """
    plugins = {p.name: p for p in registry.plugins}
    kw: dict[str, Any] = {"device": device, "scales": scales}
    wkw: dict[str, Any] = {**kw, "weights": weights}
    if name in plugins:
        info = plugins[name]
        out: list[CheckResult] = []
        if info.error:
            out.append(CheckResult("plugin", name, "load", FAIL, None,
                                   f"{info.distribution}: {info.error}", device))
        targets = [item.partition(":")[::2] for item in info.provides]
        declared = {(w, t): _option_names(registry, w, t) for w, t in targets}
        unknown = sorted(set(options or {}) - set().union(set(), *declared.values()))
        if unknown:
            raise InputError(f"no part of plugin {name!r} has an option {unknown[0]!r}")
        for what, target in targets:
            opts = {k: v for k, v in (options or {}).items() if k in declared[what, target]}
            if what in ("method", "model"):
                out += check_method(registry, target, options=opts, **wkw)
            elif what == "estimator":
                out += check_estimator(registry, target, options=opts, **wkw)
            elif what == "degradation":
                out += check_degradation(registry, target, **kw)
            elif what == "metric":
                out += check_metric(registry, target, device=device)
        if not out:
            out.append(CheckResult("plugin", name, "provides", SKIP, None,
                                   "no methods, models, estimators, degradations or metrics",
                                   device))
        return out
    if "+" in name or name in registry.methods or name in registry.models:
        return check_method(registry, name, options=options, **wkw)
    if name in registry.estimators:
        return check_estimator(registry, name, options=options, **wkw)
    if name in registry.degradations:
        return check_degradation(registry, name, **kw)
    if name in registry.metrics:
        return check_metric(registry, name, device=device)
    known = {*plugins, *registry.methods, *registry.models, *registry.estimators,
             *registry.degradations, *registry.metrics}
    raise UnknownNameError("plugin, method, model, estimator, degradation or metric", name,
                           known)


def _option_names(registry: Registry, what: str, name: str) -> set[str]:
    specs = {"method": [registry.methods.get(name)],
             "model": [registry.models.get(name), registry.estimators.get("oracle")],
             "estimator": [registry.estimators.get(name)]}.get(what, [])
    return {o.name for spec in specs if spec is not None for o in spec.options}


