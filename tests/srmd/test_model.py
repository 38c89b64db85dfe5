"""SRMD model: golden output, weights finding and strict loading, restore() contract."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from bsrbench_srmd import weight_files
from bsrbench_srmd.arch import SRMD
from bsrbench_srmd.kernel_map import load_pca
from bsrbench_srmd.model import (
    SRMDModel,
    build_srmd,
    build_srmdnf,
    find_weights,
    load_network,
    weights_available,
)
from shared_bundle import shared_dir

from bsrbench.errors import InputError, WeightsError
from bsrbench.interfaces import NonBlindModel
from bsrbench.kernels import gaussian_kernel
from bsrbench.specs import BuildContext
from bsrbench.weights import save_state_dict

ATOL_IMAGE = 1e-4  # FACTS.md §7: images vs a CPU float32 golden


@functools.lru_cache(maxsize=1)
def _golden() -> dict:
    return torch.load(shared_dir("reference", "srmd", "golden_srmd_x4.pt"), weights_only=True)


def _restore_golden(model: SRMDModel) -> torch.Tensor:
    g = _golden()
    kernel = g["kernel"].to(torch.float32).unsqueeze(0)  # the interface passes float32
    return model.restore(g["lr"], kernel, torch.tensor([15.0]))


def _small_model(noise_aware: bool) -> SRMDModel:
    torch.manual_seed(0)
    net = SRMD(in_nc=19 if noise_aware else 18, nc=8, nb=3, scale=2).eval()
    return SRMDModel(net, load_pca(), noise_aware=noise_aware)


def test_model_network_reproduces_golden_output() -> None:
    g = _golden()
    net = SRMD()
    net.load_state_dict(g["state_dict"], strict=True)
    with torch.no_grad():
        out = net.eval()(g["input"])
    assert torch.allclose(out, g["output"], rtol=0, atol=ATOL_IMAGE)


def test_model_loads_kair_pth(tmp_path: Path) -> None:
    torch.save(_golden()["state_dict"], tmp_path / "srmd_x4.pth")
    model = build_srmd(BuildContext(scale=4, device="cpu", weights=tmp_path))
    assert isinstance(model, NonBlindModel) and model.kernel_size == 15
    assert torch.allclose(_restore_golden(model), _golden()["output"], rtol=0, atol=ATOL_IMAGE)


def test_model_loads_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "mine.safetensors"
    save_state_dict(_golden()["state_dict"], path)
    model = build_srmd(BuildContext(scale=4, device="cpu", weights=path))
    assert torch.allclose(_restore_golden(model), _golden()["output"], rtol=0, atol=ATOL_IMAGE)


def test_model_missing_key_is_named(tmp_path: Path) -> None:
    state = dict(_golden()["state_dict"])
    del state["model.10.bias"]
    save_state_dict(state, tmp_path / "srmd_x4.safetensors")
    with pytest.raises(WeightsError, match=r"lacks key 'model\.10\.bias'"):
        load_network(tmp_path / "srmd_x4.safetensors", 4, "srmd")


def test_model_extra_key_is_named(tmp_path: Path) -> None:
    state = dict(_golden()["state_dict"])
    state["model.24.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "srmd_x4.pth")
    with pytest.raises(WeightsError, match=r"unexpected key 'model\.24\.weight'"):
        load_network(tmp_path / "srmd_x4.pth", 4, "srmd")


def test_model_wrong_variant_names_shape_and_guess(tmp_path: Path) -> None:
    torch.save(_golden()["state_dict"], tmp_path / "srmd_x4.pth")
    with pytest.raises(WeightsError, match=r"model\.0\.weight.*looks like srmd x4"):
        build_srmdnf(BuildContext(scale=4, device="cpu", weights=tmp_path / "srmd_x4.pth"))


def test_model_kernel_of_wrong_size_explains_conversion() -> None:
    model = _small_model(noise_aware=True)
    lr = torch.rand(1, 3, 8, 8)
    with pytest.raises(InputError, match=r'15, 15.*"center-crop".*21x21'):
        model.restore(lr, gaussian_kernel(2.0, size=21).unsqueeze(0))


def test_model_kernel_must_sum_to_one() -> None:
    model = _small_model(noise_aware=True)
    with pytest.raises(InputError, match="sum to 1"):
        model.restore(torch.rand(1, 3, 8, 8), 2 * gaussian_kernel(2.0, size=15).unsqueeze(0))


def test_model_noise_handling() -> None:
    lr = torch.rand(2, 3, 8, 8)
    kernels = torch.stack([gaussian_kernel(1.0, size=15), gaussian_kernel(2.5, size=15)])
    free = _small_model(noise_aware=False)
    noisy = free.restore(lr, kernels, torch.tensor([5.0, 9.0]))
    assert torch.equal(free.restore(lr, kernels), noisy)
    aware = _small_model(noise_aware=True)
    zero = aware.restore(lr, kernels, torch.zeros(2))
    assert torch.equal(aware.restore(lr, kernels), zero)
    assert not torch.equal(aware.restore(lr, kernels, torch.tensor([30.0, 30.0])), zero)
    assert zero.shape == (2, 3, 16, 16)


def test_model_find_weights_lists_names(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"srmdnf_x3\.safetensors or srmdnf_x3\.pth"):
        find_weights(tmp_path, 3, "srmdnf")
    (tmp_path / "srmdnf_x3.pth").write_bytes(b"")
    assert find_weights(tmp_path, 3, "srmdnf") == tmp_path / "srmdnf_x3.pth"
    (tmp_path / "srmdnf_x3.safetensors").write_bytes(b"")
    assert find_weights(tmp_path, 3, "srmdnf") == tmp_path / "srmdnf_x3.safetensors"
    with pytest.raises(WeightsError, match="does not exist"):
        find_weights(tmp_path / "nope", 3, "srmdnf")
    with pytest.raises(InputError, match="scales 2, 3 and 4"):
        find_weights(tmp_path, 8, "srmd")


def test_model_bundled_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weight_files, "BUNDLED_DIR", tmp_path)
    assert not weights_available(4)
    with pytest.raises(WeightsError, match=r"--weights.*bsrbench train srmd"):
        build_srmd(BuildContext(scale=4, device="cpu"))
    save_state_dict(_golden()["state_dict"], tmp_path / "srmd_x4.safetensors")
    assert weights_available(4) and not weights_available(4, "srmdnf")
    assert build_srmd(BuildContext(scale=4, device="cpu")).scale == 4


def test_model_bundled_sha256_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weight_files, "BUNDLED_DIR", tmp_path)
    save_state_dict(_golden()["state_dict"], tmp_path / "srmd_x4.safetensors")
    (tmp_path / "sha256.json").write_text(json.dumps({"srmd_x4.safetensors": "0" * 64}))
    with pytest.raises(WeightsError, match="sha256"):
        build_srmd(BuildContext(scale=4, device="cpu"))


def test_model_weight_lookup_does_not_import_torch() -> None:
    code = (
        "import sys, bsrbench_srmd.weight_files as w; w.weights_available(4); "
        "sys.exit('torch' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    env_path = f"{root}:{root / 'plugins' / 'srmd'}"
    result = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": env_path}, check=False)
    assert result.returncode == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_cuda_matches_cpu(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = SRMD()
    for key, value in net.state_dict().items():
        if key.endswith("weight"):
            value.mul_(6**0.5)  # Kaiming gain, so the output is not ~0 (FACTS.md §6b)
    save_state_dict(net.state_dict(), tmp_path / "srmd_x4.safetensors")
    lr = torch.rand(2, 3, 24, 20)
    kernels = torch.stack([gaussian_kernel(1.5, size=15), gaussian_kernel(3.0, 1.0, 1.0, size=15)])
    noise = torch.tensor([15.0, 0.0])
    cpu = build_srmd(BuildContext(scale=4, device="cpu", weights=tmp_path))
    gpu = build_srmd(BuildContext(scale=4, device="cuda", weights=tmp_path))
    ref = cpu.restore(lr, kernels, noise)
    out = gpu.restore(lr.cuda(), kernels.cuda(), noise.cuda())
    assert out.device.type == "cuda"
    assert torch.allclose(out.cpu(), ref, rtol=0, atol=1e-4)
