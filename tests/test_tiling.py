"""Tiles: the stitched SR equals the whole-image SR for every built-in network (random
weights, odd sizes, batches), the receptive fields the networks declare are true bounds,
and the pooled codes of IKC's Predictor and Corrector are the whole image's."""

from __future__ import annotations

import pytest
import torch
from bsrbench_ikc.archs import SFTMD, Corrector, Predictor
from bsrbench_ikc.method import IKCMethod, PredictorEstimator, SFTMDModel
from bsrbench_ikc.pca import compute_pca
from bsrbench_srmd.arch import SRMD
from bsrbench_srmd.kernel_map import load_pca as load_srmd_pca
from bsrbench_srmd.model import SRMDModel

from bsrbench.errors import InputError
from bsrbench.interfaces import KernelEstimate, LRBatch
from bsrbench.kernels import gaussian_kernels
from bsrbench.specs import BuildContext
from bsrbench.tiling import (
    Tiling,
    chain_receptive_field,
    fallback_tiles,
    is_out_of_memory,
    pooled_mean,
    run_tiled,
    set_tiling,
    tile_spans,
    tileable_parts,
    tiling_from,
)

TOL = 1e-4  # the bound for tiled against whole-image results


def _lr(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _sftmd(scale: int = 4, nb: int = 2, seed: int = 0) -> SFTMD:
    torch.manual_seed(seed)
    return SFTMD(nf=8, nb=nb, scale=scale, sft_hidden=8, clamp=False).eval()


def _kernels(b: int, size: int) -> torch.Tensor:
    return gaussian_kernels([1.2 + 0.5 * i for i in range(b)], size=size)


@pytest.mark.parametrize("length,size,align", [(1, 8, 1), (61, 16, 1), (64, 16, 1),
                                               (97, 40, 4), (33, 8, 2)])
def test_tile_spans_cover_the_length_once_with_aligned_starts(length, size, align):
    spans = tile_spans(length, size, align)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(a < b for a, b in spans)
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    assert all(a % align == 0 for a, _ in spans)
    assert max(b - a for a, b in spans) <= size + align - 1


def test_tiling_refuses_bad_sizes():
    with pytest.raises(InputError, match="--tile must"):
        Tiling(4)
    with pytest.raises(InputError, match="--tile-overlap"):
        Tiling(64, -1)
    assert tiling_from(BuildContext(4, "cpu")) is None
    assert Tiling(64, 3).label() == "tile=64,overlap=3" and Tiling(64).label() == "tile=64"


def test_run_tiled_is_the_identity_for_a_local_function_and_calls_once_when_it_fits():
    calls = []

    def nearest(t):
        calls.append(tuple(t.shape))
        return t.repeat_interleave(3, -1).repeat_interleave(3, -2)

    lr = _lr(2, 23, 17)
    assert torch.equal(run_tiled(nearest, lr, 3, Tiling(8, 0), 0), nearest(lr))
    assert len(calls) == 3 * 3 + 1
    calls.clear()
    run_tiled(nearest, lr, 3, Tiling(32), 0)
    assert calls == [(2, 3, 23, 17)]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_sftmd_receptive_field_bounds_the_influence_of_one_lr_pixel(scale):
    net = _sftmd(scale, nb=2)
    radius = net.receptive_field
    assert radius == 3 + 6 * 2 + 3 + (3 if scale == 4 else 1 + -(-4 // scale))
    assert SFTMD(scale=scale).receptive_field == 105  # the released layout (nb = 16)
    lr = _lr(1, 2 * radius + 9, 2 * radius + 9)
    code = torch.rand(1, 10)
    with torch.inference_mode():
        base = net(lr, code)
        poked = lr.clone()
        c = radius + 4
        poked[..., c, c] += 0.5
        diff = (net(poked, code) - base).abs().amax(dim=(0, 1))
    changed = (diff > 0).nonzero()
    assert len(changed) > 0
    reach = (changed - torch.tensor([scale * c + scale // 2] * 2)).abs().max().item()
    assert reach <= scale * radius + scale  # within the declared radius (in HR pixels)


def test_srmd_receptive_field_bounds_the_influence_of_one_lr_pixel():
    torch.manual_seed(0)
    net = SRMD(in_nc=19, nc=8, nb=12, scale=4).eval()
    model = SRMDModel(net, load_srmd_pca(), noise_aware=True)
    assert model.receptive_field == 12
    lr = _lr(1, 31, 31)
    k = _kernels(1, 15)
    with torch.inference_mode():
        base = model.restore(lr, KernelEstimate(kernel=k))
        poked = lr.clone()
        poked[..., 15, 15] += 0.5
        diff = (model.restore(poked, KernelEstimate(kernel=k)) - base).abs().amax(dim=(0, 1))
    changed = (diff > 0).nonzero()
    assert (changed - torch.tensor([4 * 15 + 2] * 2)).abs().max().item() <= 4 * 12 + 4


@pytest.mark.parametrize("scale,size", [(4, (61, 47)), (3, (53, 29)), (2, (45, 58))])
def test_sftmd_model_tiled_equals_whole_at_the_default_overlap(scale, size):
    pca = compute_pca(scale, n=500)
    model = SFTMDModel(_sftmd(scale), pca)
    lr, est = _lr(2, *size), KernelEstimate(kernel=_kernels(2, 21))
    with torch.inference_mode():
        whole = model.restore(lr, est)
        set_tiling(model, Tiling(16))
        tiled = model.restore(lr, est)
        model.tiling = Tiling(16, 0)
        seams = model.restore(lr, est)
    assert tiled.shape == whole.shape == (2, 3, scale * size[0], scale * size[1])
    assert (tiled - whole).abs().max().item() < TOL
    assert (seams - whole).abs().max().item() > 1e-3  # no overlap: seams show


@pytest.mark.parametrize("noise_aware", [True, False])
def test_srmd_model_tiled_equals_whole_at_the_default_overlap(noise_aware):
    torch.manual_seed(1)
    net = SRMD(in_nc=19 if noise_aware else 18, nc=16, nb=12, scale=4).eval()
    model = SRMDModel(net, load_srmd_pca(), noise_aware=noise_aware)
    lr, est = _lr(2, 45, 37), KernelEstimate(kernel=_kernels(2, 15))
    noise = torch.tensor([5.0, 20.0])
    with torch.inference_mode():
        whole = model.restore(lr, est, noise)
        model.tiling = Tiling(12)
        tiled = model.restore(lr, est, noise)
    assert (tiled - whole).abs().max().item() < TOL


def test_predictor_and_corrector_pooled_over_tiles_equal_the_whole_image():
    torch.manual_seed(2)
    predictor, corrector = Predictor(nf=8).eval(), Corrector(nf=8).eval()
    assert predictor.field == (16, 2) and corrector.field == (36, 4)
    assert Predictor().field == (16, 2) and Corrector().field == (36, 4)
    lr, sr, code = _lr(2, 57, 43), _lr(2, 97, 131, seed=3), torch.rand(2, 10)
    with torch.inference_mode():
        p = pooled_mean(predictor.features, lr, stride=2, receptive_field=16, size=12)
        d = pooled_mean(lambda t: corrector.delta_map(t, code), sr, stride=4,
                        receptive_field=36, size=24)
        assert (p - predictor(lr)).abs().max().item() < 1e-6
        assert (d - corrector.delta(sr, code)).abs().max().item() < 1e-6
    w = torch.nn.Conv2d(3, 4, 3)  # chain_receptive_field reads plain conv attributes
    assert chain_receptive_field([w, torch.nn.Conv2d(4, 4, 5, stride=2)]) == (3, 2)


def _ikc(seed: int = 0) -> IKCMethod:
    torch.manual_seed(seed)
    sftmd = _sftmd(4, seed=seed)
    predictor, corrector = Predictor(nf=8), Corrector(nf=8)
    with torch.no_grad():
        predictor.ConvNet[10].bias.fill_(0.05)
    return IKCMethod(sftmd, predictor, corrector, compute_pca(4, n=500), steps=3)


def test_ikc_method_tiled_equals_whole_at_every_step():
    method = _ikc()
    batch = LRBatch(lr=_lr(2, 53, 41), scale=4)
    with torch.inference_mode():
        whole = list(method.run(batch))
        assert tileable_parts(method) == [method] and method.receptive_field == 21
        set_tiling(method, Tiling(16))
        tiled = list(method.run(batch))
    assert len(whole) == len(tiled) == 3
    for a, b in zip(whole, tiled, strict=True):
        assert (a.sr - b.sr).abs().max().item() < TOL
        assert (a.code - b.code).abs().max().item() < TOL


def test_predictor_estimator_tiled_equals_whole():
    torch.manual_seed(4)
    est = PredictorEstimator(Predictor(nf=8), compute_pca(4, n=500))
    batch = LRBatch(lr=_lr(1, 47, 39), scale=4)
    with torch.inference_mode():
        whole = next(est.estimate(batch)).code
        est.tiling = Tiling(8)
        tiled = next(est.estimate(batch)).code
    assert (whole - tiled).abs().max().item() < 1e-6


def test_memory_estimates_shrink_with_tiles():
    method = _ikc()
    whole = method.memory_estimate((8, 3, 512, 512), None)
    tiled = method.memory_estimate((8, 3, 512, 512), Tiling(64))
    assert 0 < tiled < whole
    assert method.memory_estimate((1, 3, 512, 512), None) * 8 == whole


def test_fallback_tiles_and_out_of_memory_errors():
    assert [t.size for t in fallback_tiles(300, 200, None)] == [256, 128, 64, 32]
    assert [t.size for t in fallback_tiles(300, 200, Tiling(128, 4))] == [64, 32]
    assert fallback_tiles(300, 200, Tiling(128, 4))[0].overlap == 4
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert not is_out_of_memory(RuntimeError("shapes do not match"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tiled_ikc_on_cuda_matches_cpu():
    from bsrbench.device import exact_math

    exact_math("cuda")
    batch = LRBatch(lr=_lr(2, 53, 41), scale=4)
    with torch.inference_mode():
        cpu = list(_ikc().run(batch))
        method = _ikc().to("cuda")
        method.tiling = Tiling(16)
        gpu = list(method.run(LRBatch(lr=batch.lr.cuda(), scale=4)))
    for a, b in zip(cpu, gpu, strict=True):
        assert (a.sr - b.sr.cpu()).abs().max().item() < TOL


def test_sr_cli_tiles_ikc_with_the_bundled_weights_like_the_whole_image(tmp_path):
    import numpy as np
    from click.testing import CliRunner
    from PIL import Image

    from bsrbench.cli import main

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (22, 27, 3), dtype=np.uint8)).save(
        tmp_path / "lr.png")
    runner = CliRunner()
    outs = []
    for name, extra in (("whole", []), ("tiled", ["--tile", "12"])):
        res = runner.invoke(main, ["sr", "-m", "ikc", "-i", str(tmp_path / "lr.png"), "-o",
                                   str(tmp_path / name), "-O", "steps=1", "-q", *extra])
        assert res.exit_code == 0, res.output
        outs.append(np.asarray(Image.open(tmp_path / name / "lr.png")).astype(int))
    assert outs[0].shape == (88, 108, 3)
    assert np.abs(outs[0] - outs[1]).max() <= 1  # equal up to rounding to 8 bits
    res = runner.invoke(main, ["sr", "-m", "ikc", "-i", str(tmp_path / "lr.png"), "-o",
                               str(tmp_path / "bad"), "--tile-overlap", "4"])
    assert res.exit_code == 2 and "--tile-overlap needs --tile" in res.output


def test_run_cli_tiles_srmd_and_scores_like_the_whole_image(hr_dir, tmp_path):
    import json

    from click.testing import CliRunner

    from bsrbench.cli import main
    from bsrbench.results import read_results

    psnr = {}
    for name, extra in (("whole", []), ("tiled", ["--tile", "8"])):
        out = tmp_path / name
        res = CliRunner().invoke(main, [
            "run", "-m", "srmdnf", "-k", "oracle", "-d", "gaussian8", "--hr", str(hr_dir),
            "--cache-dir", str(tmp_path / "ds"), "--out", str(out), "-q", *extra])
        assert res.exit_code == 0, res.output
        rows = read_results(out / "results.csv")
        assert len(rows) == 16 and {r["fallback"] for r in rows} == {""}
        psnr[name] = {(r["image"], r["kernel_index"]): float(r["psnr"]) for r in rows}
    assert max(abs(psnr["whole"][k] - psnr["tiled"][k]) for k in psnr["whole"]) < 0.01
    meta = json.loads((tmp_path / "tiled" / "run.json").read_text())["runs"][-1]
    assert meta["tile"] == {"size": 8, "overlap": None}


def test_every_built_in_network_is_tiled_or_says_why_it_needs_whole_images():
    from bsrbench_dan.method import DANMethod
    from bsrbench_dcls.method import DCLSEstimator, DCLSMethod

    from bsrbench.registry import load_registry
    from bsrbench.specs import resolve_options

    reg = load_registry()
    no_network = {"bicubic", "oracle"}
    checked = 0
    for kind in ("methods", "models", "estimators"):
        for name, spec in getattr(reg, kind).items():
            if name in no_network or (spec.weights_available is not None \
                    and not spec.weights_available(4)):
                continue  # DAN/DCLS: users' checkpoints; their classes are checked below
            options = resolve_options(spec.options, {}, name)
            part = spec.factory(BuildContext(4, "cpu", None, options))
            tiled = isinstance(getattr(part, "receptive_field", None), int)
            stated = isinstance(getattr(part, "whole_image", None), str)
            assert tiled or stated, f"{kind[:-1]} {name}: neither receptive_field nor whole_image"
            checked += 1
    assert checked >= 9
    for cls in (DANMethod, DCLSMethod, DCLSEstimator):
        assert isinstance(cls.whole_image, str)


def test_tile_warning_names_the_reason_of_each_untiled_part():
    from types import SimpleNamespace

    from bsrbench.tiling import untiled_note

    fft = SimpleNamespace(whole_image="its data step is an FFT over the whole image")
    local = SimpleNamespace(receptive_field=3)
    alone = untiled_note(fft, "usrnet")
    assert alone == ("--tile has no effect on it: usrnet needs whole images "
                     "(its data step is an FFT over the whole image)")
    mixed = untiled_note(SimpleNamespace(model=fft, estimator=local), "usrnet+x")
    assert mixed.startswith("--tile applies to its other parts only: usrnet+x")
    assert untiled_note(SimpleNamespace(model=local), "m") is None
    assert "declares no receptive field" in untiled_note(SimpleNamespace(), "plain")
