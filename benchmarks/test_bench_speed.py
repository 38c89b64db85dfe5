"""Where the time goes around the networks (issue #21), measured side by side in one run.

Two groups, each read as ratios to its first variant (the terminal summary prints them):

- ``scoring``: PSNR+SSIM of the Set5 Gaussian8 x4 pairs (8 SR images per HR image, as the
  runner calls the scorer), one pair at a time, the whole batch in one call, and BasicSR's
  ``calculate_psnr``/``calculate_ssim`` on the same pairs (only where ``basicsr`` imports;
  its values are checked against bsrbench's ``basicsr-y`` convention).
- ``ikc``: IKC x4 (bundled weights, 7 steps) on Set5 Gaussian8 x4: SFTMD's own forward
  time x passes, all three networks' forward time, ``bsrbench run`` with the default
  ``--batch-size auto`` and with a batch of 8, and a per-image loop written the way the
  official test script runs (one image at a time, autograd not disabled, scored per step);
  the per-step PSNRs of that loop must agree with the runner's.

``BSRBENCH_BENCH_IMAGES`` picks the Set5 images of the ``ikc`` group (comma-separated;
``all`` for the whole set; default ``baby,butterfly``, the largest and the smallest).
"""

from __future__ import annotations

import os

import pytest
import torch
from conftest import shared_dir

from bsrbench.scoring import Scorer, select_metrics

STEPS = 7


@pytest.fixture(scope="module")
def registry():
    from bsrbench.registry import load_registry

    return load_registry()


@pytest.fixture(scope="module")
def set5(registry, tmp_path_factory):
    from bsrbench.datasets import resolve_dataset

    return resolve_dataset(registry, "gaussian8", hr=shared_dir("data", "Set5"), scale=4,
                           cache_dir=tmp_path_factory.mktemp("sets"))


@pytest.fixture(scope="module")
def pairs(set5):
    """(SR batch of 8, HR) per Set5 image: SR = HR + seeded noise, like a restored image."""
    from bsrbench.datasets import TestSet

    g = torch.Generator().manual_seed(0)
    out = []
    with TestSet(set5) as ts:
        for name in ts.names:
            hr = torch.from_numpy(ts.image(name).hr.copy()).permute(2, 0, 1)[None]
            sr = (hr.float() / 255 + 0.03 * torch.randn(8, *hr.shape[1:], generator=g))
            out.append((sr.clamp(0, 1), hr))
    return out


def _scorer(registry, convention="matlab-y"):
    return Scorer(select_metrics(registry, ["psnr", "ssim"]), convention=convention, scale=4)


@pytest.mark.benchmark(group="scoring")
@pytest.mark.parametrize("pattern", ["runner", "one-pair-at-a-time", "whole-batch-one-call"])
def test_bench_scoring(benchmark, registry, pairs, pattern, monkeypatch):
    import bsrbench.scoring
    from bsrbench.device import keep_freed_memory

    keep_freed_memory()  # as a CPU run does
    scorer = _scorer(registry)
    if pattern == "whole-batch-one-call":
        monkeypatch.setattr(bsrbench.scoring, "CPU_PIECE_PIXELS", 1 << 40)

    def score():
        with torch.inference_mode():
            if pattern == "one-pair-at-a-time":
                return [scorer.score(sr[i:i + 1], hr) for sr, hr in pairs for i in range(8)]
            return [scorer.score(sr, hr) for sr, hr in pairs]

    out = benchmark.pedantic(score, rounds=5, iterations=1, warmup_rounds=1)
    assert sum(len(v["psnr"]) for v in out) == 8 * len(pairs)


def _basicsr():
    try:
        from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim
    except Exception as exc:  # not installed, or its heavy imports fail here
        pytest.skip(f"basicsr not importable ({type(exc).__name__}): pip install basicsr")
    return calculate_psnr, calculate_ssim


@pytest.mark.benchmark(group="scoring")
@pytest.mark.parametrize("pattern", ["basicsr-functions", "runner-basicsr-y"])
def test_bench_scoring_against_basicsr(benchmark, registry, pairs, pattern):
    import numpy as np

    from bsrbench.device import keep_freed_memory
    from bsrbench.metrics import quantize

    calculate_psnr, calculate_ssim = _basicsr()
    keep_freed_memory()
    scorer = _scorer(registry, "basicsr-y")
    # BasicSR takes uint8 HWC images in BGR order
    bgr = [([quantize(s).permute(1, 2, 0).numpy()[..., ::-1] for s in sr],
            hr[0].permute(1, 2, 0).numpy()[..., ::-1]) for sr, hr in pairs]

    def theirs():
        return [(calculate_psnr(s, h, 4, test_y_channel=True),
                 calculate_ssim(s, h, 4, test_y_channel=True)) for srs, h in bgr for s in srs]

    def ours():
        with torch.inference_mode():
            return [scorer.score(sr, hr) for sr, hr in pairs]

    mine = [(p, s) for v in ours() for p, s in zip(v["psnr"], v["ssim"], strict=True)]
    ref = theirs()
    # equal values: BasicSR forms the luma in float32, bsrbench in float64
    assert np.allclose(np.array(mine), np.array(ref), rtol=0, atol=2e-3)
    fn = theirs if pattern == "basicsr-functions" else ours
    benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)


