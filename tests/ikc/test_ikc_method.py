"""IKC's bsrbench objects with small random nets: the loop, the interfaces, the factories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bsrbench_ikc import checkpoints
from bsrbench_ikc.archs import SFTMD, Corrector, Predictor
from bsrbench_ikc.checkpoints import save_weights
from bsrbench_ikc.method import (
    IKCEstimator,
    IKCMethod,
    PredictorEstimator,
    SFTMDModel,
    build_ikc_estimator,
    build_method,
    build_predictor,
    build_sftmd,
)
from bsrbench_ikc.pca import KernelPCA, compute_pca, isotropic_kernels
from shared_bundle import shared_dir

from bsrbench.errors import InputError, WeightsError
from bsrbench.interfaces import (
    KernelCoder,
    KernelEstimator,
    LRBatch,
    Method,
    NonBlindModel,
)
from bsrbench.specs import BuildContext

SCALE = 2


class Spy(torch.nn.Module):
    """Wraps a net and records the arguments and results of every call."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        self.scale = getattr(net, "scale", None)
        self.calls: list[tuple[tuple[torch.Tensor, ...], torch.Tensor]] = []

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        out = self.net(*args)
        self.calls.append((tuple(a.clone() for a in args), out.clone()))
        return out


@pytest.fixture(scope="module")
def pca() -> KernelPCA:
    return compute_pca(4, n=2000)


def _nets(seed: int = 0) -> tuple[SFTMD, Predictor, Corrector]:
    torch.manual_seed(seed)
    # clamp=False so SFTMD's output leaves [0, 1] and the Corrector's clamp is visible.
    sftmd = SFTMD(nf=16, nb=2, scale=SCALE, sft_hidden=8, clamp=False)
    predictor, corrector = Predictor(nf=8), Corrector(nf=8)
    with torch.no_grad():  # push codes into a kernel-like range
        predictor.ConvNet[10].bias.fill_(0.05)
        sftmd.conv_output.weight.mul_(100.0)
        sftmd.conv_output.bias.add_(0.5)
    return sftmd, predictor, corrector


def _lr(b: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, 3, 12, 10, generator=torch.Generator().manual_seed(seed))


def test_ikc_method_yields_t_plus_one_steps_of_right_shapes(pca: KernelPCA) -> None:
    method = IKCMethod(*_nets(), pca, steps=4)
    steps = list(method.run(LRBatch(lr=_lr(), scale=SCALE)))
    assert len(steps) == 4
    for step in steps:
        assert step.sr.shape == (2, 3, 24, 20) and step.sr.dtype == torch.float32
        assert step.code.shape == (2, 10)
        assert step.kernel.shape == (2, 21, 21)
        assert step.kernel.min() >= 0
        assert torch.allclose(step.kernel.sum(dim=(1, 2)), torch.ones(2), atol=1e-6)


def test_ikc_method_feeds_corrector_output_forward(pca: KernelPCA) -> None:
    sftmd, predictor, corrector = _nets()
    spy_s, spy_c = Spy(sftmd), Spy(corrector)
    lr = _lr()
    steps = list(IKCMethod(spy_s, predictor, spy_c, pca, 4).run(LRBatch(lr=lr, scale=SCALE)))
    assert len(spy_c.calls) == 3 and len(spy_s.calls) == 4
    for i in range(1, 4):
        (sr_in, code_in), code_out = spy_c.calls[i - 1]
        assert torch.equal(code_in, steps[i - 1].code)  # corrects the previous code
        assert torch.equal(sr_in, steps[i - 1].sr.clamp(0, 1))  # sees the clamped SR
        assert torch.equal(steps[i].code, code_out)  # its output is the code, not added again
    assert steps[0].sr.min() < 0 or steps[0].sr.max() > 1  # so the clamp was exercised
    for (lr_in, _), _ in spy_s.calls:
        assert torch.equal(lr_in, lr)  # SFTMD always gets the original LR
    for step, ((_, code_in), sr_out) in zip(steps, spy_s.calls, strict=True):
        assert torch.equal(code_in, step.code) and torch.equal(sr_out, step.sr)


def test_ikc_method_step_zero_is_predictor_then_sftmd(pca: KernelPCA) -> None:
    sftmd, predictor, corrector = _nets()
    lr = _lr()
    step0 = next(IKCMethod(sftmd, predictor, corrector, pca, 3).run(LRBatch(lr=lr, scale=SCALE)))
    with torch.no_grad():
        code = predictor(lr)
        assert torch.equal(step0.code, code) and torch.equal(step0.sr, sftmd(lr, code))
    assert torch.equal(step0.kernel, pca.decode(code))


def test_ikc_method_batch_equals_single_runs(pca: KernelPCA) -> None:
    method = IKCMethod(*_nets(), pca, steps=3)
    lr = _lr(3)
    batched = list(method.run(LRBatch(lr=lr, scale=SCALE)))
    for b in range(3):
        single = list(method.run(LRBatch(lr=lr[b : b + 1], scale=SCALE)))
        for s_batch, s_one in zip(batched, single, strict=True):
            assert torch.allclose(s_batch.sr[b : b + 1], s_one.sr, atol=1e-5)
            assert torch.allclose(s_batch.code[b : b + 1], s_one.code, atol=1e-6)


