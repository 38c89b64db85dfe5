"""SRMD degradation map: PCA projection (column-major), noise plane, channel order."""

from __future__ import annotations

import functools

import pytest
import torch
from bsrbench_srmd import kernel_map
from bsrbench_srmd.kernel_map import (
    degradation_vector,
    load_pca,
    network_input,
    project_kernel,
    read_pca_mat,
)
from shared_bundle import shared_dir

from bsrbench.errors import InputError, WeightsError
from bsrbench.kernels import gaussian_kernel
from bsrbench.weights import save_state_dict


@functools.lru_cache(maxsize=1)
def _golden() -> dict:
    return torch.load(shared_dir("reference", "srmd", "golden_srmd_x4.pt"), weights_only=True)


def test_kernel_map_shipped_pca_equals_kair_mat() -> None:
    mat = read_pca_mat(shared_dir("reference", "srmd", "official", "srmd_pca_matlab.mat"))
    shipped = load_pca()
    assert shipped.dtype == torch.float32 and shipped.shape == (15, 225)
    assert torch.equal(shipped, mat)
    assert torch.equal(shipped, _golden()["pca_P"])


def test_kernel_map_golden_degradation_vector_exact() -> None:
    g = _golden()
    vector = degradation_vector(g["kernel"].unsqueeze(0), load_pca(), torch.tensor([15.0]))
    assert vector.dtype == torch.float32
    # Bitwise equal on the reference CPU; 1e-7 leaves room for another BLAS's last-bit
    # rounding, far below the smallest real mistake (1e-3 in FACTS.md §6b).
    assert torch.allclose(vector[0], g["deg_vector_f32"], rtol=0, atol=1e-7)
    assert torch.allclose(project_kernel(g["kernel"], load_pca()), g["deg_vector"][:15],
                          rtol=0, atol=1e-12)


def test_kernel_map_golden_network_input() -> None:
    g = _golden()
    vector = degradation_vector(g["kernel"].unsqueeze(0), load_pca(), 15.0)
    x = network_input(g["lr"], vector)
    assert x.shape == g["input"].shape == (1, 19, 32, 40)
    assert torch.allclose(x, g["input"], rtol=0, atol=1e-6)
    assert torch.equal(x[:, :3], g["lr"])  # LR first, map after it


def test_kernel_map_reference_projections() -> None:
    g = _golden()
    assert g["ref_kernels"].keys() == g["ref_pca_codes"].keys()
    for name, kernel in g["ref_kernels"].items():
        codes = project_kernel(kernel, load_pca())
        assert torch.allclose(codes, g["ref_pca_codes"][name], rtol=0, atol=1e-6), name


def test_kernel_map_flattens_column_major() -> None:
    pca = torch.zeros(15, 225)
    pca[0, 1] = 1.0  # column-major index 1 is row 1, column 0
    kernel = torch.zeros(15, 15, dtype=torch.float64)
    kernel[1, 0] = 1.0
    assert project_kernel(kernel, pca)[0] == 1.0
    assert project_kernel(kernel.T, pca)[0] == 0.0


def test_kernel_map_batched_matches_per_item() -> None:
    kernels = torch.stack([gaussian_kernel(1.2, size=15), gaussian_kernel(3.0, 1.0, 0.7, size=15)])
    noise = torch.tensor([0.0, 50.0])
    batched = degradation_vector(kernels, load_pca(), noise)
    assert batched.shape == (2, 16)
    for i in range(2):
        single = degradation_vector(kernels[i : i + 1], load_pca(), noise[i : i + 1])
        # Not bitwise: BLAS may block a (2, 225) product differently from a (1, 225) one.
        assert torch.allclose(batched[i], single[0], rtol=0, atol=1e-8)
    assert batched[1, 15] == torch.tensor(50 / 255, dtype=torch.float32)
    assert degradation_vector(kernels, load_pca()).shape == (2, 15)  # noise-free: no plane


def test_kernel_map_rejects_bad_noise_and_kernel() -> None:
    kernels = gaussian_kernel(1.2, size=15).unsqueeze(0)
    with pytest.raises(InputError, match="noise"):
        degradation_vector(kernels, load_pca(), torch.tensor([1.0, 2.0]))
    with pytest.raises(InputError, match=">= 0"):
        degradation_vector(kernels, load_pca(), -1.0)
    with pytest.raises(InputError, match="15x15"):
        project_kernel(gaussian_kernel(1.2, size=21), load_pca())


def test_kernel_map_pca_hash_mismatch_fails(tmp_path, monkeypatch) -> None:
    fake = tmp_path / "srmd_pca.safetensors"
    save_state_dict({"P": torch.zeros(15, 225)}, fake)
    with pytest.raises(WeightsError, match="sha256"):
        load_pca(fake, sha256=kernel_map.PCA_SHA256)
    assert torch.equal(load_pca(fake, sha256=None), torch.zeros(15, 225))


def test_kernel_map_read_pca_mat_rejects_other_files(tmp_path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_pca_mat(tmp_path / "missing.mat")
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a mat file")
    with pytest.raises(InputError):
        read_pca_mat(junk)
