"""The conformance suite: every registered plugin passes it, deliberately broken ones fail.

The built-in tests are parametrised over the registry itself, so a plugin added to the
registry is checked the same way. Methods and estimators without bundled weights are
skipped with that reason; they run as soon as their weights land.
"""

from __future__ import annotations

import types

import pytest
import torch

from bsrbench import (
    EstimatorSpec,
    KernelEstimate,
    MethodSpec,
    ModelSpec,
    Step,
    UnknownNameError,
    hookimpl,
)
from bsrbench.plugin_dev import (
    FAIL,
    PASS,
    SKIP,
    check_degradation,
    check_estimator,
    check_method,
    check_plugin,
    format_results,
)
from bsrbench.plugin_dev.pytest_plugin import assert_conformance
from bsrbench.registry import load_registry


@pytest.fixture(autouse=True)
def _one_thread():
    """The checks' tiny convolutions run faster on one thread (far faster on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _registered() -> dict[str, list]:
    """Every registered part; zero-shot ones (``needs_grad``: an optimisation per image,
    seconds to minutes on a CPU even with a two-pass loop) are marked slow."""
    reg = load_registry()

    def param(kind: str, name: str, spec) -> object:
        slow = bool(getattr(spec, "needs_grad", False))
        return pytest.param(name, marks=[pytest.mark.slow] if slow else [])

    return {
        "method": [param("method", n, reg.methods[n]) for n in reg.list("method")]
        + [f"{m}+oracle" for m in reg.list("model")],
        "estimator": [param("estimator", n, reg.estimators[n]) for n in reg.list("estimator")],
        "degradation": reg.list("degradation"),
    }


REGISTERED = _registered()


def _scales(registry, kind: str, name: str) -> list[int] | None:
    """Every declared scale; a zero-shot part only at its first (the contract does not
    depend on the scale, and each check optimises anew)."""
    if "+" in name:
        return None
    spec = registry.get(kind, name)
    return list(spec.scales[:1]) if getattr(spec, "needs_grad", False) else None


@pytest.mark.parametrize("name", REGISTERED["method"])
def test_conformance_registered_method(registry, name):
    assert_conformance(check_method(registry, name, scales=_scales(registry, "method", name),
                                    options=_short_loop(registry, "method", name)))


@pytest.mark.parametrize("name", REGISTERED["estimator"])
def test_conformance_registered_estimator(registry, name):
    assert_conformance(check_estimator(registry, name,
                                       scales=_scales(registry, "estimator", name),
                                       options=_short_loop(registry, "estimator", name)))


@pytest.mark.parametrize("name", REGISTERED["degradation"])
def test_conformance_registered_degradation(registry, name):
    assert_conformance(check_degradation(registry, name))


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """x4 weights for the built-in plugins, randomly initialised: small IKC nets in the
    bsrbench layout and full-size SRMD nets, so their contracts are checked before the
    trained weights are bundled."""
    from bsrbench_ikc.archs import SFTMD, Corrector, Predictor
    from bsrbench_ikc.checkpoints import save_weights
    from bsrbench_ikc.pca import compute_pca
    from bsrbench_srmd.arch import SRMD

    from bsrbench.weights import save_state_dict

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    save_weights(folder, 4, sftmd=SFTMD(nf=16, nb=2, scale=4, sft_hidden=8),
                 predictor=Predictor(nf=8), corrector=Corrector(nf=8),
                 pca=compute_pca(4, n=2000))
    for variant, in_nc in (("srmd", 19), ("srmdnf", 18)):
        save_state_dict(SRMD(in_nc=in_nc, scale=4).state_dict(),
                        folder / f"{variant}_x4.safetensors")
    return folder


@pytest.mark.parametrize(("kind", "name"), [
    ("method", "ikc"), ("method", "sftmd+oracle"), ("method", "srmd+oracle"),
    ("method", "srmdnf+oracle"), ("estimator", "ikc.predictor"), ("estimator", "ikc"),
])
def test_conformance_builtin_with_random_weights(registry, random_weights, kind, name):
    check = check_method if kind == "method" else check_estimator
    options = _short_loop(registry, kind, name)
    results = check(registry, name, scales=[4], weights=random_weights, options=options)
    assert not _failed(results), format_results(results)
    assert {r.status for r in results} == {PASS}


def _short_loop(registry, kind, name) -> dict[str, int] | None:
    """Two passes of an iterative part's loop (IKC's ``steps``, a zero-shot estimator's
    ``iterations``), so the checks stay short: the contract does not depend on the length."""
    if kind == "method" and "+" in name:
        return None
    spec = registry.get(kind, name)
    loop = [o.name for o in spec.options if o.name in ("steps", "iterations")]
    return {loop[0]: 2} if loop else None


def test_conformance_covers_the_builtin_plugins():
    names = {k: {getattr(p, "values", (p,))[0] for p in v} for k, v in REGISTERED.items()}
    assert {"bicubic", "ikc", "sftmd+oracle", "srmd+oracle", "srmdnf+oracle"} <= names["method"]
    assert {"ikc", "ikc.predictor", "oracle"} <= names["estimator"]


# ---- deliberately broken plugins --------------------------------------------------------

def _up(lr: torch.Tensor, s: int) -> torch.Tensor:
    return lr.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1)


class Nearest:
    """A correct method: nearest-neighbour upsampling."""

    def run(self, batch):
        yield Step(sr=_up(batch.lr, batch.scale))


class WrongSize(Nearest):
    def run(self, batch):
        yield Step(sr=_up(batch.lr, batch.scale)[..., 1:, :])


class MakesNaN(Nearest):
    def run(self, batch):
        sr = _up(batch.lr, batch.scale).clone()
        sr[:, :, 0, 0] = float("nan")
        yield Step(sr=sr)


class NonDeterministic(Nearest):
    calls = 0

    def run(self, batch):
        self.calls += 1  # state that survives torch.manual_seed
        yield Step(sr=_up(batch.lr, batch.scale) + 0.01 * self.calls)


class BatchDependent(Nearest):
    def run(self, batch):
        sr = _up(batch.lr, batch.scale)  # normalised with batch statistics (BatchNorm-style)
        yield Step(sr=sr - sr.mean(dim=0, keepdim=True) + 0.5)


class Float64(Nearest):
    def run(self, batch):
        yield Step(sr=_up(batch.lr, batch.scale).double())


class Range255(Nearest):
    def run(self, batch):
        yield Step(sr=_up(batch.lr, batch.scale) * 255)


class YieldsNothing(Nearest):
    def run(self, batch):
        return iter(())


class BadKernelSteps(Nearest):
    def run(self, batch):
        k = torch.ones(batch.lr.shape[0], 5, 5, device=batch.lr.device)  # sums to 25
        yield Step(sr=_up(batch.lr, batch.scale), kernel=k)


def _broken_build(ctx):
    raise RuntimeError("weights file is missing")


class _Estimator:
    def __init__(self, size: int = 21, total: float = 1.0, sign: float = 1.0) -> None:
        self.size, self.total, self.sign = size, total, sign

    def estimate(self, batch):
        k = torch.full((batch.lr.shape[0], self.size, self.size), 1.0 / self.size**2)
        k[:, 0, 0] *= self.sign
        yield KernelEstimate(kernel=(k * self.total).to(batch.lr.device))


def _plugin(*specs) -> types.ModuleType:
    mod = types.ModuleType("fakes")
    methods = [s for s in specs if isinstance(s, MethodSpec)]
    estimators = [s for s in specs if isinstance(s, EstimatorSpec)]
    models = [s for s in specs if isinstance(s, ModelSpec)]
    mod.bsrbench_methods = hookimpl(lambda: methods)
    mod.bsrbench_estimators = hookimpl(lambda: estimators)
    mod.bsrbench_models = hookimpl(lambda: models)
    return mod


def _method(name, cls=Nearest, *, factory=None, paper="A, B, C, 2024", **kw) -> MethodSpec:
    return MethodSpec(name, "a fake", paper, "MIT", (2, 3), factory=factory or (lambda c: cls()),
                      **kw)


def _estimator(name, **kw) -> EstimatorSpec:
    return EstimatorSpec(name, "a fake", "-", "MIT", (2,), factory=lambda c: _Estimator(**kw))


def _failed(results) -> set[str]:
    return {r.check for r in results if r.status == FAIL}


@pytest.mark.parametrize(("cls", "check"), [
    (WrongSize, "shape"),
    (MakesNaN, "finite"),
    (NonDeterministic, "deterministic"),
    (BatchDependent, "batch"),
    (Float64, "dtype"),
    (Range255, "range"),
    (YieldsNothing, "run"),
    (BadKernelSteps, "kernels"),
])
def test_conformance_broken_method_fails_its_check(cls, check):
    reg = load_registry(autoload=False, extra=[_plugin(_method("fake", cls))])
    results = check_method(reg, "fake", scales=[2])
    assert check in _failed(results), format_results(results)
    if cls is BatchDependent:
        assert "deterministic" not in _failed(results)
    if cls is NonDeterministic:
        assert "shape" not in _failed(results)


def test_conformance_correct_fake_passes_every_check():
    reg = load_registry(autoload=False, extra=[_plugin(_method("fake"))])
    results = check_method(reg, "fake", scales=[2, 3])
    assert {r.status for r in results} == {PASS}, format_results(results)
    assert {(r.check, r.scale) for r in results} >= {("odd-size", 3), ("grey", 2), ("batch", 2)}


def test_conformance_factory_error_fails_build_and_skips_the_rest():
    reg = load_registry(autoload=False, extra=[_plugin(_method("fake", factory=_broken_build))])
    results = check_method(reg, "fake", scales=[2])
    assert _failed(results) == {"build"}
    build = next(r for r in results if r.check == "build")
    assert "RuntimeError: weights file is missing" in build.detail
    assert {r.status for r in results if r.check not in ("build", "metadata")} == {SKIP}


def test_conformance_missing_weights_are_skipped_with_the_reason():
    spec = _method("fake", weights_available=lambda s: s == 3)
    reg = load_registry(autoload=False, extra=[_plugin(spec)])
    results = check_method(reg, "fake")
    at2 = [r for r in results if r.scale == 2]
    assert at2 and all(r.status == SKIP for r in at2)
    assert at2[0].detail == "no weights for x2 (fake: weights_available(2) is False)"
    assert all(r.status == PASS for r in results if r.scale == 3)


def test_conformance_all_skipped_skips_the_test():
    reg = load_registry(autoload=False, extra=[_plugin(_method("fake",
                                                               weights_available=lambda s: False))])
    with pytest.raises(pytest.skip.Exception, match="no weights for x2"):
        assert_conformance(check_method(reg, "fake"))


def test_conformance_unavailable_device_is_skipped():
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    reg = load_registry(autoload=False, extra=[_plugin(_method("fake"))])
    results = check_method(reg, "fake", device="cuda:7", scales=[2])
    per_scale = [r for r in results if r.scale == 2]
    assert per_scale and all(r.status == SKIP and "not available" in r.detail for r in per_scale)


def test_conformance_empty_paper_fails_metadata():
    from bsrbench.registry import Registry

    reg = Registry(methods={"fake": _method("fake", paper=" ")})  # the registry may refuse it
    results = check_method(reg, "fake", scales=[2])
    assert _failed(results) == {"metadata"}


@pytest.mark.parametrize(("kw", "check"), [
    ({"size": 15}, "shape"),
    ({"total": 2.0}, "kernels"),
    ({"sign": -1.0}, "kernels"),
])
def test_conformance_broken_estimator_fails_its_check(kw, check):
    reg = load_registry(autoload=False, extra=[_plugin(_estimator("fake", **kw))])
    results = check_estimator(reg, "fake")
    assert check in _failed(results), format_results(results)


def _autograd_on() -> None:
    if not torch.is_grad_enabled() or torch.is_inference_mode_enabled():
        raise RuntimeError("called with grad disabled")


class OptimisesPerImage(Nearest):
    def run(self, batch):
        _autograd_on()
        yield from super().run(batch)


class _OptimisingEstimator(_Estimator):
    def estimate(self, batch):
        _autograd_on()
        yield from super().estimate(batch)


@pytest.mark.parametrize("needs_grad", [True, False])
def test_conformance_runs_needs_grad_parts_with_autograd_as_the_runner(needs_grad):
    est = EstimatorSpec("fakeest", "a fake", "-", "MIT", (2,), needs_grad=needs_grad,
                        factory=lambda c: _OptimisingEstimator())
    reg = load_registry(autoload=False, extra=[_plugin(
        _method("fake", OptimisesPerImage, needs_grad=needs_grad), est)])
    results = check_method(reg, "fake", scales=[2]) + check_estimator(reg, "fakeest")
    if needs_grad:
        assert {r.status for r in results} == {PASS}, format_results(results)
    else:  # run under inference_mode, as the runner runs parts that do not declare it
        assert _failed(results) == {"run"}, format_results(results)


class FakeModel:
    kernel_size = 21

    def restore(self, lr, estimate, noise=None):
        assert estimate.kernel.shape == (lr.shape[0], 21, 21)
        return _up(lr, 2)


def _model(name: str = "fakemodel") -> ModelSpec:
    return ModelSpec(name, "a fake", "-", "MIT", (2,), factory=lambda c: FakeModel())


def test_conformance_model_is_checked_composed_with_oracle():
    reg = load_registry(autoload=False, extra=[_plugin(_model())])
    results = check_plugin(reg, "fakemodel")
    assert {r.target for r in results} == {"fakemodel+oracle"}
    assert not _failed(results), format_results(results)


def test_conformance_composed_needs_grad_estimator_gets_autograd():
    est = EstimatorSpec("fakeest", "a fake", "-", "MIT", (2,), needs_grad=True,
                        factory=lambda c: _OptimisingEstimator())
    reg = load_registry(autoload=False, extra=[_plugin(_model(), est)])
    results = check_method(reg, "fakemodel+fakeest", scales=[2])
    assert {r.status for r in results} == {PASS}, format_results(results)


def test_check_plugin_checks_everything_a_plugin_provides(registry):
    results = check_plugin(registry, "bsrbench", scales=[2])
    kinds = {(r.kind, r.target) for r in results}
    assert ("estimator", "oracle") in kinds and ("degradation", "direct") in kinds
    assert not _failed(results)


def test_check_plugin_unknown_name_suggests(registry):
    with pytest.raises(UnknownNameError, match="did you mean 'bicubic'"):
        check_plugin(registry, "bicubik")
