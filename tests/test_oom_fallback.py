"""The runner's out-of-memory fallback, with injected failures: half the batch, then tiles,
recorded in the rows' ``fallback`` column; a memory cap checked against the parts'
estimates; errors that are not about memory are not retried."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from PIL import Image

from bsrbench import MethodSpec, Step, hookimpl
from bsrbench.compose import plan_method
from bsrbench.datasets import resolve_dataset
from bsrbench.errors import InputError
from bsrbench.registry import load_registry
from bsrbench.results import read_results
from bsrbench.runner import RunConfig, run
from bsrbench.tiling import Tiling, run_tiled


def _nearest(lr: torch.Tensor, scale: int) -> torch.Tensor:
    return lr.repeat_interleave(scale, -1).repeat_interleave(scale, -2)


class Hungry:
    """Nearest-neighbour SR (receptive field 0, so tiles are exact) that runs out of
    memory on more than ``max_batch`` images or more than ``max_pixels`` per call."""

    receptive_field = 0

    def __init__(self, error: type[BaseException], max_batch: int = 64,
                 max_pixels: int = 1 << 30, tileable: bool = True) -> None:
        self.error, self.max_batch, self.max_pixels = error, max_batch, max_pixels
        self.tiling: Tiling | None = None
        self.calls: list[tuple[int, ...]] = []
        if not tileable:
            self.receptive_field = None  # type: ignore[assignment]

    def _net(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        self.calls.append(tuple(lr.shape))
        if lr.shape[0] > self.max_batch or lr.shape[-2] * lr.shape[-1] > self.max_pixels:
            raise self.error("CUDA out of memory. Tried to allocate 2.00 GiB")
        return _nearest(lr, scale)

    def run(self, batch):
        sr = run_tiled(lambda t: self._net(t, batch.scale), batch.lr, batch.scale,
                       self.tiling, 0)
        yield Step(sr=sr)


class Estimated(Hungry):
    """Declares 100 MB per LR image (the runner checks it against max_memory_mb)."""

    def memory_estimate(self, shape, tiling):
        return shape[0] * 100 * 2**20


def _registry(method):
    mod = types.ModuleType("oomplugin")

    @hookimpl
    def bsrbench_methods():
        return [MethodSpec("hungry", "runs out of memory", "-", "MIT", (4,),
                           factory=lambda ctx: method)]

    mod.bsrbench_methods = bsrbench_methods
    return load_registry(extra=[mod])


@pytest.fixture
def big_hr(tmp_path):
    """Two HR photos of one size whose LR (40x34 at x4) is larger than a 32-pixel tile."""
    folder = tmp_path / "big"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (160, 136, 3), dtype=np.uint8)).save(
            folder / f"{name}.png")
    return folder


def _run(reg, hr, tmp_path, out="r", **kw):
    kw.setdefault("batch_size", 8)  # the fallback's steps below start from a batch of 8
    dataset = resolve_dataset(reg, "gaussian8", hr=hr, scale=4, cache_dir=tmp_path)
    plan = plan_method(reg, "hungry", None, {}, 4)
    summary = run(RunConfig(plan=plan, dataset=dataset, out=tmp_path / out, quiet=True,
                            **kw), reg)
    return summary, read_results(summary.results)


@pytest.mark.parametrize("error", [MemoryError, torch.cuda.OutOfMemoryError])
def test_runner_halves_the_batch_on_out_of_memory_and_records_it(error, big_hr, tmp_path):
    method = Hungry(error, max_batch=2)
    summary, rows = _run(_registry(method), big_hr, tmp_path)
    assert summary.failed == 0 and len(rows) == 16
    assert {r["fallback"] for r in rows} == {"batch=2"} and not any(r["error"] for r in rows)
    # 8 -> 4 -> 2 on the first image; the second image (same size) starts at 2
    assert [c[0] for c in method.calls] == [8, 4, 2, 2, 2, 2] + [2] * 4
    _plain, clean = _run(_registry(Hungry(error)), big_hr, tmp_path, out="plain")
    assert {r["fallback"] for r in clean} == {""}
    key = lambda r: (r["image"], r["kernel_index"])  # noqa: E731
    assert [r["psnr"] for r in sorted(rows, key=key)] == \
        [r["psnr"] for r in sorted(clean, key=key)]


def test_runner_falls_back_to_tiles_at_one_image(big_hr, tmp_path):
    method = Hungry(MemoryError, max_pixels=32 * 32)
    summary, rows = _run(_registry(method), big_hr, tmp_path)
    assert summary.failed == 0
    assert {r["fallback"] for r in rows} == {"batch=1,tile=32"}
    assert all(c[-2] * c[-1] <= 32 * 32 for c in method.calls[-4:])
    _plain, clean = _run(_registry(Hungry(MemoryError)), big_hr, tmp_path, out="plain")
    assert sorted(r["psnr"] for r in rows) == sorted(r["psnr"] for r in clean)


def test_runner_gives_up_with_error_rows_when_nothing_fits(big_hr, tmp_path):
    method = Hungry(MemoryError, max_pixels=4)
    summary, rows = _run(_registry(method), big_hr, tmp_path)
    assert summary.failed == 16
    assert all("out of memory at one LR image with tile=32" in r["error"] for r in rows)


def test_an_untileable_method_stops_at_one_image(big_hr, tmp_path):
    method = Hungry(MemoryError, max_pixels=4, tileable=False)
    summary, rows = _run(_registry(method), big_hr, tmp_path)
    assert summary.failed == 16 and all("at one LR image (" in r["error"] for r in rows)
    assert max(c[0] for c in method.calls) == 8 and method.tiling is None


def test_errors_other_than_memory_are_not_retried(big_hr, tmp_path):
    method = Hungry(ValueError, max_batch=2)
    summary, rows = _run(_registry(method), big_hr, tmp_path)
    assert summary.failed == 16 and len(method.calls) == 2  # one try per image
    assert all(r["fallback"] == "" for r in rows)


def test_memory_cap_is_checked_against_the_estimate_before_running(big_hr, tmp_path):
    method = Estimated(MemoryError)
    summary, rows = _run(_registry(method), big_hr, tmp_path, max_memory_mb=250)
    assert summary.failed == 0 and {r["fallback"] for r in rows} == {"batch=2"}
    assert {c[0] for c in method.calls} == {2}  # the bigger batches never ran


def test_user_tiles_are_used_and_validated(big_hr, tmp_path):
    method = Hungry(MemoryError)
    _summary, rows = _run(_registry(method), big_hr, tmp_path, tile=16)
    assert {r["fallback"] for r in rows} == {""}
    assert max(c[-1] for c in method.calls) <= 16 and len(method.calls) == 2 * 3 * 3
    with pytest.raises(InputError, match="--tile must"):
        _run(_registry(method), big_hr, tmp_path, out="bad", tile=2)
    with pytest.raises(InputError, match="--tile-overlap needs --tile"):
        _run(_registry(method), big_hr, tmp_path, out="bad", tile_overlap=3)


def test_sr_retries_an_image_on_tiles_when_it_runs_out_of_memory(tmp_path):
    from bsrbench.apply import apply_method

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (40, 34, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    method = Hungry(MemoryError, max_pixels=32 * 32)
    reg = _registry(method)
    written = apply_method(plan_method(reg, "hungry", None, {}, 4), [tmp_path / "photo.png"],
                           scale=4, device="cpu", out=tmp_path / "sr", quiet=True)
    sr = np.asarray(Image.open(written[0]))
    assert np.array_equal(sr, pixels.repeat(4, 0).repeat(4, 1))
    assert method.calls[0] == (1, 3, 40, 34) and len(method.calls) == 1 + 4
