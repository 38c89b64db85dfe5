"""DANv1/DANv2 reproduce the seeded goldens of the unchanged upstream classes.

Tolerances are FACTS.md §5's: every iteration's SR within 1e-5, codes and v2 kernels
within 1e-6, the saved uint8 SR exact except ±1 where 255·x sits at .5. The golden weights
go through the same strict loader as users' checkpoints, from a file written the way
upstream's ``save_network`` writes one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bsrbench_dan.checkpoint import load_dan
from bsrbench_dan.configs import official
from bsrbench_dan.method import DANEstimator, DANMethod
from dan_helpers import GOLDENS, load_golden, write_checkpoint

from bsrbench.interfaces import LRBatch


def _method(name: str, tmp_path: Path, cls: type = DANMethod) -> tuple[dict, DANMethod]:
    golden = load_golden(name)
    version, scale, setting = GOLDENS[name]
    path = write_checkpoint(golden["state_dict"], tmp_path / f"danv{version}.pth")
    net = load_dan(path, official(version, scale, setting), golden["config"]["loop"])
    return golden, cls(net)


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_dan_golden_every_iteration(name: str, tmp_path: Path) -> None:
    golden, method = _method(name, tmp_path)
    for case in golden["cases"]:
        with torch.inference_mode():
            steps = list(method.run(LRBatch(lr=case["lr"], scale=method.scale)))
        assert len(steps) == len(case["srs"]) == 4
        for i, step in enumerate(steps):
            torch.testing.assert_close(step.sr, case["srs"][i], atol=1e-5, rtol=0,
                                       msg=f"{case['image']} sr[{i}]")
            torch.testing.assert_close(step.code, case["ker_maps"][i], atol=1e-6, rtol=0)
            assert step.kernel.shape == (1, 21, 21)
            if "kernels" in case:  # DANv2 estimates the kernel itself
                torch.testing.assert_close(step.kernel.reshape(1, -1), case["kernels"][i],
                                           atol=1e-6, rtol=0)
        torch.testing.assert_close(steps[-1].sr, case["sr_final"], atol=1e-5, rtol=0)
        u8 = (steps[-1].sr[0].clamp(0, 1) * 255).round().to(torch.uint8)
        assert int((u8.int() - case["sr_u8"].int()).abs().max()) <= 1


def test_dan_init_code_is_the_delta_kernel_code(tmp_path: Path) -> None:
    golden, method = _method("golden_danv1_x4_s1.pt", tmp_path)
    torch.testing.assert_close(method.net.init_ker_map, golden["cases"][0]["init_ker_map"])
    delta = torch.zeros(1, 21, 21)
    delta[0, 10, 10] = 1
    torch.testing.assert_close(method.encode_kernel(delta), golden["cases"][0]["init_ker_map"])


def test_dan_encode_kernel_matches_true_code(tmp_path: Path) -> None:
    golden, method = _method("golden_danv1_x4_s1.pt", tmp_path)
    case = golden["cases"][0]
    code = method.encode_kernel(case["kernel"][None])
    torch.testing.assert_close(code, case["true_code"], atol=1e-6, rtol=0)


def test_danv1_decoded_kernels_are_kernels_with_the_code(tmp_path: Path) -> None:
    """The v1 step kernel: non-negative, sums to 1, and re-encodes close to its code."""
    golden, method = _method("golden_danv1_x4_s1.pt", tmp_path)
    case = golden["cases"][0]
    kernel = method.decode(case["true_code"]).view(1, 21, 21)
    assert float(kernel.min()) >= 0
    assert abs(float(kernel.sum()) - 1) < 1e-5
    err = (method.encode_kernel(kernel) - case["true_code"]).abs().max()
    assert float(err) < 0.05 * float(case["true_code"].abs().max())


def test_danv2_estimator_yields_the_loop_estimates(tmp_path: Path) -> None:
    golden, est = _method("golden_danv2_x4_s1.pt", tmp_path, DANEstimator)
    case = golden["cases"][1]
    with torch.inference_mode():
        found = list(est.estimate(LRBatch(lr=case["lr"], scale=4)))
    assert len(found) == 4
    for i, e in enumerate(found):
        torch.testing.assert_close(e.kernel.reshape(1, -1), case["kernels"][i], atol=1e-6,
                                   rtol=0)
        assert e.space == est.code_space
