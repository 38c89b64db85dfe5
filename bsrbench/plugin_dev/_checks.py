"""Building blocks of the conformance checks: results, inputs and comparisons.

The checks themselves are in :mod:`bsrbench.plugin_dev.conformance`; the tolerances here are the
ones docs/plugins.md documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["FAIL", "PASS", "SKIP", "CheckResult", "Report", "device_available", "format_results"]

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"

# Tolerances (documented in docs/plugins.md, "The contract the checks enforce").
SR_RANGE = (-0.5, 1.5)  # SR values before the runner's clamp to [0, 1]
BATCH_ATOL = 1e-5  # a batch of N against N single calls
REPEAT_ATOL = 1e-6  # a second call with the same torch.manual_seed
KERNEL_SUM_ATOL = 1e-4  # each kernel sums to 1
SEED = 0
BATCH, SIZE, ODD_SIZE = 3, (12, 12), (17, 23)
# Inputs for parts that refuse the small ones with a one-line InputError (a minimum input
# size, e.g. KernelGAN's 64 px crops inside a 10 px border need 86 px).
LARGE_SIZE, LARGE_ODD_SIZE = (96, 96), (97, 101)

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


class Failed(Exception):
    """A broken contract; its message becomes the result's detail."""


def expect(ok: Any, message: str) -> None:
    """Raise :class:`Failed` with ``message`` unless ``ok``."""
    if not ok:
        raise Failed(message)


def one_line(exc: BaseException) -> str:
    if isinstance(exc, Failed):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Report:
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
            self.add(check, FAIL, scale, one_line(exc))
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


def on_device(t: Tensor, device: str) -> bool:
    import torch

    want = torch.device(device)
    return t.device.type == want.type and (want.index is None or t.device.index == want.index)


def metadata(report: Report, specs: Sequence[Any]) -> None:
    def check() -> None:
        for spec in specs:
            for field_name in ("summary", "paper", "license"):
                value = getattr(spec, field_name)
                expect(isinstance(value, str) and value.strip(),
                       f"{spec.name}: {field_name} is empty (cite the paper and the licence; "
                       "use '-' for paper only when nothing was published)")
            scales = spec.scales
            expect(isinstance(scales, tuple) and scales
                   and all(isinstance(s, int) and s >= 1 for s in scales),
                   f"{spec.name}: scales must be a non-empty tuple of positive ints, "
                   f"got {scales!r}")

    report.attempt("metadata", None, check)


def skip_reason(specs: Sequence[Any], scale: int, device: str) -> str | None:
    if not device_available(device):
        return f"device {device!r} is not available here"
    for spec in specs:
        avail = spec.weights_available
        if avail is not None and not avail(scale):
            return f"no weights for x{scale} ({spec.name}: weights_available({scale}) is False)"
    return None


# ---- inputs ---------------------------------------------------------------------------

def images(n: int, size: tuple[int, int], device: str, seed: int, grey: bool = False) -> Tensor:
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


def gt_kernels(n: int, size: int, scale: int, device: str) -> Tensor:
    import torch

    from bsrbench.builtin import GAUSSIAN8_RANGES
    from bsrbench.kernels import gaussian_kernel

    lo, hi = GAUSSIAN8_RANGES.get(scale, (1.0, 2.0))
    sigmas = [lo + (hi - lo) * i / max(n - 1, 1) for i in range(n)]
    return torch.stack([gaussian_kernel(s, size=size) for s in sigmas]).to(device)


def lr_batch(n: int, size: tuple[int, int], scale: int, device: str, gt_size: int | None,
             seed: int = SEED, grey: bool = False) -> Any:
    from bsrbench.interfaces import LRBatch

    kernels = None if gt_size is None else gt_kernels(n, gt_size, scale, device)
    return LRBatch(lr=images(n, size, device, seed, grey), scale=scale, kernels=kernels)


def item(batch: Any, i: int) -> Any:
    from bsrbench.interfaces import LRBatch

    k = None if batch.kernels is None else batch.kernels[i:i + 1]
    return LRBatch(lr=batch.lr[i:i + 1], scale=batch.scale, kernels=k)


def as_runner(call: Callable[[Any], Any], needs_grad: bool) -> Callable[[Any], list[Any]]:
    """``call`` (a ``run`` or ``estimate``) consumed in the runner's grad mode:
    ``torch.inference_mode()``, or autograd for parts that declare ``needs_grad``."""
    def consume(batch: Any) -> list[Any]:
        from bsrbench.compose import grad_mode

        with grad_mode(needs_grad):
            return list(call(batch))

    return consume


def sized_run(report: Report, scale: int, call: Callable[[Any], Any],
              batch_at: Callable[[tuple[int, int]], Any], attr: str
              ) -> tuple[list[Any], Any, tuple[int, int], tuple[int, int]] | None:
    """The ``run`` check: ``call`` on a batch of :data:`SIZE`, or, when the part refuses
    that with a one-line :class:`~bsrbench.errors.InputError`, of :data:`LARGE_SIZE`.

    Returns:
        ``(items, batch, size, odd_size)`` the remaining checks use, or None when the run
        failed (recorded as FAIL).
    """
    from bsrbench.errors import InputError

    refused = ""
    try:
        batch = batch_at(SIZE)
        found = items(call, batch, attr)
    except InputError as exc:
        refused = one_line(exc)
    except Exception as exc:  # any error in a plugin is that plugin's failure
        report.add("run", FAIL, scale, one_line(exc))
        return None
    else:
        report.add("run", PASS, scale)
        return found, batch, SIZE, ODD_SIZE
    try:
        batch = batch_at(LARGE_SIZE)
        found = items(call, batch, attr)
    except Exception as exc:
        report.add("run", FAIL, scale, f"{one_line(exc)} (at {LARGE_SIZE[0]}x{LARGE_SIZE[1]}; "
                                       f"at {SIZE[0]}x{SIZE[1]}: {refused})")
        return None
    report.add("run", PASS, scale, f"checked at {LARGE_SIZE[0]}x{LARGE_SIZE[1]}: "
                                   f"{SIZE[0]}x{SIZE[1]} refused ({refused})")
    return found, batch, LARGE_SIZE, LARGE_ODD_SIZE


