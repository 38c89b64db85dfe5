"""Turning CLI names into a runnable method: blind methods, and model + estimator.

``--method ikc`` builds a blind method. ``--method srmd --kernel ikc`` composes the
non-blind model ``srmd`` with the estimator ``ikc`` into the method ``srmd+ikc``: the model
restores the LR once per kernel estimate, so an iterative estimator gives one step per
estimate. Kernels of another size than the model's are converted only when the model
declares a named conversion, and the conversion is recorded with the results.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError, UnknownNameError
from bsrbench.interfaces import LRBatch, Step
from bsrbench.specs import BuildContext, EstimatorSpec, MethodSpec, ModelSpec, resolve_options

if TYPE_CHECKING:
    from bsrbench.interfaces import KernelEstimator, NonBlindModel
    from bsrbench.registry import Registry

__all__ = ["ComposedMethod", "MethodPlan", "plan_method"]

KERNEL_CONVERSIONS = ("center-crop",)


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
        return ComposedMethod(model, estimator, self.model, self.estimator)


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
    if estimator.kernel_size != model.kernel_size and model.kernel_conversion is None:
        raise InputError(
            f"model {model.name!r} needs {model.kernel_size}x{model.kernel_size} kernels but "
            f"estimator {estimator.name!r} gives {estimator.kernel_size}x"
            f"{estimator.kernel_size}, and the model declares no kernel conversion")
    split: dict[str, dict[str, Any]] = {"model": {}, "estimator": {}}
    names_m = {o.name for o in model.options}
    names_e = {o.name for o in estimator.options}
    for key, value in options.items():
        if key in names_m:
            split["model"][key] = value
        if key in names_e:
            split["estimator"][key] = value
        if key not in names_m | names_e:
            known = ", ".join(sorted(names_m | names_e)) or "none"
            raise InputError(f"{model.name}+{estimator.name} has no option {key!r} "
                             f"(its options: {known})")
    opts = {
        "model": resolve_options(model.options, split["model"], f"model {model.name!r}"),
        "estimator": resolve_options(estimator.options, split["estimator"],
                                     f"estimator {estimator.name!r}"),
    }
    return MethodPlan(f"{model.name}+{estimator.name}", None, model, estimator, opts)


def _check_scale(spec: Any, scale: int | None) -> None:
    if scale is not None and scale not in spec.scales:
        raise InputError(f"{spec.name!r} supports scales {', '.join(map(str, spec.scales))}, "
                         f"not x{scale}")


def convert_kernel(kernel: Any, size: int, conversion: str | None) -> Any:
    """Apply a model's declared conversion to estimates of another size."""
    from bsrbench.kernels import resize_kernel

    if kernel.shape[-1] == size:
        return kernel
    if conversion == "center-crop":
        return resize_kernel(kernel, size)
    raise InputError(f"a {kernel.shape[-1]}x{kernel.shape[-1]} kernel cannot be used by a "
                     f"model that needs {size}x{size} kernels")


class ComposedMethod:
    """A non-blind model driven by a kernel estimator: one SR step per estimate."""

    def __init__(self, model: NonBlindModel, estimator: KernelEstimator,
                 model_spec: ModelSpec, estimator_spec: EstimatorSpec) -> None:
        self.model, self.estimator = model, estimator
        self.model_spec, self.estimator_spec = model_spec, estimator_spec
        if hasattr(estimator, "encode_kernel"):
            self.encode_kernel = estimator.encode_kernel

    def run(self, batch: LRBatch) -> Iterator[Step]:
        from bsrbench.kernels import check_kernel

        for est in self.estimator.estimate(batch):
            check_kernel(est.kernel)
            kernel = convert_kernel(est.kernel, self.model.kernel_size,
                                    self.model_spec.kernel_conversion)
            sr = self.model.restore(batch.lr, kernel, batch.noise)
            yield Step(sr=sr, kernel=est.kernel, code=est.code)
