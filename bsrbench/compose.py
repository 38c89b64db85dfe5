"""Turning CLI names into a runnable method: blind methods, and model + estimator.

``--method ikc`` builds a blind method. ``--method srmd --kernel ikc`` composes the
non-blind model ``srmd`` with the estimator ``ikc`` into the method ``srmd+ikc``: the model
restores the LR once per kernel estimate, so an iterative estimator gives one step per
estimate. Kernels of another size than the model's are converted only when the model
declares a named conversion, and the conversion is recorded with the results.

The model receives the estimator's whole :class:`~bsrbench.interfaces.KernelEstimate`: a
model whose code space is the estimator's (``sftmd`` with ``ikc.predictor``) uses the code
itself, so ``sftmd+ikc.predictor`` is exactly ``ikc``'s first step. Projecting the code to a
kernel and re-encoding it is another method, offered only as the labelled option
``-O kernel_input=kernel``. The core, not the plugins, owns the grad modes: every step runs
under ``torch.inference_mode()`` except the parts that declare ``needs_grad``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError, UnknownNameError
from bsrbench.interfaces import KernelEstimate, LRBatch, Step
from bsrbench.specs import (
    BuildContext,
    EstimatorSpec,
    MethodSpec,
    ModelSpec,
    OptionSpec,
    resolve_options,
)

if TYPE_CHECKING:
    from bsrbench.interfaces import KernelEstimator, NonBlindModel
    from bsrbench.registry import Registry

__all__ = ["ComposedMethod", "MethodPlan", "grad_mode", "plan_method"]

KERNEL_CONVERSIONS = ("center-crop",)
KERNEL_INPUTS = ("code", "kernel")
# Options of every composition (not of its model or estimator).
COMPOSITION_OPTIONS = (
    OptionSpec("kernel_input", str, "code",
               "code: a model sharing the estimator's code space uses its code directly; "
               "kernel: project the code to a kernel and re-encode it (another method, "
               "labelled [kernel-input])"),
)


@contextlib.contextmanager
def grad_mode(needs_grad: bool) -> Iterator[None]:
    """The grad mode a part runs under: autograd on for per-image optimisation
    (``needs_grad``; it also leaves an enclosing ``inference_mode``, which
    ``enable_grad`` alone does not), ``torch.inference_mode()`` for everything else."""
    import torch

    if needs_grad:
        with torch.inference_mode(False), torch.enable_grad():
            yield
    else:
        with torch.inference_mode():
            yield


@dataclass(frozen=True)
class MethodPlan:
    """What ``--method``/``--kernel`` resolved to, before anything heavy is built."""

    label: str  # results' method column: "ikc" or "srmd+oracle"
    method: MethodSpec | None  # the blind method, or None for a composition
    model: ModelSpec | None
    estimator: EstimatorSpec | None
    options: Mapping[str, Any]  # user options split per part: {"method"|"model"|"estimator": {}}

    @property
    def uses_ground_truth(self) -> bool:
        return bool(self.estimator and self.estimator.uses_ground_truth)

    @property
    def iterative(self) -> bool:
        part = self.method or self.estimator
        return bool(part and part.iterative)

    @property
    def needs_grad(self) -> bool:
        """A part optimises per image: the runner must not run it under inference mode."""
        return any(p.needs_grad for p in (self.method, self.estimator) if p is not None)

    @property
    def uses_noise_level(self) -> bool:
        """The true noise level reaches a part of this method (its rows: noise_known)."""
        return any(p.uses_noise_level for p in (self.method, self.model, self.estimator)
                   if p is not None)

    def check_kernel_weights(self, kernel_weights: Any) -> None:
        """Refuse ``--kernel-weights`` where no estimator takes weights (cheap: call it
        before any work)."""
        if kernel_weights is None:
            return
        if self.estimator is None:
            raise InputError(f"--kernel-weights is for a model's kernel estimator, and "
                             f"{self.label!r} has none: use --weights")
        if self.estimator.weights_available is None:
            raise InputError(f"estimator {self.estimator.name!r} uses no weights: drop "
                             "--kernel-weights")

    def check_weights(self, scale: int, weights: Any = None, kernel_weights: Any = None) -> None:
        """Refuse a scale for which a part given no weights has no bundled ones (cheap:
        call it before any test set is built or folder made)."""
        for spec, given, flag in ((self.method, weights, "--weights"),
                                  (self.model, weights, "--weights"),
                                  (self.estimator, kernel_weights, "--kernel-weights")):
            if spec is None or given is not None or spec.weights_available is None:
                continue
            if not spec.weights_available(scale):
                hint = spec.weights_hint(scale) if spec.weights_hint is not None else ""
                if hint:
                    raise InputError(hint)
                have = [s for s in spec.scales if spec.weights_available(s)]
                bundled = f"bundled: x{', x'.join(map(str, have))}" if have else "none bundled"
                raise InputError(
                    f"{spec.name!r} has no bundled weights for x{scale} ({bundled}): pass "
                    f"{flag} FILE_OR_DIR (`bsrbench weights list` shows official releases)")

    def build(self, scale: int, device: str, weights: Any = None,
              kernel_weights: Any = None) -> Any:
        """Build the runnable object (loads networks and weights).

        ``weights`` (``--weights``) are the blind method's or the model's;
        ``kernel_weights`` (``--kernel-weights``) the estimator's. None: bundled.
        """
        self.check_kernel_weights(kernel_weights)
        if self.method is not None:
            ctx = BuildContext(scale, device, weights, self.options["method"])
            return self.method.factory(ctx)
        assert self.model is not None and self.estimator is not None  # by plan_method
        model = self.model.factory(BuildContext(scale, device, weights, self.options["model"]))
        estimator = self.estimator.factory(
            BuildContext(scale, device, kernel_weights, self.options["estimator"]))
        kernel_input = self.options.get("composition", {}).get("kernel_input", "code")
        return ComposedMethod(model, estimator, self.model, self.estimator,
                              kernel_input=kernel_input)


def plan_method(
    registry: Registry, method: str, kernel: str | None = None,
    options: Mapping[str, Any] | None = None, scale: int | None = None,
) -> MethodPlan:
    """Resolve ``--method``/``--kernel``/``-o`` into a :class:`MethodPlan`.

    Raises:
        UnknownNameError: unknown method or estimator (with a suggestion).
        InputError: a blind method given ``--kernel``, a model without one, an unsupported
            scale, an option nobody declares, or kernel sizes that cannot be reconciled.
    """
    options = dict(options or {})
    if method not in registry.methods and method not in registry.models:
        raise UnknownNameError("method", method, [*registry.methods, *registry.models])
    if kernel is None:
        if method in registry.models and method not in registry.methods:
            raise InputError(
                f"{method!r} is a non-blind model: give it a kernel estimator with --kernel "
                f"(one of: {', '.join(registry.list('estimator'))})")
        spec = registry.methods[method]
        _check_scale(spec, scale)
        opts = resolve_options(spec.options, options, f"method {method!r}")
        return MethodPlan(method, spec, None, None, {"method": opts})
    if method in registry.methods and method not in registry.models:
        raise InputError(f"{method!r} is a blind method that estimates its own kernel; "
                         f"--kernel is for non-blind models ({', '.join(registry.list('model'))})")
    model = registry.get("model", method)
    estimator = registry.get("estimator", kernel)
    _check_scale(model, scale)
    _check_scale(estimator, scale)
    if (model.kernel_size is not None and estimator.kernel_size != model.kernel_size
            and model.kernel_conversion is None):
        raise InputError(
            f"model {model.name!r} needs {model.kernel_size}x{model.kernel_size} kernels but "
            f"estimator {estimator.name!r} gives {estimator.kernel_size}x"
            f"{estimator.kernel_size}, and the model declares no kernel conversion")
    split: dict[str, dict[str, Any]] = {"model": {}, "estimator": {}, "composition": {}}
    names_m = {o.name for o in model.options}
    names_e = {o.name for o in estimator.options}
    names_c = {o.name for o in COMPOSITION_OPTIONS}
    for key, value in options.items():
        if key in names_m:
            split["model"][key] = value
        if key in names_e:
            split["estimator"][key] = value
        if key in names_c:
            split["composition"][key] = value
        if key not in names_m | names_e | names_c:
            known = ", ".join(sorted(names_m | names_e | names_c)) or "none"
            raise InputError(f"{model.name}+{estimator.name} has no option {key!r} "
                             f"(its options: {known})")
    opts = {
        "model": resolve_options(model.options, split["model"], f"model {model.name!r}"),
        "estimator": resolve_options(estimator.options, split["estimator"],
                                     f"estimator {estimator.name!r}"),
    }
    label = f"{model.name}+{estimator.name}"
    comp = resolve_options(COMPOSITION_OPTIONS, split["composition"], label)
    if comp["kernel_input"] not in KERNEL_INPUTS:
        raise InputError(f"option kernel_input={comp['kernel_input']!r} of {label}: use "
                         f"{' or '.join(KERNEL_INPUTS)}")
    if comp["kernel_input"] != "code":  # a different method: it must not look the same
        opts["composition"] = comp
        label += "[kernel-input]"
    return MethodPlan(label, None, model, estimator, opts)


def _check_scale(spec: Any, scale: int | None) -> None:
    if scale is not None and scale not in spec.scales:
        raise InputError(f"{spec.name!r} supports scales {', '.join(map(str, spec.scales))}, "
                         f"not x{scale}")


def convert_kernel(kernel: Any, size: int | None, conversion: str | None) -> Any:
    """Apply a model's declared conversion to estimates of another size (``size`` None:
    the model takes any size)."""
    from bsrbench.kernels import resize_kernel

    if size is None or kernel.shape[-1] == size:
        return kernel
    if conversion == "center-crop":
        return resize_kernel(kernel, size)
    raise InputError(f"a {kernel.shape[-1]}x{kernel.shape[-1]} kernel cannot be used by a "
                     f"model that needs {size}x{size} kernels")


class ComposedMethod:
    """A non-blind model driven by a kernel estimator: one SR step per estimate.

    The estimator runs in the grad mode its spec declares (autograd for zero-shot
    optimisation); the model always restores under inference mode. Each step records the
    code the model actually used: the estimator's code when the model took it directly,
    else the model's own encoding of the kernel it read (None for models without codes).
    Code L2 is measured in the model's code space when it has one.
    """

    def __init__(self, model: NonBlindModel, estimator: KernelEstimator,
                 model_spec: ModelSpec, estimator_spec: EstimatorSpec, *,
                 kernel_input: str = "code") -> None:
        self.model, self.estimator = model, estimator
        self.model_spec, self.estimator_spec = model_spec, estimator_spec
        self.kernel_input = kernel_input
        coder = model if hasattr(model, "encode_kernel") else (
            estimator if hasattr(estimator, "encode_kernel") else None)
        if coder is not None:
            self.encode_kernel = coder.encode_kernel

    def _uses_code(self, est: KernelEstimate) -> bool:
        space = getattr(self.model, "code_space", None)
        return (self.kernel_input == "code" and est.code is not None and space is not None
                and est.space == space)

    def run(self, batch: LRBatch) -> Iterator[Step]:
        from bsrbench.kernels import check_kernel

        noise = batch.noise if self.model_spec.uses_noise_level else None
        seen = LRBatch(lr=batch.lr, scale=batch.scale,
                       noise=batch.noise if self.estimator_spec.uses_noise_level else None,
                       kernels=batch.kernels if self.estimator_spec.uses_ground_truth
                       else None)
        estimates = self.estimator.estimate(seen)
        while True:
            with grad_mode(self.estimator_spec.needs_grad):
                est = next(estimates, None)
            if est is None:
                return
            with grad_mode(False):
                kernel = est.kernel.detach()
                check_kernel(kernel)
                kernel = convert_kernel(kernel, self.model_spec.kernel_size,
                                        self.model_spec.kernel_conversion)
                if self._uses_code(est):
                    code = est.code.detach()
                    given = KernelEstimate(kernel=kernel, code=code, space=est.space)
                else:
                    given = KernelEstimate(kernel=kernel)
                    encode = getattr(self.model, "encode_kernel", None)
                    code = encode(kernel) if encode is not None else None
                sr = self.model.restore(batch.lr, given, noise)
            yield Step(sr=sr, kernel=est.kernel.detach(), code=code)