def test_ikc_method_outputs_are_normal_tensors(pca: KernelPCA) -> None:
    for step in IKCMethod(*_nets(), pca, 2).run(LRBatch(lr=_lr(), scale=SCALE)):
        assert not torch.is_inference_mode_enabled()  # mode does not leak between steps
        assert not step.sr.is_inference() and not step.code.is_inference()
        step.sr.clamp_(0, 1)  # a runner may modify the SR in place


def test_ikc_method_encode_decode_round_trip_for_gaussians(pca: KernelPCA) -> None:
    method = IKCMethod(*_nets(), pca)
    kernels = torch.from_numpy(isotropic_kernels(np.array([0.3, 1.0, 2.0, 3.5]))).float()
    codes = method.encode_kernel(kernels)
    assert torch.allclose(method.encode_kernel(pca.decode(codes)), codes, atol=2e-4)


def test_ikc_method_rejects_wrong_scale_and_shape(pca: KernelPCA) -> None:
    method = IKCMethod(*_nets(), pca)
    with pytest.raises(InputError, match="×2"):
        next(method.run(LRBatch(lr=_lr(), scale=4)))
    with pytest.raises(InputError, match="B, 3, h, w"):
        next(method.run(LRBatch(lr=torch.rand(1, 1, 8, 8), scale=SCALE)))
    with pytest.raises(InputError, match="steps"):
        IKCMethod(*_nets(), pca, steps=0)


def test_ikc_objects_follow_the_interfaces(pca: KernelPCA) -> None:
    sftmd, predictor, corrector = _nets()
    method = IKCMethod(sftmd, predictor, corrector, pca)
    model = SFTMDModel(sftmd, pca)
    pred = PredictorEstimator(predictor, pca)
    est = IKCEstimator(sftmd, predictor, corrector, pca)
    assert isinstance(method, Method) and isinstance(method, KernelCoder)
    assert isinstance(model, NonBlindModel) and isinstance(model, KernelCoder)
    assert model.kernel_size == 21
    for e in (pred, est):
        assert isinstance(e, KernelEstimator) and isinstance(e, KernelCoder)


def test_ikc_sftmd_model_restores_with_encoded_kernel(pca: KernelPCA) -> None:
    sftmd, _, _ = _nets()
    lr = _lr()
    kernels = torch.from_numpy(isotropic_kernels(np.array([1.0, 2.5]))).float()
    sr = SFTMDModel(sftmd, pca).restore(lr, kernels)
    with torch.no_grad():
        assert torch.equal(sr, sftmd(lr, pca.encode(kernels)))
    assert sr.shape == (2, 3, 24, 20)


def test_ikc_estimators_match_the_method(pca: KernelPCA) -> None:
    sftmd, predictor, corrector = _nets()
    batch = LRBatch(lr=_lr(), scale=SCALE)
    steps = list(IKCMethod(sftmd, predictor, corrector, pca, 3).run(batch))
    estimates = list(IKCEstimator(sftmd, predictor, corrector, pca, 3).estimate(batch))
    assert len(estimates) == 3
    for step, est in zip(steps, estimates, strict=True):
        assert torch.equal(step.code, est.code) and torch.equal(step.kernel, est.kernel)
    (only,) = list(PredictorEstimator(predictor, pca).estimate(batch))
    assert torch.equal(only.code, steps[0].code)


# ---------------------------------------------------------------------------- factories


def _ctx(weights: Path | None, **options: int) -> BuildContext:
    return BuildContext(scale=SCALE, device="cpu", weights=weights, options=options)


def test_ikc_factories_without_weights_say_how_to_get_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(checkpoints, "BUNDLED_DIR", tmp_path / "weights")
    for factory in (build_method, build_sftmd, build_predictor, build_ikc_estimator):
        with pytest.raises(WeightsError, match="--weights DIR"):
            factory(_ctx(None, steps=7))


def test_ikc_factories_build_from_a_bsrbench_folder(tmp_path: Path, pca: KernelPCA) -> None:
    sftmd, predictor, corrector = _nets()
    save_weights(tmp_path, SCALE, sftmd=sftmd, predictor=predictor, corrector=corrector, pca=pca)
    sftmd.clamp = True  # clamping is not saved: loaded SFTMDs clamp, as the official one does
    batch = LRBatch(lr=_lr(), scale=SCALE)
    method = build_method(_ctx(tmp_path, steps=3))
    steps = list(method.run(batch))
    assert len(steps) == 3
    ref = list(IKCMethod(sftmd, predictor, corrector, pca, 3).run(batch))
    assert all(torch.equal(a.sr, b.sr) for a, b in zip(steps, ref, strict=True))
    assert len(list(build_ikc_estimator(_ctx(tmp_path, steps=2)).estimate(batch))) == 2
    assert len(list(build_predictor(_ctx(tmp_path)).estimate(batch))) == 1
    kernels = torch.from_numpy(isotropic_kernels(np.array([1.0, 2.0]))).float()
    assert build_sftmd(_ctx(tmp_path)).restore(batch.lr, kernels).shape == (2, 3, 24, 20)


def test_ikc_predictor_factory_with_official_weights() -> None:
    root = shared_dir("reference", "ikc", "official")
    golden = torch.load(
        shared_dir("reference", "ikc", "golden_predictor_corrector.pt"), weights_only=True
    )
    ctx = BuildContext(scale=4, device="cpu", weights=root)
    (est,) = list(build_predictor(ctx).estimate(LRBatch(lr=golden["lr"], scale=4)))
    assert (est.code - golden["pred_code"]).abs().max() < 1e-6
    assert abs(est.kernel.sum().item() - 1) < 1e-6
