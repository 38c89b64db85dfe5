"""Speed of one IKC correction step (Corrector -> SFTMD) with the bundled x4 weights,
on a batch of 8 LR images of 48x48 (one Gaussian8 image of the embedded set), in fp32 with
contiguous and channels_last tensors: compare the two medians of one run as a ratio.

(bf16 autocast is not a variant here: in inference on the project's 2-core CPU it is
slower than fp32 (SFTMD on 8x48x48 under inference_mode, best of 3: fp32 2.19 s, bf16
8.57 s; channels_last 1.92 s vs 6.29 s; measured while a training job shared the CPU), so
inference uses it on CUDA only. Training steps are another matter: there bf16 +
channels_last pays on this CPU, see `--amp` of the train commands.)"""

from __future__ import annotations

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


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_bench_ikc_one_correction_step(benchmark, ikc, layout):
    torch.manual_seed(0)
    lr = torch.rand(8, 3, 48, 48)
    with torch.inference_mode():
        code = ikc.predictor(lr)
        sr = ikc.sftmd(lr, code)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    lr, sr = lr.contiguous(memory_format=fmt), sr.contiguous(memory_format=fmt)

    def step():
        with torch.inference_mode():
            new = ikc.corrector(sr.float().clamp(0, 1), code)
            return ikc.sftmd(lr, new)

    out = benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=1)
    assert out.shape == (8, 3, 192, 192)
