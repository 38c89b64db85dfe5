"""Generator-exactness against the upstream goldens (shared/reference/protocols, FACTS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_bundle import shared_dir


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _ref() -> Path:
    return shared_dir("reference", "protocols")


DIV2KRK_TAGS = {"x2": ("x2", 2, False, 11), "x4_intermediate_x2": ("x4", 4, True, 11),
                "x4_notebook_native": ("x4_notebook_native", 4, False, 21)}


@pytest.mark.parametrize("case", ["case_A_seed0", "case_B_seed1"])
@pytest.mark.parametrize("tag", sorted(DIV2KRK_TAGS))
def test_div2krk_matches_the_notebook_goldens(case: str, tag: str) -> None:
    from bsrbench_protocols.div2krk import Div2krkGenerator, compose_x2, notebook_kernel

    ref = _ref()
    folder = ref / "div2krk" / case
    params = json.loads((folder / "params.json").read_text())
    name, scale, compose, k = DIV2KRK_TAGS[tag]
    gen = Div2krkGenerator(scale, compose=compose, k=k)
    draw = gen.from_record(params["kernels"][tag], folder, "golden", 0.0)
    kernel = notebook_kernel(k, gen.draw_sf, draw["lambda_1"], draw["lambda_2"],
                             draw["theta"], draw["noise_field"], draw["noise_level"])
    if compose:
        kernel = compose_x2(kernel)
    assert np.abs(kernel - np.load(folder / f"kernel_{name}_f64.npy")).max() <= 1e-12
    out = gen.render(_png(ref / params["hr"]), draw)
    assert np.abs(out.kernel - np.load(folder / f"kernel_{name}.npy")).max() <= 1e-7
    assert np.array_equal(out.lr, _png(folder / f"lr_{name}.png"))  # exact (FACTS §1)


@pytest.mark.parametrize("case", ["case_A_seed0", "case_B_seed1"])
def test_div2krk_seeded_draws_follow_the_notebook_order(case: str) -> None:
    from bsrbench_protocols.div2krk import Div2krkGenerator

    folder = _ref() / "div2krk" / case
    params = json.loads((folder / "params.json").read_text())
    draw = Div2krkGenerator(2, compose=False).sample(
        np.random.RandomState(params["seed"]), (48, 48), 0.0)[0]
    x2 = params["kernels"]["x2"]
    assert (draw["lambda_1"], draw["lambda_2"], draw["theta"]) == (
        x2["lambda_1"], x2["lambda_2"], x2["theta"])
    assert np.array_equal(draw["noise_field"], np.load(folder / "draw_x2_noise_uniform.npy"))


def _aniso_cases() -> list[tuple[str, str]]:
    return [(v, f"x{s}_case_{c}_seed{i}") for v in ("dan", "dcls") for s in (2, 4)
            for c, i in (("A", 0), ("B", 1))]


@pytest.mark.parametrize(("variant", "case"), _aniso_cases())
def test_aniso_setting2_matches_dan_and_dcls(variant: str, case: str) -> None:
    from bsrbench_protocols.aniso import AnisoGenerator

    ref = _ref()
    folder = ref / "aniso_setting2_train" / variant / case
    params = json.loads((folder / "params.json").read_text())
    gen = AnisoGenerator(params["scale"], variant)
    assert gen.kernel_size == params["ksize"]
    draw = gen.from_record(params, folder, "golden", 0.0)
    seeded = gen.sample(np.random.RandomState(params["seed"]), (1, 1), 0.0)[0]
    assert seeded["sigma_x"] == params["sigma_x"] and seeded["radians"] == params["radians"]
    assert np.array_equal(seeded["disturb"], draw["disturb"])
    out = gen.render(_png(ref / params["hr"]), draw)
    assert np.abs(out.kernel - np.load(folder / "kernel.npy")).max() <= 1e-7
    want = _png(folder / params["lr"])
    diff = out.lr.astype(int) - want
    # torch float32 pipeline: +-1 only on .5 rounding ties (FACTS.md §1 and §7)
    assert np.abs(diff).max() <= 1
    before = np.load(folder / f"lr_x{params['scale']}_float32_before_rounding.npy")
    before = before.transpose(1, 2, 0) if before.shape[0] == 3 else before
    frac = (before.astype(np.float64) * 255) % 1
    assert np.all(np.abs(frac[diff != 0] - 0.5) < 1e-3)


@pytest.mark.parametrize("quality", [30, 70])
def test_jpeg_stage_matches_cv2_goldens(quality: int) -> None:
    from bsrbench.datasets import jpeg_stage

    ref = _ref()
    src = _png(ref / "div2krk" / "case_A_seed0" / "lr_x2.png")
    want = _png(ref / "jpeg" / f"lr_jpeg_q{quality}_cv2_decoded.png")
    assert np.array_equal(jpeg_stage(src, quality), want)


@pytest.mark.parametrize("case", ["case_A_5.0_1.0_0.8", "case_A_9.0_5.0_0.0"])
def test_manet9_matches_prepare_testset(case: str) -> None:
    from bsrbench_protocols.grids import MANET9, ManetGenerator

    ref = _ref()
    folder = ref / "manet_si" / case
    params = json.loads((folder / "params.json").read_text())
    key = (params["sig1_cov_eigenvalue"], params["sig2_cov_eigenvalue"], params["theta_rad"])
    assert key in MANET9
    gen = ManetGenerator()
    draw = gen.from_record(params, folder, "golden", 0.0)
    hr = _png(ref / params["hr"])
    out = gen.render(hr, draw)
    assert np.abs(out.kernel - np.load(folder / "kernel.npy")).max() <= 1e-7
    assert np.array_equal(out.lr, _png(folder / "lr_noise15.png"))
    quiet = gen.render(hr, {**draw, "noise_level_255": 0.0})
    assert np.array_equal(quiet.lr, _png(folder / "lr_noise0.png"))


@pytest.mark.parametrize("case", ["case_A_l2.0_0.2_t0", "case_A_l3.5_2.0_t45"])
@pytest.mark.parametrize("noise", ["0", "5", "10"])
def test_dasr9_matches_dasr_preprocessing(case: str, noise: str) -> None:
    from bsrbench_protocols.grids import DASR9, DasrGenerator

    ref = _ref()
    folder = ref / "dasr_aniso" / case
    params = json.loads((folder / "params.json").read_text())
    assert (params["lambda_1"], params["lambda_2"], params["theta_deg"]) in DASR9
    record = {**params, "noise": float(noise), "noise_file": params["noise"][noise]["noise_file"]}
    gen = DasrGenerator()
    out = gen.render(_png(ref / params["hr"]), gen.from_record(record, folder, "golden", 0.0))
    assert np.abs(out.kernel - np.load(folder / "kernel.npy")).max() <= 1e-7
    diff = out.lr.astype(int) - _png(folder / params["noise"][noise]["lr"])
    assert np.abs(diff).max() <= 1 and np.count_nonzero(diff) <= 3  # .5 ties (FACTS §1)


@pytest.mark.parametrize(("tag", "scale", "protocol", "noise"), [
    ("DIPFKP_x2", 2, "dipfkp", 0.0), ("DIPFKP_x4", 4, "dipfkp", 0.0),
    ("DIPFKP_x4_noiseker0.4_noiseim10", 4, "dipfkp-kernelnoise", 10.0)])
def test_dipfkp_seeded_build_matches_prepare_dataset(registry, tmp_path, tag, scale, protocol,
                                                     noise):
    """np.random.seed(1) once, images in sorted order (baby, bird): every PNG bit-exact."""
    import shutil

    from scipy.io import loadmat

    from bsrbench.datasets import TestSet, resolve_dataset

    golden = shared_dir("reference", "fkp", "prepare_dataset", tag)
    hr = tmp_path / "hr"
    hr.mkdir()
    for name in ("baby", "bird"):
        shutil.copy(shared_dir("data", "Set5", f"{name}.png"), hr / f"{name}.png")
    path = resolve_dataset(registry, protocol, hr=hr, scale=scale, seed=1, noise=noise,
                           cache_dir=tmp_path / "c")
    with TestSet(path) as ts:
        for name in ("baby", "bird"):
            im = ts.image(name)
            want = loadmat(golden / f"{name}_gt_k.mat")["Kernel"]
            assert np.abs(im.kernels[0] - want).max() <= 1e-7
            assert np.array_equal(im.lr[0], _png(golden / f"{name}_lr.png"))