def items(call: Callable[[Any], Any], batch: Any, attr: str) -> list[Any]:
    """Run a method (``run``: Steps) or estimator (``estimate``: KernelEstimates), seeded;
    ``call`` is wrapped by :func:`as_runner`, which sets the grad mode."""
    import torch

    torch.manual_seed(SEED)
    found = list(call(batch))
    expect(found, "yielded nothing (a run must yield at least one step/estimate)")
    for it in found:
        expect(hasattr(it, attr), f"yielded {type(it).__name__}, which has no .{attr}")
    return found


def outputs(call: Callable[[Any], Any], batch: Any, attr: str) -> list[Tensor]:
    """The SR images (``attr="sr"``) or kernels (``"kernel"``) of every step of a call."""
    return [getattr(it, attr) for it in items(call, batch, attr)]


def same(a: list[Tensor], b: list[Tensor], atol: float, what: str) -> str:
    expect(len(a) == len(b), f"{what}: {len(a)} steps against {len(b)}")
    worst = 0.0
    for x, y in zip(a, b):
        expect(x.shape == y.shape, f"{what}: shapes {tuple(x.shape)} and {tuple(y.shape)}")
        worst = max(worst, float((x.double() - y.double()).abs().max()))
    expect(worst <= atol, f"{what}: differ by up to {worst:.3g} (tolerance {atol:g})")
    return f"max difference {worst:.1e}"


def check_kernels(ks: Iterable[Tensor | None], n: int, size: int | None) -> str:
    seen = 0
    for k in ks:
        if k is None:
            continue
        seen += 1
        expect(k.dim() == 3 and k.shape[0] == n and k.shape[1] == k.shape[2],
               f"kernels must be (B,k,k) = ({n},k,k), got {tuple(k.shape)}")
        if size is not None:
            expect(k.shape[-1] == size, f"kernels are {k.shape[-1]}x{k.shape[-1]} but the "
                                         f"spec declares kernel_size={size}")
        expect(bool(k.isfinite().all()), "kernels contain NaN or Inf")
        expect(float(k.min()) >= 0, f"kernels have negative entries (min {float(k.min()):.3g})")
        off = float((k.double().sum(dim=(-2, -1)) - 1).abs().max())
        expect(off <= KERNEL_SUM_ATOL, f"a kernel sums to 1{off:+.3g}, not 1 "
                                        f"(tolerance {KERNEL_SUM_ATOL:g})")
    return "" if seen else "no kernel estimates yielded"


def check_codes(obj: Any, codes: Iterable[Tensor | None], n: int, k_size: int,
                scale: int, device: str) -> str:
    """KernelCoder: encode_kernel gives (B,d) finite codes; yielded codes are (B,d) too."""
    encode = getattr(obj, "encode_kernel", None)
    d = None
    if encode is not None:
        import torch

        with torch.inference_mode():
            gt = encode(gt_kernels(n, k_size, scale, device))
        expect(gt.dim() == 2 and gt.shape[0] == n, f"encode_kernel must return (B,d), "
                                                    f"got {tuple(gt.shape)}")
        expect(bool(gt.isfinite().all()), "encode_kernel returned NaN or Inf")
        d = gt.shape[1]
    for code in codes:
        if code is None:
            continue
        expect(code.dim() == 2 and code.shape[0] == n, f"codes must be (B,d), "
                                                        f"got {tuple(code.shape)}")
        expect(d is None or code.shape[1] == d,
               f"codes have d={code.shape[1]} but encode_kernel gives d={d}")
    return "" if encode is not None else "no encode_kernel (not a KernelCoder)"


def in_range(srs: list[Tensor]) -> str:
    lo = min(float(s.min()) for s in srs)
    hi = max(float(s.max()) for s in srs)
    expect(SR_RANGE[0] <= lo and hi <= SR_RANGE[1],
           f"SR values span [{lo:.3g}, {hi:.3g}], outside [{SR_RANGE[0]}, {SR_RANGE[1]}] "
           "(images are in [0, 1]; is the output in 0..255?)")
    return f"[{lo:.3f}, {hi:.3f}]"


def batch_vs_singles(call: Callable[[Any], Any], batch: Any, whole: list[Tensor],
                     attr: str) -> str:
    import torch

    singles = [outputs(call, item(batch, i), attr) for i in range(batch.lr.shape[0])]
    expect(all(len(s) == len(whole) for s in singles),
           f"a batch yields {len(whole)} steps but single images yield "
           f"{sorted({len(s) for s in singles})}")
    joined = [torch.cat([s[j] for s in singles]) for j in range(len(whole))]
    return same(whole, joined, BATCH_ATOL, f"a batch of {batch.lr.shape[0]} and single calls")


def odd_or_grey(outs: list[Tensor], want: tuple[int, ...]) -> None:
    expect(all(tuple(o.shape) == want for o in outs),
           f"output is {tuple(outs[-1].shape)}, expected {want}")
    expect(all(bool(o.isfinite().all()) for o in outs), "output contains NaN or Inf")
    if len(want) == 4:
        in_range(outs)


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
