"""SRMD composed with every estimator from the command line, with the bundled weights:
21x21 estimates reach SRMD through the recorded centre-crop conversion, and a kernel SRMD
cannot use gives a clear error."""

from __future__ import annotations

import json
import types

import pytest
import torch
from click.testing import CliRunner

from bsrbench import EstimatorSpec, KernelEstimate, hookimpl
from bsrbench.cli import main
from bsrbench.compose import plan_method
from bsrbench.datasets import resolve_dataset
from bsrbench.images import embedded_images, write_png
from bsrbench.registry import load_registry
from bsrbench.results import read_results
from bsrbench.runner import RunConfig, run


@pytest.fixture
def photo_dir(tmp_path):
    folder = tmp_path / "photos"
    write_png(folder / "rocket.png", embedded_images(crop=40)[3].pixels)
    return folder


@pytest.mark.parametrize(("variant", "kernel", "steps"), [
    ("srmd", "oracle", 1), ("srmdnf", "oracle", 1), ("srmdnf", "ikc.predictor", 1),
    ("srmd", "ikc", 3),
])
def test_srmd_runs_with_each_estimator(variant, kernel, steps, photo_dir, tmp_path,
                                       monkeypatch):
    from bsrbench_srmd.weight_files import weights_available

    assert weights_available(4, variant), f"bundled {variant} x4 weights are missing"
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "r"
    args = ["run", "-m", variant, "-k", kernel, "-d", "gaussian8", "--hr", str(photo_dir),
            "--out", str(out), "-q"]
    if kernel == "ikc":
        args += ["-O", f"steps={steps}"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    rows = read_results(out / "results.csv")
    assert {r["method"] for r in rows} == {f"{variant}+{kernel}"}
    assert len(rows) == 8 * steps and all(r["error"] == "" for r in rows)
    assert all((r["upper_bound"] == "True") == (kernel == "oracle") for r in rows)
    meta = json.loads((out / "run.json").read_text())["runs"][-1]
    assert meta["kernel_conversion"] == "center-crop"


class Unnormalised:
    def estimate(self, batch):
        yield KernelEstimate(kernel=torch.full((batch.lr.shape[0], 21, 21), 0.01))


def test_srmd_with_an_unusable_kernel_reports_a_clear_error(photo_dir, tmp_path):
    mod = types.ModuleType("badest")

    @hookimpl
    def bsrbench_estimators():
        return [EstimatorSpec("badest", "kernels not summing to 1", "-", "MIT", (4,),
                              factory=lambda ctx: Unnormalised())]

    mod.bsrbench_estimators = bsrbench_estimators
    reg = load_registry(extra=[mod])
    ds = resolve_dataset(reg, "gaussian8", hr=photo_dir, scale=4, cache_dir=tmp_path)
    summary = run(RunConfig(plan=plan_method(reg, "srmdnf", "badest", {}, 4), dataset=ds,
                            out=tmp_path / "r", quiet=True), reg)
    rows = read_results(summary.results)
    assert summary.failed == 8 and all("sum" in r["error"] for r in rows)
