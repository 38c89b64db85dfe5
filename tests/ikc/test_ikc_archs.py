"""IKC architectures against the reference bundle: key lists and golden outputs.

Tolerances follow FACTS.md §7: images and intermediates atol 1e-4, codes atol 1e-6. On the
reference machine the measured differences are about 2e-6 (SFTMD, CPU-kernel rounding: a
plain F.conv2d differs from the golden by the same amount) and below 1e-8 (codes).
"""

from __future__ import annotations

import json

import pytest
import torch
from bsrbench_ikc.archs import SFTMD, Corrector, Predictor
from bsrbench_ikc.checkpoints import load_corrector, load_predictor, load_state_into
from bsrbench_ikc.pca import load_pca
from shared_bundle import shared_dir

IMAGE_ATOL = 1e-4
CODE_ATOL = 1e-6


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a.float() - b.float()).abs().max().item()


@pytest.fixture(scope="module")
def golden_sftmd() -> dict:
    return torch.load(shared_dir("reference", "ikc", "golden_sftmd_x4.pt"), weights_only=True)


@pytest.fixture(scope="module")
def golden_pc() -> dict:
    path = shared_dir("reference", "ikc", "golden_predictor_corrector.pt")
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def official() -> dict:
    root = shared_dir("reference", "ikc", "official")
    return {
        "predictor": load_predictor(root / "Predictor_latest_G.pth"),
        "corrector": load_corrector(root / "Corrector_latest_G.pth"),
        "pca": load_pca(root / "pca_matrix.pth"),
    }


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("sftmd_x2", lambda: SFTMD(scale=2)),
        ("sftmd_x3", lambda: SFTMD(scale=3)),
        ("sftmd_x4", lambda: SFTMD(scale=4)),
        ("predictor", Predictor),
        ("corrector", Corrector),
    ],
)
def test_ikc_archs_keys_match_reference(name: str, build) -> None:
    ref = json.loads(shared_dir("reference", "ikc", f"keys_{name}.json").read_text())
    expected = [(k, list(s)) for k, s in ref["keys"] if not k.startswith("sft_branch.")]
    got = [(k, list(v.shape)) for k, v in build().state_dict().items()]
    assert got == expected  # same names, shapes and order, sft_branch excluded


def test_ikc_sftmd_matches_golden(golden_sftmd: dict) -> None:
    g = golden_sftmd
    model = SFTMD(scale=4).eval()
    load_state_into(model, g["state_dict"], "golden_sftmd_x4.pt")  # includes sft_branch.*
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: captured.__setitem__(name, out)
        )
        for name in g["intermediates"]
    ]
    with torch.no_grad():
        sr = model(g["lr"], g["code"])
        for h in hooks:
            h.remove()
        model.clamp = False  # the attribute SFTMD(clamp=False) sets; saves a second 17 MB load
        sr_noclamp = model(g["lr"], g["code"])
    assert _max_diff(sr, g["sr"]) < IMAGE_ATOL
    assert _max_diff(sr_noclamp, g["sr_noclamp"]) < IMAGE_ATOL
    assert set(captured) == set(g["intermediates"])
    for name, ref in g["intermediates"].items():
        assert _max_diff(captured[name], ref) < IMAGE_ATOL, name


def test_ikc_predictor_matches_golden(golden_pc: dict, official: dict) -> None:
    g, predictor = golden_pc, official["predictor"]
    with torch.no_grad():
        assert _max_diff(predictor(g["lr"]), g["pred_code"]) < CODE_ATOL
        assert _max_diff(predictor.features(g["lr"]), g["predictor_prepool"]) < IMAGE_ATOL


def test_ikc_corrector_matches_golden(golden_pc: dict, official: dict) -> None:
    g, corrector = golden_pc, official["corrector"]
    with torch.no_grad():
        out = corrector(g["sr"], g["corr_in_code"])
        delta = corrector.delta(g["sr"], g["corr_in_code"])
        dense = corrector.code_dense(g["corr_in_code"])
        out2 = corrector(g["sr"], g["corr_in_code_2"])
    assert torch.equal(g["corr_in_code"], g["pred_code"])
    assert _max_diff(out, g["corr_out_code"]) < CODE_ATOL
    assert _max_diff(delta, g["corr_delta"]) < CODE_ATOL
    assert torch.equal(out, g["corr_in_code"] + delta)  # forward is code + delta
    assert _max_diff(dense, g["corr_code_dense_out"]) < CODE_ATOL
    assert _max_diff(out2, g["corr_out_code_2"]) < CODE_ATOL


def test_ikc_true_code_from_official_pca(golden_pc: dict, official: dict) -> None:
    code = official["pca"].encode(golden_pc["kernel"][None])
    assert _max_diff(code, golden_pc["true_code"]) < CODE_ATOL


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_ikc_sftmd_output_shape(scale: int) -> None:
    model = SFTMD(nf=8, nb=1, scale=scale, sft_hidden=4).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 5, 7), torch.rand(2, 10))
    assert out.shape == (2, 3, 5 * scale, 7 * scale)
    assert out.min() >= 0 and out.max() <= 1


def _small_nets() -> tuple[SFTMD, Predictor, Corrector]:
    torch.manual_seed(0)
    return (
        SFTMD(nf=16, nb=2, scale=2, sft_hidden=8, clamp=False).eval(),
        Predictor(nf=8).eval(),
        Corrector(nf=8).eval(),
    )


def test_ikc_archs_channels_last_matches_contiguous() -> None:
    sftmd, predictor, corrector = _small_nets()
    lr, code, sr = torch.rand(2, 3, 12, 10), torch.rand(2, 10) * 0.05, torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        ref = (sftmd(lr, code), predictor(lr), corrector(sr, code))
        for net in (sftmd, predictor, corrector):
            net.to(memory_format=torch.channels_last)
        cl = torch.channels_last
        got = (
            sftmd(lr.to(memory_format=cl), code),
            predictor(lr.to(memory_format=cl)),
            corrector(sr.to(memory_format=cl), code),
        )
    for a, b in zip(got, ref, strict=True):
        assert _max_diff(a, b) < 1e-5


def test_ikc_archs_run_under_bf16_autocast() -> None:
    sftmd, predictor, corrector = _small_nets()
    lr, code, sr = torch.rand(2, 3, 12, 10), torch.rand(2, 10) * 0.05, torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        ref = (sftmd(lr, code), predictor(lr), corrector(sr, code))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = (sftmd(lr, code), predictor(lr), corrector(sr, code))
    assert got[0].dtype == torch.bfloat16
    assert got[2].dtype == torch.float32  # the code keeps its dtype; only Δ is bf16
    for a, b in zip(got, ref, strict=True):
        assert a.shape == b.shape
        assert _max_diff(a, b) < 0.1 * (b.abs().max().item() + 1e-3)


def test_ikc_archs_run_as_bf16_models() -> None:
    sftmd, predictor, corrector = _small_nets()
    for net in (sftmd, predictor, corrector):
        net.to(torch.bfloat16)
    lr, sr = torch.rand(1, 3, 8, 8, dtype=torch.bfloat16), torch.rand(1, 3, 16, 16)
    code = torch.rand(1, 10)  # float32 code into a bf16 model is cast where needed
    with torch.no_grad():
        assert sftmd(lr, code).dtype == torch.bfloat16
        assert predictor(lr).shape == (1, 10)
        assert corrector(sr.to(torch.bfloat16), code).dtype == torch.float32
