"""Speed of one IKC correction step (Corrector -> SFTMD) with the bundled x4 weights,
on a batch of 8 LR images of 48x48 (one Gaussian8 image of the embedded set), in fp32 and
under bf16 autocast: compare the two medians of the same run as a ratio."""

from __future__ import annotations

import contextlib

import pytest
import torch

from bsrbench.specs import BuildContext


@pytest.fixture(scope="module")
def ikc():
    from bsrbench_ikc.checkpoints import weights_available
    from bsrbench_ikc.method import build_method

    if not weights_available(4):
        pytest.skip("no bundled IKC x4 weights")
    return build_method(BuildContext(4, "cpu", None, {"iterations": 1}))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_bench_ikc_one_correction_step(benchmark, ikc, precision):
    torch.manual_seed(0)
    lr = torch.rand(8, 3, 48, 48)
    with torch.inference_mode():
        code = ikc.predictor(lr)
        sr = ikc.sftmd(lr, code)
    amp = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16"
           else contextlib.nullcontext())

    def step():
        with torch.inference_mode(), amp:
            new = ikc.corrector(sr.float().clamp(0, 1), code)
            return ikc.sftmd(lr, new)

    out = benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=1)
    assert out.shape == (8, 3, 192, 192)
