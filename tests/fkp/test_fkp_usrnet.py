"""USRNet-tiny: released weights, golden outputs of the upstream module, the model API."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from bsrbench_fkp.usrnet import USRNetModel, build_usrnet, load_usrnet
from bsrbench_fkp.weight_files import BUNDLED_DIR, RELEASE_SHA256
from shared_bundle import shared_dir

from bsrbench.errors import InputError, WeightsError
from bsrbench.interfaces import KernelEstimate
from bsrbench.specs import BuildContext
from bsrbench.weights import file_sha256, save_state_dict

REF = ("reference", "fkp")


@functools.cache
def _golden() -> list[dict]:
    return torch.load(shared_dir(*REF, "golden_usrnet_tiny.pt"), weights_only=True)


@functools.cache
def _net() -> torch.nn.Module:
    return load_usrnet()


def _case(name: str) -> dict:
    return next(c for c in _golden() if c["name"] == name)


def test_usrnet_golden_outputs_match_upstream() -> None:
    """Every golden case within FACTS.md §8 (noise 10: 1e-4 max; noise 0: 2e-2 max,
    1e-4 mean, PSNR of the difference > 60 dB)."""
    net = _net()
    with torch.no_grad():
        for case in _golden():
            sr = net(case["lr"], case["kernel_passed"], case["sf"], case["sigma"])
            diff = (sr - case["sr"]).abs()
            assert sr.shape == case["sr"].shape, case["name"]
            if case["noise_level_255"]:
                assert float(diff.max()) <= 1e-4, case["name"]
            else:
                assert float(diff.max()) <= 2e-2, case["name"]
                assert float(diff.mean()) <= 1e-4, case["name"]
            mse = float((diff.double() ** 2).mean())
            assert mse == 0 or 10 * torch.log10(torch.tensor(1 / mse)) > 60, case["name"]


@pytest.mark.parametrize("name", ["102061_x3_n10", "baby_x4_n0_evenkernel20"])
def test_usrnet_restore_applies_upstream_flip_and_noise(name: str) -> None:
    """The model API takes the FKP (correlation) kernel and noise in 0..255 and calls the
    network as FKP's main.py does: flipped kernel, sigma = noise / 255, clamped output."""
    case = _case(name)
    model = USRNetModel(_net(), case["sf"])
    est = KernelEstimate(kernel=case["kernel"].float()[None])
    noise = torch.tensor([float(case["noise_level_255"])]) if case["noise_level_255"] else None
    with torch.no_grad():
        sr = model.restore(case["lr"], est, noise)
    diff = (sr - case["sr"].clamp(0, 1)).abs()
    if noise is not None:  # FACTS.md §8: noise 10 max 1e-4; noise 0 max 2e-2, mean 1e-4
        assert float(diff.max()) <= 1e-4
    else:
        assert float(diff.max()) <= 2e-2 and float(diff.mean()) <= 1e-4


def test_usrnet_weights_tensor_identical_to_release() -> None:
    release = torch.load(shared_dir(*REF, "official", "usrnet_tiny.pth"), weights_only=True)
    bundled = _net().state_dict()
    assert list(bundled) == list(release)
    for key, value in release.items():
        assert torch.equal(bundled[key], value), key


def test_usrnet_release_pth_loads_and_is_hash_checked(tmp_path: Path) -> None:
    src = shared_dir(*REF, "official", "usrnet_tiny.pth")
    assert file_sha256(src) == RELEASE_SHA256["usrnet_tiny.pth"]
    net = load_usrnet(src)
    assert all(torch.equal(a, b) for a, b in
               zip(net.state_dict().values(), _net().state_dict().values(), strict=True))
    fake = tmp_path / "usrnet_tiny.pth"
    torch.save(torch.load(src, weights_only=True) | {"h.mlp.0.bias": torch.zeros(32)}, fake)
    with pytest.raises(WeightsError, match="sha256"):
        load_usrnet(fake)


def test_usrnet_pins_match_bundled_files() -> None:
    pins = json.loads((BUNDLED_DIR / "sha256.json").read_text())
    assert "usrnet_tiny.safetensors" in pins
    for name, sha in pins.items():
        assert file_sha256(BUNDLED_DIR / name) == sha, name


def test_usrnet_strict_load_names_file_and_key(tmp_path: Path) -> None:
    state = dict(_net().state_dict())
    del state["p.m_tail.weight"]
    bad = tmp_path / "mine.safetensors"
    save_state_dict(state, bad)
    with pytest.raises(WeightsError, match=r"mine\.safetensors lacks key 'p.m_tail.weight'") as e:
        load_usrnet(bad)
    assert "\n" not in str(e.value)
    state["p.m_tail.weight"] = torch.zeros(3, 16, 5, 5)
    save_state_dict(state, bad)
    with pytest.raises(WeightsError, match=r"p\.m_tail\.weight has shape \(3, 16, 5, 5\)"):
        load_usrnet(bad)


def test_usrnet_refuses_bad_inputs() -> None:
    model = build_usrnet(BuildContext(scale=2, device="cpu"))
    lr = torch.rand(1, 3, 4, 4)
    with pytest.raises(InputError, match="larger than"):
        model.restore(lr, KernelEstimate(kernel=torch.full((1, 9, 9), 1 / 81)))
    with pytest.raises(InputError, match="one \\(k, k\\) kernel per LR image"):
        model.restore(lr, KernelEstimate(kernel=torch.full((2, 3, 3), 1 / 9)))
    with pytest.raises(InputError, match="scales 2, 3 and 4"):
        build_usrnet(BuildContext(scale=8, device="cpu"))


def test_usrnet_model_card_first_lines_name_the_release() -> None:
    head = "\n".join((BUNDLED_DIR / "MODEL_CARD.md").read_text().splitlines()[:16])
    assert "released by the FKP authors, not trained by bsrbench" in head
    for needle in ("JingyunLiang/FKP", "127c12103ebbfca7b4a6cf4f03c0c44dd24c10bb",
                   "Apache-2.0", RELEASE_SHA256["usrnet_tiny.pth"]):
        assert needle in head
    assert "JingyunLiang/FKP" in (BUNDLED_DIR / "LICENSE-FKP").read_text()
