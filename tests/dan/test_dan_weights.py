"""DAN checkpoints load strictly and as upstream stores them; wrong files fail in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from bsrbench_dan.arch import DAN, DANConfig
from bsrbench_dan.checkpoint import load_dan
from bsrbench_dan.configs import OFFICIAL, find_checkpoint, official
from bsrbench_dan.method import DANMethod, build_method
from dan_helpers import load_golden, write_checkpoint
from shared_bundle import shared_dir

from bsrbench.errors import InputError, WeightsError
from bsrbench.interfaces import LRBatch
from bsrbench.specs import BuildContext


@pytest.mark.parametrize("key", sorted(OFFICIAL), ids=lambda k: f"v{k[0]}x{k[1]}s{k[2]}")
def test_dan_official_configs_match_upstream_key_lists(key: tuple[int, int, int]) -> None:
    cfg = OFFICIAL[key]
    ref = json.loads(shared_dir("reference", "dan", f"keys_{cfg.name}.json").read_text())
    with torch.device("meta"):
        net = DAN(DANConfig(cfg.version, cfg.scale, cfg.kernel_size, cfg.para, cfg.nf, cfg.nb,
                            cfg.ng))
    ours = [[k, list(v.shape)] for k, v in net.state_dict().items()]
    assert ours == ref["keys"]


@pytest.fixture(scope="module")
def state() -> dict:
    return load_golden("golden_danv1_x4_s1.pt")["state_dict"]


def test_dan_checkpoint_with_module_prefix_loads(state: dict, tmp_path: Path) -> None:
    path = write_checkpoint(state, tmp_path / "danv1_x4_setting1.pth", prefix="module.")
    net = load_dan(path, official(1, 4, 1), 4)
    assert net.cfg.nf == 32 and net.cfg.nb == 4
    torch.testing.assert_close(net.encoder, state["encoder"])


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda s: s.pop("Restorer.fusion.bias"), "lacks key 'Restorer.fusion.bias'"),
    (lambda s: s.__setitem__("extra.weight", torch.zeros(1)), "unexpected key 'extra.weight'"),
    (lambda s: s.__setitem__("Estimator.out.bias", torch.zeros(11)),
     r"Estimator.out.bias has shape \(11,\), DANv1 x4 expects \(10,\)"),
    (lambda s: s.pop("encoder"), "lacks key 'encoder'"),
])
def test_dan_wrong_checkpoint_is_one_line(state: dict, tmp_path: Path, edit, expected) -> None:
    broken = dict(state)
    edit(broken)
    path = write_checkpoint(broken, tmp_path / "x.pth")
    with pytest.raises(WeightsError, match=expected) as info:
        load_dan(path, official(1, 4, 1), 4)
    assert "\n" not in str(info.value)


def test_dan_checkpoint_for_another_scale_or_version(state: dict, tmp_path: Path) -> None:
    path = write_checkpoint(state, tmp_path / "danv1_x4_setting1.pth")
    with pytest.raises(WeightsError, match="x4, 21x21 kernels, 10 codes; danv1 x2 setting 1"):
        load_dan(path, official(1, 2, 1), 4)
    with pytest.raises(WeightsError, match="is a DANv1 checkpoint, danv2 x4 setting 1 needs"):
        load_dan(path, official(2, 4, 1), 4)
    junk = write_checkpoint({"conv.weight": torch.zeros(1)}, tmp_path / "junk.pth")
    with pytest.raises(WeightsError, match="is not a DAN checkpoint"):
        load_dan(junk, official(1, 4, 1), 4)


def test_dan_folder_layouts_as_upstream(state: dict, tmp_path: Path) -> None:
    cfg = official(1, 4, 1)
    nested = tmp_path / "checkpoints" / "DANv1"
    nested.mkdir(parents=True)
    write_checkpoint(state, nested / "danv1_x4_setting1.pth")
    assert find_checkpoint(tmp_path, cfg) == nested / "danv1_x4_setting1.pth"
    with pytest.raises(WeightsError, match=r"no danv1_x2_setting1\.pth in"):
        find_checkpoint(tmp_path, official(1, 2, 1))


def test_dan_without_weights_names_the_file_and_where(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path))
    ctx = BuildContext(4, "cpu", None, {"setting": 2, "loop": 4})
    with pytest.raises(WeightsError) as info:
        build_method(ctx, 1)
    msg = str(info.value)
    assert "danv1_x4_setting2.pth" in msg and "github.com/greatlog/DAN" in msg
    assert "bsrbench weights get danv1_x4_setting2" in msg and "\n" not in msg


def test_dan_settings_and_scales() -> None:
    assert official(2, 4, 2).kernel_size == 31 and official(2, 4, 2).para == 15
    assert official(1, 2, 2).kernel_size == 11
    with pytest.raises(InputError, match="no official x3 setting 2"):
        official(1, 3, 2)


def test_danv2_setting2_x4_runs_with_31x31_kernels_and_15_codes(tmp_path: Path) -> None:
    """Setting 2's x4 DANv2 differs in kernel size and code length: a small random network
    of that configuration (with the released 961x15 PCA) loads and runs end to end."""
    pca = torch.load(shared_dir("reference", "dan", "official", "DANv2",
                                "pca_aniso_matrix_x4.pth"), weights_only=True)
    torch.manual_seed(0)
    net = DAN(DANConfig(2, 4, 31, 15, nf=8, nb=1, ng=1), pca=pca)
    path = write_checkpoint(net.state_dict(), tmp_path / "danv2_x4_setting2.pth")
    method = DANMethod(load_dan(find_checkpoint(tmp_path, official(2, 4, 2)),
                                official(2, 4, 2), 2))
    with torch.inference_mode():
        steps = list(method.run(LRBatch(lr=torch.rand(2, 3, 10, 12), scale=4)))
        gt_code = method.encode_kernel(torch.full((2, 21, 21), 1 / 441))
    assert len(steps) == 2 and steps[-1].sr.shape == (2, 3, 40, 48)
    assert steps[-1].kernel.shape == (2, 31, 31) and steps[-1].code.shape == (2, 15)
    assert gt_code.shape == (2, 15)
    with pytest.raises(WeightsError, match="x4, 31x31 kernels, 15 codes; danv2 x4 setting 1"):
        load_dan(path, official(2, 4, 1), 4)
