"""DCLS reproduces the seeded goldens of the unchanged upstream class (FACTS.md §4-5).

Tolerances (FACTS.md §5): kernel 1e-6; SR and pre-clamp SR 1e-5 (1e-3 for the
ill-conditioned setting-1 "bird" case); the deconvolved features 1e-4 (1e-2 for that
case); setting-2 "bird" three times its float32-vs-float64 sensitivity (see ROUNDING).
The golden weights go through the strict loader from an upstream-format file.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from bsrbench_dcls.arch import DCLS, DCLSConfig
from bsrbench_dcls.checkpoint import load_dcls
from bsrbench_dcls.configs import OFFICIAL, find_checkpoint, official
from bsrbench_dcls.method import DCLSEstimator, DCLSMethod, build_method
from shared_bundle import shared_dir

from bsrbench.errors import InputError, WeightsError
from bsrbench.interfaces import LRBatch
from bsrbench.specs import BuildContext

GOLDENS = {"golden_dcls_x4_s1.pt": (4, 1), "golden_dcls_x4_s2.pt": (4, 2)}
ILL = {("golden_dcls_x4_s1.pt", 1)}  # (file, case index): the ill-conditioned bird case
# setting-2 bird: FACTS.md §5 measures float32 against float64 there at 1.1e-5 (SR) and
# 2.0e-4 (clear_features), above the general 1e-5 / 1e-4, so another CPU's float32 kernels
# (AVX-512/AMX oneDNN paths: 1.02e-5 and 2.16e-4 measured) miss those by rounding alone; this
# case is held to three times its own float32-vs-float64 sensitivity instead
ROUNDING = {("golden_dcls_x4_s2.pt", 1): (3.3e-5, 6e-4)}


def _golden(name: str) -> dict:
    return torch.load(shared_dir("reference", "dcls", name), weights_only=True)


def _write(state: dict, path: Path, prefix: str = "") -> Path:
    torch.save(OrderedDict((prefix + k, v) for k, v in state.items()), path)
    return path


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_dcls_golden(name: str, tmp_path: Path) -> None:
    golden = _golden(name)
    cfg = official(*GOLDENS[name])
    net = load_dcls(_write(golden["state_dict"], tmp_path / cfg.filename, "module."), cfg)
    method = DCLSMethod(net)
    for i, case in enumerate(golden["cases"]):
        loose = (name, i) in ILL
        atol_sr, atol_cf = (1e-3, 1e-2) if loose else ROUNDING.get((name, i), (1e-5, 1e-4))
        with torch.inference_mode():
            raw = net.Estimator(case["lr"])
            clear, p = net.Restorer.head2.deconvolve(
                net.Restorer.feature_block(net.Restorer.conv_first(case["lr"])), raw)
            pre = net.Restorer.forward_unclamped(case["lr"], raw)
            (step,) = method.run(LRBatch(lr=case["lr"], scale=4))
        torch.testing.assert_close(raw, case["kernel"], atol=1e-6, rtol=0)
        torch.testing.assert_close(p, case["kernel_P"], atol=1e-6, rtol=0)
        torch.testing.assert_close(clear, case["clear_features"], atol=atol_cf, rtol=0)
        torch.testing.assert_close(pre, case["sr_preclamp"], atol=atol_sr, rtol=0)
        torch.testing.assert_close(step.sr, case["sr"], atol=atol_sr, rtol=0)
        u8 = (step.sr[0] * 255).round().to(torch.uint8)
        assert int((u8.int() - case["sr_u8"].int()).abs().max()) <= (3 if loose else 1)
        k = step.kernel
        assert k.shape == (1, cfg.kernel_size, cfg.kernel_size) and float(k.min()) >= 0
        assert abs(float(k.sum()) - 1) < 1e-5


def test_dcls_estimator_alone(tmp_path: Path) -> None:
    golden = _golden("golden_dcls_x4_s1.pt")
    cfg = official(4, 1)
    est = DCLSEstimator(load_dcls(_write(golden["state_dict"], tmp_path / "w.pth"), cfg))
    case = golden["cases"][0]
    with torch.inference_mode():
        (e,) = est.estimate(LRBatch(lr=case["lr"], scale=4))
    positive = case["kernel"][0].clamp(min=0)
    torch.testing.assert_close(e.kernel, positive / positive.sum(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("key", sorted(OFFICIAL), ids=lambda k: f"x{k[0]}s{k[1]}")
def test_dcls_official_configs_match_upstream_key_lists(key: tuple[int, int]) -> None:
    cfg = OFFICIAL[key]
    ref = json.loads(shared_dir("reference", "dcls", f"keys_{cfg.name}.json").read_text())
    with torch.device("meta"):
        net = DCLS(DCLSConfig(cfg.scale, cfg.kernel_size, cfg.para, cfg.nf, cfg.nb, cfg.ng))
    assert [[k, list(v.shape)] for k, v in net.state_dict().items()] == ref["keys"]


def test_dcls_wrong_files_are_one_line(tmp_path: Path) -> None:
    state = _golden("golden_dcls_x4_s2.pt")["state_dict"]
    path = _write(state, tmp_path / "DCLSx4_setting2.pth")
    with pytest.raises(WeightsError, match="with 31x31 kernels; dcls x4 setting 1 needs x4 "
                                           "with 21x21 kernels"):
        load_dcls(path, official(4, 1))
    broken = dict(state)
    broken.pop("Restorer.fusion.weight")
    with pytest.raises(WeightsError, match=r"lacks key 'Restorer\.fusion\.weight'") as info:
        load_dcls(_write(broken, tmp_path / "b.pth"), official(4, 2))
    assert "\n" not in str(info.value)
    with pytest.raises(WeightsError, match="is not a DCLS checkpoint"):
        load_dcls(_write({"a": torch.zeros(1)}, tmp_path / "c.pth"), official(4, 2))
    nested = tmp_path / "pretrained_models"
    nested.mkdir()
    (nested / "DCLSx4_setting2.pth").write_bytes(path.read_bytes())
    path.unlink()
    assert find_checkpoint(tmp_path, official(4, 2)) == nested / "DCLSx4_setting2.pth"


def test_dcls_without_weights_names_the_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path))
    with pytest.raises(WeightsError) as info:
        build_method(BuildContext(4, "cpu", None, {"setting": 1}))
    msg = str(info.value)
    assert "DCLSx4_setting1.pth" in msg and "github.com/megvii-research/DCLS-SR" in msg
    with pytest.raises(InputError, match="no official x3 setting 2"):
        official(3, 2)
