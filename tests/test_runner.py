"""The runner: per-step rows, resume, failures, composition, oracle labelling."""

from __future__ import annotations

import json
import types

import pytest

from bsrbench import MethodSpec, ModelSpec, Step, hookimpl
from bsrbench.compose import plan_method
from bsrbench.datasets import resolve_dataset
from bsrbench.errors import InputError
from bsrbench.registry import load_registry
from bsrbench.results import load_frame, read_results
from bsrbench.runner import RunConfig, run
from bsrbench.summary import summary_text


class Iterative:
    """Three steps of bicubic, each a little sharper; fails on the image named 'grey'
    when ``fail`` is set, and raises KeyboardInterrupt on 'grey' when ``interrupt`` is."""

    def __init__(self, fail=False, interrupt=False):
        self.fail, self.interrupt = fail, interrupt

    def run(self, batch):
        from bsrbench.resize import imresize

        if self.interrupt and batch.lr.shape[-1] == 11:
            raise KeyboardInterrupt
        if self.fail and batch.lr.shape[-1] == 11:
            raise RuntimeError("boom on grey")
        up = imresize(batch.lr, batch.scale)
        for i in range(3):
            yield Step(sr=up * (1 + 0.01 * i))


class KernelIgnoringModel:
    kernel_size = 15

    def __init__(self):
        self.seen = []

    def restore(self, lr, estimate, noise=None):
        from bsrbench.resize import imresize

        self.seen.append(tuple(estimate.kernel.shape))
        return imresize(lr, 4)


def _plugin(**flags):
    mod = types.ModuleType("testplugin")
    model = KernelIgnoringModel()

    @hookimpl
    def bsrbench_methods():
        return [MethodSpec("iter", "3 steps", "-", "MIT", (2, 3, 4),
                           factory=lambda ctx: Iterative(**flags), iterative=True)]

    @hookimpl
    def bsrbench_models():
        return [
            ModelSpec("fake15", "needs 15x15", "-", "MIT", (4,), factory=lambda ctx: model,
                      kernel_size=15, kernel_conversion="center-crop"),
            ModelSpec("strict15", "needs 15x15, no conversion", "-", "MIT", (4,),
                      factory=lambda ctx: model, kernel_size=15),
        ]

    mod.bsrbench_methods, mod.bsrbench_models = bsrbench_methods, bsrbench_models
    mod.model = model
    return mod


@pytest.fixture
def dataset(registry, hr_dir, tmp_path):
    return resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, cache_dir=tmp_path)


def _run(reg, dataset, out, method, kernel=None, **kw):
    plan = plan_method(reg, method, kernel, {}, 4)
    return run(RunConfig(plan=plan, dataset=dataset, out=out, quiet=True, **kw), reg)


def test_runner_writes_one_row_per_step_and_marks_the_final(dataset, tmp_path):
    reg = load_registry(extra=[_plugin()])
    summary = _run(reg, dataset, tmp_path / "r", "iter")
    rows = read_results(summary.results)
    assert summary.rows == len(rows) == 2 * 8 * 3
    finals = [r for r in rows if r["is_final"] == "True"]
    assert len(finals) == 16 and {r["step"] for r in finals} == {"2"}
    assert all(r["error"] == "" and float(r["psnr"]) > 10 for r in rows)
    assert rows[0]["dataset"] == "gaussian8/hr" and rows[0]["convention"] == "matlab-y"
    meta = json.loads((tmp_path / "r" / "run.json").read_text())["runs"][-1]
    for key in ("bsrbench_version", "torch_version", "device", "plugins", "command",
                "git_commit", "finished"):
        assert key in meta
    assert len(meta["dataset"]["content_hash"]) == 64
    text = summary_text(load_frame(summary.results))
    assert "final" in text and "oracle best step" in text


def test_runner_resumes_without_recomputing(dataset, tmp_path):
    reg = load_registry(extra=[_plugin()])
    out = tmp_path / "r"
    _run(reg, dataset, out, "iter")
    again = _run(reg, dataset, out, "iter")
    assert again.rows == 0 and again.skipped == 16
    assert len(read_results(out / "results.csv")) == 48


def test_runner_runs_a_subset_of_images_and_the_rest_resumes(dataset, tmp_path):
    reg = load_registry(extra=[_plugin()])
    out = tmp_path / "r"
    with pytest.raises(InputError, match="no image 'nope'"):
        _run(reg, dataset, out, "iter", images=("nope",))
    with pytest.raises(InputError, match="empty"):
        _run(reg, dataset, out, "iter", images=())
    names = sorted({r["image"] for r in read_results(
        _run(reg, dataset, tmp_path / "whole", "iter").results)})
    first = _run(reg, dataset, out, "iter", images=(names[1],))
    assert {r["image"] for r in read_results(first.results)} == {names[1]}
    assert first.rows == 8 * 3
    meta = json.loads((out / "run.json").read_text())["runs"][-1]
    assert meta["images"] == [names[1]]
    rest = _run(reg, dataset, out, "iter")
    assert rest.skipped == 8 and rest.rows == 8 * 3
    assert len(read_results(out / "results.csv")) == 48