def _images() -> tuple[str, ...] | None:
    value = os.environ.get("BSRBENCH_BENCH_IMAGES", "baby,butterfly").strip()
    return None if value == "all" else tuple(v for v in value.split(",") if v)


@pytest.fixture(scope="module")
def ikc():
    from bsrbench_ikc.checkpoints import weights_available
    from bsrbench_ikc.method import build_method

    from bsrbench.specs import BuildContext

    if not weights_available(4):
        pytest.skip("no bundled IKC x4 weights")
    return build_method(BuildContext(4, "cpu", None, {"steps": STEPS}))


@pytest.fixture(scope="module")
def lr_images(set5):
    """(image name, LR index, LR (1,3,h,w), HR uint8 (1,3,H,W)) of the chosen images."""
    from bsrbench.datasets import TestSet

    chosen = _images()
    out = []
    with TestSet(set5) as ts:
        for name in ts.names:
            if chosen is not None and name not in chosen:
                continue
            image = ts.image(name)
            hr = torch.from_numpy(image.hr.copy()).permute(2, 0, 1)[None]
            for k in range(image.lr.shape[0]):
                lr = torch.from_numpy(image.lr[k].copy()).permute(2, 0, 1)[None].float() / 255
                out.append((name, k, lr, hr))
    return out


PSNR_OF_LOOP: dict[tuple[str, int, int], float] = {}
PSNR_OF_RUN: dict[tuple[str, int, int], float] = {}


@pytest.mark.benchmark(group="ikc")
@pytest.mark.parametrize("variant", ["sftmd-forward-x7", "ikc-networks", "bsrbench-run-auto",
                                     "bsrbench-run-batch-8", "official-style-loop"])
def test_bench_ikc_set5(benchmark, registry, ikc, set5, lr_images, variant, tmp_path):
    from bsrbench.compose import plan_method
    from bsrbench.device import keep_freed_memory
    from bsrbench.results import read_results
    from bsrbench.runner import RunConfig, run

    keep_freed_memory()
    scorer = _scorer(registry)

    def networks(sftmd_only: bool):
        with torch.inference_mode():
            for _, _, lr, _ in lr_images:
                code = ikc.predictor(lr) if not sftmd_only else torch.zeros(1, 10)
                for step in range(STEPS):
                    sr = ikc.sftmd(lr, code)
                    if step + 1 < STEPS and not sftmd_only:
                        code = ikc.corrector(sr.clamp(0, 1), code)

    def official_style():
        # one image at a time, autograd left on, every step scored, as test_IKC.py runs
        for name, k, lr, hr in lr_images:
            code = ikc.predictor(lr)
            for step in range(STEPS):
                sr = ikc.sftmd(lr, code)
                values = scorer.score(sr.detach().float().clamp(0, 1), hr)
                PSNR_OF_LOOP[(name, k, step)] = values["psnr"][0]
                if step + 1 < STEPS:
                    code = ikc.corrector(sr.clamp(0, 1), code)

    def bsrbench_run(batch_size):
        plan = plan_method(registry, "ikc", None, {"steps": STEPS}, 4)
        out = tmp_path / f"run-{len(os.listdir(tmp_path))}"
        summary = run(RunConfig(plan=plan, dataset=set5, out=out, quiet=True,
                                batch_size=batch_size, images=_images()), registry)
        for r in read_results(summary.results):
            PSNR_OF_RUN[(r["image"], int(r["kernel_index"]), int(r["step"]))] = \
                float(r["psnr"])

    fn = {"sftmd-forward-x7": lambda: networks(True), "ikc-networks": lambda: networks(False),
          "bsrbench-run-auto": lambda: bsrbench_run("auto"),
          "bsrbench-run-batch-8": lambda: bsrbench_run(8),
          "official-style-loop": official_style}[variant]
    benchmark.pedantic(fn, rounds=1, iterations=1)
    if variant == "official-style-loop" and PSNR_OF_RUN:
        assert PSNR_OF_LOOP.keys() == PSNR_OF_RUN.keys()
        worst = max(abs(PSNR_OF_LOOP[k] - PSNR_OF_RUN[k]) for k in PSNR_OF_LOOP)
        benchmark.extra_info["max_psnr_difference_db"] = worst
        assert worst < 1e-3
