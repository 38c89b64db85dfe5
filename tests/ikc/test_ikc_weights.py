"""IKC weights: strict loading, both folder layouts, and the bsrbench safetensors format.

Folders are built in tmp_path: small random nets saved with save_weights for the bsrbench
layout, and the shared official files copied in at test time for the official layout.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from bsrbench_ikc import checkpoints
from bsrbench_ikc.archs import SFTMD, Corrector, Predictor
from bsrbench_ikc.checkpoints import (
    find_weights,
    load_corrector,
    load_predictor,
    load_sftmd,
    load_state_into,
    resolve_weights,
    save_weights,
    weights_available,
)
from bsrbench_ikc.pca import compute_pca, load_pca
from shared_bundle import shared_dir

from bsrbench.errors import WeightsError


@pytest.fixture(scope="module")
def small() -> dict:
    torch.manual_seed(0)
    return {
        "sftmd": SFTMD(nf=16, nb=2, scale=4, sft_hidden=8),
        "predictor": Predictor(nf=8),
        "corrector": Corrector(nf=8),
        "pca": compute_pca(4, n=2000),
    }


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_ikc_weights_official_checkpoints_load_strictly() -> None:
    root = shared_dir("reference", "ikc", "official")
    for path, load in [
        (root / "Predictor_latest_G.pth", load_predictor),
        (root / "Corrector_latest_G.pth", load_corrector),
    ]:
        model = load(path)
        raw = torch.load(path, weights_only=True)
        assert list(model.state_dict()) == list(raw)
        assert all(torch.equal(model.state_dict()[k], v) for k, v in raw.items())


def test_ikc_weights_safetensors_round_trip(tmp_path: Path, small: dict) -> None:
    written = save_weights(tmp_path, 4, **small, metadata={"trained_on": "nothing"})
    assert sorted(p.name for p in written.values()) == [
        "corrector_x4.safetensors",
        "pca_x4.safetensors",
        "predictor_x4.safetensors",
        "sftmd_x4.safetensors",
    ]
    paths = find_weights(tmp_path, 4)
    assert paths.layout == "bsrbench"
    sftmd = load_sftmd(paths.sftmd, 4)
    assert sftmd.config == small["sftmd"].config  # nb=2, nf=16 come from the metadata
    assert _same_state(sftmd, small["sftmd"])
    assert _same_state(load_predictor(paths.predictor), small["predictor"])
    assert _same_state(load_corrector(paths.corrector), small["corrector"])
    from safetensors import safe_open

    with safe_open(str(paths.sftmd), framework="pt") as f:
        meta = f.metadata()
    assert meta["part"] == "sftmd" and meta["scale"] == "4" and meta["trained_on"] == "nothing"


def test_ikc_weights_shared_pca_file_is_found(tmp_path: Path, small: dict) -> None:
    save_weights(tmp_path, 2, predictor=small["predictor"])
    (tmp_path / "pca.safetensors").write_bytes(b"")  # presence is all find_weights checks
    paths = find_weights(tmp_path, 2, ("predictor", "pca"))
    assert paths.pca == tmp_path / "pca.safetensors" and paths.sftmd is None


def test_ikc_weights_official_layout(tmp_path: Path) -> None:
    root = shared_dir("reference", "ikc", "official")
    for name in ("Predictor_latest_G.pth", "Corrector_latest_G.pth", "pca_matrix.pth"):
        shutil.copy(root / name, tmp_path / name)
    torch.manual_seed(0)
    state = SFTMD(scale=4).state_dict()  # the official size: no metadata to read it from
    state["sft_branch.0.sft1.mul_conv1.weight"] = torch.zeros(32, 74, 3, 3)
    torch.save(state, tmp_path / "SFTMD_latest_G.pth")
    paths = find_weights(tmp_path, 4)
    assert paths.layout == "official"
    assert paths.predictor.name == "Predictor_latest_G.pth"
    assert load_sftmd(paths.sftmd, 4).scale == 4
    with pytest.raises(WeightsError, match="×4 only"):
        find_weights(tmp_path, 2)


def test_ikc_weights_official_checkpoints_alone_get_the_official_pca(tmp_path: Path,
                                                                      small: dict) -> None:
    """The release keeps pca_matrix.pth in codes/, not beside its checkpoints: a folder of
    official .pth files without it uses bsrbench's copy, which equals the released matrix
    (signs included); bsrbench-layout weights must bring their own PCA."""
    root = shared_dir("reference", "ikc", "official")
    for name in ("Predictor_latest_G.pth", "Corrector_latest_G.pth"):
        shutil.copy(root / name, tmp_path / name)
    paths = find_weights(tmp_path, 4, ("predictor", "corrector", "pca"))
    assert paths.pca == checkpoints.BUNDLED_DIR / "pca_x4.safetensors"
    released = load_pca(root / "pca_matrix.pth").matrix
    assert (load_pca(paths.pca).matrix - released).abs().max() < 1e-6
    own = tmp_path / "own"
    save_weights(own, 4, predictor=small["predictor"])
    with pytest.raises(WeightsError, match="lacks IKC ×4 weights: pca"):
        find_weights(own, 4, ("predictor", "pca"))


def test_ikc_weights_mixed_layout(tmp_path: Path, small: dict) -> None:
    root = shared_dir("reference", "ikc", "official")
    for name in ("Predictor_latest_G.pth", "Corrector_latest_G.pth", "pca_matrix.pth"):
        shutil.copy(root / name, tmp_path / name)
    save_weights(tmp_path, 4, sftmd=small["sftmd"])
    paths = find_weights(tmp_path, 4)
    assert paths.layout == "mixed" and paths.sftmd.name == "sftmd_x4.safetensors"


def test_ikc_weights_missing_parts_are_listed(tmp_path: Path, small: dict) -> None:
    save_weights(tmp_path, 4, predictor=small["predictor"])
    with pytest.raises(WeightsError) as info:
        find_weights(tmp_path, 4)
    msg = str(info.value)
    assert "sftmd (sftmd_x4.safetensors or SFTMD*.pth)" in msg
    assert "corrector" in msg and "pca" in msg and "predictor (" not in msg
    assert "\n" not in msg


def test_ikc_weights_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        find_weights(tmp_path / "nope", 4)
    (tmp_path / "file.pth").write_bytes(b"")
    with pytest.raises(WeightsError, match="folder, not the file"):
        find_weights(tmp_path / "file.pth", 4)
    (tmp_path / "Predictor_a.pth").write_bytes(b"")
    (tmp_path / "Predictor_b.pth").write_bytes(b"")
    with pytest.raises(WeightsError, match="several predictor checkpoints"):
        find_weights(tmp_path, 4, ("predictor",))


def test_ikc_weights_bundled_absent_says_how_to_get_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(checkpoints, "BUNDLED_DIR", tmp_path)
    assert weights_available(4) is False
    with pytest.raises(WeightsError, match="--weights DIR") as info:
        resolve_weights(None, 4)
    assert "not bundled" in str(info.value) and "train" in str(info.value)


def test_ikc_weights_available_with_bundled_files(tmp_path, monkeypatch, small) -> None:
    monkeypatch.setattr(checkpoints, "BUNDLED_DIR", tmp_path)
    save_weights(tmp_path, 4, **small)
    assert weights_available(4) is True
    assert weights_available(2) is False
    (tmp_path / "pca_x4.safetensors").unlink()
    assert weights_available(4, ("predictor",)) is True
    assert weights_available(4, ("predictor", "pca")) is False


def test_ikc_weights_sft_branch_dropped_silently(caplog, small: dict) -> None:
    state = dict(small["sftmd"].state_dict())
    state["sft_branch.0.sft1.mul_conv1.weight"] = torch.zeros(8, 26, 3, 3)
    state["sft_branch.15.conv2.bias"] = torch.zeros(16)
    model = SFTMD(nf=16, nb=2, scale=4, sft_hidden=8)
    with warnings.catch_warnings(), caplog.at_level(logging.DEBUG):
        warnings.simplefilter("error")
        load_state_into(model, state, "test")
    assert not caplog.records
    assert _same_state(model, small["sftmd"])


def test_ikc_weights_module_prefix_stripped(small: dict) -> None:
    state = {f"module.{k}": v for k, v in small["predictor"].state_dict().items()}
    model = Predictor(nf=8)
    load_state_into(model, state, "test")
    assert _same_state(model, small["predictor"])


def test_ikc_weights_missing_key_is_named(small: dict) -> None:
    state = dict(small["predictor"].state_dict())
    del state["ConvNet.4.bias"]
    with pytest.raises(WeightsError, match=r"missing keys \['ConvNet.4.bias'\]"):
        load_state_into(Predictor(nf=8), state, "test")


def test_ikc_weights_unexpected_key_is_named(small: dict) -> None:
    state = dict(small["corrector"].state_dict())
    state["code_dense.4.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError, match=r"unexpected keys \['code_dense.4.weight'\]"):
        load_state_into(Corrector(nf=8), state, "test")


def test_ikc_weights_shape_mismatch_is_named(small: dict) -> None:
    with pytest.raises(WeightsError, match=r"ConvNet\.0\.weight"):
        load_state_into(Predictor(nf=16), small["predictor"].state_dict(), "test")


def test_ikc_weights_sftmd_scale_mismatch(tmp_path: Path, small: dict) -> None:
    save_weights(tmp_path, 4, sftmd=small["sftmd"])
    with pytest.raises(WeightsError, match="×4 SFTMD weights, but the run is ×2"):
        load_sftmd(tmp_path / "sftmd_x4.safetensors", 2)


def test_ikc_weights_wrong_part_file(tmp_path: Path, small: dict) -> None:
    written = save_weights(tmp_path, 4, predictor=small["predictor"])
    with pytest.raises(WeightsError, match="predictor weights, not corrector"):
        load_corrector(written["predictor"])