def test_runner_recomputes_a_torn_last_image(dataset, tmp_path):
    reg = load_registry(extra=[_plugin()])
    out = tmp_path / "r"
    _run(reg, dataset, out, "iter")
    text = (out / "results.csv").read_text()
    (out / "results.csv").write_text(text[: len(text) - 40])  # torn mid-row
    again = _run(reg, dataset, out, "iter")
    assert again.rows == 3  # the one LR image whose final row was torn
    assert len(read_results(out / "results.csv")) == 48


def test_runner_records_failures_and_goes_on(dataset, tmp_path):
    reg = load_registry(extra=[_plugin(fail=True)])
    summary = _run(reg, dataset, tmp_path / "r", "iter")
    rows = read_results(summary.results)
    errors = [r for r in rows if r["error"]]
    assert summary.failed == 8 and len(errors) == 8
    assert "boom on grey" in errors[0]["error"] and errors[0]["image"] == "grey"
    assert sum(1 for r in rows if not r["error"]) == 24
    # a rerun retries the failed image (here it fails again) without duplicating rows
    reg2 = load_registry(extra=[_plugin()])
    fixed = _run(reg2, dataset, tmp_path / "r", "iter")
    assert fixed.failed == 0 and fixed.rows == 24
    assert len(read_results(summary.results)) == 48


def test_runner_interrupt_leaves_a_valid_csv(dataset, tmp_path):
    reg = load_registry(extra=[_plugin(interrupt=True)])
    out = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        _run(reg, dataset, out, "iter")
    assert len(read_results(out / "results.csv")) == 24  # the first image, complete
    reg2 = load_registry(extra=[_plugin()])
    assert _run(reg2, dataset, out, "iter").rows == 24


def test_composition_with_oracle_is_labelled_and_converts_explicitly(dataset, tmp_path):
    plugin = _plugin()
    reg = load_registry(extra=[plugin])
    summary = _run(reg, dataset, tmp_path / "r", "fake15", "oracle", batch_size=8)
    rows = read_results(summary.results)
    assert {r["method"] for r in rows} == {"fake15+oracle"}
    assert all(r["upper_bound"] == "True" and r["estimator"] == "oracle" for r in rows)
    assert all(float(r["kernel_psnr"]) == float("inf") for r in rows)  # it IS the truth
    assert set(plugin.model.seen) == {(8, 15, 15)}  # 21x21 centre-cropped for the model
    meta = json.loads((tmp_path / "r" / "run.json").read_text())["runs"][-1]
    assert meta["kernel_conversion"] == "center-crop" and meta["upper_bound"] is True
    assert "upper bound" in summary_text(load_frame(summary.results))


def test_plan_rejects_mismatched_and_misused_names():
    reg = load_registry(extra=[_plugin()])
    with pytest.raises(InputError, match="needs 15x15 kernels"):
        plan_method(reg, "strict15", "oracle")
    with pytest.raises(InputError, match="non-blind model"):
        plan_method(reg, "fake15")
    with pytest.raises(InputError, match="blind method"):
        plan_method(reg, "bicubic", "oracle")
    with pytest.raises(InputError, match="supports scales"):
        plan_method(reg, "fake15", "oracle", scale=2)
    with pytest.raises(InputError, match="no option 'iterations'"):
        plan_method(reg, "bicubic", None, {"iterations": "3"})


def test_oracle_on_unblurred_protocol_is_a_clear_error(registry, hr_dir, tmp_path):
    reg = load_registry(extra=[_plugin()])
    ds = resolve_dataset(registry, "bicubic", hr=hr_dir, scale=4, cache_dir=tmp_path)
    with pytest.raises(InputError, match="ground-truth kernels"):
        _run(reg, ds, tmp_path / "r", "fake15", "oracle")


def test_runner_save_images_stores_every_step(dataset, tmp_path):
    from bsrbench.results import image_dir

    reg = load_registry(extra=[_plugin()])
    plan = plan_method(reg, "fake15", "oracle", {}, 4)
    out = tmp_path / "r"
    run(RunConfig(plan=plan, dataset=dataset, out=out, quiet=True, save_images=True), reg)
    assert (image_dir(out, "hr", "gaussian8/hr", 4) / "grey.png").is_file()
    assert (image_dir(out, "lr", "gaussian8/hr", 4) / "colour_k7.png").is_file()
    assert (image_dir(out, "gt_kernel", "gaussian8/hr", 4) / "colour_k0.npy").is_file()
    sr_dir = image_dir(out, "sr", "gaussian8/hr", 4, "fake15+oracle")
    assert len(list(sr_dir.glob("*.png"))) == 16
    kdir = image_dir(out, "kernel", "gaussian8/hr", 4, "fake15+oracle")
    assert (kdir / "grey_k3_s0.npy").is_file()
